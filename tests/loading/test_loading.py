"""The loader against real Arrow data: block re-cutting, the disk cache, every matrix kind.

No servers here: batches are in-memory Arrow tables behind the loader's ``ArrowBatch``
interface (``rowcount`` + ``to_arrow()``), cut into sizes like Snowflake's result chunks.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb
from support.fake_session import FakeBatch
from support.model_fit import assert_fits_as_well

from snowflake_xgb.config.job_config import matrix_settings_for
from snowflake_xgb.errors import UserError
from snowflake_xgb.loading.blocks import iter_blocks
from snowflake_xgb.loading.matrices import (
    END_OF_FIRST_PASS,
    FIRST_BLOCK,
    FoldCache,
    LoadingWaits,
    SliceIter,
    build_matrix,
)
from snowflake_xgb.loading.slices import HostSlice, iter_arrow
from snowflake_xgb.model_files.columns import ColumnSelection
from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding

COLUMNS = ColumnSelection(("A", "B", "C"), "Y")
PARAMS = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3}


def make_table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = rng.random(rows)
    b = rng.integers(0, 50, rows)
    c = rng.normal(size=rows)
    y = 3 * a + 0.05 * b + np.sin(c) + 0.1 * rng.normal(size=rows)
    return pa.table({"A": a, "B": b, "C": c, "Y": y})


def split(table: pa.Table, sizes: list[int]) -> list[FakeBatch]:
    batches, start = [], 0
    for size in sizes:
        batches.append(FakeBatch(table.slice(start, size)))
        start += size
    assert start == table.num_rows
    return batches


def expected_arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    features = np.column_stack([table.column(n).to_numpy().astype(np.float32) for n in "ABC"])
    return features, table.column("Y").to_numpy().astype(np.float32)


def one_host_iter(
    batches: list[FakeBatch], columns: ColumnSelection, cache: Path, block_rows: int
) -> SliceIter:
    """XGBoost's data iterator over every row of ``batches`` (the slice of a one-host job)."""
    host_slice = HostSlice.plan("training", "q", batches, 0, 1)
    return SliceIter(
        lambda: iter_arrow(batches, host_slice, columns.all), columns, "training", cache,
        block_rows=block_rows,
    )  # fmt: skip


def load(
    batches: list[FakeBatch],
    work_dir: Path,
    rank: int = 0,
    world: int = 1,
    params: dict | None = None,
    external_memory: bool = False,
):
    host_slice = HostSlice.plan("training", "q", batches, rank, world)
    matrix_settings = matrix_settings_for(params or {}, external_memory)
    return build_matrix(
        lambda: iter_arrow(batches, host_slice, COLUMNS.all),
        COLUMNS,
        "training",
        matrix_settings,
        work_dir,
    )


def test_blocks_gather_small_batches_and_split_large_ones() -> None:
    table = make_table(2500)
    tables = [b.table for b in split(table, [0, 10, 990, 1, 1499])]
    blocks = list(iter_blocks(iter(tables), COLUMNS, "training", block_rows=700))
    assert [block.rows for block in blocks] == [700, 700, 700, 400]
    features, label = expected_arrays(table)
    np.testing.assert_array_equal(np.concatenate([b.features.T for b in blocks]), features)
    np.testing.assert_array_equal(np.concatenate([b.label for b in blocks]), label)
    # each feature's values are one contiguous float32 array (what XGBoost reads as a column)
    assert all(
        column.dtype == np.float32 and column.flags.c_contiguous
        for block in blocks
        for column in block.features
    )


def test_numbers_decimals_and_nulls_become_float32_with_nan() -> None:
    table = pa.table({
        "A": pa.array([1.5, None, 3.0]),
        "B": pa.array([1, 2, None], pa.int64()),
        "C": pa.array([D("1.25"), None, D("-2.50")], pa.decimal128(38, 2)),
        "Y": pa.array([1, 0, 1], pa.int8()),
    })  # fmt: skip
    (block,) = iter_blocks(iter([table]), COLUMNS, "training", block_rows=10)
    features, label = block.features.T, block.label
    np.testing.assert_array_equal(
        features, np.array([[1.5, 1, 1.25], [np.nan, 2, np.nan], [3, np.nan, -2.5]], np.float32)
    )
    np.testing.assert_array_equal(label, np.array([1, 0, 1], np.float32))


