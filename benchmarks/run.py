"""Loader benchmarks, side by side in one run: ``python benchmarks/run.py [--quick]``.

Sections (``--sections``, default all):

standin   The same fakesnow table (``--rows``, default 2M x 9 floats) read by (1) the original
          blog's loader (``pd.read_sql`` -> ``xgb.DMatrix``), (2) ``fetch_pandas_all`` ->
          ``QuantileDMatrix``, (3) ours: our loader alone, and the whole ``train`` process with
          ``num_round=1`` against the blog's loader with 1 round. Each case is its own process;
          wall time and peak RSS come from ``wait4``.
chunked   Many lazily read Arrow IPC files (``--chunked-rows``, default 10M x 9) through our
          loader, against ``QuantileDMatrix`` from a NumPy array already in memory.
scaling   1, 2, 4 host processes (``--hosts``) in one XGBoost collective on the chunked source:
          per-host peak RSS above baseline and validation RMSE.
extmem    ``external_memory`` (``ExtMemQuantileDMatrix``, cache on local disk) on
          ``--extmem-rows`` (default 20M) chunked rows: peak RSS against the raw size.
extmem-wide  (not in the default) the same on a wider table (``--wide-rows`` x
          ``--wide-features``), where XGBoost's per-row training state weighs less.
serving   ``serve`` against a server written the way AWS's XGBoost image serves (gunicorn +
          Flask + pandas + a DMatrix per request): requests/s, p50/p99 latency and server CPU
          per request for 1-row and 1,000-row CSV and 1,000-row JSON (``benchmarks/serving.py``;
          ``--serving-seconds``, ``--serving-workers``).
cv        (not in the default) ``cv_folds`` = ``--cv-folds`` (default 3,5) against plain
          training with ``validation_fraction`` on the stand-in table (``--rows``), each a
          one-host ``train`` process of ``--cv-rounds`` rounds: wall time and peak RSS
          (``--repeat`` runs, the fastest kept).

scoring   The scoring job (``job=score``) over ``--scoring-rows`` (default 300k) keyed rows on
          1 and 2 hosts, end to end (read, predict, PUT + COPY INTO the stand-in, publish),
          beside ``serve`` on the same model (CSV and the external-function form, 1,000-row
          requests, one worker): rows per second per host (``benchmarks/scoring.py``).

statements  Statements and full-result materializations of one API job (a validation split,
          a categorical column) from the Snowflake stand-in's counters
          (``benchmarks/statement_counts.py``): what a job costs in warehouse work.

network   A result served as Snowflake serves it (the stand-in's front: an inline first chunk,
          then growing gzip'd chunks over HTTP, ``--first-byte-ms`` latency, ``--download-mbps``
          per download; ``--net-rows``, default 10M x 9): the connector's ``fetch_arrow_all``,
          the blog's loader and ``train`` on 1, 2, 4 hosts (``benchmarks/network.py``).

Stand-in and chunked cases run ``--repeat`` times (default 2), the fastest kept; ``--quick``
uses small sizes and one repeat (about a minute). See docs/benchmarks.md.

Results: a Markdown report on stdout and in ``--output`` (with a JSON file beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
WORKERS = [sys.executable, str(HERE / "workers.py")]
TABLE = "BENCH.PUBLIC.HOUSING"
SECRET_ID = "snowflake-xgb/bench"
REGION = "us-east-1"

sys.path.insert(0, str(REPO / "local_test"))
from offline_env import offline_environment  # noqa: E402
from standin_servers import free_port, standin_servers  # noqa: E402

from snowflake_xgb import sagemaker_layout as layout  # noqa: E402


class Case:
    """One measured process: wall time, peak RSS (``wait4``) and its ``BENCH_RESULT`` line."""

    def __init__(self, name: str, command: list[str], log_dir: Path, **popen) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdout=self._out, stderr=subprocess.STDOUT, **popen
        )
        self.result: dict | None = None

    def poll(self) -> bool:
        """True once the process has ended (then ``self.result`` is set)."""
        if self.result is not None:
            return True
        pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        if pid == 0:
            return False
        wall = time.perf_counter() - self.started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._out.close()
        inner = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("BENCH_RESULT "):
                inner = json.loads(line.split(" ", 1)[1])
        self.result = {
            "name": self.name,
            "returncode": self.process.returncode,
            "wall_seconds": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            **inner,
        }
        if self.process.returncode != 0:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            print(f"!! {self.name} failed ({self.process.returncode}); log {self.log}:\n{tail}")
        return True


def run_cases(cases: list[Case], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while not all(case.poll() for case in cases):
        if time.monotonic() > deadline:
            for case in cases:
                if case.result is None:
                    case.process.kill()
            deadline = float("inf")
        time.sleep(0.02)
    return [case.result for case in cases]


def run_case(name: str, command: list[str], log_dir: Path, timeout: float = 1800, **popen) -> dict:
    result = run_cases([Case(name, command, log_dir, **popen)], timeout)[0]
    print(
        f"  {name}: {result['wall_seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB"
        f" (rc {result['returncode']})",
        flush=True,
    )
    return result


# ---------------------------------------------------------------- stand-in (fakesnow) section


def seed_table(port: int, rows: int) -> None:
    from seed_standins import create_housing_table
    from workers import connect  # the connection every stand-in case opens

    with connect(port) as connection:
        create_housing_table(connection, TABLE, rows=rows, stand_in=True)


def put_secret(url: str) -> None:
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_secret(
        Name=SECRET_ID, SecretString=json.dumps({"user": "bench", "password": "x"})
    )


def lay_out_host(base: Path, host: str, hosts: list[str], hyperparameters: dict) -> None:
    """A host's folder laid out like /opt/ml, as SageMaker prepares it."""
    for folder in layout.PREPARED_DIRS:
        (base / folder).mkdir(parents=True)
    (base / layout.HYPERPARAMETERS_FILE).write_text(json.dumps(hyperparameters))
    resources = {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}
    (base / layout.RESOURCE_CONFIG_FILE).write_text(json.dumps(resources))
    (base / layout.INPUT_DATA_CONFIG_FILE).write_text("{}")


