"""The training report's step in the job: what each host contributes, and the coordinator's page.

Every host takes part in two collective steps: :func:`gather_host_rows` (each data set's row
range and load time per host, one sum over the hosts) and :func:`gather_validation_counts`
(for classification, each host predicts its own validation slice and counts; one sum gives
the counts of all validation rows, and no row leaves its host). The coordinator then builds the
:class:`~snowflake_xgb.report.TrainingSummary` from what the job wrote, ``metadata.json`` and
the model itself, plus the per-round metrics and those sums, and writes ``report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from .outputs import METADATA_FILE_NAME, MODEL_FILE_NAME
from .report import (
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

SumOverHosts = Callable[[np.ndarray], np.ndarray]


def gather_host_rows(
    hosts: tuple[str, ...],
    rank: int,
    own_rows: dict[str, tuple[int, int, float]],
    sum_over_hosts_: SumOverHosts,
) -> list[HostRows]:
    """Every host's ``(row_start, row_end, load_seconds)`` per data set, from this host's own.

    ``own_rows`` must name the same data sets, in the same order, on every host.
    """
    table = np.zeros((len(hosts), len(own_rows), 3), dtype=np.float64)
    table[rank] = [list(values) for values in own_rows.values()]
    summed = sum_over_hosts_(table.ravel()).reshape(table.shape)
    return [
        HostRows(host, data_set, int(summed[h, d, 0]), int(summed[h, d, 1]), float(summed[h, d, 2]))
        for d, data_set in enumerate(own_rows)
        for h, host in enumerate(hosts)
    ]


def num_class(params: dict[str, Any]) -> int:
    return int(params.get("num_class", 2))


def gather_validation_counts(
    booster: xgb.Booster,
    best_iteration: int,
    validation: xgb.DMatrix,
    params: dict[str, Any],
    sum_over_hosts_: SumOverHosts,
) -> ScoreCounts:
    """Counts of all validation rows for the model cut at ``best_iteration`` (every host)."""
    margins = booster.predict(
        validation, output_margin=True, iteration_range=(0, best_iteration + 1)
    )
    classes = num_class(params)
    counts = count_scores(class_probabilities(margins, classes), validation.get_label())
    return sum_over_hosts(counts, sum_over_hosts_)


def wants_validation_counts(params: dict[str, Any], has_validation: bool) -> bool:
    return has_validation and is_classification(str(params.get("objective", "")))


def summary_from_outputs(
    model_dir: Path,
    title: str,
    evals_result: dict[str, dict[str, list[float]]],
    host_rows: list[HostRows],
    counts: ScoreCounts | None,
) -> TrainingSummary:
    """The summary of what the job wrote: its metadata and model, with curves and host sums."""
    metadata = json.loads((model_dir / METADATA_FILE_NAME).read_text())
    model = xgb.Booster()
    model.load_model(bytearray((model_dir / MODEL_FILE_NAME).read_bytes()))  # UBJSON, no suffix
    params = metadata["xgboost_params"]
    queries = [
        QueryRecord(data_set, query_id)
        for data_set, query_id in metadata["query_ids"].items()
        if query_id
    ]
    classification = None
    if counts is not None:
        classification = Classification(counts, [str(c) for c in range(counts.num_class)])
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
    model_dir: Path,
    output_data_dir: Path,
    title: str,
    evals_result: dict[str, dict[str, list[float]]],
    host_rows: list[HostRows],
    counts: ScoreCounts | None,
) -> Path:
    """Coordinator only, after the model is written: ``output/data/report.html``."""
    summary = summary_from_outputs(model_dir, title, evals_result, host_rows, counts)
    return write_report(output_data_dir, summary)
