"""Versions after a quiet period (off unless ``auto_version_quiet_s`` is set).

When a document has had no change for the quiet period
(:func:`~svgx_sync.core.external.auto_version_due`), what differs from HEAD is
committed on the checked-out branch: the live session's state when someone edits it
(the disk may lag it by a debounced write), else the SVG files of the working tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from ...core import protocol
from ...core.external import auto_version_due, auto_version_message
from ...core.intake import Verdict, screen_svg
from ...core.session import version_files
from ...errors import SvgxError
from ...git.store import Document
from .documents import Documents
from .head import HeadWatch, git_is_busy
from .target import WatchTarget

__all__ = ["AUTO_VERSION_USER", "AutoVersions"]

log = logging.getLogger(__name__)

AUTO_VERSION_USER = "auto-version"


class AutoVersions:
    """Makes the quiet-period versions of the documents the watcher has seen change."""

    def __init__(
        self, target: WatchTarget, documents: Documents, head: HeadWatch, quiet_s: float
    ) -> None:
        self.target = target
        self.documents = documents
        self.head = head
        self.quiet_s = quiet_s

    async def run(self, stop: asyncio.Event) -> None:
        """Look for documents due a version a few times per quiet period, until ``stop``."""
        quiet = self.quiet_s
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(quiet / 4, 0.05))
            now = time.monotonic()
            for name, state in list(self.documents.states.items()):
                if auto_version_due(
                    quiet_s=quiet,
                    last_change=state.last_change,
                    last_version=state.last_version,
                    now=now,
                ):
                    state.last_version = now
                    try:
                        await self.make(name)
                    except SvgxError as exc:
                        log.warning("auto-version of %s failed: %s", name, exc)

    async def make(self, name: str) -> None:
        """Commit what differs from HEAD in document ``name``, if anything does."""
        doc = self.documents.open(name)
        if doc is None or git_is_busy(doc):
            return
        state = self.documents.state(name)
        head = self.head.read(doc)
        committed = self.head.files(doc, state) if head == state.head else self.head.tree(doc, head)
        live = self.target.working_tree_session(name)
        current = live.contents() if live is not None else _svg_files_or_committed(doc, committed)
        changed = {
            p: d for p, d in version_files(current, committed).items() if committed.get(p) != d
        }
        if not changed:
            return
        version = doc.commit(
            changed,
            user_id=AUTO_VERSION_USER,
            username="svgx_sync",
            description=auto_version_message(changed),
        )
        self.head.remember(doc, state)
        if live is not None:
            notice = protocol.version_created(
                version, auto_version_message(changed), "svgx_sync", live.seq, auto=True
            )
            await self.target.publish_external(name, [], [notice])


def _svg_files_or_committed(doc: Document, committed: Mapping[str, bytes]) -> dict[str, bytes]:
    """The working tree's SVG files, a file that is not one standing for its committed
    version (or left out): bytes that are not SVG are never versioned."""
    out: dict[str, bytes] = {}
    for path, data in doc.svg_files().items():
        if screen_svg(data).verdict is Verdict.SVG:
            out[path] = data
        elif path in committed:
            out[path] = committed[path]
    return out
