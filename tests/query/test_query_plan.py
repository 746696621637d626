"""The coordinator's plan over a fake session: which statements run, which query ids the hosts
read, that a job reading its source more than once reads it at one point in time (the selection
runs once; every later statement reads its stored result), and how a resumed attempt reads the
recorded rows again (reopened, time_travel, rerun) with the recorded encoding.

No servers: ``support.fake_session`` answers as Snowflake would and records every call. The
same branches run through real ``train`` jobs against the stand-ins in ``test_data_snapshot``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from support.fake_session import NOW, Call, FakeSession

from snowflake_xgb.config.job_config import DataSpec, Source
from snowflake_xgb.errors import UserError
from snowflake_xgb.query import data_snapshot
from snowflake_xgb.query.query_plan import plan_queries, read_group_sizes
from snowflake_xgb.query.snowflake_session import Column

TABLE = "DEMO.PUBLIC.HOUSES"
COLUMNS = [Column("ROOMS", "FIXED"), Column("AREA", "REAL"), Column("PRICE", "REAL")]
BY_TABLE = DataSpec(Source(table=TABLE), label="PRICE", validation_fraction=0.2)
BY_QUERY = DataSpec(Source(query=f"SELECT * FROM {TABLE}"), label="PRICE", validation_fraction=0.2)
EARLIER = "2026-12-01T08:00:00.000000+00:00"


def _stored_result(query_id: str) -> str:
    return f"RESULT_SCAN('{query_id}')"


def _job_rows(session: FakeSession) -> str:
    """The query id of the job's rows: the one selection that read the source."""
    (run,) = session.called("run")
    assert run.what == "the job's rows"
    return [q for q, sql in session.submitted_sql.items() if sql == run.argument][-1]


def _reads_only(calls: list[Call], query_id: str) -> bool:
    """Every one of ``calls`` reads the stored result of ``query_id``, none the table itself."""
    return bool(calls) and all(
        _stored_result(query_id) in c.argument and TABLE not in c.argument for c in calls
    )


def _record(folder: Path) -> dict:
    return json.loads(data_snapshot.record_path(folder).read_text())


def _first_attempt(session: FakeSession, data: DataSpec, folder: Path) -> dict[str, str]:
    """An earlier attempt's plan, recorded in ``folder``; the session forgets its calls."""
    session.now = EARLIER
    plan = plan_queries(session, data, folder)
    session.calls.clear()
    session.now = NOW
    return plan.query_ids


def test_a_first_attempt_submits_each_query_once_and_records_them(tmp_path: Path) -> None:
    session = FakeSession(COLUMNS)
    plan = plan_queries(session, BY_TABLE, tmp_path)

    assert [c.what for c in session.called("submit")] == [
        "the training query",
        "the validation query",
    ]
    # The split reads the source twice: the selection runs once, and both sides are cut from
    # its stored result, so a row changed in between cannot land on both sides or on neither.
    rows = _job_rows(session)
    assert [c.method for c in session.calls if TABLE in c.argument] == ["describe", "run"]
    assert _reads_only(session.called("submit"), rows)
    submitted = [q for q in session.submitted_sql if q != rows]
    assert plan.query_ids == dict(zip(["training", "validation"], submitted, strict=True))
    assert (
        plan.snapshot.mode == data_snapshot.SnapshotMode.SUBMITTED and plan.snapshot.as_of is None
    )
    # The snapshot's time is Snowflake's, read before the source was read.
    methods = [call.method for call in session.calls]
    assert methods[0] == "check_context"
    assert methods.index("current_time") < methods.index("run")
    assert plan.snapshot.started_at == NOW
    assert _record(tmp_path)["query_ids"] == plan.query_ids
    assert _record(tmp_path)["mode"] == "submitted"


def test_a_first_attempt_as_of_a_time_reads_the_tables_then(tmp_path: Path) -> None:
    data = DataSpec(Source(table=TABLE, as_of=EARLIER), label="PRICE")
    session = FakeSession(COLUMNS)
    plan = plan_queries(session, data, tmp_path)
    assert (
        plan.snapshot.mode == data_snapshot.SnapshotMode.TIME_TRAVEL
        and plan.snapshot.as_of == EARLIER
    )
    (sql,) = session.submitted_sql.values()
    assert f"AT(TIMESTAMP => '{EARLIER}'::TIMESTAMP_TZ)" in sql
    assert not session.called("run")  # read once anyway: no statement to pin it