def test_a_null_label_is_a_user_error_naming_the_column() -> None:
    table = pa.table({"A": [1.0, 2.0], "B": [1.0, 2.0], "C": [1.0, 2.0], "Y": [1.0, None]})
    with pytest.raises(UserError, match=r"NULL label.*\(Y\)"):
        list(iter_blocks(iter([table]), COLUMNS, "training", block_rows=10))


def test_quantile_matrix_from_many_blocks_equals_one_from_memory(tmp_path: Path) -> None:
    table = make_table(20_000)
    batches = split(table, [3000] * 6 + [2000])
    data_iter = one_host_iter(batches, COLUMNS, tmp_path / "cache", block_rows=1500)
    ours = xgb.QuantileDMatrix(data_iter)
    data_iter.close()
    assert [b.downloads for b in batches] == [1] * 7  # 4 passes, one download each
    assert not (tmp_path / "cache").exists()
    features, label = expected_arrays(table)
    reference = xgb.QuantileDMatrix(features, label, feature_names=list(COLUMNS.features))
    assert ours.num_row() == 20_000
    np.testing.assert_array_equal(ours.get_label(), label)
    probe = xgb.DMatrix(features, feature_names=list(COLUMNS.features))
    one = xgb.train(PARAMS, ours, 10).predict(probe)
    two = xgb.train(PARAMS, reference, 10).predict(probe)
    assert_fits_as_well(one, two, label, within=0.01)


def test_external_memory_trains_the_same_model_as_in_memory(tmp_path: Path) -> None:
    table = make_table(30_000, seed=1)
    batches = split(table, [4096] * 7 + [1328])
    in_memory = load(batches, tmp_path / "memory")
    external = load(batches, tmp_path / "external", external_memory=True)
    assert isinstance(external, xgb.ExtMemQuantileDMatrix)
    assert in_memory.num_row() == external.num_row() == 30_000
    assert list((tmp_path / "external").iterdir()) == [tmp_path / "external" / "training-pages"]
    features, _ = expected_arrays(table)
    probe = xgb.DMatrix(features, feature_names=list(COLUMNS.features))
    one = xgb.train(PARAMS, in_memory, 20).predict(probe)
    two = xgb.train(PARAMS, external, 20).predict(probe)
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-5)


def test_host_slices_together_hold_every_row_once(tmp_path: Path) -> None:
    table = make_table(10_001, seed=2)
    batches = split(table, [2500, 2500, 2500, 2501])
    labels = []
    for rank in range(3):
        matrix = load(batches, tmp_path / f"rank{rank}", rank=rank, world=3)
        labels.append(matrix.get_label())
    np.testing.assert_array_equal(np.concatenate(labels), expected_arrays(table)[1])


def test_exact_tree_method_gets_a_plain_dmatrix_of_all_blocks(tmp_path: Path) -> None:
    table = make_table(5000, seed=3)
    matrix = load(split(table, [1000] * 5), tmp_path, params={"tree_method": "exact"})
    assert type(matrix) is xgb.DMatrix and matrix.num_row() == 5000
    np.testing.assert_array_equal(matrix.get_label(), expected_arrays(table)[1])


def test_an_empty_slice_is_one_empty_block(tmp_path: Path) -> None:
    data_iter = SliceIter(lambda: iter([]), COLUMNS, "training", tmp_path / "cache")
    for _ in range(2):  # every pass, including after a rewind
        block, *rest = list(data_iter.all_blocks())
        assert block.features.shape == (3, 0) and block.label.shape == (0,) and rest == []
    data_iter.close()


def test_a_rewind_in_the_middle_of_the_first_pass_downloads_nothing_twice(tmp_path: Path) -> None:
    table = make_table(4000, seed=4)
    batches = split(table, [1000] * 4)
    data_iter = one_host_iter(batches, COLUMNS, tmp_path / "cache", block_rows=1000)
    seen: list[np.ndarray] = []

    def input_data(data: np.ndarray, label: np.ndarray, **metadata: object) -> None:
        seen.append(label.copy())

    assert data_iter.next(input_data) and data_iter.next(input_data)
    data_iter.reset()
    seen.clear()
    while data_iter.next(input_data):
        pass
    data_iter.close()
    np.testing.assert_array_equal(np.concatenate(seen), expected_arrays(table)[1])
    assert [b.downloads for b in batches] == [1] * 4


