"""E2B control-plane bodies, field names exactly as the official SDKs put them on the wire
(camelCase, except ``allow_internet_access``). Unknown request fields are ignored: newer SDKs send
options (network, mcp, volumes...) this service does not have."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from interpreter.api.e2b import tokens
from interpreter.api.e2b.versions import CLIENT_ID, ENVD_VERSION
from interpreter.core.envs import checked_envs
from interpreter.core.errors import InvalidRequestError
from interpreter.core.models import SandboxRecord
from interpreter.core.network import ALL_TRAFFIC
from interpreter.service.metrics import SandboxMetrics


def env_names(envs: dict[str, str] | None) -> dict[str, str] | None:
    try:
        checked_envs(envs)
    except InvalidRequestError as exc:
        raise ValueError(str(exc)) from None
    return envs


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


Seconds = Annotated[int, Field(ge=0, le=10**9)]


class SandboxNetwork(Body):
    """``SandboxNetworkConfig`` (create) and ``SandboxNetworkUpdateConfig`` (update): the
    egress lists; the rest of E2B's options (rules, egress proxy, DNS servers, public traffic)
    are not this service's and are ignored."""

    allow_out: list[str] | None = Field(None, alias="allowOut")
    deny_out: list[str] | None = Field(None, alias="denyOut")
    allow_public_traffic: bool | None = Field(None, alias="allowPublicTraffic")


class AutoResume(Body):
    enabled: bool | None = None
    policy: str | None = None  # older SDKs: "any" (on) or "off"

    @property
    def on(self) -> bool:
        return bool(self.enabled) or self.policy == "any"


class VolumeMount(Body):
    name: str = Field(min_length=1, max_length=200)
    path: str = Field(min_length=1, max_length=1024)


class NewSandbox(Body):
    """``POST /sandboxes`` (legacy) and ``POST /v2/sandboxes``."""

    template_id: str = Field(alias="templateID", min_length=1, max_length=200)
    timeout: Seconds | None = None
    metadata: dict[str, str] | None = None
    env_vars: Annotated[dict[str, str] | None, AfterValidator(env_names)] = Field(
        None, alias="envVars"
    )
    auto_pause: bool | None = Field(None, alias="autoPause")
    auto_pause_memory: bool | None = Field(None, alias="autoPauseMemory")
    auto_resume: AutoResume | None = Field(None, alias="autoResume")
    secure: bool | None = None
    allow_internet_access: bool | None = None
    network: SandboxNetwork | None = None
    volume_mounts: list[VolumeMount] | None = Field(None, alias="volumeMounts", max_length=100)


class ConnectSandbox(Body):
    timeout: Seconds | None = None
    memory: bool | None = None


class ResumeSandbox(Body):
    timeout: Seconds | None = None
    auto_pause: bool | None = Field(None, alias="autoPause")


class SandboxTimeout(Body):
    timeout: Seconds


class RefreshSandbox(Body):
    duration: Seconds | None = None


class PauseSandbox(Body):
    memory: bool = True  # False: the file system is kept, the processes are not


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sandbox(record: SandboxRecord, key: bytes, domain: str | None = None) -> dict[str, Any]:
    """``Sandbox``: the answer to create, connect and resume."""
    return {
        "templateID": record.template,
        "sandboxID": record.id,
        "alias": record.template,
        "clientID": CLIENT_ID,
        "envdVersion": ENVD_VERSION,
        "envdAccessToken": tokens.envd_access_token(key, record.id),
        "trafficAccessToken": tokens.traffic_access_token(key, record.id),
        # get_host(port) is "{port}-{id}.{domain}"; None: the SDK's E2B_DOMAIN. Its sandbox
        # traffic goes to E2B_SANDBOX_URL (our origin) either way.
        "domain": domain,
    }


def state(record: SandboxRecord) -> str:
    return "paused" if record.state == "paused" else "running"


def listed_sandbox(record: SandboxRecord) -> dict[str, Any]:
    """``ListedSandbox``: one entry of ``GET /v2/sandboxes``."""
    return {
        "templateID": record.template,
        "alias": record.template,
        "sandboxID": record.id,
        "clientID": CLIENT_ID,
        "startedAt": iso(record.created_at),
        "endAt": iso(record.expires_at),
        "cpuCount": max(1, math.ceil(record.cpu)),
        "memoryMB": record.memory_mb,
        "diskSizeMB": record.disk_mb,
        "metadata": record.metadata,
        "state": state(record),
        "envdVersion": ENVD_VERSION,
    }


def sandbox_detail(record: SandboxRecord, key: bytes, domain: str | None = None) -> dict[str, Any]:
    """``SandboxDetail``: ``GET /sandboxes/{id}``."""
    return {
        **listed_sandbox(record),
        "envdAccessToken": tokens.envd_access_token(key, record.id),
        "domain": domain,
        "allowInternetAccess": record.network.enabled
        and ALL_TRAFFIC not in record.network.deny_out,
        "network": {
            "allowOut": record.network.allow_out,
            "denyOut": record.network.deny_out,
            "allowPublicTraffic": record.network.public,
        },
        "lifecycle": {
            "autoResume": record.auto_resume,
            "onTimeout": "kill" if record.on_timeout == "kill" else "pause",
        },
    }


def metric(sample: SandboxMetrics) -> dict[str, Any]:
    """``SandboxMetric``: every key is required by the SDKs."""
    return {
        "timestamp": iso(sample.timestamp),
        "timestampUnix": int(sample.timestamp.timestamp()),
        "cpuCount": sample.cpu_count,
        "cpuUsedPct": round(sample.cpu_used_pct, 2),
        "memUsed": sample.mem_used,
        "memTotal": sample.mem_total,
        "memCache": sample.mem_cache,
        "diskUsed": sample.disk_used,
        "diskTotal": sample.disk_total,
    }


def error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}
