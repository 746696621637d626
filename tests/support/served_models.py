"""Small models written the way a training job writes them, for the serving tests.

Each model is trained with XGBoost directly (seconds) and saved through the project's own
``outputs.save_model``, so the model folder is laid out exactly as training leaves it.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import xgboost as xgb

from snowflake_xgb.model_files.encoding import Encoding, FeatureEncoding, Kind, LabelEncoding
from snowflake_xgb.model_files.outputs import save_model

FEATURES = ("MEDINC", "HOUSEAGE", "AVEROOMS", "LATITUDE", "LONGITUDE")
# A classifier's text, boolean, date and number features and its text label, as training
# encodes them from typed columns (``make_typed_classifier``).
TYPED_ENCODING = Encoding(
    (
        FeatureEncoding("REGION", Kind.CATEGORY, ("east", "north", "west")),
        FeatureEncoding("ACTIVE", Kind.CATEGORY, (False, True)),
        FeatureEncoding("OPENED", Kind.DATE),
        FeatureEncoding("AMOUNT", Kind.NUMBER),
    ),
    LabelEncoding("CHURNED", ("no", "yes")),
)


@dataclass(frozen=True)
class ServedCase:
    name: str
    base_dir: Path  # laid out like /opt/ml: the model is in base_dir / "model"
    booster: xgb.Booster
    rows: np.ndarray  # rows to send (float32, some values missing)
    label_classes: tuple | None = None

    @property
    def model_dir(self) -> Path:
        return self.base_dir / "model"

    def expected(self, **predict) -> np.ndarray:
        """What ``Booster.predict`` gives for ``rows``."""
        return self.booster.predict(xgb.DMatrix(self.rows, feature_names=list(FEATURES)), **predict)


def _features(rng: np.random.Generator, rows: int) -> np.ndarray:
    data = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    data[rng.random(data.shape) < 0.05] = np.nan
    return data


def make_models(root: Path) -> dict[str, ServedCase]:
    """Regression (labels near 100), binary and 3-class with text labels (as training codes
    them: 0..n-1 in sorted order)."""
    rng = np.random.default_rng(7)
    train = _features(rng, 2000)
    signal = np.nan_to_num(train) @ np.array([3.0, -2.0, 1.0, 0.5, 0.0], dtype=np.float32)
    specs = {
        "regression": ({"objective": "reg:squarederror"}, 100 + signal, None),
        "binary": (
            {"objective": "binary:logistic"},
            (signal > 0).astype(np.float32),
            ("no", "yes"),
        ),
        "multiclass": (
            {"objective": "multi:softprob", "num_class": 3},
            np.digitize(signal, [-1.5, 1.5]).astype(np.float32),
            ("bronze", "gold", "silver"),
        ),
    }
    cases = {}
    for name, (params, label, classes) in specs.items():
        matrix = xgb.DMatrix(train, label=label, feature_names=list(FEATURES))
        booster = xgb.train({**params, "max_depth": 4, "nthread": 1}, matrix, num_boost_round=15)
        encoding = Encoding(
            tuple(FeatureEncoding(name, Kind.NUMBER) for name in FEATURES),
            LabelEncoding("TARGET", classes),
        )
        metadata = {
            "feature_names": list(FEATURES),
            "label": "TARGET",
            "xgboost_params": params,
            "encoding": encoding.to_metadata(),
        }
        base_dir = root / name
        save_model(base_dir / "model", booster, metadata)
        cases[name] = ServedCase(name, base_dir, booster, _features(rng, 40), classes)
    return cases


def make_typed_classifier(model_dir: Path) -> None:
    """A classifier on ``TYPED_ENCODING``'s features, trained as the job trains one on typed
    columns and saved in ``model_dir``: "yes" for the west region or an active account."""
    rng = np.random.default_rng(3)
    rows = 600
    table = pa.table({
        "REGION": pa.array(rng.choice(["east", "north", "west"], rows)),
        "ACTIVE": pa.array(rng.random(rows) < 0.5),
        "OPENED": pa.array(rng.integers(17000, 19000, rows).astype("datetime64[D]"), pa.date32()),
        "AMOUNT": pa.array(rng.normal(10, 5, rows)),
    })  # fmt: skip
    features = np.column_stack(
        [f.encode_arrow(table.column(f.name)) for f in TYPED_ENCODING.features]
    ).astype(np.float32)
    label = (features[:, 0] == 2) | (features[:, 1] == 1)
    matrix = xgb.DMatrix(
        features, label=label, feature_names=TYPED_ENCODING.feature_names,
        feature_types=TYPED_ENCODING.feature_types, enable_categorical=True,
    )  # fmt: skip
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, matrix, 10)
    metadata = {
        "feature_names": TYPED_ENCODING.feature_names,
        "encoding": TYPED_ENCODING.to_metadata(),
    }
    save_model(model_dir, booster, metadata)


def _value(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def request_bodies(rows: np.ndarray) -> dict[str, tuple[str, bytes]]:
    """The same rows in every request format: name -> (content type, body).

    Keyed JSON comes with the columns in another order and letter case, and extra columns.
    """
    records = []
    for number, row in enumerate(rows):
        record = {"ROW_ID": number, "comment": "not a feature"}
        for name, value in reversed(list(zip(FEATURES, row, strict=True))):
            record[name.lower() if name.endswith("E") else name.title()] = _value(value)
        records.append(record)
    positional = [[_value(v) for v in row] for row in rows]
    csv_text = "".join(
        ",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n" for row in rows
    )
    libsvm = "".join(
        "0 " + " ".join(f"{i}:{float(v)!r}" for i, v in enumerate(row) if not np.isnan(v)) + "\n"
        for row in rows
    )
    return {
        "csv": ("text/csv", csv_text.encode()),
        "json-records": ("application/json", json.dumps(records).encode()),
        "json-instances": ("application/json", json.dumps({"instances": positional}).encode()),
        "jsonlines": (
            "application/jsonlines",
            "".join(json.dumps(record) + "\n" for record in records).encode(),
        ),
        "libsvm": ("text/libsvm", libsvm.encode()),
    }


def read_predictions(body: bytes, media_type: str, output: str = "score") -> list:
    """One ``output`` value per row, from a response in ``media_type``."""
    text = body.decode()
    if media_type == "text/csv":
        return [
            [np.float32(field) for field in line.split(",")] if "," in line else np.float32(line)
            for line in text.splitlines()
        ]
    if media_type == "application/json" and text.startswith('{"predictions"'):
        return [record[output] for record in json.loads(text)["predictions"]]
    return [json.loads(line)[output] for line in text.splitlines()]


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = 60,
    **headers: str,
) -> tuple[int, str | None, bytes]:
    """One request to a server on 127.0.0.1: (status, Content-Type, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()
