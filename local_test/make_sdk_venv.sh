#!/usr/bin/env bash
# A virtual environment with the SageMaker Python SDK, for the SDK tests and examples only
# (never a dependency of the image or the package): .work/sdk-venv (SDK_VENV overrides).
#
#   local_test/make_sdk_venv.sh          # SDK v3 (what `pip install sagemaker` gives today)
#   SDK_SPEC='sagemaker>=2.250,<3' SDK_VENV=.work/sdk-v2-venv local_test/make_sdk_venv.sh  # v2
#
# Does nothing when the venv already holds a matching SDK. Telemetry is switched off for
# everything run from it through .work/sagemaker-config.yaml (SAGEMAKER_USER_CONFIG_OVERRIDE).
set -euo pipefail
cd "$(dirname "$0")/.."
SDK_VENV="${SDK_VENV:-.work/sdk-venv}"
SDK_SPEC="${SDK_SPEC:-sagemaker>=3.27,<4}"
PYTHON="${PYTHON:-python3}"

mkdir -p .work
cat > .work/sagemaker-config.yaml <<'YAML'
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
YAML

if [[ -x "$SDK_VENV/bin/python" ]] && "$SDK_VENV/bin/python" - "$SDK_SPEC" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
from packaging.requirements import Requirement
sys.exit(0 if Requirement(sys.argv[1]).specifier.contains(version("sagemaker")) else 1)
PY
then
    echo "$SDK_VENV: sagemaker $("$SDK_VENV/bin/python" -c 'from importlib.metadata import version; print(version("sagemaker"))') already there"
    exit 0
fi

start=$(date +%s)
"$PYTHON" -m venv "$SDK_VENV"
"$SDK_VENV/bin/python" -m pip install -q --upgrade pip
"$SDK_VENV/bin/python" -m pip install -q "$SDK_SPEC" boto3 pyyaml
echo "$SDK_VENV: sagemaker $("$SDK_VENV/bin/python" -c 'from importlib.metadata import version; print(version("sagemaker"))') installed in $(( $(date +%s) - start ))s"
