"""Each host's data over a fake session: which results it reads by id, which rows it reads, that
the hosts refuse to cut slices from different chunk lists, and the errors a user sees for an
empty or expired result.

No servers: ``support.fake_session`` holds the results as Arrow tables handed out in chunks, one
session per host over the same stored results (as every session of the job's user sees them).
Each host runs in its own thread with a real ``Hosts`` whose collective sum (the allgather
of ``check_same_chunk_list``) is exchanged between the threads. The same paths run through real
``train`` jobs against the stand-ins (``test_distributed``, ``test_downloads``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pytest
from support.fake_session import NOW, FakeSession

from snowflake_xgb.config.job_config import DownloadSettings, HostsSettings, MatrixSettings
from snowflake_xgb.errors import UserError
from snowflake_xgb.hosts.hosts import Hosts
from snowflake_xgb.loading.host_data import (
    FoldData,
    HostData,
    load_fold_data,
    load_host_data,
    open_slice,
)
from snowflake_xgb.model_files.columns import ColumnSelection
from snowflake_xgb.query.data_snapshot import DataSnapshot
from snowflake_xgb.query.query_plan import QueryPlan

COLUMNS = ColumnSelection(("A", "B"), "Y")
HOSTS = ["algo-1", "algo-2"]
EXCHANGE_TIMEOUT_SECONDS = 30  # a host that never joins an exchange fails the test, not hangs it
T = TypeVar("T")


class _Exchange:
    """Element-wise sums between the threads that stand for the hosts, as an allreduce."""

    def __init__(self, world: int) -> None:
        self._barrier = threading.Barrier(world, timeout=EXCHANGE_TIMEOUT_SECONDS)
        self._values: list[np.ndarray | None] = [None] * world

    def sum(self, rank: int, values: np.ndarray) -> np.ndarray:
        self._values[rank] = np.array(values, dtype=np.float64)
        self._barrier.wait()
        total = np.sum(self._values, axis=0)
        self._barrier.wait()  # every host has its sum before any host starts the next one
        return total


class _SimulatedHost(Hosts):
    """One host of the job: a real ``Hosts`` whose collective sum goes to the other threads."""

    def __init__(self, name: str, exchange: _Exchange) -> None:
        super().__init__(HOSTS, name, HostsSettings())
        self._exchange = exchange

    def sum(self, values: np.ndarray) -> np.ndarray:
        return self._exchange.sum(self.rank, values)


def _on_every_host(
    sessions: list[FakeSession], step: Callable[[Hosts, FakeSession], T]
) -> list[T | BaseException]:
    """``step`` on each host at once (one thread per host, each with its session): what each
    host returned or raised, in host order."""
    exchange = _Exchange(len(HOSTS))
    outcomes: list[T | BaseException | None] = [None] * len(HOSTS)

    def host(rank: int) -> None:
        try:
            outcomes[rank] = step(_SimulatedHost(HOSTS[rank], exchange), sessions[rank])
        except BaseException as error:  # handed to the test as it is
            outcomes[rank] = error

    threads = [threading.Thread(target=host, args=(rank,)) for rank in range(len(HOSTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * EXCHANGE_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a simulated host did not finish"
    return outcomes


def _succeeded(outcomes: list[T | BaseException]) -> list[T]:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def _sessions(session: FakeSession) -> list[FakeSession]:
    """One session per host, reading the same stored results."""
    return [session, *(session.another_session() for _ in HOSTS[1:])]


def _rows(start: int, count: int) -> pa.Table:
    """Rows whose label is their unique id: a matrix's labels say which rows it holds."""
    ids = np.arange(start, start + count, dtype=np.float64)
    return pa.table({"A": ids * 0.5, "B": ids % 7, "Y": ids})


def _plan(query_ids: dict[str, str], group_sizes: dict | None = None) -> QueryPlan:
    snapshot = DataSnapshot("submitted", query_ids, NOW)
    return QueryPlan(COLUMNS, snapshot, group_sizes or {})


def _load(
    sessions: list[FakeSession], plan: QueryPlan, work_dir: Path
) -> list[HostData | BaseException]:
    """Every host loads its data of ``plan``: what each host got or raised."""

    def load(hosts: Hosts, session: FakeSession) -> HostData:
        work = work_dir / hosts.current_host
        return load_host_data(hosts, session, plan, MatrixSettings(), work, DownloadSettings())

    return _on_every_host(sessions, load)


def _raised(outcomes: list, kind: type[BaseException], match: str) -> None:
    """Every host raised ``kind``, its message matching ``match``."""
    for outcome in outcomes:
        assert isinstance(outcome, kind), outcome
        assert re.search(match, str(outcome)), str(outcome)


def test_the_hosts_read_every_row_of_each_result_once_by_its_query_id(tmp_path: Path) -> None:
    session = FakeSession(chunk_rows=64)
    train_id, validation_id = session.store(_rows(0, 1000)), session.store(_rows(1000, 200))
    plan = _plan({"training": train_id, "validation": validation_id})
    sessions = _sessions(session)

    data = _succeeded(_load(sessions, plan, tmp_path))

    expected = [(train_id, "the training query"), (validation_id, "the validation query")]
    for host_session in sessions:  # each host read each result once, by id
        assert [(c.argument, c.what) for c in host_session.calls] == expected
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


