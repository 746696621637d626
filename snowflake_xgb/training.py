"""The training job: the entry point sagemaker-training runs, and ``xgb.train`` across hosts.

``main`` reads the job's configuration, bootstraps credentials, joins the host group, has the
coordinator plan and submit the queries, streams this host's slice of each result into a
matrix, trains (resuming from a checkpoint when there is one) and has the coordinator write
the model. The steps themselves live in their own modules; this one only orders them.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from . import checkpoints, interruption, outputs, script_mode
from .config import JobConfig, parse_hyperparameters
from .credentials import (
    SnowflakeCredentials,
    bootstrap_credentials,
    refuse_hyperparameters_containing,
)
from .errors import UserError
from .host_group import HostGroup
from .job_environment import JobEnvironment
from .loading import HostSlice, build_matrix, iter_arrow
from .queries import ColumnSelection, job_queries, select_columns, source_sql
from .snowflake_session import SnowflakeSession, open_session

logger = logging.getLogger(__name__)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Log the start and end of a step of the job, with its duration."""
    logger.info("%s: started", name)
    started = time.monotonic()
    yield
    logger.info("%s: done in %.1fs", name, time.monotonic() - started)


def _xgboost_message(error: xgb.core.XGBoostError) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return re.sub(r"^\[[\d:]+\] \S+: ", "", lines[0] if lines else "")


def check_xgboost_params(params: dict[str, Any]) -> None:
    """Let XGBoost validate names' values (ranges, objective, tree method) before any I/O."""
    try:
        probe = xgb.DMatrix(np.ones((2, 2), dtype=np.float32))
        # num_feature stands in for the data XGBoost would otherwise want before configuring.
        xgb.Booster({**params, "num_feature": 2}, [probe]).save_config()
    except xgb.core.XGBoostError as error:
        raise UserError(f"Invalid XGBoost hyperparameter: {_xgboost_message(error)}") from None


class MetricPrinter(xgb.callback.TrainingCallback):
    """Prints ``[round]<TAB>train-rmse:...<TAB>validation-rmse:...``, one line per round.

    This is XGBoost's own monitor format, which SageMaker metric definitions parse; XGBoost's
    monitor itself prefixes a timestamp when distributed, so the coordinator prints instead.
    """

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        scores = "".join(
            f"\t{data_name}-{metric}:{values[-1]:.5f}"
            for data_name, metrics in evals_log.items()
            for metric, values in metrics.items()
        )
        # Rounds of a resumed job go on from the checkpoint's (XGBoost's epoch starts at 0).
        print(f"[{model.num_boosted_rounds() - 1}]{scores}", flush=True)
        return False


@dataclass(frozen=True)
class QueryPlan:
    """What the coordinator decided and submitted, shared with every host."""

    columns: ColumnSelection
    train_query_id: str
    validation_query_id: str | None


def plan_queries(session: SnowflakeSession, config: JobConfig) -> QueryPlan:
    """Coordinator only: check the source, resolve the columns and submit the queries once."""
    session.check_context()
    described = session.describe(source_sql(config.source), config.source.describe())
    columns = select_columns(described, config)
    queries = job_queries(config, columns)
    if queries.validation and config.validation_source:
        session.describe(queries.validation, config.validation_source.describe() + " (validation)")
    train_id = session.submit(queries.train, "the training query")
    validation_id = None
    if queries.validation:
        validation_id = session.submit(queries.validation, "the validation query")
    logger.info("Training query id %s, validation query id %s", train_id, validation_id)
    return QueryPlan(columns, train_id, validation_id)


def share_query_plan(
    group: HostGroup, credentials: SnowflakeCredentials, config: JobConfig
) -> QueryPlan:
    """Run the planning on the coordinator; every host gets the plan or the same error."""

    def plan() -> QueryPlan:
        with open_session(credentials, config.query_timeout_seconds) as session:
            return plan_queries(session, config)

    return group.decide(plan, "planning the queries")


@dataclass
class HostData:
    """This host's matrices and the slices they were built from."""

    train: xgb.DMatrix
    train_slice: HostSlice
    validation: xgb.DMatrix | None
    validation_slice: HostSlice | None


