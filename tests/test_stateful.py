"""A stateful property test of the whole promise: no acknowledged edit lost, no outside
change overwritten, no file broken.

A real daemon (127.0.0.1, port 0, a temporary store, the watcher on) serves one
document. Hypothesis interleaves live operations from two real websockets clients,
saves made by outside programs in several writing styles, and the real ``git`` command.
After every step the test waits until everything is quiet (the daemon has nothing left to
write, the watcher has nothing left to read, and files, refs and messages stay unchanged
for a while, all under a deadline) and then checks:

* every SVG file on disk, and in the ``HEAD`` commit, is well-formed XML with every
  prefix declared;
* the live state (what a client joining now is sent) holds exactly what the model
  expects: every acknowledged live edit, and every outside change, unless a later edit of
  the same thing replaced it or a conflict about that element was reported;
* the live state equals the file on disk, element by element;
* ``git fsck --strict`` is clean.

The model knows every element by id and every attribute in Clark notation. An outside
program's change is what it changed relative to the bytes *it* loaded (so a stale copy
changes only the one thing its writer changed); a git command's change is what changed
between the two commits it moved between. Live edits the model only partly predicts
(the daemon's ``svgx-model`` metadata) leave those keys free.

Bounded: ``SVGX_STATEFUL_EXAMPLES`` examples of ``SVGX_STATEFUL_STEPS`` steps, stopped
early by a time budget (``SVGX_STATEFUL_BUDGET_S``). The numbers that ran are recorded as
test properties and printed in the summary. ``SVGX_STATEFUL_SHRINK=1`` shrinks a failure
(slow: every attempt drives the daemon).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import escape, quoteattr

import pytest
from elements import EXISTS, Key, key_changes, keys_of
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)
from lxml import etree
from websockets.sync.client import connect
from wellformed import wellformed_problem

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon
from svgx_sync.git.store import Store

SVG_NS = "http://www.w3.org/2000/svg"
SVGX_NS = "https://svgx-sync.dev/ns/1"
INKSCAPE_NS = "http://www.inkscape.org/namespaces/inkscape"
SODIPODI_NS = "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
FILE = "document.svg"

EXAMPLES = int(os.environ.get("SVGX_STATEFUL_EXAMPLES", "12"))
STEPS = int(os.environ.get("SVGX_STATEFUL_STEPS", "20"))
BUDGET_S = float(os.environ.get("SVGX_STATEFUL_BUDGET_S", "180"))
SHRINK = os.environ.get("SVGX_STATEFUL_SHRINK") == "1"

QUIET_S = 0.3
"""Files, refs, messages and the watcher unchanged this long (with no write pending in the
daemon) is quiet: longer than the watcher's 30 ms step, shorter than any step's work."""
DEADLINE_S = 20.0
WRITE_DEBOUNCE_MS = 200.0  # the daemon's default: races with outside saves are real

INITIAL = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400">\n'
    + "".join(
        f'  <rect id="r{i}" x="{10 * i}" y="{10 * i}" width="20" height="20" fill="gray"/>\n'
        for i in range(5)
    )
    + "</svg>\n"
).encode()

COLOURS = ("red", "green", "blue", "orange", "purple")
COORDS = st.integers(min_value=0, max_value=300)
PICK = st.integers(min_value=0, max_value=2**16)
OUTSIDE = st.tuples(PICK, PICK, PICK, PICK)
"""Choices are plain numbers, mapped onto the state when a rule runs: what hypothesis
draws must not depend on the daemon's timing, or it cannot replay an example."""


T = TypeVar("T")


def pick(options: Sequence[T], n: int) -> T:
    return options[n % len(options)]


def when_active(rule_body: Callable[..., None]) -> Callable[..., None]:
    """A rule does nothing once the time budget is spent (or no daemon was started), so
    which rules exist never depends on the clock."""

    @functools.wraps(rule_body)
    def run(self: Any, *args: Any, **kwargs: Any) -> None:
        if self.active():
            rule_body(self, *args, **kwargs)

    return run