@pytest.mark.parametrize(
    ("data", "reads", "data_sets"),
    [
        (
            DataSpec(Source(table=TABLE), label="PRICE", cv_folds=3),
            ["the distinct values of TOWN"],
            ["fold-1", "fold-2", "fold-3"],
        ),
        (
            DataSpec(
                Source(table=TABLE), label="PRICE", validation_fraction=0.2, query_group="QID"
            ),
            [
                "the distinct values of TOWN",
                "the training query groups",
                "the validation query groups",
            ],
            ["training", "validation"],
        ),
    ],
    ids=["folds", "groups"],
)
def test_category_lists_group_sizes_and_folds_read_the_job_rows_stored_result(
    data: DataSpec, reads: list[str], data_sets: list[str]
) -> None:
    session = FakeSession([*COLUMNS, Column("TOWN", "TEXT"), Column("QID", "FIXED")])
    session.answers["the distinct values of TOWN"] = [("Oslo",)]
    session.answers["the training query groups"] = [(False, 4), (False, 6)]
    session.answers["the validation query groups"] = [(False, 2)]
    plan = plan_queries(session, data)

    rows = _job_rows(session)
    assert [c.what for c in session.called("fetch")] == reads
    assert _reads_only(session.called("fetch"), rows)
    assert _reads_only(session.called("submit"), rows)
    assert list(plan.query_ids) == data_sets
    assert rows not in plan.query_ids.values()  # the hosts read each data set's result by id


@pytest.mark.parametrize(
    "validation",
    [Source(table=f"{TABLE}_LATER"), Source(query=f"SELECT * FROM {TABLE}_LATER SAMPLE (10)")],
    ids=["validation_table", "validation_query"],
)
def test_a_separate_ranking_validation_source_is_read_at_one_point_in_time(
    validation: Source,
) -> None:
    """Its group sizes and its rows both read one stored result: a change in between (or a
    SAMPLE) cannot shift the groups the hosts cut at."""
    data = DataSpec(
        Source(table=TABLE), label="PRICE", validation_source=validation, query_group="QID"
    )
    session = FakeSession([*COLUMNS, Column("QID", "FIXED")])
    session.answers["the training query groups"] = [(False, 4), (False, 6)]
    session.answers["the validation query groups"] = [(False, 2)]
    plan = plan_queries(session, data)

    (pinned,) = [c for c in session.called("run") if c.what == "the job's validation rows"]
    assert f"{TABLE}_LATER" in pinned.argument
    rows = [q for q, sql in session.submitted_sql.items() if sql == pinned.argument][-1]
    validation_reads = [
        c
        for c in session.called("fetch") + session.called("submit")
        if c.what in ("the validation query groups", "the validation query")
    ]
    assert len(validation_reads) == 2 and _reads_only(validation_reads, rows)
    assert rows != plan.query_ids["validation"]  # the hosts read the ordered data set by id


def test_a_resumed_attempt_reopens_results_snowflake_still_holds(tmp_path: Path) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_TABLE, tmp_path)

    plan = plan_queries(session, BY_TABLE, tmp_path)

    assert plan.query_ids == recorded  # the hosts read the very results trained on before
    assert plan.snapshot.mode == data_snapshot.SnapshotMode.REOPENED
    assert plan.snapshot.started_at == EARLIER
    assert sorted(c.argument for c in session.called("holds_result")) == sorted(recorded.values())
    assert [c.method for c in session.calls] == ["check_context", "holds_result", "holds_result"]
    assert _record(tmp_path)["mode"] == "reopened"
    assert _record(tmp_path)["query_ids"] == recorded


@pytest.mark.parametrize("data", [BY_TABLE, DataSpec(Source(table=TABLE), label="PRICE")])
def test_the_record_names_the_statement_that_read_the_tables(
    tmp_path: Path, data: DataSpec
) -> None:
    """With a split, the pinned selection read the tables; without, the training query did."""
    session = FakeSession(COLUMNS)
    plan = plan_queries(session, data, tmp_path)
    reader = _job_rows(session) if data.validation_fraction else plan.query_ids["training"]
    assert TABLE in session.submitted_sql[reader]
    assert plan.snapshot.read_by == reader == _record(tmp_path)["read_by"]


def test_a_resumed_table_job_whose_results_are_gone_reads_the_tables_as_its_statement_did(
    tmp_path: Path,
) -> None:
    """Not as of the time the first attempt submitted: its statement saw the tables as of its
    own start, after compile and queue time (``AT(STATEMENT => ...)``)."""
    session = FakeSession(COLUMNS)
    _first_attempt(session, BY_TABLE, tmp_path)
    recorded = _record(tmp_path)
    session.expire(recorded["query_ids"]["validation"])  # one gone: both are read again

    plan = plan_queries(session, BY_TABLE, tmp_path)

    assert plan.snapshot.mode == data_snapshot.SnapshotMode.TIME_TRAVEL
    assert plan.snapshot.as_of == recorded["read_by"]
    assert set(plan.query_ids.values()).isdisjoint(recorded["query_ids"].values())
    # The tables as they were then, read once; both sides are cut from that result.
    clause = f"AT(STATEMENT => '{recorded['read_by']}')"
    rows = _job_rows(session)
    assert clause in session.submitted_sql[rows]
    assert _reads_only(session.called("submit"), rows)
    assert _record(tmp_path)["mode"] == "time_travel"
    assert _record(tmp_path)["query_ids"] == plan.query_ids


