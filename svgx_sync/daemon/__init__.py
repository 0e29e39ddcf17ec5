"""The daemon: the WebSocket server with its health and metrics, and the file watcher.

The outermost shell. It feeds frames, file changes and ref moves to :mod:`svgx_sync.core`,
and carries out what comes back with :mod:`svgx_sync.durable` and :mod:`svgx_sync.git`.
"""
