"""Branch merges through the Python API, against a real daemon and repository."""

from __future__ import annotations

import asyncio

from svgx_sync import api


def test_merge_branch_from_python(tmp_path, git, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def main() -> dict:
        assert await api.start_collaboration_server("127.0.0.1", 0)
        try:
            assert await api.send_operation(
                {
                    "type": "create",
                    "user_id": "u1",
                    "session_id": "plan",
                    "element_id": "r1",
                    "data": {"type": "rectangle", "attributes": {"x": "0", "y": "0"}},
                }
            )
            api.version_action("plan", "create_version", created_by="u1", description="Box")
            api.version_action("plan", "create_branch", branch="idea")
            assert await api.send_operation(
                {
                    "type": "update",
                    "user_id": "u2",
                    "session_id": "plan@idea",
                    "element_id": "r1",
                    "data": {"attributes": {"x": "5"}},
                }
            )
            api.version_action("plan@idea", "create_version", created_by="u2", description="Idea")
            assert await api.send_operation(
                {
                    "type": "update",
                    "user_id": "u1",
                    "session_id": "plan",
                    "element_id": "r1",
                    "data": {"attributes": {"y": "7"}},
                }
            )
            return await api.merge_branch("plan", "idea", created_by="u1")
        finally:
            await api.stop_collaboration_server()

    reply = asyncio.run(asyncio.wait_for(main(), 60))
    assert reply["type"] == "branch_merged"
    repo = next(p for p in tmp_path.rglob("plan") if (p / ".git").exists())
    assert (
        git(repo, "log", "-1", "--format=%P", "main").split()[1]
        == git(repo, "rev-parse", "idea").strip()
    )
    shown = git(repo, "show", "main:document.svg")
    assert 'x="5"' in shown and 'y="7"' in shown
