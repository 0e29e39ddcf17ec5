"""svgx_sync: live multi-user editing of SVG documents, each document a git repository.

The seed's Python API is importable from here::

    from svgx_sync import start_collaboration_server, send_operation, resolve_conflict

Those names are loaded on first use (PEP 562): the API pulls in the daemon (websockets,
pygit2, prometheus_client), and git starts the merge driver, which needs none of it, once
per merged file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import (
        get_active_users,
        get_collaboration_performance_stats,
        resolve_conflict,
        send_operation,
        start_collaboration_server,
        stop_collaboration_server,
    )
    from .core.conflicts import Strategy as ConflictResolution
    from .core.ops import OperationType

#: Public name -> (module, attribute) it is loaded from on first use.
_LAZY: dict[str, tuple[str, str]] = {
    "ConflictResolution": ("core.conflicts", "Strategy"),
    "OperationType": ("core.ops", "OperationType"),
    "get_active_users": ("api", "get_active_users"),
    "get_collaboration_performance_stats": ("api", "get_collaboration_performance_stats"),
    "resolve_conflict": ("api", "resolve_conflict"),
    "send_operation": ("api", "send_operation"),
    "start_collaboration_server": ("api", "start_collaboration_server"),
    "stop_collaboration_server": ("api", "stop_collaboration_server"),
}

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


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        # An AttributeError also lets ``from svgx_sync import cli`` find the submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