@pytest.mark.parametrize("params", [{}, {"tree_method": "exact"}], ids=["quantile", "dmatrix"])
def test_fold_cache_downloads_each_fold_once_and_builds_any_set_of_folds(
    tmp_path: Path, params: dict
) -> None:
    tables = [make_table(rows, seed) for rows, seed in ((300, 1), (0, 2), (450, 3))]
    folds = [split(table, [table.num_rows]) for table in tables]
    slices = [HostSlice.plan(f"fold-{k + 1}", "q", b, 0, 1) for k, b in enumerate(folds)]
    readers = [
        lambda b=b, s=s: iter_arrow(b, s, COLUMNS.all) for b, s in zip(folds, slices, strict=True)
    ]
    cache = FoldCache(readers, [s.name for s in slices], COLUMNS, tmp_path)
    try:
        for chosen in ([0, 2], [1], [0, 1, 2]):
            matrix = cache.matrix(chosen, f"m{chosen}", matrix_settings_for(params, False))
            expected = np.concatenate([expected_arrays(tables[k])[1] for k in chosen])
            np.testing.assert_array_equal(matrix.get_label(), expected)
        # Built three times from the cache: each fold downloaded once (an empty one never).
        assert [b.downloads for fold in folds for b in fold] == [1, 0, 1]
    finally:
        cache.close()
    assert not any(tmp_path.glob("fold-*-blocks"))


TYPED = ColumnSelection(
    ("COLOUR", "AMOUNT"),
    "Y",
    weight="W",
    encoding=Encoding(
        (FeatureEncoding("COLOUR", Kind.CATEGORY, ("blue", "green", "red")),
         FeatureEncoding("AMOUNT", Kind.NUMBER)),
        LabelEncoding("Y", ("no", "yes")),
    ),
)  # fmt: skip


def test_encoded_columns_weights_and_text_labels_across_batches() -> None:
    tables = [
        pa.table({"COLOUR": ["red", None], "AMOUNT": pa.array([D("1.5"), D("2")]),
                  "Y": ["yes", "no"], "W": [1.0, 0.5]}),
        pa.table({"COLOUR": ["blue", "pink"], "AMOUNT": pa.array([D("3"), None]),
                  "Y": ["no", "no"], "W": [2, 0]}),
    ]  # fmt: skip
    (block,) = iter_blocks(iter(tables), TYPED, "training", block_rows=10)
    np.testing.assert_array_equal(
        block.features.T, [[2, 1.5], [np.nan, 2], [0, 3], [np.nan, np.nan]]
    )
    np.testing.assert_array_equal(block.label, [1, 0, 0, 0])
    np.testing.assert_array_equal(block.weight, [1, 0.5, 2, 0])


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        ([1.0, None], "1 row(s) with a NULL weight (W)"),
        ([1.0, -0.5], "1 row(s) with a negative weight (W)"),
    ],
)
def test_null_or_negative_weights_are_refused_by_name(weights: list, problem: str) -> None:
    table = pa.table(
        {"COLOUR": ["red", "red"], "AMOUNT": [1.0, 2.0], "Y": ["no", "yes"], "W": weights}
    )
    with pytest.raises(UserError, match=re.escape(f"The training data has {problem}")):
        list(iter_blocks(iter([table]), TYPED, "training", block_rows=10))


RANKED = ColumnSelection(("A", "B", "C"), "Y", query_group="G")


def ranked_table(group_sizes: list[int], seed: int = 5) -> pa.Table:
    table = make_table(sum(group_sizes), seed=seed)
    # Group ids are text and not in numeric order: only their sequence in the result counts.
    ids = [f"q{(7 * g) % 101:03d}" for g, size in enumerate(group_sizes) for _ in range(size)]
    label = np.floor(np.clip(table.column("Y").to_numpy(), 0, 3.99))
    return table.set_column(3, "Y", pa.array(label)).append_column("G", pa.array(ids))


