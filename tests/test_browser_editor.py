"""The editor page in real Chromium against a real daemon: two pages on one document see
each other's edits at once, on disk too; offline edits land exactly once; a viewer cannot
edit; every tool's edit is an operation; no page logs an error or breaks its policy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from browser import Served, Watched, wait_until
from lxml import etree
from samples import big_drawing

from svgx_sync.durable.journal import journal_path, read_journal

SVG = "{http://www.w3.org/2000/svg}"
LIVE_S = 15_000  # ms: a page goes live, an edit shows in the other page


@contextmanager
def contexts(chromium: Any, count: int) -> Iterator[list[Any]]:
    """``count`` browser contexts (separate storage: separate people), closed after."""
    made = [chromium.new_context(viewport={"width": 1200, "height": 800}) for _ in range(count)]
    try:
        yield made
    finally:
        for context in made:
            context.close()


def open_editor(
    watched: Any, context: Any, daemon: Served, document: str, user: str, **kw: Any
) -> Watched:
    """The editor of ``document`` as ``user``, once its badge says it is live."""
    from playwright.sync_api import expect

    state = kw.pop("state", "live")
    page: Watched = watched(context, daemon.editor(document, user=user, name=user.title(), **kw))
    expect(page.page.locator("#svgx-status")).to_have_attribute("data-state", state, timeout=LIVE_S)
    return page


def at(page: Any, x: float, y: float) -> tuple[float, float]:
    """A point of the canvas, in the page's pixels."""
    box = page.locator("[data-svgx-canvas]").bounding_box()
    return box["x"] + x, box["y"] + y


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    page.mouse.move(*at(page, *start))
    page.mouse.down()
    page.mouse.move(*at(page, *end), steps=steps)
    page.mouse.up()


def selected(page: Any) -> str:
    return str(page.evaluate("document.body.dataset.svgxSelected || ''"))


def draw(page: Any, tool: str, start: tuple[float, float], end: tuple[float, float]) -> str:
    """Draw with ``tool`` from ``start`` to ``end``; the id of the new element."""
    page.click(f'#svgx-toolbar [data-tool="{tool}"]')
    drag(page, start, end)
    new = selected(page)
    assert new, f"drawing with {tool} selected nothing"
    return new


def shape(page: Any, element_id: str) -> Any:
    return page.locator(f'[data-svgx-canvas] svg.svgx-drawing [id="{element_id}"]')


def on_disk(daemon: Served, document: str) -> dict[str, Any]:
    """The document's file as ``{id: element}`` (empty while it is not written yet)."""
    path = daemon.file(document)
    if not path.exists():
        return {}
    try:
        root = etree.parse(str(path)).getroot()
    except etree.XMLSyntaxError:
        return {}
    return {el.get("id"): el for el in root.iter() if el.get("id") is not None}


def ids_on_disk(daemon: Served, document: str) -> list[str]:
    """Every id in the file, duplicates kept."""
    text = daemon.file(document).read_text() if daemon.file(document).exists() else ""
    if not text:
        return []
    root = etree.fromstring(text.encode())
    return [str(el.get("id")) for el in root.iter() if el.get("id") is not None]


def journal_ops(daemon: Served, document: str) -> list[dict[str, Any]]:
    records = read_journal(journal_path(daemon.root / document / ".git", "main"))
    return [r.entry for r in records if hasattr(r, "entry")]


def adopted(daemon: Served, name: str, svg: str, scratch: Path) -> None:
    """A document ``name`` holding ``svg``, made beside the daemon's folder (so that it
    is a committed version, not another program's edit) and moved into it."""
    folder = scratch / name
    folder.mkdir(parents=True)
    (folder / "document.svg").write_text(svg)
    subprocess.run(
        [sys.executable, "-m", "svgx_sync", "init", str(folder)], check=True, capture_output=True
    )
    folder.rename(daemon.root / name)


