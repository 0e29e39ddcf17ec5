"""The visual diff's data: the rule (two sets of files -> changed elements) and
``GET /api/d/<doc>/diff`` against a real daemon with versions made over the protocol."""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path
from typing import Any

from test_server import TIMEOUT, Client, run_with_daemon

from svgx_sync.core.changes import element_changes
from svgx_sync.core.svgdoc import SvgDocument
from svgx_sync.daemon.server import Daemon

SVG = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">{}</svg>'


def doc(body: str) -> SvgDocument:
    return SvgDocument(SVG.format(body).encode())


def changes(old: str, new: str) -> list[dict[str, Any]]:
    return element_changes({"d.svg": doc(old)}, {"d.svg": doc(new)})


def by_id(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["element_id"]: c for c in found}


# -- the rule ------------------------------------------------------------------------------


def test_same_files_and_formatting_alone_change_nothing() -> None:
    body = '<rect id="a" x="1" y="2"/><g><circle r="3"/></g>'
    assert changes(body, body) == []
    assert changes(body, "\n  <rect y='2' id='a' x='1' />\n  <g>\n <circle r='3'/></g>\n") == []


def test_an_attribute_changed_added_and_removed_is_listed_old_to_new() -> None:
    (change,) = changes('<rect id="a" x="1" fill="red"/>', '<rect id="a" x="2" stroke="blue"/>')
    assert change == {
        "file": "d.svg",
        "element_id": "a",
        "path": {"old": "/0", "new": "/0"},
        "kind": "changed",
        "tag": "rect",
        "attributes": [
            {"name": "x", "old": "1", "new": "2"},
            {"name": "stroke", "old": None, "new": "blue"},
            {"name": "fill", "old": "red", "new": None},
        ],
        "text": None,
        "moved": False,
    }


def test_added_and_removed_elements_carry_their_attributes_and_text() -> None:
    found = by_id(changes('<rect id="gone" x="1"/>', '<text id="new" x="5">Hello</text>'))
    assert found["gone"]["kind"] == "removed" and found["gone"]["path"] == {
        "old": "/0",
        "new": None,
    }
    assert found["gone"]["attributes"] == [
        {"name": "id", "old": "gone", "new": None},
        {"name": "x", "old": "1", "new": None},
    ]
    assert found["new"]["kind"] == "added" and found["new"]["tag"] == "text"
    assert found["new"]["attributes"] == [
        {"name": "id", "old": None, "new": "new"},
        {"name": "x", "old": None, "new": "5"},
    ]
    assert found["new"]["text"] == {"old": None, "new": "Hello"}
    # new elements first, in document order, then the removed ones
    assert [c["element_id"] for c in changes('<rect id="gone"/>', '<rect id="new"/>')] == [
        "new",
        "gone",
    ]


def test_every_element_of_an_added_subtree_is_listed() -> None:
    found = changes("", '<g id="g"><rect id="r"/><circle/></g>')
    assert [(c["element_id"], c["kind"]) for c in found] == [
        ("g", "added"),
        ("r", "added"),
        ("/0/1", "added"),
    ]


def test_text_is_the_elements_own_text_and_tails_of_its_children() -> None:
    (change,) = changes(
        '<text id="t">a<tspan id="s">b</tspan>c</text>',
        '<text id="t">a<tspan id="s">b</tspan>d</text>',
    )
    assert change["element_id"] == "t" and change["text"] == {"old": "ac", "new": "ad"}
    (change,) = changes(
        '<text id="t">a<tspan id="s">b</tspan></text>',
        '<text id="t">a<tspan id="s">B</tspan></text>',
    )
    assert change["element_id"] == "s" and change["text"] == {"old": "b", "new": "B"}


def test_elements_without_id_are_matched_by_position_and_named_by_it() -> None:
    (change,) = changes('<g id="g"><rect/><rect x="1"/></g>', '<g id="g"><rect/><rect x="2"/></g>')
    assert change["element_id"] == "/0/1" and change["attributes"][0]["new"] == "2"


