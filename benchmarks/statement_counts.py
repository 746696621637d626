"""Statements and full-result materializations per job, from the Snowflake stand-in's counters.

    python benchmarks/statement_counts.py            # this tree's snowflake_xgb
    PYTHONPATH=/tmp/before python benchmarks/statement_counts.py   # another (git archive)

One process is one host (the public API): a job with a validation split and one categorical
column over a 3,000-row table. ``statements`` counts every statement the front forwarded or
answered (RESULT_SCANs included); ``materializations`` the statements that produce a full
result of the table's rows (the data queries, the pinned selection, each RESULT_SCAN read).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO / "local_test"), str(REPO / "tests")]

from harness import row, table  # noqa: E402
from offline_env import offline_environment  # noqa: E402
from standin_servers import standin_servers  # noqa: E402
from support.standins import SECRET_ID, TEST_PASSWORD, TEST_USER, StandIns  # noqa: E402

TABLE = "DEMO.PUBLIC.COUNTS"


def main() -> None:
    with tempfile.TemporaryDirectory() as work, standin_servers(Path(work)) as endpoints:
        standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        standins.execute(
            "CREATE DATABASE IF NOT EXISTS DEMO", "CREATE SCHEMA IF NOT EXISTS DEMO.PUBLIC",
            f"CREATE OR REPLACE TABLE {TABLE} (ID NUMBER, X FLOAT, KIND TEXT)",
            f"INSERT INTO {TABLE} SELECT range, range * 0.5, CASE WHEN range % 3 = 0 THEN 'a' "
            "ELSE 'b' END FROM range(3000)",
        )  # fmt: skip
        standins.put_secret(SECRET_ID, {"user": TEST_USER, "password": TEST_PASSWORD})
        os.environ.update(standins.job_environ())
        base = Path(work) / "ml"
        (base / "input" / "config").mkdir(parents=True)
        (base / "model").mkdir()
        (base / "output" / "data").mkdir(parents=True)
        (base / "input" / "config" / "hyperparameters.json").write_text("{}")
        (base / "input" / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
        )
        os.environ["SAGEMAKER_BASE_DIR"] = str(base)
        standins.front.reset()
        from snowflake_xgb import api

        api.load_quantile_dmatrix(
            f"SELECT ID, X, KIND FROM {TABLE}", "ID", validation_fraction=0.2, categorical=["KIND"]
        )
        counters = standins.front.counters()
        statements = counters["forwarded_queries"] + counters["reopens"]
        counts = {
            "package": api.__file__,
            "statements": statements,
            "result_scans": counters["reopens"],
            "reads_by_id": counters.get("result_reads"),
        }
        print(json.dumps(counts))


def statements_section(args: argparse.Namespace, work: Path) -> dict:
    """This script in its own process (this tree's package, or ``PYTHONPATH``'s)."""
    print("statements: one API job's statements, from the stand-in's counters", flush=True)
    done = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **offline_environment()},
    )
    if done.returncode != 0:
        raise SystemExit(f"statement_counts.py failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def statements_report(args: argparse.Namespace, counts: dict, targets: list) -> list[str]:
    return [
        "## Statements per job",
        "",
        *table(
            ("statements", "RESULT_SCANs reading data", "reads by id"),
            [row(counts["statements"], counts["result_scans"], counts["reads_by_id"])],
        ),
    ]


if __name__ == "__main__":
    main()
