"""``sudo`` inside the sandbox, served by the agent (root): E2B's templates give `user`
passwordless sudo, but the jail sets no_new_privs, so no setuid program raises anyone. The
``sudo`` on every template's PATH (``/usr/bin/sudo`` in our start-up layer, ``sandbox/bin/sudo``)
asks the agent over ``RUN/sudo.sock`` instead: it sends its argv, environment and working
directory, and its stdin, stdout and stderr as descriptors (SCM_RIGHTS); the agent checks the
caller's uid (SO_PEERCRED: root or `user`, as E2B's sudoers), runs the command as the target
user with sudo's reset environment, relays signals and answers its exit status.

This gives nothing a sandbox's `user` could not have in E2B (root inside the sandbox, with the
jail's capabilities and seccomp policy); nothing of it reaches the host. Runs as threads of the
agent with the standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import struct
import subprocess
import threading
from typing import Any

from oom import COMMANDS, scored

RUN = os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox")
SOCKET = os.path.join(RUN, "sudo.sock")
ALLOWED_UIDS = {0, 1000}  # root and `user` (E2B: `user ALL=(ALL:ALL) NOPASSWD: ALL`)
# Debian's secure_path, after the image's Python environment (its pip and python3 are those
# of `user`'s PATH too).
SECURE_PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KEPT = ("TERM", "COLORTERM", "DISPLAY", "LANG", "LC_ALL", "LANGUAGE", "TZ")  # env_reset keeps
MAX_REQUEST = 1 << 20


def serve() -> None:
    """Accept sudo requests in a thread of their own (one more thread per request)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(SOCKET)
    os.chmod(SOCKET, 0o666)  # who may use it is checked per connection (SO_PEERCRED)
    server.listen(16)

    def accept() -> None:
        while True:
            connection, _ = server.accept()
            threading.Thread(target=_serve_one, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, name="sudo", daemon=True).start()


def _serve_one(connection: socket.socket) -> None:
    fds: list[int] = []
    try:
        _, uid, gid = struct.unpack("3i", connection.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
        ))  # fmt: skip
        message, fds, _, _ = socket.recv_fds(connection, MAX_REQUEST, 3)
        if uid not in ALLOWED_UIDS:
            _answer(connection, {"error": "you are not in the sudoers file"})
            return
        if len(fds) != 3:
            _answer(connection, {"error": "no terminal descriptors were passed"})
            return
        request = json.loads(message.decode())
        _run(connection, request, fds, uid)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        with contextlib.suppress(OSError):
            _answer(connection, {"error": f"sudo: {exc}"})
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        connection.close()


def _run(connection: socket.socket, request: dict[str, Any], fds: list[int], caller: int) -> None:
    argv = [str(a) for a in request["argv"]]
    target = pwd.getpwnam(str(request.get("user") or "root"))
    env = _environment(request, target, caller, argv)
    cwd = str(request.get("cwd") or "/")
    if not os.path.isdir(cwd):
        cwd = target.pw_dir
    groups = os.getgrouplist(target.pw_name, target.pw_gid)
    try:
        process = subprocess.Popen(
            scored(argv, COMMANDS), stdin=fds[0], stdout=fds[1], stderr=fds[2], env=env,
            cwd=cwd, user=target.pw_uid, group=target.pw_gid, extra_groups=groups,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        _answer(connection, {"error": f"sudo: {argv[0]}: {exc.strerror}", "status": 1})
        return
    for fd in fds:
        os.close(fd)
    fds.clear()
    relay = threading.Thread(target=_relay_signals, args=(connection, process), daemon=True)
    relay.start()
    status = process.wait()
    _answer(connection, {"status": 128 - status if status < 0 else status})


def _environment(
    request: dict[str, Any], target: pwd.struct_passwd, caller: int, argv: list[str]
) -> dict[str, str]:
    given = {str(k): str(v) for k, v in dict(request.get("env") or {}).items()}
    if request.get("preserve_env"):
        env = dict(given)
    else:
        env = {k: given[k] for k in KEPT if k in given}
        env["PATH"] = SECURE_PATH
    env.update(
        HOME=target.pw_dir if request.get("set_home", True) else given.get("HOME", target.pw_dir),
        USER=target.pw_name,
        LOGNAME=target.pw_name,
        SHELL=target.pw_shell or "/bin/bash",
        SUDO_USER=pwd.getpwuid(caller).pw_name,
        SUDO_UID=str(caller),
        SUDO_GID=str(pwd.getpwuid(caller).pw_gid),
        SUDO_COMMAND=" ".join(argv)[:4096],
    )
    return env


def _relay_signals(connection: socket.socket, process: subprocess.Popen[bytes]) -> None:
    """The caller's signals (Ctrl-C, kill), as lines "<signum>\\n", to the command."""
    buffer = b""
    while process.poll() is None:
        try:
            data = connection.recv(64)
        except OSError:
            data = b""
        if not data:  # the caller is gone: so is its command
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGHUP)
            return
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError, ProcessLookupError):
                process.send_signal(int(line))


def _answer(connection: socket.socket, answer: dict[str, Any]) -> None:
    connection.sendall(json.dumps(answer).encode() + b"\n")
