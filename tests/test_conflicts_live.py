"""Live conflicts against a real daemon: per-session strategy, restart, stats."""

from __future__ import annotations

from test_server import Client, run_with_daemon

from svgx_sync.daemon.server import Daemon


async def _conflict(a: Client, b: Client, base: int) -> dict:
    await a.op("alice", "update", "r1", {"attributes": {"x": "1"}}, "a-x", base_seq=base)
    return await b.op("bob", "update", "r1", {"attributes": {"x": "2"}}, "b-x", base_seq=base)


def test_strategy_is_set_per_session_and_survives_a_restart(tmp_path):
    state: dict = {}

    async def first(daemon: Daemon) -> None:
        a, b = await Client.connect(daemon), await Client.connect(daemon)
        await a.join("alice")
        await b.join("bob")
        created = await a.op("alice", "create", "r1", {"type": "rectangle"}, "c1")
        await a.send(type="configure", strategy="manual", user_id="alice")
        changed = await b.expect("session_configured")
        assert changed == {
            "type": "session_configured",
            "strategy": "manual",
            "changed_by": "alice",
        }
        ack = await _conflict(a, b, created["seq"])
        assert ack["status"] == "pending"
        detected = await a.expect("conflict_detected")
        state["conflict"] = detected["conflicts"][0]["conflict_id"]
        # Another session keeps the daemon's default.
        c = await Client.connect(daemon)
        assert (await c.join("carol", "other"))["strategy"] == "automatic"
        for client in (a, b, c):
            await client.close()

    async def second(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        welcome = await a.join("alice")
        assert welcome["strategy"] == "manual"
        assert [c["conflict_id"] for c in welcome["conflicts"]] == [state["conflict"]]
        await a.send(
            type="resolve_conflict",
            conflict_id=state["conflict"],
            resolution="theirs",
            resolved_by="alice",
        )
        await a.expect("conflict_resolved")
        ops = await a.expect(
            "operations", lambda m: any(o["element_id"] == "r1" for o in m["operations"])
        )
        assert ops["operations"][-1]["data"] == {"attributes": {"x": "2"}}
        health = daemon.health()
        assert health["conflicts_detected"] >= 1 and health["conflicts_resolved"] >= 1
        await a.close()

    run_with_daemon(tmp_path, first)
    run_with_daemon(tmp_path, second)


def test_an_unknown_strategy_is_an_error_and_changes_nothing(tmp_path):
    async def body(daemon: Daemon) -> None:
        a = await Client.connect(daemon)
        await a.join("alice")
        await a.send(type="configure", strategy="coin_flip")
        error = await a.expect("error")
        assert error["code"] == "protocol_error"
        b = await Client.connect(daemon)
        assert (await b.join("bob"))["strategy"] == "automatic"
        await a.close()
        await b.close()

    run_with_daemon(tmp_path, body)
