"""This host's slice of a query result -> an XGBoost quantized matrix, streamed batch by batch.

The result's Arrow batches that overlap this host's rows are downloaded (several at a time:
``downloads``), cut at the edges, converted to float32 and handed to XGBoost through a
``DataIter``.
XGBoost walks the data more than once (sketch, then index), so the first pass also writes each
converted batch to a local cache folder and later passes read from there: one download, one
batch in memory at a time. Progress (rows, MB, rate, share done) is logged every few seconds.
For cross-validation, each fold's slice is cached once and the folds' matrices are built from
the cache (``FoldCache``).
"""

from __future__ import annotations

import logging
import mmap
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from .downloads import ArrowBatch, DownloadSettings, ResultBatches, download_parts
from .encoding import FeatureEncoding, Kind
from .errors import UserError
from .queries import ColumnSelection
from .sharding import BatchSlice, RowRange, host_group_range, host_row_range, plan_slices

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 5.0
# Float32 bytes (features + label) of each block handed to XGBoost: large enough that its
# per-batch cost is small, small enough to be a minor part of the memory a host needs.
BLOCK_BYTES = 16 * 2**20


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
        cls,
        name: str,
        query_id: str,
        batches: Sequence[ArrowBatch],
        rank: int,
        world: int,
        group_sizes: Sequence[int] | None = None,
    ) -> HostSlice:
        """This host's rows; with ``group_sizes`` (rows per query group, in result order) the
        split is cut at group edges so that no group is split between hosts."""
        counts = [batch.rowcount for batch in batches]
        total = sum(counts)
        if group_sizes is None:
            rows = host_row_range(total, rank, world)
        elif sum(group_sizes) != total:
            raise RuntimeError(
                f"the {name} result ({query_id}) has {total} rows but its query groups add up "
                f"to {sum(group_sizes)}: did the source change during the job?"
            )
        else:
            rows = host_group_range(group_sizes, rank, world)
        return cls(name, query_id, total, rows, tuple(plan_slices(counts, rows)))


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
    batches: ResultBatches | Sequence[ArrowBatch],
    host_slice: HostSlice,
    columns: Sequence[str] | None = None,
    settings: DownloadSettings | None = None,
) -> Iterator[pa.Table]:
    """This host's parts of the result, in order, as Arrow tables (one per batch).

    The batches are downloaded several at a time (``downloads``); a plain list of batches
    cannot be reopened, so its expired URLs are not renewed.
    """
    if not isinstance(batches, ResultBatches):
        batches = ResultBatches(host_slice.query_id, batches)
    progress = _Progress(host_slice.name, host_slice.rows.rows)
    tables = download_parts(batches, host_slice.slices, host_slice.name, settings)
    for part, table in zip(host_slice.slices, tables, strict=True):
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


def _check_table(table: pa.Table, columns: ColumnSelection, name: str) -> None:
    """Refuse, by column, rows XGBoost cannot learn from: NULL labels, NULL or negative weights."""
    nulls = table.column(columns.label).null_count
    if nulls:
        raise UserError(
            f"The {name} data has {nulls} row(s) with a NULL label "
            f"({columns.label}) in one batch: filter them out in your query "
            f"(WHERE {columns.label} IS NOT NULL) or fill them."
        )
    if columns.weight is None:
        return
    weights = table.column(columns.weight)
    negative = pc.sum(pc.less(weights, 0)).as_py() or 0
    if weights.null_count or negative:
        problem = (
            f"{weights.null_count} row(s) with a NULL weight"
            if weights.null_count
            else (f"{negative} row(s) with a negative weight")
        )
        raise UserError(
            f"The {name} data has {problem} ({columns.weight}) in one batch: sample weights "
            f"must be numbers >= 0; fix them in your query (e.g. COALESCE({columns.weight}, 1)) "
            "or filter those rows out."
        )


