"""How many client connections fit the process's open-file limit.

Each connection holds one file descriptor; the daemon also needs some for its listening
socket, every loaded session's journal and repository, the file watcher and its worker
threads. A ``max_connections`` above what is left would let clients take them all, and
the next journal or repository open would fail instead of the next handshake.
"""

from __future__ import annotations

__all__ = ["FD_RESERVE", "connections_that_fit"]

FD_RESERVE = 64  # descriptors kept for everything but connections, at the least


def connections_that_fit(requested: int, fd_limit: int | None) -> int:
    """``requested`` or fewer: the open-file limit (None: unlimited) less a reserve of
    ``FD_RESERVE`` or a tenth of the limit, whichever is larger; at least 1."""
    if fd_limit is None:
        return requested
    reserve = max(FD_RESERVE, fd_limit // 10)
    return max(1, min(requested, fd_limit - reserve))
