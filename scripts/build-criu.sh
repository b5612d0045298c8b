#!/usr/bin/env bash
# Builds CRIU (checkpoint/restore, for pausing sandboxes) unless a working one is installed.
#
# Debian 12's criu 3.17 fails `criu check` on recent kernels, and 4.1.1 cannot dump a process
# holding a TCP socket on kernels >= 6.16; 4.2.1 works. Debian unstable's source tarball builds
# here with `make criu`, so we fetch it with apt alone (a private sources list with a deb-src line
# for unstable; the host's own lists are untouched) and install the binary to
# /opt/interpreter/criu-<version>/criu, linked from /usr/local/sbin/criu (the default of the
# INTERPRETER_CRIU setting). Idempotent: a working CRIU >= 4.2.1 built with these options is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

LINK=/usr/local/sbin/criu
MIN_VERSION=4.2.1
# CRIU caches what it learns about the kernel (~50-100 ms per run) only on a tmpfs: this folder,
# which interpreter/runtime/criu.py mounts as a small root-only tmpfs (/run is not one here).
OPTIONS="RUNDIR=/run/interpreter-criu"
# Our patches (scripts/criu-patches/), all for speed: memory that was
# madvise(MADV_HUGEPAGE)d (NumPy's large arrays) comes back as huge pages (4K page faults made a
# 1 GB restore 15-30% slower here); no iptables tools are probed and run for a network namespace
# without rules (four process starts); `--empty-ns net` brings the new namespace's loopback up
# itself (a template snapshot's namespace is a fresh sandbox's: loopback only), instead of six
# runs of `ip` restoring the dumped one (~25 ms); restored and dumped tasks are caught at
# their last syscall by tracing, not with hardware breakpoints (setting the first one took
# 10-25 ms of each restore in this VM, and slowed the restores interleaved with it).
PATCHES=(scripts/criu-patches/*.patch)
STAMP="$OPTIONS $(cat "${PATCHES[@]}" | sha256sum | cut -c1-16)"
BUILD_DEPS=(
    make gcc patch xz-utils pkg-config libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
    python3-protobuf libnl-3-dev libnet1-dev libcap-dev libbsd-dev libgnutls28-dev
    libnftables-dev uuid-dev libaio-dev iptables
)

works() {
    local version
    version=$("$LINK" --version 2>/dev/null | sed -n 's/^Version: //p') || return 1
    [ -n "$version" ] || return 1
    # At least MIN_VERSION (sort -V puts the smaller first)...
    [ "$(printf '%s\n%s\n' "$MIN_VERSION" "$version" | sort -V | head -1)" = "$MIN_VERSION" ] || return 1
    # ...built with our options...
    [ "$(cat "$(dirname "$(readlink -f "$LINK")")/build-options" 2>/dev/null)" = "$STAMP" ] || return 1
    # ...and usable on this kernel.
    "$LINK" check >/dev/null 2>&1
}

if works; then
    exit 0
fi

echo "setup: building CRIU (>= $MIN_VERSION) from Debian unstable's source tarball"
apt-get update -qq  # a fresh machine may have no package lists yet
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${BUILD_DEPS[@]}" >/dev/null

work=$(mktemp -d /tmp/criu-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src http://deb.debian.org/debian unstable main" > "$work/sources.list"
apt_private=(
    -o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root
)
apt-get -qq "${apt_private[@]}" update
# Only the upstream tarball is needed; Debian's patch tarball may be missing from the mirror.
(cd "$work" && apt-get -qq "${apt_private[@]}" source --download-only criu >/dev/null 2>&1 || true)
tarball=$(ls "$work"/criu_*.orig.tar.* 2>/dev/null | head -1)
if [ -z "$tarball" ]; then
    echo "setup: could not download CRIU's source tarball from Debian unstable" >&2
    exit 1
fi
tar -C "$work" -xf "$tarball"
src=$(ls -d "$work"/criu-*/ | head -1)
version=$(basename "$src" | sed 's/^criu-//')
for p in "${PATCHES[@]}"; do
    patch -d "$src" -p1 --quiet < "$p"
done
# shellcheck disable=SC2086 # OPTIONS is a list of make variables
if ! make -C "$src" -j"$(nproc)" criu $OPTIONS >"$work/build.log" 2>&1; then
    tail -30 "$work/build.log" >&2
    echo "setup: building CRIU $version failed" >&2
    exit 1
fi
dest=/opt/interpreter/criu-$version
mkdir -p "$dest"
install -m 0755 "$src/criu/criu" "$dest/criu"
echo "$STAMP" > "$dest/build-options"
ln -sfn "$dest/criu" "$LINK"
if ! works; then
    "$LINK" check >&2 || true
    echo "setup: CRIU $version was built but does not work on this kernel" >&2
    exit 1
fi
echo "setup: CRIU $version installed at $dest/criu ($LINK)"
