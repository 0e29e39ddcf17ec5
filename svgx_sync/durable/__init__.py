"""What must survive a crash: atomic file replacement, the journal of accepted operations
and the versions of files the daemon wrote (the bases of outside edits).

Plain files and fsync only; no git, no event loop.
"""
