"""The ``hosts`` section: what each host costs as hosts grow, on the same table.

Wall time cannot show scaling on a machine with fewer cores than hosts; per-host CPU seconds,
peak memory and bytes downloaded can. One ``train`` job (``--hosts-rounds`` rounds) per host
count in ``--host-counts`` (default 1, 2, 4, 8): real processes joined in XGBoost's collective,
reading ``--hosts-rows`` rows x 9 floats from the Snowflake stand-in's front, which serves
them as Snowflake does (a small inline chunk, then remote chunks growing x1.5). Every host
runs one OpenMP thread, so that CPU seconds compare across host counts.

Per host (``wait4``): CPU seconds and peak RSS of the whole ``train`` process, and the bytes of
the remote chunks its session downloaded (the front's download log, by session). Per job
(the front's counters): statements run, full-result materializations (held results holding
every row of the table: the data query and any RESULT_SCAN re-reading it), reads of a stored
result by id (one per host: nothing runs again) and remote chunks downloaded.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from harness import row, table
from standin_jobs import hyperparameters, prepare, run_train_job
from standin_servers import standin_servers
from support.standins import SNOWFLAKE_SHAPE, StandIns

# Snowflake's shape with a cap, so that a larger table is many chunks, not a few huge ones.
FRONT_SETTINGS = {**SNOWFLAKE_SHAPE, "max_chunk_rows": 100_000}
MB = 1e6


def _job_counters(standins: StandIns, held_before: set[str], rows: int) -> dict:
    """Statements, full-result materializations and downloads since the front's last reset."""
    counters = standins.front.counters()
    new_results = {qid: r for qid, r in counters["results"].items() if qid not in held_before}
    downloaded = Counter()
    for download in counters["downloads"]:
        if download["status"] == 200:
            downloaded[download["reader"]] += download["bytes"]
    return {
        "statements": counters["forwarded_queries"] + counters["reopens"],
        "materializations": sum(1 for r in new_results.values() if sum(r["rows"]) == rows),
        "reads_by_id": counters["result_reads"],
        "chunks_downloaded": sum(1 for d in counters["downloads"] if d["status"] == 200),
        "bytes_by_session": sorted(downloaded.values(), reverse=True),
    }


def hosts_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"hosts: seeding {args.hosts_rows:,} rows; front {FRONT_SETTINGS}", flush=True)
    results: dict = {}
    with standin_servers(work, settings=FRONT_SETTINGS) as endpoints:
        standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        prepare(standins, args.hosts_rows)
        for world in args.host_counts:
            held_before = set(standins.front.counters()["results"])
            standins.front.reset()
            print(f"hosts: {world} host(s)", flush=True)
            settings = hyperparameters(args.hosts_rounds)
            hosts = run_train_job(work, f"per-host{world}", world, standins, settings, 1)
            results[world] = {
                "hosts": hosts,
                **_job_counters(standins, held_before, args.hosts_rows),
            }
    return results


def _spread(values: list[float], unit: str, digits: int = 1) -> str:
    """``max (mean)`` of the hosts' values."""
    if not values:
        return "n/a"
    return f"{max(values):.{digits}f} {unit} ({sum(values) / len(values):.{digits}f})"


def hosts_report(args: argparse.Namespace, results: dict, targets: list) -> list[str]:
    lines = [
        f"## Cost per host as hosts grow: {args.hosts_rows:,} rows x 9 floats, "
        f"{args.hosts_rounds} rounds, 1 thread per host",
        "",
        "Per host: the largest (and the mean) over the job's hosts; CPU and peak RSS are the "
        "whole `train` process's. Downloaded: remote chunks, by session.",
        "",
    ]
    rows = []
    for world, job in results.items():
        hosts = job["hosts"]
        failed = [h["name"] for h in hosts if h["returncode"] != 0]
        cpu = [h["cpu_seconds"] for h in hosts]
        loads = [h["load_seconds"] for h in hosts if "load_seconds" in h]
        rows.append(
            row(
                world if not failed else f"{world} (**failed**: {', '.join(failed)})",
                _spread(cpu, "s"),
                _spread([h["peak_rss_mb"] for h in hosts], "MB", 0),
                _spread([b / MB for b in job["bytes_by_session"]], "MB"),
                _spread(loads, "s"),
                f"{sum(cpu):.1f} s",
                job["statements"],
                job["materializations"],
                job["reads_by_id"],
                job["chunks_downloaded"],
            )
        )
    lines += table(
        ("hosts", "CPU per host", "peak RSS per host", "downloaded per host", "load (wall)",
         "CPU, all hosts", "statements", "full-result materializations", "reads by id",
         "chunks downloaded"),
        rows,
    )  # fmt: skip
    return lines
