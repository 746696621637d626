"""The SDK example's metric definitions, applied to a job's log as SageMaker applies them."""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def launch_example() -> ModuleType:
    """``examples/launch_training_job.py`` as a module (it imports no SDK at module level)."""
    spec = importlib.util.spec_from_file_location(
        "launch_training_job", REPO / "examples" / "launch_training_job.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports no SDK at module level
    return module


@functools.cache
def metric_definitions() -> list[dict[str, str]]:
    """The SDK example's metric definitions (what a user's training job is launched with)."""
    return launch_example().METRIC_DEFINITIONS


def metric_values(log: str) -> dict[str, list[float]]:
    """Apply the metric definitions as SageMaker does, to the log as CloudWatch stores it."""
    definitions = metric_definitions()
    values: dict[str, list[float]] = {d["Name"]: [] for d in definitions}
    for line in log.splitlines():
        line = line.replace("\t", "#011")  # how the job's tabs reach CloudWatch
        for definition in definitions:
            match = re.search(definition["Regex"], line)
            if match:
                values[definition["Name"]].append(float(match.group(1)))
    return values
