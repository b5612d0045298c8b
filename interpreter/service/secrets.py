"""Secrets: named values stored once (in the state folder's database, root's only), never read
back through any API, and put into a sandbox only where a create asks for them: an environment
variable whose value is E2B's placeholder ``${e2b.secrets.NAME}`` (``Secret.fill("NAME")``)
gets the secret's value when the sandbox is made.

E2B itself fills placeholders in network rules' headers at its egress proxy, so that the value
never enters the sandbox; this service has no such proxy (``network.rules`` are ignored), and a
variable is the explicit way in: the code in that sandbox can read it.
"""

from __future__ import annotations

import re
import secrets as random

from interpreter.core.errors import ConflictError, InvalidRequestError, SecretNotFoundError
from interpreter.core.models import SecretRecord, now
from interpreter.core.store import Store

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
PLACEHOLDER = re.compile(r"\$\{e2b\.secrets\.([^}]{1,128})\}")
MAX_VALUE = 64 * 1024
MAX_METADATA = 32


def checked_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    metadata = metadata or {}
    if len(metadata) > MAX_METADATA or any(
        len(k) > 128 or len(v) > 1024 for k, v in metadata.items()
    ):
        raise InvalidRequestError(
            f"metadata: at most {MAX_METADATA} entries, keys of 128 and values of 1024 characters"
        )
    return dict(metadata)


class Secrets:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str, value: str, metadata: dict[str, str] | None = None) -> SecretRecord:
        name = name.strip().lower()
        if not NAME.match(name) or name.startswith("sec_"):
            raise InvalidRequestError(
                f"secret name {name!r} is not valid: 1-128 characters of [a-z0-9_.-], not "
                "starting with sec_"
            )
        if self.store.get_secret(name) is not None:
            raise ConflictError(f"a secret named {name!r} exists already")
        record = SecretRecord(id=f"sec_{random.token_hex(12)}", name=name,
                              metadata=checked_metadata(metadata))  # fmt: skip
        self.store.put_secret(record, _checked_value(value))
        return record

    def update(self, ref: str, value: str, metadata: dict[str, str] | None = None) -> SecretRecord:
        record = self.get(ref)
        record.version += 1
        record.updated_at = now()
        if metadata is not None:
            record.metadata = checked_metadata(metadata)
        self.store.put_secret(record, _checked_value(value))
        return record

    def get(self, ref: str) -> SecretRecord:
        record = self.store.get_secret(ref.strip().lower() if not ref.startswith("sec_") else ref)
        if record is None:
            raise SecretNotFoundError(f"secret {ref!r} not found")
        return record

    def list(self) -> list[SecretRecord]:
        return self.store.list_secrets()

    def delete(self, ref: str) -> None:
        self.store.delete_secret(self.get(ref).id)

    def fill(self, envs: dict[str, str]) -> dict[str, str]:
        """A create's variables with every ``${e2b.secrets.NAME}`` replaced by its value."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1).strip().lower()
            found = self.store.secret_value(name)
            if found is None:
                raise InvalidRequestError(f"envs: no secret named {name!r}")
            return found

        return {
            k: PLACEHOLDER.sub(value, v) if "${e2b.secrets." in v else v for k, v in envs.items()
        }


def _checked_value(value: str) -> str:
    if not value or len(value) > MAX_VALUE or "\0" in value:
        raise InvalidRequestError(f"a secret's value is 1 to {MAX_VALUE} characters, without NUL")
    return value