def test_a_rectangle_drawn_in_one_page_shows_in_the_other_and_a_drag_moves_it_there_and_on_disk(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "plan", "ada")
        bob = open_editor(watched, two, daemon, "plan", "bob")
        rect = draw(ada.page, "rect", (100, 100), (220, 180))
        expect(shape(bob.page, rect)).to_have_count(1, timeout=LIVE_S)
        assert shape(bob.page, rect).evaluate("n => n.tagName") == "rect"
        width = shape(ada.page, rect).get_attribute("width")
        expect(shape(bob.page, rect)).to_have_attribute("width", width)

        x0 = float(shape(ada.page, rect).get_attribute("x"))
        drag(ada.page, (160, 140), (310, 240))
        x1 = shape(ada.page, rect).get_attribute("x")
        assert float(x1) > x0 + 50, (x0, x1)
        expect(shape(bob.page, rect)).to_have_attribute("x", x1, timeout=LIVE_S)
        wait_until(
            lambda: (
                on_disk(daemon, "plan").get(rect) is not None
                and on_disk(daemon, "plan")[rect].get("x") == x1
            ),
            "the moved rectangle in the file",
        )
        # one operation for the whole drag, not one per pointer move
        moves = [op for op in journal_ops(daemon, "plan") if op["operation_type"] == "move"]
        assert len(moves) == 1, moves
        ada.assert_clean()
        bob.assert_clean()


def test_each_tool_creates_its_element_and_the_file_holds_them(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "shapes", "ada")
        bob = open_editor(watched, two, daemon, "shapes", "bob")
        page = ada.page
        made = {
            "rect": draw(page, "rect", (40, 40), (140, 100)),
            "ellipse": draw(page, "ellipse", (200, 40), (300, 120)),
            "line": draw(page, "line", (40, 200), (240, 260)),
        }
        page.click('#svgx-toolbar [data-tool="polyline"]')
        for x, y in [(300, 200), (360, 230), (420, 200)]:
            page.mouse.click(*at(page, x, y))
        page.mouse.dblclick(*at(page, 480, 260))
        made["polyline"] = selected(page)
        page.click('#svgx-toolbar [data-tool="text"]')
        page.mouse.click(*at(page, 60, 360))
        page.keyboard.type("Kitchen")
        page.keyboard.press("Enter")
        made["text"] = selected(page)
        for tag, element_id in made.items():
            expect(shape(bob.page, element_id)).to_have_count(1, timeout=LIVE_S)
            assert shape(bob.page, element_id).evaluate("n => n.localName") == tag
        expect(shape(bob.page, made["text"])).to_have_text("Kitchen")
        points = shape(bob.page, made["polyline"]).get_attribute("points")
        assert len(points.split()) == 4, points  # three clicks and the double-click

        def all_written() -> bool:
            found = on_disk(daemon, "shapes")
            return (
                all(i in found and found[i].tag == SVG + t for t, i in made.items())
                and found[made["text"]].text == "Kitchen"
            )

        wait_until(all_written, "every shape in the file")
        kinds = {op["operation_type"] for op in journal_ops(daemon, "shapes")}
        assert kinds == {"create"}, kinds
        ada.assert_clean()
        bob.assert_clean()


def test_resize_handles_and_the_attributes_panel_change_the_element(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "sizes", "ada")
        bob = open_editor(watched, two, daemon, "sizes", "bob")
        page = ada.page
        rect = draw(page, "rect", (100, 100), (200, 160))
        width0 = float(shape(page, rect).get_attribute("width"))
        expect(shape(bob.page, rect)).to_have_count(1, timeout=LIVE_S)
        # the overlay is drawn again when the daemon's echo comes: a box of a live handle
        handle = wait_until(
            lambda: page.locator('[data-svgx-handle="se"]').bounding_box(), "the resize handle"
        )
        centre = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.move(*centre)
        page.mouse.down()
        page.mouse.move(centre[0] + 80, centre[1] + 40, steps=5)
        page.mouse.up()
        width1 = shape(page, rect).get_attribute("width")
        assert float(width1) > width0 + 40, (width0, width1)
        expect(shape(bob.page, rect)).to_have_attribute("width", width1, timeout=LIVE_S)

        fill = page.locator('#svgx-attributes [name="fill"]')
        expect(fill).to_have_value("#d9e8fb")
        fill.fill("#ff8800")
        fill.press("Enter")
        expect(shape(bob.page, rect)).to_have_attribute("fill", "#ff8800", timeout=LIVE_S)
        page.fill('#svgx-attributes [name="svgx-attr-name"]', "rx")
        page.fill('#svgx-attributes [name="svgx-attr-value"]', "6")
        page.click('#svgx-attributes [data-action="set-attribute"]')
        expect(shape(bob.page, rect)).to_have_attribute("rx", "6", timeout=LIVE_S)
        wait_until(
            lambda: (
                (el := on_disk(daemon, "sizes").get(rect)) is not None
                and el.get("fill") == "#ff8800"
                and el.get("rx") == "6"
                and el.get("width") == width1
            ),
            "the resized, refilled rectangle in the file",
        )
        kinds = [op["operation_type"] for op in journal_ops(daemon, "sizes")]
        assert kinds == ["create", "resize", "update", "update"], kinds
        ada.assert_clean()
        bob.assert_clean()


