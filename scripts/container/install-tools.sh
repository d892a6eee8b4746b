#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Install the container tools (buildah, podman, runc, debootstrap) from Debian if any is missing.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
for tool in buildah podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -eq 0 ]; then
    log "tools present: buildah podman runc debootstrap"
    exit 0
fi

require_root
command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
log "installing ${missing[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends buildah podman runc debootstrap >/dev/null \
    || die "apt-get install buildah podman runc debootstrap failed"
for tool in buildah podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after install"
done
log "tools installed"