@dataclass
class Block:
    """Rows ready for XGBoost: float32 features and label, and the weight and query group ids
    when the job has them (``qid`` numbers this host's groups 0, 1, ... in result order)."""

    features: np.ndarray
    label: np.ndarray
    weight: np.ndarray | None = None
    qid: np.ndarray | None = None

    @classmethod
    def allocate(cls, rows: int, columns: ColumnSelection) -> Block:
        return cls(
            _unheaped((rows, len(columns.features))),
            _unheaped((rows,)),
            _unheaped((rows,)) if columns.weight else None,
            _unheaped((rows,), np.uint32) if columns.group else None,
        )

    @property
    def rows(self) -> int:
        return len(self.label)

    def arrays(self) -> list[np.ndarray]:
        return [a for a in (self.features, self.label, self.weight, self.qid) if a is not None]

    def part(self, start: int, end: int) -> Block:
        return Block(*(None if a is None else a[start:end] for a in self._fields()))

    def _fields(self) -> tuple[np.ndarray | None, ...]:
        return self.features, self.label, self.weight, self.qid


class QueryGroups:
    """Numbers query groups 0, 1, ... as the group column changes value, across tables, and
    keeps the first and last group id it saw (a host's shard report shows them)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: Any = None
        self.last: Any = None

    def number(self, groups: pa.ChunkedArray | pa.Array) -> np.ndarray:
        rows = len(groups)
        if rows == 0:
            return np.empty(0, np.uint32)
        starts = np.empty(rows, dtype=bool)
        head = groups[0].as_py()
        starts[0] = self.count == 0 or head != self.last
        if rows > 1:
            changes = pc.not_equal(groups.slice(1), groups.slice(0, rows - 1))
            starts[1:] = changes.to_numpy(zero_copy_only=False)
        numbers = self.count - 1 + np.cumsum(starts, dtype=np.int64)
        if self.count == 0:
            self.first = head
        self.count = int(numbers[-1]) + 1
        self.last = groups[rows - 1].as_py()
        return numbers


def _fill(
    block: Block, table: pa.Table, columns: ColumnSelection, name: str, groups: QueryGroups
) -> None:
    """Write ``table``'s columns into ``block``'s rows, converting in place by their encoding."""
    for index, feature in enumerate(columns.encoding.features):
        block.features[:, index] = feature.encode_arrow(table.column(feature.name))
    block.label[:] = columns.encoding.label.encode_arrow(table.column(columns.label), name)
    if block.weight is not None:
        block.weight[:] = FeatureEncoding(columns.weight, Kind.NUMBER).encode_arrow(
            table.column(columns.weight)
        )
    if block.qid is not None:
        block.qid[:] = groups.number(table.column(columns.group))


def _unheaped(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """An array in its own anonymous memory map, returned to the OS when it is freed.

    Blocks are tens of MB: allocated on the C heap between XGBoost's own allocations, freed
    blocks leave holes the allocator keeps, and the process's RSS grows by a block per pass.
    """
    count = int(np.prod(shape))
    buffer = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize))
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


def block_rows_for(columns: ColumnSelection, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that a block's float32 features and label take about ``block_bytes``."""
    return max(1024, block_bytes // (4 * (len(columns.features) + 1)))


def _last_group_start(qid: np.ndarray) -> int:
    """Where the last (possibly unfinished) group of a block starts; 0 if it is one group."""
    starts = np.flatnonzero(qid[1:] != qid[:-1])
    return int(starts[-1]) + 1 if len(starts) else 0


def iter_blocks(
    tables: Iterator[pa.Table],
    columns: ColumnSelection,
    name: str,
    block_rows: int,
    groups: QueryGroups | None = None,
) -> Iterator[Block]:
    """Re-cut Arrow tables of any size into blocks of ``block_rows`` (the last may be shorter).

    Small result batches are gathered and large ones split, so XGBoost always sees batches of
    about the same size (its per-batch cost makes many small batches slow) and no more than
    one block plus the current Arrow table is in memory. With query groups, a block ends at a
    group edge (XGBoost would take a group cut between batches for two groups): the unfinished
    last group moves to the next block, and a block grows when one group fills it.
    """
    groups = groups if groups is not None else QueryGroups()
    block, filled = None, 0
    for table in tables:
        _check_table(table, columns, name)
        offset = 0
        while offset < table.num_rows:
            if block is None:
                block, filled = Block.allocate(block_rows, columns), 0
            take = min(block.rows - filled, table.num_rows - offset)
            _fill(
                block.part(filled, filled + take), table.slice(offset, take), columns, name, groups
            )
            filled += take
            offset += take
            if filled < block.rows:
                continue
            if block.qid is None:
                yield block
                block = None
                continue
            keep = _last_group_start(block.qid)
            carried = Block.allocate(block.rows * (2 if keep == 0 else 1), columns)
            for target, source in zip(carried.arrays(), block.arrays(), strict=True):
                target[: filled - keep] = source[keep:filled]
            if keep:
                yield block.part(0, keep)
            block, filled = carried, filled - keep
        table = None  # do not hold the last Arrow table while XGBoost works
    if block is not None and filled:
        yield block.part(0, filled)


@dataclass
class LoadTimes:
    """Where a matrix build's time went: ``waiting`` for downloads is part of ``reading``
    (downloading and converting the first pass); the rest of the build is XGBoost's."""

    waiting: float = 0.0
    reading: float = 0.0

    def summary(self, total: float) -> str:
        converting = max(0.0, self.reading - self.waiting)
        xgboost = max(0.0, total - self.reading)
        share = lambda part: 100.0 * part / total if total > 0 else 0.0  # noqa: E731
        return (
            f"{self.waiting:.1f}s ({share(self.waiting):.0f}%) waiting for downloads, "
            f"{converting:.1f}s ({share(converting):.0f}%) converting, "
            f"{xgboost:.1f}s ({share(xgboost):.0f}%) in XGBoost (sketching, quantizing)"
        )


def _timed(tables: Iterator[pa.Table], times: LoadTimes) -> Iterator[pa.Table]:
    """``tables``, adding the time spent waiting for each to ``times.waiting``."""
    while True:
        started = time.monotonic()
        table = next(tables, None)
        times.waiting += time.monotonic() - started
        if table is None:
            return
        yield table


def _hand_over(input_data: Callable[..., None], block: Block, columns: ColumnSelection) -> None:
    """Give XGBoost one block, through a ``DataIter``'s ``input_data``."""
    input_data(
        data=block.features,
        label=block.label,
        weight=block.weight,
        qid=block.qid,
        feature_names=list(columns.features),
        feature_types=columns.encoding.feature_types,
    )


class SliceIter(xgb.DataIter):
    """Feeds XGBoost this host's slice in blocks, downloading each batch only once.

    XGBoost reads the data several times (4 passes for a ``QuantileDMatrix`` on CPU). The
    first pass converts the downloaded Arrow batches into blocks and writes each block to
    ``cache_dir`` (raw arrays, read back with one copy); later passes read the blocks from
    there. A slice that fits in one block stays in memory instead, and XGBoost reuses it
    without converting it again. Only one block is in memory at a time.
    """

    def __init__(
        self,
        tables: Callable[[], Iterator[pa.Table]],
        columns: ColumnSelection,
        name: str,
        cache_dir: Path,
        cache_prefix: str | None = None,
        block_rows: int | None = None,
        groups: QueryGroups | None = None,
    ) -> None:
        self._tables = tables
        self._columns = columns
        self._name = name
        self._cache_dir = cache_dir
        cache_dir.mkdir(parents=True)
        self._block_rows = block_rows or block_rows_for(columns)
        self._blocks: Iterator[Block] | None = None
        self._cached = 0
        self._lengths: list[int] = []  # rows of each cached block
        self._complete = False
        self._single: Block | None = None  # the only block, kept
        self._position = 0
        self.rows = 0
        self.groups = groups or QueryGroups()  # complete once the first pass is done
        self.times = LoadTimes()
        super().__init__(cache_prefix=cache_prefix)

    def _cache_path(self, index: int) -> Path:
        return self._cache_dir / f"{index:06d}.block"

    def _next_block(self) -> Block | None:
        """The block at the current position: from the cache, else converted (and cached)."""
        if self._complete or self._position < self._cached:
            if self._position >= self._cached:
                return None
            if self._single is not None:
                return self._single
            return self._read(self._position)
        if self._blocks is None:
            tables = _timed(self._tables(), self.times)
            self._blocks = iter_blocks(
                tables, self._columns, self._name, self._block_rows, self.groups
            )
        started = time.monotonic()
        block = next(self._blocks, None)
        self.times.reading += time.monotonic() - started
        if block is None:
            self._complete = True
            self._blocks = None
            if self._cached == 0:  # an empty slice still takes part, as one empty block
                self._single = Block.allocate(0, self._columns)
                self._cached = 1
                return self._single
            if self._cached == 1:  # one block: keep it for the later passes
                self._single = self._read(0)
            return None
        with self._cache_path(self._cached).open("wb") as out:
            for array in block.arrays():
                out.write(memoryview(array).cast("B"))
        self._lengths.append(block.rows)
        self._cached += 1
        self.rows += block.rows
        return block

    def _read(self, index: int) -> Block:
        block = Block.allocate(self._lengths[index], self._columns)
        with self._cache_path(index).open("rb", buffering=0) as cached:
            for array in block.arrays():
                view = memoryview(array).cast("B")
                if cached.readinto(view) != len(view):
                    raise RuntimeError(f"cache file {self._cache_path(index)} is truncated")
        return block

    def next(self, input_data: Callable[..., None]) -> bool:
        block = self._next_block()
        if block is None:
            return False
        self._position += 1
        _hand_over(input_data, block, self._columns)
        return True

    def reset(self) -> None:
        # A rewind in the middle of the first pass is fine: the next pass reads the cached
        # blocks, then goes on converting where the first one stopped.
        self._position = 0

    def all_blocks(self) -> Iterator[Block]:
        """One pass over the slice, for matrices built from whole arrays."""
        self.reset()
        while (block := self._next_block()) is not None:
            self._position += 1
            yield block

    def close(self) -> None:
        self._single = None
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


def _matrix(
    data_iter: SliceIter | ConcatIter,
    kind: str,
    columns: ColumnSelection,
    max_bin: int | None,
    reference: xgb.DMatrix | None,
) -> xgb.DMatrix:
    categorical = columns.encoding.has_categories
    if kind == "quantile":
        return xgb.QuantileDMatrix(
            data_iter, max_bin=max_bin, ref=reference, enable_categorical=categorical
        )
    if kind == "external":
        return xgb.ExtMemQuantileDMatrix(
            data_iter, max_bin=max_bin, ref=reference, enable_categorical=categorical
        )
    blocks = list(data_iter.all_blocks())

    def joined(field: str) -> np.ndarray | None:
        parts = [getattr(block, field) for block in blocks]
        return None if parts[0] is None else np.concatenate(parts)

    return xgb.DMatrix(
        joined("features"),
        label=joined("label"),
        weight=joined("weight"),
        qid=joined("qid"),
        feature_names=list(columns.features),
        feature_types=columns.encoding.feature_types,
        enable_categorical=categorical,
    )


def _pages_prefix(work_dir: Path, name: str, kind: str) -> str | None:
    """Where XGBoost keeps an external-memory matrix's pages (they must outlive training)."""
    if kind != "external":
        return None
    (work_dir / f"{name}-pages").mkdir(parents=True)
    return str(work_dir / f"{name}-pages" / "cache")


def build_matrix(
    tables: Callable[[], Iterator[pa.Table]],
    columns: ColumnSelection,
    name: str,
    params: dict[str, Any],
    work_dir: Path,
    external_memory: bool = False,
    reference: xgb.DMatrix | None = None,
    groups: QueryGroups | None = None,
) -> xgb.DMatrix:
    """Stream ``tables`` into the matrix the training parameters need.

    ``work_dir`` holds the download cache (removed once the matrix is built) and, with external
    memory, XGBoost's page cache, which must outlive training. ``reference`` (the training
    matrix) makes a validation matrix share its quantile cuts. ``groups``, when given, counts
    the query groups read.
    """
    kind = matrix_kind(params, external_memory)
    max_bin = int(params["max_bin"]) if "max_bin" in params else None
    started = time.monotonic()
    logger.info("%s data: building %s matrix", name, kind)
    cache_prefix = _pages_prefix(work_dir, name, kind)
    data_iter = SliceIter(
        tables, columns, name, work_dir / f"{name}-batches", cache_prefix, groups=groups
    )
    try:
        matrix = _matrix(data_iter, kind, columns, max_bin, reference)
    finally:
        data_iter.close()
        # Arrow's allocator keeps freed download buffers for reuse; the download is over.
        pa.default_memory_pool().release_unused()
    elapsed = time.monotonic() - started
    logger.info(
        "%s data: %s matrix of %s rows x %d features built in %.1fs: %s",
        name, kind, f"{data_iter.rows:,}", len(columns.features), elapsed,
        data_iter.times.summary(elapsed),
    )  # fmt: skip
    return matrix


class ConcatIter(xgb.DataIter):
    """Several downloaded slices, one after the other, as one XGBoost input (read from cache)."""

    def __init__(
        self, parts: Sequence[SliceIter], columns: ColumnSelection, cache_prefix: str | None = None
    ) -> None:
        self._parts = list(parts)
        self._columns = columns
        self._blocks: Iterator[Block] | None = None
        super().__init__(cache_prefix=cache_prefix)

    def all_blocks(self) -> Iterator[Block]:
        for part in self._parts:
            yield from part.all_blocks()

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._blocks is None:
            self._blocks = self.all_blocks()
        block = next(self._blocks, None)
        if block is None:
            return False
        _hand_over(input_data, block, self._columns)
        return True

    def reset(self) -> None:
        self._blocks = None


class FoldCache:
    """This host's slice of each cross-validation fold, downloaded once into a local cache.

    Each fold's rows are converted to float32 blocks on local disk (``SliceIter``'s cache), so
    the matrices of any set of folds (a fold's training rows are all the other folds) are built
    from there without downloading again. The cache stays until :meth:`close`.
    """

    def __init__(
        self,
        fold_tables: Sequence[Callable[[], Iterator[pa.Table]]],
        names: Sequence[str],
        columns: ColumnSelection,
        work_dir: Path,
    ) -> None:
        self.columns = columns
        self.work_dir = work_dir
        self.parts: list[SliceIter] = []
        self.load_seconds: dict[str, float] = {}  # per fold: download and convert
        for tables, name in zip(fold_tables, names, strict=True):
            started = time.monotonic()
            part = SliceIter(tables, columns, name, work_dir / f"{name}-batches")
            self.parts.append(part)
            for _ in part.all_blocks():  # download and convert once
                pass
            self.load_seconds[name] = time.monotonic() - started
        pa.default_memory_pool().release_unused()

    def matrix(
        self,
        folds: Sequence[int],
        name: str,
        params: dict[str, Any],
        external_memory: bool = False,
        reference: xgb.DMatrix | None = None,
    ) -> xgb.DMatrix:
        """The matrix of the rows of ``folds`` (0-based), named ``name`` in logs and pages."""
        kind = matrix_kind(params, external_memory)
        max_bin = int(params["max_bin"]) if "max_bin" in params else None
        parts = [self.parts[fold] for fold in folds]
        data_iter = ConcatIter(parts, self.columns, _pages_prefix(self.work_dir, name, kind))
        matrix = _matrix(data_iter, kind, self.columns, max_bin, reference)
        logger.info("%s: %s matrix of %s rows", name, kind, f"{matrix.num_row():,}")
        return matrix

    def close(self) -> None:
        for part in self.parts:
            part.close()
