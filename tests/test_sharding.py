"""Exactly-once slicing on synthetic batch lists: the stand-in always sends a single batch,
real Snowflake sends many, so every edge case of the batch arithmetic is tested here."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

from snowflake_xgb.loading import HostSlice, iter_arrow
from snowflake_xgb.sharding import BatchSlice, RowRange, host_row_range, plan_slices


class CountingBatch:
    """A result batch of consecutive row numbers that counts its downloads."""

    def __init__(self, first_row: int, rows: int) -> None:
        self.first_row, self.rows, self.rowcount, self.downloads = first_row, rows, rows, 0

    def to_arrow(self) -> pa.Table:
        self.downloads += 1
        return pa.table({"ROW": pa.array(range(self.first_row, self.first_row + self.rows))})


def make_batches(counts: list[int]) -> list[CountingBatch]:
    starts = [0, *itertools.accumulate(counts)][:-1]
    return [CountingBatch(start, count) for start, count in zip(starts, counts, strict=True)]


def test_ranges_follow_the_floor_formula() -> None:
    assert [host_row_range(10, rank, 3) for rank in range(3)] == [
        RowRange(0, 3), RowRange(3, 6), RowRange(6, 10),
    ]  # fmt: skip


@pytest.mark.parametrize("total,world", [(0, 1), (1, 4), (7, 3), (100, 7), (10**9 + 7, 13)])
def test_ranges_tile_the_result(total: int, world: int) -> None:
    ranges = [host_row_range(total, rank, world) for rank in range(world)]
    assert ranges[0].start == 0 and ranges[-1].end == total
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    assert max(r.rows for r in ranges) - min(r.rows for r in ranges) <= 1


def test_rejects_a_rank_outside_the_group() -> None:
    with pytest.raises(ValueError):
        host_row_range(10, 3, 3)


def test_slices_cut_batches_at_the_range_edges() -> None:
    assert plan_slices([4, 4, 4], RowRange(3, 9)) == [
        BatchSlice(0, 3, 1), BatchSlice(1, 0, 4), BatchSlice(2, 0, 1),
    ]  # fmt: skip


def test_slices_skip_empty_batches_and_stop_after_the_range() -> None:
    assert plan_slices([0, 5, 0, 5, 5], RowRange(5, 10)) == [BatchSlice(3, 0, 5)]
    assert plan_slices([5, 5], RowRange(0, 0)) == []


BATCH_LISTS = [[10], [3, 3, 4], [1] * 10, [0, 4, 0, 0, 6, 0], [7, 0, 0], [2, 8], [0]]


@pytest.mark.parametrize("counts", BATCH_LISTS, ids=str)
@pytest.mark.parametrize("world", [1, 2, 3, 4, 11])
def test_every_row_is_read_by_exactly_one_host(counts: list[int], world: int) -> None:
    batches = make_batches(counts)
    seen: list[int] = []
    for rank in range(world):
        host_slice = HostSlice.plan("training", "q", batches, rank, world)
        rows = [
            row for table in iter_arrow(batches, host_slice) for row in table["ROW"].to_pylist()
        ]
        assert rows == list(range(host_slice.rows.start, host_slice.rows.end))
        seen.extend(rows)
    assert seen == list(range(sum(counts)))


def test_a_host_downloads_only_the_batches_it_needs() -> None:
    batches = make_batches([5, 5, 5, 5])
    host_slice = HostSlice.plan("training", "q", batches, rank=1, world=2)  # rows [10, 20)
    list(iter_arrow(batches, host_slice))
    assert [batch.downloads for batch in batches] == [0, 0, 1, 1]


def test_a_batch_shorter_than_announced_is_an_error() -> None:
    batches = make_batches([5, 5])
    batches[1].rowcount = 6  # announces more rows than it holds
    host_slice = HostSlice.plan("training", "q", batches, rank=0, world=1)
    with pytest.raises(RuntimeError, match="fewer than"):
        list(iter_arrow(batches, host_slice))
