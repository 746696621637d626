"""The ``network`` section of ``run.py``: one result served as Snowflake serves it, read over HTTP.

The Snowflake stand-in's front cuts the result into an inline first chunk and growing gzip'd
chunks, each download waiting ``--first-byte-ms`` before its first byte and capped at
``--download-mbps``. In the same run, each its own process (wall time and peak RSS from
``wait4``):

- the connector's own ``fetch_arrow_all()`` -> ``QuantileDMatrix`` (+ 1 round);
- the blog's ``pd.read_sql`` -> ``DMatrix`` (+ 1 round);
- ours: ``train`` with ``num_round=1`` on 1, 2 and 4 hosts; each host's load time and where it
  went (waiting for downloads, converting, XGBoost) come from the job's own phase log.

Every case runs the query itself (the stand-in runs it synchronously), so "query to matrix"
includes the stand-in's query time, measured alone as ``execute`` (first response only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import at_most, row, run_case, table
from standin_jobs import TABLE, hyperparameters, prepare, run_train_job
from standin_servers import standin_servers
from support.standins import StandIns
from workers import WORKERS


def front_settings(first_byte_ms: float, download_mbps: float) -> dict:
    """Snowflake-like chunks (small first, growing) with per-download latency and bandwidth."""
    return {
        "first_chunk_rows": 1000,
        "chunk_rows": 20_000,
        "chunk_growth": 1.15,
        "max_chunk_rows": 160_000,
        "first_byte_seconds": first_byte_ms / 1000,
        "bytes_per_second": download_mbps * 1e6,
    }


def network_section(args: argparse.Namespace, work: Path) -> dict:
    settings = front_settings(args.first_byte_ms, args.download_mbps)
    print(f"network: seeding {args.net_rows:,} rows; front {settings}", flush=True)
    with standin_servers(work, settings=settings) as endpoints:
        standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        prepare(standins, args.net_rows)
        common = ["--port", str(standins.snowflake_port), "--table", TABLE]
        results: dict = {
            "execute": run_case("net-execute", [*WORKERS, "standin-floor", *common], work),
            "fetch-arrow": run_case(
                "net-fetch-arrow", [*WORKERS, "fetch-arrow", *common, "--rounds", "1"], work
            ),
            "blog": run_case("net-blog", [*WORKERS, "blog", *common, "--rounds", "1"], work),
        }
        settings_of_job = hyperparameters(1, download_threads=args.download_threads)
        for world in args.hosts:
            results[f"ours-{world}"] = run_train_job(
                work, f"net-job{world}", world, standins, settings_of_job
            )
    results["settings"] = settings
    return results


def network_report(args: argparse.Namespace, n: dict, targets: list) -> list[str]:
    s = n["settings"]
    lines = [
        f"## Chunked stand-in over HTTP, {args.net_rows:,} rows x 9 floats, "
        f"{s['first_byte_seconds'] * 1000:.0f} ms to first byte, "
        f"{s['bytes_per_second'] / 1e6:.0f} MB/s per download, "
        f"{args.download_threads} download threads",
        "",
    ]
    one = n[f"ours-{args.hosts[0]}"][0] if args.hosts and args.hosts[0] == 1 else None
    fetch, blog = n["fetch-arrow"], n["blog"]

    def query_to_matrix(case: dict) -> float:
        return case.get("load_seconds", float("nan"))

    rows = [
        row("stand-in alone: execute (first response)", f"{n['execute']['wall_seconds']:.1f} s",
            "", f"{n['execute']['peak_rss_mb']:.0f} MB"),
        row("connector `fetch_arrow_all()` -> `QuantileDMatrix`", f"{query_to_matrix(fetch):.1f} s",
            f"{fetch['wall_seconds']:.1f} s", f"{fetch['peak_rss_mb']:.0f} MB"),
        row("blog: `pd.read_sql` -> `DMatrix`", f"{query_to_matrix(blog):.1f} s",
            f"{blog['wall_seconds']:.1f} s", f"{blog['peak_rss_mb']:.0f} MB"),
    ]  # fmt: skip
    for world in args.hosts:
        for host in n[f"ours-{world}"]:
            total = host.get("plan_seconds", 0) + host.get("load_seconds", float("nan"))
            rows.append(
                row(f"ours, `train` on {world} host(s), {host['name'].rsplit('-', 1)[1]}: "
                    f"plan {host.get('plan_seconds', float('nan')):.1f} s + load "
                    f"{host.get('load_seconds', float('nan')):.1f} s", f"{total:.1f} s",
                    f"{host['wall_seconds']:.1f} s", f"{host['peak_rss_mb']:.0f} MB")
            )  # fmt: skip
    lines += table(("case", "query to matrix", "whole process", "peak RSS"), rows)
    lines += ["Where each host's load went (from its phase log):", ""]
    share_rows = []
    for world in args.hosts:
        for host in n[f"ours-{world}"]:
            build = host.get("build_seconds")
            if not build:
                continue
            share_rows.append(
                row(f"{world} host(s), {host['name'].rsplit('-', 1)[1]}", f"{build:.1f} s",
                    *(f"{host[k]:.1f} s ({100 * host[k] / build:.0f}%)"
                      for k in ("waiting_seconds", "converting_seconds", "xgboost_seconds")))
            )  # fmt: skip
    lines += table(
        ("host", "matrix build", "waiting for downloads", "converting", "XGBoost"), share_rows
    )
    if one and "load_seconds" in one:
        ours_total = one.get("plan_seconds", 0) + one["load_seconds"]
        t = ours_total / query_to_matrix(fetch)
        cpu = one["cpu_seconds"] / fetch["cpu_seconds"]
        m = one["peak_rss_mb"] / fetch["peak_rss_mb"]
        lines += [
            f"Ours (1 host) / the connector's path (`fetch_arrow_all` + `QuantileDMatrix`): "
            f"query to matrix {t:.2f}x ({ours_total:.1f} vs {query_to_matrix(fetch):.1f} s "
            f"wall); whole-process CPU {cpu:.2f}x ({one['cpu_seconds']:.1f} vs "
            f"{fetch['cpu_seconds']:.1f} s, ours includes the job's fixed cost); peak RSS "
            f"{m:.2f}x.",
            "",
        ]
        targets += [
            at_most("network: 1 host query-to-matrix / `fetch_arrow_all`", t, 0.7),
            at_most("network: 1 host peak RSS / `fetch_arrow_all`", m, 0.3),
        ]
        for world, bound in ((2, 0.6), (4, 0.35)):
            if f"ours-{world}" in n:
                worst = max(h.get("load_seconds", float("nan")) for h in n[f"ours-{world}"])
                r = worst / one["load_seconds"]
                targets.append(
                    (f"network: {world} hosts, slowest host's load <= {bound}x one host's",
                     f"{r:.2f}x", r <= bound)
                )  # fmt: skip
    return lines
