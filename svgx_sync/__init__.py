"""svgx_sync: live multi-user editing of SVG documents, each document a git repository.

The seed's Python API is importable from here::

    from svgx_sync import start_collaboration_server, send_operation, resolve_conflict
"""

from __future__ import annotations

__version__ = "0.1.0"
