"""Python's cyclic collector beside a thousand live documents.

A full pass of the collector walks every object it tracks: with a thousand live
documents that is half a million objects, and a pause of a hundred milliseconds or more
on the event loop, in the middle of somebody's drag. What a loaded session holds lives as
long as the session, so once loading has settled (no session loaded for a second) it is
frozen out of the collector (:func:`gc.freeze`): full passes then walk only what came
since. When sessions unload, the frozen objects are given back (:func:`gc.unfreeze`),
collected once, and what is still live is frozen again; at stop they are given back.
"""

from __future__ import annotations

import gc

__all__ = ["SETTLED_S", "Heap"]

SETTLED_S = 1.0
"""How long no session has loaded before the loaded state is frozen."""


class Heap:
    """When to freeze the live sessions' objects out of the collector, and when to thaw."""

    def __init__(self) -> None:
        self.frozen = False
        self._last_load: float | None = None  # a load not frozen yet

    def loaded(self, now: float) -> None:
        """A session was loaded: freeze once loading has settled."""
        self._last_load = now

    def unloaded(self) -> None:
        """Sessions were unloaded: the cycles they left are collected (one full pass)."""
        if self.frozen:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def tick(self, now: float) -> None:
        """Freeze when loading has settled (the daemon's ticker calls this each second)."""
        if self._last_load is not None and now - self._last_load >= SETTLED_S:
            self._last_load = None
            gc.freeze()
            self.frozen = True

    def thaw(self) -> None:
        """Give the frozen objects back to the collector (the daemon stops)."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
