#!/usr/bin/env bash
# Lock the image's exact dependency versions, with hashes: `make lock` runs this.
#
#   docker/locks/xgboost-cpu.txt   the image's runtime set with XGBOOST_PACKAGE=xgboost-cpu
#   docker/locks/xgboost.txt       the same with the CUDA build (XGBOOST_PACKAGE=xgboost)
#   docker/locks/build.txt         pip, setuptools and wheel: what builds sagemaker-training
#                                  (published as source only) without build isolation
#
# Each runtime lock is the project's dependencies (pyproject.toml, with XGBOOST_PACKAGE in
# place of xgboost) plus the connector line the image ships (IMAGE_CONNECTOR), written to
# docker/locks/<package>.in (kept beside the lock, to show what was asked for), resolved for
# the image's Python (LOCK_PYTHON, default docker/locks/python-version: 3.13, Debian trixie's
# and python:3.13-slim's) on x86_64 Linux, and the Python version is written back to
# docker/locks/python-version, which the Dockerfile and local_test/make_venv.sh check against.
# The Dockerfile installs from them with --require-hashes; `make test` builds .venv from the
# same lock, so the tests see the image's versions.
#
# LOCK_UPGRADE=yes (default): every package to the newest version allowed (a refresh).
# LOCK_UPGRADE=no: keep the versions already locked where they still fit (after a change to
# pyproject.toml, say). The resolver is uv (UV_VERSION), in its own venv (.work/lock-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="${UV_VERSION:-0.13.8}"
LOCK_PYTHON="${LOCK_PYTHON:-$(cat docker/locks/python-version)}"
LOCK_PLATFORM="${LOCK_PLATFORM:-x86_64-manylinux_2_28}"
LOCK_UPGRADE="${LOCK_UPGRADE:-yes}"
IMAGE_CONNECTOR="${IMAGE_CONNECTOR:-snowflake-connector-python>=5,<6}"
TOOL_VENV=.work/lock-venv
UV="$TOOL_VENV/bin/uv"

log() { echo "[lock] $*" >&2; }

if [[ ! -x "$UV" ]] || [[ "$("$UV" --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
    log "installing uv $UV_VERSION in $TOOL_VENV"
    python3 -m venv "$TOOL_VENV"
    "$TOOL_VENV/bin/python" -m pip install -q "uv==$UV_VERSION"
fi

flags=(--generate-hashes --python-version "$LOCK_PYTHON" --python-platform "$LOCK_PLATFORM"
       --custom-compile-command "make lock" --quiet)
case "$LOCK_UPGRADE" in
    yes) flags+=(--upgrade) ;;
    no) ;;
    *) log "LOCK_UPGRADE must be yes or no (got '$LOCK_UPGRADE')"; exit 2 ;;
esac

mkdir -p docker/locks
for package in xgboost-cpu xgboost; do
    input="docker/locks/$package.in"
    {
        python3 docker/requirements_from_pyproject.py pyproject.toml --xgboost "$package"
        echo "$IMAGE_CONNECTOR"
    } > "$input"
    "$UV" pip compile "${flags[@]}" "$input" -o "docker/locks/$package.txt"
    log "docker/locks/$package.txt: $(grep -c '^[a-z0-9].*==' "docker/locks/$package.txt") packages"
done
# pip as the runtime lock has it, so that installing the runtime lock changes nothing here.
printf 'pip\nsetuptools\nwheel\n' > docker/locks/build.in
"$UV" pip compile "${flags[@]}" --constraint docker/locks/xgboost-cpu.txt docker/locks/build.in \
    -o docker/locks/build.txt
log "docker/locks/build.txt: $(grep '^[a-z0-9].*==' docker/locks/build.txt | cut -d' ' -f1 | tr '\n' ' ')"
echo "$LOCK_PYTHON" > docker/locks/python-version
log "docker/locks/python-version: $LOCK_PYTHON"
