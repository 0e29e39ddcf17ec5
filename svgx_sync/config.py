"""The daemon's settings, resolved once: flag, then environment, then TOML file, then default.

Every setting has a literal default below. :func:`load_settings` takes the flags the
user typed (only those given), the environment (``SVGX_SYNC_<NAME>``, e.g.
``SVGX_SYNC_BATCH_SIZE=20``) and a TOML file (``--config FILE`` or
``SVGX_SYNC_CONFIG``; a flat table of the same names, or the same under ``[serve]``),
and returns one validated :class:`Settings`. Nothing here opens a socket.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ClientError, validation_problems

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "SVGX_SYNC_"


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
    compression: bool = False
    tokens: tuple[str, ...] = ()
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
    # fsync each batch in a worker thread while the loop goes on (more operations/s under
    # load, ~0.2 ms more per batch when idle; benchmarks/README.md)
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

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        # From the environment a list arrives as "a,b,c".
        if isinstance(value, str):
            return tuple(t for t in (p.strip() for p in value.split(",")) if t)
        return value


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
