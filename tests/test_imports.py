"""Importing any module of the package changes nothing: no folder, no environment variable.

Run as a new user would, in a fresh process with an empty home folder: sagemaker-training, for
one, creates ``~/sagemaker_local/...`` and sets ``SAGEMAKER_BASE_DIR`` when some of its modules
are imported outside a container, so the package may import those only where it needs them.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import snowflake_xgb

_IMPORT_ALL = """
import importlib, json, os, sys
before = dict(os.environ)
for name in sys.argv[1:]:
    importlib.import_module(name)
from snowflake_xgb.sagemaker.job_environment import JobEnvironment
changed = [k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)]
print(json.dumps({"changed": sorted(changed), "hosts": JobEnvironment.from_environ().hosts}))
"""


def _modules() -> list[str]:
    """Every module of the package, subpackages included (``walk_packages`` descends)."""
    return [
        info.name
        for info in pkgutil.walk_packages(snowflake_xgb.__path__, "snowflake_xgb.")
        if not info.name.endswith("__main__")
    ]


def test_every_subpackage_is_walked() -> None:
    modules = set(_modules())
    assert {"snowflake_xgb.loading.matrices", "snowflake_xgb.serving.app"} <= modules
    assert len(modules) > 45


def test_importing_every_module_leaves_files_and_environment_alone(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "SM_"))}
    environ["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, *_modules()],
        env=environ,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"changed": [], "hosts": ["algo-1"]}
    assert list(home.iterdir()) == [] and list(work.iterdir()) == []


def test_every_module_says_what_it_owns() -> None:
    for name in _modules():
        module = __import__(name, fromlist=["_"])
        assert module.__doc__ and len(module.__doc__.split()) > 5, name
        table_name = name.removeprefix("snowflake_xgb.")
        if hasattr(module, "__path__") or table_name.startswith("serving."):
            continue  # a folder's docstring is its row; serving's modules are listed in serving
        assert f"``{table_name}``" in snowflake_xgb.__doc__, f"{name} not in the module table"
