"""What a job leaves behind: written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xgboost as xgb

from snowflake_xgb.model_files import outputs


def test_save_model_writes_a_loadable_model_and_its_metadata(tmp_path: Path) -> None:
    data = xgb.DMatrix(np.arange(20, dtype=np.float32).reshape(10, 2), label=np.arange(10))
    booster = xgb.train({"max_depth": 2}, data, 3)
    path = outputs.save_model(tmp_path / "model", booster, {"label": "Y"})
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "metadata.json",
        "xgboost-model",
    ]
    loaded = xgb.Booster(model_file=str(path))
    np.testing.assert_allclose(loaded.predict(data), booster.predict(data))
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert metadata["label"] == "Y" and metadata["versions"]["xgboost"] == xgb.__version__


def test_write_atomically_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "file.bin"
    outputs.write_atomically(path, b"first version")
    outputs.write_atomically(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]  # no temporary left


def test_shard_reports_are_one_file_per_host(tmp_path: Path) -> None:
    outputs.write_shard_report(tmp_path, "algo-1", {"rows": 3})
    outputs.write_shard_report(tmp_path, "algo-2", {"rows": 4})
    assert json.loads((tmp_path / "shard-algo-2.json").read_text()) == {"rows": 4}
