"""The file watcher: brings other programs' saves and the git command's work to live editors.

A shell over :mod:`watchfiles` (one ``awatch`` over the store's root). The rules are in
:mod:`svgx_sync.core.external` (what a change means) and
:mod:`svgx_sync.core.external_merge` (what it does to the live session); this package
reads files and refs, asks those rules, and hands what they return to the daemon to
journal and broadcast. What it watches, per document folder:

- ``*.svg`` in the working tree (not hidden, not in a hidden folder): an external save,
  a new file or a deleted one;
- ``.git/HEAD``, ``.git/refs/**`` (except ``refs/svgx/**``, the daemon's own refs) and
  ``.git/packed-refs``: a commit, checkout, reset, revert, merge or pull made with git.

Everything else (``.git/objects``, the daemon's temporary files ``.name.xxxx.tmp``, its
journal under ``.git/svgx/``) is filtered out. watchfiles groups the changes of a burst
(``step_ms`` of quiet or at most ``debounce_ms``), and each file is read once per group,
as it is then, so an editor saving many times a second costs one merge per group.

While git holds ``index.lock`` or a ref's ``.lock`` in a document, that document is left
alone and looked at again with backoff: git is half-way through changing it. The lock is
never touched. Nothing the daemon acknowledged is lost meanwhile: live operations keep
being accepted and journaled by the daemon; the watcher only adds the external ones.

The daemon is reached through :class:`WatchTarget`, a small protocol made of public
methods of :class:`svgx_sync.daemon.server.Daemon`, so the watcher needs none of its
internals. The parts:

- :mod:`.target`: the settings, and what the watcher needs from the daemon;
- :mod:`.documents`: the documents under the root and what the watcher keeps of each;
- :mod:`.watch`: :class:`Watcher`, the watch loop and the grouping of one document's changes;
- :mod:`.head`: git's side: HEAD moves, the files git wrote, git's merge conflicts;
- :mod:`.saves`: an outside save, from the bytes on disk to the live session;
- :mod:`.autoversion`: versions after a quiet period.
"""

from __future__ import annotations

from .target import WatchSettings, WatchTarget
from .watch import Watcher

__all__ = ["WatchSettings", "WatchTarget", "Watcher"]
