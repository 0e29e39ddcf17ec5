"""The rules, as pure code: SVG documents, operations, diff, merge and the live session.

Values in, values out: nothing here opens a socket, a file, a repository or a clock
(import-linter's contracts in ``pyproject.toml`` hold every module here to that). Time
and identity come in as arguments. The shells in :mod:`svgx_sync.git`,
:mod:`svgx_sync.durable` and :mod:`svgx_sync.daemon` feed it and carry out what it returns.
"""
