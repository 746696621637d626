"""Exactly-once slicing on synthetic batch lists: the stand-in always sends a single batch,
real Snowflake sends many, so every edge case of the batch arithmetic is tested here."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

import pyarrow as pa
import pytest

from snowflake_xgb.loading.sharding import (
    BatchSlice,
    RowRange,
    group_edges,
    host_row_range,
    host_row_range_at_group_edges,
    plan_batch_slices,
)
from snowflake_xgb.loading.slices import HostSlice, iter_arrow


class CountingBatch:
    """A result batch of consecutive row numbers that counts its downloads."""

    def __init__(self, first_row: int, rows: int) -> None:
        self.first_row, self.rows, self.rowcount, self.downloads = first_row, rows, rows, 0

    def to_arrow(self) -> pa.Table:
        self.downloads += 1
        return pa.table({"ROW": pa.array(range(self.first_row, self.first_row + self.rows))})


def groups_in(group_sizes: Sequence[int], rows: RowRange) -> range:
    """The group numbers (positions in result order) whose rows make up ``rows``."""
    edges = group_edges(group_sizes)
    first, end = bisect.bisect_left(edges, rows.start), bisect.bisect_left(edges, rows.end)
    if edges[first] != rows.start or edges[end] != rows.end:
        raise ValueError(f"rows [{rows.start}, {rows.end}) are not cut at group edges")
    return range(first, end)


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
    assert plan_batch_slices([4, 4, 4], RowRange(3, 9)) == [
        BatchSlice(0, 3, 1), BatchSlice(1, 0, 4), BatchSlice(2, 0, 1),
    ]  # fmt: skip


def test_slices_skip_empty_batches_and_stop_after_the_range() -> None:
    assert plan_batch_slices([0, 5, 0, 5, 5], RowRange(5, 10)) == [BatchSlice(3, 0, 5)]
    assert plan_batch_slices([5, 5], RowRange(0, 0)) == []


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


@pytest.mark.parametrize("announced", [4, 6], ids=["more rows", "fewer rows"])
@pytest.mark.parametrize("rank", [0, 1])
def test_a_batch_whose_rows_differ_from_its_announced_count_is_an_error(
    announced: int, rank: int
) -> None:
    """Either way, the hosts' cuts at the announced counts no longer tile the rows."""
    batches = make_batches([5, 5, 5])
    batches[1].rowcount = announced  # holds 5
    host_slice = HostSlice.plan("training", "q", batches, rank=rank, world=2)
    with pytest.raises(RuntimeError, match=rf"has 5 rows, not the {announced} announced"):
        list(iter_arrow(batches, host_slice))


def test_group_ranges_move_the_even_edges_to_the_nearest_group_edge() -> None:
    # 10 rows in groups of 4, 1, 3, 2: the even split of 3 hosts cuts at rows 3 and 6.
    sizes = [4, 1, 3, 2]
    ranges = [host_row_range_at_group_edges(sizes, rank, 3) for rank in range(3)]
    assert ranges == [RowRange(0, 4), RowRange(4, 5), RowRange(5, 10)]
    assert [groups_in(sizes, r) for r in ranges] == [range(0, 1), range(1, 2), range(2, 4)]


@pytest.mark.parametrize(
    "sizes,world",
    [
        ([1], 1),
        ([1], 4),
        ([5, 5, 5], 3),
        ([100, 1, 1, 1], 3),
        ([3] * 1000, 7),
        ([1, 2, 3, 4] * 50, 13),
    ],
)
def test_group_ranges_tile_the_result_without_splitting_a_group(
    sizes: list[int], world: int
) -> None:
    ranges = [host_row_range_at_group_edges(sizes, rank, world) for rank in range(world)]
    assert ranges[0].start == 0 and ranges[-1].end == sum(sizes)
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    owned = [g for r in ranges for g in groups_in(sizes, r)]  # raises if a group is cut
    assert owned == list(range(len(sizes)))
    even = [host_row_range(sum(sizes), rank, world) for rank in range(world)]
    for got, want in zip(ranges, even, strict=True):  # no edge moves further than a group
        assert abs(got.end - want.end) <= max(sizes)


def test_group_ranges_refuse_empty_groups_and_ranges_inside_a_group() -> None:
    with pytest.raises(ValueError):
        host_row_range_at_group_edges([2, 0, 1], 0, 2)
    with pytest.raises(ValueError):
        groups_in([4, 4], RowRange(0, 3))
