"""Each host's data over a fake session: which results it reopens, which rows it reads, and the
errors a user sees for an empty or expired result.

No servers: ``support.fake_session`` holds the results as Arrow tables handed out in chunks, and
the host group is a real, unjoined ``HostGroup`` (its rank and size are all a host's data needs).
The same paths run through real ``train`` jobs against the stand-ins (``test_distributed``,
``test_downloads``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from support.fake_session import NOW, FakeSession

from snowflake_xgb.config.job_config import DownloadSettings, HostGroupSettings, MatrixSettings
from snowflake_xgb.errors import UserError
from snowflake_xgb.hosts.host_group import HostGroup
from snowflake_xgb.loading.host_data import load_fold_data, load_host_data, open_slice
from snowflake_xgb.model_files.columns import ColumnSelection
from snowflake_xgb.query.data_snapshot import DataSnapshot
from snowflake_xgb.query.query_plan import QueryPlan

COLUMNS = ColumnSelection(("A", "B"), "Y")
HOSTS = ["algo-1", "algo-2"]


def _rows(start: int, count: int) -> pa.Table:
    """Rows whose label is their unique id: a matrix's labels say which rows it holds."""
    ids = np.arange(start, start + count, dtype=np.float64)
    return pa.table({"A": ids * 0.5, "B": ids % 7, "Y": ids})


def _host(name: str) -> HostGroup:
    return HostGroup(HOSTS, name, HostGroupSettings())


def _plan(query_ids: dict[str, str], group_sizes: dict | None = None) -> QueryPlan:
    snapshot = DataSnapshot("submitted", query_ids, NOW)
    return QueryPlan(COLUMNS, snapshot, group_sizes or {})


def _load(session: FakeSession, plan: QueryPlan, host: str, work_dir: Path):
    return load_host_data(
        _host(host), session, plan, MatrixSettings(), work_dir / host, DownloadSettings()
    )


def test_the_hosts_read_every_row_of_each_result_once_by_its_query_id(tmp_path: Path) -> None:
    session = FakeSession(chunk_rows=64)
    train_id, validation_id = session.store(_rows(0, 1000)), session.store(_rows(1000, 200))
    plan = _plan({"training": train_id, "validation": validation_id})

    data = [_load(session, plan, host, tmp_path) for host in HOSTS]

    reads = [(c.argument, c.what) for c in session.called("result_batches")]
    expected = [(train_id, "the training query"), (validation_id, "the validation query")]
    assert reads == expected * 2  # each host reopened each result once, by id
    train_labels = np.concatenate([d.train.get_label() for d in data])
    np.testing.assert_array_equal(np.sort(train_labels), np.arange(1000))
    validation_labels = np.concatenate([d.validation.get_label() for d in data])
    np.testing.assert_array_equal(np.sort(validation_labels), np.arange(1000, 1200))
    reports = [d.shard_report() for d in data]
    assert [(r["row_start"], r["row_end"], r["query_id"]) for r in reports] == [
        (0, 500, train_id),
        (500, 1000, train_id),
    ]
    assert [r["validation"]["rows"] for r in reports] == [100, 100]
    assert data[0].named_slices().keys() == {"training", "validation"}


def test_query_groups_are_never_split_between_hosts(tmp_path: Path) -> None:
    session = FakeSession(chunk_rows=7)
    sizes = (30, 5, 5, 60)  # an even row split (50 | 50) would cut the third group
    ranked = _rows(0, 100).append_column("G", pa.array(np.repeat(np.arange(4), sizes)))
    train_id = session.store(ranked)
    columns = ColumnSelection(("A", "B"), "Y", query_group="G")
    plan = QueryPlan(
        columns, DataSnapshot("submitted", {"training": train_id}, NOW), {"training": sizes}
    )

    data = [_load(session, plan, host, tmp_path) for host in HOSTS]

    assert [d.shard_report()["row_end"] for d in data] == [40, 100]
    assert [d.groups["training"].count for d in data] == [3, 1]
    np.testing.assert_array_equal(data[1].train.get_label(), np.arange(40, 100))


def test_groups_that_no_longer_add_up_to_the_result_are_refused(tmp_path: Path) -> None:
    session = FakeSession()
    train_id = session.store(_rows(0, 100))
    with pytest.raises(RuntimeError, match="has 100 rows but its query groups add up to 90"):
        open_slice(_host("algo-1"), session, train_id, "training", group_sizes=(40, 50))


def test_renewing_download_urls_reopens_the_same_result_through_the_session() -> None:
    session = FakeSession(chunk_rows=10)
    train_id = session.store(_rows(0, 30))
    batches, _ = open_slice(_host("algo-1"), session, train_id, "training")

    batches.renew(0)

    assert [c.argument for c in session.called("result_batches")] == [train_id, train_id]
    session.results[train_id] = _rows(0, 25)  # the result changed under the job
    with pytest.raises(UserError, match=f"Reopening the result of query {train_id} gave diff"):
        batches.renew(1)


def test_an_empty_result_says_what_to_check(tmp_path: Path) -> None:
    session = FakeSession()
    plan = _plan(
        {"training": session.store(_rows(0, 100)), "validation": session.store(_rows(0, 0))}
    )
    with pytest.raises(UserError, match="The validation query returned no rows: check the table"):
        _load(session, plan, "algo-1", tmp_path)


def test_an_expired_result_fails_with_snowflakes_reason(tmp_path: Path) -> None:
    session = FakeSession()
    train_id = session.store(_rows(0, 100))
    session.expire(train_id)
    with pytest.raises(UserError, match=f"the training query: Result for query {train_id} has"):
        _load(session, _plan({"training": train_id}), "algo-1", tmp_path)


def test_cross_validation_reads_each_fold_once_and_refuses_an_empty_fold(tmp_path: Path) -> None:
    session = FakeSession(chunk_rows=50)
    folds = {f"fold-{k + 1}": session.store(_rows(300 * k, 300)) for k in range(3)}
    plan = _plan(folds)
    with pytest.raises(ValueError, match="use load_fold_data"):
        _load(session, plan, "algo-1", tmp_path)
    session.calls.clear()

    data = load_fold_data(_host("algo-2"), session, plan, tmp_path, DownloadSettings())
    try:
        assert [c.argument for c in session.called("result_batches")] == list(folds.values())
        assert data.training_sets == ("fold-1", "fold-2", "fold-3")
        assert data.shard_report()["rows"] == 450  # the second half of each fold
        labels = data.all_rows(MatrixSettings()).get_label()
        expected = np.concatenate([np.arange(300 * k + 150, 300 * (k + 1)) for k in range(3)])
        np.testing.assert_array_equal(np.sort(labels), expected)
    finally:
        data.close()

    folds["fold-2"] = session.store(_rows(0, 0))
    with pytest.raises(UserError, match="Cross-validation fold-2 has no rows: the table has too"):
        load_fold_data(_host("algo-1"), session, _plan(folds), tmp_path, DownloadSettings())
