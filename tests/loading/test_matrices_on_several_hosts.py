"""Hosts meet inside the matrix build: a slow host is waited for by its work's bound, a dead one
is named within seconds (real XGBoost collectives across processes, one per host)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

COLLECTIVE_TIMEOUT = 2  # seconds; a slow host below works for longer, twice

# One host of a 2-host job: 9 chunks of 100 rows, 3 chunks a block. The last host is slow
# before its first block and again in its last one (3 chunks of 1 s each time), or it dies
# in its last block.
_HOST = textwrap.dedent(
    """
    import sys, time, os
    from pathlib import Path
    import numpy as np
    import pyarrow as pa
    import xgboost as xgb
    from snowflake_xgb.config.job_config import DownloadSettings, HostsSettings
    from snowflake_xgb.errors import UserError
    from snowflake_xgb.hosts.hosts import Hosts
    from snowflake_xgb.loading.host_data import loading_waits
    from snowflake_xgb.loading.matrices import SliceIter
    from snowflake_xgb.model_files.columns import ColumnSelection

    names, me, what = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
    columns = ColumnSelection(("A", "B"), "Y")
    late = (6, 7, 8) if what == "dies" else (0, 1, 2, 6, 7, 8)

    def tables(is_last):
        for index in range(9):
            if is_last and index in late:
                if what == "dies":
                    os._exit(3)
                time.sleep(1.0)
            values = np.arange(100, dtype=np.float64) + 100 * index
            yield pa.table({"A": values, "B": values % 7, "Y": values % 2})

    started = time.monotonic()
    try:
        with Hosts(names, me, HostsSettings(9099, 60, int(sys.argv[5]))) as hosts:
            waits = loading_waits(hosts, "training", DownloadSettings(4, 1))
            is_last = hosts.rank == hosts.world - 1
            data_iter = SliceIter(lambda: tables(is_last), columns, "training",
                                  Path(sys.argv[4]) / "blocks", block_rows=300, waits=waits)
            with hosts.step("Loading training data"):
                matrix = xgb.QuantileDMatrix(data_iter)
            data_iter.close()
            print("rows", int(hosts.sum(np.array([matrix.num_row()]))[0]), end=" ")
    except UserError as error:
        print("failed:", error, end=" ")
    print(f"after {time.monotonic() - started:.1f}s", flush=True)
    """
)


def _run_hosts(tmp_path: Path, what: str) -> list[tuple[str, str | None]]:
    """Each host's last line and recorded failure reason, in rank order."""
    block = random.randrange(16, 250)
    names = [f"127.{block}.253.{i}" for i in (1, 2)]
    processes = []
    for name in names:
        base = tmp_path / name
        base.mkdir()
        environ = {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}
        command = [sys.executable, "-c", _HOST, ",".join(names), name, what, str(base)]
        command.append(str(COLLECTIVE_TIMEOUT))
        processes.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
            )
        )
    verdicts = []
    try:
        for name, process in zip(names, processes, strict=True):
            output = process.communicate(timeout=90)[0].strip()
            failure = tmp_path / name / "output" / "failure"
            last = output.splitlines()[-1] if output else "(nothing)"
            verdicts.append((last, failure.read_text() if failure.exists() else None))
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return verdicts


def test_a_host_slower_than_the_collective_timeout_at_both_meetings_is_waited_for(
    tmp_path: Path,
) -> None:
    verdicts = _run_hosts(tmp_path, "slow")
    assert [last.split(" after ")[0] for last, _ in verdicts] == ["rows 1800"] * 2, verdicts


def test_a_host_that_dies_while_loading_is_named_within_seconds(tmp_path: Path) -> None:
    started = time.monotonic()
    (waiting_last, waiting_failure), _ = _run_hosts(tmp_path, "dies")
    assert time.monotonic() - started < 60  # the download bound, not a hang
    assert waiting_failure is not None, waiting_last
    assert "127." in waiting_failure and ".253.2" in waiting_failure, waiting_failure
    assert "Traceback" not in waiting_failure
