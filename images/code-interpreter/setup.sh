#!/bin/sh
# Runs inside the freshly bootstrapped root filesystem (chroot) as root.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
id user >/dev/null 2>&1 || useradd --uid 1000 --user-group --create-home --shell /bin/bash user
python3 -m venv /opt/venv
/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q \
    --no-index --find-links /tmp/image/wheels -r /tmp/image/requirements.txt
# Targets for the device nodes the jail bind-mounts from the host.
for d in null zero full random urandom tty; do [ -e /dev/$d ] || touch /dev/$d; done
mkdir -p /run/sandbox /opt/interpreter
# Warm caches as the sandbox user so a new sandbox never rebuilds them: matplotlib's font list and
# the byte code of the modules every kernel imports.
su user -c "/opt/venv/bin/python -c 'import pandas, numpy, matplotlib.pyplot, ipykernel, kernel_gateway'"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /root/.cache
