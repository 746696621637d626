"""The training report's step in the job: what each host contributes, and the coordinator's page.

Every host takes part in two collective steps: :func:`gather_host_rows` (each data set's row
range and load time per host, one sum over the hosts) and :func:`gather_validation_counts`
(for classification, each host predicts its own validation slice and counts; one sum gives
the counts of all validation rows, and no row leaves its host). The coordinator then builds the
:class:`~snowflake_xgb.report.page.TrainingSummary` from what the job wrote, ``metadata.json`` and
the model itself, plus the per-round metrics and those sums, and writes ``report.html``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from ..hosts.host_group import HostGroup
from ..loading.host_data import FoldData, HostData
from ..model_files.outputs import METADATA_FILE_NAME, MODEL_FILE_NAME
from ..query.data_snapshot import DataSnapshot
from ..sagemaker.job_environment import JobEnvironment
from .page import (
    IMPORTANCE_TYPES,
    Classification,
    HostRows,
    QueryRecord,
    TrainingSummary,
    write_report,
)
from .validation_scores import (
    ScoreCounts,
    class_probabilities,
    count_scores,
    is_classification,
    sum_over_hosts,
)


def gather_host_rows(group: HostGroup, data: HostData | FoldData) -> list[HostRows]:
    """Every host's row range and load time of each data set (one sum over the hosts)."""
    slices = data.named_slices()
    table = np.zeros((group.world, len(slices), 3), dtype=np.float64)
    table[group.rank] = [
        (s.rows.start, s.rows.end, data.load_seconds.get(name, 0.0)) for name, s in slices.items()
    ]
    summed = group.sum(table.ravel()).reshape(table.shape)
    return [
        HostRows(host, name, int(summed[h, d, 0]), int(summed[h, d, 1]), float(summed[h, d, 2]))
        for d, name in enumerate(slices)
        for h, host in enumerate(group.hosts)
    ]


def wants_validation_counts(params: dict[str, Any], validation: xgb.DMatrix | None) -> bool:
    """Classification with validation data: the confusion matrix and ROC have rows to count."""
    return validation is not None and is_classification(str(params.get("objective", "")))


def gather_validation_counts(
    group: HostGroup, booster: xgb.Booster, best_iteration: int, validation: xgb.DMatrix,
    params: dict[str, Any],
) -> ScoreCounts:  # fmt: skip
    """Every host: predict its own validation rows with the model as saved (cut at
    ``best_iteration``), count them, and sum the counts over the hosts."""
    margins = booster.predict(
        validation, output_margin=True, iteration_range=(0, best_iteration + 1)
    )
    classes = int(params.get("num_class", 2))
    counts = count_scores(class_probabilities(margins, classes), validation.get_label())
    return sum_over_hosts(counts, group.sum)


def _written_metadata(job: JobEnvironment) -> dict[str, Any]:
    """``metadata.json`` where the job wrote it: beside the model, or in ``output/data`` (with
    ``model_format=aws-xgboost``, whose model folder holds the model alone)."""
    for folder in (job.model_dir, job.output_data_dir):
        path = folder / METADATA_FILE_NAME
        if path.is_file():
            return json.loads(path.read_text())
    raise FileNotFoundError(f"no {METADATA_FILE_NAME} in {job.model_dir} or {job.output_data_dir}")


def summary_from_outputs(
    job: JobEnvironment,
    title: str,
    evals_result: dict[str, dict[str, list[float]]],
    host_rows: list[HostRows],
    counts: ScoreCounts | None,
) -> TrainingSummary:
    """The summary of what the job wrote: its metadata and model, with curves and host sums."""
    metadata = _written_metadata(job)
    model = xgb.Booster()
    model.load_model(bytearray((job.model_dir / MODEL_FILE_NAME).read_bytes()))  # UBJSON or JSON
    params = metadata["xgboost_params"]
    snapshot = DataSnapshot(**metadata["data_snapshot"])
    queries = [
        QueryRecord(data_set, query_id, snapshot.started_at, snapshot.read_as())
        for data_set, query_id in snapshot.query_ids.items()
    ]
    classification = None
    if counts is not None:
        # A text label's classes are in the encoding (training coded them 0..n-1 in order).
        classes = metadata.get("encoding", {}).get("label", {}).get("classes")
        names = classes if classes else [str(c) for c in range(counts.num_class)]
        classification = Classification(counts, names)
    return TrainingSummary(
        title=title,
        objective=str(params.get("objective", "reg:squarederror")),
        label=metadata["label"],
        features=metadata["feature_names"],
        evals_result=evals_result,
        best_iteration=metadata["best_iteration"],
        rounds_trained=metadata["rounds_trained"],
        importance={kind: model.get_score(importance_type=kind) for kind in IMPORTANCE_TYPES},
        host_slices=host_rows,
        queries=queries,
        parameters={**params, "num_round": metadata["num_round"]},
        versions=metadata["versions"],
        first_round=metadata.get("resumed_from_round") or 0,
        classification=classification,
    )


def write_job_report(
    job: JobEnvironment,
    title: str,
    evals_result: dict[str, dict[str, list[float]]],
    host_rows: list[HostRows],
    counts: ScoreCounts | None,
) -> Path:
    """Coordinator only, after the model is written: ``output/data/report.html``."""
    summary = summary_from_outputs(job, title, evals_result, host_rows, counts)
    return write_report(job.output_data_dir, summary)
