"""This host's slice of one query result: which rows (``HostSlice``) and the Arrow tables of them.

The result's Arrow batches that overlap this host's rows are downloaded several at a time
(``downloads``), cut at the edges and checked to add up to exactly the rows assigned. Progress
(rows, MB, rate, share done) is logged every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from .downloads import ArrowBatch, DownloadSettings, ResultBatches, download_batches
from .sharding import (
    BatchSlice,
    RowRange,
    host_row_range,
    host_row_range_at_group_edges,
    plan_batch_slices,
)

logger = logging.getLogger(__name__)


PROGRESS_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class HostSlice:
    """This host's share of one query result: which rows, and which slice of which batches."""

    name: str
    query_id: str
    total_rows: int
    rows: RowRange
    batches: tuple[BatchSlice, ...]

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
            rows = host_row_range_at_group_edges(group_sizes, rank, world)
        return cls(name, query_id, total, rows, tuple(plan_batch_slices(counts, rows)))


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
            self.name,
            verb,
            f"{self.rows:,}",
            f"{self.expected_rows:,}",
            share,
            self.bytes / 1e6,
            elapsed,
            self.bytes / 1e6 / elapsed,
        )


def iter_arrow(
    batches: ResultBatches | Sequence[ArrowBatch],
    host_slice: HostSlice,
    columns: Sequence[str] | None = None,
    settings: DownloadSettings | None = None,
) -> Iterator[pa.Table]:
    """This host's slice of the result, in order, as Arrow tables (one per batch).

    The batches are downloaded several at a time (``downloads``); a plain list of batches
    cannot be reopened, so its expired URLs are not renewed.
    """
    if not isinstance(batches, ResultBatches):
        batches = ResultBatches(host_slice.query_id, batches)
    progress = _Progress(host_slice.name, host_slice.rows.rows)
    tables = download_batches(batches, host_slice.batches, host_slice.name, settings)
    for batch_slice, table in zip(host_slice.batches, tables, strict=True):
        # Every host cuts its rows at the announced counts: a batch with more rows than
        # announced (connector 4.x derives the inline one's as the total minus the others')
        # would shift the rows of every later host as surely as one with fewer.
        announced = batches.get(batch_slice.batch_index)[1].rowcount
        if table.num_rows != announced:
            raise RuntimeError(
                f"result batch {batch_slice.batch_index} of query {host_slice.query_id} has "
                f"{table.num_rows} rows, not the {announced} announced"
            )
        table = table.slice(batch_slice.offset, batch_slice.length)
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
