"""The training report's step in the job: what each host contributes, and the coordinator's page.

Every host takes part in two collective steps: :func:`gather_host_rows` (each data set's row
range and load time per host, one sum over the hosts) and :func:`gather_validation_counts`
(for classification, each host predicts its own validation slice and counts; one sum gives
the counts of all validation rows, and no row leaves its host). The coordinator then builds the
:class:`~snowflake_xgb.report.page.TrainingSummary` from what the job holds (the model and the
metadata it wrote), the per-round metrics and those sums; ``report.page`` writes the page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xgboost as xgb

from ..boosting.cross_validation import CVResult
from ..boosting.model_metadata import ModelMetadata
from ..boosting.trained import TrainedBooster
from ..config.job_config import Source
from ..hosts.hosts import Hosts
from ..loading.host_data import LoadedData
from ..model_files.margins import class_probabilities
from .page import (
    IMPORTANCE_TYPES,
    Classification,
    HostRows,
    QueryRecord,
    TrainingSummary,
)
from .validation_scores import (
    ScoreCounts,
    count_scores,
    is_classification,
    sum_over_hosts,
)


def gather_host_rows(hosts: Hosts, data: LoadedData) -> list[HostRows]:
    """Every host's row range and load time of each data set (one sum over the hosts)."""
    slices = data.named_slices()
    table = np.zeros((hosts.world, len(slices), 3), dtype=np.float64)
    table[hosts.rank] = [
        (s.rows.start, s.rows.end, data.load_seconds.get(name, 0.0)) for name, s in slices.items()
    ]
    summed = hosts.sum(table.ravel()).reshape(table.shape)
    return [
        HostRows(host, name, int(summed[h, d, 0]), int(summed[h, d, 1]), float(summed[h, d, 2]))
        for d, name in enumerate(slices)
        for h, host in enumerate(hosts.names)
    ]


def training_rows_per_host(
    host_rows: list[HostRows], hosts: Sequence[str], training_sets: Sequence[str]
) -> dict[str, int]:
    """Rows each host trained on: its rows of every training data set (all folds with CV)."""
    return {
        host: sum(r.rows for r in host_rows if r.host == host and r.data_set in training_sets)
        for host in hosts
    }


def wants_validation_counts(
    objective: str, validation: xgb.DMatrix | None, num_targets: int = 1
) -> bool:
    """Single-label classification with validation data: the confusion matrix and ROC have
    rows to count (a multi-output model's report shows each label's metrics instead)."""
    return validation is not None and num_targets == 1 and is_classification(objective)


def gather_validation_counts(
    hosts: Hosts, trained: TrainedBooster, validation: xgb.DMatrix, num_class: int | None
) -> ScoreCounts:
    """Every host: predict its own validation rows with the model as saved (cut at its best
    round), count them, and sum the counts over the hosts. Margins serve every objective, so
    that ``binary:hinge``, ``binary:logitraw`` and ``multi:softmax`` rank rows too."""
    margins = trained.booster.predict(
        validation, output_margin=True, iteration_range=(0, trained.best_iteration + 1)
    )
    counts = count_scores(class_probabilities(margins, num_class or 2), validation.get_label())
    return sum_over_hosts(counts, hosts.sum)


def training_summary(
    source: Source,
    trained: TrainedBooster,
    metadata: ModelMetadata,
    host_rows: list[HostRows],
    counts: ScoreCounts | None,
    cv_result: CVResult | None = None,
) -> TrainingSummary:
    """The report's summary: the model and the metadata the job wrote, its per-round metrics
    (the folds' too, with cross-validation) and the sums over the hosts."""
    params = metadata.xgboost_params
    snapshot = metadata.data_snapshot
    queries = [
        QueryRecord(data_set, query_id, snapshot.started_at, snapshot.read_as())
        for data_set, query_id in snapshot.query_ids.items()
    ]
    classification = None
    if counts is not None:
        # A text label's classes are in the encoding (training coded them 0..n-1 in order).
        classes = metadata.columns.encoding.label.classes
        names = list(classes) if classes else [str(c) for c in range(counts.num_class)]
        classification = Classification(counts, names)
    model = trained.model()
    curves = trained.evals_result
    if cv_result is not None:
        curves = {**cv_result.evals_result(), **curves}
    labels = ", ".join(metadata.columns.labels)
    return TrainingSummary(
        title=f"Training report: {labels} from {source.describe()}",
        objective=str(params.get("objective", "reg:squarederror")),
        label=labels,
        features=list(metadata.columns.features),
        evals_result=curves,
        best_iteration=trained.best_iteration,
        rounds_trained=trained.rounds_trained,
        importance={kind: model.get_score(importance_type=kind) for kind in IMPORTANCE_TYPES},
        host_slices=host_rows,
        queries=queries,
        parameters={**params, "num_round": metadata.num_round},
        versions=metadata.versions,
        first_round=trained.first_round,
        classification=classification,
    )
