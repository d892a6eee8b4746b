# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for scripts/container/*.sh (sourced, not run).
#
# CONTAINER_WORK_DIR  cache and state: tools' config, base image tarball, image storage
#                     (default /var/tmp/cds-container)

CONTAINER_WORK_DIR="${CONTAINER_WORK_DIR:-/var/tmp/cds-container}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The local stand-in for python:3.11-slim: Debian bookworm ships Python 3.11.
BASE_IMAGE_NAME="${BASE_IMAGE_NAME:-localhost/localpy}"
BASE_SUITE="bookworm"
BASE_PACKAGES="python3,python3-pip,python3-venv,ca-certificates"

export CONTAINERS_CONF="$CONTAINER_WORK_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$CONTAINER_WORK_DIR/storage.conf"

log() {
    printf '[container %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "FAILED: $*"
    exit 1
}

require_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, mounts overlay storage)"
}
