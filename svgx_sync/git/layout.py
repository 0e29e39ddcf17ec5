"""What svgx_sync writes into a document's repository: its refs, identities and trailers.

Everything else in ``svgx_sync/git`` reads and writes through these names; the same
layout is told for users in ``docs/git-layout.md``.

Refs
    ``refs/heads/<branch>``, ``refs/tags/<name>``
        the user's; a version moves a branch (compare-and-swap on its tip), a tag is made
        only when asked for.
    ``refs/svgx/`` (:data:`PRIVATE_REF_NAMESPACE`)
        the daemon's own; branch and tag names under ``svgx/`` are refused.
    ``refs/svgx/live/<branch>`` (:data:`CHECKPOINT_REF_PREFIX`)
        live checkpoints: the live state of a branch at a ``seq``, parent the branch
        head, message carrying :data:`SEQ_TRAILER`; the journal is rotated after one.
    ``refs/svgx/kept/<branch>`` (:data:`KEPT_REF_PREFIX`)
        the live state kept just before a forced git command (``reset --hard``,
        ``checkout -f``) is merged into it; same shape as a checkpoint.

Identities
    svgx_sync itself is :data:`SYSTEM_NAME` ``<``:data:`SYSTEM_EMAIL```>``; a user is
    their display name ``<``:func:`user_email```>``, an address under
    :data:`USER_EMAIL_DOMAIN`. A commit by either is one the daemon made
    (:func:`made_by_daemon`).

Trailers (the last paragraph of a commit message, as ``git interpret-trailers`` reads it)
    ``Svgx-Session`` (:data:`SESSION_TRAILER`)
        at most once: the live session a version came from.
    ``Svgx-Operation`` (:data:`OPERATION_TRAILER`)
        once per operation folded into a version, in order.
    ``Svgx-Seq`` (:data:`SEQ_TRAILER`)
        on checkpoints: the ``seq`` of the live state they hold.

Outside git's refs, under ``.git/svgx/`` (which git ignores), the daemon keeps each
branch's journal and the bytes it wrote to the working tree (:mod:`svgx_sync.durable`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

from svgx_sync.errors import ClientError, StoreError
from svgx_sync.git.objects import OFF_GIL_FROM, build_tree, svg_entry_paths, write_blob

if TYPE_CHECKING:
    from svgx_sync.git.store import Document

__all__ = [
    "CHECKPOINT_REF_PREFIX",
    "KEPT_REF_PREFIX",
    "OPERATION_TRAILER",
    "PRIVATE_REF_NAMESPACE",
    "SEQ_TRAILER",
    "SESSION_TRAILER",
    "SYSTEM_EMAIL",
    "SYSTEM_NAME",
    "USER_EMAIL_DOMAIN",
    "author_name",
    "build_checkpoint",
    "checkpoint_seq",
    "compose_message",
    "made_by_daemon",
    "parse_message",
    "point_checkpoint",
    "read_checkpoint",
    "system_signature",
    "user_email",
    "user_signature",
    "write_checkpoint",
]

#: Refs under ``refs/<this>/`` belong to the daemon; branch and tag names starting with
#: ``svgx/`` are refused so that a user's ref can never be confused with one.
PRIVATE_REF_NAMESPACE = "svgx"
CHECKPOINT_REF_PREFIX = f"refs/{PRIVATE_REF_NAMESPACE}/live/"
KEPT_REF_PREFIX = f"refs/{PRIVATE_REF_NAMESPACE}/kept/"
"""Live state kept before git's forced change (reset --hard, checkout -f) was merged in."""

SYSTEM_NAME = "svgx_sync"
SYSTEM_EMAIL = "svgx-sync@localhost"
# ".invalid" is reserved by RFC 2606, so a derived address can never reach anyone.
USER_EMAIL_DOMAIN = "users.svgx-sync.invalid"

SESSION_TRAILER = "Svgx-Session"
OPERATION_TRAILER = "Svgx-Operation"
SEQ_TRAILER = "Svgx-Seq"

# A trailer line as git interpret-trailers reads it: "Token: value".
_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s?(.*)$")
_EMAIL_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
# What libgit2 trims from both ends of a signature's name (its "crud").
_SIGNATURE_TRIMMED = " .,:;<>\"\\'"


# --------------------------------------------------------------------------------------
# Identities


def user_email(user_id: str) -> str:
    """The author e-mail recorded for ``user_id``.

    git fsck --strict refuses ``<``, ``>`` and newlines in identities; keeping only
    ``[A-Za-z0-9._+-]`` in the local part also keeps the address readable everywhere.
    """
    local = _EMAIL_UNSAFE.sub("-", user_id).strip(".-")
    local = re.sub(r"\.{2,}", ".", local) or "user"
    return f"{local[:64]}@{USER_EMAIL_DOMAIN}"


