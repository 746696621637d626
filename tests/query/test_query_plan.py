"""The coordinator's plan over a fake session: which statements run, which query ids the hosts
read, and how a resumed attempt reads the recorded rows again (reopened, time_travel, rerun).

No servers: ``support.fake_session`` answers as Snowflake would and records every call. The
same branches run through real ``train`` jobs against the stand-ins in ``test_data_snapshot``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from support.fake_session import NOW, FakeSession

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
    submitted = list(session.submitted_sql)
    assert plan.query_ids == dict(zip(["training", "validation"], submitted, strict=True))
    assert plan.snapshot.mode == data_snapshot.SUBMITTED and plan.snapshot.as_of is None
    # The snapshot's time is Snowflake's, read before the first query started.
    methods = [call.method for call in session.calls]
    assert methods[0] == "check_context"
    assert methods.index("current_time") < methods.index("submit")
    assert plan.snapshot.started_at == NOW
    assert _record(tmp_path)["query_ids"] == plan.query_ids
    assert _record(tmp_path)["mode"] == "submitted"


def test_a_first_attempt_as_of_a_time_reads_the_tables_then(tmp_path: Path) -> None:
    data = DataSpec(Source(table=TABLE, as_of=EARLIER), label="PRICE")
    session = FakeSession(COLUMNS)
    plan = plan_queries(session, data, tmp_path)
    assert plan.snapshot.mode == data_snapshot.TIME_TRAVEL and plan.snapshot.as_of == EARLIER
    (sql,) = session.submitted_sql.values()
    assert f"AT(TIMESTAMP => '{EARLIER}'::TIMESTAMP_TZ)" in sql


def test_a_resumed_attempt_reopens_results_snowflake_still_holds(tmp_path: Path) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_TABLE, tmp_path)

    plan = plan_queries(session, BY_TABLE, tmp_path)

    assert plan.query_ids == recorded  # the hosts read the very results trained on before
    assert plan.snapshot.mode == data_snapshot.REOPENED
    assert plan.snapshot.started_at == EARLIER
    assert sorted(c.argument for c in session.called("holds_result")) == sorted(recorded.values())
    assert not session.called("submit") and not session.called("describe")
    assert _record(tmp_path)["mode"] == "reopened"
    assert _record(tmp_path)["query_ids"] == recorded


def test_a_resumed_table_job_whose_results_are_gone_reads_the_tables_as_of_then(
    tmp_path: Path,
) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_TABLE, tmp_path)
    session.expire(recorded["validation"])  # one result gone is enough to read both again

    plan = plan_queries(session, BY_TABLE, tmp_path)

    assert plan.snapshot.mode == data_snapshot.TIME_TRAVEL
    assert plan.snapshot.as_of == EARLIER
    assert set(plan.query_ids.values()).isdisjoint(recorded.values())
    clause = f"AT(TIMESTAMP => '{EARLIER}'::TIMESTAMP_TZ)"
    assert [clause in session.submitted_sql[q] for q in plan.query_ids.values()] == [True, True]
    assert _record(tmp_path)["mode"] == "time_travel"
    assert _record(tmp_path)["query_ids"] == plan.query_ids


def test_a_time_travel_snowflake_refuses_says_how_to_go_on_and_keeps_the_record(
    tmp_path: Path,
) -> None:
    session = FakeSession(COLUMNS)
    recorded = _first_attempt(session, BY_TABLE, tmp_path)
    before = data_snapshot.record_path(tmp_path).read_bytes()
    session.expire(*recorded.values())
    session.refuse("AT(TIMESTAMP", "Time travel data is not available for table HOUSES.")

    with pytest.raises(UserError) as raised:
        plan_queries(session, BY_TABLE, tmp_path)

    message = str(raised.value)
    assert message.startswith("Snowflake could not run table DEMO.PUBLIC.HOUSES as of")
    assert "Time travel data is not available for table HOUSES." in message
    assert f"Resuming needs the tables as they were at {EARLIER}" in message
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

    assert plan.snapshot.mode == data_snapshot.RERUN and plan.snapshot.as_of is None
    assert set(plan.query_ids.values()).isdisjoint(recorded.values())
    assert all("AT(" not in session.submitted_sql[q] for q in plan.query_ids.values())
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


def test_text_features_get_their_categories_from_the_training_rows(tmp_path: Path) -> None:
    session = FakeSession([*COLUMNS, Column("TOWN", "TEXT")])
    session.answers["the distinct values of TOWN"] = [("Oslo",), ("Bergen",)]
    plan = plan_queries(session, BY_TABLE, None)
    (town,) = [f for f in plan.columns.encoding.features if f.name == "TOWN"]
    assert town.categories == ("Bergen", "Oslo")
    (read,) = session.called("fetch")
    # Bounded at max_categories + 1: enough to tell that there are too many.
    assert read.argument.endswith(f"LIMIT {BY_TABLE.max_categories + 1}")
    assert not data_snapshot.record_path(tmp_path).exists()  # no record folder: nothing written


def test_too_many_categories_names_the_column_and_the_count() -> None:
    session = FakeSession([*COLUMNS, Column("TOWN", "TEXT")])
    data = DataSpec(Source(table=TABLE), label="PRICE", max_categories=2)
    session.answers["the distinct values of TOWN"] = [("a",), ("b",), ("c",)]
    session.answers["the count of distinct values of TOWN"] = [(4123,)]
    with pytest.raises(UserError, match="Column TOWN has 4,123 distinct values, more than max_"):
        plan_queries(session, data)
    assert not session.called("submit")


def test_query_groups_with_null_ids_are_refused_by_count() -> None:
    session = FakeSession()
    session.answers["the training query groups"] = [(False, 3), (False, 5), (True, 2)]
    with pytest.raises(UserError, match=r"2 row\(s\) with a NULL group id \(QID\)"):
        read_group_sizes(session, "SELECT 1", "QID", "training")
    session.answers["the training query groups"] = [(False, 3), (False, 5)]
    assert read_group_sizes(session, "SELECT 1", "QID", "training") == (3, 5)
