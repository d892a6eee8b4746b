#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build (once, cached) and import the local stand-in for python:3.11-slim as localhost/localpy.
#
# debootstrap a minimal Debian bookworm with Python 3.11 and pip from the machine's own apt
# mirror, make it behave like the official image (pip allowed, /usr/local/bin/python, the
# host's CA bundle so pip trusts this network), cache it as a tarball and import it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Bump when the recipe below changes, to rebuild cached tarballs and images.
RECIPE_VERSION=1
base_dir="$CONTAINER_WORK_DIR/base"
tarball="$base_dir/localpy-$BASE_SUITE-v$RECIPE_VERSION.tar"
imported_marker="$base_dir/imported"

# The first Debian mirror in the apt sources that serves $BASE_SUITE (one-line or deb822 format).
apt_mirror() {
    local files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 0
    mirror_in "${files[@]}"
}

mirror_in() {
    awk -v suite="$BASE_SUITE" '
        function check(uris, suites,    u, s, nu, ns, i, j) {
            nu = split(uris, u, " "); ns = split(suites, s, " ")
            for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                if (s[j] == suite && !found) { print u[i]; found = 1 }
        }
        function stanza_end() {
            if (types ~ /(^| )deb( |$)/) check(uris, suites)
            types = uris = suites = ""
        }
        FNR == 1 { stanza_end() }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) stanza_end()
            else if ($1 == "Types:") { $1 = ""; types = $0 }
            else if ($1 == "URIs:") { $1 = ""; uris = $0 }
            else if ($1 == "Suites:") { $1 = ""; suites = $0 }
            next
        }
        $1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            check($i, $(i + 1))
        }
        END { stanza_end() }
    ' "$@" | head -n 1
}

build_tarball() {
    local mirror rootfs
    mirror="${CONTAINER_DEBIAN_MIRROR:-$(apt_mirror)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    rootfs="$base_dir/rootfs"
    rm -rf "$rootfs" "$tarball.tmp"
    mkdir -p "$rootfs"
    log "debootstrap $BASE_SUITE from $mirror (about a minute, cached afterwards)"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$BASE_SUITE" "$rootfs" "$mirror" \
        >"$base_dir/debootstrap.log" 2>&1 \
        || { tail -n 20 "$base_dir/debootstrap.log" >&2; die "debootstrap failed (log: $base_dir/debootstrap.log)"; }

    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    log "cached base tarball $tarball ($(du -h "$tarball" | cut -f1))"
}

mkdir -p "$base_dir"
if [ -f "$tarball" ]; then
    log "base tarball cached: $tarball"
else
    require_root
    build_tarball
fi

if podman image exists "$BASE_IMAGE_NAME" && [ "$(cat "$imported_marker" 2>/dev/null)" = "$tarball" ]; then
    log "base image present: $BASE_IMAGE_NAME"
    exit 0
fi
log "importing $BASE_IMAGE_NAME"
podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    "$tarball" "$BASE_IMAGE_NAME" >/dev/null || die "podman import failed"
echo "$tarball" >"$imported_marker"
log "imported $BASE_IMAGE_NAME"
