"""svgx_sync: live multi-user editing of SVG documents, each document a git repository.

The seed's Python API is importable from here::

    from svgx_sync import start_collaboration_server, send_operation, resolve_conflict
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import (
    get_active_users,
    get_collaboration_performance_stats,
    resolve_conflict,
    send_operation,
    start_collaboration_server,
    stop_collaboration_server,
)
from .conflicts import Strategy as ConflictResolution
from .ops import OperationType

__all__ = [
    "ConflictResolution",
    "OperationType",
    "__version__",
    "get_active_users",
    "get_collaboration_performance_stats",
    "resolve_conflict",
    "send_operation",
    "start_collaboration_server",
    "stop_collaboration_server",
]