def test_undo_and_redo_send_inverse_operations_that_everyone_sees(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "undo", "ada")
        bob = open_editor(watched, two, daemon, "undo", "bob")
        page = ada.page
        rect = draw(page, "rect", (100, 100), (200, 160))
        x0 = shape(page, rect).get_attribute("x")
        drag(page, (150, 130), (250, 230))
        x1 = shape(page, rect).get_attribute("x")
        expect(shape(bob.page, rect)).to_have_attribute("x", x1, timeout=LIVE_S)
        page.keyboard.press("Control+z")
        expect(shape(bob.page, rect)).to_have_attribute("x", x0, timeout=LIVE_S)
        page.click('#svgx-toolbar [data-action="undo"]')  # the drawing itself
        expect(shape(bob.page, rect)).to_have_count(0, timeout=LIVE_S)
        page.click('#svgx-toolbar [data-action="redo"]')
        expect(shape(bob.page, rect)).to_have_attribute("x", x0, timeout=LIVE_S)
        page.keyboard.press("Control+Shift+z")
        expect(shape(bob.page, rect)).to_have_attribute("x", x1, timeout=LIVE_S)
        # an arrow key still held when undo comes: its move is sent first, then undone
        y1 = shape(page, rect).get_attribute("y")
        shape(page, rect).click()
        assert selected(page) == rect
        page.keyboard.down("ArrowUp")
        page.keyboard.press("Control+z")
        page.keyboard.up("ArrowUp")
        wait_until(lambda: len(journal_ops(daemon, "undo")) == 8, "the nudge and its undo")
        expect(shape(bob.page, rect)).to_have_attribute("y", y1, timeout=LIVE_S)
        wait_until(
            lambda: (
                (el := on_disk(daemon, "undo").get(rect)) is not None
                and (el.get("x"), el.get("y")) == (x1, y1)
            ),
            "the redone move in the file",
        )
        kinds = [op["operation_type"] for op in journal_ops(daemon, "undo")]
        assert kinds == ["create", "move", "move", "delete", "create", "move", "move", "move"], (
            kinds
        )
        dys = [op["data"].get("dy") for op in journal_ops(daemon, "undo")[-2:]]
        assert dys == [-1, 1], dys
        ada.assert_clean()
        bob.assert_clean()


def test_delete_duplicate_restack_and_arrow_keys(chromium: Any, served: Any, watched: Any) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "stack", "ada")
        bob = open_editor(watched, two, daemon, "stack", "bob")
        page = ada.page
        first = draw(page, "rect", (100, 100), (200, 160))
        second = draw(page, "ellipse", (300, 100), (400, 160))
        page.mouse.click(*at(page, 150, 130))
        assert selected(page) == first
        page.keyboard.press("]")  # bring forward: above the ellipse
        order = "() => [...document.querySelector('svg.svgx-drawing').children].map(n => n.id).filter(Boolean)"
        expect(
            bob.page.locator(f'svg.svgx-drawing > [id="{second}"] + [id="{first}"]')
        ).to_have_count(1, timeout=LIVE_S)
        x0 = float(shape(page, first).get_attribute("x"))
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("ArrowDown")
        expect(shape(bob.page, first)).to_have_attribute("x", _num(x0 + 10), timeout=LIVE_S)
        page.keyboard.press("Control+d")
        copy = selected(page)
        assert copy not in (first, second, "")
        expect(shape(bob.page, copy)).to_have_count(1, timeout=LIVE_S)
        page.keyboard.press("Delete")
        expect(shape(bob.page, copy)).to_have_count(0, timeout=LIVE_S)
        assert bob.page.evaluate(order) == [second, first]
        ada.assert_clean()
        bob.assert_clean()


