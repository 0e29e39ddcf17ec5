"""Real Chromium against a real daemon: the fixtures of the browser tests.

* ``chromium``: one Playwright browser for each test module, Debian's ``/usr/bin/chromium``
  (never a downloaded one), headless, with background networking off (the machine's
  network is closed; without these flags Chromium keeps trying to reach Google).
* ``served``: a factory; ``served()`` starts ``svgx-sync serve ROOT --port 0`` in a
  child process, waits for its ``open http://...`` line, and stops it by its PID at the
  end. ``served(documents={"plan": svg_bytes})`` first makes those documents (adopted
  by ``svgx-sync init``, so their file is the first version). ``served(tokens=True)`` configures a signing secret, so that
  ``Served.token(role, user)`` mints tokens the daemon accepts.
* ``watched``: ``watched(context, url)`` opens ``url`` in a new page of ``context`` and
  records every console error, uncaught page error and Content-Security-Policy
  violation; ``Watched.assert_clean()`` fails the test if there were any.

Chromium is required like Inkscape: absent, the tests skip with the reason, and under
``SVGX_REQUIRE_TOOLS=1`` (``.ci/run``) they fail.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from tools import require

START_DEADLINE_S = 30
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
JWT_SECRET = "svgx-test-secret-of-at-least-thirty-two-bytes"

# Every page reports CSP violations on its console, whatever else logs them.
_REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright, one for each test module.

    Not one for the session: Playwright's synchronous API keeps an event loop marked
    running in this thread while it is started, and the other tests' ``asyncio.run``
    refuses to run inside it. Browser tests talk to the daemon synchronously
    (``websockets.sync.client``) for the same reason."""
    executable = require("chromium", why="the browser tests drive Debian's Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Served:
    """A running ``svgx-sync serve``: its addresses, its documents folder, its log."""

    url: str
    """``http://127.0.0.1:PORT``, no trailing slash."""
    root: Path
    log: Path
    proc: subprocess.Popen[str]
    tokens: bool = False

    @property
    def ws(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/"

    def token(
        self, role: str, user: str, *, name: str | None = None, documents: tuple[str, ...] = ("*",)
    ) -> str:
        """A signed token for ``user`` in ``role``; only for ``served(tokens=True)``."""
        assert self.tokens, "start the daemon with served(tokens=True) to use tokens"
        claims: dict[str, Any] = {
            "sub": user,
            "role": role,
            "documents": list(documents),
            "exp": int(time.time()) + 3600,
        }
        if name is not None:
            claims["name"] = name
        return jwt.encode(claims, JWT_SECRET, algorithm="HS256")

    def editor(self, document: str, *, user: str, name: str, token: str | None = None) -> str:
        """The editor's address for ``document`` as ``user``."""
        query = f"user={user}&name={name}" + (f"&token={token}" if token else "")
        return f"{self.url}/d/{document}?{query}"

    def file(self, document: str, file: str = "document.svg") -> Path:
        return self.root / document / file

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(START_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(START_DEADLINE_S)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``served(tokens=False, extra=[...])``: start a daemon over a new folder."""
    started: list[Served] = []

    def start(
        *,
        tokens: bool = False,
        extra: tuple[str, ...] = (),
        documents: dict[str, bytes] | None = None,
    ) -> Served:
        root = Path(tempfile.mkdtemp(prefix="docs-", dir=tmp_path))
        for name, svg in (documents or {}).items():
            # Made before the daemon starts, as `svgx-sync init` adopts a folder.
            (root / name).mkdir()
            (root / name / "document.svg").write_bytes(svg)
            subprocess.run(
                [sys.executable, "-m", "svgx_sync", "init", str(root / name)],
                check=True,
                capture_output=True,
            )
        log = root.with_suffix(".log")
        argv = [sys.executable, "-m", "svgx_sync", "serve", str(root), "--port", "0", *extra]
        if tokens:
            config = root.with_suffix(".toml")
            config.write_text(f'jwt_secret = "{JWT_SECRET}"\n')
            argv += ["--config", str(config)]
        with open(log, "ab") as stderr:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
        url = wait_for_announced_url(proc, log)
        daemon = Served(url=url, root=root, log=log, proc=proc, tokens=tokens)
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.stop()


def wait_for_announced_url(proc: subprocess.Popen[str], log: Path) -> str:
    """The address the daemon's ``open ...`` line announces, under a deadline."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=_read_lines, args=(stdout, lines), daemon=True).start()
    deadline = time.monotonic() + START_DEADLINE_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line.startswith("open "):
            return line.split(" ", 1)[1].strip().rstrip("/")
    proc.kill()
    raise AssertionError(f"the daemon did not announce its page: {log.read_text()}")


def _read_lines(stdout: Any, lines: queue.Queue[str]) -> None:
    try:
        for line in stdout:
            lines.put(line)
    except ValueError:  # closed by Served.stop
        pass


@dataclass
class Watched:
    """A page and what went wrong in it."""

    page: Any
    problems: list[str] = field(default_factory=list)

    def assert_clean(self, *, allow: tuple[str, ...] = ()) -> None:
        """No console error, page error or CSP violation, but those matching ``allow``."""
        unexpected = [p for p in self.problems if not any(re.search(a, p) for a in allow)]
        assert not unexpected, "the page reported problems:\n" + "\n".join(unexpected)


@pytest.fixture
def watched() -> Callable[..., Watched]:
    """``watched(context, url)``: a new page of ``context`` at ``url``, watched."""

    def open_page(context: Any, url: str) -> Watched:
        page = context.new_page()
        result = Watched(page)
        page.add_init_script(_REPORT_VIOLATIONS)
        page.on(
            "console",
            lambda msg: (
                result.problems.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" or "Content Security Policy" in msg.text
                else None
            ),
        )
        page.on("pageerror", lambda exc: result.problems.append(f"page error: {exc}"))
        page.goto(url)
        return result

    return open_page


def wait_until(condition: Callable[[], Any], what: str, *, deadline_s: float = 15) -> Any:
    """Poll ``condition`` (a file on disk, a git log) until it is truthy, under a
    deadline; the browser side waits with Playwright's own ``expect``."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
