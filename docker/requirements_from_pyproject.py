"""Write the project's runtime dependencies (or one extra's) from pyproject.toml as requirements.

``docker/lock.sh`` (``make lock``) locks the image's dependencies from this list, and
``local_test/make_venv.sh`` installs the test tools (``--extra test``) from it. ``--xgboost
NAME`` substitutes the distribution that provides the ``xgboost`` module: ``xgboost-cpu`` (CPU
only, small) or ``xgboost`` (with CUDA). ``--check`` prints nothing and instead fails, naming
each requirement the installed distributions do not satisfy (a lock older than pyproject.toml).
Standard library only (tomllib, Python 3.11+; falls back to tomli), but ``--check`` needs
``packaging``.
"""

import argparse
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def requirements(pyproject: str, xgboost: str, extra: str | None = None) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    deps = project["optional-dependencies"][extra] if extra else project["dependencies"]
    out = []
    for dep in deps:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", dep)
        if m and re.sub(r"[-_.]+", "-", m.group(1)).lower() == "xgboost":
            dep = xgboost + m.group(2)
        out.append(dep.strip())
    return out


def unsatisfied(lines: list[str]) -> list[str]:
    """The requirements that the distributions installed here do not satisfy, each explained."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    problems = []
    for line in lines:
        requirement = Requirement(line)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{line}: not installed")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{line}: {installed} installed")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pyproject")
    parser.add_argument("--xgboost", default="xgboost-cpu", choices=["xgboost", "xgboost-cpu"])
    parser.add_argument("--extra", help="an optional-dependencies group instead (e.g. test)")
    parser.add_argument("--check", action="store_true", help="check what is installed instead")
    args = parser.parse_args()
    lines = requirements(args.pyproject, args.xgboost, args.extra)
    if not args.check:
        sys.stdout.write("".join(r + "\n" for r in lines))
        return
    problems = unsatisfied(lines)
    if problems:
        sys.exit(
            "The installed versions do not satisfy pyproject.toml (is the lock older than it? "
            "`make lock LOCK_UPGRADE=no` re-locks):\n  " + "\n  ".join(problems)
        )


if __name__ == "__main__":
    main()
