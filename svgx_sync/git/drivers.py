"""The merge engine on git's command line: attributes, driver config, the driver itself.

What this shell does, mechanically (every rule lives in :mod:`svgx_sync.core.merge`):

* :func:`setup_repository` writes ``*.svg merge=svgx diff=svgx`` into ``.gitattributes``
  (keeping its other lines; nothing is committed) and sets ``merge.svgx.*`` and
  ``diff.svgx.command`` in the repository's own config. That config is not cloned: a
  fresh clone falls back to git's line merge until it is set up again.
* :func:`merge_driver` follows git's contract for ``merge.<driver>.driver = cmd %O %A
  %B %L %P``: the result is written over ``%A``; exit 0 when clean, 1 when conflicts were
  marked in the file. When an input is not an SVG we read, the file gets ``git
  merge-file``'s line merge instead (markers of size ``%L``, labelled with ``%P``), with
  its exit code: no worse than git without the driver. Only a file git will not merge
  either (binary) is left as ours, exit 130.
* Active content (:mod:`svgx_sync.core.active`) the merge brings into ours is kept, as
  git would keep it, and reported on stderr, one line each: the daemon serves it inert.
* :func:`file_conflicts` and :func:`resolve_file` serve the ``conflicts`` and
  ``resolve`` commands; once a file has no marks left it is staged (as ``git add`` would) so
  that ``git commit`` concludes the merge (through libgit2: no command of ours runs a
  program the repository's config names).

libgit2 (and so pygit2 and the daemon) never runs merge drivers; the daemon calls
:func:`~svgx_sync.core.merge.merge_documents` itself. The driver is for people using ``git``.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..core.active import may_add_findings, new_findings
from ..core.merge import (
    Conflict,
    Versions,
    mark_conflicts,
    merge_documents,
    read_conflicts,
    remove_marks,
    resolve_marked,
)
from ..core.svgdoc import SvgDocument
from ..core.xmltext import decode
from ..durable.atomic import write_atomic
from ..errors import ClientError, DocumentError, NotFound, StoreError

__all__ = [
    "ATTRIBUTES_LINE",
    "DRIVER_CLEAN",
    "DRIVER_CONFLICT",
    "DRIVER_FAILED",
    "diff_text",
    "file_conflicts",
    "merge_driver",
    "named_svg_files",
    "resolve_file",
    "setup_repository",
]

log = logging.getLogger(__name__)

ATTRIBUTES_LINE = "*.svg merge=svgx diff=svgx"

# git's merge driver contract: 0 clean, non-zero conflicted, above 128 a failed merge.
DRIVER_CLEAN = 0
DRIVER_CONFLICT = 1
DRIVER_FAILED = 130


def _command(*args: str) -> str:
    return " ".join([shlex.quote(sys.executable), "-m", "svgx_sync", *args])


def setup_repository(path: Path | str = ".") -> None:
    """Make ``git merge`` and ``git diff`` use svgx_sync for SVG files in this repository.

    Idempotent. Raises :class:`NotFound` when ``path`` is not inside a git repository,
    :class:`ClientError` when it has no working tree.
    """
    import pygit2  # here, not at the top: the merge driver starts without it

    found = pygit2.discover_repository(str(path))
    if found is None:
        raise NotFound(f"{path} is not inside a git repository; `git init` makes one")
    repo = pygit2.Repository(found)
    if repo.workdir is None:
        raise ClientError(f"{found} is a bare repository; there is no working tree to set up")
    attributes = Path(repo.workdir) / ".gitattributes"
    text = attributes.read_text(encoding="utf-8") if attributes.exists() else ""
    lines = text.splitlines()
    if ATTRIBUTES_LINE not in (line.strip() for line in lines):
        if text and not text.endswith("\n"):
            text += "\n"
        attributes.write_text(text + ATTRIBUTES_LINE + "\n", encoding="utf-8")
    config = repo.config
    config["merge.svgx.name"] = "svgx_sync element-level merge of SVG files"
    config["merge.svgx.driver"] = _command("merge-driver", "%O", "%A", "%B", "%L", "%P")
    # diff.<driver>.command gets: path old-file old-hex old-mode new-file new-hex new-mode.
    config["diff.svgx.command"] = _command("git-diff")


def merge_driver(
    base_path: str | Path,
    ours_path: str | Path,
    theirs_path: str | Path,
    marker_size: int | str = 7,
    path: str | None = None,
) -> int:
    """git's merge driver: merge into ``ours_path`` and return git's exit code.

    When the element merge cannot be done (an input that is not an SVG we read, or a
    fault of ours) the file gets git's own line merge instead, so that the driver never
    leaves a merge worse off than git without it.
    """
    name = path or str(ours_path)
    files = Versions(Path(base_path), Path(ours_path), Path(theirs_path))
    try:
        base, ours, theirs = (p.read_bytes() for p in files)
        # git hands an empty file as the base when both sides added the file.
        result = merge_documents(Versions(base or None, ours, theirs), file=name)
        merged = mark_conflicts(result) if result.merged is not None else None
    except (OSError, DocumentError) as exc:
        return _line_merge(files, marker_size, name, str(exc))
    except Exception as exc:  # a bug of ours must not cost the user the merge
        log.exception("element merge of %s failed", name)
        return _line_merge(files, marker_size, name, f"{name}: {type(exc).__name__}: {exc}")
    if merged is None:  # not reached from git: git decides deletions itself
        return _line_merge(files, marker_size, name, f"{name}: the merge deletes the file")
    write_atomic(files.ours, merged)
    for note in result.notes:
        print(f"svgx-sync: {name}: {note}", file=sys.stderr)
    for conflict in result.conflicts:
        what = "conflict" if conflict.blocking else "warning"
        print(f"svgx-sync: {name}: {what}: {_describe(conflict)}", file=sys.stderr)
    _report_active_content(name, ours, result.merged or merged, result.touched)
    return DRIVER_CLEAN if result.clean else DRIVER_CONFLICT


def _report_active_content(
    name: str, ours: bytes, merged: bytes, touched: list[str] | None
) -> None:
    """One stderr line for each piece of active content the merge brought into ours
    (the files are read whole only when the text the merge changed could hold some)."""
    try:
        if ours and not may_add_findings(decode(ours)[0], decode(merged)[0], touched):
            return
        found = new_findings(
            SvgDocument(ours, name=name).root if ours else None, SvgDocument(merged, name=name).root
        )
    except DocumentError:
        return  # the merge read both; a file we cannot read again is not made worse here
    for finding in found:
        where = f"line {finding.line}: " if finding.line is not None else ""
        print(
            f"svgx-sync: {name}: active content (kept, served inert): {where}{finding.describe()}",
            file=sys.stderr,
        )


def _line_merge(files: Versions[Path], marker_size: int | str, name: str, why: str) -> int:
    """``git merge-file``, what git does for a file without a driver.

    It reads no attributes, drivers or hooks (only ``merge.conflictStyle``, as git's own
    line merge does) and needs no repository. Its exit code is the number of conflicts,
    or above 127 for a file it will not merge (binary to git): ours is then kept, as
    git's binary merge keeps it.
    """
    print(
        f"svgx-sync merge-driver: {why}; not merged element by element, git's line merge"
        " is used instead",
        file=sys.stderr,
    )
    size = int(marker_size) if str(marker_size).isdigit() else 7
    labels = [arg for side in ("ours", "base", "theirs") for arg in ("-L", f"{side}:{name}")]
    command = ["git", "merge-file", "-p", f"--marker-size={size}", *labels]
    try:
        done = subprocess.run(
            [*command, str(files.ours), str(files.base), str(files.theirs)],
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        print(f"svgx-sync merge-driver: cannot run git: {exc}; left as ours", file=sys.stderr)
        return DRIVER_FAILED
    if not 0 <= done.returncode <= 127:
        sys.stderr.write(done.stderr.decode(errors="replace"))
        print(f"svgx-sync merge-driver: {name}: left as ours", file=sys.stderr)
        return DRIVER_FAILED
    write_atomic(files.ours, done.stdout)
    return DRIVER_CLEAN if done.returncode == 0 else DRIVER_CONFLICT


def _describe(conflict: Conflict) -> str:
    where = conflict.element_id + (f" {conflict.attribute}" if conflict.attribute else "")
    parts = [f"{conflict.kind} at {where}"]
    for label, value in (("ours", conflict.ours), ("theirs", conflict.theirs)):
        if value is not None and len(value) <= 60 and "\n" not in value:
            parts.append(f"{label}={value!r}")
    if conflict.detail:
        parts.append(f"({conflict.detail})")
    return " ".join(parts)


def describe(conflict: Conflict) -> str:
    """One line for people: mark id, kind, element, attribute and the short values."""
    return f"{conflict.mark_id or '-'}  {_describe(conflict)}"


def svg_files(folder: Path) -> Iterator[Path]:
    """The SVG files under ``folder``, skipping hidden folders such as ``.git``."""
    for candidate in sorted(folder.rglob("*.svg")):
        if not any(part.startswith(".") for part in candidate.relative_to(folder).parts[:-1]):
            yield candidate


def named_svg_files(paths: Iterable[Path]) -> list[Path]:
    """The files the user named, each folder among them replaced by its SVG files; a
    path that does not exist is :class:`NotFound` (not "no conflicts")."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(svg_files(path))
        elif path.exists():
            out.append(path)
        else:
            raise NotFound(f"{path}: No such file or folder")
    return out


