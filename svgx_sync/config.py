"""The daemon's settings, resolved once: flag, then environment, then TOML file, then default.

Every setting has a literal default below. :func:`load_settings` takes the flags the
user typed (only those given), the environment (``SVGX_SYNC_<NAME>``, e.g.
``SVGX_SYNC_BATCH_SIZE=20``) and a TOML file (``--config FILE`` or
``SVGX_SYNC_CONFIG``; a flat table of the same names, or the same under ``[serve]``),
and returns one validated :class:`Settings`. Nothing here opens a socket.

The access settings (``docs/security.md``) live in the same file: ``tokens`` is a list
of tables, one per token, each holding only the salted hash of its secret
(:class:`TokenRecord`); ``svgx-sync token create`` appends them with
:func:`append_token`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .core.access import Role
from .errors import ClientError, validation_problems

__all__ = ["ENV_PREFIX", "Settings", "TokenRecord", "load_settings"]

ENV_PREFIX = "SVGX_SYNC_"


class TokenRecord(BaseModel):
    """One opaque token as the settings keep it: who it is for, what it may do, and the
    salted hash of its secret (never the secret itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[0-9a-f]{8,32}$")]
    hash: Annotated[str, Field(pattern=r"^scrypt\$", max_length=512)]
    user_id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    role: Role
    documents: tuple[Annotated[str, Field(min_length=1, max_length=400)], ...] = ("*",)
    expires: datetime | None = None

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A TOML local date-time has no zone; it is read as UTC.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Settings(BaseModel):
    """What the daemon needs to know, grouped by purpose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # where
    root: Path = Path("svgx-documents")
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    # batching
    batch_size: int = Field(default=10, ge=1, le=1000)
    batch_timeout_ms: float = Field(default=16.0, gt=0)
    # connections
    max_connections: int = Field(default=1000, ge=1)
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    # a connection must join this soon after its handshake; until it has, it counts
    # against its address's cap of connections waiting to join
    join_timeout_s: float = Field(default=10.0, gt=0)
    max_unjoined_per_address: int = Field(default=32, ge=1)
    # operations of one connection accepted and not yet answered (acked or refused): with
    # that many waiting, the daemon reads nothing more from it until answers go out, so
    # a fast client is slowed by TCP, never refused, and others queue behind at most this
    max_unanswered_ops: int = Field(default=32, ge=1)
    # an absolute cap on one connection's operations (a token bucket, core/rate.py): past
    # ops_per_second, after a burst of ops_burst, they are refused; 0: no cap
    ops_per_second: float = Field(default=0.0, ge=0)
    ops_burst: int = Field(default=1000, ge=1)
    # joins of one connection that create a document (a token bucket too)
    new_documents_per_minute: float = Field(default=10.0, gt=0)
    # a client whose unsent messages pass this is closed with 1013
    max_unsent_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # a welcome carries files up to this many bytes in all; the others it names, to be
    # fetched from /d/<session>/raw/<file> (docs/protocol.md), so that a welcome fits
    # a client's 1 MiB message limit and the unsent-bytes bound whatever the drawing
    inline_files_bytes: int = Field(default=256 * 1024, ge=0)
    compression: bool = False
    # access (docs/security.md): tokens, signed-token keys, browsers, TLS. A plain string
    # in `tokens` is a shared secret written out in full, compared as it is.
    tokens: tuple[TokenRecord | str, ...] = ()
    jwt_secret: SecretStr | None = None
    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None
    allowed_origins: tuple[str, ...] = ()
    server_names: tuple[str, ...] = ()
    certfile: Path | None = None
    keyfile: Path | None = None
    # presence
    activity_timeout_s: float = Field(default=300.0, gt=0)
    offline_grace_s: float = Field(default=30.0, ge=0)
    editing_window_s: float = Field(default=5.0, gt=0)
    # documents
    default_strategy: str = "automatic"
    create_missing_documents: bool = True
    # durability
    write_debounce_ms: float = Field(default=200.0, ge=0)
    checkpoint_interval_s: float = Field(default=30.0, gt=0)
    checkpoint_ops: int = Field(default=5000, ge=1)
    history_size: int = Field(default=10_000, ge=100)
    # a git lock file held this long is told to the session's clients and shown in status;
    # a version action waiting for one (off the event loop) gives up after lock_wait_s
    lock_report_s: float = Field(default=5.0, gt=0)
    lock_wait_s: float = Field(default=30.0, gt=0)
    # fsync each batch in a worker thread while the loop goes on (more operations/s under
    # load, ~0.2 ms more per batch when lightly loaded; benchmarks/README.md)
    fsync_in_thread: bool = False
    # a live session with no clients is unloaded after this long (0: never)
    idle_unload_s: float = Field(default=600.0, ge=0)
    # other programs and git (svgx_sync.daemon.watcher); auto-versions after a quiet period, 0: off
    watch_files: bool = True
    auto_version_quiet_s: float = Field(default=0.0, ge=0)

    @field_validator("default_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        from .core.conflicts import Strategy

        try:
            return Strategy(value).value
        except ValueError:
            names = ", ".join(s.value for s in Strategy)
            raise ValueError(f"unknown strategy {value!r}; use one of {names}") from None

    @field_validator("tokens", "allowed_origins", "server_names", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        # From the environment a list arrives as "a,b,c", or as JSON ("[{...}]").
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except ValueError as exc:
                    raise ValueError(f"not a JSON list: {exc}") from None
            return tuple(t for t in (p.strip() for p in value.split(",")) if t)
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # HS256 with a short key can be guessed offline from one token (RFC 7518 3.2).
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes long")
        return value

    @model_validator(mode="after")
    def _cert_and_key(self) -> Settings:
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("keyfile needs certfile")
        return self

    @property
    def tokens_configured(self) -> bool:
        """Whether connections must bring a token (any token or signing key is set)."""
        return bool(
            self.tokens or self.jwt_secret or self.jwt_public_key_file or self.jwt_private_key_file
        )


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ClientError(f"cannot read the settings file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ClientError(f"the settings file {path} is not valid TOML: {exc}") from exc
    table = data.get("serve", data)
    if not isinstance(table, dict):
        raise ClientError(f"{path}: [serve] must be a table")
    return dict(table)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    toml_path: Path | str | None = None,
) -> Settings:
    """Resolve every setting: flag > ``SVGX_SYNC_*`` > TOML > default.

    ``flags`` holds only what was given (None values are ignored). ``toml_path`` falls
    back to ``SVGX_SYNC_CONFIG`` from ``environ``. Raises :class:`ClientError` naming
    the offending setting.
    """
    environ = environ or {}
    values: dict[str, Any] = {}
    path = toml_path or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        values.update(_from_toml(Path(path)))
    for name in Settings.model_fields:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = raw
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = validation_problems(exc, whole="settings")
        raise ClientError(f"invalid settings: {problems}") from None
