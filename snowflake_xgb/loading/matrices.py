"""Blocks -> an XGBoost matrix, streamed through a ``DataIter`` (``build_matrix``, ``FoldCache``).

XGBoost walks the data more than once, so the first pass also writes each converted block to a
local cache folder and later passes read from there: one download. The first pass overlaps the
downloads (worker threads, ``downloads``) with converting (this thread) and XGBoost's own work
on each block, so a host starts building its matrix with its first block, not its last chunk.

Memory, beyond XGBoost's own matrix: at most ``download_threads`` chunks downloading or
waiting plus the one being converted (Arrow), and two blocks of ``blocks.BLOCK_BYTES``: the
first pass fills each block into the memory of the one before (XGBoost is done with a block
when it asks for the next), later passes read each cached block into one buffer (with query
groups, blocks are fresh and a block that one group fills grows), plus XGBoost's copy of the
block it is reading (XGBoost 3.4.1 combines each Arrow column into one array, a copy, and holds
it until the next block: ``_transform_arrow_table`` in ``python-package/xgboost/data.py``).
Small result chunks are gathered into blocks of ``BLOCK_BYTES`` (XGBoost's per-batch cost
makes many small batches slow), large ones split. Only a plain ``DMatrix`` (built from whole
arrays) holds the slice.

Several hosts: XGBoost's collective steps run inside the matrix build, between calls to the
``DataIter``. In XGBoost 3.4.1 an iterator-built ``QuantileDMatrix`` (CPU) calls the
collective (source: github.com/dmlc/xgboost, tag v3.4.1):

1. at the first block: the constructor fetches it (``src/data/iterative_dmatrix.cc:35``;
   ``extmem_quantile_dmatrix.cc:34`` for ``ExtMemQuantileDMatrix``), then
   ``cpu_impl::GetDataShape`` allreduces the column count (``src/data/quantile_dmatrix.cc:127``)
   before asking for the second;
2. after the first pass (the data shape pass: rows, non-missing values per column), once
   ``next`` returned False: ``ExternalDataInfo::SetInfo`` -> ``SynchronizeNumberOfColumns``
   (``src/data/proxy_dmatrix.h:176``; ``iterative_dmatrix.cc:70``);
3. in the second pass (the sketch): the feature types at its first block
   (``quantile_dmatrix.cc:165``) and the merged sketch after it (``quantile_dmatrix.cc:182``);
   the later passes (gradient index, columns) exchange nothing; at the end, the categories
   (``iterative_dmatrix.cc:54``).

Only the first pass downloads (later ones read the local cache: bounded local work), so the
hosts meet (``LoadingWaits.meet``) right before 1 and 2: before the first block is handed over
and before ``next`` first returns False. A host that is slower to download is then waited for
by its work's bound (the download bound, counted from its last finished chunk), not by the
collective timeout, and one that is gone is named by the watchdog within seconds. Between the
meetings, each host's downloads overlap its conversion and XGBoost's shape pass; the sketch
needs the whole shape pass (``quantile_dmatrix.cc:162-167`` sizes it from the column counts),
so it starts after the last download. A plain ``DMatrix`` is built from all blocks at once,
after the same two meetings. For cross-validation, each fold's slice is cached once and the
folds' matrices are built from the cache (``FoldCache``).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import xgboost as xgb

from ..config.job_config import MatrixKind, MatrixSettings
from ..model_files.columns import ColumnSelection
from .blocks import Block, QueryGroups, block_rows_for, iter_blocks

logger = logging.getLogger(__name__)


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


FIRST_BLOCK = "the first block"
END_OF_FIRST_PASS = "the end of the first pass"


@dataclass(frozen=True)
class LoadingWaits:
    """What a matrix build tells the other hosts: ``work_done`` after each downloaded table,
    and ``meet`` (a meeting point, by name) right before each collective step of XGBoost's that
    follows downloading: at ``FIRST_BLOCK`` and ``END_OF_FIRST_PASS``."""

    work_done: Callable[[], None]
    meet: Callable[[str], None]


def _timed(
    tables: Iterator[pa.Table], times: LoadTimes, work_done: Callable[[], None] | None
) -> Iterator[pa.Table]:
    """``tables``, adding the time spent waiting for each to ``times.waiting``."""
    while True:
        started = time.monotonic()
        table = next(tables, None)
        times.waiting += time.monotonic() - started
        if table is None:
            return
        if work_done is not None:
            work_done()
        yield table


def _hand_over(input_data: Callable[..., None], block: Block, columns: ColumnSelection) -> None:
    """Give XGBoost one block, through a ``DataIter``'s ``input_data``."""
    input_data(
        data=block.feature_table(columns.features),
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
    without converting it again. With ``waits`` (several hosts), the first pass meets the
    other hosts before its first block and before its end (see the module docstring). A block
    handed out holds its rows until the next is asked for: its memory is reused.
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
        waits: LoadingWaits | None = None,
    ) -> None:
        self._tables = tables
        self._waits = waits
        self._met: set[str] = set()  # the meetings this slice has held
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
        self._buffer: Block | None = None  # what later passes read each cached block into
        self._position = 0
        self.rows = 0
        self.groups = groups or QueryGroups()  # complete once the first pass is done
        self.times = LoadTimes()
        super().__init__(cache_prefix=cache_prefix)

    def _cache_path(self, index: int) -> Path:
        return self._cache_dir / f"{index:06d}.block"

    def _next_block(self) -> Block | None:
        """The block at the current position, after the meeting it is due (several hosts)."""
        block = self._block_at_position()
        self._meet(FIRST_BLOCK if block is not None else END_OF_FIRST_PASS)
        return block

    def _meet(self, point: str) -> None:
        if self._waits is not None and point not in self._met:
            self._met.add(point)
            self._waits.meet(point)

    def _block_at_position(self) -> Block | None:
        """The block at the current position: from the cache, else converted (and cached)."""
        if self._complete or self._position < self._cached:
            if self._position >= self._cached:
                return None
            if self._single is not None:
                return self._single
            return self._read(self._position)
        if self._blocks is None:
            work_done = self._waits.work_done if self._waits is not None else None
            tables = _timed(self._tables(), self.times, work_done)
            self._blocks = iter_blocks(
                tables, self._columns, self._name, self._block_rows, self.groups, recycle=True
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
                self._single = self._read(0, Block.allocate(self._lengths[0], self._columns))
            return None
        with self._cache_path(self._cached).open("wb") as out:
            for array in block.arrays():
                out.write(memoryview(array).cast("B"))
        self._lengths.append(block.rows)
        self._cached += 1
        self.rows += block.rows
        return block

    def _read(self, index: int, block: Block | None = None) -> Block:
        """Cached block ``index``, read into ``block`` (default: this slice's one buffer)."""
        rows = self._lengths[index]
        if block is None:
            if self._buffer is None or self._buffer.rows < rows:
                self._buffer = Block.allocate(max(self._lengths), self._columns)
            block = self._buffer.view(0, rows)
        with self._cache_path(index).open("rb", buffering=0) as cached:
            for array in block.arrays():
                view = memoryview(array).cast("B")
                if cached.readinto(view) != len(view):
                    raise RuntimeError(f"cache file {self._cache_path(index)} is truncated")
        return block

    def next(self, input_data: Callable[..., None]) -> bool:
        try:
            block = self._block_at_position()
        except Exception as error:
            # XGBoost takes a failed ``next`` for the end of the data and goes on to its next
            # collective step: held with the others, so they are not left waiting in it. It
            # then stops without another, for want of data, and raises this error.
            if FIRST_BLOCK in self._met and END_OF_FIRST_PASS not in self._met:
                logger.error(
                    "%s data: %s (stopping once the other hosts are met)", self._name, error
                )
                self._meet(END_OF_FIRST_PASS)
            raise
        self._meet(FIRST_BLOCK if block is not None else END_OF_FIRST_PASS)
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


def _matrix(
    data_iter: SliceIter | ConcatIter,
    matrix_settings: MatrixSettings,
    columns: ColumnSelection,
    reference: xgb.DMatrix | None,
) -> xgb.DMatrix:
    # Categorical columns (feature type "c") split as categories: XGBoost's default from 3.3.
    max_bin = matrix_settings.max_bin
    if matrix_settings.kind == MatrixKind.QUANTILE:
        return xgb.QuantileDMatrix(data_iter, max_bin=max_bin, ref=reference)
    if matrix_settings.kind == MatrixKind.EXTERNAL:
        return xgb.ExtMemQuantileDMatrix(data_iter, max_bin=max_bin, ref=reference)
    whole = Block.concatenate([block.copy() for block in data_iter.all_blocks()])
    return xgb.DMatrix(
        whole.feature_table(columns.features),
        label=whole.label,
        weight=whole.weight,
        qid=whole.qid,
        feature_names=list(columns.features),
        feature_types=columns.encoding.feature_types,
    )


def _pages_prefix(work_dir: Path, name: str, matrix_settings: MatrixSettings) -> str | None:
    """Where XGBoost keeps an external-memory matrix's pages (they must outlive training)."""
    if matrix_settings.kind != MatrixKind.EXTERNAL:
        return None
    (work_dir / f"{name}-pages").mkdir(parents=True)
    return str(work_dir / f"{name}-pages" / "cache")


def build_matrix(
    tables: Callable[[], Iterator[pa.Table]],
    columns: ColumnSelection,
    name: str,
    matrix_settings: MatrixSettings,
    work_dir: Path,
    reference: xgb.DMatrix | None = None,
    groups: QueryGroups | None = None,
    waits: LoadingWaits | None = None,
) -> xgb.DMatrix:
    """Stream ``tables`` into the matrix the training parameters need.

    ``work_dir`` holds the download cache (removed once the matrix is built) and, with external
    memory, XGBoost's page cache, which must outlive training. ``reference`` (the training
    matrix) makes a validation matrix share its quantile cuts. ``groups``, when given, counts
    the query groups read. ``waits``: how the build keeps the other hosts informed.
    """
    started = time.monotonic()
    logger.info("%s data: building %s matrix", name, matrix_settings.kind)
    cache_prefix = _pages_prefix(work_dir, name, matrix_settings)
    data_iter = SliceIter(
        tables, columns, name, work_dir / f"{name}-blocks", cache_prefix, groups=groups, waits=waits
    )
    try:
        built = _matrix(data_iter, matrix_settings, columns, reference)
    finally:
        data_iter.close()
        # Arrow's allocator keeps freed download buffers for reuse; the download is over.
        pa.default_memory_pool().release_unused()
    elapsed = time.monotonic() - started
    logger.info(
        "%s data: %s matrix of %s rows x %d features built in %.1fs: %s",
        name,
        matrix_settings.kind,
        f"{data_iter.rows:,}",
        len(columns.features),
        elapsed,
        data_iter.times.summary(elapsed),
    )
    return built


class ConcatIter(xgb.DataIter):
    """Several downloaded slices, one after the other, as one XGBoost input (read from cache)."""

    def __init__(
        self,
        slices: Sequence[SliceIter],
        columns: ColumnSelection,
        cache_prefix: str | None = None,
    ) -> None:
        self._slices = list(slices)
        self._columns = columns
        self._blocks: Iterator[Block] | None = None
        super().__init__(cache_prefix=cache_prefix)

    def all_blocks(self) -> Iterator[Block]:
        for data_iter in self._slices:
            yield from data_iter.all_blocks()

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
        waits: LoadingWaits | None = None,
    ) -> None:
        self.columns = columns
        self.work_dir = work_dir
        self.folds: list[SliceIter] = []  # this host's slice of each fold
        self.load_seconds: dict[str, float] = {}  # per fold: download and convert
        for tables, name in zip(fold_tables, names, strict=True):
            started = time.monotonic()
            fold = SliceIter(tables, columns, name, work_dir / f"{name}-blocks", waits=waits)
            self.folds.append(fold)
            for _ in fold.all_blocks():  # download and convert once
                pass
            self.load_seconds[name] = time.monotonic() - started
        pa.default_memory_pool().release_unused()

    def matrix(
        self,
        folds: Sequence[int],
        name: str,
        matrix_settings: MatrixSettings,
        reference: xgb.DMatrix | None = None,
    ) -> xgb.DMatrix:
        """The matrix of the rows of ``folds`` (0-based), named ``name`` in logs and pages."""
        chosen = [self.folds[fold] for fold in folds]
        pages = _pages_prefix(self.work_dir, name, matrix_settings)
        data_iter = ConcatIter(chosen, self.columns, pages)
        built = _matrix(data_iter, matrix_settings, self.columns, reference)
        logger.info("%s: %s matrix of %s rows", name, matrix_settings.kind, f"{built.num_row():,}")
        return built

    def close(self) -> None:
        for fold in self.folds:
            fold.close()
