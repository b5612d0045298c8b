"""Settings, declared once. Precedence: defaults < environment (INTERPRETER_*) < CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTERPRETER_", frozen=True)

    home: Path = Field(
        Path("/var/lib/interpreter"), description="State folder: database, sandboxes."
    )
    images_dir: Path | None = Field(
        None, description="Where built images are cached (default: HOME/images)."
    )
    api_key: str | None = Field(
        None,
        description="Accepted X-API-Key. Generated at start if unset: saved in HOME/api-key "
        "(0600), shown on the terminal only.",
    )
    host: str = Field("127.0.0.1", description="Address the front end listens on.")
    port: int = Field(49999, description="Port the front end listens on.")
    max_body_mb: int = Field(
        16,
        ge=1,
        description="Largest request body (MiB) but a file upload's, which streams: a larger one "
        "is refused with 413 before it is read; also a client's websocket message's (larger "
        "closes the socket, 1009).",
    )
    docs: bool = Field(
        True, description="Serve the OpenAPI document and its pages (/openapi.json, /docs, /redoc)."
    )
    default_template: str = Field(
        "code-interpreter", description="Template of a create without one."
    )
    default_timeout: int = Field(300, ge=1, description="Sandbox lifetime in seconds if not given.")
    max_timeout: int = Field(24 * 3600, ge=1, description="Largest sandbox lifetime in seconds.")
    pause_resident_seconds: float = Field(
        30.0,
        ge=0,
        description="A pause with memory freezes the sandbox in place and returns; it is "
        "written to disk (CRIU) this many seconds later, or at once when the host's available "
        "memory is below 10%: a resume before then thaws it in milliseconds. 0: every pause "
        "writes to disk before it returns.",
    )
    default_cpu: float = Field(1.0, gt=0, description="CPU cores of a sandbox if not given.")
    default_memory_mb: int = Field(1024, ge=128, description="Memory limit (MiB) if not given.")
    default_disk_mb: int = Field(
        10240,
        ge=64,
        description="Disk limit (MiB) if not given: each sandbox's writable layer is a file "
        "system of this size (a sparse file: space is taken as it is written).",
    )
    default_volume_mb: int = Field(
        1024,
        ge=16,
        description="Size (MiB) of a volume if its create gives none (E2B's never does): its "
        "own file system, a sparse file; writes past it fail with ENOSPC.",
    )
    max_build_files_mb: int = Field(
        4096,
        ge=1,
        description="Largest archive of a template build's files (MiB): a larger upload is "
        "refused.",
    )
    egress: bool = Field(
        True,
        description="Sandboxes may have egress when they ask for it (false: loopback only, a "
        "create asking for it gets 400).",
    )
    sandbox_domain: str | None = Field(
        None,
        description="The domain E2B's SDKs build a sandbox's host names on ({port}-{id}."
        "{domain}, get_host()): point its wildcard DNS at this front end. Unset: the SDK's "
        "E2B_DOMAIN.",
    )
    pids_max: int = Field(512, ge=16, description="Most processes and threads in one sandbox.")
    reaper_interval: float = Field(1.0, gt=0, description="Seconds between timeout sweeps.")
    sandbox_ready_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for a new sandbox."
    )
    ksm: bool = Field(
        False,
        description="Merge identical memory pages across sandboxes (Linux KSM): less memory per "
        "sandbox for some CPU; see BENCHMARKS.md (density).",
    )
    pool_size: int = Field(
        2,
        ge=0,
        description="Ready sandboxes kept warm for the default template (0: no pool).",
    )
    pool_sizes: dict[str, int] = Field(
        default_factory=dict,
        description='Warm pool size per template, e.g. {"other": 1}; overrides pool_size.',
    )
    snapshots: bool = Field(
        True,
        description="Restore new sandboxes from a template snapshot (CRIU) when the pool is empty.",
    )
    pool_refill_delay: float = Field(
        1.0,
        ge=0,
        description="Seconds without claims before the pool starts refilling (a start-up takes "
        "a core for seconds: it should not slow down the sandbox just handed out).",
    )
    metrics_interval: float = Field(
        5.0,
        ge=0,
        description="Seconds between two samples of each running sandbox's resource use, kept "
        "an hour for the E2B metrics API's time series (0: only the current use).",
    )
    mcp_idle_timeout: float = Field(
        1800.0,
        gt=0,
        description="Seconds an MCP session (/mcp) and its sandboxes live without a call; "
        "a session that ends (DELETE) has its sandboxes killed at once.",
    )
    agent_idle_timeout: int = Field(
        900,
        ge=1,
        description="Seconds an agent session (its sandbox) lives after its last invocation "
        "(AgentCore's default: 15 minutes).",
    )
    agent_invocation_timeout: float = Field(
        900.0,
        gt=0,
        description="Seconds an agent may take to answer an invocation (a streamed answer: "
        "between two chunks); the most an invocation's own timeout may ask for.",
    )
    events_retention: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="Seconds a sandbox's lifecycle events are kept after its last one, once it "
        "is gone (GET /v1/sandboxes/{id}/events); pruned by the reaper.",
    )
    webhook_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds a webhook delivery may take (connect, send, answer) before it "
        "counts as failed and is retried.",
    )
    webhook_attempts: int = Field(
        10,
        ge=1,
        description="Tries of one webhook delivery before it is given up (logged).",
    )
    webhook_retry_delay: float = Field(
        2.0,
        gt=0,
        description="Seconds before a failed webhook delivery's first retry; each next one "
        "waits twice as long (at most 10 minutes).",
    )
    debian_mirror: str = Field(
        "http://deb.debian.org/debian", description="Debian mirror used to build images."
    )
    criu: Path = Field(
        Path("/usr/local/sbin/criu"),
        description="CRIU binary (>= 4.2.1) that pauses sandboxes (scripts/build-criu.sh).",
    )

    def pool_size_of(self, template: str) -> int:
        default = self.pool_size if template == self.default_template else 0
        return max(0, self.pool_sizes.get(template, default))

    @property
    def images_path(self) -> Path:
        return self.images_dir or self.home / "images"

    @property
    def sandboxes_path(self) -> Path:
        return self.home / "sandboxes"

    @property
    def database_path(self) -> Path:
        return self.home / "interpreter.db"

    @property
    def generated_key_path(self) -> Path:
        return self.home / "api-key"