def file_conflicts(files: Iterable[Path]) -> list[tuple[Path, Conflict]]:
    """The conflicts marked in these files (unreadable files are skipped with a warning)."""
    out: list[tuple[Path, Conflict]] = []
    for file in files:
        try:
            data = file.read_bytes()
            if b"svgx-conflicts" not in data:
                continue
            out.extend((file, c) for c in read_conflicts(data, file=str(file)))
        except (OSError, DocumentError) as exc:
            log.warning("cannot read %s: %s", file, exc)
    return out


def resolve_file(
    file: Path, conflict_id: str | None, choice: str, *, stage: bool = True
) -> list[Conflict]:
    """Carry out ``choice`` for one marked conflict, or for all with ``conflict_id=None``.

    Rewrites the file; when no blocking mark is left, removes the block and stages the
    file as ``git add`` would (when ``stage``). Returns the conflicts still marked.
    """
    data = file.read_bytes()
    marks = read_conflicts(data, file=str(file))
    if not marks:
        raise NotFound(f"{file}: no conflicts are marked in it; nothing to resolve")
    chosen = [c for c in marks if conflict_id is None or c.mark_id == conflict_id]
    if conflict_id is not None and not chosen:
        raise NotFound(f"{file}: no conflict {conflict_id!r}")
    for conflict in chosen:
        assert conflict.mark_id is not None
        data = resolve_marked(data, conflict.mark_id, choice)
    remaining = read_conflicts(data)
    if not any(c.blocking for c in remaining):
        data = remove_marks(data)
        remaining = []
    write_atomic(file, data)
    if not remaining and stage:
        _git_add(file)
    return remaining


