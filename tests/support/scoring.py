"""What the scoring tests share: a keyed table to score, models trained on it the way a training
job leaves them, and reading a scoring job's target table back by key.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import xgboost as xgb
from seed_standins import HOUSING_COLUMNS

from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from snowflake_xgb.model_files.outputs import save_model

from .standins import StandIns

FEATURES = HOUSING_COLUMNS[:-1]
KEY = "HOUSE_ID"


@dataclass(frozen=True)
class ScoringModel:
    """A model as a training job writes it, and the channel folder that holds it."""

    booster: xgb.Booster
    channel: Path  # holds model.tar.gz, as a training job's output
    classes: tuple[str, ...] | None = None


def create_scoring_table(standins: StandIns, table: str, source: str) -> None:
    """``table``: every row of ``source`` with a unique integer key (HOUSE_ID)."""
    standins.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT ROW_NUMBER() OVER () + 1000 AS {KEY}, "
        f"{', '.join(HOUSING_COLUMNS)} FROM {source}"
    )


def read_rows(standins: StandIns, sql: str) -> pa.Table:
    with standins.connect() as connection:
        return connection.cursor().execute(sql).fetch_arrow_all()


def features_of(rows: pa.Table) -> np.ndarray:
    return np.column_stack(
        [rows.column(name).to_numpy(zero_copy_only=False) for name in FEATURES]
    ).astype(np.float32)


def train_model(rows: pa.Table, root: Path, objective: str) -> ScoringModel:
    """A small model on ``rows``: regression of MEDHOUSEVAL, or a binary classifier with text
    classes ("cheap", "dear"), saved and packed as a training job does."""
    label = rows.column("MEDHOUSEVAL").to_numpy(zero_copy_only=False)
    classes = None
    if objective.startswith("binary:"):
        classes = ("cheap", "dear")
        label = (label > np.median(label)).astype(np.float32)
    matrix = xgb.DMatrix(features_of(rows), label=label, feature_names=list(FEATURES))
    params = {"objective": objective, "max_depth": 4, "nthread": 1}
    booster = xgb.train(params, matrix, num_boost_round=10)
    encoding = Encoding(
        tuple(FeatureEncoding(name, Kind.NUMBER) for name in FEATURES),
        LabelEncoding("MEDHOUSEVAL", classes),
    )
    metadata = {"feature_names": list(FEATURES), "label": "MEDHOUSEVAL",
                "xgboost_params": params, "encoding": encoding.to_metadata()}  # fmt: skip
    model_dir = root / f"{objective.replace(':', '-')}-model"
    save_model(model_dir, booster, metadata)
    channel = root / f"{objective.replace(':', '-')}-channel"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return ScoringModel(booster, channel, classes)


def score_params(table: str, target: str, **extra: object) -> dict:
    return {"job": "score", "table": table, "key": KEY, "target_table": target, **extra}
