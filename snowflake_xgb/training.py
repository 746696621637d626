"""The training job: the entry point sagemaker-training runs, in the order of its steps.

``main`` reads the job's configuration, bootstraps credentials, joins the other hosts, has the
coordinator plan and submit the queries, streams this host's slice of each result into a
matrix, trains (resuming from a checkpoint when there is one) and has the coordinator write
the model. With ``cv_folds``, training is cross-validation first, then (``cv_final_model``) the
model on all rows for the rounds it chose. The steps live in their own modules; this one only
orders them.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import xgboost as xgb

from . import redaction, script_mode
from .boosting import checkpoints, cross_validation, interruption
from .boosting.callbacks import MetricPrinter
from .boosting.cross_validation import CVResult
from .boosting.model_metadata import CrossValidationSummary, ModelMetadata
from .boosting.target_metrics import TargetMetrics
from .boosting.trained import TrainedBooster
from .config.job_config import JobConfig, parse_hyperparameters
from .config.xgboost_params import check_xgboost_params
from .credentials.bootstrap import bootstrap_credentials
from .credentials.snowflake_environment import SnowflakeEnvironment
from .data_sets import TRAIN_EVAL, VALIDATION_EVAL
from .hosts.hosts import Hosts
from .loading.host_data import LoadedData, check_binary_labels, load_fold_data, load_host_data
from .model_files import outputs
from .query.query_plan import QueryPlan, share_query_plan
from .query.snowflake_session import cancelled_on_failure, open_session
from .report import job_report
from .report.page import HostRows, write_report
from .report.validation_scores import ScoreCounts
from .sagemaker import failure
from .sagemaker.job_environment import JobEnvironment
from .scoring.job import run_scoring_job
from .scoring.score_config import is_scoring_job, parse_score_hyperparameters
from .tracking import mlflow_run
from .tracking.mlflow_run import TrackedRun

logger = logging.getLogger(__name__)


def starting_model(hosts: Hosts, checkpoint_dir: Path | None) -> xgb.Booster | None:
    """The newest checkpoint, read by the coordinator and shared, so all hosts start alike."""
    raw = None
    if hosts.is_coordinator and checkpoint_dir is not None:
        latest = checkpoints.latest_checkpoint(checkpoint_dir)
        if latest is not None:
            logger.info("Resuming from checkpoint %s (%d rounds)", latest[1].name, latest[0])
            raw = latest[1].read_bytes()
    raw = hosts.broadcast(raw)
    if raw is None:
        return None
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def train_booster(
    hosts: Hosts,
    config: JobConfig,
    train: xgb.DMatrix,
    validation: xgb.DMatrix | None,
    start: xgb.Booster | None,
    checkpoint_dir: Path | None,
    tracking: TrackedRun | None = None,
    labels: tuple[str, ...] = (),
) -> TrainedBooster:
    """``xgb.train`` on every host; the coordinator prints the per-round metric lines (with
    each label's own metrics when there are several ``labels``, as the result names them)."""
    evals = [(train, TRAIN_EVAL)]
    if validation is not None:
        evals.append((validation, VALIDATION_EVAL))
    done = start.num_boosted_rounds() if start is not None else 0
    callbacks: list[xgb.callback.TrainingCallback] = []
    if len(labels) > 1:  # every host: the sums are over all hosts' rows
        callbacks.append(TargetMetrics(evals, labels, hosts.sum))
    if hosts.is_coordinator:
        callbacks.append(MetricPrinter())
        if tracking is not None:
            callbacks.append(mlflow_run.MetricLogger(tracking))
        if checkpoint_dir is not None:
            callbacks.append(
                checkpoints.CheckpointCallback(checkpoint_dir, config.checkpoint_frequency)
            )
    # Every host: on SIGTERM all stop at the same round; the coordinator saves a checkpoint.
    callbacks.append(interruption.StopOnSignal(checkpoint_dir if hosts.is_coordinator else None))
    remaining = config.num_round - done
    if remaining <= 0:
        logger.info("The checkpoint already has %d rounds; nothing left to train", done)
        return TrainedBooster(start, {}, done)
    evals_result: dict[str, Any] = {}
    booster = xgb.train(
        config.xgboost_params,
        train,
        num_boost_round=remaining,
        evals=evals,
        evals_result=evals_result,
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
        xgb_model=start,
        callbacks=callbacks,
    )
    return TrainedBooster(booster, evals_result, done)


def model_metadata(
    config: JobConfig,
    plan: QueryPlan,
    rows_per_host: dict[str, int],
    trained: TrainedBooster,
    cv_result: CVResult | None,
    tracking_run_id: str | None = None,
) -> ModelMetadata:
    """What ``metadata.json`` says about the model: its data, parameters, rounds and metrics."""
    return ModelMetadata(
        columns=plan.columns,
        xgboost_params=config.xgboost_params,
        num_round=config.num_round,
        rounds_trained=trained.rounds_trained,
        best_iteration=trained.best_iteration,
        resumed_from_round=trained.first_round or None,
        rows_per_host=rows_per_host,
        query_ids=plan.query_ids,
        data_snapshot=plan.snapshot,
        final_metrics=trained.final_metrics(),
        mlflow_run_id=tracking_run_id,
        cross_validation=CrossValidationSummary.of(cv_result) if cv_result else None,
    )


def record_outputs(
    tracking: TrackedRun, job: JobEnvironment, model: xgb.Booster, metadata: ModelMetadata
) -> None:
    """Coordinator only: the data's provenance, the output files and the model, in MLflow."""
    tracking.set_tags(mlflow_run.data_tags(metadata))
    files = sorted([*job.model_dir.glob("*.json"), *job.output_data_dir.rglob("*")])
    tracking.log_artifacts([p for p in files if p.is_file()])
    tracking.log_model(model, list(metadata.columns.features))
    tracking.finish()


def start_tracking(hosts: Hosts, job: JobEnvironment) -> TrackedRun | None:
    """The coordinator's MLflow run, when ``MLFLOW_TRACKING_URI`` is set; None elsewhere."""
    if not hosts.is_coordinator:
        return None
    return mlflow_run.start_run(
        job.checkpoint_dir, os.environ.get("TRAINING_JOB_NAME"), job.raw_hyperparameters
    )


def plan_queries(
    hosts: Hosts, job: JobEnvironment, config: JobConfig, env: SnowflakeEnvironment
) -> QueryPlan:
    """The coordinator plans and submits the queries; every host gets the plan."""
    with hosts.step("Planning the queries"):
        plan = share_query_plan(
            hosts, env, config.data, config.query_timeout_seconds, job.checkpoint_dir
        )
        plan.columns.encoding.label.check_num_class(config.objective, config.num_class)
    return plan


def load_data(
    hosts: Hosts,
    job: JobEnvironment,
    config: JobConfig,
    env: SnowflakeEnvironment,
    plan: QueryPlan,
    work_dir: Path,
) -> tuple[LoadedData, list[HostRows]]:
    """This host's slice of each result (of each fold, with ``cv_folds``), its shard report,
    and every host's rows of each data set (one sum over the hosts)."""
    # The coordinator cancels the queries still running when loading fails or is stopped.
    running = plan.query_ids if hosts.is_coordinator else {}
    with (
        hosts.step("Loading data"),
        cancelled_on_failure(env, config.query_timeout_seconds, running),
    ):
        with open_session(env, config.query_timeout_seconds) as session:
            data: LoadedData
            if config.data.cv_folds:
                data = load_fold_data(hosts, session, plan, work_dir, config.downloads)
            else:
                data = load_host_data(
                    hosts, session, plan, config.matrix_settings, work_dir, config.downloads
                )
        report = {"host": job.current_host, "rank": hosts.rank, "hosts": list(hosts.names)}
        outputs.write_shard_report(
            job.output_data_dir, job.current_host, {**report, **data.shard_report()}
        )
        return data, job_report.gather_host_rows(hosts, data)


def run_cross_validation(
    hosts: Hosts,
    job: JobEnvironment,
    config: JobConfig,
    plan: QueryPlan,
    data: LoadedData,
    tracking: TrackedRun | None,
) -> CVResult:
    """Every host: the folds' boosters round by round; the coordinator writes ``cv.json``."""
    folds = data.named_slices()
    with hosts.step("Cross-validation"):
        result = cross_validation.cross_validate(
            config.xgboost_params,
            data.fold_matrices(config.matrix_settings),
            list(folds),
            config.num_round,
            config.early_stopping_rounds,
            hosts.is_coordinator,
        )
        if hosts.is_coordinator:
            rows = {name: s.total_rows for name, s in folds.items()}
            cross_validation.write_cv_results(
                job.output_data_dir, result, {"query_ids": plan.query_ids, "rows_per_fold": rows}
            )
    if tracking is not None:
        mlflow_run.log_cv_history(tracking, result.folds)
    return result


def finish_without_model(job: JobEnvironment, tracking: TrackedRun | None) -> None:
    """``cv_final_model=false``: cross-validation's results are the job's outputs."""
    logger.info("cv_final_model=false: cross-validation only, no model written")
    if tracking is not None:
        tracking.log_artifacts(sorted(job.output_data_dir.rglob("*.json")))
        tracking.finish()


def train_model(
    hosts: Hosts,
    job: JobEnvironment,
    config: JobConfig,
    plan: QueryPlan,
    matrices: tuple[xgb.DMatrix, xgb.DMatrix | None],
    tracking: TrackedRun | None,
) -> TrainedBooster:
    """Every host: checks the labels, resumes from the newest checkpoint when there is one,
    and trains."""
    train, validation = matrices
    if config.data.extra_labels and config.objective.startswith("binary:"):
        check_binary_labels(hosts, [m for m in matrices if m is not None], plan.columns.labels)
    with hosts.step("Training"):
        start = starting_model(hosts, job.checkpoint_dir)
        if start is not None:
            checkpoints.check_resumable(
                start, plan.columns.features, config.num_round, job.checkpoint_dir
            )
        return train_booster(
            hosts,
            config,
            train,
            validation,
            start,
            job.checkpoint_dir,
            tracking,
            plan.columns.labels,
        )


def count_validation_predictions(
    hosts: Hosts, config: JobConfig, trained: TrainedBooster, validation: xgb.DMatrix | None
) -> ScoreCounts | None:
    """Every host, for the report of a classifier with validation data: the confusion matrix
    and ROC counts of all validation rows (one sum over the hosts); None otherwise."""
    if not config.report or not job_report.wants_validation_counts(
        config.objective, validation, config.num_targets
    ):
        return None
    with hosts.step("Counting validation predictions"):
        return job_report.gather_validation_counts(hosts, trained, validation, config.num_class)


def write_outputs(
    job: JobEnvironment,
    config: JobConfig,
    plan: QueryPlan,
    rows_per_host: dict[str, int],
    trained: TrainedBooster,
    cv_result: CVResult | None,
    host_rows: list[HostRows],
    counts: ScoreCounts | None,
    tracking: TrackedRun | None,
) -> None:
    """Coordinator only: the model and ``metadata.json``, the report, and the MLflow run."""
    metadata = model_metadata(
        config,
        plan,
        rows_per_host,
        trained,
        cv_result,
        tracking.run_id if tracking is not None else None,
    )
    path, document = outputs.write_model(
        job.model_dir, job.output_data_dir, trained.model(), metadata.to_json(), config.model_format
    )
    logger.info("Model written to %s", path)
    written = ModelMetadata.from_json(document)
    if config.report:
        summary = job_report.training_summary(
            config.data.source, trained, written, host_rows, counts, cv_result
        )
        logger.info("Report written to %s", write_report(job.output_data_dir, summary))
    if tracking is not None:
        record_outputs(tracking, job, trained.model(), written)


def run_job(job: JobEnvironment, config: JobConfig, env: SnowflakeEnvironment) -> None:
    """Everything after configuration and credentials, on this host, step by step."""
    hosts = Hosts(job.hosts, job.current_host, config.hosts)
    with tempfile.TemporaryDirectory(prefix="snowflake_xgb_") as work_dir, hosts:
        tracking = start_tracking(hosts, job)  # before any statement: a bad URI fails first
        plan = plan_queries(hosts, job, config, env)
        data, host_rows = load_data(hosts, job, config, env, plan, Path(work_dir))
        cv_result = None
        if config.data.cv_folds:
            cv_result = run_cross_validation(hosts, job, config, plan, data, tracking)
            if not config.cv_final_model:
                finish_without_model(job, tracking)
                return
            # The model: all rows, for the rounds cross-validation chose.
            config = replace(config, num_round=cv_result.best_rounds, early_stopping_rounds=None)
        matrices = data.model_matrices(config.matrix_settings)
        trained = train_model(hosts, job, config, plan, matrices, tracking)
        counts = count_validation_predictions(hosts, config, trained, matrices[1])
        if hosts.is_coordinator:
            # Still among the hosts: the others leave, and exit, once the model and
            # report are written (SageMaker's local mode stops every host as soon as one exits).
            rows_per_host = job_report.training_rows_per_host(
                host_rows, hosts.names, data.training_sets
            )
            write_outputs(
                job, config, plan, rows_per_host, trained, cv_result, host_rows, counts, tracking
            )


def _train() -> None:
    interruption.install()  # SIGTERM (spot interruption, stop): stop cleanly, promptly
    job = JobEnvironment.from_environ()
    if script_mode.user_entry_point(job):  # the job names the user's own script
        script_mode.run_user_script(job)  # secrets bootstrap first, then the script
        return
    if is_scoring_job(job.raw_hyperparameters):  # job=score: the same image scores a table
        score_config = parse_score_hyperparameters(job.raw_hyperparameters)
        bootstrap_credentials()
        redaction.refuse_credential_values(job.raw_hyperparameters)
        run_scoring_job(job, score_config, SnowflakeEnvironment.from_environ())
        return
    config = parse_hyperparameters(job.raw_hyperparameters)
    check_xgboost_params(config.xgboost_params)
    bootstrap_credentials()
    redaction.refuse_credential_values(job.raw_hyperparameters)
    run_job(job, config, SnowflakeEnvironment.from_environ())


def main() -> None:
    """Entry point for sagemaker-training (``SAGEMAKER_TRAINING_MODULE``)."""
    failure.run_entry_point(_train)