def test_a_time_travel_snowflake_refuses_says_how_to_go_on_and_keeps_the_record(
    tmp_path: Path,
) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_TABLE, tmp_path)
    before = data_snapshot.record_path(tmp_path).read_bytes()
    read_by = _record(tmp_path)["read_by"]
    session.expire(*recorded.values())
    session.refuse("AT(STATEMENT", "Time travel data is not available for table HOUSES.")

    with pytest.raises(UserError) as raised:
        plan_queries(session, BY_TABLE, tmp_path)

    message = str(raised.value)
    assert message.startswith("Snowflake could not run table DEMO.PUBLIC.HOUSES as of")
    assert "Time travel data is not available for table HOUSES." in message
    assert f"Resuming needs the tables as they were at {read_by}" in message
    assert "empty the checkpoint location and start again" in message
    assert not session.called("submit")
    assert data_snapshot.record_path(tmp_path).read_bytes() == before


def test_a_resumed_query_job_whose_results_are_gone_runs_the_query_again_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_QUERY, tmp_path)
    session.expire(*recorded.values())

    with caplog.at_level(logging.WARNING, logger="snowflake_xgb.query.query_plan"):
        plan = plan_queries(session, BY_QUERY, tmp_path)

    assert plan.snapshot.mode == data_snapshot.SnapshotMode.RERUN and plan.snapshot.as_of is None
    assert set(plan.query_ids.values()).isdisjoint(recorded.values())
    assert "AT(" not in session.submitted_sql[_job_rows(session)]
    assert _reads_only(session.called("submit"), _job_rows(session))
    assert "running the query again" in caplog.text and "may differ" in caplog.text
    assert _record(tmp_path)["mode"] == "rerun"


def test_a_rerun_snowflake_refuses_fails_with_snowflakes_reason_only(tmp_path: Path) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_QUERY, tmp_path)
    session.expire(*recorded.values())
    session.refuse(TABLE, "Object 'DEMO.PUBLIC.HOUSES' does not exist or not authorized.")

    with pytest.raises(UserError, match="does not exist or not authorized") as raised:
        plan_queries(session, BY_QUERY, tmp_path)
    assert "Resuming needs" not in str(raised.value)  # no Time Travel hint for a query


@pytest.mark.parametrize("data", [BY_TABLE, BY_QUERY], ids=["time_travel", "rerun"])
def test_a_resumed_job_whose_results_are_gone_keeps_the_recorded_encoding(
    tmp_path: Path, data: DataSpec
) -> None:
    """A category that appeared since the first attempt (and sorts first) must not shift every
    later code under the checkpoint's trees: the recorded list is kept, and not read again."""
    session = FakeSession([*COLUMNS, Column("TOWN", "TEXT")])
    session.answers["the distinct values of TOWN"] = [("Oslo",), ("Bergen",)]
    recorded = _first_attempt(session, data, tmp_path)
    session.expire(*recorded.values())
    session.answers["the distinct values of TOWN"] = [("Oslo",), ("Bergen",), ("Alta",)]

    plan = plan_queries(session, data, tmp_path)

    assert plan.snapshot.mode != data_snapshot.SnapshotMode.REOPENED
    (town,) = [f for f in plan.columns.encoding.features if f.name == "TOWN"]
    assert town.categories == ("Bergen", "Oslo")
    assert not session.called("fetch")
    assert _record(tmp_path)["query_ids"] == plan.query_ids


def test_text_features_get_their_categories_from_the_training_rows(tmp_path: Path) -> None:
    session = FakeSession([*COLUMNS, Column("TOWN", "TEXT")])
    session.answers["the distinct values of TOWN"] = [("Oslo",), ("Bergen",)]
    plan = plan_queries(session, BY_TABLE, None)
    (town,) = [f for f in plan.columns.encoding.features if f.name == "TOWN"]
    assert town.categories == ("Bergen", "Oslo")
    (read,) = session.called("fetch")
    # Bounded at max_categories + 1: enough to tell that there are too many.
    assert read.argument.endswith(f"LIMIT {BY_TABLE.max_categories + 1}")
    assert _reads_only([read], _job_rows(session))  # the training side of the stored rows
    assert not data_snapshot.record_path(tmp_path).exists()  # no record folder: nothing written


def test_too_many_categories_names_the_column_and_the_count() -> None:
    session = FakeSession([*COLUMNS, Column("TOWN", "TEXT")])
    data = DataSpec(Source(table=TABLE), label="PRICE", max_categories=2)
    session.answers["the distinct values of TOWN"] = [("a",), ("b",), ("c",)]
    session.answers["the count of distinct values of TOWN"] = [(4123,)]
    with pytest.raises(UserError, match="Column TOWN has 4,123 distinct values, more than max_"):
        plan_queries(session, data)
    assert _reads_only(session.called("fetch"), _job_rows(session))
    assert not session.called("submit")  # no data set is submitted for the hosts


def test_query_groups_with_null_ids_are_refused_by_count() -> None:
    session = FakeSession()
    session.answers["the training query groups"] = [(False, 3), (False, 5), (True, 2)]
    with pytest.raises(UserError, match=r"2 row\(s\) with a NULL group id \(QID\)"):
        read_group_sizes(session, "SELECT 1", "QID", "training")
    session.answers["the training query groups"] = [(False, 3), (False, 5)]
    assert read_group_sizes(session, "SELECT 1", "QID", "training") == (3, 5)
