#!/bin/sh
# Runs inside the freshly bootstrapped root filesystem (chroot) as root.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
id user >/dev/null 2>&1 || useradd --uid 1000 --user-group --create-home --shell /bin/bash user
# Passwordless sudo for `user`, as E2B's templates have (its sudoers line, and the sudo group).
usermod -aG sudo user
echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/user
chmod 0440 /etc/sudoers.d/user
visudo -cq
# The other languages' runtimes, without recommends (R: 31 packages; a headless JDK for Java), and
# Debian's npm (debootstrap cannot: its node-* dependencies are met by virtual packages).
apt-get update -qq
apt-get install -y -qq --no-install-recommends r-base-core r-cran-irkernel openjdk-17-jdk-headless npm >/dev/null
python3 -m venv /opt/venv
/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q \
    --no-index --find-links /tmp/image/wheels -r /tmp/image/requirements.txt
# jsonschema's optional IRI format check (rfc3987-syntax, of jupyter-events' extra) builds a
# Lark grammar at import: ~1 s of the gateway's 1.5 s start-up, on every cold boot. No schema
# the gateway validates uses that format; without the package it is skipped (BENCHMARKS.md).
/opt/venv/bin/pip uninstall --disable-pip-version-check -y -q rfc3987-syntax
# Targets for the device nodes the jail bind-mounts from the host.
for d in null zero full random urandom tty; do [ -e /dev/$d ] || touch /dev/$d; done
# PTYs (bash's kernel, terminals) come from the jail's own devpts instance.
mkdir -p /dev/pts && rm -f /dev/ptmx && ln -s pts/ptmx /dev/ptmx
mkdir -p /run/sandbox /opt/interpreter
# Warm caches as the sandbox user so a new sandbox never rebuilds them: matplotlib's font list and
# the byte code of the modules every kernel imports.
su user -c "/opt/venv/bin/python -c 'import pandas, numpy, matplotlib.pyplot, ipykernel, kernel_gateway, e2b_charts'"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /root/.cache