def job_environ(port: int, secrets_url: str) -> dict[str, str]:
    """What a ``train`` job needs to reach the stand-ins."""
    return {
        **os.environ,
        "SAGEMAKER_TRAINING_MODULE": "snowflake_xgb.training:main",
        "SNOWFLAKE_SECRET_ID": SECRET_ID,
        "SNOWFLAKE_ACCOUNT": "local",
        "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": str(port),
        "SNOWFLAKE_PROTOCOL": "http",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **offline_environment(secrets_url),
    }


def train_job_command(
    base: Path, port: int, secrets_url: str, rounds: int, extra: dict | None = None
) -> tuple[list, dict]:
    """A one-host ``train`` job folder (laid out like /opt/ml) and its environment."""
    hyperparameters = {
        "table": TABLE,
        "label": "MEDHOUSEVAL",
        "num_round": str(rounds),
        "objective": "reg:squarederror",
        "max_depth": "6",
        "eta": "0.3",
        **(extra or {}),
    }
    lay_out_host(base, "algo-1", ["algo-1"], hyperparameters)
    env = {**job_environ(port, secrets_url), layout.BASE_DIR_ENV: str(base)}
    return [str(BIN / "train")], env


def standin_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"stand-in: seeding {args.rows:,} rows in fakesnow", flush=True)
    with standin_servers(work) as endpoints:
        snowflake_port, secrets_url = endpoints.snowflake_port, endpoints.secrets_url
        seed_table(snowflake_port, args.rows)
        put_secret(secrets_url)
        common = ["--port", str(snowflake_port), "--table", TABLE]
        results: dict[str, list[dict]] = {}
        for repeat in range(args.repeat):
            print(f"stand-in: round {repeat + 1} of {args.repeat}", flush=True)
            cases = [
                ("standin-floor", [*WORKERS, "standin-floor", *common]),
                ("blog", [*WORKERS, "blog", *common]),
                ("fetch-pandas", [*WORKERS, "fetch-pandas", *common]),
                ("ours-loader", [*WORKERS, "ours-loader", *common]),
                ("blog-1-round", [*WORKERS, "blog", *common, "--rounds", "1"]),
            ]
            for name, command in cases:
                results.setdefault(name, []).append(run_case(name, command, work))
            job_dir = work / f"train-job-{repeat}"
            shutil.rmtree(job_dir, ignore_errors=True)
            command, env = train_job_command(job_dir, snowflake_port, secrets_url, 1)
            results.setdefault("ours-train-1-round", []).append(
                run_case("ours-train-1-round", command, work, env=env, cwd=job_dir)
            )
    # The fastest repeat of each case (the machine is shared; slower runs are interference).
    return {name: min(runs, key=lambda r: r["wall_seconds"]) for name, runs in results.items()}


