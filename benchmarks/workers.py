"""One benchmark case per process: ``python benchmarks/workers.py CASE --option value ...``.

Each case prints one line ``BENCH_RESULT {json}`` with what it measured inside the process
(phase times, peak RSS above the process's baseline, RMSE); ``run.py`` adds the whole-process
wall time and peak RSS from ``wait4``. Cases:

stand-in (fakesnow) table, ``--port --table [--rounds]``:
  standin-floor   execute + first batch ``to_arrow()`` (what the stand-in costs by itself)
  blog            the original blog: ``pd.read_sql`` -> ``xgb.DMatrix(X.values, y.values)``
  fetch-pandas    ``cursor.fetch_pandas_all()`` -> ``QuantileDMatrix``
  fetch-arrow     ``cursor.fetch_arrow_all()`` -> ``QuantileDMatrix`` (the connector's parallel
                  download of chunked results)
  ours-loader     our loader in-process: result batches -> ``build_matrix``
chunked Arrow IPC source, ``--data-dir --rows``:
  chunked-floor   ``QuantileDMatrix`` from a NumPy array already in memory
  chunked-ours    our loader over the lazily read IPC batches
  extmem          our loader with ``external_memory`` (``ExtMemQuantileDMatrix``), then training
  host            one host of a multi-host job (``Hosts``): its slice, training, RMSE
generated in memory, ``--rows --extra-features``:
  rates           one core's rates (``nthread=1``): Arrow float64 -> float32 blocks, XGBoost's
                  sketch and quantisation, the matrix held and one round's training state per
                  row, and the gzip'd size of an Arrow chunk (``benchmarks/at_scale.py``)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

from memory import PeakWindow, RssSampler, anon_mb, peak_mb, rss_mb

WORKERS = [sys.executable, __file__]  # the command line that runs one case
PARAMS = {"objective": "reg:squarederror", "eval_metric": "rmse", "max_depth": 6, "eta": 0.3}


def emit(result: dict) -> None:
    result.setdefault("process_peak_mb", round(peak_mb(), 1))
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def connect(port: int, network_timeout: int = 600):
    import snowflake.connector

    return snowflake.connector.connect(
        user="bench",
        password="bench",
        account="local",
        host="127.0.0.1",
        port=port,
        protocol="http",
        login_timeout=60,
        network_timeout=network_timeout,
    )


def train_rounds(matrix, rounds: int) -> float:
    import xgboost as xgb

    started = time.perf_counter()
    if rounds:
        xgb.train(PARAMS, matrix, num_boost_round=rounds)
    return round(time.perf_counter() - started, 3)


def _loaded(matrix, window: PeakWindow, rounds: int) -> dict:
    """A stand-in case's result: rows, the load's window, then ``rounds`` rounds' time."""
    return {
        "rows": matrix.num_row(),
        **window.report("load_"),
        "train_seconds": train_rounds(matrix, rounds),
    }


def case_standin_floor(args: argparse.Namespace) -> dict:
    import pyarrow  # noqa: F401  (the connector's Arrow path)

    with PeakWindow() as window, connect(args.port) as connection:
        cursor = connection.cursor()
        cursor.execute(f"SELECT * FROM {args.table}")
        batches = cursor.get_result_batches()
        table = batches[0].to_arrow()
        rows = table.num_rows
    return {"rows": rows, **window.report("load_")}


def case_blog(args: argparse.Namespace) -> dict:
    import pandas as pd
    import xgboost as xgb

    with PeakWindow() as window:
        with connect(args.port) as connection, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns about a non-SQLAlchemy connection
            frame = pd.read_sql(f"SELECT * FROM {args.table}", connection)
        features = frame.drop(columns=[args.label])
        label = frame[args.label]
        matrix = xgb.DMatrix(features.values, label.values)
    return _loaded(matrix, window, args.rounds)


def case_fetch_pandas(args: argparse.Namespace) -> dict:
    import xgboost as xgb

    with PeakWindow() as window:
        with connect(args.port) as connection:
            frame = connection.cursor().execute(f"SELECT * FROM {args.table}").fetch_pandas_all()
        label = frame.pop(args.label)
        matrix = xgb.QuantileDMatrix(frame, label)
        del frame, label
    return _loaded(matrix, window, args.rounds)


def case_fetch_arrow(args: argparse.Namespace) -> dict:
    """The connector's own parallel download: ``fetch_arrow_all()`` -> ``QuantileDMatrix``."""
    import pyarrow.compute as pc
    import xgboost as xgb

    with PeakWindow() as window:
        with connect(args.port) as connection:
            arrow = connection.cursor().execute(f"SELECT * FROM {args.table}").fetch_arrow_all()
        label = pc.cast(arrow.column(args.label), "float32").to_numpy()
        features = arrow.drop_columns([args.label])
        names = features.column_names
        del arrow
        matrix = xgb.QuantileDMatrix(features.to_pandas(), label, feature_names=names)
        del features, label
    return _loaded(matrix, window, args.rounds)


