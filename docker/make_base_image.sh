#!/usr/bin/env bash
# Build local base images from Debian packages with debootstrap, for machines that
# cannot pull from a container registry (air-gapped hosts, CI runners behind a proxy).
#
# Not needed where `docker pull python:3.13-slim` works: the Dockerfile's default base
# is the official slim Python image. See docs/container.md ("Building without a registry").
#
# Usage: docker/make_base_image.sh [NAME]        (default NAME: snowflake-xgb-base)
# Makes two images (skipped when both exist already; FORCE=1 rebuilds):
#   NAME:trixie          runtime base: python3 (Debian 13's 3.13), venv, ca-certificates
#   NAME:trixie-build    builder base: the same plus gcc and the Python headers
# Environment: SUITE (default trixie, whose python3 is the locks' 3.13; bookworm has 3.11), MIRROR (default http://deb.debian.org/debian),
#              WORKDIR (default /var/tmp/snowflake-xgb-base; needs about 1 GB).
# Needs root (debootstrap) and a running Docker engine.
set -euo pipefail

NAME="${1:-snowflake-xgb-base}"
SUITE="${SUITE:-trixie}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
WORKDIR="${WORKDIR:-/var/tmp/snowflake-xgb-base}"
RUNTIME_TAG="${NAME}:${SUITE}"
BUILD_TAG="${NAME}:${SUITE}-build"

RUNTIME_PKGS="python3,python3-venv,ca-certificates"
BUILD_PKGS="${RUNTIME_PKGS},python3-dev,gcc,libc6-dev"

log() { echo "[make_base_image] $*" >&2; }

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$RUNTIME_TAG" >/dev/null 2>&1 \
    && docker image inspect "$BUILD_TAG" >/dev/null 2>&1; then
    log "$RUNTIME_TAG and $BUILD_TAG exist already (FORCE=1 rebuilds)"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "debootstrap is not installed: apt-get install -y debootstrap"
    exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
    log "debootstrap needs root"
    exit 1
fi

mkdir -p "$WORKDIR/cache"
ROOTFS="$(mktemp -d "$WORKDIR/rootfs.XXXXXX")"
cleanup() { rm -rf "$ROOTFS"; }
trap cleanup EXIT

# One rootfs per image; the .deb cache makes the second run cheap.
make_image() {
    local tag="$1" pkgs="$2"
    rm -rf "$ROOTFS" && mkdir -p "$ROOTFS"
    log "debootstrap $SUITE ($pkgs) for $tag"
    debootstrap --variant=minbase --cache-dir="$WORKDIR/cache" --include="$pkgs" \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$WORKDIR/debootstrap.log" 2>&1 || {
        tail -n 30 "$WORKDIR/debootstrap.log" >&2
        log "debootstrap failed (full log: $WORKDIR/debootstrap.log)"
        return 1
    }
    # Leave no package lists, caches, docs or logs in the image.
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
        "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/log/* \
        "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
    log "importing $tag"
    tar -C "$ROOTFS" -c . | docker import \
        -c 'ENV LANG=C.UTF-8' \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'CMD ["/bin/bash"]' \
        -m "debootstrap $SUITE minbase + $pkgs" - "$tag" >/dev/null
}

make_image "$RUNTIME_TAG" "$RUNTIME_PKGS"
make_image "$BUILD_TAG" "$BUILD_PKGS"
docker image ls "$NAME" >&2
