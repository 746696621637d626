"""The training report of real jobs (``train`` on 2 hosts, the stand-ins): the job's own numbers.

The report is opened the way a person opens it: rendered by a real browser engine (headless
Chromium, from Debian's packages) when one is installed, and the DOM it built is read back. CI
installs Chromium and sets ``SNOWFLAKE_XGB_REQUIRE_BROWSER=1``; elsewhere, without it, the file
itself is parsed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from support.jobs import HostRun, JobRunner
from support.report_dom import ReportDom
from support.standins import HOUSING_TABLE, StandIns

pytestmark = pytest.mark.distributed

BROWSER_SECONDS = 60
BINARY_QUERY = (
    f"SELECT *, CASE WHEN MEDHOUSEVAL > 2 THEN 1 ELSE 0 END AS EXPENSIVE FROM {HOUSING_TABLE}"
)
MULTICLASS_QUERY = (
    "SELECT *, CASE WHEN MEDHOUSEVAL < 1.5 THEN 0 WHEN MEDHOUSEVAL < 3 THEN 1 ELSE 2 END "
    f"AS PRICE_BAND FROM {HOUSING_TABLE}"
)


def open_in_browser(path: Path, profile: Path) -> str:
    """The report's DOM after a headless Chromium loaded and laid it out (or the file)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("SNOWFLAKE_XGB_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here (apt-get install chromium)")
        return path.read_text()
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=BROWSER_SECONDS, check=True,
    )  # fmt: skip
    assert "<section" in result.stdout, result.stderr[-2000:]
    return result.stdout


def report_of(host: HostRun, tmp_path: Path) -> ReportDom:
    path = host.output_dir / "data" / "report.html"
    assert path.is_file(), host.output[-3000:]
    dom = ReportDom(open_in_browser(path, tmp_path / "browser-profile"))
    assert dom.fetched == []  # opens with no network
    return dom


def as_float(text: str) -> float:
    return float(text.replace(",", ""))


def check_common_sections(run_hosts: list[HostRun], dom: ReportDom) -> dict:
    """Sections every job's report has, against metadata.json, shard files and the log."""
    coordinator = run_hosts[0]
    metadata = coordinator.metadata()
    shards = [host.shard_report() for host in run_hosts]

    finals = {
        f"{r['data set']}-{r['metric']}": as_float(r["value at the best round"])
        for r in dom.sections["overview"].rows("Final metrics")
    }
    assert finals.keys() == metadata["final_metrics"].keys()
    for name, value in metadata["final_metrics"].items():
        assert math.isclose(finals[name], value, rel_tol=1e-5), name

    # Every round's metrics, as the job printed them (5 decimals) in SageMaker's form.
    printed = [line for line in coordinator.output.splitlines() if re.match(r"^\[\d+\]\t", line)]
    per_round = dom.sections["learning-curves"].rows("round")
    assert len(per_round) == metadata["rounds_trained"] == len(printed)
    for line, row in zip(printed, per_round, strict=True):
        assert line.split("]")[0] == f"[{row['round']}"
        for score in line.split("\t")[1:]:
            name, value = score.split(":")
            assert abs(as_float(row[name]) - float(value)) <= 6e-6, (line, row)
    assert dom.sections["learning-curves"].charts == len(
        {name.split("-", 1)[1] for name in metadata["final_metrics"]}
    )

    # Rows per host: the shard files' ranges, drawn.
    hosts = dom.sections["hosts"]
    rows = {(r["data set"], r["host"]): r for r in hosts.rows("host")}
    for shard in shards:
        for data_set, report in (("training", shard), ("validation", shard["validation"])):
            row = rows[(data_set, shard["host"])]
            assert as_float(row["rows"]) == report["rows"]
            assert row["row range"] == f"[{report['row_start']:,}, {report['row_end']:,})"
            assert as_float(row["load seconds"]) > 0
    assert hosts.charts == 1 and {h.name for h in run_hosts} <= set(hosts.chart_texts)
    overview = dict(row for row in dom.sections["overview"].table("objective"))
    assert as_float(overview["training rows"]) == metadata["rows"]
    assert as_float(overview["hosts"]) == len(run_hosts)

    # Feature importance of the model the job saved.
    model = xgb.Booster(model_file=str(coordinator.model_dir / "xgboost-model"))
    gain = model.get_score(importance_type="gain")
    importance = dom.sections["feature-importance"].rows("feature")
    assert importance[0]["feature"] == max(gain, key=gain.get)
    assert {r["feature"] for r in importance} == set(metadata["feature_names"])
    for row in importance:
        assert math.isclose(as_float(row["gain"]), gain.get(row["feature"], 0), rel_tol=1e-5)

    snapshot = {r["data set"]: r["query id"] for r in dom.sections["snapshot"].rows("query id")}
    assert snapshot == {k: v for k, v in metadata["query_ids"].items() if v}

    parameters = dict(dom.sections["parameters"].table("Parameters")[1:])
    for name, value in metadata["xgboost_params"].items():
        assert parameters[name] == (",".join(value) if isinstance(value, list) else str(value))
    versions = dict(dom.sections["parameters"].table("Library versions")[1:])
    assert versions["xgboost"] == xgb.__version__ == metadata["versions"]["xgboost"]
    return metadata


def test_regression_report_holds_the_jobs_numbers(
    jobs: JobRunner, housing_params: dict, tmp_path: Path
) -> None:
    run = jobs.run({**housing_params, "eval_metric": "rmse,mae"}, hosts=2)
    assert [h.returncode for h in run.hosts] == [0, 0], run.coordinator.output[-3000:]
    dom = report_of(run.coordinator, tmp_path)
    assert "classification" not in dom.sections
    check_common_sections(run.hosts, dom)
    # Only the coordinator writes the report.
    assert not (run.hosts[1].output_dir / "data" / "report.html").exists()