def _num(value: float) -> str:
    """A number as the daemon writes it."""
    return str(int(value)) if value == int(value) else str(round(value, 6))


def test_edits_made_offline_land_once_when_the_page_is_back(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "away", "ada")
        bob = open_editor(watched, two, daemon, "away", "bob")
        page = ada.page
        one.set_offline(True)  # the page hears `offline` and lets its connection go
        expect(page.locator("#svgx-status")).to_have_attribute("data-state", "offline")
        rect = draw(page, "rect", (100, 100), (200, 160))
        drag(page, (150, 130), (250, 230))
        x1 = shape(page, rect).get_attribute("x")
        expect(page.locator("#svgx-status")).to_contain_text("2 edits waiting")
        kept = page.evaluate(
            "Object.keys(localStorage).filter(k => k.startsWith('svgx-outbox:'))"
            ".map(k => JSON.parse(localStorage[k]).map(op => op.op_id))"
        )
        assert [len(ids) for ids in kept] == [2], kept
        assert on_disk(daemon, "away").get(rect) is None
        one.set_offline(False)
        expect(page.locator("#svgx-status")).to_have_attribute("data-state", "live", timeout=LIVE_S)
        expect(shape(bob.page, rect)).to_have_attribute("x", x1, timeout=LIVE_S)
        wait_until(
            lambda: (el := on_disk(daemon, "away").get(rect)) is not None and el.get("x") == x1,
            "the offline edits in the file",
        )
        assert ids_on_disk(daemon, "away").count(rect) == 1
        entries = journal_ops(daemon, "away")
        assert sorted(op["op_id"] for op in entries) == sorted(kept[0]), entries
        ada.assert_clean()
        bob.assert_clean()


def test_edits_kept_across_a_reload_land_once(chromium: Any, served: Any, watched: Any) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "reload", "ada")
        bob = open_editor(watched, two, daemon, "reload", "bob")
        one.set_offline(True)
        expect(ada.page.locator("#svgx-status")).to_have_attribute("data-state", "offline")
        rect = draw(ada.page, "rect", (100, 100), (200, 160))
        ada.assert_clean()
        ada.page.close()  # the edit waits in localStorage
        one.set_offline(False)
        again = open_editor(watched, one, daemon, "reload", "ada")
        expect(shape(again.page, rect)).to_have_count(1, timeout=LIVE_S)
        expect(shape(bob.page, rect)).to_have_count(1, timeout=LIVE_S)
        wait_until(lambda: rect in on_disk(daemon, "reload"), "the kept edit in the file")
        assert ids_on_disk(daemon, "reload").count(rect) == 1
        creates = [op for op in journal_ops(daemon, "reload") if op["element_id"] == rect]
        assert len(creates) == 1, creates
        again.page.reload()
        expect(again.page.locator("#svgx-status")).to_have_attribute("data-state", "live")
        expect(shape(again.page, rect)).to_have_count(1)
        assert len(journal_ops(daemon, "reload")) == 1
        again.assert_clean()
        bob.assert_clean()


