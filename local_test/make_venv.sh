#!/usr/bin/env bash
# Create or refresh a virtual environment with the project (editable) and its test tools:
# what `make test`, `make test-fast` and `make bench` run in. Called by make; .ci/run makes its
# environments through the same targets.
#
#   local_test/make_venv.sh VENV lock     the image's versions: docker/locks/build.txt and
#                                         docker/locks/$XGBOOST_PACKAGE.txt, with hashes
#                                         (redone only when a lock or pyproject.toml changed)
#   local_test/make_venv.sh VENV newest   the newest versions pyproject.toml allows, with
#                                         CONNECTOR_SPEC's connector (upgraded once a day, or
#                                         when pyproject.toml or CONNECTOR_SPEC changed)
#
# Environment: XGBOOST_PACKAGE (xgboost-cpu), CONNECTOR_SPEC (newest only; default the
# image's line, snowflake-connector-python>=5,<6), PYTHON3 (the interpreter that makes the
# venv). Without PYTHON3, the first of python3.13, python3 and pyenv's 3.13 (shims that pyenv
# has not selected fail and are skipped) that is the image's Python, docker/locks/python-version
# (3.13; XGBoost 3.3 and newer need 3.12+): lock mode needs exactly that version, newest mode
# takes 3.12 or newer. The test tools (pyproject.toml's `test` extra) are held to the lock's versions
# of whatever they share with it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:?usage: $0 VENV lock|newest}"
VERSIONS="${2:?usage: $0 VENV lock|newest}"
XGBOOST_PACKAGE="${XGBOOST_PACKAGE:-xgboost-cpu}"
CONNECTOR_SPEC="${CONNECTOR_SPEC:-snowflake-connector-python>=5,<6}"
IMAGE_PYTHON="$(cat docker/locks/python-version)"
LOCK="docker/locks/$XGBOOST_PACKAGE.txt"
STAMP="$VENV/.installed"

log() { echo "[venv $VENV] $*" >&2; }

# "X.Y" of an interpreter that runs, or nothing (a pyenv shim with no version selected fails).
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

find_python() {
    local candidate
    for candidate in "python$IMAGE_PYTHON" python3 \
        "$(pyenv root 2>/dev/null)/versions/$IMAGE_PYTHON"*/bin/"python$IMAGE_PYTHON"; do
        if [[ "$(python_version "$candidate")" == "$IMAGE_PYTHON" ]]; then
            echo "$candidate"
            return
        fi
    done
}

PYTHON3="${PYTHON3:-$(find_python)}"
if [[ -z "$PYTHON3" ]]; then
    log "no Python $IMAGE_PYTHON found (tried python$IMAGE_PYTHON, python3, pyenv): install it"
    log "(Debian 13: apt-get install python3 python3-venv; elsewhere python.org, pyenv or uv python"
    log "install $IMAGE_PYTHON), or name one with PYTHON3=/path/to/python3.12+ VENV_VERSIONS=newest"
    exit 2
fi
PYTHON_VERSION="$(python_version "$PYTHON3")"

requirements() { "$PYTHON3" docker/requirements_from_pyproject.py pyproject.toml "$@"; }

case "$VERSIONS" in
    lock)
        [[ -f "$LOCK" ]] || { log "no lock $LOCK (XGBOOST_PACKAGE=xgboost-cpu or xgboost)"; exit 2; }
        want="lock $PYTHON_VERSION $(cat docker/locks/build.txt "$LOCK" pyproject.toml "$0" | sha256sum | cut -c1-16)"
        if [[ -x "$VENV/bin/python" && "$(cat "$STAMP" 2>/dev/null)" == "$want" ]]; then
            log "up to date with $LOCK"
            exit 0
        fi
        if [[ "$PYTHON_VERSION" != "$IMAGE_PYTHON" ]]; then
            log "the locks are resolved for Python $IMAGE_PYTHON (the image's); $PYTHON3 is" \
                "${PYTHON_VERSION:-not a working Python}. Set PYTHON3=python$IMAGE_PYTHON."
            exit 2
        fi
        ;;
    newest)
        if [[ "$(printf '%s\n' 3.12 "$PYTHON_VERSION" | sort -V | head -n1)" != 3.12 ]]; then
            log "$PYTHON3 is Python ${PYTHON_VERSION:-(not working)}: XGBoost 3.3+ needs 3.12 or newer"
            exit 2
        fi
        want="newest $PYTHON_VERSION $(date -u +%F) $(echo "$CONNECTOR_SPEC" | cat - pyproject.toml "$0" | sha256sum | cut -c1-16)"
        if [[ -x "$VENV/bin/python" && "$(cat "$STAMP" 2>/dev/null)" == "$want" ]]; then
            log "upgraded to the newest versions today already"
            exit 0
        fi
        ;;
    *) log "versions must be lock or newest (got '$VERSIONS')"; exit 2 ;;
esac

start=$(date +%s)
if [[ -x "$VENV/bin/python" && "$(python_version "$VENV/bin/python")" != "$PYTHON_VERSION" ]]; then
    log "replacing it: it runs Python $(python_version "$VENV/bin/python"), not $PYTHON_VERSION"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating it"
    "$PYTHON3" -m venv "$VENV"
fi
rm -f "$STAMP"
pip=("$VENV/bin/python" -m pip install -q)
mkdir -p .work
constraints=".work/$(basename "$VENV")-constraints.txt"
if [[ "$VERSIONS" == lock ]]; then
    # The build tools first: sagemaker-training is built from source without build isolation.
    "${pip[@]}" --require-hashes --no-deps -r docker/locks/build.txt
    "${pip[@]}" --require-hashes --no-build-isolation -r "$LOCK"
    # The same pins without their hashes: a constraints file for the test tools below.
    sed -n 's/^\([A-Za-z0-9][^ ]*==[^ ]*\).*/\1/p' "$LOCK" docker/locks/build.txt >"$constraints"
else
    "${pip[@]}" --upgrade pip setuptools wheel
    requirements --xgboost "$XGBOOST_PACKAGE" >"$constraints.in"
    echo "$CONNECTOR_SPEC" >>"$constraints.in"
    "${pip[@]}" --upgrade --upgrade-strategy eager -r "$constraints.in"
    "$VENV/bin/python" -m pip freeze --exclude-editable >"$constraints"
fi
# The project itself without its dependencies (XGBOOST_PACKAGE provides the xgboost module;
# pip would otherwise add the CUDA build), then the test tools within the pins above.
"${pip[@]}" --no-deps --no-build-isolation -e .
requirements --extra test >".work/$(basename "$VENV")-test.in"
"${pip[@]}" -c "$constraints" -r ".work/$(basename "$VENV")-test.in"
"$VENV/bin/python" docker/requirements_from_pyproject.py pyproject.toml \
    --xgboost "$XGBOOST_PACKAGE" --check
echo "$want" >"$STAMP"
log "ready in $(( $(date +%s) - start ))s: connector $("$VENV/bin/python" -c 'import snowflake.connector as c; print(c.__version__)'), xgboost $("$VENV/bin/python" -c 'import xgboost; print(xgboost.__version__)')"
