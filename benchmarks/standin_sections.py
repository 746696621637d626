"""The stand-in sections: one fakesnow table read by the blog's loader, the connector, ours.

standin   The same table (``--rows``, default 2M x 9 floats) read by (1) the original blog's
          loader (``pd.read_sql`` -> ``xgb.DMatrix``), (2) ``fetch_pandas_all`` ->
          ``QuantileDMatrix``, (3) ours: our loader alone, and the whole ``train`` process with
          ``num_round=1`` against the blog's loader with 1 round. Each case is its own process.
cv        ``cv_folds`` = ``--cv-folds`` against plain training with ``validation_fraction``
          on the same table, each a one-host ``train`` process of ``--cv-rounds`` rounds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import at_most, fastest, ratio, row, run_case, table
from standin_jobs import TABLE, hyperparameters, prepare, run_train_job
from standin_servers import standin_servers
from support.standins import StandIns
from workers import WORKERS


def standin_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"stand-in: seeding {args.rows:,} rows in fakesnow", flush=True)
    with standin_servers(work) as endpoints:
        standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        prepare(standins, args.rows)
        common = ["--port", str(standins.snowflake_port), "--table", TABLE]
        results: dict[str, list[dict]] = {}
        for repeat in range(args.repeat):
            print(f"stand-in: round {repeat + 1} of {args.repeat}", flush=True)
            cases = [
                ("standin-floor", [*WORKERS, "standin-floor", *common]),
                ("blog", [*WORKERS, "blog", *common]),
                ("fetch-pandas", [*WORKERS, "fetch-pandas", *common]),
                ("ours-loader", [*WORKERS, "ours-loader", *common]),
                ("blog-1-round", [*WORKERS, "blog", *common, "--rounds", "1"]),
            ]
            for name, command in cases:
                results.setdefault(name, []).append(run_case(name, command, work))
            job = run_train_job(work, f"train-job-{repeat}", 1, standins, hyperparameters(1))
            results.setdefault("ours-train-1-round", []).extend(job)
    return fastest(results)


def cv_section(args: argparse.Namespace, work: Path) -> dict:
    print(f"cv: seeding {args.rows:,} rows in fakesnow", flush=True)
    with standin_servers(work) as endpoints:
        standins = StandIns(endpoints.snowflake_port, endpoints.secrets_url)
        prepare(standins, args.rows)
        cases = {"plain": {"validation_fraction": "0.2"}}
        cases.update({f"cv-{k}": {"cv_folds": str(k)} for k in args.cv_folds})
        results: dict[str, list[dict]] = {}
        for repeat in range(args.repeat):
            for name, extra in cases.items():
                settings = hyperparameters(args.cv_rounds, **extra)
                job = run_train_job(work, f"cv-job-{name}-{repeat}", 1, standins, settings)
                results.setdefault(name, []).extend(job)
    return fastest(results)


def cv_report(args: argparse.Namespace, r: dict, targets: list) -> list[str]:
    lines = [
        f"## Cross-validation, {args.rows:,} rows x 9 floats, {args.cv_rounds} rounds, 1 host",
        "",
    ]
    plain = r["plain"]
    rows = [
        row(
            name,
            f"{c['wall_seconds']:.1f} s",
            ratio(c["wall_seconds"], plain["wall_seconds"]),
            f"{c['peak_rss_mb']:.0f} MB",
            ratio(c["peak_rss_mb"], plain["peak_rss_mb"]),
        )
        for name, c in r.items()
    ]
    lines += table(("case", "wall time", "vs plain", "peak RSS", "vs plain"), rows)
    return lines


STANDIN_LABELS = {
    "standin-floor": "stand-in alone: execute + first batch `to_arrow()`",
    "blog": "original blog: `pd.read_sql` -> `DMatrix(X.values, y.values)`",
    "fetch-pandas": "`fetch_pandas_all()` -> `QuantileDMatrix`",
    "ours-loader": "ours, loader only: result batches -> `build_matrix`",
    "blog-1-round": "original blog + `xgb.train`, 1 round",
    "ours-train-1-round": "ours: whole `train` process, `num_round=1`",
}


def standin_report(args: argparse.Namespace, s: dict, targets: list) -> list[str]:
    lines = [f"## Stand-in (fakesnow), {args.rows:,} rows x 9 floats, one process per case", ""]
    rows = [
        row(
            label,
            f"{s[n]['wall_seconds']:.1f} s",
            f"{s[n]['cpu_seconds']:.1f} s",
            f"{s[n]['peak_rss_mb']:.0f} MB",
        )
        for n, label in STANDIN_LABELS.items()
        if n in s
    ]
    lines += table(("case", "wall time", "CPU time (client)", "peak RSS"), rows)
    blog, ours = s["blog-1-round"], s["ours-train-1-round"]
    t = ours["wall_seconds"] / blog["wall_seconds"]
    m = ours["peak_rss_mb"] / blog["peak_rss_mb"]
    loader_t = s["ours-loader"]["wall_seconds"] / s["blog"]["wall_seconds"]
    loader_m = s["ours-loader"]["peak_rss_mb"] / s["blog"]["peak_rss_mb"]
    lines += [
        f"Ours/blog with 1 round, whole process: time {t:.2f}x, peak RSS {m:.2f}x. "
        f"Loader only (ours-loader/blog): time {loader_t:.2f}x, peak RSS {loader_m:.2f}x.",
        "",
    ]
    targets += [
        at_most("stand-in: `train` 1 round time / blog", t, 0.6),
        at_most("stand-in: `train` 1 round peak RSS / blog", m, 0.5),
    ]
    return lines
