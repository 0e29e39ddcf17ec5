"""The seed's own clients, run as written: its JavaScript client and its Python example."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tools import node_with_websocket

from svgx_sync.config import Settings
from svgx_sync.daemon.server import Daemon

ROOT = Path(__file__).resolve().parent.parent
SEED_PORT = 8765  # both seed clients say ws://localhost:8765

# The seed's "WebSocket Client Integration" example, verbatim.
SEED_JS = r"""
// JavaScript WebSocket client example
const ws = new WebSocket('ws://localhost:8765');

ws.onopen = function() {
    // Join collaboration session
    ws.send(JSON.stringify({
        type: 'join',
        user_id: 'user_123',
        username: 'John Doe',
        session_id: 'session_456'
    }));
};

ws.onmessage = function(event) {
    const data = JSON.parse(event.data);
    
    switch(data.type) {
        case 'welcome':
            console.log('Connected to collaboration server');
            break;
            
        case 'operations':
            console.log('Received operations:', data.operations);
            // Apply operations to local document
            break;
            
        case 'conflict_detected':
            console.log('Conflict detected:', data.conflicts);
            // Handle conflicts
            break;
            
        case 'presence_update':
            console.log('Presence update:', data.users);
            // Update user presence UI
            break;
            
        case 'version_created':
            console.log('Version created:', data.version_id);
            // Update version control UI
            break;
    }
};

// Send operation
function sendOperation(type, elementId, data) {
    ws.send(JSON.stringify({
        type: 'operation',
        operation_type: type,
        user_id: 'user_123',
        session_id: 'session_456',
        element_id: elementId,
        data: data
    }));
}

// Send activity update
function sendActivity(status, elementId, cursorPosition) {
    ws.send(JSON.stringify({
        type: 'activity',
        user_id: 'user_123',
        status: status,
        current_element: elementId,
        cursor_position: cursorPosition
    }));
}
"""

# Drives the seed's functions once connected; exits when everything came back.
DRIVER = r"""
const seen = new Set();
ws.addEventListener('message', (event) => {
    const data = JSON.parse(event.data);
    seen.add(data.type);
    if (data.type === 'welcome') {
        sendOperation('create', 'element_456', {type: 'rectangle', position: {x: 1, y: 2}});
        sendActivity('editing', 'element_456', {x: 100, y: 200});
    }
    if (data.type === 'error') { console.log('ERROR', JSON.stringify(data)); process.exit(3); }
    if (data.type === 'ack' && data.status === 'applied') {
        ws.send(JSON.stringify({type: 'version', action: 'create_version',
                                created_by: 'user_123', description: 'From the seed client'}));
    }
    if (seen.has('operations') && seen.has('presence_update') && seen.has('version_created')) {
        ws.close();
        process.exit(0);
    }
});
setTimeout(() => { console.log('TIMEOUT', [...seen]); process.exit(2); }, 15000);
"""


def port_free(port: int) -> bool:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((host, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno == 99:  # no IPv6 on this machine
                continue
            return False
    return True


def test_the_seed_javascript_client_runs_as_written(tmp_path, git):
    node = node_with_websocket(why="the seed's JavaScript client cannot be run")
    if not port_free(SEED_PORT):
        pytest.skip(f"port {SEED_PORT}, which the seed's client uses, is taken")
    script = tmp_path / "seed_client.js"
    script.write_text(SEED_JS + DRIVER)

    async def main() -> tuple[int, str]:
        daemon = Daemon(Settings(root=tmp_path / "docs", host="localhost", port=SEED_PORT))
        await daemon.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                *node, str(script), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            return proc.returncode or 0, out.decode()
        finally:
            await daemon.stop()

    code, out = asyncio.run(main())
    assert code == 0, out
    assert "Connected to collaboration server" in out
    assert "Received operations:" in out and "element_456" in out
    assert "Presence update:" in out and "John Doe" in out
    assert "Version created:" in out
    repo = tmp_path / "docs" / "session_456"
    assert git(repo, "log", "-1", "--format=%s|%an").strip() == "From the seed client|John Doe"


def test_the_readme_javascript_runs_with_the_command_the_readme_gives(tmp_path):
    """The README's snippet, run by this machine's Node with the command it tells."""
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```js\n(.*?)```", readme, re.S)
    command = re.search(r"`(node [^`]*?)client\.js`", " ".join(readme.split()))
    assert snippet is not None and command is not None, "the README says how to run its snippet"
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not port_free(SEED_PORT):
        pytest.skip(f"port {SEED_PORT}, which the snippet uses, is taken")
    script = tmp_path / "client.js"
    script.write_text(
        snippet.group(1)
        + r"""
ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.type === 'welcome') { console.log('welcome', data.document); process.exit(0); }
};
setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 15000);
"""
    )

    async def main() -> tuple[int, str]:
        daemon = Daemon(Settings(root=tmp_path / "docs", host="localhost", port=SEED_PORT))
        await daemon.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                *command.group(1).split(),
                str(script),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return proc.returncode or 0, out.decode()
        finally:
            await daemon.stop()

    code, out = asyncio.run(main())
    assert code == 0 and "welcome plan" in out, out


def test_the_seed_python_example_runs_as_written(tmp_path):
    if not port_free(SEED_PORT):
        pytest.skip(f"port {SEED_PORT}, which the seed's example uses, is taken")
    example = ROOT / "examples" / "collaboration_example.py"
    done = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("SVGX_SYNC_")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Operation sent: create",
        "Operation sent: update",
        "Operation sent: constraint_add",
        # "conflict_1" does not exist (these operations do not conflict), so the example's
        # resolve_conflict answers False and prints nothing for it.
        "Active users: 2",
        "- user_1: editing",
        "- user_2: editing",
    ]
    assert "Traceback" not in done.stderr
    svg = (tmp_path / "svgx-documents" / "default" / "document.svg").read_text()
    assert 'id="element_1" x="100" y="100"' in svg and 'type="distance"' in svg


def test_the_python_api_from_the_seed(tmp_path, monkeypatch):
    import svgx_sync

    monkeypatch.chdir(tmp_path)

    async def main() -> None:
        assert await svgx_sync.start_collaboration_server("127.0.0.1", 0)
        try:
            assert await svgx_sync.send_operation(
                {"type": "create", "user_id": "u1", "element_id": "a", "data": {"type": "circle"}}
            )
            assert await svgx_sync.send_operation(
                {
                    "type": "update",
                    "user_id": "u2",
                    "element_id": "a",
                    "data": {"attributes": {"r": "5"}},
                }
            )
            assert not await svgx_sync.send_operation(
                {"type": "update", "user_id": "u2", "element_id": "missing", "data": {}}
            )
            assert not await svgx_sync.send_operation(
                {"type": "warp", "user_id": "u2", "element_id": "a"}
            )
            assert not await svgx_sync.resolve_conflict("conflict_1", "last_write_wins", "u1")
            users = svgx_sync.get_active_users()
            assert {u["user_id"] for u in users} == {"u1", "u2"}
            stats = svgx_sync.get_collaboration_performance_stats()
            assert set(stats) == {
                "total_operations",
                "conflicts_detected",
                "conflicts_resolved",
                "average_propagation_time_ms",
                "active_users",
                "total_sessions",
            }
            assert stats["total_operations"] == 2 and stats["total_sessions"] == 1
            assert stats["active_users"] == 2 and stats["average_propagation_time_ms"] > 0
        finally:
            await svgx_sync.stop_collaboration_server()

    asyncio.run(asyncio.wait_for(main(), 60))
    assert 'r="5"' in (tmp_path / "svgx-documents" / "default" / "document.svg").read_text()
