"""The documents under the watched root, and what the watcher keeps of each.

A folder of the root is opened as a document the first time a change in it is seen; a
plain folder of SVG files is adopted (made a document) first, when the settings allow.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ...core.external import HeadState
from ...errors import ClientError, SvgxError
from ...git.adopt import adopt_folder
from ...git.store import Document, Store

__all__ = ["DocState", "Documents"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DocState:
    """What the watcher remembers of one document between groups of changes."""

    head: HeadState | None = None
    head_files: dict[str, bytes] | None = None  # the files of ``head``; None: not read yet
    # after a rewind, the files of the version HEAD was on (git may rewrite them later)
    rewound_from: dict[str, bytes] = field(default_factory=dict)
    last_change: float | None = None
    last_version: float | None = None
    pending: set[str] = field(default_factory=set)  # files to judge once git lets go
    retry: asyncio.Task[None] | None = None
    delay: float = 0.0
    # incomplete files: file -> (digest, when first seen with these bytes)
    waiting: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    rechecks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # rejected files already announced: file -> digest of the bytes announced
    announced: dict[str, bytes] = field(default_factory=dict)
    # held while the document's changes are judged and taken in: one look at a time, so
    # that a second look at a save finds it taken in already
    judging: asyncio.Lock = field(default_factory=asyncio.Lock)

    def settled(self, file: str) -> None:
        """``file`` is neither waiting to be whole nor a rejected file any more."""
        self.waiting.pop(file, None)
        self.announced.pop(file, None)

    def tasks(self) -> list[asyncio.Task[None]]:
        """The retry and the rechecks still scheduled."""
        return [t for t in (self.retry, *self.rechecks.values()) if t is not None]


class Documents:
    """The documents of one store, opened (or adopted) when first seen."""

    def __init__(self, store: Store, *, adopt_new_folders: bool) -> None:
        self.store = store
        self.adopt_new_folders = adopt_new_folders
        self.states: dict[str, DocState] = {}
        self._opened: dict[str, Document] = {}

    def state(self, name: str) -> DocState:
        """What the watcher keeps of document ``name`` (made when first asked)."""
        return self.states.setdefault(name, DocState())

    def open(self, name: str) -> Document | None:
        """Document ``name``, or None when its folder is not one (and is not adopted)."""
        doc = self._opened.get(name)
        if doc is None:
            folder = self.store.root / name
            if not (folder / ".git").exists():
                if not self.adopt_new_folders:
                    return None
                try:
                    doc = adopt_folder(folder)
                except (ClientError, SvgxError) as exc:
                    log.debug("watcher: %s is not a document (%s)", folder, exc)
                    return None
            else:
                try:
                    doc = self.store.open(name)
                except SvgxError as exc:
                    log.debug("watcher: cannot open %s: %s", name, exc)
                    return None
            self._opened[name] = doc
        return doc
