"""Waiting for git's lock files, never removing them.

The git command takes ``index.lock`` and ``<ref>.lock`` while it works; libgit2 fails at
once when it meets one, where git itself would wait a little. Every index, ref and
checkout write of :mod:`svgx_sync.git` goes through :func:`with_lock_retry`, which
waits with a short backoff (about two seconds in all) and then lets the error through.
A lock is never removed: it belongs to whoever took it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import pygit2

__all__ = ["with_lock_retry"]

log = logging.getLogger(__name__)

# How long to wait for a lock held by someone else (the git command, another process).
_LOCK_WAIT_SECONDS = 2.0
_LOCK_FIRST_DELAY = 0.005
_LOCK_MAX_DELAY = 0.2

_T = TypeVar("_T")

_sleep = time.sleep  # the one place the lock wait touches the clock


def _is_lock_error(exc: BaseException) -> bool:
    # libgit2 reports a held index.lock as GitError ("the index is locked") and a held
    # ref lock as OSError ("failed to lock file ... for writing").
    text = str(exc).lower()
    return "lock" in text and ("failed" in text or "locked" in text or "exists" in text)


def with_lock_retry(action: Callable[[], _T], what: str) -> _T:
    """Run ``action``, waiting with backoff while git holds a lock it needs."""
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    delay = _LOCK_FIRST_DELAY
    while True:
        try:
            return action()
        except (pygit2.GitError, OSError) as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            log.debug("%s: lock held, retrying in %.3fs (%s)", what, delay, exc)
            _sleep(delay)
            delay = min(delay * 2, _LOCK_MAX_DELAY)
