"""Who may do what, over real sockets: tokens name the connection's user, roles are
checked at every message, browsers are held to their Origin and Host, and the health
and metrics endpoints show only what a token allows."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import ssl
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import websockets
from test_server import run_with_daemon as run
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from wsclient import WsClient

from svgx_sync.auth import issue_token
from svgx_sync.config import Settings
from svgx_sync.core.access import FailureLimiter, Role
from svgx_sync.daemon.server import Daemon
from svgx_sync.errors import ListenError
from svgx_sync.git.store import Store

SECRET = "a signing secret of at least thirty-two bytes"
NEVER = 10.0  # seconds a test waits for what must come


def token(role: str, user: str, *docs: str, name: str | None = None) -> tuple[str, Any]:
    issued = issue_token(
        role=Role(role), documents=docs or ("*",), user_id=user, name=name, expires=None
    )
    return issued.token, issued.record


def signed(user: str, role: str = "editor", *, exp: float | None = None, key: str = SECRET) -> str:
    claims = {"sub": user, "role": role, "documents": ["*"], "exp": exp or time.time() + 600}
    return jwt.encode(claims, key, algorithm="HS256")


class Client(WsClient):
    timeout = NEVER

    @classmethod
    async def open(
        cls,
        daemon: Daemon,
        *,
        bearer: str | None = None,
        query: str = "",
        origin: str | None = None,
        scheme: str = "ws",
        ssl_context: ssl.SSLContext | None = None,
    ) -> Client:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        ws = await websockets.connect(
            f"{scheme}://127.0.0.1:{daemon.port}/{query}",
            compression=None,
            additional_headers=headers,
            origin=origin,  # type: ignore[arg-type]
            ssl=ssl_context,
        )
        return cls(ws)

    async def join(self, user: str, session: str = "doc", **extra: Any) -> dict[str, Any]:
        await self.send(type="join", user_id=user, session_id=session, **extra)
        return await self.expect("welcome")

    async def refused(self, code: str) -> dict[str, Any]:
        return await self.expect("error", lambda m: m["code"] == code)

    async def closed(self) -> int | None:
        """The close code, once the daemon has closed the connection."""
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(self._drain(), NEVER)
        return self.ws.close_code

    async def _drain(self) -> None:
        while True:
            self.seen.append(json.loads(await self.ws.recv()))


async def joined_with(daemon: Daemon, bearer: str, user: str, session: str = "doc") -> Client:
    """A client that brought ``bearer`` at the handshake and joined ``session``."""
    client = await Client.open(daemon, bearer=bearer)
    await client.join(user, session)
    return client


def http_get(
    daemon: Daemon, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=NEVER)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read().decode()
    finally:
        conn.close()


async def get(daemon: Daemon, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    return await asyncio.to_thread(http_get, daemon, path, headers)


def operation(user: str, op_id: str, element: str = "r1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "operation",
        "operation_type": "create",
        "user_id": user,
        "element_id": element,
        "data": {"type": "rectangle"},
        "op_id": op_id,
        **extra,
    }


# -- identity comes from the connection ---------------------------------------------------


def test_a_token_names_the_user_in_the_join_the_header_or_the_query(tmp_path: Path) -> None:
    ada, ada_record = token("editor", "ada", name="Ada Lovelace")

    async def body(daemon: Daemon) -> None:
        by_join = await Client.open(daemon)
        welcome = await by_join.join("ada", token=ada)
        assert [(u["user_id"], u["username"]) for u in welcome["users"]] == [
            ("ada", "Ada Lovelace")
        ]
        by_header = await Client.open(daemon, bearer=ada)
        await by_header.join("ada")
        by_query = await Client.open(daemon, query=f"?token={ada}")
        await by_query.join("ada")
        # Another user's name in the join is refused: the token says who this is.
        other = await Client.open(daemon, bearer=ada)
        await other.send(type="join", user_id="bob", session_id="doc")
        assert "bob" in (await other.refused("forbidden"))["message"]
        for client in (by_join, by_header, by_query, other):
            await client.close()

    run(tmp_path, body, tokens=(ada_record,))


def test_an_in_memory_connection_brings_its_token_in_its_headers(tmp_path: Path) -> None:
    ada, ada_record = token("editor", "ada", name="Ada")

    async def body(daemon: Daemon) -> None:
        local = Client(daemon.connect_local("127.0.0.1", {"Authorization": f"Bearer {ada}"}))
        welcome = await local.join("ada")
        assert [u["username"] for u in welcome["users"]] == ["Ada"]
        await local.send(**operation("bob", "o1"))
        assert (await local.refused("forbidden"))["op_id"] == "o1"
        stranger = Client(daemon.connect_local("127.0.0.1"))
        await stranger.send(type="join", user_id="ada", session_id="doc")
        await stranger.refused("unauthorized")
        await local.close()

    run(tmp_path, body, tokens=(ada_record,))


def test_a_message_naming_another_user_is_refused_and_nothing_is_applied(
    tmp_path: Path,
) -> None:
    ada, ada_record = token("admin", "ada")

    async def body(daemon: Daemon) -> None:
        a = await joined_with(daemon, ada, "ada")
        for message in (
            operation("bob", "o1"),
            {"type": "activity", "user_id": "bob", "status": "editing"},
            {"type": "version", "action": "create_version", "created_by": "bob"},
            {"type": "configure", "strategy": "manual", "user_id": "bob"},
        ):
            await a.send(**message)
            refusal = await a.refused("forbidden")
            assert "'bob'" in refusal["message"]
        assert refusal.get("op_id") is None
        await a.send(**operation("ada", "o2"))
        assert (await a.expect("ack"))["op_id"] == "o2"
        assert daemon.rooms["doc@main"].live.seq == 1  # only ada's own operation
        history = daemon.rooms["doc@main"].document.history(branch="main")
        assert len(history) == 1  # no version was made as bob
        await a.close()

    run(tmp_path, body, tokens=(ada_record,))


def test_an_operation_refused_for_its_user_names_its_op_id(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        a = await Client.open(daemon)
        await a.join("alice")
        await a.send(**operation("mallory", "o1"))
        refusal = await a.refused("forbidden")
        assert refusal["op_id"] == "o1"
        await a.close()

    run(tmp_path, body)


def test_without_tokens_the_first_join_binds_the_user_for_the_connection(
    tmp_path: Path,
) -> None:
    async def body(daemon: Daemon) -> None:
        a = await Client.open(daemon)
        await a.join("alice")
        await a.send(type="join", user_id="bob", session_id="other")
        assert "alice" in (await a.refused("forbidden"))["message"]
        await a.send(type="version", action="create_version", created_by="bob")
        await a.refused("forbidden")
        await a.send(type="version", action="create_version", description="mine")
        created = await a.expect("version_created")
        assert created["created_by"] == "alice"
        # Joining another document as the same user is fine.
        assert (await a.join("alice", "other"))["document"] == "other"
        await a.close()

    run(tmp_path, body)


def test_without_tokens_the_daemon_will_not_listen_beyond_loopback(tmp_path: Path) -> None:
    async def main() -> None:
        # 192.0.2.1 (TEST-NET-1) is nobody's address: nothing can listen there at all.
        daemon = Daemon(Settings(root=tmp_path / "docs", host="192.0.2.1", port=0))
        with pytest.raises(ListenError, match=r"loopback only.*token create"):
            await daemon.start()

    asyncio.run(asyncio.wait_for(main(), 60))
    assert not (tmp_path / "docs").exists()


def test_a_shared_secret_still_admits_whoever_knows_it(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        a = await Client.open(daemon)
        await a.send(type="join", user_id="a", session_id="doc", token="wrong")
        await a.refused("unauthorized")
        assert await a.closed() == 1008
        b = await Client.open(daemon, bearer="team-secret")
        await b.join("bob")
        await b.send(**operation("bob", "o1"))
        assert (await b.expect("ack"))["status"] == "applied"
        await b.close()

    run(tmp_path, body, tokens=("team-secret",))


# -- roles, at every message ----------------------------------------------------------


def test_a_viewer_reads_and_takes_part_in_presence_but_changes_nothing(tmp_path: Path) -> None:
    viewer, viewer_record = token("viewer", "vic")
    editor, editor_record = token("editor", "eve")

    async def body(daemon: Daemon) -> None:
        e = await joined_with(daemon, editor, "eve")
        await e.send(**operation("eve", "e1"))
        await e.expect("ack")
        v = await Client.open(daemon, bearer=viewer)
        welcome = await v.join("vic")
        assert welcome["seq"] == 1
        await v.send(type="version", action="history", request_id="h")
        assert (await v.expect("history"))["request_id"] == "h"
        await v.send(type="activity", user_id="vic", status="editing")
        await e.expect(
            "presence_update",
            lambda m: any(u["user_id"] == "vic" and u["status"] == "editing" for u in m["users"]),
        )
        refused = [
            operation("vic", "v1", "r2"),
            {"type": "version", "action": "create_version"},
            {"type": "version", "action": "revert", "version_id": welcome["version_id"]},
            {"type": "version", "action": "create_branch", "branch": "mine"},
            {"type": "resolve_conflict", "conflict_id": "c1", "resolution": "ours",
             "resolved_by": "vic"},
            {"type": "configure", "strategy": "manual"},
        ]  # fmt: skip
        for message in refused:
            await v.send(**message)
            refusal = await v.refused("forbidden")
            assert "vic is viewer" in refusal["message"]
        live = daemon.rooms["doc@main"]
        assert live.live.seq == 1 and live.live.strategy.value == "automatic"
        assert "mine" not in live.document.list_branches()
        # The viewer is still served.
        await e.send(**operation("eve", "e2", "r3"))
        got = await v.expect("operations")
        assert [o["op_id"] for o in got["operations"]] == ["e2"]
        for client in (e, v):
            await client.close()

    run(tmp_path, body, tokens=(viewer_record, editor_record))


def test_configure_and_branch_merges_need_an_admin(tmp_path: Path) -> None:
    editor, editor_record = token("editor", "eve")
    admin, admin_record = token("admin", "ann")

    async def body(daemon: Daemon) -> None:
        e = await joined_with(daemon, editor, "eve")
        await e.send(type="version", action="create_branch", branch="idea", request_id="b")
        assert (await e.expect("branch_created"))["branch"] == "idea"
        for message in (
            {"type": "configure", "strategy": "manual"},
            {"type": "version", "action": "merge_branch", "branch": "idea"},
            {"type": "version", "action": "abort_merge"},
        ):
            await e.send(**message)
            assert "needs the admin role" in (await e.refused("forbidden"))["message"]
        a = await joined_with(daemon, admin, "ann")
        await a.send(type="configure", strategy="manual")
        configured = await e.expect("session_configured")
        assert configured["strategy"] == "manual"
        await a.send(type="version", action="merge_branch", branch="idea")
        assert (await a.expect("branch_merged"))["up_to_date"] is True
        for client in (e, a):
            await client.close()

    run(tmp_path, body, tokens=(editor_record, admin_record))


def test_a_token_opens_only_its_documents(tmp_path: Path) -> None:
    planner, planner_record = token("admin", "pat", "plans-*")

    async def body(daemon: Daemon) -> None:
        p = await Client.open(daemon, bearer=planner)
        assert (await p.join("pat", "plans-a"))["document"] == "plans-a"
        await p.send(type="join", user_id="pat", session_id="other")
        assert "'other'" in (await p.refused("forbidden"))["message"]
        assert not (tmp_path / "docs" / "other").exists()
        # Still in plans-a, still editing it.
        await p.send(**operation("pat", "o1"))
        assert (await p.expect("ack"))["status"] == "applied"
        await p.close()

    run(tmp_path, body, tokens=(planner_record,))


def test_a_viewer_cannot_create_a_document_by_joining_it(tmp_path: Path) -> None:
    viewer, viewer_record = token("viewer", "vic")

    async def body(daemon: Daemon) -> None:
        v = await Client.open(daemon, bearer=viewer)
        await v.send(type="join", user_id="vic", session_id="fresh")
        assert "create_document" in (await v.refused("forbidden"))["message"]
        assert not (tmp_path / "docs" / "fresh").exists()
        await v.close()

    run(tmp_path, body, tokens=(viewer_record,))


# -- signed tokens and failures ---------------------------------------------------------


def test_signed_tokens_that_expired_or_are_badly_signed_are_refused(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        good = await Client.open(daemon, bearer=signed("bo"))
        await good.join("bo")
        for bad in (signed("bo", exp=time.time() - 5), signed("bo", key="x" * 40)):
            with pytest.raises(InvalidStatus) as refused:
                await Client.open(daemon, bearer=bad)
            assert refused.value.response.status_code == 401
            c = await Client.open(daemon)
            await c.send(type="join", user_id="bo", session_id="doc", token=bad)
            await c.refused("unauthorized")
            assert await c.closed() == 1008
            daemon.access.limiter.succeeded("127.0.0.1")
        await good.close()

    run(tmp_path, body, jwt_secret=SECRET)


def test_a_token_that_expires_while_connected_stops_being_served(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        ends = time.time() + 1.0
        c = await Client.open(daemon, bearer=signed("bo", exp=ends))
        await c.join("bo")
        deadline = time.monotonic() + NEVER
        while time.time() <= ends + 0.05 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await c.send(**operation("bo", "late"))
        assert "expired" in (await c.refused("unauthorized"))["message"]
        assert await c.closed() == 1008
        assert daemon.rooms["doc@main"].live.seq == 0

    run(tmp_path, body, jwt_secret=SECRET)


def test_repeated_failures_from_one_address_wait_and_others_are_still_served(
    tmp_path: Path,
) -> None:
    ada, ada_record = token("editor", "ada")

    async def body(daemon: Daemon) -> None:
        daemon.access.limiter = FailureLimiter(free=3, base_s=60.0)
        a = await joined_with(daemon, ada, "ada")
        for attempt in range(3):
            with pytest.raises(InvalidStatus) as refused:
                await Client.open(daemon, bearer=f"svgx_{ada_record.id}_wrong{attempt}")
            assert refused.value.response.status_code == 401
        # Past the free failures even the right token waits: the address is judged later.
        with pytest.raises(InvalidStatus) as refused:
            await Client.open(daemon, bearer=ada)
        assert refused.value.response.status_code == 429
        assert 0 < int(refused.value.response.headers["Retry-After"]) <= 60
        c = await Client.open(daemon)
        await c.send(type="join", user_id="ada", session_id="doc", token=ada)
        assert "try again in" in (await c.refused("unauthorized"))["message"]
        # The daemon goes on serving the connection it has.
        await a.send(**operation("ada", "o1"))
        assert (await a.expect("ack"))["status"] == "applied"
        await a.close()

    run(tmp_path, body, tokens=(ada_record,))


# -- browsers: Origin and Host ----------------------------------------------------------


def test_origins_other_than_the_daemons_own_or_allowed_are_refused(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        port = daemon.port
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}",
                       "https://app.example"):  # fmt: skip
            c = await Client.open(daemon, origin=origin)
            await c.join("alice")
            await c.close()
        for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null"):
            with pytest.raises(InvalidStatus) as refused:
                await Client.open(daemon, origin=origin)
            assert refused.value.response.status_code == 403
        status, _, text = await get(daemon, "/healthz", Origin="http://evil.example")
        assert status == 403 and "origin" in text

    run(tmp_path, body, allowed_origins=("https://app.example",))


def test_a_host_name_the_daemon_does_not_serve_is_refused(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        status, _, text = await get(daemon, "/healthz", Host=f"rebound.example:{daemon.port}")
        assert status == 403 and "host" in text
        upgrade = {
            "Host": "rebound.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        assert (await get(daemon, "/", **upgrade))[0] == 403
        for host in (f"localhost:{daemon.port}", "drawings.example", "127.0.0.1"):
            assert (await get(daemon, "/healthz", Host=host))[0] == 200

    run(tmp_path, body, server_names=("drawings.example",))


# -- what HTTP shows ------------------------------------------------------------------


def test_health_metrics_and_notify_need_a_token_when_tokens_are_configured(
    tmp_path: Path,
) -> None:
    planner, planner_record = token("viewer", "pat", "plans-*")
    admin, admin_record = token("admin", "ann")

    async def body(daemon: Daemon) -> None:
        a = await Client.open(daemon, bearer=admin)
        await a.join("ann", "plans-a")
        await a.join("ann", "secret")
        status, _, text = await get(daemon, "/healthz")
        assert status == 200 and json.loads(text) == {"status": "ok"}
        status, _, text = await get(daemon, "/healthz", Authorization=f"Bearer {planner}")
        health = json.loads(text)
        assert health["documents"] == ["plans-a"]
        assert [s["document"] for s in health["sessions"]] == ["plans-a"]
        assert "secret" not in text
        status, _, text = await get(daemon, "/healthz", Authorization=f"Bearer {admin}")
        assert json.loads(text)["documents"] == ["plans-a", "secret"]
        assert (await get(daemon, "/healthz", Authorization="Bearer svgx_00_no"))[0] == 401
        for path in ("/metrics", "/notify?doc=plans-a"):
            status, headers, _ = await get(daemon, path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert (await get(daemon, "/metrics", Authorization=f"Bearer {admin}"))[0] == 200
        notify = "/notify?doc=plans-a"
        assert (await get(daemon, notify, Authorization=f"Bearer {planner}"))[0] == 202
        notify = "/notify?doc=secret"
        assert (await get(daemon, notify, Authorization=f"Bearer {planner}"))[0] == 403
        # The status message shows a principal its own documents only.
        p = await Client.open(daemon, bearer=planner)
        await p.send(type="status")
        assert (await p.expect("status"))["documents"] == ["plans-a"]
        for client in (a, p):
            await client.close()

    run(tmp_path, body, tokens=(planner_record, admin_record))


def test_without_tokens_health_shows_everything_as_before(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        a = await Client.open(daemon)
        await a.join("alice")
        status, _, text = await get(daemon, "/healthz")
        assert status == 200 and json.loads(text)["documents"] == ["doc"]
        assert (await get(daemon, "/metrics"))[0] == 200
        await a.close()

    run(tmp_path, body)


# -- wss:// -----------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svgx-sync test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_the_daemon_serves_wss_with_its_certificate(tmp_path: Path) -> None:
    certfile, keyfile = self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(certfile))

    async def body(daemon: Daemon) -> None:
        c = await Client.open(daemon, scheme="wss", ssl_context=trusted)
        assert (await c.join("alice"))["document"] == "doc"
        # A page served by the daemon itself would be of its https origin.
        d = await Client.open(
            daemon, scheme="wss", ssl_context=trusted, origin=f"https://localhost:{daemon.port}"
        )
        await d.join("bob")
        with pytest.raises((OSError, InvalidHandshake)):  # plain ws:// speaks no TLS
            await Client.open(daemon)

        def health() -> dict[str, Any]:
            url = f"https://127.0.0.1:{daemon.port}/healthz"
            with urllib.request.urlopen(url, context=trusted, timeout=NEVER) as response:
                return dict(json.load(response))

        assert (await asyncio.to_thread(health))["documents"] == ["doc"]
        for client in (c, d):
            await client.close()

    run(tmp_path, body, certfile=certfile, keyfile=keyfile)


@pytest.mark.parametrize("with_curl", [True, False], ids=["curl", "python"])
def test_the_notify_hook_brings_its_token_from_the_environment(
    tmp_path: Path, with_curl: bool
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    hook = Path(__file__).resolve().parent.parent / "hooks" / "svgx-notify"
    hooker, hooker_record = token("viewer", "hook", "doc")
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("basename", "git", *(["curl"] if with_curl else [])):
        found = shutil.which(tool)
        assert found is not None, tool
        (tools / tool).symlink_to(found)

    def notify(**env: str) -> None:
        folder = tmp_path / "docs" / "doc"
        environ = {**os.environ, "PATH": str(tools), "SVGX_SYNC_PYTHON": sys.executable, **env}
        subprocess.run([str(hook)], cwd=folder, env=environ, check=True, timeout=NEVER)

    Store(tmp_path / "docs").create("doc")

    async def body(daemon: Daemon) -> None:
        url = f"http://127.0.0.1:{daemon.port}"
        await asyncio.to_thread(notify, SVGX_SYNC_URL=url)
        assert daemon.watcher is not None and daemon.watcher.notified == 0
        await asyncio.to_thread(notify, SVGX_SYNC_URL=url, SVGX_SYNC_TOKEN=hooker)
        deadline = time.monotonic() + NEVER
        while daemon.watcher.notified == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert daemon.watcher.notified == 1

    run(tmp_path, body, tokens=(hooker_record,))
