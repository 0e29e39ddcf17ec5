"""The ``svgx-sync`` command as a new user meets it, run as a child process.

Every command's help works; every mistake a user can make at first contact gets one
line naming what is wrong and a non-zero exit, never a traceback, and creates nothing;
``version`` makes a version of the live state through a running daemon so that the
working tree is clean for git.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.sync.client import connect

from svgx_sync.cli import build_parser, main
from svgx_sync.git.store import Store

Git = Callable[..., str]
TIMEOUT = 20.0


def svgx(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``svgx-sync ARGS`` in a child process, as typed in a terminal in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "svgx_sync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith("SVGX_SYNC_")},
    )


def subcommands() -> list[str]:
    """The parser's own list of commands, so that a new command is covered too."""
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error a user sees: one line on stderr (after the usage, for a usage error),
    no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    if done.returncode == 2:
        assert lines[0].startswith("usage: svgx-sync "), done.stderr
        lines = [line for line in lines if not line.startswith(" ")][1:]
    assert len(lines) == 1, done.stderr
    return lines[0]


# -- help ----------------------------------------------------------------------------


def test_the_program_help_lists_every_command(tmp_path: Path) -> None:
    done = svgx(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    for name in subcommands():
        assert name in done.stdout
    assert "%O %A %B" in done.stdout  # the merge driver's arguments, as git is told them


@pytest.mark.parametrize("command", subcommands())
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: svgx-sync {command}") and len(out.splitlines()) > 2


# -- first-contact mistakes ------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A terminal's folder: a document ``doc``, a plain folder and a text file."""
    Store(tmp_path).create("doc")
    (tmp_path / "plain").mkdir()
    (tmp_path / "notes.txt").write_text("not a drawing\n")
    return tmp_path


MISTAKES = [
    # (arguments, exit code, words the one-line error contains)
    (["resolve", "nofile.svg", "--all", "--ours"], 3, "nofile.svg: No such file"),
    (["resolve", "doc", "--all", "--ours"], 4, "doc: Is a directory"),
    (["resolve", "notes.txt", "--all", "--ours"], 4, "notes.txt: not well-formed"),
    (["resolve", "doc/document.svg", "--all", "--ours"], 3, "no conflicts are marked"),
    (["conflicts", "nofile.svg"], 3, "nofile.svg: No such file"),
    (["history", "nodir"], 3, "nodir: no such folder"),
    (["history", "nodir/sub"], 3, "sub: no such folder"),
    (["history", "plain"], 3, "plain is not a document"),
    (["history", "notes.txt"], 3, "is not a document"),
    (["history", "doc", "--limit", "-1"], 2, "--limit: -1 is not a positive whole number"),
    (["history", "doc", "--limit", "0"], 2, "--limit: 0 is not a positive whole number"),
    (["history", "doc", "--branch", "nob"], 3, "no branch named 'nob'"),
    (["serve", "--port", "70000"], 2, "--port: 70000 is not a port"),
    (["git-diff", "document.svg", "nofile.svg"], 3, "nofile.svg: No such file"),
    (["init", "notes.txt/drawing"], 5, "notes.txt"),
    (["git-setup", "plain"], 3, "plain is not inside a git repository"),
    (["token", "create", "--role", "viewer"], 4, "--config FILE or SVGX_SYNC_CONFIG"),
    (["token", "create", "--role", "owner", "--config", "t.toml"], 2, "invalid choice: 'owner'"),
    (["token", "create", "--role", "viewer", "--ttl", "7x", "--config", "t.toml"], 2, "7x is not"),
    (["token", "create", "--role", "viewer", "--config", "notes.txt"], 4, "is not valid TOML"),
]


@pytest.mark.parametrize(
    ("args", "code", "words"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES]
)
def test_a_mistake_gets_one_line_and_a_non_zero_exit(
    workspace: Path, git: Git, args: list[str], code: int, words: str
) -> None:
    before = sorted(p.relative_to(workspace) for p in workspace.rglob("*") if ".git" not in p.parts)
    status = git(workspace / "doc", "status", "--porcelain")
    done = svgx(workspace, *args)
    assert done.returncode == code, done.stderr
    assert words in one_line_error(done)
    after = sorted(p.relative_to(workspace) for p in workspace.rglob("*") if ".git" not in p.parts)
    assert after == before  # nothing created
    assert git(workspace / "doc", "status", "--porcelain") == status  # nothing staged


def test_conflicts_in_a_folder_lists_its_files(workspace: Path) -> None:
    done = svgx(workspace, "conflicts", "doc")
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_history_of_a_file_is_its_documents(workspace: Path) -> None:
    done = svgx(workspace, "history", "doc/document.svg", "--limit", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("Create document")


def test_status_without_a_daemon_says_so(tmp_path: Path) -> None:
    port = free_port()
    done = svgx(tmp_path, "status", "--port", str(port))
    assert done.returncode == 6
    line = one_line_error(done)
    assert f"no daemon answers at 127.0.0.1:{port}" in line and "svgx-sync serve" in line


def test_status_of_something_else_on_the_port_says_so(tmp_path: Path) -> None:
    import http.server

    class NotUs(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a web page</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotUs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = svgx(tmp_path, "status", "--port", str(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 6
    assert "is not an svgx-sync daemon" in one_line_error(done)


def test_serve_on_a_busy_port_says_so_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = svgx(tmp_path, "serve", "--port", str(port), timeout=TIMEOUT)
    assert done.returncode == 7
    assert f"port {port} is in use" in one_line_error(done)
    assert list(tmp_path.iterdir()) == []


def test_serve_beyond_loopback_without_tokens_is_refused(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is nobody's address: nothing can listen there at all.
    done = svgx(tmp_path, "serve", "--host", "192.0.2.1", "--port", "0", timeout=TIMEOUT)
    assert done.returncode == 7
    line = one_line_error(done)
    assert "loopback only" in line and "svgx-sync token create" in line
    assert list(tmp_path.iterdir()) == []


def test_serve_with_a_certificate_speaks_wss(tmp_path: Path) -> None:
    import ssl

    from test_access_live import self_signed

    certfile, keyfile = self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(certfile))
    tls = ("--certfile", str(certfile), "--keyfile", str(keyfile))
    with daemon_process(tmp_path / "docs", tmp_path / "daemon.log", *tls, scheme="wss") as port:
        with connect(f"wss://127.0.0.1:{port}", ssl=trusted, compression=None) as ws:
            ws.send(json.dumps({"type": "join", "user_id": "ada", "session_id": "plan"}))
            assert receive(ws, "welcome")["document"] == "plan"
        at = ("--port", str(port))
        assert svgx(tmp_path, "status", *at).returncode == 6  # plain http finds no daemon
        shown = svgx(tmp_path, "status", *at, "--cafile", str(certfile))
        assert shown.returncode == 0 and "documents: plan" in shown.stdout
        done = svgx(tmp_path, "version", "plan", "-m", "Over TLS", *at, "--cafile", str(certfile))
        assert done.returncode == 0, done.stderr
        untrusted = svgx(tmp_path, "status", *at, "--tls")  # not signed by a system CA
        assert untrusted.returncode == 6 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_status_and_version_bring_the_token(tmp_path: Path, git: Git) -> None:
    root, config = tmp_path / "docs", tmp_path / "svgx.toml"
    Store(root).create("plan")
    made = svgx(tmp_path, "token", "create", "--role", "editor", "--user", "ada",
                "--config", str(config))  # fmt: skip
    token = made.stdout.split()[0]
    with daemon_process(root, tmp_path / "daemon.log", "--config", str(config)) as port:
        at = ("--port", str(port))
        refused = svgx(tmp_path, "status", *at)
        assert refused.returncode == 4
        assert "only with a token" in one_line_error(refused)
        wrong = svgx(tmp_path, "status", *at, "--token", token[:-2])
        assert wrong.returncode == 4 and "refused" in one_line_error(wrong)
        shown = svgx(tmp_path, "status", *at, "--token", token)
        assert shown.returncode == 0 and "documents: plan" in shown.stdout
        done = svgx(tmp_path, "version", "plan", "-m", "By a token", *at, "--token", token)
        assert done.returncode == 0, done.stderr
    assert git(root / "plan", "log", "-1", "--format=%an: %s") == "ada: By a token\n"


# -- token: made once, kept as a hash ---------------------------------------------------


def test_token_create_prints_the_secret_once_and_keeps_its_hash(tmp_path: Path) -> None:
    from svgx_sync.auth import Authenticator
    from svgx_sync.config import load_settings

    config = tmp_path / "svgx-sync.toml"
    done = svgx(tmp_path, "token", "create", "--role", "viewer", "--doc", "plans-*",
                "--ttl", "7d", "--user", "ada", "--config", str(config))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (token,) = done.stdout.splitlines()  # no signing key: no signed variant
    assert token.startswith("svgx_") and token not in config.read_text()
    assert "viewer, documents plans-*" in done.stderr and str(config) in done.stderr
    settings = load_settings({}, {}, config)
    principal = Authenticator(settings).principal(token, time.time())
    assert (principal.user_id, principal.role.value, principal.documents) == (
        "ada", "viewer", ("plans-*",)
    )  # fmt: skip
    assert principal.expires is not None
    assert 7 * 86400 - 60 < principal.expires - time.time() <= 7 * 86400


def test_token_create_adds_a_signed_variant_when_a_key_is_configured(tmp_path: Path) -> None:
    import jwt

    config = tmp_path / "svgx.toml"
    secret = "x" * 40
    config.write_text(f'[serve]\njwt_secret = "{secret}"\n')
    done = svgx(tmp_path, "token", "create", "--role", "editor", "--ttl", "12h",
                "--doc", "plans/*", "--config", str(config))  # fmt: skip
    assert done.returncode == 0, done.stderr
    token, signed = done.stdout.splitlines()
    assert token.startswith("svgx_")
    claims = jwt.decode(signed, secret, algorithms=["HS256"])
    assert claims["role"] == "editor" and claims["documents"] == ["plans/*"]
    assert (
        claims["sub"] == "editor-" + token.split("_")[1]
        and abs(claims["exp"] - time.time() - 43200) < 60
    )
    assert "matches none" in done.stderr  # document names have no '/'
    assert config.read_text().startswith(f'[serve]\njwt_secret = "{secret}"\n')
    assert "[[serve.tokens]]" in config.read_text()


# -- version: the live state as a version, through the running daemon ------------------


@contextmanager
def daemon_process(root: Path, log: Path, *extra: str, scheme: str = "ws") -> Iterator[int]:
    """``svgx-sync serve ROOT --port 0 EXTRA...`` in a child process; yields its port."""
    with open(log, "ab") as stderr:  # the child has its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        try:
            line = lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"the daemon did not start: {log.read_text()}") from None
        assert f"listening on {scheme}://" in line, line + log.read_text()
        yield int(line.split("://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)
        reader.join(TIMEOUT)  # it reads to the end of the output the daemon left
        proc.stdout.close()


def receive(ws, kind: str) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + TIMEOUT
    while True:
        message = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        if message["type"] == kind:
            return message
        assert message["type"] != "error", message


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_version_makes_the_tree_clean_for_git(tmp_path: Path, git: Git) -> None:
    root = tmp_path / "docs"
    folder, file = root / "plan", root / "plan" / "document.svg"
    assert svgx(tmp_path, "init", str(folder)).returncode == 0
    git(folder, "switch", "-q", "-c", "other")
    file.write_text(file.read_text().replace("</svg>", "<!-- other -->\n</svg>"))
    git(folder, "commit", "-q", "-am", "Other")
    git(folder, "switch", "-q", "main")
    with daemon_process(root, tmp_path / "daemon.log") as port:
        with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            ws.send(json.dumps({"type": "join", "user_id": "ada", "session_id": "plan"}))
            receive(ws, "welcome")
            ws.send(
                json.dumps(
                    {
                        "type": "operation",
                        "operation_type": "create",
                        "user_id": "ada",
                        "element_id": "door",
                        "data": {"type": "rectangle"},
                        "op_id": "o1",
                    }
                )
            )
            assert receive(ws, "ack")["status"] == "applied"
            wait_for(lambda: b'id="door"' in file.read_bytes(), "the live edit in the file")
            assert git(folder, "status", "--porcelain") == " M document.svg\n"
            refused = subprocess.run(
                ["git", "switch", "other"], cwd=folder, capture_output=True, text=True, check=False
            )
            assert refused.returncode != 0 and "would be overwritten" in refused.stderr

            done = svgx(
                tmp_path, "version", "plan", "-m", "Door from the terminal", "--port", str(port)
            )
            assert done.returncode == 0, done.stderr
            version_id = done.stdout.strip()
            assert len(version_id) == 40 and done.stderr == ""
            notice = receive(ws, "version_created")
            assert notice["version_id"] == version_id
            assert notice["description"] == "Door from the terminal"

            assert git(folder, "log", "-1", "--format=%H %s").strip() == (
                f"{version_id} Door from the terminal"
            )
            assert 'id="door"' in git(folder, "show", "HEAD:document.svg")
            assert git(folder, "status", "--porcelain") == ""
            git(folder, "switch", "-q", "-c", "x")

            # The document as a path, and a branch of it that is not checked out.
            again = svgx(
                tmp_path,
                "version",
                str(folder),
                "--branch",
                "main",
                "-m",
                "Again",
                "--port",
                str(port),
            )
            assert again.returncode == 0, again.stderr
            assert git(folder, "log", "-1", "--format=%s", "main").strip() == "Again"

        for args, code, words in [
            (["nodoc"], 3, "no document 'nodoc'"),
            (["plan", "--branch", "nob"], 3, "has no branch 'nob'"),
            ([str(tmp_path)], 3, "is not served by the daemon"),
        ]:
            wrong = svgx(tmp_path, "version", *args, "-m", "x", "--port", str(port))
            assert wrong.returncode == code, wrong.stderr
            assert words in one_line_error(wrong)
        assert not (root / "nodoc").exists()
    stopped = svgx(tmp_path, "version", "plan", "-m", "x", "--port", str(port))
    assert stopped.returncode == 6
    assert f"no daemon answers at 127.0.0.1:{port}" in one_line_error(stopped)


def test_a_reader_that_leaves_early_gets_no_error(tmp_path: Path) -> None:
    """``svgx-sync history DOC | head -1``: git's quiet exit, not a broken-pipe report."""
    import pygit2

    doc = Store(tmp_path).create("doc")
    repo, signature = doc.repo, pygit2.Signature("A", "a@example.com")
    tip, tree = repo.head.target, repo.head.peel(pygit2.Commit).tree_id
    for n in range(3000):  # twice what a pipe and a stdout buffer hold
        tip = repo.create_commit(None, signature, signature, f"v{n}", tree, [tip])
    repo.references["refs/heads/main"].set_target(tip)
    with subprocess.Popen(
        [sys.executable, "-m", "svgx_sync", "history", str(doc.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        assert "v2999" in reader.stdout.readline()
        reader.stdout.close()
        assert reader.wait(TIMEOUT) == 141
        assert reader.stderr.read() == ""


def diverged_document(tmp_path: Path, git: Git) -> Path:
    """``docs/plan``, made with ``init``: ``main`` (fill green) and ``other`` (fill blue)
    both changed the fill of one rect; ``main`` is checked out. Returns its folder."""
    folder, file = tmp_path / "docs" / "plan", tmp_path / "docs" / "plan" / "document.svg"
    assert svgx(tmp_path, "init", str(folder)).returncode == 0
    file.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg">\n  <rect id="r" fill="red"/>\n</svg>\n'
    )
    git(folder, "commit", "-q", "-am", "Red")
    git(folder, "switch", "-q", "-c", "other")
    file.write_text(file.read_text().replace("red", "blue"))
    git(folder, "commit", "-q", "-am", "Blue")
    git(folder, "switch", "-q", "main")
    file.write_text(file.read_text().replace("red", "green"))
    git(folder, "commit", "-q", "-am", "Green")
    return folder


def test_version_waits_for_a_git_merge_that_stopped_on_a_conflict(tmp_path: Path, git: Git) -> None:
    """A version made in the middle of ``git merge`` would clear git's conflict from
    the index and commit beside the merge: it is refused until the merge is concluded."""
    root = tmp_path / "docs"
    folder = diverged_document(tmp_path, git)
    with daemon_process(root, tmp_path / "daemon.log") as port:
        with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            ws.send(json.dumps({"type": "join", "user_id": "ada", "session_id": "plan"}))
            receive(ws, "welcome")
            stopped = subprocess.run(
                ["git", "merge", "other"], cwd=folder, capture_output=True, text=True, check=False
            )
            assert stopped.returncode != 0 and "CONFLICT" in stopped.stdout
            head = git(folder, "rev-parse", "HEAD")

            refused = svgx(tmp_path, "version", "plan", "-m", "Mid-merge", "--port", str(port))
            assert refused.returncode == 4, refused.stderr
            assert "git merge in progress" in one_line_error(refused)
            assert git(folder, "rev-parse", "HEAD") == head
            assert git(folder, "status", "--porcelain") == "UU document.svg\n"

            settled = svgx(folder, "resolve", "document.svg", "--all", "--theirs")
            assert settled.returncode == 0, settled.stderr
            git(folder, "commit", "-q", "-m", "Merged")
            assert len(git(folder, "log", "-1", "--format=%P").split()) == 2
            done = svgx(tmp_path, "version", "plan", "-m", "After the merge", "--port", str(port))
            assert done.returncode == 0, done.stderr
            assert git(folder, "status", "--porcelain") == ""
            assert 'fill="blue"' in git(folder, "show", "HEAD:document.svg")  # the merge's
