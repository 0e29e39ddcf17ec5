"""The ``svgx-sync`` command.

Each subcommand is a pair of functions, one declaring its arguments and one running it,
listed once in :data:`COMMANDS`. A run function only parses what the user typed, calls
the library and prints the result; it decides nothing. It imports what it calls, when it
runs: git starts ``merge-driver`` once per merged file, which must not pay for the
daemon. Errors are turned into exit codes here, and only here, from the table below.

Exit codes::

    0   success
    1   unexpected failure (a bug): the traceback is logged
    2   usage error (argparse)
    3   not found: no such document, version, branch or tag
    4   refused input: invalid name, name taken, uncommitted changes, ...
    5   store failure: git or the file system failed
    6   no daemon answers (status, version)
    7   the daemon cannot listen: the port is in use, the address is not this machine's
    130 interrupted (Ctrl-C)
    141 the output's reader left early (``| head``): nothing more is printed

Two commands speak git's language instead: ``merge-driver`` exits 0 (clean), 1 (conflicts
marked in the file, as elements or, for input it cannot read, as git's line merge marks
them) or 130 (not even git's line merge could merge it: file left as ours), as git's
merge driver contract says; ``conflicts`` exits 1 when it found a blocking conflict mark
(flags alone exit 0), like ``git diff --exit-code``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svgx_sync.errors import (
    ClientError,
    ListenError,
    NotFound,
    OperationError,
    ServerError,
    SvgxError,
    Unreachable,
)

if TYPE_CHECKING:
    import ssl

    from svgx_sync.git.store import Document

__all__ = ["COMMANDS", "EXIT_CODES", "main"]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_REFUSED = 4
EXIT_STORE = 5
EXIT_UNREACHABLE = 6
EXIT_CANNOT_LISTEN = 7
EXIT_INTERRUPTED = 128 + 2  # SIGINT (Ctrl-C), as a shell reports a command killed by it
EXIT_READER_LEFT = 128 + 13  # SIGPIPE, likewise

#: Most specific class first; the first match gives the exit code. A file the user
#: named that cannot be read is their mistake, told in one line like any other.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, EXIT_NOT_FOUND),
    (ClientError, EXIT_REFUSED),
    (Unreachable, EXIT_UNREACHABLE),
    (ListenError, EXIT_CANNOT_LISTEN),
    (ServerError, EXIT_STORE),
    (FileNotFoundError, EXIT_NOT_FOUND),
    (IsADirectoryError, EXIT_REFUSED),
    (NotADirectoryError, EXIT_REFUSED),
    (PermissionError, EXIT_REFUSED),
    (OSError, EXIT_STORE),
)


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how to declare its arguments, how to run it."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _open_document(path: Path) -> Document:
    """A document given as its folder, or as a file in it; nothing is created."""
    from svgx_sync.git.store import Store

    path = path.expanduser().absolute()
    if not path.exists():
        raise NotFound(f"{path}: no such folder")
    folder = path
    if not path.is_dir():
        folder = next((p for p in path.parents if (p / ".git").exists()), path)
    if not (folder / ".git").exists():
        raise NotFound(f"{path} is not a document (no git repository); `svgx-sync init` makes one")
    return Store(folder.parent).open(folder.name)


def _positive(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port number (0 asks for a free one)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0 to 65535)")
    return value


def _daemon_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="daemon address (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8765, help="daemon port (default 8765)")
    parser.add_argument(
        "--token",
        default=os.environ.get("SVGX_SYNC_TOKEN"),
        help="token, when the daemon has tokens configured (default: $SVGX_SYNC_TOKEN)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="the daemon serves TLS (https, wss); trust the system's CAs",
    )
    parser.add_argument(
        "--cafile", type=Path, help="the daemon serves TLS with a certificate this CA file signs"
    )


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client's TLS context from ``--tls`` / ``--cafile`` (None: plain http, ws)."""
    import ssl

    if args.cafile is not None:
        try:
            return ssl.create_default_context(cafile=str(args.cafile))
        except ssl.SSLError as exc:
            raise ClientError(f"{args.cafile} holds no CA certificate: {exc}") from exc
    return ssl.create_default_context() if args.tls else None


# ---------------------------------------------------------------------- init


def _init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="ROOT/NAME", help="folder of the new document")


