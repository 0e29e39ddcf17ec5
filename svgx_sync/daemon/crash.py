"""Named points where tests kill the daemon with a real ``kill -9`` of its own process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

__all__ = ["crash_point"]


def crash_point(name: str, before: Callable[[], None] | None = None) -> None:
    """Tests kill the daemon here with a real ``kill -9`` of its own process when
    ``SVGX_SYNC_CRASH_AT`` names this point (``before`` runs first: what the operating
    system would have written by then). Never set outside tests."""
    if os.environ.get("SVGX_SYNC_CRASH_AT") == name:
        if before is not None:
            before()
        os.kill(os.getpid(), signal.SIGKILL)
