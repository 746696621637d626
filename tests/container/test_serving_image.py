"""The built image serving models: ``docker run IMAGE serve``, as SageMaker hosting runs it.

Models are trained in the test with XGBoost and saved through the project's own output
function (the layout a training job leaves), mounted at /opt/ml/model. Every prediction is
compared with ``Booster.predict`` on the same rows.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from support.served_models import http_request, make_models, read_predictions, request_bodies

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

ACCEPTS = ("text/csv", "application/json", "application/jsonlines")


class ServingContainer:
    """One ``serve`` container on a free loopback port; removed by :meth:`stop`."""

    def __init__(self, image: str, model_dir: Path, **environ: str) -> None:
        self.name = f"sfxgb-serve-test-{secrets.token_hex(4)}"
        environ = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", **environ}
        flags = [item for name, value in environ.items() for item in ("-e", f"{name}={value}")]
        subprocess.run(
            ["docker", "run", "-d", "--name", self.name, "-p", "127.0.0.1::8080",
             "-v", f"{model_dir}:/opt/ml/model:ro", *flags, image, "serve"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        address = subprocess.run(
            ["docker", "port", self.name, "8080"], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        self.port = int(address.rsplit(":", 1)[1])
        deadline = time.monotonic() + 90
        while True:
            try:
                self.request("GET", "/execution-parameters")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} did not answer:\n{self.logs()}") from None
                time.sleep(0.25)

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str):
        return http_request(self.port, method, path, body, **headers)

    def invoke(self, content_type: str | None, body: bytes, accept: str | None = None):
        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        return self.request("POST", "/invocations", body, **headers)

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True)
        return result.stdout + result.stderr

    def stop(self) -> int:
        """``docker stop`` (SIGTERM, as SageMaker does); the exit code."""
        subprocess.run(["docker", "stop", "-t", "40", self.name], capture_output=True, timeout=90)
        code = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", self.name],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        return int(code) if code else -1

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)


@pytest.fixture(scope="module")
def served():
    root = REPO / ".work" / "container-tests" / f"serving-{secrets.token_hex(4)}"
    yield make_models(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def start(images):
    started: list[ServingContainer] = []

    def start_container(model_dir: Path, **environ: str) -> ServingContainer:
        container = ServingContainer(images["train"], model_dir, **environ)
        started.append(container)
        return container

    yield start_container
    for container in started:
        container.remove()


@pytest.fixture(scope="module")
def servers(served, start):
    return {name: start(case.model_dir) for name, case in served.items()}


@pytest.mark.parametrize("model", ["regression", "binary", "multiclass"])
def test_every_content_type_and_accept_predicts_like_booster(served, servers, model):
    case, server = served[model], servers[model]
    expected = case.expected()
    assert server.request("GET", "/ping")[0] == 200
    for body_name, (content_type, body) in request_bodies(case.rows).items():
        for accept in ACCEPTS:
            status, answered_in, answer = server.invoke(content_type, body, accept)
            where = f"{model}, {body_name} -> {accept}"
            assert (status, answered_in) == (200, accept), f"{where}: {answer[:300]!r}"
            got = np.array(read_predictions(answer, accept), dtype=np.float32)
            np.testing.assert_array_equal(got, expected, err_msg=where)


def test_default_accept_follows_the_request(servers):
    server = servers["regression"]
    body = b'[{"MEDINC": 1, "HOUSEAGE": 2, "AVEROOMS": 3, "LATITUDE": 4, "LONGITUDE": 5}]'
    assert server.invoke("application/json", body)[1] == "application/json"
    assert server.invoke("text/csv", b"1,2,3,4,5\n")[1] == "text/csv"
    assert server.invoke("text/csv", b"1,2,3,4,5\n", "*/*")[1] == "text/csv"


def test_classification_outputs_with_training_labels(served, start):
    case = served["binary"]
    server = start(
        case.model_dir, SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probability,raw_score"
    )
    positive = case.expected()
    margin = case.expected(output_margin=True)
    content_type, body = request_bodies(case.rows)["csv"]
    status, _, answer = server.invoke(content_type, body, "application/json")
    assert status == 200, answer
    records = json.loads(answer)["predictions"]
    assert [r["predicted_label"] for r in records] == ["yes" if p > 0.5 else "no" for p in positive]
    np.testing.assert_array_equal(np.float32([r["probability"] for r in records]), positive)
    np.testing.assert_array_equal(np.float32([r["raw_score"] for r in records]), margin)
    status, _, answer = server.invoke(content_type, body, "text/csv")
    first = answer.decode().splitlines()[0].split(",")
    assert first[0] == ("yes" if positive[0] > 0.5 else "no")
    assert np.float32(first[1]) == positive[0]

    multiclass = served["multiclass"]
    server = start(multiclass.model_dir, SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probabilities")
    content_type, body = request_bodies(multiclass.rows)["json-records"]
    status, _, answer = server.invoke(content_type, body, "application/jsonlines")
    records = [json.loads(line) for line in answer.decode().splitlines()]
    expected = multiclass.expected()
    names = ("bronze", "gold", "silver")
    assert [r["predicted_label"] for r in records] == [names[i] for i in expected.argmax(1)]
    np.testing.assert_array_equal(np.float32([r["probabilities"] for r in records]), expected)


def test_batch_transform_one_prediction_per_line(served, start):
    case = served["regression"]
    server = start(case.model_dir, SAGEMAKER_BATCH="true", SAGEMAKER_MAX_PAYLOAD_IN_MB="6")
    status, _, answer = server.request("GET", "/execution-parameters")
    assert json.loads(answer) == {
        "MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6,
    }  # fmt: skip
    content_type, body = request_bodies(case.rows)["csv"]
    status, answered_in, answer = server.invoke(content_type, body, "application/json")
    assert (status, answered_in) == (200, "application/json")
    lines = answer.decode().splitlines()
    assert len(lines) == len(case.rows)
    np.testing.assert_array_equal(
        np.float32([json.loads(line)["score"] for line in lines]), case.expected()
    )
    # A multi-record payload near MaxPayloadInMB: one line out per line in.
    repeats = 5 * 1024 * 1024 // len(body)
    status, _, answer = server.invoke("text/csv", body * repeats, "text/csv")
    assert status == 200
    got = np.float32(answer.decode().splitlines())
    np.testing.assert_array_equal(got, np.tile(case.expected(), repeats))


BAD_REQUESTS = [
    # (content type, accept, body, status, start of the one-line answer)
    ("text/csv", None, b"1,2,3,4\n", 400, b"row 1 has 4 values; the model takes 5 features"),
    ("text/csv", None, b"1,2,3,4,5\n1,2,3,4,5,6\n", 400, b"row 2 has 6 values"),
    ("text/csv", None, b"1,2,x,4,5\n", 400, b"row 1, column 3 (AVEROOMS): 'x' is not a number"),
    ("application/json", None, b'[{"MEDINC": "high"}]', 400, b"no column for feature(s) HOUSEAGE"),
    ("application/json", None, b'{"instances": [[1, 2, "x", 4, 5]]}', 400,
     b"feature AVEROOMS: 'x' is not a number"),
    ("application/json", None, b"{oops", 400, b"the body is not valid JSON"),
    ("text/libsvm", None, b"0 9:1\n", 400, b"line 1: feature index 9 is out of range"),
    (None, None, b"1,2,3,4,5\n", 415, b"no Content-Type: send text/csv"),
    ("application/x-recordio-protobuf", None, b"\x00", 415,
     b"Content-Type application/x-recordio-protobuf is not supported"),
    ("text/csv", "application/x-protobuf", b"1,2,3,4,5\n", 406, b"cannot answer in"),
    ("text/csv", None, b"", 400, b"the body is empty"),
    ("text/csv", None, b"1,2,3,4,5\n" * 120_000, 413, b"the body is over 1 MB"),
]  # fmt: skip


def test_bad_input_gets_a_4xx_with_one_line_and_workers_survive(served, start):
    case = served["regression"]
    server = start(case.model_dir, SAGEMAKER_MAX_PAYLOAD_IN_MB="1")
    for content_type, accept, body, status, message in BAD_REQUESTS:
        got_status, _, answer = server.invoke(content_type, body, accept)
        assert (got_status, answer.count(b"\n")) == (status, 1), (message, answer)
        assert answer.startswith(message), answer
    assert server.request("GET", "/ping")[0] == 200
    assert server.invoke("text/csv", b"1,2,3,4,5\n")[0] == 200
    logs = server.logs()
    assert "Traceback" not in logs and "WORKER TIMEOUT" not in logs, logs


def test_missing_model_fails_ping_with_a_clear_log_line(start, tmp_path_factory):
    empty = REPO / ".work" / "container-tests" / f"empty-model-{secrets.token_hex(4)}"
    empty.mkdir(parents=True)
    try:
        server = start(empty)
        status, _, answer = server.request("GET", "/ping")
        assert status == 503
        assert answer.startswith(b"cannot serve: no model at /opt/ml/model/xgboost-model")
        assert "cannot serve: no model at /opt/ml/model/xgboost-model" in server.logs()
    finally:
        shutil.rmtree(empty, ignore_errors=True)


def test_docker_stop_shuts_down_cleanly(served, start):
    server = start(served["regression"].model_dir)
    assert server.request("GET", "/ping")[0] == 200
    assert server.stop() == 0, server.logs()
    assert "Shutting down" in server.logs()