def exact_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # ties share their mean rank
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def validation_rows(standins: StandIns, query_id: str):
    """Every validation row, read back in one piece from the stored result of the job's query."""
    with standins.connect() as connection:
        cursor = connection.cursor()
        cursor.get_results_from_sfqid(query_id)
        return cursor.fetch_pandas_all()


def check_classification(
    run_hosts: list[HostRun], dom: ReportDom, standins: StandIns, metadata: dict, label: str
) -> list[dict[str, str]]:
    """The confusion matrix and ROC areas against every validation row predicted here."""
    section = dom.sections["classification"]
    assert section.charts == 2
    frame = validation_rows(standins, metadata["query_ids"]["validation"])
    assert len(frame) == sum(h.shard_report()["validation"]["rows"] for h in run_hosts)
    model = xgb.Booster(model_file=str(run_hosts[0].model_dir / "xgboost-model"))
    features = metadata["feature_names"]
    matrix = xgb.DMatrix(frame[features].to_numpy(np.float32), feature_names=features)
    # Margins, so that multi:softmax (whose predict gives classes) is ranked too.
    margins = model.predict(matrix, output_margin=True).reshape(len(frame), -1)
    if margins.shape[1] == 1:  # binary: P(0), P(1)
        positive = 1 / (1 + np.exp(-margins[:, 0]))
        scores = np.column_stack([1 - positive, positive])
        predicted = (positive >= 0.5).astype(int)
    else:
        scores = np.exp(margins) / np.exp(margins).sum(axis=1, keepdims=True)
        predicted = scores.argmax(axis=1)
        assert np.array_equal(predicted, model.predict(matrix))  # multi:softmax's own classes
    truth = frame[label].to_numpy().astype(int)
    classes = range(scores.shape[1])
    for row in section.rows("Confusion matrix (rows: true class)"):
        true_class = int(row["true \\ predicted"])
        for guess in classes:
            expected = int(np.sum((truth == true_class) & (predicted == guess)))
            assert as_float(row[str(guess)]) == expected, (true_class, guess)
    areas = section.rows("ROC")
    for row in areas:
        positive = int(row["positive class"])
        assert as_float(row["positive rows"]) == np.sum(truth == positive)
        exact = exact_auc(scores[:, positive], truth == positive)
        assert abs(as_float(row["AUC"]) - exact) < 1e-3, (positive, row["AUC"], exact)
    return areas


def test_binary_classification_report_covers_all_validation_rows(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    params = {
        "query": BINARY_QUERY, "label": "expensive", "exclude": "medhouseval",
        "validation_fraction": 0.2, "num_round": 15, "max_depth": 4, "eta": 0.3,
        "objective": "binary:logistic", "eval_metric": "logloss,auc",
    }  # fmt: skip
    run = jobs.run(params, hosts=2)
    assert [h.returncode for h in run.hosts] == [0, 0], run.coordinator.output[-3000:]
    dom = report_of(run.coordinator, tmp_path)
    metadata = check_common_sections(run.hosts, dom)
    (roc,) = check_classification(run.hosts, dom, standins, metadata, "EXPENSIVE")
    assert roc["positive class"] == "1"
    assert abs(as_float(roc["AUC"]) - metadata["final_metrics"]["validation-auc"]) < 2e-3


def test_multiclass_report_has_one_roc_per_class(
    jobs: JobRunner, standins: StandIns, tmp_path: Path
) -> None:
    params = {
        "query": MULTICLASS_QUERY, "label": "price_band", "exclude": "medhouseval",
        "validation_fraction": 0.2, "num_round": 8, "max_depth": 4,
        "objective": "multi:softmax", "num_class": 3, "eval_metric": "mlogloss",
    }  # fmt: skip
    run = jobs.run(params, hosts=2)
    assert [h.returncode for h in run.hosts] == [0, 0], run.coordinator.output[-3000:]
    dom = report_of(run.coordinator, tmp_path)
    metadata = check_common_sections(run.hosts, dom)
    areas = check_classification(run.hosts, dom, standins, metadata, "PRICE_BAND")
    assert [row["positive class"] for row in areas] == ["0", "1", "2"]


def test_report_false_writes_no_report(jobs: JobRunner, housing_params: dict) -> None:
    run = jobs.run({**housing_params, "num_round": 3, "report": "false"})
    host = run.coordinator
    assert host.returncode == 0, host.output[-3000:]
    assert (host.model_dir / "xgboost-model").is_file()
    assert not (host.output_dir / "data" / "report.html").exists()


def test_report_with_the_aws_model_format(
    jobs: JobRunner, housing_params: dict, tmp_path: Path
) -> None:
    """model_format=aws-xgboost keeps metadata.json in output/data: the report reads it there."""
    run = jobs.run({**housing_params, "num_round": 5, "model_format": "aws-xgboost"})
    host = run.coordinator
    assert host.returncode == 0, host.output[-3000:]
    dom = report_of(host, tmp_path)
    metadata = json.loads((host.output_dir / "data" / "metadata.json").read_text())
    assert as_float(dict(dom.sections["overview"].table("objective"))["rounds trained"]) == 5
    finals = dom.sections["overview"].rows("Final metrics")
    assert {f"{r['data set']}-{r['metric']}" for r in finals} == set(metadata["final_metrics"])