def cv_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"cv: seeding {args.rows:,} rows in fakesnow", flush=True)
    with standin_servers(work) as endpoints:
        seed_table(endpoints.snowflake_port, args.rows)
        put_secret(endpoints.secrets_url)
        cases = {"plain": {"validation_fraction": "0.2"}}
        cases.update({f"cv-{k}": {"cv_folds": str(k)} for k in args.cv_folds})
        results: dict[str, list[dict]] = {}
        for repeat in range(args.repeat):
            for name, extra in cases.items():
                job_dir = work / f"cv-job-{name}-{repeat}"
                command, env = train_job_command(
                    job_dir, endpoints.snowflake_port, endpoints.secrets_url, args.cv_rounds, extra
                )
                run = run_case(name, command, work, env=env, cwd=job_dir)
                results.setdefault(name, []).append(run)
    # The fastest repeat of each case (the machine is shared; slower runs are interference).
    return {name: min(runs, key=lambda r: r["wall_seconds"]) for name, runs in results.items()}


def cv_report(args: argparse.Namespace, r: dict) -> list[str]:
    lines = [
        f"## Cross-validation, {args.rows:,} rows x 9 floats, {args.cv_rounds} rounds, 1 host",
        "",
    ]
    plain = r["plain"]
    rows = [
        row(
            name,
            f"{c['wall_seconds']:.1f} s",
            ratio(c["wall_seconds"], plain["wall_seconds"]),
            f"{c['peak_rss_mb']:.0f} MB",
            ratio(c["peak_rss_mb"], plain["peak_rss_mb"]),
        )
        for name, c in r.items()
    ]
    lines += table(("case", "wall time", "vs plain", "peak RSS", "vs plain"), rows)
    return lines


# ---------------------------------------------------------------- chunked-source sections


def chunked_section(args: argparse.Namespace, work: Path) -> dict:
    common = [
        "--data-dir",
        str(args.data_dir),
        "--work-dir",
        str(work),
        "--rows",
        str(args.chunked_rows),
    ]
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeat):  # interleaved, so that each sees the same machine
        for name in ("chunked-floor", "chunked-ours"):
            runs.setdefault(name, []).append(run_case(name, [*WORKERS, name, *common], work))
        if args.baseline_src:  # the same case with another version of the package
            env = {**os.environ, "PYTHONPATH": str(args.baseline_src.resolve())}
            command = [*WORKERS, "chunked-ours", *common]
            runs.setdefault("chunked-baseline", []).append(
                run_case("chunked-baseline", command, work, env=env)
            )
    return {name: min(r, key=lambda x: x["build_seconds"]) for name, r in runs.items()}


def scaling_section(args: argparse.Namespace, work: Path) -> dict:
    common = [
        "--data-dir",
        str(args.data_dir),
        "--work-dir",
        str(work),
        "--rows",
        str(args.chunked_rows),
        "--valid-rows",
        str(args.valid_rows),
        "--rounds",
        str(args.scaling_rounds),
    ]
    results = {}
    block = random.randrange(16, 250)  # fresh loopback addresses: the tracker port lingers
    for index, world in enumerate(args.hosts):
        hosts = [f"127.{block}.{index + 1}.{rank + 1}" for rank in range(world)]
        port = free_port()
        print(f"scaling: {world} host(s)", flush=True)
        cases = [
            Case(
                f"hosts{world}-rank{rank}",
                [
                    *WORKERS,
                    "host",
                    *common,
                    "--hosts",
                    ",".join(hosts),
                    "--rank",
                    str(rank),
                    "--tracker-port",
                    str(port),
                ],
                work,
            )
            for rank in range(world)
        ]
        runs = run_cases(cases, 1800)
        for run in runs:
            print(
                f"  {run['name']}: {run['wall_seconds']:.1f} s, peak RSS above baseline "
                f"{run.get('above_baseline_mb', float('nan')):.0f} MB, RMSE "
                f"{run.get('validation_rmse', float('nan')):.5f}",
                flush=True,
            )
        results[world] = runs
    return results


