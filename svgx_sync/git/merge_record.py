"""The branch merge in progress of one live branch, kept beside git's own files.

``.git/svgx/merge-<branch>.json`` (the branch name quoted like the other per-branch
files there) holds :meth:`svgx_sync.core.versions.BranchMerge.to_state`: written
atomically and durably (:func:`~svgx_sync.durable.atomic.write_atomic`) before each
phase of the merge starts, removed when the merge is over. Like git's ``MERGE_HEAD``,
it is what tells a restarted daemon that a merge was under way, and how to finish or
undo it. A record that cannot be read is set aside (``.damaged``) with a warning.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from svgx_sync.durable.atomic import write_atomic
from svgx_sync.errors import StoreError

__all__ = ["forget_merge", "keep_merge", "read_merge"]

log = logging.getLogger(__name__)


def _path(git_dir: Path | str, branch: str) -> Path:
    return Path(git_dir) / "svgx" / f"merge-{quote(branch, safe='')}.json"


def keep_merge(git_dir: Path | str, branch: str, state: dict[str, Any]) -> None:
    """Keep the merge into ``branch`` durably; StoreError when it cannot be written
    (the merge must not start, or go on, without it)."""
    path = _path(git_dir, branch)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, orjson.dumps(state))
    except OSError as exc:
        raise StoreError(f"cannot keep the merge into {branch}: {exc}") from exc


def read_merge(git_dir: Path | str, branch: str) -> dict[str, Any] | None:
    """The merge into ``branch`` a daemon kept, or None (none, or set aside damaged)."""
    path = _path(git_dir, branch)
    try:
        state = orjson.loads(path.read_bytes())
        if not isinstance(state, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("the merge record %s cannot be read (%s); set aside", path, exc)
        with contextlib.suppress(OSError):
            path.replace(path.with_suffix(".damaged"))
        return None
    return state


def forget_merge(git_dir: Path | str, branch: str) -> None:
    """The merge into ``branch`` is over (committed or aborted)."""
    try:
        _path(git_dir, branch).unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot remove the merge record of {branch}: {exc}") from exc
