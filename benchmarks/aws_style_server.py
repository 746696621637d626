"""The serving benchmark's baseline: a server written the way AWS's XGBoost image serves.

gunicorn + Flask; the payload parsed with pandas (``read_csv`` for CSV, ``read_json`` for
JSON records); a ``DMatrix`` built for every request; ``Booster.predict``. The model is loaded
once per worker from ``MODEL_DIR`` with one XGBoost thread, as that image does (its DMatrix is
built with one thread too, which only helps the baseline on a machine shared by workers). Flask is a
benchmark dependency only (extras ``bench``), never the product's.

    MODEL_DIR=... gunicorn --chdir benchmarks 'aws_style_server:create_app()'
"""

from __future__ import annotations

import io
import json
import os

import flask
import pandas as pd
import xgboost as xgb


def create_app() -> flask.Flask:
    """One worker's app; the model is loaded once, when the worker starts."""
    model_dir = os.environ.get("MODEL_DIR", "/opt/ml/model")
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    booster.set_param("nthread", 1)
    with open(os.path.join(model_dir, "metadata.json")) as f:
        feature_names = json.load(f)["feature_names"]
    app = flask.Flask(__name__)

    @app.route("/ping", methods=["GET"])
    def ping():
        return flask.Response(response="\n", status=200)

    @app.route("/invocations", methods=["POST"])
    def invocations():
        payload = flask.request.get_data()
        content_type = (flask.request.content_type or "text/csv").split(";")[0].strip()
        if content_type == "text/csv":
            frame = pd.read_csv(io.StringIO(payload.decode("utf-8")), header=None)
            frame.columns = feature_names
        elif content_type == "application/json":
            frame = pd.read_json(io.StringIO(payload.decode("utf-8")), orient="records")
            frame = frame[feature_names]
        else:
            return flask.Response(response=f"unsupported {content_type}\n", status=415)
        # One thread for the DMatrix too, like the prediction: with XGBoost's default (every
        # core) each worker's OpenMP threads would fight the other workers' for the cores.
        matrix = xgb.DMatrix(frame, nthread=1)
        predictions = booster.predict(matrix, validate_features=False)
        if content_type == "application/json":
            body = json.dumps({"predictions": [{"score": float(p)} for p in predictions]})
            return flask.Response(response=body, status=200, mimetype="application/json")
        return flask.Response(
            response="\n".join(str(p) for p in predictions), status=200, mimetype="text/csv"
        )

    return app