def extmem_wide_section(args: argparse.Namespace, work: Path) -> dict:
    """External memory on a wider table: where XGBoost's per-row training state matters less."""
    command = [
        *WORKERS, "extmem", "--data-dir", str(args.data_dir), "--work-dir", str(work),
        "--rows", str(args.wide_rows), "--extra-features", str(args.wide_features - 8),
        "--rounds", str(args.extmem_rounds),
    ]  # fmt: skip
    return {"extmem": run_case("extmem-wide", command, work)}


def extmem_section(args: argparse.Namespace, work: Path) -> dict:
    command = [
        *WORKERS,
        "extmem",
        "--data-dir",
        str(args.data_dir),
        "--work-dir",
        str(work),
        "--rows",
        str(args.extmem_rows),
        "--rounds",
        str(args.extmem_rounds),
    ]
    return {"extmem": run_case("extmem", command, work)}


# ---------------------------------------------------------------- report


def machine() -> str:
    import numpy
    import pyarrow
    import snowflake.connector
    import xgboost

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPU ({cpu}), {memory_kb / 2**20:.0f} GiB memory, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, XGBoost {xgboost.__version__}, "
        f"pyarrow {pyarrow.__version__}, NumPy {numpy.__version__}, "
        f"snowflake-connector-python {snowflake.connector.__version__}"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table(header: tuple[str, ...], rows: list[str]) -> list[str]:
    return [row(*header), row(*(["---"] * len(header))), *rows, ""]


STANDIN_LABELS = {
    "standin-floor": "stand-in alone: execute + first batch `to_arrow()`",
    "blog": "original blog: `pd.read_sql` -> `DMatrix(X.values, y.values)`",
    "fetch-pandas": "`fetch_pandas_all()` -> `QuantileDMatrix`",
    "ours-loader": "ours, loader only: result batches -> `build_matrix`",
    "blog-1-round": "original blog + `xgb.train`, 1 round",
    "ours-train-1-round": "ours: whole `train` process, `num_round=1`",
}


def standin_report(args: argparse.Namespace, s: dict, targets: list) -> list[str]:
    lines = [f"## Stand-in (fakesnow), {args.rows:,} rows x 9 floats, one process per case", ""]
    rows = [
        row(
            label,
            f"{s[n]['wall_seconds']:.1f} s",
            f"{s[n]['cpu_seconds']:.1f} s",
            f"{s[n]['peak_rss_mb']:.0f} MB",
        )
        for n, label in STANDIN_LABELS.items()
        if n in s
    ]
    lines += table(("case", "wall time", "CPU time (client)", "peak RSS"), rows)
    blog, ours = s["blog-1-round"], s["ours-train-1-round"]
    t = ours["wall_seconds"] / blog["wall_seconds"]
    m = ours["peak_rss_mb"] / blog["peak_rss_mb"]
    loader_t = s["ours-loader"]["wall_seconds"] / s["blog"]["wall_seconds"]
    loader_m = s["ours-loader"]["peak_rss_mb"] / s["blog"]["peak_rss_mb"]
    lines += [
        f"Ours/blog with 1 round, whole process: time {t:.2f}x, peak RSS {m:.2f}x. "
        f"Loader only (ours-loader/blog): time {loader_t:.2f}x, peak RSS {loader_m:.2f}x.",
        "",
    ]
    targets += [
        ("stand-in: `train` 1 round time <= 0.6x blog", f"{t:.2f}x", t <= 0.6),
        ("stand-in: `train` 1 round peak RSS <= 0.5x blog", f"{m:.2f}x", m <= 0.5),
    ]
    return lines