def test_a_viewer_gets_no_tools_and_its_edits_are_refused(
    chromium: Any, served: Any, watched: Any
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served(tokens=True)
    with contexts(chromium, 2) as (one, two):
        ada = open_editor(watched, one, daemon, "shown", "ada", token=daemon.token("editor", "ada"))
        vic_token = daemon.token("viewer", "vic")
        vic = open_editor(watched, two, daemon, "shown", "vic", token=vic_token, state="read-only")
        for tool in ("rect", "ellipse", "line", "polyline", "text"):
            expect(vic.page.locator(f'[data-tool="{tool}"]')).to_be_hidden()
        for action in ("delete", "duplicate", "undo", "redo"):
            expect(vic.page.locator(f'[data-action="{action}"]')).to_be_hidden()
        expect(vic.page.locator('#svgx-attributes [name="fill"]')).to_be_disabled()
        expect(ada.page.locator('[data-tool="rect"]')).to_be_visible()

        rect = draw(ada.page, "rect", (100, 100), (200, 160))
        expect(shape(vic.page, rect)).to_have_count(1, timeout=LIVE_S)
        x = shape(vic.page, rect).get_attribute("x")
        vic.page.mouse.click(*at(vic.page, 150, 130))  # selecting is allowed
        assert selected(vic.page) == rect
        drag(vic.page, (150, 130), (300, 260))
        vic.page.keyboard.press("Delete")
        assert shape(vic.page, rect).get_attribute("x") == x
        # the connection itself is refused an edit, whatever a page would send
        code = vic.page.evaluate(
            """async ({ token, id }) => {
              const { connect, memoryStorage } = await import('/svgx-client.js');
              const c = connect(`ws://${location.host}/`, { userId: 'vic', session: 'shown', token, storage: memoryStorage() });
              await c.ready;
              const refused = c.next('error', (e) => e.op_id !== undefined);
              c.move(id, { dx: 50, dy: 0 });
              const error = await refused;
              c.close();
              return error.code;
            }""",
            {"token": vic_token, "id": rect},
        )
        assert code == "forbidden"
        ada.page.keyboard.press("ArrowRight")
        expect(shape(vic.page, rect)).not_to_have_attribute("x", x, timeout=LIVE_S)
        kinds = [op["operation_type"] for op in journal_ops(daemon, "shown")]
        assert kinds == ["create", "move"], kinds
        ada.assert_clean()
        vic.assert_clean()


FRAME_AFTER_OPERATIONS = """
window.atNextFrame = [];
const Socket = window.WebSocket;
window.WebSocket = class extends Socket {
  constructor(...args) {
    super(...args);
    // registered before the page's own handler, so this runs first for each message
    this.addEventListener('message', (event) => {
      if (JSON.parse(event.data).type !== 'operations') return;
      requestAnimationFrame(() => {
        window.atNextFrame.push(document.getElementById('r0')?.getAttribute('x'));
      });
    });
  }
};
"""


def test_a_remote_operation_is_in_the_dom_before_the_next_frame_and_touches_one_element(
    chromium: Any, served: Any, watched: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    daemon: Served = served()
    markup = "".join(
        f'<rect id="r{i}" x="{(i % 50) * 12}" y="{(i // 50) * 12}" width="10" height="10"/>'
        for i in range(2000)
    )
    adopted(
        daemon,
        "grid",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="600" height="500">{markup}</svg>',
        tmp_path,
    )
    with contexts(chromium, 2) as (one, two):
        # Bob's page looks, at the first frame after each `operations` message arrives,
        # at what its DOM shows of r0.
        two.add_init_script(FRAME_AFTER_OPERATIONS)
        ada = open_editor(watched, one, daemon, "grid", "ada")
        bob = open_editor(watched, two, daemon, "grid", "bob")
        expect(shape(bob.page, "r1999")).to_have_count(1, timeout=LIVE_S)
        # Bob's page notes, for the next message, whether the change is in the DOM by the
        # next frame, and which nodes changed.
        bob.page.evaluate(
            """() => {
              const svg = document.querySelector('svg.svgx-drawing');
              window.seen = { before: new Set(svg.children), changed: new Set() };
              new MutationObserver((records) => {
                for (const r of records) window.seen.changed.add(r.target.id || r.target.nodeName);
              }).observe(svg, { subtree: true, attributes: true, childList: true });
            }"""
        )
        node = shape(ada.page, "r0")
        node.click(position={"x": 5, "y": 5})
        assert selected(ada.page) == "r0"
        ada.page.keyboard.press("Shift+ArrowRight")
        expect(shape(bob.page, "r0")).to_have_attribute("x", "10", timeout=LIVE_S)
        # the frame after the message may come after the check above saw the DOM
        bob.page.wait_for_function("window.atNextFrame.length > 0", timeout=LIVE_S)
        assert bob.page.evaluate("window.atNextFrame")[0] == "10"
        changed = bob.page.evaluate("[...window.seen.changed]")
        assert changed == ["r0"], changed
        same = bob.page.evaluate(
            "[...document.querySelector('svg.svgx-drawing').children].every(n => window.seen.before.has(n))"
        )
        assert same, "the other elements were drawn again"
        ada.assert_clean()
        bob.assert_clean()


def test_a_drag_in_a_large_drawing_touches_only_the_dragged_element(
    chromium: Any, served: Any, watched: Any, tmp_path: Path
) -> None:
    daemon: Served = served()
    markup = "".join(
        f'<circle id="c{i}" cx="{(i % 100) * 8 + 4}" cy="{(i // 100) * 8 + 4}" r="3"/>'
        for i in range(10_000)
    )
    adopted(
        daemon,
        "big",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800">{markup}</svg>',
        tmp_path,
    )
    with contexts(chromium, 1) as (one,):
        ada = open_editor(watched, one, daemon, "big", "ada")
        page = ada.page
        page.locator('[data-svgx-canvas] [id="c9999"]').wait_for(state="attached")
        page.evaluate(
            """() => {
              const svg = document.querySelector('svg.svgx-drawing');
              window.changed = new Set();
              new MutationObserver((records) => {
                for (const r of records) window.changed.add(r.target.id || r.target.nodeName);
              }).observe(svg, { subtree: true, attributes: true, childList: true });
            }"""
        )
        target = page.locator('[id="c0"]').bounding_box()
        start = (target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(start[0] + 200, start[1] + 150, steps=40)
        page.mouse.up()
        changed = page.evaluate("[...window.changed]")
        assert changed == ["c0"], changed[:10]
        wait_until(
            lambda: (el := on_disk(daemon, "big").get("c0")) is not None and el.get("cx") != "4",
            "the dragged circle in the file",
        )
        ada.assert_clean()


def test_active_content_in_a_file_never_reaches_the_page(
    chromium: Any, served: Any, watched: Any, tmp_path: Path
) -> None:
    daemon: Served = served()
    adopted(
        daemon,
        "trap",
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        "<script>window.ran = true</script>"
        '<rect id="bait" width="10" height="10" onclick="window.ran = true" onload="window.ran = true"/>'
        '<a id="link" href="javascript:window.ran=true"><circle id="dot" r="4"/></a>'
        '<a id="old" xlink:href="javascript:window.ran=true"><circle cx="30" r="4"/></a>'
        '<set attributeName="href" to="javascript:window.ran=true"/>'
        '<foreignObject id="fo"><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'
        "</svg>",
        tmp_path,
    )
    with contexts(chromium, 1) as (one,):
        ada = open_editor(watched, one, daemon, "trap", "ada")
        page = ada.page
        page.locator('[data-svgx-canvas] [id="dot"]').wait_for(state="attached")
        found = page.evaluate(
            """() => {
              const svg = document.querySelector('[data-svgx-canvas]');
              const all = [...svg.querySelectorAll('*')];
              return {
                scripts: svg.querySelectorAll('script, foreignObject, set').length,
                handlers: all.filter((n) => [...n.attributes].some((a) => a.name.startsWith('on'))).length,
                links: all.filter((n) => [...n.attributes].some((a) => /javascript:/i.test(a.value))).length,
                ran: window.ran === true,
              };
            }"""
        )
        assert found == {"scripts": 0, "handlers": 0, "links": 0, "ran": False}, found
        page.locator('[id="dot"]').click()
        assert page.evaluate("window.ran === true") is False
        ada.assert_clean()


def test_a_drawing_another_program_replaces_whole_reaches_the_open_editor_by_its_address(
    chromium: Any, served: Any, watched: Any, tmp_path: Path
) -> None:
    """A script writes a 20k-element sheet over a small drawing open in the editor: the
    sheet is taken whole and, too large to come inline, named by its address; the page
    fetches it and shows it, still live."""
    from playwright.sync_api import expect

    daemon: Served = served()
    adopted(daemon, "plan", big_drawing(3).decode(), tmp_path)
    with contexts(chromium, 1) as (one,):
        ada = open_editor(watched, one, daemon, "plan", "ada")
        page = ada.page
        page.locator('[data-svgx-canvas] [id="r2"]').wait_for(state="attached")
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        path = daemon.file("plan")
        temporary = path.with_name(".document.svg.tmp")
        temporary.write_bytes(big_drawing(20_000))
        os.replace(temporary, path)
        page.locator('[data-svgx-canvas] [id="r19999"]').wait_for(state="attached", timeout=LIVE_S)
        assert any(url.endswith("/d/plan@main/raw/document.svg") for url in fetched), fetched
        expect(page.locator("#svgx-status")).to_have_attribute("data-state", "live")
        ada.assert_clean()
