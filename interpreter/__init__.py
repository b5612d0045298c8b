"""A self-hostable code interpreter service: isolated sandboxes running Jupyter kernels."""

__version__ = "0.1.0"
