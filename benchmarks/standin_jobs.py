"""Benchmark jobs against the stand-ins: the table, the secret, and ``train`` jobs on N hosts.

The stand-ins are the tests' own (``tests/support/standins.py``, ``local_test/``): fakesnow
behind our Snowflake-shaped front, and moto for Secrets Manager. A job is sagemaker-training's
real ``train`` command, one process per host, each with a folder laid out like ``/opt/ml``
(``tests/support/jobs.layout_host``); every host is a measured ``Case``. What each host's log
says about planning and loading is read back into its result.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO / "local_test"), str(REPO / "tests")]

from harness import Case, run_cases  # noqa: E402
from seed_standins import create_housing_table  # noqa: E402
from support.jobs import layout_host  # noqa: E402
from support.standins import SECRET_ID, TEST_PASSWORD, TEST_USER, StandIns  # noqa: E402

from snowflake_xgb import sagemaker_layout as layout  # noqa: E402

BIN = Path(sys.executable).parent
TABLE = "BENCH.PUBLIC.HOUSING"
LABEL = "MEDHOUSEVAL"
JOB_TIMEOUT_SECONDS = 3600

LOADED = re.compile(r"Loading training data: done in ([0-9.]+)s")
PLANNED = re.compile(r"Planning the queries: done in ([0-9.]+)s")
SHARES = re.compile(
    r"built in ([0-9.]+)s: ([0-9.]+)s \(\d+%\) waiting for downloads, ([0-9.]+)s \(\d+%\) "
    r"converting, ([0-9.]+)s \(\d+%\) in XGBoost"
)


def prepare(standins: StandIns, rows: int) -> None:
    """The housing table (``rows`` rows, generated in SQL) and the job's secret."""
    with standins.connect() as connection:
        create_housing_table(connection, TABLE, rows=rows, stand_in=True)
    standins.put_secret(SECRET_ID, {"user": TEST_USER, "password": TEST_PASSWORD})


def job_environ(standins: StandIns) -> dict[str, str]:
    """This process's environment, with what a ``train`` job needs to reach the stand-ins."""
    return {
        **os.environ,
        "SAGEMAKER_TRAINING_MODULE": "snowflake_xgb.training:main",
        **standins.job_environ(),
    }


def hyperparameters(rounds: int, **extra: object) -> dict[str, str]:
    """The benchmark's training job on ``TABLE``; ``extra`` adds or replaces settings."""
    settings = {"table": TABLE, "label": LABEL, "num_round": rounds, "objective":
                "reg:squarederror", "max_depth": 6, "eta": 0.3, **extra}  # fmt: skip
    return {key: str(value) for key, value in settings.items()}


def _read_log(result: dict, log: Path) -> None:
    """The host's planning and load time, and where its matrix build went, from its log."""
    text = log.read_text(errors="replace")
    loaded, planned, shares = LOADED.search(text), PLANNED.search(text), SHARES.search(text)
    if loaded:
        result["load_seconds"] = float(loaded.group(1))
    if planned:
        result["plan_seconds"] = float(planned.group(1))
    if shares:
        build, waiting, converting, xgboost = map(float, shares.groups())
        result.update(
            build_seconds=build, waiting_seconds=waiting, converting_seconds=converting,
            xgboost_seconds=xgboost,
        )  # fmt: skip


def run_train_job(
    work: Path,
    name: str,
    world: int,
    standins: StandIns,
    settings: dict[str, str],
    threads_per_host: int | None = None,
) -> list[dict]:
    """A ``train`` job on ``world`` host processes; per host: ``wait4`` figures and its log's.

    ``threads_per_host``: OpenMP threads of each host (default: 1 when several hosts share
    this machine's cores, else XGBoost's own choice)."""
    work = work.resolve()  # the hosts run in their own folders
    block = random.randrange(16, 250)  # fresh loopback addresses: the tracker port lingers
    hosts = [f"127.{block}.{world}.{rank + 1}" for rank in range(world)]
    env = job_environ(standins)
    threads = threads_per_host or (1 if world > 1 else None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cases = []
    for rank, host in enumerate(hosts):
        base = work / name / f"host{rank + 1}"
        shutil.rmtree(base, ignore_errors=True)
        layout_host(base, host, hosts, settings, None)
        popen = {"env": {**env, layout.BASE_DIR_ENV: str(base)}, "cwd": base}
        cases.append(Case(f"{name}-rank{rank}", [str(BIN / "train")], work, **popen))
    results = run_cases(cases, JOB_TIMEOUT_SECONDS)
    for result, case in zip(results, cases, strict=True):
        _read_log(result, case.log)
        print(
            f"  {result['name']}: {result['wall_seconds']:.1f} s, CPU {result['cpu_seconds']:.1f}"
            f" s, peak RSS {result['peak_rss_mb']:.0f} MB, load "
            f"{result.get('load_seconds', float('nan'))} s",
            flush=True,
        )
    return results
