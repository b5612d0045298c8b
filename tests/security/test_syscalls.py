"""Attack surface (issue 11, item 4): from inside a real sandbox, as `user` (the kernel and a
command) and as root inside, every system call the seccomp policy denies fails with EPERM, the
filter is in place (Seccomp: 2) and root inside holds only its short list of capabilities; the
filter survives a pause and resume (CRIU restores it), and the sandbox works on afterwards."""

from __future__ import annotations

import json
from typing import Any

from interpreter.runtime import jail

# x86_64 numbers; each call gets zeros for its arguments (a real request, not a malformed one,
# would still be denied: the policy looks at the number, and for unshare/clone at the flags).
PROBE = r"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if result != -1 else errno.errorcode.get(ctypes.get_errno(), "?")
denied = {
    "keyctl": call(250, 0, 0, 0, 0, 0), "add_key": call(248, 0, 0, 0, 0, 0),
    "request_key": call(249, 0, 0, 0, 0), "bpf": call(321, 0, 0, 0),
    "perf_event_open": call(298, 0, 0, -1, -1, 0), "userfaultfd": call(323, 0),
    "io_uring_setup": call(425, 1, 0), "io_uring_enter": call(426, 0, 0, 0, 0, 0, 0),
    "io_uring_register": call(427, 0, 0, 0, 0),
    "kexec_load": call(246, 0, 0, 0, 0), "kexec_file_load": call(320, 0, 0, 0, 0, 0),
    "init_module": call(175, 0, 0, 0), "finit_module": call(313, 0, 0, 0),
    "delete_module": call(176, 0, 0),
    "mount": call(165, 0, 0, 0, 0, 0), "umount2": call(166, 0, 0), "pivot_root": call(155, 0, 0),
    "fsopen": call(430, 0, 0), "fsmount": call(432, 0, 0, 0), "open_tree": call(428, 0, 0, 0),
    "move_mount": call(429, 0, 0, 0, 0, 0), "setns": call(308, 0, 0),
    "unshare_newuser": call(272, 0x10000000), "unshare_newns": call(272, 0x20000),
    "unshare_newnet": call(272, 0x40000000),
    "clone_newuser": call(56, 0x10000000 | 17, 0, 0, 0, 0),
    "socket_netlink_netfilter": call(41, 16, 3, 12),
}
if hasattr(os, "unshare"):  # Python 3.12+
    try:
        os.unshare(os.CLONE_NEWUSER)
        denied["os.unshare"] = "ok"
    except OSError as exc:
        denied["os.unshare"] = errno.errorcode[exc.errno]
status = dict(
    line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line
)
pid = os.fork()  # fork and threads (clone, clone3 -> clone) still work
if pid == 0:
    os._exit(7)
import threading
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
print(json.dumps({
    "denied": denied, "seccomp": status["Seccomp"].strip(), "cap_eff": status["CapEff"].strip(),
    "cap_bnd": status["CapBnd"].strip(), "uid": os.getuid(),
    "fork": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]),
    "unshare_files": call(272, 0x400), "socket_netlink_route": call(41, 16, 3, 0),
}))
"""

CAP_BITS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12,
}  # fmt: skip
ROOT_CAPS = f"{sum(1 << CAP_BITS[c] for c in jail.CAPABILITIES):016x}"


def run_probe_in_kernel(sandbox: Any) -> dict[str, Any]:
    execution = sandbox.run_code(PROBE, timeout=60)
    assert execution.error is None, execution.error
    return dict(json.loads("".join(execution.logs.stdout)))


def run_probe_as(sandbox: Any, user: str) -> dict[str, Any]:
    sandbox.files.write("/tmp/probe.py", PROBE)
    result = sandbox.commands.run("python /tmp/probe.py", user=user, timeout=60)
    return dict(json.loads(result.stdout))


def check(probe: dict[str, Any], uid: int) -> None:
    assert probe["uid"] == uid
    assert probe["seccomp"] == "2", probe
    assert {name: err for name, err in probe["denied"].items() if err != "EPERM"} == {}, probe
    assert probe["fork"] == 7 and probe["unshare_files"] == "ok", probe
    assert probe["socket_netlink_route"] == "ok", probe
    assert probe["cap_bnd"] == ROOT_CAPS, probe  # nothing else can ever be regained
    assert probe["cap_eff"] == (ROOT_CAPS if uid == 0 else "0" * 16), probe


def test_denied_syscalls_fail_with_eperm_as_user_and_root(sandbox: Any) -> None:
    check(run_probe_in_kernel(sandbox), uid=1000)
    check(run_probe_as(sandbox, "user"), uid=1000)
    check(run_probe_as(sandbox, "root"), uid=0)
    # What root inside keeps works: `user`'s files whatever their mode, `user`'s processes.
    sleeper = sandbox.commands.start("exec sleep 600")
    script = (
        "echo secret > /home/user/mine && chown user:user /home/user/mine"
        " && chmod 600 /home/user/mine && cat /home/user/mine"
        f" && kill {sleeper.pid} && python -c 'import socket; socket.socket().bind((\"\", 80))'"
    )
    assert sandbox.commands.run(script, user="root", timeout=60).stdout == "secret\n"
    assert sandbox.files.read("/home/user/mine", user="root") == "secret\n"
    assert sandbox.run_code("6 * 7").text == "42"


# /proc is writable inside (sandbox/oom.py). Each is written with the value it holds: should a
# write ever pass, the host is left as it was.
HOST_SYSCTLS = (
    "/proc/sys/kernel/core_pattern",  # a classic way out: the host runs it as root on a crash
    "/proc/sys/kernel/modprobe",
    "/proc/sys/kernel/randomize_va_space",  # (pid_max is the sandbox's own PID namespace's)
    "/proc/sys/vm/drop_caches",
    "/proc/sys/fs/inotify/max_user_instances",  # a host-wide budget
    "/proc/sys/user/max_inotify_instances",  # the budget the host gave this sandbox
)


def test_root_inside_writes_no_sysctl_of_the_host_through_the_writable_proc(sandbox: Any) -> None:
    script = "".join(
        f'v=$(cat {path}); if (echo "$v" > {path}) 2>/dev/null; then echo "wrote {path}"; fi\n'
        for path in HOST_SYSCTLS
    )
    script += "echo x > /proc/sysrq-trigger 2>/dev/null && echo 'wrote sysrq'; true"
    assert sandbox.commands.run(script, user="root", timeout=60).stdout == ""
    # What it is for: a process raises its own OOM score (the agent's commands start at 800).
    raised = sandbox.commands.run(
        "echo 900 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj"
    )
    assert raised.stdout == "900\n"


def test_the_filter_survives_pause_and_resume(sandbox: Any) -> None:
    sandbox.run_code("x = 41")
    sandbox.commands.start("exec sleep 600")
    sandbox.pause()
    sandbox.resume()
    assert sandbox.run_code("x + 1").text == "42"  # the same kernel: a restored process
    check(run_probe_in_kernel(sandbox), uid=1000)
    check(run_probe_as(sandbox, "root"), uid=0)
    # Every process that was restored (supervisor, agent, gateway, kernel, the sleep) still has it.
    out = sandbox.commands.run(
        "grep -H '^Seccomp:' /proc/[0-9]*/status", user="root", timeout=60
    ).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) >= 5, out
    assert all(line.split()[-1] == "2" for line in lines), out
    # A second round trip through CRIU of the restored tree.
    sandbox.pause()
    sandbox.resume()
    check(run_probe_in_kernel(sandbox), uid=1000)
    assert sandbox.run_code("x + 2").text == "43"
