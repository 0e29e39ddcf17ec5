"""Writing a file so that readers see either the old bytes or the new, never a mix.

:func:`write_atomic` writes into a temporary file in the same folder, flushes it to disk,
renames it over the target (``os.replace`` is atomic within one file system) and then
flushes the folder so the rename itself survives a crash. A file that already exists
keeps its permission bits, because git records the executable bit and an editor's
save must not show up as a mode change.

With ``may_replace`` the bytes the target holds are read and judged after the new file
is on disk and just before the rename, so a program that saved the target meanwhile
(while the new bytes were rendered and flushed) is not overwritten: the write is
skipped and reported. Only a save landing between that read and the rename itself, a
few microseconds, is not seen.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]


def _umask() -> int:
    # os.umask can only be read by setting it; do that once, at import, rather than
    # on every write where another thread could create a file in the meantime.
    current = os.umask(0o022)
    os.umask(current)
    return current


_NEW_FILE_MODE = 0o666 & ~_umask()


def _fsync_dir(folder: Path) -> None:
    # Directories cannot be opened on Windows; there the rename is durable enough.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_atomic(
    path: Path, data: bytes, *, may_replace: Callable[[bytes | None], bool] | None = None
) -> bool:
    """Replace ``path`` with ``data`` atomically and durably; returns whether it did.

    ``may_replace`` is asked, right before the rename, about the bytes ``path`` holds
    then (None: no file); when it says no, ``path`` is left as it is and False is
    returned. The parent folder must exist. On failure the target is left as it was and
    the temporary file is removed.
    """
    path = Path(path)
    folder = path.parent
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            # mkstemp creates 0600; a new file should get the usual umask-derived mode.
            os.chmod(tmp, _NEW_FILE_MODE)
        if may_replace is not None and not may_replace(_current(path)):
            tmp.unlink()
            return False
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(folder)
    return True
