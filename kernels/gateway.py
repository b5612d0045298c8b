"""The Jupyter Kernel Gateway, listening on a unix socket instead of TCP.

The stock gateway only calls ``http_server.listen(port, ip)``; binding a unix socket keeps host
traffic off the sandbox's network and avoids the Nagle delay of its TCP websocket.
"""

from __future__ import annotations

import os
import sys

from kernel_gateway.gatewayapp import KernelGatewayApp
from tornado import httpserver, netutil

# In the run folder's `user` subfolder: the gateway runs as `user` and owns only that.
SOCKET = os.path.join(os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox"), "user", "gateway.sock")


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
    ]
    UnixSocketGatewayApp.launch_instance()