def test_moving_one_element_to_the_front_marks_only_that_one_as_moved() -> None:
    old = "".join(f'<rect id="r{i}"/>' for i in range(5))
    new = '<rect id="r4"/>' + "".join(f'<rect id="r{i}"/>' for i in range(4))
    (change,) = changes(old, new)
    assert change["element_id"] == "r4" and change["moved"] is True
    assert change["kind"] == "changed" and change["attributes"] == []
    assert change["path"] == {"old": "/4", "new": "/0"}


def test_an_element_put_into_another_parent_is_moved() -> None:
    found = by_id(
        changes(
            '<g id="a"><rect id="r"/></g><g id="b"/>', '<g id="a"/><g id="b"><rect id="r"/></g>'
        )
    )
    assert list(found) == ["r"] and found["r"]["moved"] is True


def test_namespaced_attributes_are_named_as_operations_name_them() -> None:
    (change,) = changes('<use id="u" xlink:href="#a"/>', '<use id="u" xlink:href="#b"/>')
    assert change["attributes"] == [{"name": "xlink:href", "old": "#a", "new": "#b"}]


def test_a_file_only_one_side_has_lists_all_its_elements() -> None:
    old = {"a.svg": doc('<rect id="r"/>')}
    new = {"b.svg": doc('<circle id="c"/>')}
    found = element_changes(old, new)
    assert [(c["file"], c["element_id"], c["kind"]) for c in found] == [
        ("a.svg", "/", "removed"),
        ("a.svg", "r", "removed"),
        ("b.svg", "/", "added"),
        ("b.svg", "c", "added"),
    ]