# -- the model's view of a file: elements by id, attributes by Clark name ------------------


def subtree_ids(data: bytes, ident: str) -> set[str]:
    root = etree.fromstring(data)
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") == ident:
            return {e.get("id") for e in el.iter() if isinstance(e.tag, str) and e.get("id")}
    return set()


def referring(data: bytes, ident: str) -> set[str]:
    """Constraints and assemblies that name ``ident`` (they may follow it when it goes)."""
    out = set()
    for el in etree.fromstring(data).iter(f"{{{SVGX_NS}}}*"):
        names = " ".join(el.get(a, "") for a in ("element", "targets", "members")).split()
        if ident in names and el.get("id"):
            out.add(el.get("id"))
    return out


def rect_ids(data: bytes) -> list[str]:
    return sorted(
        el.get("id") for el in etree.fromstring(data).iter(f"{{{SVG_NS}}}rect") if el.get("id")
    )


# -- outside programs: how each one writes a file -----------------------------------------


def _qname(name: str, nsmap: dict[str | None, str]) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    if uri == "http://www.w3.org/XML/1998/namespace":
        return f"xml:{local}"
    for prefix, bound in nsmap.items():
        if bound == uri:
            return local if prefix is None else f"{prefix}:{local}"
    raise AssertionError(f"no prefix for {uri}")


def _inkscape_serialise(
    el: Any, parent_nsmap: dict[str | None, str], depth: int, out: list[str]
) -> None:
    """Inkscape's layout: two-space indentation, one attribute per line after the first."""
    pad = "  " * depth
    nsmap = dict(el.nsmap)
    attrs = [
        f"xmlns{':' + p if p else ''}={quoteattr(u)}"
        for p, u in nsmap.items()
        if parent_nsmap.get(p) != u
    ]
    attrs += [f"{_qname(k, nsmap)}={quoteattr(v)}" for k, v in el.attrib.items()]
    tag = _qname(el.tag, nsmap)
    head = f"{pad}<{tag}" + (" " if attrs else "") + f"\n{pad}   ".join(attrs)
    children = [c for c in el if isinstance(c.tag, str)]
    text = (el.text or "").strip()
    if not children and not text:
        out.append(head + " />")
        return
    out.append(head + ">" + escape(text))
    for child in children:
        _inkscape_serialise(child, nsmap, depth + 1, out)
    out.append(f"{pad}</{tag}>")


def write_inkscape_like(root: Any) -> bytes:
    """Namespaces Inkscape adds, ``sodipodi:docname``, a named view, and its layout."""
    if root.nsmap.get("inkscape") != INKSCAPE_NS:
        new_root = etree.Element(
            root.tag, nsmap={**root.nsmap, "inkscape": INKSCAPE_NS, "sodipodi": SODIPODI_NS}
        )
        new_root.text = root.text
        for k, v in root.attrib.items():
            new_root.set(k, v)
        for child in list(root):
            new_root.append(child)
        root = new_root
    root.set(f"{{{SODIPODI_NS}}}docname", FILE)
    root.set(f"{{{INKSCAPE_NS}}}version", "1.2.2 (b0a8486541, 2022-12-01)")
    if not root.xpath("//*[@id='namedview1']"):
        view = etree.Element(f"{{{SODIPODI_NS}}}namedview", id="namedview1", pagecolor="#ffffff")
        view.set(f"{{{INKSCAPE_NS}}}zoom", "1")
        root.insert(0, view)
    out: list[str] = []
    _inkscape_serialise(root, {}, 0, out)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + "\n".join(out) + "\n"
    ).encode()


