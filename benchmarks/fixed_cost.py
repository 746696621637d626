"""A job's fixed cost: what a 1-host ``train`` job spends besides Snowflake's statements.

Minimal version (house-bench): the house-fixedcost branch writes the full measure (a relay that
times Snowflake's answers, import times per package); this one has the same interface
(``measure_fixed_cost`` -> ``FixedCost``), so the lead keeps theirs when merging. Here a job on
a tiny table (``ROWS`` rows, 1 round) is timed as a whole; its own log gives the planning
statements and the load, counted as Snowflake's time (an upper bound: no relay here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from standin_jobs import hyperparameters, prepare, run_train_job
from standin_servers import standin_servers
from support.standins import StandIns

ROWS = 10_000


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float


@dataclass(frozen=True)
class FixedCost:
    """One 1-host ``train`` job on ``ROWS`` rows: where its wall time went."""

    wall_seconds: float  # the ``train`` process, start to exit
    cpu_seconds: float  # the process's user + system time
    snowflake_seconds: float  # planning and loading, from the job's log
    snowflake_requests: int  # not counted by this version
    phases: tuple[Phase, ...]
    imports: tuple[Phase, ...]  # not measured by this version
    load_average: float  # the machine's over the minute before the run

    @property
    def fixed_seconds(self) -> float:
        """The job's wall time outside Snowflake's own statement time."""
        return round(self.wall_seconds - self.snowflake_seconds, 2)


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, timeout=300)
    return time.perf_counter() - started


def measure_fixed_cost(repeat: int = 1, work: Path | None = None) -> FixedCost:
    """The fastest of ``repeat`` 1-host jobs against fresh stand-ins; ``work``: logs and job
    folders (default: a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="fixed_cost_") as scratch:
        work = work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        load_average = os.getloadavg()[0]
        interpreter = _wall([sys.executable, "-c", "pass"])
        imports = _wall([sys.executable, "-c", "import snowflake_xgb.training"]) - interpreter
        with standin_servers(work) as endpoints:
            standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
            prepare(standins, ROWS)
            runs = [
                run_train_job(work, f"fixed-cost-{n}", 1, standins, hyperparameters(1))[0]
                for n in range(repeat)
            ]
    host = min(runs, key=lambda run: run["wall_seconds"])
    planning, loading = host.get("plan_seconds", 0.0), host.get("load_seconds", 0.0)
    wall = host["wall_seconds"]
    return FixedCost(
        wall_seconds=wall,
        cpu_seconds=host["cpu_seconds"],
        snowflake_seconds=round(planning + loading, 2),
        snowflake_requests=0,
        phases=(
            Phase("interpreter start (python -c pass)", round(interpreter, 2)),
            Phase("import snowflake_xgb.training", round(imports, 2)),
            Phase("planning statements (job log)", planning),
            Phase("loading (job log)", loading),
            Phase("the rest of the process", round(wall - imports - planning - loading, 2)),
        ),
        imports=(),
        load_average=round(load_average, 1),
    )
