"""Git: the store of document repositories, the names git accepts, adopting plain folders,
and the merge and diff drivers git runs.

Everything that reads or writes a repository with pygit2 (or runs the ``git`` command) is
here. It uses :mod:`svgx_sync.core` for what SVG files mean and :mod:`svgx_sync.durable`
for atomic file writes, and never the daemon: git starts the merge driver once per file.
"""