def write_reordered(root: Any) -> bytes:
    """A tool that writes every element's attributes in reverse order."""
    for el in root.iter():
        if isinstance(el.tag, str):
            items = list(el.attrib.items())
            el.attrib.clear()
            for k, v in reversed(items):
                el.set(k, v)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_crlf(root: Any) -> bytes:
    """A Windows editor: CRLF line endings."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").replace(b"\n", b"\r\n")


def write_plain(root: Any) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


WRITERS: dict[str, Callable[[Any], bytes]] = {
    "inkscape": write_inkscape_like,
    "reorder": write_reordered,
    "crlf": write_crlf,
    "plain": write_plain,
}


def edit_bytes(loaded: bytes, change: tuple[str, str, str], writer: str) -> bytes:
    """What an outside program saves after loading ``loaded`` and making one change."""
    root = etree.fromstring(loaded)
    kind, ident, value = change
    by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    if kind == "set" and ident in by_id:
        attr, _, v = value.partition("=")
        by_id[ident].set(attr, v)
    elif kind == "create" and ident not in by_id:
        rect = etree.SubElement(root, f"{{{SVG_NS}}}rect", id=ident, x=value, y=value)
        rect.set("width", "5")
        rect.set("height", "5")
        rect.tail = "\n"
    elif kind == "delete" and ident in by_id and by_id[ident] is not root:
        el = by_id[ident]
        el.getparent().remove(el)
    return WRITERS[writer](root)


def put(path: Path, data: bytes, *, rename: bool) -> None:
    """Save as editors do: in place (truncate and write) or a new file renamed over it."""
    if rename:
        tmp = path.with_name(f"{path.name}.new~")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:
        with open(path, "wb") as handle:
            handle.write(data)


# -- the daemon in its own thread, real clients ----------------------------------------------


class DaemonThread:
    """A daemon on its own event loop, so the test's clients and git run beside it."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.daemon = Daemon(
            Settings(root=root, port=0, write_debounce_ms=WRITE_DEBOUNCE_MS, idle_unload_s=0)
        )
        self.call(self.daemon.start())

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def busy(self) -> bool:
        """A write, a batch or an fsync is still pending in the daemon."""

        async def look() -> bool:
            d = self.daemon
            for room in d.rooms.values():
                if (
                    room.write_handle is not None
                    or room.written_generation != room.write_generation
                    or room.write_lock.locked()
                    or room.inflight is not None
                    or room.queued()
                ):
                    return True
            return bool(d.files.writes)

        return bool(self.call(look()))

    def handled(self) -> int:
        return int(self.daemon.watcher.handled)

    def stop(self) -> None:
        try:
            self.call(self.daemon.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class LiveClient:
    """A websockets client that keeps every message it receives (a reader thread)."""

    def __init__(self, port: int, user: str) -> None:
        self.user = user
        self.stack = ExitStack()
        self.ws = self.stack.enter_context(
            connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None)
        )
        self.messages: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.claimed = 0  # messages before this index were looked at by the model
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            for frame in self.ws:
                with self.cond:
                    self.messages.append(json.loads(frame))
                    self.cond.notify_all()
        except Exception:  # the connection ended; the test notices by timeout
            with self.cond:
                self.cond.notify_all()

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def wait_for(
        self, check: Callable[[dict[str, Any]], bool], what: str, start: int = 0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        with self.cond:
            while True:
                for message in self.messages[start:]:
                    if check(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.user}: no {what}; last: {self.messages[-5:]}")
                self.cond.wait(left)

    def request(
        self, check: Callable[[dict[str, Any]], bool], what: str, **message: Any
    ) -> dict[str, Any]:
        start = len(self.messages)
        self.send(**message)
        return self.wait_for(check, what, start)

    def join(self) -> dict[str, Any]:
        return self.request(
            lambda m: m["type"] == "welcome",
            "welcome",
            type="join",
            user_id=self.user,
            username=self.user.title(),
            session_id="doc",
        )

    def close(self) -> None:
        self.stack.close()
        self.reader.join(5)


# -- the machine ----------------------------------------------------------------------------


class Tally:
    """What ran, for the report."""

    examples = 0
    steps = 0
    started = 0.0


class TrustMachine(RuleBasedStateMachine):
    """Two live users, outside programs and git on one document, and a model of it."""

    workspace: Path  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.daemon: DaemonThread | None = None
        self.clients: dict[str, LiveClient] = {}
        self.observer: LiveClient | None = None
        self.folder = Path()
        self.counter = 0
        self.model: dict[Key, Any] = {}
        self.live = INITIAL  # the live state at the last quiet point
        self.snapshots: list[bytes] = []  # the file's bytes at recent quiet points
        self.step: list[tuple[dict[Key, Any], set[str]]] = []  # this step's changes, in order
        self.log: list[str] = []

    # -- set-up and tear-down ----------------------------------------------------------------

    def in_budget(self) -> bool:
        return time.monotonic() - Tally.started < BUDGET_S

    @initialize()
    def start(self) -> None:
        if not self.in_budget():
            return
        Tally.examples += 1
        root = Path(tempfile.mkdtemp(dir=self.workspace))
        doc = Store(root).create("doc")
        doc.commit(
            {FILE: INITIAL},
            user_id="u-0",
            username="Setup",
            description="Start",
            update_workdir=True,
        )
        self.folder = doc.path
        subprocess.run(
            [sys.executable, "-m", "svgx_sync", "git-setup", str(self.folder)],
            check=True,
            capture_output=True,
        )
        self.daemon = DaemonThread(root)
        port = self.daemon.daemon.port
        assert port is not None
        for user in ("ada", "bob"):
            client = LiveClient(port, user)
            client.join()
            self.clients[user] = client
        self.observer = LiveClient(port, "observer")
        self.model = keys_of(INITIAL)
        self.settle_and_check()

    def teardown(self) -> None:
        for client in [*self.clients.values(), *([self.observer] if self.observer else [])]:
            client.close()
        if self.daemon is not None:
            self.daemon.stop()

    def active(self) -> bool:
        return self.daemon is not None and self.in_budget()

    def fresh_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # -- recording what should change --------------------------------------------------------

    def expect(self, changes: dict[Key, Any], free: Collection[str] = (), why: str = "") -> None:
        gone = {
            ident for (ident, name), value in changes.items() if name == EXISTS and value is None
        }
        # An element that goes takes all its attributes with it, changed earlier or not.
        earlier = [k for c, _ in self.step for k in c]
        changes = {**{k: None for k in [*self.model, *earlier] if k[0] in gone}, **changes}
        self.step.append((changes, set(free)))
        self.log.append(why)

    def live_op(
        self,
        user: str,
        op_type: str,
        element: str,
        data: dict[str, Any],
        changes: dict[Key, Any],
        free: Collection[str] = (),
        *,
        must_apply: bool = True,
    ) -> dict[str, Any]:
        client = self.clients[user]
        op_id = self.fresh_id(f"{user}-op")
        ack = client.request(
            lambda m: (
                (m["type"] == "ack" and m.get("op_id") == op_id)
                or (m["type"] == "error" and m.get("op_id") == op_id)
            ),
            f"ack of {op_id}",
            type="operation",
            operation_type=op_type,
            user_id=user,
            element_id=element,
            data=data,
            op_id=op_id,
            timestamp=time.time(),
        )
        why = f"{user} {op_type} {element} {data} -> {ack.get('status') or ack.get('code')}"
        if ack["type"] == "ack" and ack["status"] == "applied":
            self.expect(changes, free, why)
        else:
            self.log.append(why)
            if must_apply:
                raise AssertionError(f"a valid operation on a quiet document was refused: {ack}")
        return ack

    def save_from_outside(
        self,
        loaded: bytes,
        change: tuple[str, str, str],
        writer: str,
        rename: bool,
        *,
        half_first: bool = False,
    ) -> None:
        saved = edit_bytes(loaded, change, writer)
        path = self.folder / FILE
        if half_first:
            daemon = self.daemon
            assert daemon is not None
            seen = daemon.handled()
            put(path, saved[: len(saved) // 2], rename=rename)
            self.wait(lambda: daemon.handled() > seen, "the watcher to read the half file")
        put(path, saved, rename=rename)
        self.expect(
            key_changes(loaded, saved),
            set(),
            f"outside {writer} save{' (half first)' if half_first else ''}: {change}",
        )

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["git", *args], cwd=self.folder, capture_output=True, text=True, check=False
        )
        self.log.append(f"git {' '.join(args)} -> {done.returncode}")
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {done.stderr}{done.stdout}")
        return done

    def blob(self, rev: str) -> bytes | None:
        done = subprocess.run(
            ["git", "show", f"{rev}:{FILE}"], cwd=self.folder, capture_output=True, check=False
        )
        return done.stdout if done.returncode == 0 else None

    @staticmethod
    def wait(predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)  # a bounded poll of state nobody announces

    # -- quiet, and the invariants -----------------------------------------------------------

    def signature(self) -> tuple[Any, ...]:
        git_dir = self.folder / ".git"
        files = tuple(
            (str(p.relative_to(self.folder)), p.read_bytes())
            for p in sorted(self.folder.rglob("*.svg"))
            if ".git" not in p.parts
        )
        refs = tuple(
            (str(p), p.read_bytes())
            for p in sorted((git_dir / "refs" / "heads").rglob("*"))
            if p.is_file()
        )
        head = (git_dir / "HEAD").read_bytes()
        counts = tuple(len(c.messages) for c in self.clients.values())
        assert self.daemon is not None
        return files, refs, head, counts, self.daemon.handled()

    def settle(self) -> None:
        """Wait, under a deadline, until nothing changes and nothing is pending."""
        assert self.daemon is not None
        deadline = time.monotonic() + DEADLINE_S
        last, since = None, time.monotonic()
        while True:
            now = time.monotonic()
            sig = self.signature()
            if sig != last or self.daemon.busy():
                last, since = sig, now
            elif now - since >= QUIET_S:
                return
            if now > deadline:
                raise AssertionError("the daemon and the files never became quiet")
            time.sleep(0.02)  # a bounded poll: quiet is the absence of events

    def conflicted_elements(self) -> set[str]:
        """Elements named by a conflict any client was told about during this step."""
        out: set[str] = set()
        for client in self.clients.values():
            for message in client.messages[client.claimed :]:
                if message["type"] == "conflict_detected":
                    for conflict in message["conflicts"]:
                        out.add(conflict.get("element_id"))
                        if conflict.get("kind") == "duplicate_id":
                            out.add(conflict.get("theirs"))  # the new id it was given
            client.claimed = len(client.messages)
        return out

    def settle_and_check(self) -> None:
        if self.daemon is None:
            return
        Tally.steps += 1
        self.settle()
        path = self.folder / FILE
        disk = path.read_bytes()
        problem = wellformed_problem(disk)
        assert problem is None, (
            f"{FILE} on disk is not well-formed: {problem}\n{disk.decode(errors='replace')}"
        )
        committed = self.blob("HEAD")
        if committed is not None:
            problem = wellformed_problem(committed)
            assert problem is None, f"HEAD:{FILE} is not well-formed: {problem}"
        assert self.observer is not None
        welcome = self.observer.join()
        live = welcome["files"][FILE].encode()
        problem = wellformed_problem(live)
        assert problem is None, f"the live state is not well-formed: {problem}"
        self.check_model(keys_of(live))
        assert keys_of(live) == keys_of(disk), (
            "after quiet the live state differs from the disk: "
            f"{ {k: (keys_of(live).get(k), keys_of(disk).get(k)) for k in key_changes(disk, live)} }"
        )
        fsck = subprocess.run(
            ["git", "fsck", "--strict"],
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert fsck.returncode == 0, f"git fsck --strict: {fsck.stdout}{fsck.stderr}"
        self.live = live
        self.model = keys_of(live)
        self.snapshots = [*self.snapshots[-2:], disk]
        self.step = []
        self.log = []

    def check_model(self, actual: dict[Key, Any]) -> None:
        """Every key is as the model expects, unless a reported conflict explains it."""
        conflicted = self.conflicted_elements()
        allowed: dict[Key, set[Any]] = {}
        free: set[str] = set()
        for changes, loose in self.step:
            free |= loose
            for key, value in changes.items():
                allowed[key] = {value}  # the later change of a key wins
        wrong = []
        for key in self.model.keys() | actual.keys() | allowed.keys():
            if key[0] in free or key[0] in conflicted:
                # A conflict about the element was reported: the strategy decided it and
                # the users were told (docs/merge.md), whichever side it kept.
                continue
            ok = allowed.get(key, {self.model.get(key)})
            if actual.get(key) not in ok:
                wrong.append(
                    f"{key}: live {actual.get(key)!r}, expected one of {sorted(map(repr, ok))}"
                )
        assert not wrong, (
            "the live state lost or invented changes:\n  "
            + "\n  ".join(sorted(wrong))
            + "\nthis step: "
            + "; ".join(self.log)
            + f"\nconflicts reported on: {sorted(map(str, conflicted))}"
        )

    # -- live operations ---------------------------------------------------------------------

    def target(self, n: int) -> str | None:
        ids = rect_ids(self.live)
        return pick(ids, n) if ids else None

    @rule(user=st.sampled_from(["ada", "bob"]), x=COORDS, y=COORDS)
    @when_active
    def create(self, user: str, x: int, y: int) -> None:
        ident = self.fresh_id(user[0])
        self.live_op(
            user,
            "create",
            ident,
            {"type": "rectangle", "position": {"x": x, "y": y}, "size": {"width": 8, "height": 8}},
            {
                (ident, EXISTS): True,
                (ident, "x"): str(x),
                (ident, "y"): str(y),
                (ident, "width"): "8",
                (ident, "height"): "8",
            },
        )
        self.settle_and_check()

    def edit_a_rect(
        self, n: int, user: str, op_type: str, op_data: dict[str, Any], attributes: dict[str, str]
    ) -> None:
        """One live edit of a rect that exists; ``attributes`` are what it must set."""
        ident = self.target(n)
        if ident is not None:
            self.live_op(
                user,
                op_type,
                ident,
                op_data,
                {(ident, name): value for name, value in attributes.items()},
            )
        self.settle_and_check()

    @rule(n=PICK, user=st.sampled_from(["ada", "bob"]), colour=st.sampled_from(COLOURS))
    @when_active
    def update(self, n: int, user: str, colour: str) -> None:
        self.edit_a_rect(n, user, "update", {"attributes": {"fill": colour}}, {"fill": colour})

    @rule(n=PICK, user=st.sampled_from(["ada", "bob"]), x=COORDS, y=COORDS)
    @when_active
    def move(self, n: int, user: str, x: int, y: int) -> None:
        self.edit_a_rect(
            n, user, "move", {"position": {"x": x, "y": y}}, {"x": str(x), "y": str(y)}
        )

    @rule(n=PICK, user=st.sampled_from(["ada", "bob"]), w=st.integers(1, 90), h=st.integers(1, 90))
    @when_active
    def resize(self, n: int, user: str, w: int, h: int) -> None:
        self.edit_a_rect(
            n,
            user,
            "resize",
            {"size": {"width": w, "height": h}},
            {"width": str(w), "height": str(h)},
        )

    def deletion(self, ident: str) -> tuple[dict[Key, Any], set[str]]:
        gone = subtree_ids(self.live, ident)
        changes: dict[Key, Any] = {k: None for k in self.model if k[0] in gone}
        return changes, referring(self.live, ident) | {"svgx-model"}

    @rule(n=PICK, user=st.sampled_from(["ada", "bob"]))
    @when_active
    def delete(self, n: int, user: str) -> None:
        ident = self.target(n)
        if ident is not None:
            changes, free = self.deletion(ident)
            self.live_op(user, "delete", ident, {}, changes, free)
        self.settle_and_check()

    @rule(n=PICK, user=st.sampled_from(["ada", "bob"]), value=st.integers(1, 99))
    @when_active
    def constraint_add(self, n: int, user: str, value: int) -> None:
        ident = self.target(n)
        if ident is not None:
            cid = self.fresh_id("k")
            self.live_op(
                user,
                "constraint_add",
                ident,
                {"constraint_type": "distance", "value": value, "constraint_id": cid},
                {
                    (cid, EXISTS): True,
                    (cid, "element"): ident,
                    (cid, "type"): "distance",
                    (cid, "value"): str(value),
                },
                {"svgx-model"},
            )
        self.settle_and_check()

    @rule(n=PICK, user=st.sampled_from(["ada", "bob"]))
    @when_active
    def constraint_remove(self, n: int, user: str) -> None:
        root = etree.fromstring(self.live)
        found = [(c.get("id"), c.get("element")) for c in root.iter(f"{{{SVGX_NS}}}constraint")]
        if found:
            cid, element = pick(found, n)
            self.live_op(
                user,
                "constraint_remove",
                element,
                {"constraint_id": cid},
                {k: None for k in self.model if k[0] == cid},
                {"svgx-model"},
            )
        self.settle_and_check()

    @rule(
        n=PICK, user=st.sampled_from(["ada", "bob"]), picks=st.lists(PICK, min_size=1, max_size=3)
    )
    @when_active
    def assembly_update(self, n: int, user: str, picks: list[int]) -> None:
        ids = rect_ids(self.live)
        if ids:
            members = list(dict.fromkeys(pick(ids, p) for p in picks))
            existing = [
                e.get("id") for e in etree.fromstring(self.live).iter(f"{{{SVGX_NS}}}assembly")
            ]
            ident = pick([*existing, self.fresh_id("asm")], n)
            self.live_op(
                user,
                "assembly_update",
                ident,
                {"name": ident.upper(), "members": members},
                {
                    (ident, EXISTS): True,
                    (ident, "name"): ident.upper(),
                    (ident, "members"): " ".join(members),
                },
                {"svgx-model"},
            )
        self.settle_and_check()

    # -- outside programs ----------------------------------------------------------------

    def outside_change(self, how: tuple[int, int, int, int], loaded: bytes) -> tuple[str, str, str]:
        """One change another program makes to the copy it loaded: set an attribute of a
        rect, add a rect, or delete one."""
        kind_n, ident_n, attr_n, value_n = how
        ids = rect_ids(loaded)
        kind = pick(["set", "set", "create", "delete"] if ids else ["create"], kind_n)
        if kind == "create":
            return ("create", self.fresh_id("o"), str(value_n % 300))
        ident = pick(ids, ident_n)
        if kind == "delete":
            return ("delete", ident, "")
        attr = pick(["fill", "stroke", "opacity", "x"], attr_n)
        value = {
            "fill": pick(COLOURS, value_n),
            "stroke": "black",
            "opacity": "0.5",
            "x": str(value_n % 300),
        }[attr]
        return ("set", ident, f"{attr}={value}")

    @rule(
        how=OUTSIDE,
        writer=st.sampled_from(sorted(WRITERS)),
        rename=st.booleans(),
        half=st.booleans(),
    )
    @when_active
    def outside_save(
        self, how: tuple[int, int, int, int], writer: str, rename: bool, half: bool
    ) -> None:
        loaded = (self.folder / FILE).read_bytes()
        self.save_from_outside(
            loaded, self.outside_change(how, loaded), writer, rename, half_first=half
        )
        self.settle_and_check()

    @rule(n=PICK, how=OUTSIDE, writer=st.sampled_from(sorted(WRITERS)))
    @when_active
    def stale_editor_save(self, n: int, how: tuple[int, int, int, int], writer: str) -> None:
        """An editor that loaded the file one or two steps ago saves one change over it
        (within the recent versions the daemon keeps: a few writes per step, 8 kept)."""
        loaded = pick(self.snapshots[:-1] or self.snapshots, n)
        self.save_from_outside(loaded, self.outside_change(how, loaded), writer, rename=False)
        self.settle_and_check()

    @rule(
        n=PICK,
        how=OUTSIDE,
        user=st.sampled_from(["ada", "bob"]),
        colour=st.sampled_from(COLOURS),
        delay_ms=st.integers(0, 260),
        writer=st.sampled_from(sorted(WRITERS)),
        reread=st.booleans(),
    )
    @when_active
    def live_edit_then_outside_save(
        self,
        n: int,
        how: tuple[int, int, int, int],
        user: str,
        colour: str,
        delay_ms: int,
        writer: str,
        reread: bool,
    ) -> None:
        """A live edit, then (before or while its write lands) a save by another program:
        ``sed -i`` a moment later rereads the file; an open editor saves what it had."""
        ident = self.target(n)
        if ident is None:
            self.settle_and_check()
            return
        loaded = (self.folder / FILE).read_bytes()
        change = self.outside_change(how, loaded)
        self.live_op(
            user,
            "update",
            ident,
            {"attributes": {"fill": colour}},
            {(ident, "fill"): colour},
            must_apply=False,
        )
        deadline = time.monotonic() + delay_ms / 1000
        while time.monotonic() < deadline:  # the gap between the two programs is the input
            time.sleep(0.005)
        if reread:
            loaded = (self.folder / FILE).read_bytes()
        self.save_from_outside(loaded, change, writer, rename=False)
        self.settle_and_check()

    # -- git -------------------------------------------------------------------------------

    def commit_all(self, message: str) -> bool:
        self.git("add", "-A")
        return self.git("commit", "-q", "-m", message, check=False).returncode == 0

    @rule()
    @when_active
    def git_commit(self) -> None:
        self.commit_all(f"commit {self.fresh_id('c')}")
        self.settle_and_check()

    @rule()
    @when_active
    def git_checkout_new_branch(self) -> None:
        self.git("checkout", "-q", "-b", self.fresh_id("branch"))
        for client in self.clients.values():
            start = client.claimed
            client.wait_for(lambda m: m["type"] == "branch_switched", "branch_switched", start)
        self.settle_and_check()

    def moved_by_git(self, before: bytes | None, after: bytes | None, why: str) -> None:
        if before is not None and after is not None:
            self.expect(key_changes(before, after), set(), why)

    @rule()
    @when_active
    def git_revert(self) -> None:
        self.commit_all("before revert")
        if self.blob("HEAD~1") is None:
            self.settle_and_check()
            return
        before = self.blob("HEAD")
        done = self.git("revert", "--no-edit", "HEAD", check=False)
        if done.returncode == 0:
            self.moved_by_git(before, self.blob("HEAD"), "git revert HEAD")
        else:
            # git refuses over changes it has not committed (the daemon wrote meanwhile):
            # that is git's rule, and the tree must be left as it was.
            assert "would be overwritten" in done.stderr or "local changes" in done.stderr, (
                done.stderr
            )
        self.settle_and_check()

    @rule()
    @when_active
    def git_reset_hard(self) -> None:
        before, after = self.blob("HEAD"), self.blob("HEAD~1")
        if after is None:
            self.settle_and_check()
            return
        self.git("reset", "-q", "--hard", "HEAD~1")
        self.moved_by_git(before, after, "git reset --hard HEAD~1")
        self.settle_and_check()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.timeout(int(BUDGET_S) + 120)  # the budget, the step under way and the tear-downs
def test_live_edits_outside_saves_and_git_keep_every_file_and_edit(
    workspace: Path, record_property: Callable[[str, object], None]
) -> None:
    TrustMachine.workspace = workspace
    Tally.examples = Tally.steps = 0
    Tally.started = time.monotonic()
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SHRINK else [])
    try:
        run_state_machine_as_test(
            TrustMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=os.environ.get("SVGX_STATEFUL_RANDOM") != "1",
                phases=phases,
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            ),
        )
    finally:
        elapsed = time.monotonic() - Tally.started
        summary = (
            f"stateful: {Tally.examples} examples, {Tally.steps} checked steps in {elapsed:.0f} s"
        )
        record_property("stateful_examples", Tally.examples)
        record_property("stateful_steps", Tally.steps)
        record_property("summary", summary)
        print(summary)
