# Runs in every Python kernel before user code (in the user's namespace: leave no names behind).
# Preloading makes the first data-analysis cell fast; matplotlib keeps its inline backend so
# plt.show() sends a PNG.
import sys as _sys

_sys.path.append("/opt/interpreter/python")
import interpreter_kernel  # noqa: E402
import matplotlib.pyplot  # noqa: E402, F401
import numpy  # noqa: E402, F401
import pandas  # noqa: E402, F401

interpreter_kernel.register(get_ipython())  # noqa: F821

del _sys, matplotlib, numpy, pandas, interpreter_kernel
