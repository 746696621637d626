"""A test user script: reads its slices with the API and reports what it saw, as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from snowflake_xgb import api

logging.basicConfig(level=logging.INFO)
parser = argparse.ArgumentParser()
parser.add_argument("--query", required=True)
parser.add_argument("--marker", default="")
parser.add_argument("--matrices", default="", help="also read ID-labelled matrices (ID, X, G)")
parser.add_argument("--ranking_validation", default="", help="ranking validated on this query")
args, unknown = parser.parse_known_args()


def label_ids(matrix: object) -> list[int]:
    return sorted(int(value) for value in matrix.get_label()) if matrix is not None else []


matrices = {}
with api.join_hosts() as hosts:
    batches = list(api.iter_record_batches(args.query))
    frame = api.load_dataframe(args.query)
    if args.matrices:
        split = api.load_quantile_dmatrix(args.query, "ID", features=["X"],
                                          validation_fraction=0.25)  # fmt: skip
        ranked = api.load_quantile_dmatrix(args.query, "ID", features=["X"], query_group="G")
        matrices = {
            "train": label_ids(split.train),
            "validation": label_ids(split.validation),
            "ranked": label_ids(ranked.train),
        }
    if args.ranking_validation:
        ranked = api.load_quantile_dmatrix(
            args.query, "ID", features=["X"], query_group="G",
            validation_query=args.ranking_validation,
        )  # fmt: skip
        matrices = {
            "validation_in_order": [int(value) for value in ranked.validation.get_label()],
            "validation_group_ptr": [int(p) for p in ranked.validation.get_uint_info("group_ptr")],
        }

report = {
    "rank": hosts.rank,
    "world": hosts.world,
    "batch_rows": sum(batch.num_rows for batch in batches),
    "batch_columns": batches[0].schema.names if batches else [],
    "frame_rows": len(frame),
    "frame_columns": list(frame.columns),
    "ids": sorted(int(value) for value in frame["ID"]),
    "batch_ids": sorted(int(v) for batch in batches for v in batch.column("ID").to_pylist()),
    "matrices": matrices,
    "marker": args.marker,
    "unknown_args": unknown,
    "sm_hp_marker": os.environ.get("SM_HP_MARKER"),
    "sm_model_dir": os.environ.get("SM_MODEL_DIR"),
    "has_snowflake_user": bool(os.environ.get("SNOWFLAKE_USER")),
}
output = Path(os.environ["SM_OUTPUT_DATA_DIR"])
(output / f"slices-{hosts.current_host}.json").write_text(json.dumps(report))
