"""``serve`` as a real process over HTTP: the hosting routes, refusals, limits and shutdown.

Every request format and output is checked against the built image in
``tests/container/test_serving_image.py``; these run without Docker.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from urllib.parse import urlparse

import numpy as np
import xgboost as xgb
from support.served_models import http_request, read_predictions, request_bodies

from snowflake_xgb.model_files.outputs import save_model


def request(url: str, method: str, path: str, body: bytes | None = None, **headers: str):
    parsed = urlparse(url)
    assert parsed.hostname == "127.0.0.1", url
    return http_request(parsed.port, method, path, body, timeout=30, **headers)


def test_routes_predictions_and_refusals(start_serve, served):
    case = served["regression"]
    server = start_serve(case.base_dir, SAGEMAKER_MAX_PAYLOAD_IN_MB="1")
    assert request(server.url, "GET", "/ping")[0] == 200
    status, _, body = request(server.url, "GET", "/execution-parameters")
    assert status == 200
    assert json.loads(body) == {
        "MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1,
    }  # fmt: skip
    content_type, body = request_bodies(case.rows)["csv"]
    status, answered_in, answer = request(
        server.url, "POST", "/invocations", body, **{"Content-Type": content_type}
    )
    assert (status, answered_in) == (200, "text/csv")
    np.testing.assert_array_equal(read_predictions(answer, "text/csv"), case.expected())

    oversized = body * (1024 * 1024 // len(body) + 1)
    status, _, answer = request(
        server.url, "POST", "/invocations", oversized, **{"Content-Type": "text/csv"}
    )
    assert status == 413
    assert answer == b"the body is over 1 MB: send fewer rows per request.\n"
    status, _, answer = request(server.url, "POST", "/invocations", b"1,2\n", **{
        "Content-Type": "text/csv"})  # fmt: skip
    assert status == 400 and answer.count(b"\n") == 1, answer
    # The workers are still there after every refusal.
    for _ in range(4):
        assert request(server.url, "POST", "/invocations", body, **{
            "Content-Type": content_type})[0] == 200  # fmt: skip
    assert "Worker" in server.output() and "loaded the model" in server.output()


def test_a_quoted_mixed_case_feature_is_scored_from_a_key_spelled_as_the_column(
    start_serve, tmp_path
):
    """Training accepts features=medinc for a column "MedInc"; serving reads that key alike."""
    rows = np.random.default_rng(3).normal(size=(200, 2)).astype(np.float32)
    names = ["MedInc", "HOUSEAGE"]
    train = xgb.DMatrix(rows, label=rows @ [2.0, -1.0], feature_names=names)
    booster = xgb.train({"max_depth": 2, "nthread": 1}, train, num_boost_round=5)
    save_model(tmp_path / "model", booster, {"feature_names": names})
    server = start_serve(tmp_path)
    for key in ("MedInc", "medinc", '"MedInc"'):
        body = json.dumps([{key: 1.5, "houseage": -0.5}]).encode()
        status, _, answer = request(
            server.url, "POST", "/invocations", body, **{"Content-Type": "application/json"}
        )
        assert status == 200, answer
        expected = booster.predict(xgb.DMatrix(np.array([[1.5, -0.5]]), feature_names=names))
        np.testing.assert_allclose(read_predictions(answer, "application/json"), expected)


def test_endpoint_explanations_in_csv_and_a_bad_header(start_serve, served):
    case = served["multiclass"]
    server = start_serve(case.base_dir, SNOWFLAKE_XGB_EXPLAIN="contributions")
    content_type, body = request_bodies(case.rows)["csv"]
    status, _, answer = request(server.url, "POST", "/invocations", body, **{
        "Content-Type": content_type})  # fmt: skip
    assert status == 200
    lines = answer.decode().splitlines()
    assert len(lines) == len(case.rows)
    classes, per_class = 3, len(case.rows[0]) + 1  # the features, then the bias
    fields = np.array([line.split(",") for line in lines], np.float32)
    assert fields.shape == (len(case.rows), classes + classes * per_class)
    np.testing.assert_array_equal(fields[:, :classes], case.expected())
    sums = fields[:, classes:].reshape(len(case.rows), classes, per_class).sum(2)
    np.testing.assert_allclose(sums, case.expected(output_margin=True), atol=1e-5)
    status, _, answer = request(
        server.url, "POST", "/invocations", body,
        **{"Content-Type": content_type, "X-Amzn-SageMaker-Custom-Attributes": "explain=none"},
    )  # fmt: skip
    assert np.array([line.split(",") for line in answer.decode().splitlines()]).shape[1] == 3
    status, _, answer = request(
        server.url, "POST", "/invocations", body,
        **{"Content-Type": content_type, "X-Amzn-SageMaker-Custom-Attributes": "explain=all"},
    )  # fmt: skip
    assert status == 400 and answer.count(b"\n") == 1, answer


def test_missing_model_fails_ping_with_a_clear_log_line(start_serve, tmp_path):
    (tmp_path / "model").mkdir()
    server = start_serve(tmp_path)
    status, _, body = request(server.url, "GET", "/ping")
    assert status == 503
    assert body.startswith(b"cannot serve: no model at ") and body.count(b"\n") == 1
    status, _, _ = request(server.url, "POST", "/invocations", b"1\n", **{
        "Content-Type": "text/csv"})  # fmt: skip
    assert status == 503
    assert f"cannot serve: no model at {tmp_path}/model/xgboost-model" in server.output()


def test_sigterm_stops_cleanly(start_serve, served):
    server = start_serve(served["regression"].base_dir)
    assert request(server.url, "GET", "/ping")[0] == 200
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert "Shutting down" in server.output()


def test_bad_environment_exits_with_one_line():
    result = subprocess.run(
        [sys.executable, "-c", "from snowflake_xgb.serving.command import main; main()"],
        env={"SAGEMAKER_MODEL_SERVER_WORKERS": "many", "PATH": "/usr/bin:/bin",
             "PYTHONPATH": ":".join(sys.path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "serve: SAGEMAKER_MODEL_SERVER_WORKERS='many' is not a whole number."
    )
