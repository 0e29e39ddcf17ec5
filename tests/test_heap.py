"""The live sessions' objects are frozen out of the collector's full passes once loading
has settled, and given back when sessions unload or the daemon stops."""

from __future__ import annotations

import asyncio
import gc
import weakref

from test_server import TIMEOUT, joined, run_with_daemon

from svgx_sync.daemon.heap import SETTLED_S, YOUNG_THRESHOLD, Heap
from svgx_sync.daemon.server import Daemon


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_load_is_frozen_at_once_and_when_loading_settles_and_an_unload_collects() -> None:
    heap = Heap()
    try:
        loaded = Cycle()  # what a session holds
        heap.loaded(10.0)
        assert heap.frozen and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        left = Cycle()  # made after the load: not frozen while loading goes on
        gone = weakref.ref(left)
        heap.tick(10.0 + SETTLED_S / 2)
        assert gc.get_freeze_count() == frozen
        heap.tick(10.0 + SETTLED_S)
        assert gc.get_freeze_count() > frozen  # settled: frozen too
        del left
        gc.collect()
        assert gone() is not None  # frozen: no pass looks at it
        heap.unloaded()
        assert gone() is None  # thawed and collected once
        assert gc.get_freeze_count() > 0  # what is still live is frozen again
        heap.thaw()
        assert gc.get_freeze_count() == 0 and not heap.frozen
        del loaded
    finally:
        gc.unfreeze()


def test_the_daemon_freezes_a_settled_session_and_thaws_at_stop(tmp_path) -> None:
    async def body(daemon: Daemon) -> None:
        (a,) = await joined(daemon, "alice")

        async def frozen() -> None:
            while gc.get_freeze_count() == 0:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(frozen(), TIMEOUT)  # the ticker's doing, a second after
        await a.op("alice", "create", "r1", {"type": "rectangle"}, "o1")  # still serving
        await a.close()

    try:
        run_with_daemon(tmp_path, body)
        assert gc.get_freeze_count() == 0  # given back at stop
    finally:
        gc.unfreeze()


def test_the_daemon_passes_over_young_objects_less_often_while_it_serves(tmp_path) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    async def body(daemon: Daemon) -> None:
        seen.append(gc.get_threshold())

    run_with_daemon(tmp_path, body)
    assert seen == [(YOUNG_THRESHOLD, before[1], before[2])]
    assert gc.get_threshold() == before  # the process's own again after stop