def author_name(username: str, user_id: str) -> str:
    """The author name recorded for a user: the display name, else the user id.

    A name libgit2 would trim to nothing (``:``, ``\\``, ``.``) is no signature at all,
    so the next candidate is taken; the user id stays in :func:`user_email`."""
    # git fsck --strict: no "<", ">" or newline in a name; libgit2 trims the rest.
    for candidate in (username, user_id):
        cleaned = " ".join(re.sub(r"[<>\x00-\x1f\x7f]+", " ", candidate).split())
        if cleaned.strip(_SIGNATURE_TRIMMED):
            return cleaned
    return "user"


def system_signature() -> pygit2.Signature:
    """svgx_sync itself as author and committer."""
    return pygit2.Signature(SYSTEM_NAME, SYSTEM_EMAIL)


def user_signature(username: str, user_id: str) -> pygit2.Signature:
    """A user as author and committer."""
    return pygit2.Signature(author_name(username, user_id), user_email(user_id))


def made_by_daemon(commit: pygit2.Commit) -> bool:
    """Whether the daemon wrote ``commit`` (as itself or for a user of a live session)."""
    email = commit.author.email or ""
    return email == SYSTEM_EMAIL or email.endswith("@" + USER_EMAIL_DOMAIN)


# --------------------------------------------------------------------------------------
# Trailers


def _check_trailer_value(kind: str, value: str) -> str:
    if not value or value != value.strip() or any(c in value for c in "\r\n\x00"):
        raise ClientError(f"invalid {kind} {value!r}: must be non-empty, one line, no padding")
    return value


def compose_message(description: str, session_id: str | None, op_ids: Sequence[str]) -> str:
    """A version's commit message: the description, then our trailers if any."""
    if "\x00" in description:  # git would end the message there
        raise ClientError("a description must not contain a NUL character")
    body = description.strip() or "Edit"
    trailers: list[str] = []
    if session_id is not None:
        trailers.append(f"{SESSION_TRAILER}: {_check_trailer_value('session id', session_id)}")
    for op_id in op_ids:
        trailers.append(f"{OPERATION_TRAILER}: {_check_trailer_value('operation id', op_id)}")
    if not trailers:
        return body + "\n"
    # git interpret-trailers reads trailers from the last paragraph only.
    return body + "\n\n" + "\n".join(trailers) + "\n"


