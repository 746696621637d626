"""Importing any module of the package changes nothing: no folder, no environment variable.

Run as a new user would, in a fresh process with an empty home folder: sagemaker-training, for
one, creates ``~/sagemaker_local/...`` and sets ``SAGEMAKER_BASE_DIR`` when some of its modules
are imported outside a container, so the package may import those only where it needs them.
"""

from __future__ import annotations

import ast
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


# The package's stages, lowest first: a module imports only from its own stage or one below.
STAGES = (
    ("errors", "redaction", "identifiers", "data_sets", "sagemaker_layout", "booleans"),
    ("model_files",),
    ("config",),
    ("sagemaker",),
    ("hosts",),
    ("credentials",),
    ("query",),
    ("loading",),
    ("boosting",),
    ("report",),
    ("tracking",),
    ("script_mode",),
    ("scoring",),
    ("api", "training"),
)
SERVING_MAY_IMPORT = {
    "errors",
    "identifiers",
    "booleans",
    "model_files",
    "sagemaker_layout",
    "serving",
}


def _stage(top: str) -> int:
    return next(i for i, names in enumerate(STAGES) if top in names)


def _imported_tops(path: Path, module: str) -> set[str]:
    """The package's top-level names (``query``, ``errors``...) that ``module`` imports."""
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target] if node.module else [[*target, a.name] for a in node.names]
            tops.update(name[1] for name in names if len(name) > 1)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snowflake_xgb."):
            tops.add(node.module.split(".")[1])
    return tops


def test_imports_run_down_the_flow_and_serving_reads_only_model_files() -> None:
    root = Path(snowflake_xgb.__file__).parent
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("snowflake_xgb", *path.relative_to(root).with_suffix("").parts))
        own = module.split(".")[1] if module.count(".") else None
        if own in (None, "__init__"):
            continue
        tops = _imported_tops(path, module) - {own}
        if own == "serving":
            assert tops <= SERVING_MAY_IMPORT, (module, tops - SERVING_MAY_IMPORT)
            continue
        assert "serving" not in tops, module
        above = {top for top in tops if _stage(top) > _stage(own)}
        assert not above, f"{module} imports {above}, a later stage of the flow"
        if own in ("api", "training"):
            assert not tops & {"api", "training"}, f"{module}: the API and the job share steps"
