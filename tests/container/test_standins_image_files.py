"""The stand-ins image holds every ``local_test`` module its scripts import (no Docker needed).

``docker/standins.Dockerfile`` copies the scripts one by one into ``/opt/standins``, from a
build context that ``.dockerignore`` allowlists file by file; a module added to ``local_test``
and imported by one of them must be in both, or the build or the stand-in fails at its start.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL_TEST = REPO / "local_test"


def _copied_scripts() -> set[str]:
    dockerfile = (REPO / "docker" / "standins.Dockerfile").read_text().replace("\\\n", " ")
    copied = set()
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and words[-1].startswith("/opt/standins"):
            copied |= {Path(w).name for w in words[1:-1] if re.match(r"local_test/\w+\.py$", w)}
    return copied


def _local_imports(script: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return {f"{name}.py" for name in names if (LOCAL_TEST / f"{name}.py").is_file()}


def test_every_local_module_the_standins_import_is_copied():
    copied = _copied_scripts()
    assert {"standin_servers.py", "snowflake_front.py", "seed_standins.py"} <= copied, copied
    missing = {
        f"{script} imports {module}"
        for script in copied
        for module in _local_imports(LOCAL_TEST / script) - copied
    }
    assert not missing, sorted(missing)
    allowed = set((REPO / ".dockerignore").read_text().splitlines())
    assert not {f"!local_test/{script}" for script in copied} - allowed
