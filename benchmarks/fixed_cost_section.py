"""The ``fixed-cost`` section: a 1-host job's seconds outside loading, by phase.

It calls ``fixed_cost.measure_fixed_cost`` on a small stand-in table (``--fixed-cost-rows``)
and prints every phase of the dataclass it returns, then the fixed cost against the target.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from fixed_cost import measure_fixed_cost
from harness import row, table
from standin_jobs import prepare
from standin_servers import standin_servers
from support.standins import StandIns

TARGET_SECONDS = 2.0


def fixed_cost_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"fixed-cost: a 1-host job on {args.fixed_cost_rows:,} rows", flush=True)
    with standin_servers(work) as endpoints:
        standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        prepare(standins, args.fixed_cost_rows)
        cost = measure_fixed_cost(work, standins)
    return {"phases": asdict(cost), "fixed": cost.fixed}


def fixed_cost_report(args: argparse.Namespace, result: dict, targets: list) -> list[str]:
    phases = [row(name.replace("_", " "), f"{seconds:.2f} s") for name, seconds in
              result["phases"].items()]  # fmt: skip
    fixed = result["fixed"]
    targets.append(
        (f"fixed cost of a 1-host job <= {TARGET_SECONDS:g} s outside Snowflake's statements",
         f"{fixed:.1f} s", fixed <= TARGET_SECONDS)
    )  # fmt: skip
    return [
        f"## Fixed cost of a job: 1 host, {args.fixed_cost_rows:,} rows, 1 round",
        "",
        *table(("phase", "wall"), phases),
        f"Outside loading and the planning statements: {fixed:.1f} s.",
        "",
    ]