def chunked_report(args: argparse.Namespace, c: dict, targets: list) -> list[str]:
    floor, ours = c["chunked-floor"], c["chunked-ours"]
    raw = ours["raw_float32_mb"]
    lines = [
        f"## Chunked Arrow IPC source, {args.chunked_rows:,} rows x 9 columns "
        f"(raw float32 {raw:.0f} MB)",
        "",
    ]
    lines += table(
        (
            "case",
            "build: wall",
            "build: CPU",
            "peak RSS above baseline",
            "matrix held after",
            "process peak",
        ),
        [
            row(
                "floor: `QuantileDMatrix` from a NumPy array already in memory",
                f"{floor['build_seconds']:.1f} s",
                f"{floor.get('build_cpu_seconds', 0):.1f} s",
                f"{floor['build_above_baseline_mb']:.0f} MB",
                f"{floor['held_mb']:.0f} MB",
                f"{floor['peak_rss_mb']:.0f} MB (array: {floor['read_above_baseline_mb']:.0f} MB)",
            ),
            row(
                "ours: lazily read IPC batches -> `build_matrix`",
                f"{ours['build_seconds']:.1f} s",
                f"{ours.get('build_cpu_seconds', 0):.1f} s",
                f"{ours['build_above_baseline_mb']:.0f} MB",
                f"{ours['held_mb']:.0f} MB",
                f"{ours['peak_rss_mb']:.0f} MB",
            ),
            *[
                row(
                    "the same with the `--baseline-src` package",
                    f"{b['build_seconds']:.1f} s",
                    f"{b.get('build_cpu_seconds', 0):.1f} s",
                    f"{b['build_above_baseline_mb']:.0f} MB",
                    f"{b['held_mb']:.0f} MB",
                    f"{b['peak_rss_mb']:.0f} MB",
                )
                for b in [c.get("chunked-baseline")]
                if b
            ],
        ],
    )
    t = ours["build_seconds"] / floor["build_seconds"]
    m = ours["build_above_baseline_mb"] / raw
    cpu = ratio(ours.get("build_cpu_seconds", 0), floor.get("build_cpu_seconds", 0))
    lines += [
        f"Ours/floor time {t:.2f}x (CPU time {cpu}); our peak above baseline / raw {m:.2f}x; "
        f"the matrix XGBoost keeps is {ratio(ours['held_mb'], raw)} of raw by itself.",
        "",
    ]
    targets += [
        ("chunked: time <= 1.5x the in-memory floor", f"{t:.2f}x", t <= 1.5),
        ("chunked: peak RSS above baseline <= 0.5x raw float32", f"{m:.2f}x", m <= 0.5),
    ]
    return lines


def scaling_report(args: argparse.Namespace, sc: dict, targets: list) -> list[str]:
    lines = [
        f"## Per-host scaling, chunked source: {args.chunked_rows:,} training rows, "
        f"{args.valid_rows:,} validation rows, {args.scaling_rounds} rounds",
        "",
    ]
    one = max(r["above_baseline_mb"] for r in sc[1]) if 1 in sc else None
    rmse1 = sc[1][0]["validation_rmse"] if 1 in sc else None
    rows = []
    for world, runs in sc.items():
        above = max(r["above_baseline_mb"] for r in runs)
        load = max(r["load_above_baseline_mb"] for r in runs)
        rmse = runs[0]["validation_rmse"]
        share = above / one if one else float("nan")
        drift = (rmse - rmse1) / rmse1 if rmse1 else float("nan")
        wall = max(r["wall_seconds"] for r in runs)
        rows.append(
            row(
                world,
                f"{above:.0f} MB",
                f"{share:.2f}x",
                f"{load:.0f} MB",
                f"{rmse:.5f}",
                f"{drift:+.2%}",
                f"{wall:.0f} s",
            )
        )
        limit = {2: 0.6, 4: 0.35}.get(world)
        if limit:
            targets += [
                (
                    f"scaling: {world} hosts, per-host RSS <= {limit}x 1 host",
                    f"{share:.2f}x",
                    share <= limit,
                ),
                (
                    f"scaling: {world} hosts, RMSE within 1% of 1 host",
                    f"{drift:+.2%}",
                    abs(drift) <= 0.01,
                ),
            ]
    header = (
        "hosts",
        "per-host peak RSS above baseline (max)",
        "of 1 host",
        "of which loading",
        "validation RMSE",
        "vs 1 host",
        "wall",
    )
    return lines + table(header, rows)


