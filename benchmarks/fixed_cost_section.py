"""The ``fixed-cost`` section: a 1-host job's seconds outside Snowflake's statements, by phase.

It calls ``fixed_cost.measure_fixed_cost`` and prints the ``FixedCost`` it returns: wall, CPU
and Snowflake's seconds, the phases, the slowest imports, and the fixed cost against the target.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from fixed_cost import measure_fixed_cost
from harness import row, table

TARGET_SECONDS = 2.0
IMPORTS_SHOWN = 8


def fixed_cost_section(args: argparse.Namespace, work: Path) -> dict:
    print("fixed-cost: a 1-host job on a small table", flush=True)
    cost = measure_fixed_cost(repeat=args.fixed_cost_repeat, work=work / "fixed-cost")
    return {**asdict(cost), "fixed_seconds": cost.fixed_seconds}


def fixed_cost_report(args: argparse.Namespace, result: dict, targets: list) -> list[str]:
    fixed = result["fixed_seconds"]
    targets.append(
        (f"fixed cost of a 1-host job <= {TARGET_SECONDS:g} s outside Snowflake's statements",
         f"{fixed:.1f} s", fixed <= TARGET_SECONDS)
    )  # fmt: skip
    imports = sorted(result["imports"], key=lambda phase: -phase["seconds"])[:IMPORTS_SHOWN]
    phase_rows = [row(p["name"], f"{p['seconds']:.2f} s") for p in result["phases"]]
    import_rows = [row(p["name"], f"{p['seconds']:.2f} s") for p in imports]
    lines = [
        f"## Fixed cost of a job: 1 host, 1 round, load average {result['load_average']} before",
        "",
        f"Whole process {result['wall_seconds']:.1f} s wall, {result['cpu_seconds']:.1f} s CPU; "
        f"Snowflake's statements {result['snowflake_seconds']:.1f} s; outside them: "
        f"**{fixed:.1f} s**.",
        "",
        *table(("phase", "wall"), phase_rows),
    ]
    if import_rows:
        lines += table(("import (own time)", "seconds"), import_rows)
    return lines
