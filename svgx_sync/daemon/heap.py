"""Python's cyclic collector beside a thousand live documents.

A full pass of the collector walks every object it tracks: with a thousand live
documents that is half a million objects, and a pause of a hundred milliseconds or more
on the event loop, in the middle of somebody's drag. What a loaded session holds lives as
long as the session, so it is frozen out of the collector (:func:`gc.freeze`) as soon as
it is loaded, and again once loading has settled (no session loaded for a second, what
the first edits and welcomes made included): full passes then walk only what came since.
Frozen at once because a full pass can come during a burst of loads (a thousand editors
opening their documents) and walk every session loaded so far: 440 ms in the middle of
a busy document's edits, measured. When sessions unload, the frozen objects are given
back (:func:`gc.unfreeze`), collected once, and what is still live is frozen again; at
stop they are given back.

A pass over the youngest generation walks the young objects still alive, and with
thousands of connections those are many whatever the pass's threshold (each one's
futures waiting for its next frame, each user's latest presence): 4,700 to 13,000
objects, 1.3 to 4.5 ms, about three times a second with Python's threshold of 700, and a
pass over the middle generation (16,000 objects, 4.6 to 10.3 ms) every three seconds
(timed beside a thousand live documents). The threshold only says how often, so the
daemon raises it fourteenfold while it serves (:data:`YOUNG_THRESHOLD`).
"""

from __future__ import annotations

import gc

__all__ = ["SETTLED_S", "YOUNG_THRESHOLD", "Heap"]

SETTLED_S = 1.0
"""How long no session has loaded before the loaded state is frozen."""

YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) between two passes over the youngest generation
while the daemon serves (Python's default: 700). Measured with a thousand live documents
beside a busy one (``benchmarks/bench_many_documents.py``)."""


class Heap:
    """When to freeze the live sessions' objects out of the collector, and when to thaw."""

    def __init__(self) -> None:
        self.frozen = False
        self._last_load: float | None = None  # a load not frozen yet
        self._thresholds: tuple[int, int, int] | None = None  # the process's, while serving

    def serving(self) -> None:
        """The daemon starts serving: young passes at :data:`YOUNG_THRESHOLD`."""
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            _, middle, old = self._thresholds
            gc.set_threshold(YOUNG_THRESHOLD, middle, old)

    def loaded(self, now: float) -> None:
        """A session was loaded: freeze now, and again once loading has settled."""
        self._last_load = now
        gc.freeze()
        self.frozen = True

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
        """Give the frozen objects back to the collector and the process its thresholds
        (the daemon stops)."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