def extmem_report(args: argparse.Namespace, r: dict, targets: list | None) -> list[str]:
    raw = r["raw_float32_mb"]
    build = r["build_above_baseline_mb"]
    overall = r["overall_peak_mb"] - r["baseline_mb"]
    lines = [
        f"## External memory (`ExtMemQuantileDMatrix`), {r['rows']:,} rows x "
        f"{r.get('columns', 9)} columns "
        f"(raw float32 {raw:.0f} MB), XGBoost's page cache on local disk ({r['cache_mb']:.0f} MB)",
        "",
    ]
    lines += table(
        ("phase", "time", "peak RSS above baseline", "of raw"),
        [
            row(
                "build the matrix",
                f"{r['build_seconds']:.1f} s",
                f"{build:.0f} MB",
                ratio(build, raw),
            ),
            row(
                f"train {r['rounds']} round(s), matrix built",
                f"{r['train_seconds']:.1f} s (training)",
                f"{overall:.0f} MB",
                ratio(overall, raw),
            ),
        ],
    )
    lines += [
        f"Whole process: {r['wall_seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
        f"(baseline after imports {r['baseline_mb']:.0f} MB).",
        "",
    ]
    if targets is None:  # the wide table: for the analysis, not one of the targets
        return lines
    targets += [
        (
            "extmem: build peak RSS above baseline <= 0.3x raw",
            ratio(build, raw),
            build / raw <= 0.3,
        ),
        (
            "extmem: peak above baseline while training <= 0.3x raw",
            ratio(overall, raw),
            overall / raw <= 0.3,
        ),
    ]
    return lines


