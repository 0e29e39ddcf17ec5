"""What the watcher is set up with, and what it needs from the daemon."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ...core.external import Checkout
from ...core.session import LiveDocument
from ...core.session import Outcome as Submitted

__all__ = ["WatchSettings", "WatchTarget"]


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """How the watcher groups changes, waits for git, and makes quiet-period versions."""

    # grouping: a group is yielded after ``step_ms`` without a change, or ``debounce_ms``
    debounce_ms: int = 400
    step_ms: int = 30
    # waiting for git's locks
    lock_first_delay_s: float = 0.02
    lock_max_delay_s: float = 1.0
    # quiet-period versions (None: off)
    auto_version_quiet_s: float | None = None
    # adoption of new sub-folders of the root that hold SVG files
    adopt_new_folders: bool = True
    # polling instead of inotify (network file systems)
    force_polling: bool = False
    # a file left incomplete (its XML end missing) this long, unchanged, is rejected
    incomplete_grace_s: float = 2.0


@runtime_checkable
class WatchTarget(Protocol):
    """What the watcher needs from the daemon (:class:`svgx_sync.daemon.server.Daemon` has it)."""

    def working_tree_session(self, name: str) -> LiveDocument | None:
        """The live session bound to the working tree of document ``name`` (the
        checked-out branch), or None when nobody is editing it."""
        ...

    async def publish_external(
        self,
        name: str,
        outcomes: Sequence[Submitted],
        messages: Sequence[dict[str, Any]],
        bases: Collection[str] = (),
    ) -> None:
        """Journal and broadcast what the session returned for external operations (like
        a client's, without an ack), send ``messages`` to the session's clients, record
        the new ``last_written`` of the files in ``bases``, and write back what the
        merge changed."""
        ...

    async def written_versions(self, name: str, file: str) -> list[tuple[bytes, int]]:
        """The recent versions of ``file`` the daemon recorded (bytes and ``seq``,
        newest first): the candidates for the base of a save (read beside the loop:
        several copies of the whole file)."""
        ...

    def writing_files(self, name: str) -> bool:
        """A write of document ``name``'s files is under way (its bytes are already
        ``last_written`` but not yet all on disk): look again shortly."""
        ...

    def follow_checkout(self, name: str, old: str | None, new: str | None) -> Checkout:
        """git moved HEAD of document ``name`` from branch ``old`` to ``new`` (None:
        detached): carry out :func:`~svgx_sync.core.external.checkout_sessions` (a session
        parked or taking the working tree, its live state written out, clients moved
        or told ``head_detached``) and return it."""
        ...

    def keep_live_state(self, name: str, reason: str) -> str | None:
        """Commit the live state of document ``name``'s working-tree session to
        ``refs/svgx/kept/<branch>`` before git's forced change is merged into it;
        returns the ref, or None when it could not be kept."""
        ...

    def version_before_loss(self, name: str, description: str) -> str | None:
        """Make a version (a commit on the branch, by svgx_sync) of the live state of
        document ``name``'s working-tree session before an outside save that drops ids
        or the model is merged in; returns its id, or None when it could not be made."""
        ...
