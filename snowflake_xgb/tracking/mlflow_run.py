"""The job as one MLflow run, when ``MLFLOW_TRACKING_URI`` is set; only the coordinator calls it.

The tracking URI is an MLflow server URL or a SageMaker managed MLflow ARN (the
``sagemaker-mlflow`` plugin signs the requests with the job's AWS credentials). A URI that
cannot be reached, or refuses the job, is a :class:`~snowflake_xgb.errors.UserError` before any
Snowflake statement; a tracking failure later is a warning and the job goes on. The run id is
kept with the checkpoints, so a resumed job continues the same run, and written to
``metadata.json``. Parameters pass the redaction rules; per-round metrics are sent in batches.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from .. import redaction
from ..boosting.model_metadata import ModelMetadata
from ..errors import UserError

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
RUN_NAME_ENV = "MLFLOW_RUN_NAME"
DEFAULT_EXPERIMENT = "snowflake-xgb"
RUN_ID_FILE = "mlflow-run-id"  # beside the checkpoints
METRICS_PER_BATCH = 1000  # MLflow's limit for one log-batch request
# A bounded wait: MLflow's client retries for minutes by default.
_CLIENT_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}

logger = logging.getLogger(__name__)


class TrackedRun:
    """One MLflow run of the job; after the first failure it only logs warnings."""

    def __init__(self, client: Any, run_id: str) -> None:
        self._client = client
        self.run_id = run_id
        self._pending: list[Any] = []
        self._broken = False

    def _attempt(self, what: str, action) -> None:
        if self._broken:
            return
        try:
            action()
        except Exception as error:  # any client or network error: tracking is not the job
            self._broken = True
            logger.warning(
                "MLflow tracking failed (%s): %s; the job goes on without it.",
                what,
                redaction.redact(str(error).splitlines()[0][:300] if str(error) else ""),
            )

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        entries = [
            Param(key, redaction.redact(str(value))[:6000])
            for key, value in params.items()
            if redaction.credential_word(key) is None
        ]
        for start in range(0, len(entries), 100):
            batch = entries[start : start + 100]
            self._attempt(
                "parameters", lambda b=batch: self._client.log_batch(self.run_id, params=b)
            )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._attempt(
                "tags", lambda k=key, v=value: self._client.set_tag(self.run_id, k, str(v))
            )

    def add_metrics(self, step: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending.extend(Metric(k, float(v), now, step) for k, v in values.items())
        if len(self._pending) >= METRICS_PER_BATCH:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            batch, self._pending = (
                self._pending[:METRICS_PER_BATCH],
                self._pending[METRICS_PER_BATCH:],
            )
            self._attempt("metrics", lambda b=batch: self._client.log_batch(self.run_id, metrics=b))

    def log_artifacts(self, paths: list[Path], folder: str | None = None) -> None:
        for path in paths:
            if path.is_file():
                self._attempt(
                    path.name,
                    lambda p=path: self._client.log_artifact(self.run_id, str(p), folder),
                )

    def log_model(self, booster: xgb.Booster, feature_names: list[str]) -> None:
        def log() -> None:
            import mlflow
            import mlflow.xgboost
            from mlflow.models import ModelSignature
            from mlflow.types import ColSpec, Schema

            # The features as the model takes them: numbers, categories as their codes
            # (metadata.json's encoding), in training order.
            signature = ModelSignature(
                inputs=Schema([ColSpec("float", name) for name in feature_names])
            )
            with mlflow.start_run(run_id=self.run_id, nested=False):
                mlflow.xgboost.log_model(booster, name="model", signature=signature)

        self._attempt("the model", log)

    def finish(self, status: str = "FINISHED") -> None:
        self.flush()
        self._attempt("ending the run", lambda: self._client.set_terminated(self.run_id, status))


def start_run(
    checkpoint_dir: Path | None, training_job_name: str | None, settings: Mapping[str, Any]
) -> TrackedRun | None:
    """The job's run (a new one, or the checkpoint's), or None without a tracking URI.

    Raises :class:`UserError` when the tracking server cannot be reached or refuses the run.
    """
    uri = os.environ.get(TRACKING_URI_ENV, "").strip()
    if not uri:
        return None
    for name, value in _CLIENT_LIMITS.items():
        os.environ.setdefault(name, value)
    from mlflow.tracking import MlflowClient

    experiment_name = os.environ.get(EXPERIMENT_ENV, "").strip() or DEFAULT_EXPERIMENT
    id_file = checkpoint_dir / RUN_ID_FILE if checkpoint_dir is not None else None
    try:
        client = MlflowClient(tracking_uri=uri)
        if id_file is not None and id_file.is_file():
            run_id = id_file.read_text().strip()
            client.get_run(run_id)  # the checkpoint's run is still there
            client.update_run(run_id, status="RUNNING")
            logger.info("MLflow: continuing run %s from the checkpoint", run_id)
        else:
            experiment = client.get_experiment_by_name(experiment_name)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(experiment_name)
            )
            run_name = os.environ.get(RUN_NAME_ENV, "").strip() or training_job_name or None
            run_id = client.create_run(experiment_id, run_name=run_name).info.run_id
            if id_file is not None:
                id_file.parent.mkdir(parents=True, exist_ok=True)
                id_file.write_text(run_id)
            logger.info("MLflow: run %s in experiment %s", run_id, experiment_name)
    except Exception as error:
        reason = redaction.redact(str(error).strip().splitlines()[0][:200] if str(error) else "")
        raise UserError(
            f"MLflow tracking at {redaction.redact(uri)} cannot be used ({type(error).__name__}: "
            f"{reason}): check {TRACKING_URI_ENV}, that the server is up and reachable from the "
            "job, and its permissions; or unset it."
        ) from None
    run = TrackedRun(client, run_id)
    run.log_params(settings)
    return run


class MetricLogger(xgb.callback.TrainingCallback):
    """Each round's train and validation metrics, sent in batches."""

    def __init__(self, run: TrackedRun) -> None:
        self._run = run

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        self._run.add_metrics(
            model.num_boosted_rounds() - 1,
            {
                f"{data_name}-{metric}": values[-1]
                for data_name, metrics in evals_log.items()
                for metric, values in metrics.items()
            },
        )
        return False

    def after_training(self, model: xgb.Booster) -> xgb.Booster:
        self._run.flush()
        return model


def log_cv_history(run: TrackedRun, folds: list[dict[str, dict[str, list[float]]]]) -> None:
    """Cross-validation's per-round mean and std over the folds (``<set>-<metric>-mean``)."""
    for data_set, metrics in folds[0].items():
        for metric in metrics:
            curves = [fold[data_set][metric] for fold in folds]
            rounds = min(len(curve) for curve in curves)
            values = np.array([curve[:rounds] for curve in curves])
            for step in range(rounds):
                run.add_metrics(
                    step,
                    {
                        f"cv-{data_set}-{metric}-mean": values[:, step].mean(),
                        f"cv-{data_set}-{metric}-std": values[:, step].std(),
                    },
                )
    run.flush()


def data_tags(metadata: ModelMetadata) -> dict[str, str]:
    """Where the rows came from: query ids, the snapshot, rows per host."""
    return {
        "snowflake.query_ids": json.dumps(metadata.query_ids),
        "snowflake.data_snapshot": json.dumps(metadata.data_snapshot.to_json()),
        "snowflake.rows_per_host": json.dumps(metadata.rows_per_host),
        "snowflake.rows": str(metadata.rows),
    }