def _git_add(file: Path) -> None:
    """Stage ``file`` as ``git add`` would, clearing the index's conflict stages for it.

    Through libgit2, not the git command: git would run what the repository's config
    names (``core.fsmonitor``, filter drivers, ``post-index-change`` hooks), and a
    repository someone else prepared must not make our command run its programs.
    libgit2 runs none of them (it knows no external filters, hooks or fsmonitor).
    """
    import pygit2  # here, not at the top: the merge driver starts without it

    from .locks import with_lock_retry

    found = pygit2.discover_repository(str(file.parent))
    if found is None:
        raise StoreError(f"cannot stage {file}: it is not inside a git repository")
    repo = pygit2.Repository(found)
    if repo.workdir is None:
        raise StoreError(f"cannot stage {file}: the repository has no working tree")
    try:
        path = file.resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    except ValueError:
        raise StoreError(f"cannot stage {file}: it is outside {repo.workdir}") from None

    def add() -> None:
        index = repo.index
        index.read(force=True)
        index.add(path)  # also moves the path's conflict stages out of the index
        index.write()

    try:
        with_lock_retry(add, "index update")
    except (pygit2.GitError, OSError) as exc:
        raise StoreError(f"cannot stage {file}: {exc}") from exc


def diff_text(path: str, old_file: str, new_file: str) -> str:
    """``git diff`` for one SVG file, element by element (``diff.svgx.command``)."""
    from ..core.diff import diff_documents, summarise

    def read(name: str) -> bytes | None:
        return None if name == "/dev/null" else Path(name).read_bytes()

    old, new = read(old_file), read(new_file)
    try:
        changes = diff_documents(old, new, path)
        body = summarise(changes, old)
    except DocumentError as exc:
        return f"svgx diff {path}: {exc}\n"
    if not body:
        return ""
    return f"svgx diff {path}\n{body}"
