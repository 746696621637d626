#!/usr/bin/env bash
# Virtual environments with the XGBoost versions in AWS's SageMaker XGBoost serving images
# (1.7.4 in its 1.7-1 image, 3.0.5 in 3.0-5, 3.2.0 in 3.2-0), for tests/model_files/test_aws_model_format.py.
# Made under .work/aws-xgboost/<version>; an existing one is kept. Prints how long each took.
#   usage: local_test/make_aws_xgboost_envs.sh [PYTHON]   (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-python3}"
ROOT=.work/aws-xgboost
mkdir -p "$ROOT"

make_env() {
    local version="$1"; shift
    local env="$ROOT/$version"
    if [[ -x "$env/bin/python" ]] && "$env/bin/python" -c "import xgboost" 2>/dev/null; then
        echo "[aws-xgboost] $env ready"
        return
    fi
    local start; start=$(date +%s)
    rm -rf "$env"
    "$PYTHON" -m venv "$env"
    "$env/bin/python" -m pip install -q --disable-pip-version-check "$@"
    echo "[aws-xgboost] $env installed in $(( $(date +%s) - start )) s ($(du -sm "$env" | cut -f1) MB)"
}

# 1.7.x was built against NumPy 1.x.
make_env 1.7.4 "xgboost==1.7.4" "numpy<2" "scipy<1.14"
make_env 3.0.5 "xgboost-cpu==3.0.5"
make_env 3.2.0 "xgboost-cpu==3.2.0"
