"""Typed columns, side by side in one run: ``python benchmarks/encoding.py [--rows N]``.

One table of text, boolean, date, timestamp and decimal columns plus four floats, in lazily
read Arrow IPC chunks like Snowflake's result batches (the types the connector hands over), is
turned into a ``QuantileDMatrix`` three ways, each in its own process (wall time and peak RSS
from ``wait4``):

typed    our loader, encoding the typed columns itself (category codes against a fixed list,
         days, seconds, decimals)
floats   our loader on the same rows already converted to numbers in the query (what a user
         had to write before: CASE for categories, DATEDIFF for dates), as float64 columns
pandas   the in-memory way: every chunk into one pandas frame (``pd.Categorical`` with the
         same categories, dates and timestamps as numbers), then ``QuantileDMatrix``

Results: a Markdown table on stdout. Data are written once under ``--data-dir``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from chunked_source import IpcBatch, cached_dataset  # noqa: E402
from harness import machine, ratio, row, run_case, table  # noqa: E402

ROWS_PER_FILE = 65_536
REGIONS = tuple(f"region-{i:03d}" for i in range(200))
FLOATS = ("X1", "X2", "X3", "X4")
FEATURES = ("REGION", "ACTIVE", "OPENED", "SEEN", "AMOUNT", *FLOATS)


def _typed_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    region = np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), rows)]
    region[rng.random(rows) < 0.02] = None
    days = rng.integers(0, 3650, rows)
    seconds = rng.integers(0, 10 * 365 * 86_400, rows)
    cents = rng.integers(0, 10_000_000, rows)
    floats = {name: rng.normal(size=rows) for name in FLOATS}
    label = (np.char.str_len(region.astype(str)) % 7) + days / 1000 + cents / 1e7 + floats["X1"]
    epoch = np.datetime64("2015-01-01T00:00:00", "ns")
    return pa.table(
        {
            "REGION": pa.array(region, pa.string()),
            "ACTIVE": pa.array(rng.random(rows) < 0.3),
            "OPENED": pa.array(np.datetime64("2015-01-01", "D") + days, pa.date32()),
            "SEEN": pa.array(epoch + seconds.astype("timedelta64[s]"), pa.timestamp("ns")),
            "AMOUNT": pa.array(cents, pa.int64())
            .cast(pa.decimal128(19, 0))
            .cast(pa.decimal128(21, 2)),
            **floats,
            "Y": label,
        }
    )


def _as_floats(typed: pa.Table) -> pa.Table:
    """The same rows as a query that converts every column to a number would return them."""
    from snowflake_xgb.model_files.encoding import FeatureEncoding, Kind

    kinds = {"REGION": Kind.CATEGORY, "ACTIVE": Kind.BOOLEAN, "OPENED": Kind.DATE}
    kinds |= {"SEEN": Kind.TIMESTAMP, "AMOUNT": Kind.NUMBER}
    columns = {}
    for name in typed.column_names:
        kind = kinds.get(name, Kind.NUMBER)
        categories = REGIONS if kind is Kind.CATEGORY else ()
        columns[name] = FeatureEncoding(name, kind, categories).encode_arrow(typed.column(name))
    return pa.table(columns)


def ensure_dataset(root: Path, rows: int, variant: str) -> list[IpcBatch]:
    def make_table(count: int, index: int) -> pa.Table:
        chunk = _typed_table(count, index)
        return chunk if variant == "typed" else _as_floats(chunk)

    return cached_dataset(root / f"typed-{rows}-{variant}", rows, ROWS_PER_FILE, make_table)


def _encoding(variant: str):
    from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding

    if variant == "floats":
        features = tuple(FeatureEncoding(name, Kind.NUMBER) for name in FEATURES)
    else:
        features = (
            FeatureEncoding("REGION", Kind.CATEGORY, REGIONS),
            FeatureEncoding("ACTIVE", Kind.CATEGORY, (False, True)),
            FeatureEncoding("OPENED", Kind.DATE),
            FeatureEncoding("SEEN", Kind.TIMESTAMP),
            FeatureEncoding("AMOUNT", Kind.NUMBER),
            *(FeatureEncoding(name, Kind.NUMBER) for name in FLOATS),
        )
    return Encoding(features, LabelEncoding("Y"))


def worker(case: str, data_dir: Path, rows: int) -> None:
    """One measured case; prints ``BENCH_RESULT {...}``."""
    import pandas as pd
    import xgboost as xgb

    variant = "floats" if case == "floats" else "typed"
    batches = ensure_dataset(data_dir, rows, variant)
    if case == "pandas":
        frames = [batch.to_arrow().to_pandas() for batch in batches]
        frame = pd.concat(frames, ignore_index=True)
        del frames
        features = pd.DataFrame(
            {
                "REGION": pd.Categorical(frame["REGION"], categories=list(REGIONS)),
                "ACTIVE": pd.Categorical(frame["ACTIVE"].astype("Int8"), categories=[0, 1]),
                "OPENED": (pd.to_datetime(frame["OPENED"]) - pd.Timestamp(0)).dt.days,
                "SEEN": (frame["SEEN"] - pd.Timestamp(0)).dt.total_seconds(),
                "AMOUNT": frame["AMOUNT"].astype(float),
                **{name: frame[name] for name in FLOATS},
            }
        )
        matrix = xgb.QuantileDMatrix(features, frame["Y"], enable_categorical=True)
    else:
        from snowflake_xgb.config.job_config import MatrixSettings
        from snowflake_xgb.loading.matrices import build_matrix
        from snowflake_xgb.loading.slices import HostSlice, iter_arrow
        from snowflake_xgb.model_files.columns import ColumnSelection

        encoding = _encoding(variant)
        columns = ColumnSelection(FEATURES, "Y", encoding=encoding)
        host_slice = HostSlice.plan("training", "bench", batches, 0, 1)
        with tempfile.TemporaryDirectory() as work:
            matrix = build_matrix(
                lambda: iter_arrow(batches, host_slice, columns.all),
                columns, "training", MatrixSettings(), Path(work),
            )  # fmt: skip
    print("BENCH_RESULT " + json.dumps({"rows": matrix.num_row()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="fastest of this many runs")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".work" / "bench" / "encoding")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        worker(args.case, args.data_dir, args.rows)
        return
    for variant in ("typed", "floats"):
        ensure_dataset(args.data_dir, args.rows, variant)
    results = {}
    logs = Path(tempfile.mkdtemp(prefix="bench-encoding-"))
    for _ in range(args.repeat):
        for case in ("typed", "floats", "pandas"):
            command = [sys.executable, __file__, "--case", case, "--rows", str(args.rows)]
            command += ["--data-dir", str(args.data_dir)]
            result = run_case(case, command, logs)
            best = results.get(case)
            if result["returncode"] == 0 and (
                best is None or result["wall_seconds"] < best["wall_seconds"]
            ):
                results[case] = result
    typed, floats, pandas_ = results["typed"], results["floats"], results["pandas"]
    lines = [
        f"Typed columns, {args.rows:,} rows x {len(FEATURES)} features "
        f"({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}, "
        f"fastest of {args.repeat}):",
        "",
        *table(
            ("case", "wall s", "peak RSS MB", "typed / this (time)", "typed / this (RSS)"),
            [
                row(
                    name,
                    r["wall_seconds"],
                    r["peak_rss_mb"],
                    ratio(typed["wall_seconds"], r["wall_seconds"]),
                    ratio(typed["peak_rss_mb"], r["peak_rss_mb"]),
                )
                for name, r in (
                    ("typed (ours)", typed),
                    ("floats (ours)", floats),
                    ("pandas", pandas_),
                )
            ],
        ),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
