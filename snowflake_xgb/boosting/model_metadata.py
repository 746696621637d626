"""What ``metadata.json`` says about a trained model (``ModelMetadata``), to and from its JSON.

The training job builds it once, after training; the model folder holds its JSON (with the
library versions and, for ``aws-xgboost``, the model format, which ``model_files.outputs`` adds
as it writes); the report and the MLflow run read it back typed. Serving and scoring read the
same file for the columns and their encoding (``model_files``), and a model saved by a user's
script (``api.save_model``) has only some of these keys, so those readers do not use this class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..model_files.columns import ColumnSelection
from ..query.data_snapshot import DataSnapshot
from .cross_validation import CV_FILE_NAME, CVResult


@dataclass(frozen=True)
class CrossValidationSummary:
    """What ``metadata.json`` says of the cross-validation (the rest is in ``cv.json``)."""

    folds: int
    best_rounds: int
    best_scores: dict[str, float]
    results: str = f"output/data/{CV_FILE_NAME}"

    @classmethod
    def of(cls, result: CVResult) -> CrossValidationSummary:
        return cls(len(result.folds), result.best_rounds, result.best_scores())


@dataclass(frozen=True)
class ModelMetadata:
    """The model's data (columns, queries, rows per host), parameters, rounds and metrics.

    ``best_iteration`` is the round the saved model ends at; ``resumed_from_round`` the rounds
    of the checkpoint training resumed from (None: it started afresh). ``versions`` and
    ``model_format`` are set in the file as written (``from_json`` of it).
    """

    columns: ColumnSelection
    xgboost_params: dict[str, Any]
    num_round: int
    rounds_trained: int
    best_iteration: int
    resumed_from_round: int | None
    rows_per_host: dict[str, int]
    query_ids: dict[str, str]
    data_snapshot: DataSnapshot
    final_metrics: dict[str, float]
    mlflow_run_id: str | None = None
    cross_validation: CrossValidationSummary | None = None
    versions: dict[str, str] = field(default_factory=dict)
    model_format: str | None = None  # in the file only for a format other than the native one

    @property
    def rows(self) -> int:
        return sum(self.rows_per_host.values())

    def to_json(self) -> dict[str, Any]:
        document = {
            **self.columns.to_metadata(),
            "xgboost_params": self.xgboost_params,
            "num_round": self.num_round,
            "rounds_trained": self.rounds_trained,
            "best_iteration": self.best_iteration,
            "resumed_from_round": self.resumed_from_round,
            "hosts": list(self.rows_per_host),
            "rows_per_host": self.rows_per_host,
            "rows": self.rows,
            "query_ids": self.query_ids,
            "data_snapshot": self.data_snapshot.to_json(),
            "final_metrics": self.final_metrics,
            "mlflow_run_id": self.mlflow_run_id,
        }
        if self.cross_validation is not None:
            document["cross_validation"] = asdict(self.cross_validation)
        if self.versions:
            document["versions"] = self.versions
        if self.model_format is not None:
            document["model_format"] = self.model_format
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ModelMetadata:
        cross_validation = document.get("cross_validation")
        return cls(
            columns=ColumnSelection.from_metadata(document),
            xgboost_params=dict(document["xgboost_params"]),
            num_round=int(document["num_round"]),
            rounds_trained=int(document["rounds_trained"]),
            best_iteration=int(document["best_iteration"]),
            resumed_from_round=document.get("resumed_from_round"),
            rows_per_host=dict(document["rows_per_host"]),
            query_ids=dict(document["query_ids"]),
            data_snapshot=DataSnapshot(**document["data_snapshot"]),
            final_metrics=dict(document["final_metrics"]),
            mlflow_run_id=document.get("mlflow_run_id"),
            cross_validation=(
                CrossValidationSummary(**cross_validation) if cross_validation else None
            ),
            versions=dict(document.get("versions") or {}),
            model_format=document.get("model_format"),
        )