def _init_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.store import Store

    path: Path = args.path.expanduser().absolute()
    if _is_plain_folder_with_files(path):
        from svgx_sync.git.adopt import adopt_folder

        document = adopt_folder(path)
    else:
        document = Store(path.parent).create(path.name)
    print(document.path)
    return EXIT_OK


def _is_plain_folder_with_files(path: Path) -> bool:
    """A folder of drawings that is not a repository yet: ``init`` adopts it in place."""
    return path.is_dir() and not (path / ".git").exists() and any(path.iterdir())


# ---------------------------------------------------------------------- history


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", type=Path, metavar="PATH", help="folder of the document, or a file in it"
    )
    parser.add_argument("--branch", help="branch to show (default: the checked-out one)")
    parser.add_argument("--limit", type=_positive, help="show at most this many versions")


def _history_run(args: argparse.Namespace) -> int:
    document = _open_document(args.path)
    for version in document.history(branch=args.branch, limit=args.limit):
        when = datetime.fromtimestamp(version.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
        subject = version.description.splitlines()[0] if version.description else ""
        print(f"{version.version_id[:12]}  {when}  {version.author_name}  {subject}")
    return EXIT_OK


# ---------------------------------------------------------------------- git integration


def _git_setup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo", nargs="?", type=Path, default=Path("."), metavar="REPO")


def _git_setup_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.drivers import setup_repository

    setup_repository(args.repo)
    return EXIT_OK


def _merge_driver_arguments(parser: argparse.ArgumentParser) -> None:
    for name in ("base", "ours", "theirs", "marker_size", "path"):
        parser.add_argument(name)


def _merge_driver_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.drivers import merge_driver

    return merge_driver(args.base, args.ours, args.theirs, args.marker_size, args.path)


def _git_diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path")
    parser.add_argument("old_file")
    parser.add_argument("old_hex", nargs="?")
    parser.add_argument("old_mode", nargs="?")
    parser.add_argument("new_file", nargs="?", default="/dev/null")
    parser.add_argument("new_hex", nargs="?")
    parser.add_argument("new_mode", nargs="?")


def _git_diff_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.drivers import diff_text

    sys.stdout.write(diff_text(args.path, args.old_file, args.new_file))
    return EXIT_OK


def _conflicts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="SVG files, or folders to look through (default: the current folder)",
    )


def _conflicts_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.drivers import describe, file_conflicts, named_svg_files

    found = file_conflicts(named_svg_files(args.files or [Path(".")]))
    for file, conflict in found:
        print(f"{file}: {describe(conflict)}")
    return 1 if any(c.blocking for _, c in found) else EXIT_OK


def _resolve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("conflict_id", nargs="?", metavar="CONFLICT_ID")
    parser.add_argument("--all", action="store_true", help="every conflict in the file")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--ours", dest="choice", action="store_const", const="ours")
    choice.add_argument("--theirs", dest="choice", action="store_const", const="theirs")
    choice.add_argument("--base", dest="choice", action="store_const", const="base")
    choice.add_argument("--value", metavar="V", help="a value of one's own")


def _resolve_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.drivers import describe, resolve_file

    if args.all == (args.conflict_id is not None):
        raise OperationError("give either a CONFLICT_ID or --all")
    choice = args.choice or f"value:{args.value}"
    remaining = resolve_file(args.file, None if args.all else args.conflict_id, choice)
    for conflict in remaining:
        print(f"{args.file}: {describe(conflict)}")
    if not remaining:
        print(f"{args.file}: resolved and staged")
    return EXIT_OK


# ---------------------------------------------------------------------- unlock


def _unlock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", type=Path, metavar="DOC", help="folder of the document, or a file in it"
    )
    parser.add_argument(
        "--older-than",
        type=_positive,
        default=60,
        metavar="SECONDS",
        help="remove only locks at least this old (default 60)",
    )


def _unlock_run(args: argparse.Namespace) -> int:
    from svgx_sync.git.locks import remove_stale_lock

    document = _open_document(args.path)
    removed = remove_stale_lock(document.repo.path, document.path, older_than=args.older_than)
    for path in removed:
        print(f"removed {path}")
    return EXIT_OK


