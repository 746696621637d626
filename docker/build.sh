#!/usr/bin/env bash
# Build the training image (and, with --standins, the stand-ins image) from the repository.
# `make build` / `make build-standins` call this; the variables below are the Makefile's.
#
#   IMAGE, TAG          image name and tag                    (snowflake-xgb, latest)
#   BASE_IMAGE          runtime base image                    (python:3.13-slim)
#   BUILDER_IMAGE       build-stage base image                (BASE_IMAGE)
#   XGBOOST_PACKAGE     xgboost-cpu | xgboost (CUDA)          (xgboost-cpu)
#   LOCAL_BASE          no   : use BASE_IMAGE as given (pulled from its registry)
#                       yes  : build from a Debian base made locally with debootstrap
#                              (docker/make_base_image.sh), with the build on the host network
#                              and the machine's CA bundle handed to pip; for machines without
#                              a registry, behind a TLS-intercepting proxy
#                       auto : (default) yes only when BASE_IMAGE is neither present nor pullable
#   CA_BUNDLE           extra CA bundle for pip in the build  (none; LOCAL_BASE=yes: the
#                       machine's default bundle)
#   DOCKER_BUILD_FLAGS  extra flags for `docker build`        (none)
#
# Usage: docker/build.sh [--standins] [--no-train]
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-snowflake-xgb}"
TAG="${TAG:-latest}"
STANDINS_IMAGE="${STANDINS_IMAGE:-${IMAGE}-standins}"
BASE_IMAGE="${BASE_IMAGE:-python:3.13-slim}"
BUILDER_IMAGE="${BUILDER_IMAGE:-}"
XGBOOST_PACKAGE="${XGBOOST_PACKAGE:-xgboost-cpu}"
LOCAL_BASE="${LOCAL_BASE:-auto}"
LOCAL_BASE_NAME="${LOCAL_BASE_NAME:-snowflake-xgb-base}"
# The Debian release whose python3 is the locks' Python (docker/locks/python-version): trixie, 3.13.
LOCAL_BASE_SUITE="${LOCAL_BASE_SUITE:-trixie}"
CA_BUNDLE="${CA_BUNDLE:-}"
DOCKER_BUILD_FLAGS="${DOCKER_BUILD_FLAGS:-}"

want_train=1 want_standins=0
for arg in "$@"; do
    case "$arg" in
        --standins) want_standins=1 ;;
        --no-train) want_train=0 ;;
        *) echo "usage: $0 [--standins] [--no-train]" >&2; exit 2 ;;
    esac
done

log() { echo "[build] $*" >&2; }

if ! docker info >/dev/null 2>&1; then
    log "no Docker engine answers (docker info failed): start dockerd first"
    exit 1
fi

if [[ "$LOCAL_BASE" == auto ]]; then
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        LOCAL_BASE=no
    else
        log "cannot pull $BASE_IMAGE (no registry?): building from a local Debian base instead (LOCAL_BASE=yes)"
        LOCAL_BASE=yes
    fi
fi

network_flags=()
case "$LOCAL_BASE" in
    yes)
        SUITE="$LOCAL_BASE_SUITE" docker/make_base_image.sh "$LOCAL_BASE_NAME"
        BASE_IMAGE="${LOCAL_BASE_NAME}:$LOCAL_BASE_SUITE"
        BUILDER_IMAGE="${LOCAL_BASE_NAME}:$LOCAL_BASE_SUITE-build"
        network_flags=(--network host)
        if [[ -z "$CA_BUNDLE" ]]; then
            CA_BUNDLE="$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")' 2>/dev/null || true)"
            [[ -n "$CA_BUNDLE" ]] || CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
        fi
        ;;
    no) ;;
    *) log "LOCAL_BASE must be yes, no or auto (got '$LOCAL_BASE')"; exit 2 ;;
esac
BUILDER_IMAGE="${BUILDER_IMAGE:-$BASE_IMAGE}"

# The extra CA bundle travels in the build context (docker/certs/, gitignored) and only
# the build stages read it; stale bundles from an earlier build are removed.
rm -f docker/certs/ca-certificates.crt
if [[ -n "$CA_BUNDLE" ]]; then
    if [[ ! -s "$CA_BUNDLE" ]]; then
        log "CA_BUNDLE=$CA_BUNDLE is not a readable file"
        exit 1
    fi
    cp "$CA_BUNDLE" docker/certs/ca-certificates.crt
fi

# shellcheck disable=SC2206
extra_flags=($DOCKER_BUILD_FLAGS)

if [[ "$want_train" == 1 ]]; then
    log "building ${IMAGE}:${TAG} (base $BASE_IMAGE, builder $BUILDER_IMAGE, $XGBOOST_PACKAGE)"
    start=$(date +%s)
    docker build -f docker/Dockerfile \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --build-arg "BUILDER_IMAGE=$BUILDER_IMAGE" \
        --build-arg "XGBOOST_PACKAGE=$XGBOOST_PACKAGE" \
        "${network_flags[@]}" "${extra_flags[@]}" \
        -t "${IMAGE}:${TAG}" .
    log "built ${IMAGE}:${TAG} in $(( $(date +%s) - start ))s, size $(docker image inspect -f '{{.Size}}' "${IMAGE}:${TAG}" | awk '{printf "%.0f MB", $1/1e6}')"
fi

if [[ "$want_standins" == 1 ]]; then
    log "building ${STANDINS_IMAGE}:${TAG} (base $BASE_IMAGE)"
    docker build -f docker/standins.Dockerfile \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        "${network_flags[@]}" "${extra_flags[@]}" \
        -t "${STANDINS_IMAGE}:${TAG}" .
fi
