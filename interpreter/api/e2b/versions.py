"""Versions the E2B surface reports, in one place (the control plane and envd both use them)."""

from __future__ import annotations

# The SDKs gate features on it (`e2b/envd/versions.py`): 0.5.7 = octet-stream upload and
# CloseStdin; 0.6.2 = file metadata (X-Metadata-*, kept as user.e2b.* xattrs); 0.6.3 = watch
# events with their entry (include_entry); 0.6.4 = allow_network_mounts (accepted: a sandbox has
# no network mounts). Raise it only with every feature it gates working.
ENVD_VERSION = "0.6.4"

# E2B's API answers every sandbox with this constant clientID (old SDKs append it to the id).
CLIENT_ID = "6532622b"
