"""The Jupyter Kernel Gateway, listening on a unix socket instead of TCP.

The stock gateway only calls ``http_server.listen(port, ip)``; binding a unix socket keeps host
traffic off the sandbox's network and avoids the Nagle delay of its TCP websocket.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from kernel_gateway.gatewayapp import KernelGatewayApp
from tornado import httpserver, netutil
from tornado.ioloop import IOLoop

RUN = os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox")
# In the run folder's `user` subfolder: the gateway runs as `user` and owns only that.
SOCKET = os.path.join(RUN, "user", "gateway.sock")
# The sandbox's environment variables when it came from the warm pool (a cold sandbox has them in
# the jail's environment): written by the front end before the sandbox is handed out.
SANDBOX_ENVS = os.path.join(RUN, "envs.json")


def sandbox_envs() -> dict[str, str]:
    try:
        with open(SANDBOX_ENVS) as file:
            return {str(k): str(v) for k, v in json.load(file).items()}
    except FileNotFoundError:
        return {}


_pre_launch = LocalProvisioner.pre_launch


async def _pre_launch_with_sandbox_envs(self: LocalProvisioner, **kwargs: Any) -> dict[str, Any]:
    # Every kernel start and restart comes through here and copies os.environ: a kernel started
    # after the sandbox left the pool sees its variables exactly as in a cold sandbox.
    os.environ.update(sandbox_envs())
    return await _pre_launch(self, **kwargs)


LocalProvisioner.pre_launch = _pre_launch_with_sandbox_envs  # type: ignore[method-assign]

# A new kernel websocket is answered once the kernel replied to a kernel_info_request AND one
# iopub message came through (ZMQ subscriptions take a moment). jupyter_server re-sends the
# request every 0.5 s, so a connection that misses the first iopub message waits half a second
# (e.g. every reconnection to a sandbox restored from a snapshot). The first retries come after
# 20 ms; a kernel still starting then gets the usual 0.5 s (each request queues in it).
QUICK_NUDGES, NUDGE_SECONDS = 10, 0.02
_call_later = IOLoop.call_later


def _call_later_quick_nudge(
    self: IOLoop, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
) -> object:
    if delay == 0.5 and getattr(callback, "__name__", "") == "nudge":
        count = args[0] if args else kwargs.get("count", QUICK_NUDGES)
        if isinstance(count, int) and count < QUICK_NUDGES:
            delay = NUDGE_SECONDS
    return _call_later(self, delay, callback, *args, **kwargs)


IOLoop.call_later = _call_later_quick_nudge  # type: ignore[method-assign]


class UnixSocketGatewayApp(KernelGatewayApp):
    def init_http_server(self) -> None:
        self.http_server = httpserver.HTTPServer(self.web_app, xheaders=self.trust_xheaders)
        if os.path.exists(SOCKET):
            os.unlink(SOCKET)
        self.http_server.add_sockets([netutil.bind_unix_socket(SOCKET, mode=0o600)])


if __name__ == "__main__":
    sys.argv[1:] = [
        "--KernelGatewayApp.default_kernel_name=python3",
        "--JupyterWebsocketPersonality.list_kernels=True",
        "--KernelGatewayApp.log_level=WARN",
        # Kernels outlive a restart of the front end's connection; the gateway restarts dead ones.
        "--MappingKernelManager.cull_idle_timeout=0",
        # No IOPub rate limit (as E2B's server): past it Jupyter drops output for seconds, the
        # next cell's too. Output is bounded instead by the Python kernel (per cell, in 1 MiB
        # messages: interpreter_kernel.py) and by the front end (16 MiB per execution).
        "--ZMQChannelsWebsocketConnection.limit_rate=False",
    ]
    UnixSocketGatewayApp.launch_instance()
