"""This host's slice of a query result -> an XGBoost quantized matrix, streamed batch by batch.

The result's Arrow batches are downloaded one at a time, only those that overlap this host's
rows, cut at the edges, converted to float32 and handed to XGBoost through a ``DataIter``.
XGBoost walks the data more than once (sketch, then index), so the first pass also writes each
converted batch to a local cache folder and later passes read from there: one download, one
batch in memory at a time. Progress (rows, MB, rate, share done) is logged every few seconds.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from .errors import UserError
from .queries import ColumnSelection
from .sharding import BatchSlice, RowRange, host_row_range, plan_slices

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 5.0


class ArrowBatch(Protocol):
    """What the loader needs of a result batch (the connector's ``ResultBatch`` has both)."""

    rowcount: int

    def to_arrow(self) -> pa.Table: ...


@dataclass(frozen=True)
class HostSlice:
    """This host's share of one query result: which rows, and which parts of which batches."""

    name: str
    query_id: str
    total_rows: int
    rows: RowRange
    slices: tuple[BatchSlice, ...]

    @classmethod
    def plan(
        cls, name: str, query_id: str, batches: Sequence[ArrowBatch], rank: int, world: int
    ) -> HostSlice:
        counts = [batch.rowcount for batch in batches]
        rows = host_row_range(sum(counts), rank, world)
        return cls(name, query_id, sum(counts), rows, tuple(plan_slices(counts, rows)))


class _Progress:
    """Logs how far a download has come, at most every few seconds, and a summary at the end."""

    def __init__(self, name: str, expected_rows: int) -> None:
        self.name, self.expected_rows = name, expected_rows
        self.rows, self.bytes = 0, 0
        self.started = self._last_log = time.monotonic()

    def add(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_INTERVAL_SECONDS:
            self._last_log = now
            self._log("reading")

    def finish(self) -> None:
        self._log("read")

    def _log(self, verb: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        share = 100.0 * self.rows / self.expected_rows if self.expected_rows else 100.0
        logger.info(
            "%s data: %s %s of %s rows (%.1f%%), %.1f MB in %.1fs (%.1f MB/s)",
            self.name, verb, f"{self.rows:,}", f"{self.expected_rows:,}", share,
            self.bytes / 1e6, elapsed, self.bytes / 1e6 / elapsed,
        )  # fmt: skip


def iter_arrow(
    batches: Sequence[ArrowBatch], host_slice: HostSlice, columns: Sequence[str] | None = None
) -> Iterator[pa.Table]:
    """Download this host's parts of the result, in order, as Arrow tables (one per batch)."""
    progress = _Progress(host_slice.name, host_slice.rows.rows)
    for part in host_slice.slices:
        table = batches[part.batch_index].to_arrow()
        if table.num_rows < part.offset + part.length:
            raise RuntimeError(
                f"result batch {part.batch_index} of query {host_slice.query_id} has "
                f"{table.num_rows} rows, fewer than its {part.offset + part.length} announced"
            )
        table = table.slice(part.offset, part.length)
        if columns is not None:
            table = table.select(list(columns))
        progress.add(table.num_rows, table.nbytes)
        yield table
    progress.finish()
    if progress.rows != host_slice.rows.rows:
        raise RuntimeError(
            f"{host_slice.name} data: read {progress.rows} rows of query {host_slice.query_id}, "
            f"expected exactly {host_slice.rows.rows}"
        )


def _as_float32(column: pa.ChunkedArray) -> np.ndarray:
    if not pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64(), safe=False)
    return column.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)


def to_features_and_label(
    table: pa.Table, columns: ColumnSelection, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """One Arrow table -> (float32 feature matrix with NaN for NULL, float32 label)."""
    label = table.column(columns.label)
    if label.null_count:
        raise UserError(
            f"The {name} data has {label.null_count} row(s) with a NULL label "
            f"({columns.label}) in one batch: filter them out in your query "
            f"(WHERE {columns.label} IS NOT NULL) or fill them."
        )
    features = np.empty((table.num_rows, len(columns.features)), dtype=np.float32)
    for index, feature in enumerate(columns.features):
        features[:, index] = _as_float32(table.column(feature))
    return features, _as_float32(label)


class SliceIter(xgb.DataIter):
    """Feeds XGBoost this host's slice, one batch at a time, downloading it only once."""

    def __init__(
        self,
        tables: Callable[[], Iterator[pa.Table]],
        columns: ColumnSelection,
        name: str,
        cache_dir: Path,
        cache_prefix: str | None = None,
    ) -> None:
        self._tables = tables
        self._columns = columns
        self._name = name
        self._cache_dir = cache_dir
        cache_dir.mkdir(parents=True)
        self._cached = 0
        self._complete = False
        self._source: Iterator[pa.Table] | None = None
        self._position = 0
        self.rows = 0
        super().__init__(cache_prefix=cache_prefix)

    def _cache_path(self, index: int) -> Path:
        return self._cache_dir / f"{index:06d}.npz"

    def _next_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self._complete:
            if self._position >= self._cached:
                return None
            with np.load(self._cache_path(self._position)) as cached:
                return cached["features"], cached["label"]
        if self._source is None:
            self._source = self._tables()
        table = next(self._source, None)
        if table is None:
            self._complete = True
            if self._cached == 0:  # an empty slice still takes part, as one empty batch
                features = np.empty((0, len(self._columns.features)), dtype=np.float32)
                label = np.empty(0, dtype=np.float32)
                np.savez(self._cache_path(0), features=features, label=label)
                self._cached = 1
                return features, label
            return None
        features, label = to_features_and_label(table, self._columns, self._name)
        np.savez(self._cache_path(self._cached), features=features, label=label)
        self._cached += 1
        self.rows += len(label)
        return features, label

    def next(self, input_data: Callable[..., None]) -> bool:
        arrays = self._next_arrays()
        if arrays is None:
            return False
        self._position += 1
        input_data(data=arrays[0], label=arrays[1], feature_names=list(self._columns.features))
        return True

    def reset(self) -> None:
        self._position = 0
        if not self._complete:
            # XGBoost rewinds only after a full pass; finish a partial one so the cache is whole.
            while self._next_arrays() is not None:
                pass

    def close(self) -> None:
        shutil.rmtree(self._cache_dir, ignore_errors=True)


def matrix_kind(params: dict[str, Any], external_memory: bool) -> str:
    """Which XGBoost matrix the chosen tree method and booster can train on."""
    tree_method = str(params.get("tree_method", "hist")).lower()
    booster = str(params.get("booster", "gbtree")).lower()
    if tree_method in ("hist", "auto") and booster != "gblinear":
        return "external" if external_memory else "quantile"
    if external_memory:
        raise UserError(
            "external_memory=true needs tree_method=hist (the default) and a tree booster."
        )
    return "dmatrix"


def build_matrix(
    tables: Callable[[], Iterator[pa.Table]],
    columns: ColumnSelection,
    name: str,
    params: dict[str, Any],
    work_dir: Path,
    external_memory: bool = False,
    reference: xgb.DMatrix | None = None,
) -> tuple[xgb.DMatrix, int]:
    """Stream ``tables`` into the matrix the training parameters need; return it and its rows.

    ``work_dir`` holds the download cache (removed once the matrix is built) and, with external
    memory, XGBoost's page cache, which must outlive training. ``reference`` (the training
    matrix) makes a validation matrix share its quantile cuts.
    """
    kind = matrix_kind(params, external_memory)
    max_bin = int(params["max_bin"]) if "max_bin" in params else None
    started = time.monotonic()
    logger.info("%s data: building %s matrix", name, kind)
    cache_prefix = None
    if kind == "external":
        (work_dir / f"{name}-pages").mkdir(parents=True)
        cache_prefix = str(work_dir / f"{name}-pages" / "cache")
    data_iter = SliceIter(tables, columns, name, work_dir / f"{name}-batches", cache_prefix)
    try:
        if kind == "quantile":
            matrix = xgb.QuantileDMatrix(data_iter, max_bin=max_bin, ref=reference)
        elif kind == "external":
            matrix = xgb.ExtMemQuantileDMatrix(data_iter, max_bin=max_bin, ref=reference)
        else:
            parts = [arrays for arrays in iter(data_iter._next_arrays, None)]
            matrix = xgb.DMatrix(
                np.concatenate([p[0] for p in parts]),
                label=np.concatenate([p[1] for p in parts]),
                feature_names=list(columns.features),
            )
    finally:
        data_iter.close()
    logger.info(
        "%s data: %s matrix of %s rows x %d features built in %.1fs",
        name, kind, f"{data_iter.rows:,}", len(columns.features), time.monotonic() - started,
    )  # fmt: skip
    return matrix, data_iter.rows
