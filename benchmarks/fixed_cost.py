"""A job's fixed cost: what a 1-host ``train`` job spends besides loading and training.

Minimal version (house-bench): the house-fixedcost branch writes the full measure; the lead
merges the two (``measure_fixed_cost`` returning a dataclass of phases is the shared shape).
Phases, each in wall seconds, from a measured ``train`` process on a tiny table (1 round):
the interpreter's start alone, importing the training module, then from the job's own log the
planning statements and the load; what is left is sign-in, the report, sagemaker-training's
own start and the model file.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from standin_jobs import hyperparameters, run_train_job
from support.standins import StandIns


@dataclass(frozen=True)
class FixedCost:
    """Where a 1-host job's seconds go, outside of loading and training (wall seconds)."""

    interpreter_start: float
    import_training_module: float
    planning: float
    loading: float
    whole_process: float

    @property
    def fixed(self) -> float:
        """The job's seconds outside loading and the planning statements (Snowflake's time)."""
        return self.whole_process - self.loading - self.planning


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, timeout=300)
    return time.perf_counter() - started


def measure_fixed_cost(work: Path, standins: StandIns) -> FixedCost:
    """The fixed cost of one ``train`` job on the stand-ins' ``TABLE`` (prepared by the caller,
    small: its load is measured and taken out)."""
    interpreter = _wall([sys.executable, "-c", "pass"])
    imports = _wall([sys.executable, "-c", "import snowflake_xgb.training"]) - interpreter
    host = run_train_job(work, "fixed-cost", 1, standins, hyperparameters(1))[0]
    return FixedCost(
        interpreter_start=round(interpreter, 2),
        import_training_module=round(imports, 2),
        planning=host.get("plan_seconds", float("nan")),
        loading=host.get("load_seconds", float("nan")),
        whole_process=host["wall_seconds"],
    )