# ---------------------------------------------------------------------- serve


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "root", nargs="?", type=Path, help="folder of the documents (default ./svgx-documents)"
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--batch-size", type=int, help="operations per frame (default 10)")
    parser.add_argument("--batch-timeout-ms", type=float, help="presence tick (default 16)")
    parser.add_argument("--max-connections", type=int, help="default 1000")
    parser.add_argument("--activity-timeout-s", type=float, help="away after (default 300)")
    parser.add_argument("--max-message-bytes", type=int, help="default 1 MiB")
    parser.add_argument("--default-strategy", help="conflict strategy (default automatic)")
    parser.add_argument(
        "--no-create",
        dest="create_missing_documents",
        action="store_const",
        const=False,
        help="refuse joins to documents that do not exist",
    )
    parser.add_argument(
        "--compression", action="store_const", const=True, help="permessage-deflate on"
    )
    parser.add_argument(
        "--certfile", type=Path, help="serve wss:// with this PEM certificate (chain)"
    )
    parser.add_argument("--keyfile", type=Path, help="its PEM private key (default: in certfile)")


def _serve_run(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from svgx_sync.config import load_settings
    from svgx_sync.daemon.server import serve_forever

    names = (
        "root",
        "host",
        "port",
        "batch_size",
        "batch_timeout_ms",
        "max_connections",
        "activity_timeout_s",
        "max_message_bytes",
        "default_strategy",
        "create_missing_documents",
        "compression",
        "certfile",
        "keyfile",
    )
    settings = load_settings({n: getattr(args, n) for n in names}, os.environ, args.config)
    logging.getLogger("svgx_sync").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    asyncio.run(serve_forever(settings, announce=lambda line: print(line, flush=True)))
    return EXIT_OK


# ---------------------------------------------------------------------- status


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    _daemon_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the /healthz JSON as is")


def format_status(health: dict[str, Any]) -> str:
    """A daemon's health as text: the documents, each live session and its users."""
    lines = [
        f"svgx-sync {health.get('version', '?')} on port {health.get('port')}:"
        f" {health.get('status')}, {health.get('connections', 0)} connection(s),"
        f" {health.get('total_operations', 0)} operation(s)",
        f"root: {health.get('root')}",
        f"documents: {', '.join(health.get('documents') or []) or '(none)'}",
    ]
    sessions = health.get("sessions") or []
    lines.append(f"live sessions: {len(sessions) or '(none)'}")
    for session in sessions:
        lines.append(
            f"  {session['session_id']}: seq {session['seq']}, {session['clients']} client(s),"
            f" {session['open_conflicts']} open conflict(s)"
        )
        for user in session["users"]:
            lines.append(f"    {user['user_id']} ({user['username']}): {user['status']}")
    return "\n".join(lines)


def _status_run(args: argparse.Namespace) -> int:
    import json

    from svgx_sync.client import fetch_health

    health = fetch_health(args.host, args.port, token=args.token, tls=_tls(args))
    print(json.dumps(health, indent=2) if args.json else format_status(health))
    return EXIT_OK


# ---------------------------------------------------------------------- version


def _version_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "document", metavar="DOC", help="document name, or the path of its folder or a file in it"
    )
    parser.add_argument("-m", "--message", required=True, help="what the version holds")
    parser.add_argument("--branch", help="branch (default: the checked-out one)")
    parser.add_argument(
        "--user",
        help="author of the version (default: your login name); with a token, its user",
    )
    _daemon_arguments(parser)


def _version_run(args: argparse.Namespace) -> int:
    from svgx_sync.client import create_version, fetch_health, served_document

    tls = _tls(args)
    health = fetch_health(args.host, args.port, token=args.token, tls=tls)
    name = served_document(args.document, health, cwd=Path.cwd())
    print(
        create_version(
            args.host,
            args.port,
            name,
            args.message,
            user=args.user or (None if args.token else _login_name()),
            branch=args.branch,
            token=args.token,
            tls=tls,
        )
    )
    return EXIT_OK


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER (some containers)
        return "terminal"


# ---------------------------------------------------------------------- token

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(text: str) -> timedelta:
    """argparse type: a duration such as ``90m``, ``12h``, ``7d`` or ``2w``."""
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _DURATION_UNITS or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a duration such as 30m, 12h, 7d, 2w")
    return timedelta(seconds=int(number) * _DURATION_UNITS[unit])


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="make a token; print it once and keep only its hash in the settings file",
        description="Make a token, print it once (and a signed variant when a signing key"
        " is configured), and add only the hash of its secret to the settings file.",
    )
    create.add_argument("--role", required=True, choices=["viewer", "editor", "admin"])
    create.add_argument(
        "--doc",
        dest="documents",
        action="append",
        metavar="GLOB",
        help="documents it may open, as a glob over their names (repeatable; default: all)",
    )
    create.add_argument("--ttl", type=_duration, help="valid for this long (default: no end)")
    create.add_argument("--user", help="user id it speaks for (default: ROLE-ID)")
    create.add_argument("--name", help="display name (default: the user id)")
    create.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("SVGX_SYNC_CONFIG"),
        help="the settings file the daemon reads (default: $SVGX_SYNC_CONFIG)",
    )