def test_the_root_is_named_by_its_path() -> None:
    old = {"d.svg": SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg" id="root" width="1"/>')}
    new = {"d.svg": SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg" id="root" width="2"/>')}
    (change,) = element_changes(old, new)
    assert change["element_id"] == "/" and change["tag"] == "svg"


# -- GET /api/d/<doc>/diff against a real daemon ---------------------------------------------


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read().decode()
        if response.status == 401:  # the challenge, before any route is looked at
            return response.status, {"message": body}
        assert response.headers["Content-Type"].startswith("application/json"), body
        return response.status, json.loads(body)
    finally:
        conn.close()


async def get(daemon: Daemon, path: str, **headers: str) -> tuple[int, dict[str, Any]]:
    assert daemon.port is not None
    return await asyncio.to_thread(http_get, daemon.port, path, headers)


async def version(client: Client, description: str) -> str:
    await client.send(
        type="version", action="create_version", created_by="alice", description=description
    )
    made = await client.expect("version_created", lambda m: m["description"] == description)
    return str(made["version_id"])


async def two_versions(daemon: Daemon) -> tuple[Client, str, str]:
    """``doc`` with r1 and c1 in a first version; r1 red, c1 gone and t1 new in a second."""
    alice = await Client.connect(daemon)
    await alice.join("alice")
    await alice.op("alice", "create", "r1", {"type": "rectangle"}, "o1")
    await alice.op("alice", "create", "c1", {"type": "circle"}, "o2")
    first = await version(alice, "Two shapes")
    await alice.op("alice", "update", "r1", {"attributes": {"fill": "red"}}, "o3")
    await alice.op("alice", "delete", "c1", {}, "o4")
    await alice.op("alice", "create", "t1", {"type": "text", "text": "Hello"}, "o5")
    second = await version(alice, "Red, a label, no circle")
    return alice, first, second


def test_the_endpoint_lists_what_changed_between_two_versions(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        alice, first, second = await two_versions(daemon)
        status, answer = await get(daemon, f"/api/d/doc/diff?from={first[:8]}&to={second}")
        assert status == 200, answer
        assert answer["document"] == "doc"
        assert answer["from"]["rev"] == first[:8] and answer["from"]["version_id"] == first
        assert answer["from"]["label"] == f"{first[:7]} Two shapes"
        assert answer["to"]["version_id"] == second
        assert 'id="c1"' in answer["from"]["files"]["document.svg"]
        assert 'id="t1"' in answer["to"]["files"]["document.svg"]
        found = by_id(answer["changes"])
        assert set(found) == {"r1", "c1", "t1"}
        assert found["r1"]["kind"] == "changed" and found["r1"]["tag"] == "rect"
        assert {"name": "fill", "old": None, "new": "red"} in found["r1"]["attributes"]
        assert found["c1"]["kind"] == "removed" and found["c1"]["tag"] == "circle"
        assert found["t1"]["kind"] == "added" and found["t1"]["text"]["new"] == "Hello"
        assert all(c["file"] == "document.svg" for c in answer["changes"])
        # a branch names its tip; the pickers get the branches and the versions
        status, by_branch = await get(daemon, f"/api/d/doc/diff?from={first}&to=main")
        assert status == 200 and by_branch["changes"] == answer["changes"]
        assert by_branch["to"]["label"] == f"main ({second[:7]})"
        assert by_branch["choices"]["branches"] == ["main"]
        versions = [v["version_id"] for v in by_branch["choices"]["versions"]]
        assert versions[:2] == [second, first]
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_live_is_the_live_session_with_its_unversioned_edits(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        alice, _first, second = await two_versions(daemon)
        await alice.op("alice", "update", "t1", {"text": "Bye"}, "o6")
        status, answer = await get(daemon, f"/api/d/doc/diff?from={second}&to=live")
        assert status == 200, answer
        assert answer["to"]["version_id"] is None
        assert answer["to"]["label"].startswith("live (main, seq ")
        (change,) = answer["changes"]
        assert change["element_id"] == "t1" and change["text"] == {"old": "Hello", "new": "Bye"}
        # defaults: from the checked-out branch to live
        status, default = await get(daemon, "/api/d/doc/diff")
        assert status == 200 and default["from"]["rev"] == "main" and default["to"]["rev"] == "live"
        assert default["changes"] == answer["changes"]
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_live_without_a_session_is_the_working_tree(tmp_path: Path) -> None:
    from svgx_sync.git.store import Store

    document = Store(tmp_path / "docs").create("plan")
    path = document.path / "document.svg"
    path.write_text(path.read_text().replace("</svg>", '<rect id="drawn" width="5"/></svg>'))

    async def body(daemon: Daemon) -> None:
        status, answer = await get(daemon, "/api/d/plan/diff?from=main&to=live")
        assert status == 200, answer
        assert answer["to"]["label"] == "working tree (main)"
        assert [(c["element_id"], c["kind"]) for c in answer["changes"]] == [("drawn", "added")]
        assert not daemon.rooms  # reading the diff loads no session

    run_with_daemon(tmp_path, body, watch_files=False)


def test_unknown_revs_are_404_and_bad_names_400(tmp_path: Path) -> None:
    async def body(daemon: Daemon) -> None:
        alice, first, _second = await two_versions(daemon)
        cases = {
            "/api/d/doc/diff?from=deadbeef&to=live": (404, "not_found"),
            "/api/d/doc/diff?from=no-such-branch&to=live": (404, "not_found"),
            "/api/d/nodoc/diff": (404, "not_found"),
            f"/api/d/doc/diff?from={first}&to=a%20b": (400, "invalid_name"),
            "/api/d/doc/diff?from=main~1": (400, "invalid_name"),
            "/api/d/doc/diff?from=:/Two": (400, "invalid_name"),
            "/api/d/a%20b/diff": (400, "invalid_name"),
        }
        for path, (code, error) in cases.items():
            status, answer = await get(daemon, path)
            assert (status, answer["error"]) == (code, error), (path, answer)
            assert answer["message"]
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_active_content_is_made_inert_in_the_files_sent(tmp_path: Path) -> None:
    from svgx_sync.git.store import Store

    document = Store(tmp_path / "docs").create("doc")
    before = document.head_version()
    markup = SVG.format('<rect id="r" onclick="alert(1)" width="5"/>').encode()
    after = document.commit(
        {"document.svg": markup}, user_id="mallory", username="Mallory", description="Sneaky"
    )

    async def body(daemon: Daemon) -> None:
        status, answer = await get(daemon, f"/api/d/doc/diff?from={before}&to={after}")
        assert status == 200, answer
        assert "onclick" not in answer["to"]["files"]["document.svg"]
        assert 'id="r"' in answer["to"]["files"]["document.svg"]
        # the change is told as it is
        change = by_id(answer["changes"])["r"]
        assert change["kind"] == "added"
        assert {"name": "onclick", "old": None, "new": "alert(1)"} in change["attributes"]

    run_with_daemon(tmp_path, body, watch_files=False)


def test_with_tokens_a_token_that_may_open_the_document_is_needed(tmp_path: Path) -> None:
    from svgx_sync.auth import issue_token
    from svgx_sync.core.access import Role

    def token(role: str, user: str, *docs: str) -> tuple[str, Any]:
        issued = issue_token(role=Role(role), documents=docs, user_id=user, name=None, expires=None)
        return issued.token, issued.record

    viewer, viewer_record = token("viewer", "vic", "doc")
    stranger, stranger_record = token("admin", "sam", "other*")

    async def body(daemon: Daemon) -> None:
        from svgx_sync.git.store import Store

        Store(daemon.settings.root).create("doc")
        status, _ = await get(daemon, "/api/d/doc/diff?to=main")
        assert status == 401
        status, answer = await get(
            daemon, "/api/d/doc/diff?to=main", Authorization=f"Bearer {stranger}"
        )
        assert (status, answer["error"]) == (403, "forbidden")
        status, answer = await get(
            daemon, "/api/d/doc/diff?to=main", Authorization=f"Bearer {viewer}"
        )
        assert status == 200 and answer["changes"] == []

    run_with_daemon(tmp_path, body, tokens=(viewer_record, stranger_record), watch_files=False)


def test_a_live_file_the_same_as_its_version_is_sent_inert_on_both_sides(tmp_path: Path) -> None:
    from svgx_sync.git.store import Store

    document = Store(tmp_path / "docs").create("doc")
    markup = SVG.format('<rect id="r" onclick="alert(1)" width="5"/>').encode()
    document.commit(
        {"document.svg": markup},
        user_id="mallory",
        username="Mallory",
        description="Sneaky",
        update_workdir=True,
    )

    async def body(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        await alice.join("alice")
        # Served at the join; then edited live; then versioned (served before the edit).
        for edit in (None, "o1", "version"):
            if edit == "o1":
                await alice.op("alice", "update", "r", {"attributes": {"width": "7"}}, edit)
            elif edit == "version":
                await version(alice, "Wider")
            status, answer = await get(daemon, "/api/d/doc/diff")
            assert status == 200, answer
            for side in ("from", "to"):
                text = answer[side]["files"]["document.svg"]
                assert 'id="r"' in text and "onclick" not in text, (side, text)
            changes = [(c["element_id"], c["kind"]) for c in answer["changes"]]
            assert changes == ([("r", "changed")] if edit == "o1" else [])
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def big_drawing(rooms: int) -> bytes:
    """Rooms of 20 rects, one element per line (over the size a diff is told from text
    at); ``r5`` has an ``onclick``, so serving the file needs more than its text."""
    lines = []
    for g in range(rooms):
        lines.append(f'  <g id="room{g}">')
        for k in range(20):
            i = g * 20 + k
            click = ' onclick="alert(1)"' if i == 5 else ""
            lines.append(f'    <rect id="r{i}" x="{i}" width="9"{click}/>')
        lines.append("  </g>")
    return SVG.format("\n" + "\n".join(lines) + "\n").encode()


def test_a_big_drawings_diff_is_told_from_its_text_as_a_complete_comparison_tells_it(
    tmp_path: Path,
) -> None:
    from svgx_sync.git.store import Store

    document = Store(tmp_path / "docs").create("doc")
    document.commit(
        {"document.svg": big_drawing(100)},
        user_id="u",
        username="U",
        description="Plan",
        update_workdir=True,
    )
    first = document.head_version()
    assert first is not None

    async def body(daemon: Daemon) -> None:
        alice = await Client.connect(daemon)
        await alice.join("alice")
        await alice.op("alice", "update", "r1500", {"attributes": {"fill": "red"}}, "o1")
        await alice.op("alice", "delete", "r777", {}, "o2")
        await alice.op("alice", "create", "n1", {"type": "rectangle", "parent": "room3"}, "o3")
        second = await version(alice, "Edited")
        status, answer = await get(daemon, f"/api/d/doc/diff?from={first}&to={second}")
        assert status == 200, answer
        files = Store(tmp_path / "docs").open("doc")
        old, new = (SvgDocument(files.svg_files(v)["document.svg"]) for v in (first, second))
        expected = element_changes({"document.svg": old}, {"document.svg": new})
        assert answer["changes"] == expected
        found = by_id(answer["changes"])
        assert found["r1500"]["kind"] == "changed" and found["r777"]["kind"] == "removed"
        assert found["n1"]["kind"] == "added" and found["n1"]["path"]["new"].startswith("/3/")
        for side in ("from", "to"):
            text = answer[side]["files"]["document.svg"]
            assert 'id="r5"' in text and "onclick" not in text
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_a_file_told_from_its_text_is_not_parsed_on_either_side() -> None:
    from svgx_sync.daemon import diff_api

    old = big_drawing(100)
    new = old.replace(b'id="r900" x="900"', b'id="r900" x="901"')
    sides = [
        diff_api.Side(rev, None, rev, {"document.svg": data})
        for rev, data in (("a", old), ("b", new))
    ]
    known = diff_api._read(*sides)
    assert sides[0].files == sides[1].files == {}
    (change,) = known["document.svg"]
    assert change["element_id"] == "r900" and change["path"] == {"old": "/45/0", "new": "/45/0"}
    assert all("onclick" not in side.served["document.svg"] for side in sides)


def test_a_diff_not_ready_in_time_is_answered_503_and_whole_when_asked_again(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """websockets ends a connection whose answer has not begun within its handshake's
    timeout: a slow comparison is answered 503 with ``retry`` and runs on, once; another
    comparison of the same document waits for it to end."""
    import threading

    from svgx_sync.daemon import diff_api

    compared = threading.Event()  # the comparison ends when the test lets it
    real = diff_api._released

    def slow(*args: Any) -> bytes:
        compared.wait(TIMEOUT)
        return real(*args)

    monkeypatch.setattr(diff_api, "ANSWER_WITHIN_S", 0.05)
    monkeypatch.setattr(diff_api, "_released", slow)

    async def body(daemon: Daemon) -> None:
        alice, first, second = await two_versions(daemon)
        path = f"/api/d/doc/diff?from={first}&to={second}"
        for _ in range(2):  # asked twice: one comparison
            status, answer = await get(daemon, path)
            assert status == 503, answer
            assert answer["error"] == "comparing" and answer["retry"] is True
            assert "takes more than 0 s" in answer["message"]
        status, other = await get(daemon, f"/api/d/doc/diff?from={second}&to={first}")
        assert status == 503 and "another comparison of 'doc' is under way" in other["message"]
        assert len(daemon.comparisons._running) == 1
        compared.set()
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while status != 200:  # as the page does: ask again
            assert asyncio.get_running_loop().time() < deadline, answer
            await asyncio.sleep(0.02)
            status, answer = await get(daemon, path)
        assert {c["element_id"] for c in answer["changes"]} == {"r1", "c1", "t1"}
        assert not daemon.comparisons._running  # delivered, then forgotten
        await alice.close()

    run_with_daemon(tmp_path, body, write_debounce_ms=0)


def test_an_answer_taken_is_let_go_at_once() -> None:
    """An answer is kept for a later ask only while nobody has taken it: a taken one (130
    MB of JSON for a 50 MB drawing) is not held by the timer that would have let it go."""
    import gc
    import weakref

    from svgx_sync.daemon.diff_api import Comparisons

    class Answer:  # stands for the JSON bytes, which cannot be referred to weakly
        pass

    async def main() -> None:
        comparisons = Comparisons()

        async def start() -> Any:
            return Answer()

        taken = await comparisons.answer(("doc", (), None), start)
        assert isinstance(taken, Answer)
        gone = weakref.ref(taken)
        del taken
        gc.collect()
        assert gone() is None  # while the loop, and any timer of it, still runs

    asyncio.run(main())