def _slice_matrix(
    batches, columns, name: str, work_dir: str, rank: int = 0, world: int = 1, **build
):
    """Our loader: host ``rank`` of ``world``'s slice of ``batches`` -> ``build_matrix``;
    ``build``: ``matrix_settings`` (default ``MatrixSettings()``), ``reference``."""
    from snowflake_xgb.config.job_config import MatrixSettings
    from snowflake_xgb.loading.matrices import build_matrix
    from snowflake_xgb.loading.slices import HostSlice, iter_arrow

    host_slice = HostSlice.plan(name, name, batches, rank, world)
    settings = build.pop("matrix_settings", MatrixSettings())
    return build_matrix(
        lambda: iter_arrow(batches, host_slice, columns.all), columns, name, settings,
        Path(work_dir), **build,
    )  # fmt: skip


def case_ours_loader(args: argparse.Namespace) -> dict:
    from snowflake_xgb.model_files.columns import ColumnSelection

    work = tempfile.TemporaryDirectory(dir=args.work_dir)
    with PeakWindow() as window, work as work_dir, connect(args.port) as connection:
        cursor = connection.cursor()
        cursor.execute(f"SELECT * FROM {args.table}")
        names = [column.name for column in cursor.description]
        batches = cursor.get_result_batches()
        columns = ColumnSelection(tuple(n for n in names if n != args.label), args.label)
        matrix = _slice_matrix(batches, columns, "training", work_dir)
    return _loaded(matrix, window, args.rounds)


def _chunked(args: argparse.Namespace, rows: int | None = None, seed: int = 0):
    from chunked_source import ensure_dataset

    return ensure_dataset(Path(args.data_dir), rows or args.rows, seed, args.extra_features)


def _columns(extra: int = 0):
    from chunked_source import LABEL, feature_names

    from snowflake_xgb.model_files.columns import ColumnSelection

    return ColumnSelection(feature_names(extra), LABEL)


def case_chunked_floor(args: argparse.Namespace) -> dict:
    import xgboost as xgb
    from chunked_source import load_numpy

    batches = _chunked(args)
    with PeakWindow() as read:
        features, label = load_numpy(batches)
    raw_mb = (features.nbytes + label.nbytes) / 2**20
    with PeakWindow() as window:
        matrix = xgb.QuantileDMatrix(features, label)
    return {
        "rows": matrix.num_row(),
        "held_mb": round(rss_mb() - window.baseline_mb, 1),
        "raw_float32_mb": round(raw_mb, 1),
        **read.report("read_"),
        **window.report("build_"),
    }


def case_chunked_ours(args: argparse.Namespace) -> dict:
    from snowflake_xgb.config.job_config import MatrixSettings

    batches = _chunked(args)
    columns = _columns(args.extra_features)
    matrix_settings = MatrixSettings(max_bin=args.max_bin or None)
    with PeakWindow() as window, tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        matrix = _slice_matrix(
            batches, columns, "training", work_dir, matrix_settings=matrix_settings
        )
        rows = matrix.num_row()
    held_mb = rss_mb() - window.baseline_mb
    del matrix
    raw_mb = rows * (len(columns.features) + 1) * 4 / 2**20
    return {
        "rows": rows,
        "raw_float32_mb": round(raw_mb, 1),
        "held_mb": round(held_mb, 1),
        **window.report("build_"),
    }


def case_extmem(args: argparse.Namespace) -> dict:
    from snowflake_xgb.config.job_config import MatrixKind, MatrixSettings

    batches = _chunked(args)
    columns = _columns(args.extra_features)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        with PeakWindow() as build:
            external = MatrixSettings(MatrixKind.EXTERNAL)
            matrix = _slice_matrix(batches, columns, "training", work_dir, matrix_settings=external)
            rows = matrix.num_row()
        cache_mb = sum(p.stat().st_size for p in Path(work_dir).rglob("*") if p.is_file()) / 2**20
        import xgboost as xgb

        anon_before = anon_mb()
        with PeakWindow() as train, RssSampler() as sampler:
            booster = xgb.train(PARAMS, matrix, num_boost_round=args.rounds)
        overall = peak_mb()
        del booster, matrix
    raw_mb = rows * (len(columns.features) + 1) * 4 / 2**20
    return {
        "rows": rows,
        "raw_float32_mb": round(raw_mb, 1),
        "cache_mb": round(cache_mb, 1),
        **build.report("build_"),
        **train.report("train_"),
        "rounds": args.rounds,
        "columns": len(columns.all),
        "train_max_anon_above_mb": round(sampler.max_anon_mb - build.baseline_anon_mb, 1),
        "train_max_file_mb": round(sampler.max_file_mb, 1),
        "anon_before_train_mb": round(anon_before, 1),
        "baseline_mb": round(build.baseline_mb, 1),
        "overall_peak_mb": round(overall, 1),
    }