def load_host_data(
    group: HostGroup,
    session: SnowflakeSession,
    plan: QueryPlan,
    config: JobConfig,
    work_dir: Path,
) -> HostData:
    """Read this host's exact slice of each result into XGBoost matrices."""
    params = config.xgboost_params

    def slice_of(query_id: str, name: str) -> tuple[list, HostSlice]:
        batches = session.result_batches(query_id, f"the {name} query")
        host_slice = HostSlice.plan(name, query_id, batches, group.rank, group.world)
        if host_slice.total_rows == 0:
            raise UserError(
                f"The {name} query returned no rows: check the table, the query's filters and "
                "the role's row access policies (and validation_fraction on small tables)."
            )
        logger.info(
            "%s data: %s rows in %d batch(es); this host reads rows [%d, %d)",
            name, f"{host_slice.total_rows:,}", len(batches),
            host_slice.rows.start, host_slice.rows.end,
        )  # fmt: skip
        return batches, host_slice

    columns = plan.columns.all
    train_batches, train_slice = slice_of(plan.train_query_id, "training")
    with phase("Loading training data"):
        train, _ = build_matrix(
            lambda: iter_arrow(train_batches, train_slice, columns),
            plan.columns, "training", params, work_dir, config.external_memory,
        )  # fmt: skip
    validation, validation_slice = None, None
    if plan.validation_query_id:
        validation_batches, validation_slice = slice_of(plan.validation_query_id, "validation")
        with phase("Loading validation data"):
            validation, _ = build_matrix(
                lambda: iter_arrow(validation_batches, validation_slice, columns),
                plan.columns, "validation", params, work_dir, config.external_memory, train,
            )  # fmt: skip
    return HostData(train, train_slice, validation, validation_slice)


def _slice_report(host_slice: HostSlice) -> dict[str, Any]:
    return {
        "row_start": host_slice.rows.start,
        "row_end": host_slice.rows.end,
        "rows": host_slice.rows.rows,
        "total_rows": host_slice.total_rows,
        "query_id": host_slice.query_id,
    }


def starting_model(group: HostGroup, checkpoint_dir: Path | None) -> xgb.Booster | None:
    """The newest checkpoint, read by the coordinator and shared, so all hosts start alike."""
    raw = None
    if group.is_coordinator and checkpoint_dir is not None:
        latest = checkpoints.latest_checkpoint(checkpoint_dir)
        if latest is not None:
            logger.info("Resuming from checkpoint %s (%d rounds)", latest[1].name, latest[0])
            raw = latest[1].read_bytes()
    raw = group.broadcast(raw)
    if raw is None:
        return None
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def train_booster(
    group: HostGroup,
    config: JobConfig,
    data: HostData,
    start: xgb.Booster | None,
    checkpoint_dir: Path | None,
) -> tuple[xgb.Booster, dict[str, Any]]:
    """``xgb.train`` on every host; the coordinator prints the per-round metric lines."""
    evals = [(data.train, "train")]
    if data.validation is not None:
        evals.append((data.validation, "validation"))
    done = start.num_boosted_rounds() if start is not None else 0
    callbacks: list[xgb.callback.TrainingCallback] = []
    if group.is_coordinator:
        callbacks.append(MetricPrinter())
        if checkpoint_dir is not None:
            callbacks.append(
                checkpoints.CheckpointCallback(checkpoint_dir, config.checkpoint_frequency)
            )
    # Every host: on SIGTERM all stop at the same round; the coordinator saves a checkpoint.
    callbacks.append(interruption.StopOnSignal(checkpoint_dir if group.is_coordinator else None))
    evals_result: dict[str, Any] = {}
    remaining = config.num_round - done
    if remaining <= 0:
        logger.info("The checkpoint already has %d rounds; nothing left to train", done)
        return start, evals_result
    booster = xgb.train(
        config.xgboost_params,
        data.train,
        num_boost_round=remaining,
        evals=evals,
        evals_result=evals_result,
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
        xgb_model=start,
        callbacks=callbacks,
    )
    return booster, evals_result


