"""Versions the E2B surface reports, in one place (the control plane and envd both use them)."""

from __future__ import annotations

# The SDKs gate features on it (`e2b/envd/versions.py`): 0.5.7 = octet-stream upload and
# CloseStdin available, file metadata and the newer watch flags not. Raise it when envd grows.
ENVD_VERSION = "0.5.7"

# E2B's API answers every sandbox with this constant clientID (old SDKs append it to the id).
CLIENT_ID = "6532622b"
