"""Which names svgx_sync accepts for documents, files, branches and tags.

Every name that reaches the file system or git from outside (a client, the CLI) passes
through one of these functions first. They guarantee:

- a document name is a single, harmless path segment, so ``root / name`` never leaves
  the store and never lands on ``.git`` or a device name on Windows;
- a file name is a relative POSIX path that stays inside the document, ends ``.svg`` and
  never touches git's own files (``.git``, ``.gitattributes``, ... in any letter case,
  since case-insensitive file systems treat ``.GIT`` as ``.git``);
- a branch or tag name is one git itself accepts, cannot be mistaken for a command-line
  option, is not in the namespace the daemon keeps for itself, and names one ref only:
  not a full or partial ref path (``refs/heads/x``, ``heads/x``), not one of git's
  pseudo-refs (``HEAD``, ``FETCH_HEAD``, ``ORIG_HEAD`` ...) or ``@``, and without
  invisible or direction-changing characters (Unicode control, format and separator
  characters), so the name a person reads is the name git stores.

Each function returns the name unchanged when it is accepted and raises
:class:`~svgx_sync.errors.InvalidName` saying what is wrong otherwise. Nothing here
touches the disk or a repository.
"""

from __future__ import annotations

import re
import unicodedata

import pygit2

from svgx_sync.errors import InvalidName
from svgx_sync.git.layout import PRIVATE_REF_NAMESPACE

__all__ = [
    "MAX_DOCUMENT_NAME",
    "MAX_FILE_NAME",
    "validate_branch_name",
    "validate_document_name",
    "validate_file_name",
    "validate_tag_name",
]

MAX_DOCUMENT_NAME = 100
MAX_FILE_NAME = 1024

# Letters (any script), digits, and ._- ; \w also admits "_" and digits of every script.
_DOCUMENT_CHARS = re.compile(r"[\w.\-]+")

# Device names Windows resolves anywhere in a path, with or without an extension.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


# What git's revision lookup tries before refs/heads/<name> (gitrevisions(7)): a name
# starting like this would name another ref, or read as one to a person.
_REF_PATH_PREFIXES = ("refs/", "heads/", "tags/", "remotes/")
# HEAD, FETCH_HEAD, ORIG_HEAD, MERGE_HEAD, CHERRY_PICK_HEAD, ...: git's pseudo-refs, in any
# letter case (a case-insensitive file system makes "fetch_head" the same file).
_PSEUDO_REF = re.compile(r"[A-Z_]*HEAD", re.IGNORECASE)
# Control (Cc), format (Cf: bidi overrides and isolates, zero-width characters) and
# separator (Z*: spaces other than ASCII's, line and paragraph separators) characters.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")


def _refuse(kind: str, name: object, why: str) -> InvalidName:
    return InvalidName(f"invalid {kind} name {name!r}: {why}")


def _check_common(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise _refuse(kind, name, "must be a string")
    if not name:
        raise _refuse(kind, name, "must not be empty")
    if "\x00" in name:
        raise _refuse(kind, name, "must not contain a NUL character")
    if "\\" in name:
        raise _refuse(kind, name, "must not contain a backslash")
    return name


def validate_document_name(name: str) -> str:
    """Return ``name`` if it may name a document folder, else raise InvalidName.

    A document name becomes one folder under the store root, so it must be a single
    path segment that cannot climb out of the root or hide as a dot-folder.
    """
    _check_common("document", name)
    if "/" in name:
        raise _refuse("document", name, "must be a single folder name without '/'")
    if len(name) > MAX_DOCUMENT_NAME:
        raise _refuse("document", name, f"longer than {MAX_DOCUMENT_NAME} characters")
    if name.startswith("."):
        raise _refuse("document", name, "must not start with '.'")
    if ".." in name:
        raise _refuse("document", name, "must not contain '..'")
    if not _DOCUMENT_CHARS.fullmatch(name):
        raise _refuse("document", name, "only letters, digits, '.', '_' and '-' are allowed")
    if name.endswith("."):
        # Windows silently drops a trailing dot, so "a." and "a" would be the same folder.
        raise _refuse("document", name, "must not end with '.'")
    if name.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        raise _refuse("document", name, "is a reserved device name on Windows")
    return name


def validate_file_name(name: str) -> str:
    """Return ``name`` if it may name an SVG file inside a document, else raise InvalidName.

    The name is a relative POSIX path (``icons/logo.svg``). It is joined to the
    document's working tree and written into git trees, so it must stay inside the
    document and must not reach any of git's own files.
    """
    _check_common("file", name)
    if len(name) > MAX_FILE_NAME:
        raise _refuse("file", name, f"longer than {MAX_FILE_NAME} characters")
    if name.startswith("/"):
        raise _refuse("file", name, "must be a relative path")
    if not name.endswith(".svg"):
        raise _refuse("file", name, "must end with '.svg'")
    for part in name.split("/"):
        if not part:
            raise _refuse("file", name, "must not contain empty path components")
        if part in (".", ".."):
            raise _refuse("file", name, f"must not contain a '{part}' component")
        if part.lower().startswith(".git"):
            raise _refuse("file", name, "must not touch git's own files ('.git...')")
        if part.endswith((".", " ")):
            # Windows strips trailing dots and spaces, aliasing two names to one file.
            raise _refuse("file", name, "path components must not end with '.' or ' '")
    return name


def _validate_ref_name(kind: str, prefix: str, name: str) -> str:
    _check_common(kind, name)
    if name.startswith("-"):
        raise _refuse(kind, name, "must not start with '-'")
    if name == "HEAD":
        raise _refuse(kind, name, "'HEAD' is reserved by git")
    if _PSEUDO_REF.fullmatch(name) or name == "@":
        raise _refuse(kind, name, "is one of git's own names for a commit (HEAD, FETCH_HEAD, @)")
    if name.startswith(_REF_PATH_PREFIXES):
        raise _refuse(
            kind, name, "looks like a ref path; give the short name ('x', not 'refs/heads/x')"
        )
    # git's own rules (git-check-ref-format): no "..", "@{", ".lock" suffix, control
    # characters, spaces, "~^:?*[", leading or trailing "/" or ".", ...
    if not pygit2.reference_is_valid_name(prefix + name):
        raise _refuse(kind, name, "git does not accept it as a ref name")
    hidden = next((c for c in name if unicodedata.category(c) in _HIDDEN_CATEGORIES), None)
    if hidden is not None:
        raise _refuse(
            kind, name, f"contains the invisible or control character U+{ord(hidden):04X}"
        )
    if name == PRIVATE_REF_NAMESPACE or name.startswith(PRIVATE_REF_NAMESPACE + "/"):
        raise _refuse(kind, name, f"'{PRIVATE_REF_NAMESPACE}/' is reserved for svgx_sync")
    return name


def validate_branch_name(name: str) -> str:
    """Return ``name`` if git accepts ``refs/heads/<name>`` and it is ours to use."""
    return _validate_ref_name("branch", "refs/heads/", name)


def validate_tag_name(name: str) -> str:
    """Return ``name`` if git accepts ``refs/tags/<name>`` and it is ours to use."""
    return _validate_ref_name("tag", "refs/tags/", name)
