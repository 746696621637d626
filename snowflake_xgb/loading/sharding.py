"""Which rows of a query result belong to which host: exact, contiguous, reproducible.

Host ``rank`` of ``world`` hosts owns rows ``[floor(rank*n/world), floor((rank+1)*n/world))`` of
an ``n``-row result. Given the result's batches (each with a row count, in result order), a
host downloads only the batches that overlap its range and keeps the rows of each that fall
inside it. Pure arithmetic: no I/O, so every edge case is testable on synthetic batch lists.

For learning to rank, a query group's rows must stay on one host: the result is ordered by the
group column, and each edge of the even split moves to the nearest group edge
(:func:`host_row_range_at_group_edges`), so the ranges still tile the result exactly once.
"""

from __future__ import annotations

import bisect
import itertools
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


def plan_batch_slices(batch_row_counts: Sequence[int], owned: RowRange) -> list[BatchSlice]:
    """The slices of the batches that cover ``owned``, in result order; empty batches skipped."""
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


def group_edges(group_sizes: Sequence[int]) -> list[int]:
    """Row positions where each group starts, and the total: ``[0, s0, s0+s1, ..., n]``."""
    if any(size < 1 for size in group_sizes):
        raise ValueError("every group has at least one row")
    return [0, *itertools.accumulate(group_sizes)]


def host_row_range_at_group_edges(group_sizes: Sequence[int], rank: int, world: int) -> RowRange:
    """The rows host ``rank`` owns when groups (in result order) may not be split.

    Each edge of the even split (:func:`host_row_range`) moves to the nearest group edge (the
    lower one on a tie), so consecutive ranks still tile the result; a host may get no rows
    when groups are large.
    """
    edges = group_edges(group_sizes)
    even = host_row_range(edges[-1], rank, world)

    def nearest_edge(row: int) -> int:
        above = bisect.bisect_left(edges, row)
        if above > 0 and row - edges[above - 1] <= edges[above] - row:
            return edges[above - 1]
        return edges[above]

    return RowRange(nearest_edge(even.start), nearest_edge(even.end))
