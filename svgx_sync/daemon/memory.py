"""Giving the memory a big step freed back to the system.

lxml (libxml2) allocates every node of a parsed drawing with ``malloc``. A step that
parses whole versions of a big drawing (an outside save judged, a diff, a version)
frees them when it ends, but glibc keeps freed memory for the process's next
allocations, scattered between the blocks still in use: the daemon's resident size
grew by hundreds of megabytes per step on a 60k-element drawing while what it used
stayed about its live tree. ``malloc_trim`` hands every wholly free page back.

:func:`release_soon` asks for that once a step has ended: one thread waits
:data:`DELAY_S` (so the writes that follow the step are done too) and trims, however
many steps asked meanwhile. Only with glibc; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["DELAY_S", "WORTH_BYTES", "release", "release_soon"]

log = logging.getLogger(__name__)

DELAY_S = 0.5
"""How long :func:`release_soon` waits before trimming."""

WORTH_BYTES = 1 << 20
"""A step that handled files smaller than this freed too little to trim for: a trim walks
the whole heap (about 100 ms over the 200 MB of a thousand live documents) and holds
malloc's locks meanwhile, so the event loop waits for it at its next allocation."""


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()
_lock = threading.Lock()
_waiting = False


def release() -> bool:
    """Hand the wholly free pages of every heap back to the system now (the calling
    thread waits; ctypes lets go of the GIL meanwhile). False when nothing can."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def release_soon(handled: int = WORTH_BYTES) -> None:
    """:func:`release` in :data:`DELAY_S`, in a thread of its own: once for every call
    made until then. ``handled``: the bytes of the files the step read whole (below
    :data:`WORTH_BYTES`, nothing is done)."""
    global _waiting
    if _TRIM is None or handled < WORTH_BYTES:
        return
    with _lock:
        if _waiting:
            return
        _waiting = True
    threading.Thread(target=_later, name="svgx-release-memory", daemon=True).start()


def _later() -> None:
    global _waiting
    time.sleep(DELAY_S)
    with _lock:
        _waiting = False
    try:
        release()
    except OSError:  # pragma: no cover - malloc_trim sets no error; ctypes might
        log.exception("could not give memory back to the system")