def statements_section(args: argparse.Namespace, work: Path) -> dict:
    print("statements: one API job's statements, from the stand-in's counters", flush=True)
    done = subprocess.run(
        [sys.executable, str(HERE / "statement_counts.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **offline_environment()},
    )
    if done.returncode != 0:
        raise SystemExit(f"statement_counts.py failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def statements_report(counts: dict) -> list[str]:
    return [
        "",
        "## Statements per job",
        "",
        *table(
            ("statements", "RESULT_SCANs reading data", "reads by id"),
            [row(counts["statements"], counts["result_scans"], counts["reads_by_id"])],
        ),
    ]


def scoring_section(args: argparse.Namespace, work: Path) -> dict:
    from scoring import run as run_scoring

    print("scoring: the scoring job against serve", flush=True)
    return run_scoring(work / "scoring", args.scoring_rows, [1, 2], args.serving_seconds)


def serving_section(args: argparse.Namespace, work: Path) -> dict:
    from serving import run as run_serving

    print("serving: ours against the AWS-style baseline", flush=True)
    return run_serving(work, args.serving_seconds, 10, args.serving_workers)


def report(args: argparse.Namespace, results: dict) -> str:
    lines = [
        f"# Loader benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        f"Command: `{' '.join(sys.argv)}`",
        "",
    ]
    targets: list[tuple[str, str, bool]] = []
    if "network" in results:
        from network import network_report

        lines += network_report(args, results["network"], targets)
    if "standin" in results:
        lines += standin_report(args, results["standin"], targets)
    if "chunked" in results:
        lines += chunked_report(args, results["chunked"], targets)
    if "scaling" in results:
        lines += scaling_report(args, results["scaling"], targets)
    if "extmem" in results:
        lines += extmem_report(args, results["extmem"]["extmem"], targets)
    if "extmem-wide" in results:
        lines += extmem_report(args, results["extmem-wide"]["extmem"], None)
    if "statements" in results:
        lines += statements_report(results["statements"])
    if "serving" in results:
        from serving import report as serving_report

        lines += ["", serving_report(results["serving"])]
    if "cv" in results:
        lines += cv_report(args, results["cv"])
    if "scoring" in results:
        from scoring import report as scoring_report

        lines += ["", scoring_report(results["scoring"])]
    if targets:
        lines += ["## Targets", ""]
        lines += table(
            ("target", "measured", "met"),
            [row(t, v, "yes" if ok else "**no**") for t, v, ok in targets],
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes)")
    parser.add_argument(
        "--sections",
        default="network,standin,chunked,scaling,extmem,statements,serving,scoring",
    )
    parser.add_argument("--scoring-rows", type=int, default=300_000, help="section scoring")
    parser.add_argument("--serving-seconds", type=float, default=10.0, help="section serving")
    parser.add_argument("--serving-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--net-rows", type=int, default=10_000_000, help="section network")
    parser.add_argument("--first-byte-ms", type=float, default=100, help="section network")
    parser.add_argument("--download-mbps", type=float, default=25, help="section network")
    parser.add_argument("--download-threads", type=int, default=4, help="section network")
    parser.add_argument("--rows", type=int, default=2_000_000, help="stand-in table rows")
    parser.add_argument("--chunked-rows", type=int, default=10_000_000)
    parser.add_argument("--valid-rows", type=int, default=1_000_000)
    parser.add_argument("--extmem-rows", type=int, default=20_000_000)
    parser.add_argument("--hosts", default="1,2,4")
    parser.add_argument("--wide-rows", type=int, default=4_000_000, help="section extmem-wide")
    parser.add_argument("--wide-features", type=int, default=48, help="section extmem-wide")
    parser.add_argument("--scaling-rounds", type=int, default=10)
    parser.add_argument("--extmem-rounds", type=int, default=1)
    parser.add_argument("--cv-folds", default="3,5", help="section cv: folds of each case")
    parser.add_argument("--cv-rounds", type=int, default=20, help="section cv")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="a folder holding another snowflake_xgb package (e.g. from `git archive`): the "
        "chunked case runs with it too, for a before/after comparison in the same run",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="runs of each stand-in and chunked case; the fastest is kept (the machine may be "
        "shared: a slower run measures the other work more than the loader)",
    )
    parser.add_argument("--data-dir", type=Path, default=REPO / ".work" / "bench" / "data")
    parser.add_argument("--output", type=Path, default=REPO / ".work" / "bench" / "results.md")
    args = parser.parse_args()
    # Every case signs in to the stand-in (this process too, to seed it): nothing may leave.
    os.environ.update(offline_environment())
    if args.quick:
        args.rows, args.chunked_rows, args.valid_rows = 200_000, 1_000_000, 200_000
        args.extmem_rows, args.scaling_rounds, args.repeat = 2_000_000, 5, 1
        args.serving_seconds = 2.0
        args.net_rows = 200_000
        args.scoring_rows = 50_000
    args.hosts = [int(h) for h in args.hosts.split(",")]
    args.cv_folds = [int(k) for k in args.cv_folds.split(",")]
    sections = args.sections.split(",")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-", dir=args.output.parent) as tmp:
        work = Path(tmp)
        sys.path.insert(0, str(HERE))
        from chunked_source import ensure_dataset

        datasets = {  # (rows, seed, extra features) each section reads, written once per size
            "chunked": [(args.chunked_rows, 0, 0)],
            "scaling": [(args.chunked_rows, 0, 0), (args.valid_rows, 1, 0)],
            "extmem": [(args.extmem_rows, 0, 0)],
            "extmem-wide": [(args.wide_rows, 0, args.wide_features - 8)],
        }
        for name in sections:
            for rows, seed, extra in datasets.get(name, []):
                print(f"data: {rows:,} rows, seed {seed}, +{extra} columns", flush=True)
                ensure_dataset(args.data_dir, rows, seed, extra)
        from network import network_section

        for name, section in (
            ("network", network_section),
            ("standin", standin_section),
            ("chunked", chunked_section),
            ("scaling", scaling_section),
            ("extmem", extmem_section),
            ("extmem-wide", extmem_wide_section),
            ("statements", statements_section),
            ("serving", serving_section),
            ("cv", cv_section),
            ("scoring", scoring_section),
        ):
            if name in sections:
                results[name] = section(args, work)
        text = report(args, results)
        logs = args.output.parent / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        shutil.copytree(
            work, logs, ignore=shutil.ignore_patterns("*-pages", "*-batches", "train-job-*")
        )
    text += f"\nTotal benchmark time: {time.monotonic() - started:.0f} s.\n"
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print("\n" + text)
    print(f"Report written to {args.output} (+ .json); case logs in {args.output.parent / 'logs'}")


if __name__ == "__main__":
    main()
