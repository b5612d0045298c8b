"""bash_kernel without pexpect's 50 ms pause before every line it sends to bash (a 2.9 s start
and ~100 ms per cell become ~0.7 s and a few ms)."""

from __future__ import annotations

import pexpect
from bash_kernel.kernel import BashKernel
from ipykernel.kernelapp import IPKernelApp

_spawn_init = pexpect.spawn.__init__


def _init_without_delay(self: pexpect.spawn, *args: object, **kwargs: object) -> None:
    _spawn_init(self, *args, **kwargs)
    self.delaybeforesend = None


pexpect.spawn.__init__ = _init_without_delay  # type: ignore[method-assign]

if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=BashKernel)