def _final_metrics(evals_result: dict[str, Any], index: int) -> dict[str, float]:
    return {
        f"{data_name}-{metric}": float(values[max(0, min(index, len(values) - 1))])
        for data_name, metrics in evals_result.items()
        for metric, values in metrics.items()
        if values
    }


def save_final_model(
    job: JobEnvironment,
    config: JobConfig,
    plan: QueryPlan,
    rows_per_host: dict[str, int],
    booster: xgb.Booster,
    evals_result: dict[str, Any],
    start: xgb.Booster | None,
) -> None:
    """Coordinator only: write the model (cut at the best round) and its metadata."""
    rounds_trained = booster.num_boosted_rounds()
    first_round = start.num_boosted_rounds() if start is not None else 0
    best_iteration = int(booster.attr("best_iteration") or rounds_trained - 1)
    model = booster[: best_iteration + 1] if best_iteration + 1 < rounds_trained else booster
    metadata = {
        "feature_names": list(plan.columns.features),
        "label": plan.columns.label,
        "xgboost_params": config.xgboost_params,
        "num_round": config.num_round,
        "rounds_trained": rounds_trained,
        "best_iteration": best_iteration,
        "resumed_from_round": first_round or None,
        "hosts": list(rows_per_host),
        "rows_per_host": rows_per_host,
        "rows": sum(rows_per_host.values()),
        "query_ids": {"training": plan.train_query_id, "validation": plan.validation_query_id},
        "final_metrics": _final_metrics(evals_result, best_iteration - first_round),
    }
    path = outputs.save_model(job.model_dir, model, metadata)
    logger.info("Model written to %s", path)


def run_job(job: JobEnvironment, config: JobConfig, credentials: SnowflakeCredentials) -> None:
    """Everything after configuration and credentials, on one host of the group."""
    group = HostGroup(
        job.hosts,
        job.current_host,
        config.tracker_port,
        config.host_timeout_seconds,
        config.collective_timeout_seconds,
    )
    step = "joining the host group"
    with tempfile.TemporaryDirectory(prefix="snowflake_xgb_") as work_dir, group:
        try:
            step = "query planning"
            plan = share_query_plan(group, credentials, config)
            step = "data loading"
            with open_session(credentials, config.query_timeout_seconds) as session:
                data = load_host_data(group, session, plan, config, Path(work_dir))
            report = {
                "host": job.current_host,
                "rank": group.rank,
                "hosts": list(group.hosts),
                **_slice_report(data.train_slice),
            }
            if data.validation_slice is not None:
                report["validation"] = _slice_report(data.validation_slice)
            outputs.write_shard_report(job.output_data_dir, job.current_host, report)
            rows = group.gather(data.train_slice.rows.rows)
            rows_per_host = {host: int(n) for host, n in zip(group.hosts, rows, strict=True)}

            step = "training"
            start = starting_model(group, job.checkpoint_dir)
            if start is not None:
                checkpoints.check_resumable(
                    start, plan.columns.features, config.num_round, job.checkpoint_dir
                )
            with phase("Training"):
                booster, evals_result = train_booster(
                    group, config, data, start, job.checkpoint_dir
                )
        except xgb.core.XGBoostError as error:
            if group.is_distributed:
                raise group.explain_collective_failure(error, step) from None
            raise
        if group.is_coordinator:
            # Still inside the group: the other hosts leave, and exit, once the model is
            # written (SageMaker's local mode stops every host as soon as one exits).
            save_final_model(job, config, plan, rows_per_host, booster, evals_result, start)


def main() -> None:
    """Entry point for sagemaker-training (``SAGEMAKER_TRAINING_MODULE``)."""
    interruption.install()  # SIGTERM (spot interruption, stop): stop cleanly, promptly
    job = JobEnvironment.from_environ()
    if script_mode.user_entry_point(job):  # the job names the user's own script
        script_mode.run_user_script(job)  # secrets bootstrap first, then the script
        return
    config = parse_hyperparameters(job.raw_hyperparameters)
    check_xgboost_params(config.xgboost_params)
    credentials = bootstrap_credentials()
    refuse_hyperparameters_containing(credentials.secret_values(), job.raw_hyperparameters)
    run_job(job, config, credentials)