def test_blocks_end_at_group_edges_and_number_the_groups() -> None:
    sizes = [3, 5, 2, 9, 1, 4]  # 24 rows; the 9-row group is bigger than a block
    table = ranked_table(sizes)
    tables = [b.table for b in split(table, [4, 7, 13])]
    blocks = list(iter_blocks(iter(tables), RANKED, "training", block_rows=6))
    qid = np.concatenate([b.qid for b in blocks])
    np.testing.assert_array_equal(qid, np.repeat(np.arange(6), sizes))
    for before, after in itertools.pairwise(blocks):  # no group continues in the next block
        assert before.qid[-1] != after.qid[0]
    assert max(b.rows for b in blocks) >= 9
    np.testing.assert_array_equal(np.concatenate([b.label for b in blocks]), table.column("Y"))


def test_ranking_over_many_batches_equals_in_memory_qid_training(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    sizes = [int(n) for n in rng.integers(1, 40, 300)]
    table = ranked_table(sizes)
    batches = split(table, [1000] * (table.num_rows // 1000) + [table.num_rows % 1000])
    data_iter = one_host_iter(batches, RANKED, tmp_path / "cache", block_rows=700)
    ours = xgb.QuantileDMatrix(data_iter)
    data_iter.close()
    assert data_iter.groups.count == len(sizes)
    features, label = expected_arrays(table)
    qid = np.repeat(np.arange(len(sizes)), sizes)
    reference = xgb.QuantileDMatrix(features, label, qid=qid, feature_names=list("ABC"))
    np.testing.assert_array_equal(
        ours.get_uint_info("group_ptr"), reference.get_uint_info("group_ptr")
    )
    params = {"objective": "rank:ndcg", "eval_metric": "ndcg@10", "max_depth": 4}
    probe = xgb.DMatrix(features, label, qid=qid, feature_names=list("ABC"))
    one, two = (xgb.train(params, m, 10) for m in (ours, reference))
    assert one.eval(probe) == two.eval(probe)


def _recorded_build(batches: list[FakeBatch], tmp_path: Path) -> tuple[list[str], SliceIter]:
    """An iterator whose meetings, downloaded chunks and hand-overs to XGBoost are recorded,
    in order, into the list returned with it."""
    events: list[str] = []
    host_slice = HostSlice.plan("training", "q", batches, 0, 1)
    waits = LoadingWaits(work_done=lambda: events.append("chunk"), meet=events.append)

    class Recorded(SliceIter):
        def next(self, input_data) -> bool:
            handed = super().next(input_data)
            events.append("block" if handed else "end")
            return handed

    data_iter = Recorded(
        lambda: iter_arrow(batches, host_slice, COLUMNS.all), COLUMNS, "training",
        tmp_path / "cache", block_rows=1000, waits=waits,
    )  # fmt: skip
    return events, data_iter


def test_hosts_meet_before_xgboost_gets_the_first_block_and_before_the_first_pass_ends(
    tmp_path: Path,
) -> None:
    events, data_iter = _recorded_build(split(make_table(4000, seed=5), [1000] * 4), tmp_path)
    matrix = xgb.QuantileDMatrix(data_iter)
    data_iter.close()
    assert matrix.num_row() == 4000
    # XGBoost gets the first block after the first chunk, while the others download.
    assert events[:3] == ["chunk", FIRST_BLOCK, "block"]
    first_pass = events[: events.index("end") + 1]
    assert first_pass[-2:] == [END_OF_FIRST_PASS, "end"]
    assert first_pass.count("chunk") == 4 and first_pass.count("block") == 4
    # Later passes read the cache: no chunk, no meeting.
    assert events.count("chunk") == 4
    assert events.count(FIRST_BLOCK) == events.count(END_OF_FIRST_PASS) == 1


def test_a_host_that_fails_after_its_first_block_still_meets_the_others_at_the_end(
    tmp_path: Path,
) -> None:
    table = make_table(4000, seed=6)
    labels = table.column("Y").to_pylist()
    labels[2500] = None  # in the third chunk
    table = table.set_column(3, "Y", pa.array(labels))
    events, data_iter = _recorded_build(split(table, [1000] * 4), tmp_path)
    with pytest.raises(UserError, match=r"NULL label"):
        xgb.QuantileDMatrix(data_iter)
    data_iter.close()
    # XGBoost takes the failed ``next`` for the end and enters its next collective step: the
    # others are met first; then it stops for want of data, with this host's own error.
    assert events[-2:] == ["chunk", END_OF_FIRST_PASS]  # the third chunk, then the meeting
    assert events.count(FIRST_BLOCK) == 1 and events.count("chunk") == 3
