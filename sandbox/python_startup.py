# Runs in every Python kernel before user code (in the user's namespace: leave no names behind).
# Preloading makes the first data-analysis cell fast; matplotlib keeps its inline backend so
# plt.show() sends a PNG. A template without them (base) starts without them.
import sys as _sys

_sys.path.append("/opt/interpreter/python")
import interpreter_kernel  # noqa: E402

for _module in ("numpy", "pandas", "matplotlib.pyplot"):
    try:
        __import__(_module)
    except ImportError:
        pass

interpreter_kernel.register(get_ipython())  # noqa: F821

del _sys, _module, interpreter_kernel