def _token_run(args: argparse.Namespace) -> int:
    from svgx_sync.auth import issue_token, sign_token, store_token
    from svgx_sync.config import load_settings
    from svgx_sync.core.access import Role

    if args.config is None:
        raise ClientError(
            "name the settings file the daemon reads: --config FILE or SVGX_SYNC_CONFIG"
        )
    config = Path(args.config).expanduser()
    settings = load_settings({}, os.environ, config if config.exists() else None)
    documents = tuple(args.documents or ["*"])
    for glob in documents:
        if "/" in glob:
            print(f"warning: document names have no '/'; {glob!r} matches none", file=sys.stderr)
    issued = issue_token(
        role=Role(args.role),
        documents=documents,
        user_id=args.user,
        name=args.name,
        expires=datetime.now(UTC) + args.ttl if args.ttl else None,
    )
    signed = sign_token(settings, issued.principal)
    store_token(config, issued.record)
    print(issued.token)
    if signed is not None:
        print(signed)
    record = issued.record
    until = record.expires.strftime("%Y-%m-%d %H:%M UTC") if record.expires else "no end"
    print(
        f"token {record.id} for {record.user_id} ({record.role.value},"
        f" documents {', '.join(record.documents)}, until {until}): its hash is in {config}",
        file=sys.stderr,
    )
    return EXIT_OK


# ---------------------------------------------------------------------- registry

COMMANDS: dict[str, Command] = {
    "init": Command(
        "create a new document, or adopt a folder of SVG files as one",
        _init_arguments,
        _init_run,
    ),
    "history": Command(
        "list a document's versions, newest first", _history_arguments, _history_run
    ),
    "serve": Command("run the collaboration daemon", _serve_arguments, _serve_run),
    "status": Command("show a running daemon's health", _status_arguments, _status_run),
    "version": Command(
        "make a version (a commit) of a document's live state through the running daemon,"
        " so that the working tree is clean for git",
        _version_arguments,
        _version_run,
    ),
    "token": Command(
        "make access tokens for the daemon (token create --role ROLE --doc GLOB --ttl 7d)",
        _token_arguments,
        _token_run,
    ),
    "unlock": Command(
        "remove a git lock file that a killed process left in a document's repository,"
        " once no process can be holding it",
        _unlock_arguments,
        _unlock_run,
    ),
    "git-setup": Command(
        "make git merge and diff SVG files element by element in a repository",
        _git_setup_arguments,
        _git_setup_run,
    ),
    "merge-driver": Command(
        "git's merge driver (internal: git calls it with %O %A %B %L %P)",
        _merge_driver_arguments,
        _merge_driver_run,
    ),
    "git-diff": Command(
        "git's diff command for SVG files (internal)", _git_diff_arguments, _git_diff_run
    ),
    "conflicts": Command(
        "list the merge conflicts marked in SVG files", _conflicts_arguments, _conflicts_run
    ),
    "resolve": Command(
        "settle marked merge conflicts in a file and stage it when none are left",
        _resolve_arguments,
        _resolve_run,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="svgx-sync", description="Live multi-user editing of SVG documents kept in git."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        # argparse %-formats a help line (not a description): a plain % is written %%.
        help_line = command.help.replace("%", "%%")
        command.arguments(sub.add_parser(name, help=help_line, description=command.help))
    return parser


def _one_line(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the table above)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader left (``| head``, a pager quit): nothing to tell, as with git.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_READER_LEFT
    except (SvgxError, OSError) as exc:
        print(f"svgx-sync {args.command}: {_one_line(exc)}", file=sys.stderr)
        for kind, code in EXIT_CODES:
            if isinstance(exc, kind):
                return code
        return EXIT_UNEXPECTED
    except Exception:
        log.exception("unexpected failure in %s", args.command)
        return EXIT_UNEXPECTED