def parse_message(message: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Split a commit message into (description, session id, operation ids).

    Only our own trailers are taken out of the last paragraph; other trailers
    (Signed-off-by, ...) stay part of the description.
    """
    text = message.rstrip("\n")
    head, sep, last = text.rpartition("\n\n")
    if not sep:
        return text, None, ()
    lines = last.split("\n")
    matches = [_TRAILER_LINE.match(line) for line in lines]
    if not all(matches):
        return text, None, ()
    session_id: str | None = None
    op_ids: list[str] = []
    kept: list[str] = []
    for line, match in zip(lines, matches, strict=True):
        assert match is not None
        token = match.group(1).lower()
        if token == SESSION_TRAILER.lower():
            session_id = match.group(2).strip()
        elif token == OPERATION_TRAILER.lower():
            op_ids.append(match.group(2).strip())
        else:
            kept.append(line)
    description = head if not kept else head + "\n\n" + "\n".join(kept)
    return description, session_id, tuple(op_ids)


# --------------------------------------------------------------------------------------
# Checkpoints


def write_checkpoint(
    document: Document,
    branch: str,
    files: dict[str, bytes],
    seq: int,
    *,
    ref: str | None = None,
    title: str = "Live checkpoint",
    blobs: dict[str, tuple[bytes | None, pygit2.Oid]] | None = None,
) -> str:
    """A commit of ``files`` on top of the branch head, on ``refs/svgx/live/<branch>``
    (or ``ref``): :func:`build_checkpoint`, then :func:`point_checkpoint`. ``blobs``
    (updated here) spares the blobs of files that did not change since the last call.
    """
    commit, written = build_checkpoint(document, branch, files, seq, title=title, blobs=blobs)
    point_checkpoint(document, branch, commit, ref=ref)
    if blobs is not None:
        blobs.clear()
        blobs.update(written)
    return str(commit)


def build_checkpoint(
    document: Document,
    branch: str,
    files: dict[str, bytes],
    seq: int,
    *,
    title: str = "Live checkpoint",
    blobs: Mapping[str, tuple[bytes | None, pygit2.Oid]] | None = None,
) -> tuple[pygit2.Oid, dict[str, tuple[bytes | None, pygit2.Oid]]]:
    """The commit of a checkpoint of ``files`` at ``seq``, written with its blobs and
    tree but pointed at by no ref yet; and the blobs it holds (path -> bytes, or None
    for a big file, and blob id) for the next one's ``blobs``.

    Built in memory (:func:`~svgx_sync.git.objects.build_tree` over the head's tree), so
    neither the user's index nor any user branch is touched. The parent is the branch
    head, so a checkpoint never grows a history of its own; the message carries
    :data:`SEQ_TRAILER`. SVG files of the head that ``files`` lacks were deleted live.
    A big file's blob is written with the GIL let go (:func:`write_blob`) and kept in
    the returned blobs by its id alone: it is told unchanged by its hash, not by holding
    its bytes twice. So a worker thread may build a checkpoint while the loop goes on.
    """
    repo = document.repo
    try:
        head = repo.references[f"refs/heads/{branch}"].target
        base = repo[head].peel(pygit2.Commit).tree
        changes: dict[str, pygit2.Oid | None] = {
            path: None for path in svg_entry_paths(repo, base) if path not in files
        }
        known = blobs or {}
        written: dict[str, tuple[bytes | None, pygit2.Oid]] = {}
        for path, data in files.items():
            previous = known.get(path)
            if previous is not None and previous[0] is not None and previous[0] == data:
                written[path] = previous
            else:
                oid = write_blob(repo, data, previous[1] if previous is not None else None)
                written[path] = (data if len(data) < OFF_GIL_FROM else None, oid)
            changes[path] = written[path][1]
        tree = build_tree(repo, base, changes)
        identity = system_signature()
        message = f"{title} of {branch}\n\n{SEQ_TRAILER}: {seq}\n"
        commit = repo.create_commit(None, identity, identity, message, tree, [head])
    except (pygit2.GitError, KeyError, OSError) as exc:
        raise StoreError(f"cannot write the checkpoint of {document.name}@{branch}: {exc}") from exc
    return commit, written


def point_checkpoint(
    document: Document, branch: str, commit: pygit2.Oid, *, ref: str | None = None
) -> None:
    """Point ``refs/svgx/live/<branch>`` (or ``ref``) at a built checkpoint."""
    try:
        _point(document.repo, ref or CHECKPOINT_REF_PREFIX + branch, commit)
    except (pygit2.GitError, OSError) as exc:
        raise StoreError(f"cannot write the checkpoint of {document.name}@{branch}: {exc}") from exc


def _point(repo: pygit2.Repository, name: str, target: pygit2.Oid) -> None:
    """Point our private ref ``name`` at ``target``. A loose ref file damaged outside
    (libgit2 will not replace what it cannot read) is ours to remove first."""
    try:
        repo.references.create(name, target, force=True)
    except pygit2.GitError:
        if not name.startswith(f"refs/{PRIVATE_REF_NAMESPACE}/"):
            raise
        loose = Path(repo.path, *name.split("/"))
        try:
            pygit2.Oid(hex=loose.read_text(encoding="ascii").strip())
        except (OSError, ValueError, TypeError):  # not an object id: garbage
            loose.unlink(missing_ok=True)
            repo.references.create(name, target, force=True)
        else:
            raise


def read_checkpoint(repo: pygit2.Repository, branch: str) -> tuple[pygit2.Commit | None, str]:
    """The live checkpoint commit of ``branch`` (None: there is none, or it cannot be
    read) and, when it exists but cannot be read, what is wrong with it.

    A ref damaged outside (garbage in its file, an object gone after a careless gc or a
    copy) must not keep the session from loading: the caller starts from the branch
    head instead, and says so.
    """
    name = CHECKPOINT_REF_PREFIX + branch
    try:
        ref = repo.references.get(name)
        if ref is None:
            return None, ""
        commit = repo[ref.target].peel(pygit2.Commit)
        checkpoint_seq(commit.message)
    except (pygit2.GitError, KeyError, ValueError, TypeError, StoreError) as exc:
        return None, f"the live checkpoint {name} cannot be read ({exc})"
    return commit, ""


def checkpoint_seq(message: str) -> int:
    """The ``seq`` a checkpoint's message records (:data:`SEQ_TRAILER`)."""
    for line in reversed(message.strip().splitlines()):
        key, _, value = line.partition(":")
        if key.strip() == SEQ_TRAILER:
            return int(value.strip())
    raise StoreError(f"a live checkpoint without {SEQ_TRAILER}")