def case_host(args: argparse.Namespace) -> dict:
    import xgboost as xgb

    from snowflake_xgb.config.job_config import HostsSettings
    from snowflake_xgb.hosts.hosts import Hosts

    names = args.hosts.split(",")
    train_batches = _chunked(args)
    valid_batches = _chunked(args, args.valid_rows, seed=1)
    columns = _columns(args.extra_features)
    settings = HostsSettings(args.tracker_port, 120, 300)
    hosts = Hosts(names, names[args.rank], settings)
    work = tempfile.TemporaryDirectory(dir=args.work_dir)
    with work as work_dir, hosts, PeakWindow() as window:
        place = (work_dir, hosts.rank, hosts.world)
        train = _slice_matrix(train_batches, columns, "training", *place)
        valid = _slice_matrix(valid_batches, columns, "validation", *place, reference=train)
        rows = train.num_row()
        load_peak = peak_mb() - window.baseline_mb
        evals: dict = {}
        xgb.train(
            PARAMS,
            train,
            args.rounds,
            evals=[(valid, "validation")],
            evals_result=evals,
            verbose_eval=False,
        )
    return {
        "rank": hosts.rank,
        "world": hosts.world,
        "rows": rows,
        "validation_rmse": evals["validation"]["rmse"][-1],
        "load_above_baseline_mb": round(load_peak, 1),
        **window.report(),
    }


def case_rates(args: argparse.Namespace) -> dict:
    """One core's rates on a table as wide as the paper's: what ``at_scale`` is fed. XGBoost's
    memory is measured first, from NumPy, before Arrow's allocator holds anything it would
    give back to the system in the middle of a measurement."""
    import gzip

    import numpy as np
    import pyarrow as pa
    import xgboost as xgb
    from chunked_source import housing_columns

    from snowflake_xgb.loading.blocks import block_rows_for, iter_blocks

    columns = _columns(args.extra_features)
    generated = dict(
        zip(columns.all, housing_columns(args.rows, 0, args.extra_features).values(), strict=True)
    )
    features = np.column_stack([generated[name] for name in columns.features]).astype(np.float32)
    label = generated[columns.label].astype(np.float32)
    with PeakWindow() as sketching:
        matrix = xgb.QuantileDMatrix(features, label, nthread=1)
    held_mb = rss_mb() - sketching.baseline_mb
    with PeakWindow() as training:
        xgb.train({**PARAMS, "nthread": 1}, matrix, num_boost_round=1)
    rows = matrix.num_row()
    del matrix, features, label

    arrow = pa.table(generated)
    chunks = arrow.to_batches(max_chunksize=65_536)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_batch(chunks[0])
    ipc = sink.getvalue().to_pybytes()
    packed = gzip.compress(ipc, compresslevel=6)
    with PeakWindow() as unpacking:
        for _ in range(5):
            pa.ipc.open_stream(gzip.decompress(packed)).read_all()
    with PeakWindow() as converting:
        tables = (pa.Table.from_batches([chunk]) for chunk in chunks)
        for _ in iter_blocks(tables, columns, "training", block_rows_for(columns)):
            pass
    return {
        "rows": rows,
        "features": len(columns.features),
        "unpack_rows_per_core_second": round(5 * chunks[0].num_rows / unpacking.cpu_seconds),
        "convert_rows_per_core_second": round(rows / converting.cpu_seconds),
        "sketch_rows_per_core_second": round(rows / sketching.cpu_seconds),
        "train_round_rows_per_core_second": round(rows / training.cpu_seconds),
        "matrix_bytes_per_row": round(held_mb * 2**20 / rows, 1),
        "train_state_bytes_per_row": round(training.above_mb * 2**20 / rows, 1),
        "arrow_bytes_per_row": round(len(ipc) / chunks[0].num_rows, 1),
        "gzip_ratio": round(len(packed) / len(ipc), 3),
    }


CASES = {
    "standin-floor": case_standin_floor,
    "blog": case_blog,
    "fetch-pandas": case_fetch_pandas,
    "fetch-arrow": case_fetch_arrow,
    "ours-loader": case_ours_loader,
    "chunked-floor": case_chunked_floor,
    "chunked-ours": case_chunked_ours,
    "extmem": case_extmem,
    "host": case_host,
    "rates": case_rates,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--port", type=int)
    parser.add_argument("--table")
    parser.add_argument("--label", default="MEDHOUSEVAL")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--data-dir")
    parser.add_argument("--work-dir")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--valid-rows", type=int, default=1_000_000)
    parser.add_argument("--max-bin", type=int)
    parser.add_argument("--extra-features", type=int, default=0, help="noise columns to add")
    parser.add_argument("--hosts")
    parser.add_argument("--rank", type=int, default=0)
    parser.add_argument("--tracker-port", type=int, default=9099)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started_rss = rss_mb()
    result = CASES[args.case](args)
    emit({"case": args.case, "interpreter_rss_mb": round(started_rss, 1), **result})


if __name__ == "__main__":
    main()
