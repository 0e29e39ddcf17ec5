"""Freed memory is handed back to the system after a step that read big files, and not
after small ones: a trim walks the whole heap while holding malloc's locks."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from svgx_sync.daemon import memory

pytestmark = pytest.mark.skipif(
    not memory.release(), reason="malloc_trim needs glibc on Linux; elsewhere nothing is done"
)


def trimmers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "svgx-release-memory"]


def test_a_small_step_asks_for_no_trim_and_a_big_one_for_one() -> None:
    deadline = time.monotonic() + 10
    while trimmers() and time.monotonic() < deadline:  # another test's trim, ending
        time.sleep(0.05)
    memory.release_soon(memory.WORTH_BYTES - 1)
    assert trimmers() == []
    memory.release_soon(memory.WORTH_BYTES)
    memory.release_soon(50 * memory.WORTH_BYTES)  # one trim however many ask meanwhile
    assert len(trimmers()) == 1
    for thread in trimmers():
        thread.join(10)
    assert trimmers() == [] and sys.platform.startswith("linux")
