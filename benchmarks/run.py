"""The benchmarks, side by side in one run: ``python benchmarks/run.py [--quick] [--sections ...]``.

Each section is one entry of ``SECTIONS`` (name, description, default on or off, the function
that measures, the function that reports, its own options, its generated data sets):
``--help`` lists them. Every case runs in its own process (``harness.Case``); ``--quick`` uses
small sizes and one repeat. Results: a Markdown report on stdout and in ``--output`` (with a
JSON file beside it), each case's log under ``logs/`` beside it. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import standin_jobs  # noqa: E402, F401  (puts local_test/ and tests/ on the path)
from at_scale import at_scale_report, at_scale_section  # noqa: E402
from chunked_sections import (  # noqa: E402
    chunked_report,
    chunked_section,
    extmem_report,
    extmem_section,
    extmem_wide_report,
    extmem_wide_section,
    scaling_report,
    scaling_section,
)
from chunked_source import ensure_dataset  # noqa: E402
from fixed_cost_section import fixed_cost_report, fixed_cost_section  # noqa: E402
from harness import machine, row, table  # noqa: E402
from network import network_report, network_section  # noqa: E402
from offline_env import offline_environment  # noqa: E402
from per_host import hosts_report, hosts_section  # noqa: E402
from scoring import scoring_report, scoring_section  # noqa: E402
from serving import serving_report, serving_section  # noqa: E402
from standin_sections import cv_report, cv_section, standin_report, standin_section  # noqa: E402
from statement_counts import statements_report, statements_section  # noqa: E402

Measure = Callable[[argparse.Namespace, Path], dict]
Report = Callable[[argparse.Namespace, dict, list], list[str]]


def int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


@dataclass(frozen=True)
class Option:
    """A command-line option; ``quick`` is its value under ``--quick`` (None: the default)."""

    flag: str
    default: object
    help: str
    type: Callable = int
    quick: object = None


@dataclass(frozen=True)
class Section:
    """One section of the report: adding a section is one entry in ``SECTIONS``."""

    name: str
    description: str
    default: bool
    measure: Measure
    report: Report
    options: tuple[Option, ...] = ()
    datasets: Callable[[argparse.Namespace], list[tuple[int, int, int]]] = lambda args: []
    """(rows, seed, extra features) of the chunked source it reads, written once per size."""


# Options more than one section reads.
SHARED_OPTIONS = (
    Option("--rows", 2_000_000, "stand-in table rows (standin, cv)", quick=200_000),
    Option("--hosts", "1,2,4", "host counts (scaling, network)", int_list),
    Option("--chunked-rows", 10_000_000, "chunked source rows (chunked, scaling)", quick=1_000_000),
    Option("--serving-seconds", 10.0, "per payload and server (serving, scoring)", float, 2.0),
    Option("--repeat", 2, "runs of each stand-in, chunked and cv case; the fastest is kept "
           "(the machine may be shared: a slower run measures the other work)", quick=1),
)  # fmt: skip

SECTIONS = (
    Section(
        "network", "a result served as Snowflake serves it (growing gzip'd chunks over HTTP, "
        "latency, bandwidth): the connector's fetch_arrow_all + QuantileDMatrix, the blog's "
        "loader and `train` on --hosts hosts: load, CPU and memory ratios",
        True, network_section, network_report,
        (Option("--net-rows", 10_000_000, "rows of the served table", quick=200_000),
         Option("--first-byte-ms", 100.0, "each download's wait for its first byte", float),
         Option("--download-mbps", 25.0, "each download's bandwidth", float),
         Option("--download-threads", 4, "our hosts' downloads in flight")),
    ),
    Section(
        "fixed-cost", "a 1-host job's seconds outside Snowflake's statements, by phase",
        True, fixed_cost_section, fixed_cost_report,
        (Option("--fixed-cost-repeat", 3, "jobs run; the fastest is kept", quick=1),),
    ),
    Section(
        "hosts", "cost per host at 1, 2, 4, 8 hosts on the same table: CPU, peak RSS, bytes "
        "downloaded per host; statements and full-result materializations per job",
        True, hosts_section, hosts_report,
        (Option("--host-counts", "1,2,4,8", "host counts", int_list),
         Option("--hosts-rows", 2_000_000, "rows of the table", quick=200_000),
         Option("--hosts-rounds", 10, "boosting rounds", quick=3)),
    ),
    Section(
        "at-scale", "100M and 1B rows x 50 floats on 4, 16, 64 hosts, on paper, from one "
        "core's measured rates (at_scale.py)",
        True, at_scale_section, at_scale_report,
        (Option("--rates-rows", 1_000_000, "rows the rates are measured on", quick=200_000),),
    ),
    Section(
        "standin", "one fakesnow table (--rows) read by the blog's loader, fetch_pandas_all, "
        "our loader and our whole `train` process", True, standin_section, standin_report,
    ),
    Section(
        "chunked", "lazily read Arrow IPC files (--chunked-rows) through our loader against "
        "QuantileDMatrix from NumPy in memory", True, chunked_section, chunked_report,
        (Option("--baseline-src", None, "a folder holding another snowflake_xgb package (e.g. "
                "from `git archive`): the chunked case runs with it too", Path),),
        lambda args: [(args.chunked_rows, 0, 0)],
    ),
    Section(
        "scaling", "--hosts processes in one XGBoost collective on the chunked source: per-host "
        "peak RSS and validation RMSE", True, scaling_section, scaling_report,
        (Option("--valid-rows", 1_000_000, "validation rows", quick=200_000),
         Option("--scaling-rounds", 10, "boosting rounds", quick=5)),
        lambda args: [(args.chunked_rows, 0, 0), (args.valid_rows, 1, 0)],
    ),
    Section(
        "extmem", "external memory (ExtMemQuantileDMatrix, cache on disk): peak RSS against "
        "the raw size", True, extmem_section, extmem_report,
        (Option("--extmem-rows", 20_000_000, "rows", quick=2_000_000),
         Option("--extmem-rounds", 1, "boosting rounds")),
        lambda args: [(args.extmem_rows, 0, 0)],
    ),
    Section(
        "extmem-wide", "external memory on a wider table (--wide-rows x --wide-features)",
        False, extmem_wide_section, extmem_wide_report,
        (Option("--wide-rows", 4_000_000, "rows"), Option("--wide-features", 48, "features")),
        lambda args: [(args.wide_rows, 0, args.wide_features - 8)],
    ),
    Section(
        "statements", "statements and RESULT_SCANs of one API job (statement_counts.py)",
        True, statements_section, statements_report,
    ),
    Section(
        "serving", "`serve` against an AWS-style server: requests/s, latency, CPU per request",
        True, serving_section, serving_report,
        (Option("--serving-workers", os.cpu_count() or 1, "server workers"),),
    ),
    Section(
        "scoring", "the scoring job on 1 and 2 hosts beside `serve` (scoring.py)",
        True, scoring_section, scoring_report,
        (Option("--scoring-rows", 300_000, "keyed rows to score", quick=50_000),),
    ),
    Section(
        "cv", "cv_folds against a validation split on the stand-in table", False,
        cv_section, cv_report,
        (Option("--cv-folds", "3,5", "folds of each case", int_list),
         Option("--cv-rounds", 20, "boosting rounds")),
    ),
)  # fmt: skip


def all_options() -> tuple[Option, ...]:
    return SHARED_OPTIONS + tuple(option for s in SECTIONS for option in s.options)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    listing = "\n".join(
        f"  {s.name:12} {'' if s.default else '(not in the default) '}{s.description}"
        for s in SECTIONS
    )
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"sections:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument(
        "--sections",
        default=",".join(s.name for s in SECTIONS if s.default),
        help="comma-separated, from the list below",
    )
    for option in all_options():
        kind = str if option.type in (int_list, Path) else option.type
        parser.add_argument(option.flag, type=kind, default=option.default, help=option.help)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".work" / "bench" / "data")
    parser.add_argument("--output", type=Path, default=REPO / ".work" / "bench" / "results.md")
    args = parser.parse_args(argv)
    for option in all_options():
        dest = option.flag.lstrip("-").replace("-", "_")
        if args.quick and option.quick is not None:
            setattr(args, dest, option.quick)
        value = getattr(args, dest)
        if value is not None and option.type in (int_list, Path) and isinstance(value, str):
            setattr(args, dest, option.type(value))
    args.sections = args.sections.split(",")
    unknown = sorted(set(args.sections) - {s.name for s in SECTIONS})
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; see --help for the list")
    return args


def report(args: argparse.Namespace, results: dict) -> str:
    lines = [
        f"# Benchmarks ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        f"Command: `{' '.join(sys.argv)}`",
        "",
    ]
    targets: list[tuple[str, str, bool]] = []
    for section in SECTIONS:
        if section.name in results:
            lines += [*section.report(args, results[section.name], targets), ""]
    if targets:
        lines += ["## Targets", ""]
        lines += table(
            ("target", "measured", "met"),
            [row(t, v, "yes" if ok else "**no**") for t, v, ok in targets],
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    # Every case signs in to the stand-in (this process too, to seed it): nothing may leave.
    os.environ.update(offline_environment())
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SECTIONS if s.name in args.sections]
    started = time.monotonic()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-", dir=args.output.parent) as tmp:
        work = Path(tmp)
        for section in chosen:
            for rows, seed, extra in section.datasets(args):
                print(f"data: {rows:,} rows, seed {seed}, +{extra} columns", flush=True)
                ensure_dataset(args.data_dir, rows, seed, extra)
        for section in chosen:
            results[section.name] = section.measure(args, work)
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
