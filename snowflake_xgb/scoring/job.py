"""The scoring job's steps, in order: model, plan, this host's slice, predictions, publish.

Every host loads the model from its ``model`` channel. The coordinator checks that the model
can score the source's columns and that the target can take the job's columns, makes the job's
own table (which also proves the role's grants) and submits the rows query once: all before any
row is written. Every host then reads its exact slice of that result by id (the training
loader's path: ``loading.host_data.open_slice``, ``loading.slices.iter_arrow``), predicts it in
blocks of ``BLOCK_ROWS`` and loads the predictions into the job's table (``write_back``). Once
every host has, the coordinator publishes the table in one step and writes
``output/data/scoring.json``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..credentials.snowflake_environment import SnowflakeEnvironment
from ..hosts.hosts import Hosts, statement_bound
from ..identifiers import quote, stored_name
from ..loading.host_data import open_slice
from ..loading.sharding import host_row_range, plan_batch_slices
from ..loading.slices import HostSlice, iter_arrow
from ..model_files import outputs
from ..query.queries import source_sql
from ..query.snowflake_session import open_session
from ..sagemaker.job_environment import JobEnvironment
from ..sagemaker_layout import INPUT_DATA_DIR
from . import write_back
from .score_config import ScoreConfig
from .scoring_model import MODEL_CHANNEL, ScoringModel, check_source_columns, load_scoring_model
from .scoring_model import model_folder as find_model_folder
from .write_back import PredictionFiles, Tables

logger = logging.getLogger(__name__)

BLOCK_ROWS = 65_536  # rows predicted at once: bounds the float32 matrix and output columns
SCORING_REPORT = "scoring.json"
SCORED = "scored"  # the data set's name in log lines


@dataclass(frozen=True)
class ScoringPlan:
    """What the coordinator decided and submitted, shared with every host."""

    query_id: str
    tables: Tables
    target_exists: bool


def rows_sql(config: ScoreConfig, model: ScoringModel) -> str:
    """The rows query: the keys and the model's features, nothing else."""
    keys = {stored_name(key) for key in config.keys}
    features = [quote(name) for name in model.feature_names if name not in keys]
    names = [*(quote(stored_name(key)) for key in config.keys), *features]
    return f"SELECT {', '.join(names)} FROM ({source_sql(config.source)})"


def plan_scoring(
    env: SnowflakeEnvironment, config: ScoreConfig, model: ScoringModel
) -> ScoringPlan:
    """Coordinator only: every check, the job's table, and the rows query submitted once."""
    with open_session(env, config.query_timeout_seconds, keeps_queries=True) as session:
        session.check_context()
        source = source_sql(config.source)
        described = session.describe(source, config.source.describe())
        check_source_columns(model, [(c.name, c.type_name) for c in described], config.keys)
        tables = Tables.for_target(config.target_table)
        select = write_back.output_select(source, config.keys, model.output_columns())
        wanted = session.describe(select, "the columns this job writes")
        existing = session.table_columns(tables.target, f"the target table {tables.target}")
        write_back.check_target(existing, wanted, tables.target)
        write_back.create_job_table(session, tables, select)
        query_id = session.submit(rows_sql(config, model), "the rows to score")
        logger.info("Rows to score: query %s; predictions go to %s", query_id, tables.job_table)
        return ScoringPlan(query_id, tables, existing is not None)


def score_slice(
    hosts: Hosts,
    env: SnowflakeEnvironment,
    config: ScoreConfig,
    model: ScoringModel,
    plan: ScoringPlan,
    work_dir: Path,
) -> tuple[int, HostSlice]:
    """This host's rows: read, predicted, loaded into the job's table. (rows loaded, slice)."""
    with open_session(env, config.query_timeout_seconds) as session:
        batches, host_slice = open_slice(hosts, session, plan.query_id, SCORED)
        files = PredictionFiles(work_dir, hosts.rank)
        try:
            for table in iter_arrow(batches, host_slice, settings=config.downloads):
                for start in range(0, table.num_rows, BLOCK_ROWS):
                    block = table.slice(start, BLOCK_ROWS)
                    predictions = model.predict(model.features(block))
                    keys = block.select(range(len(config.keys)))
                    columns = dict(zip(keys.column_names, keys.columns, strict=True))
                    files.write(pa.table({**columns, **predictions}))
            if model.contributions:
                mine = prediction_blocks(batches.row_counts, hosts.rank, hosts.world)
                most = max(
                    prediction_blocks(batches.row_counts, rank, hosts.world)
                    for rank in range(hosts.world)
                )
                model.match_matrix_steps(most - mine)
        finally:
            files.close()
        loaded = write_back.load_files(session, plan.tables, files)
    logger.info("Scored and loaded %s rows into %s", f"{loaded:,}", plan.tables.job_table)
    return loaded, host_slice


def prediction_blocks(row_counts: list[int], rank: int, world: int) -> int:
    """How many blocks host ``rank`` predicts (one per ``BLOCK_ROWS`` of each batch slice)."""
    rows = host_row_range(sum(row_counts), rank, world)
    return sum(
        -(-batch_slice.length // BLOCK_ROWS) for batch_slice in plan_batch_slices(row_counts, rows)
    )


def run_scoring_job(job: JobEnvironment, config: ScoreConfig, env: SnowflakeEnvironment) -> None:
    """Every host's part of a scoring job."""
    with tempfile.TemporaryDirectory(prefix="snowflake_xgb_score_") as work_dir:
        # Every host has the same channel: a model that cannot be used fails on each at once.
        folder = find_model_folder(job.base_dir / INPUT_DATA_DIR / MODEL_CHANNEL, Path(work_dir))
        model = load_scoring_model(folder, config.contributions)
        with Hosts(job.hosts, job.current_host, config.hosts) as hosts:
            with hosts.step("Planning the scoring"):
                plan = hosts.decide(
                    lambda: plan_scoring(env, config, model),
                    "planning the scoring",
                    statement_bound(config.query_timeout_seconds),
                )
            with hosts.step("Scoring"):
                loaded, host_slice = score_slice(hosts, env, config, model, plan, Path(work_dir))
                # A host whose slice or COPY INTO takes longer is busy, not gone: wait for it by
                # the statement bound before the exchange (which has the collective bound).
                hosts.wait_for_hosts(
                    "the end of scoring", statement_bound(config.query_timeout_seconds)
                )
                per_host = hosts.gather(float(loaded))
            outputs.write_shard_report(
                job.output_data_dir,
                job.current_host,
                {
                    "host": job.current_host,
                    "rank": hosts.rank,
                    "query_id": plan.query_id,
                    "row_start": host_slice.rows.start,
                    "row_end": host_slice.rows.end,
                    "rows": host_slice.rows.rows,
                    "total_rows": host_slice.total_rows,
                },
            )
            if hosts.is_coordinator:
                with open_session(env, config.query_timeout_seconds) as session:
                    write_back.publish(
                        session, plan.tables, host_slice.total_rows, plan.target_exists
                    )
                report = {
                    "query_id": plan.query_id,
                    "target_table": plan.tables.target,
                    "rows": host_slice.total_rows,
                    "rows_per_host": dict(zip(hosts.names, map(int, per_host), strict=True)),
                    "columns": [c.name for c in model.output_columns()],
                }
                outputs.write_json(job.output_data_dir / SCORING_REPORT, report)
