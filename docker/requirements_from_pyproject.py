"""Write the project's runtime dependencies from pyproject.toml as a requirements file.

Used by docker/Dockerfile so that dependencies are installed (and cached as an image layer)
before the package source is copied. ``--xgboost NAME`` substitutes the distribution that
provides the ``xgboost`` module: ``xgboost-cpu`` (CPU only, small) or ``xgboost`` (with CUDA).
Standard library only (tomllib, Python 3.11+; falls back to tomli).
"""

import argparse
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def requirements(pyproject: str, xgboost: str) -> list[str]:
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    out = []
    for dep in deps:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", dep)
        if m and re.sub(r"[-_.]+", "-", m.group(1)).lower() == "xgboost":
            dep = xgboost + m.group(2)
        out.append(dep.strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pyproject")
    parser.add_argument("--xgboost", default="xgboost-cpu", choices=["xgboost", "xgboost-cpu"])
    args = parser.parse_args()
    sys.stdout.write("".join(r + "\n" for r in requirements(args.pyproject, args.xgboost)))


if __name__ == "__main__":
    main()
