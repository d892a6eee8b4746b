#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Write containers.conf and storage.conf under CONTAINER_WORK_DIR for buildah and podman.
#
# Overlay storage; runc with cgroupfs (crun fails on this hybrid cgroup layout); file event
# log (no journald); fixed ulimits (root cannot raise them here). The run state lives under
# the work dir too and is reset when the machine has rebooted since the last run.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

storage_root="$CONTAINER_WORK_DIR/storage"
run_root="$CONTAINER_WORK_DIR/run"
mkdir -p "$storage_root"

boot_id="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)"
boot_file="$CONTAINER_WORK_DIR/boot-id"
if [ -d "$run_root" ] && [ "$(cat "$boot_file" 2>/dev/null)" != "$boot_id" ]; then
    log "machine rebooted since last run: resetting run state"
    rm -rf "$run_root"
fi
mkdir -p "$run_root/libpod"
echo "$boot_id" >"$boot_file"

runtime_path="$(command -v runc || echo /usr/sbin/runc)"

cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$storage_root"
runroot = "$run_root/storage"
CONF

cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run_root/events.log"
tmp_dir = "$run_root/libpod"

[engine.runtimes]
runc = ["$runtime_path"]
CONF

log "wrote $CONTAINERS_CONF and $CONTAINERS_STORAGE_CONF"
