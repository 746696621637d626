"""Which rows of a query result belong to which host: exact, contiguous, reproducible.

Host ``rank`` of ``world`` hosts owns rows ``[floor(rank*n/world), floor((rank+1)*n/world))`` of
an ``n``-row result. Given the result's batches (each with a row count, in result order), a
host downloads only the batches that overlap its range and keeps the part of each that falls
inside it. Pure arithmetic: no I/O, so every edge case is testable on synthetic batch lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RowRange:
    """Half-open range ``[start, end)`` of row positions in a result."""

    start: int
    end: int

    @property
    def rows(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class BatchSlice:
    """Rows ``[offset, offset + length)`` of result batch number ``batch_index``."""

    batch_index: int
    offset: int
    length: int


def host_row_range(total_rows: int, rank: int, world: int) -> RowRange:
    """The rows host ``rank`` owns; ranges of consecutive ranks tile ``[0, total_rows)``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in a group of {world} hosts")
    if total_rows < 0:
        raise ValueError(f"a result cannot have {total_rows} rows")
    return RowRange(total_rows * rank // world, total_rows * (rank + 1) // world)


def plan_slices(batch_row_counts: Sequence[int], owned: RowRange) -> list[BatchSlice]:
    """The parts of the batches that cover ``owned``, in result order; empty batches skipped."""
    slices = []
    batch_start = 0
    for index, count in enumerate(batch_row_counts):
        batch_end = batch_start + count
        start, end = max(batch_start, owned.start), min(batch_end, owned.end)
        if start < end:
            slices.append(BatchSlice(index, start - batch_start, end - start))
        if batch_end >= owned.end:
            break
        batch_start = batch_end
    return slices