def test_the_hosts_refuse_to_cut_slices_from_different_chunk_lists(tmp_path: Path) -> None:
    """Slices are cut at row positions: had one host been handed other chunks of a result, some
    rows would be read twice and others never. Every host stops before reading a row."""
    session = FakeSession(chunk_rows=64)
    train_id = session.store(_rows(0, 1000))
    sessions = [session, session.another_session(chunk_rows=50)]  # 16 chunks, and 20

    outcomes = _load(sessions, _plan({"training": train_id}), tmp_path)

    _raised(
        outcomes,
        UserError,
        f"^The hosts see different chunk lists for the result of query {train_id} "
        r"\(hosts \[1\] differ from host 0; this host: ",
    )
    assert [str(o).split("this host: ")[1][:20] for o in outcomes] == [
        "16 chunks, 1,000 row",
        "20 chunks, 1,000 row",
    ]
    assert [b.downloads for s in sessions for b in s.handed_out] == [0] * 36  # nothing read


def test_query_groups_are_never_split_between_hosts(tmp_path: Path) -> None:
    session = FakeSession(chunk_rows=7)
    sizes = (30, 5, 5, 60)  # an even row split (50 | 50) would cut the third group
    ranked = _rows(0, 100).append_column("G", pa.array(np.repeat(np.arange(4), sizes)))
    train_id = session.store(ranked)
    columns = ColumnSelection(("A", "B"), "Y", query_group="G")
    plan = QueryPlan(
        columns, DataSnapshot("submitted", {"training": train_id}, NOW), {"training": sizes}
    )

    data = _succeeded(_load(_sessions(session), plan, tmp_path))

    assert [d.shard_report()["row_end"] for d in data] == [40, 100]
    assert [d.groups["training"].count for d in data] == [3, 1]
    np.testing.assert_array_equal(data[1].train.get_label(), np.arange(40, 100))


def test_groups_that_no_longer_add_up_to_the_result_are_refused(tmp_path: Path) -> None:
    session = FakeSession()
    train_id = session.store(_rows(0, 100))
    outcomes = _on_every_host(
        _sessions(session),
        lambda hosts, s: open_slice(hosts, s, train_id, "training", group_sizes=(40, 50)),
    )
    _raised(outcomes, RuntimeError, "has 100 rows but its query groups add up to 90")


def test_renewing_download_urls_reads_the_same_result_by_id_through_the_session() -> None:
    session = FakeSession(chunk_rows=10)
    train_id = session.store(_rows(0, 30))
    opened = _succeeded(
        _on_every_host(
            _sessions(session), lambda hosts, s: open_slice(hosts, s, train_id, "training")
        )
    )
    session.calls.clear()
    (batches, _), _ = opened

    batches.renew(0)  # no allgather: a renewal is one host's own affair

    assert [c.argument for c in session.called("result_batches")] == [train_id]
    session.results[train_id] = _rows(0, 25)  # another chunk list than before
    with pytest.raises(UserError, match=f"Reading the result of query {train_id} again gave diff"):
        batches.renew(1)


def test_an_empty_result_says_what_to_check(tmp_path: Path) -> None:
    session = FakeSession()
    plan = _plan(
        {"training": session.store(_rows(0, 100)), "validation": session.store(_rows(0, 0))}
    )
    outcomes = _load(_sessions(session), plan, tmp_path)
    _raised(outcomes, UserError, "^The validation query returned no rows: check the table")


def test_an_expired_result_fails_with_snowflakes_reason(tmp_path: Path) -> None:
    session = FakeSession()
    train_id = session.store(_rows(0, 100))
    session.expire(train_id)
    outcomes = _load(_sessions(session), _plan({"training": train_id}), tmp_path)
    _raised(outcomes, UserError, f"the training query: Result for query {train_id} has")


def _load_folds(
    sessions: list[FakeSession], plan: QueryPlan, work_dir: Path
) -> list[FoldData | BaseException]:
    def load(hosts: Hosts, session: FakeSession) -> FoldData:
        work = work_dir / hosts.current_host
        work.mkdir(parents=True, exist_ok=True)
        return load_fold_data(hosts, session, plan, work, DownloadSettings())

    return _on_every_host(sessions, load)


def test_cross_validation_reads_each_fold_once_and_refuses_an_empty_fold(tmp_path: Path) -> None:
    session = FakeSession(chunk_rows=50)
    folds = {f"fold-{k + 1}": session.store(_rows(300 * k, 300)) for k in range(3)}
    plan = _plan(folds)
    sessions = _sessions(session)
    _raised(_load(sessions, plan, tmp_path), ValueError, "use load_fold_data")
    assert not any(s.calls for s in sessions)

    data = _succeeded(_load_folds(sessions, plan, tmp_path / "folds"))
    try:
        for host_session in sessions:  # each host read each fold's result once, by id
            assert [c.argument for c in host_session.calls] == list(folds.values())
        assert [d.training_sets for d in data] == [("fold-1", "fold-2", "fold-3")] * 2
        assert [d.shard_report()["rows"] for d in data] == [450, 450]  # half of each fold
        labels = [d.model_matrices(MatrixSettings())[0].get_label() for d in data]
        np.testing.assert_array_equal(np.sort(np.concatenate(labels)), np.arange(900))  # once
        second_half = np.concatenate([np.arange(300 * k + 150, 300 * (k + 1)) for k in range(3)])
        np.testing.assert_array_equal(np.sort(labels[1]), second_half)
    finally:
        for fold_data in data:
            fold_data.close()

    folds["fold-2"] = session.store(_rows(0, 0))
    outcomes = _load_folds(sessions, _plan(folds), tmp_path / "empty")
    _raised(outcomes, UserError, "^Cross-validation fold-2 has no rows: the table has too")
