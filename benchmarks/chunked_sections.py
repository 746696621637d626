"""The chunked-source sections: many lazily read Arrow IPC files (``chunked_source.py``).

chunked   ``--chunked-rows`` (default 10M x 9) through our loader, against ``QuantileDMatrix``
          from a NumPy array already in memory (and, with ``--baseline-src``, another package).
scaling   1, 2, 4 host processes (``--hosts``) in one XGBoost collective: per-host peak RSS
          above baseline and validation RMSE.
extmem    ``external_memory`` (``ExtMemQuantileDMatrix``, cache on local disk) on
          ``--extmem-rows`` (default 20M) rows: peak RSS against the raw size.
extmem-wide  the same on a wider table (``--wide-rows`` x ``--wide-features``), where
          XGBoost's per-row training state weighs less.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

from harness import Case, at_most, fastest, ratio, row, run_case, run_cases, table
from standin_servers import free_port
from workers import WORKERS


def _source_args(args: argparse.Namespace, work: Path, rows: int) -> list[str]:
    """Where a worker finds the chunked source and writes: ``--data-dir --work-dir --rows``."""
    return ["--data-dir", str(args.data_dir), "--work-dir", str(work), "--rows", str(rows)]


def chunked_section(args: argparse.Namespace, work: Path) -> dict:
    common = _source_args(args, work, args.chunked_rows)
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
    return fastest(runs, "build_seconds")


def scaling_section(args: argparse.Namespace, work: Path) -> dict:
    common = [
        *_source_args(args, work, args.chunked_rows),
        *("--valid-rows", str(args.valid_rows), "--rounds", str(args.scaling_rounds)),
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


def _extmem(args: argparse.Namespace, work: Path, name: str, rows: int, extra: int) -> dict:
    command = [
        *WORKERS, "extmem", *_source_args(args, work, rows), "--extra-features", str(extra),
        "--rounds", str(args.extmem_rounds),
    ]  # fmt: skip
    return run_case(name, command, work)


def extmem_section(args: argparse.Namespace, work: Path) -> dict:
    return _extmem(args, work, "extmem", args.extmem_rows, 0)


def extmem_wide_section(args: argparse.Namespace, work: Path) -> dict:
    """External memory on a wider table: where XGBoost's per-row training state matters less."""
    return _extmem(args, work, "extmem-wide", args.wide_rows, args.wide_features - 8)


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
        at_most("chunked: time / the in-memory floor", t, 1.5),
        at_most("chunked: peak RSS above baseline / raw float32", m, 0.5),
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


def _extmem_lines(r: dict) -> list[str]:
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
    return lines


def extmem_wide_report(args: argparse.Namespace, r: dict, targets: list) -> list[str]:
    return _extmem_lines(r)  # for the analysis, not one of the targets


def extmem_report(args: argparse.Namespace, r: dict, targets: list) -> list[str]:
    raw = r["raw_float32_mb"]
    build = r["build_above_baseline_mb"]
    overall = r["overall_peak_mb"] - r["baseline_mb"]
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
    return _extmem_lines(r)
