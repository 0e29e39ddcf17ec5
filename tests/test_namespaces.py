"""Namespace declarations stay right whatever edits a document goes through.

A client on a real daemon drives constraints and assemblies (our namespace) and the
file on disk and in every version must stay well-formed, each prefix declared once; a
file that an older release broke that way still opens, repaired.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from test_watcher import Client, clients, run, serve, until
from wellformed import assert_wellformed, namespace_declarations, wellformed_problem

from svgx_sync.core.namespaces import SVGX_NS
from svgx_sync.daemon.server import Daemon
from svgx_sync.git.store import Store


async def send_op(
    client: Client, kind: str, element: str, data: dict[str, Any], op_id: str
) -> None:
    await client.send(
        type="operation",
        operation_type=kind,
        user_id="alice",
        element_id=element,
        data=data,
        op_id=op_id,
        timestamp=time.time(),
    )
    ack = await client.expect("ack", lambda m: m["op_id"] == op_id)
    assert ack["status"] == "applied", ack


def declared_once(data: bytes) -> None:
    assert_wellformed(data)
    counts = namespace_declarations(data)
    assert counts[("svgx", SVGX_NS)] == 1, counts
    assert all(n == 1 for n in counts.values()), counts


def test_constraints_and_assemblies_declare_our_namespace_once_on_disk_and_in_versions(
    tmp_path: Path, git: Any
) -> None:
    async def body(daemon: Daemon, folder: Path) -> None:
        (a,) = await clients(daemon, "alice")
        file = folder / "document.svg"
        await send_op(a, "create", "r1", {"type": "rectangle", "position": {"x": 1, "y": 2}}, "o1")
        await send_op(a, "constraint_add", "r1", {"constraint_type": "distance", "value": 5}, "o2")
        await until(lambda: b"r1-distance-1" in file.read_bytes(), "the debounced write")
        await send_op(a, "constraint_add", "r1", {"constraint_type": "distance", "value": 6}, "o3")
        await until(lambda: b"r1-distance-2" in file.read_bytes(), "the second write")
        declared_once(file.read_bytes())
        await send_op(a, "assembly_update", "a1", {"name": "Frame", "members": ["r1"]}, "o4")
        await send_op(a, "constraint_remove", "r1", {"constraint_id": "r1-distance-1"}, "o5")
        await until(lambda: b'id="a1"' in file.read_bytes(), "the third write")
        await until(lambda: b"r1-distance-1" not in file.read_bytes(), "the fourth write")
        declared_once(file.read_bytes())
        await a.send(
            type="version", action="create_version", created_by="alice", description="Frame"
        )
        await a.expect("version_created")
        await a.send(type="version", action="create_branch", branch="idea")
        await a.expect("branch_created")
        await a.send(type="version", action="switch_branch", branch="idea")
        await a.expect("welcome", lambda m: m["branch"] == "idea")
        await send_op(a, "assembly_update", "a1", {"name": "Frame 2"}, "o6")
        await a.close()

    run(tmp_path, body, write_debounce_ms=200)
    repo = tmp_path / "docs" / "doc"
    for ref in ("main", "refs/svgx/live/idea"):
        declared_once(git(repo, "show", f"{ref}:document.svg").encode())
    git(repo, "fsck", "--strict")


BROKEN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"'
    b' xmlns:svgx="https://svgx-sync.dev/ns/1" xmlns:svgx="https://svgx-sync.dev/ns/1">\n'
    b'  <rect id="r" x="1" y="2" width="10" height="10" fill="red"/>\n'
    b'  <metadata id="svgx-model">\n'
    b'    <svgx:constraint id="r-distance-1" element="r" type="distance" value="5"/>\n'
    b"  </metadata>\n"
    b"</svg>\n"
)


def test_a_file_broken_by_a_repeated_declaration_still_opens_repaired(
    tmp_path: Path, git: Any, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "docs"
    doc = Store(root).create("doc")
    doc.commit(
        {"document.svg": BROKEN},
        user_id="u-0",
        username="Old release",
        description="Broken by an old release",
        update_workdir=True,
    )
    caplog.set_level(logging.WARNING)

    async def body(daemon: Daemon, folder: Path) -> None:
        a = await Client.connect(daemon)
        welcome = await a.join("alice")
        assert 'id="r-distance-1"' in welcome["files"]["document.svg"]
        declared_once(welcome["files"]["document.svg"].encode())
        file = folder / "document.svg"
        # Written out repaired, before anyone edits (Inkscape could not open it as it was).
        await until(lambda: wellformed_problem(file.read_bytes()) is None, "the repaired write")
        assert file.read_bytes() == BROKEN.replace(f' xmlns:svgx="{SVGX_NS}"'.encode(), b"", 1)
        await send_op(a, "update", "r", {"attributes": {"fill": "blue"}}, "o1")
        await until(lambda: b'fill="blue"' in file.read_bytes(), "the write")
        declared_once(file.read_bytes())
        await a.send(
            type="version", action="revert", version_id=welcome["version_id"], created_by="alice"
        )
        reverted = await a.expect("version_reverted")
        declared_once(reverted["files"]["document.svg"].encode())
        await a.close()

    serve(root, doc.path, body)
    assert any(
        "repaired" in r.getMessage() and "xmlns:svgx" in r.getMessage() for r in caplog.records
    )


# -- the writer, without a daemon -------------------------------------------------------

from svgx_sync.core.svgdoc import SvgDocument  # noqa: E402

OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:q="urn:q">'


def written(doc: SvgDocument, *, once: bool = True) -> SvgDocument:
    """Write ``doc`` out, check the bytes (each binding declared once in the whole file,
    with ``once``), and read them back."""
    data = doc.commit_render()
    assert_wellformed(data)
    assert not once or all(n == 1 for n in namespace_declarations(data).values()), data
    return SvgDocument(data)


def test_an_element_moved_out_of_the_scope_of_its_prefix_takes_the_declaration_along() -> None:
    doc = SvgDocument(
        f'{OPEN}\n  <g id="g" xmlns:foo="urn:foo">\n    <rect id="r" foo:a="1"/>\n  </g>\n</svg>'.encode()
    )
    doc.move(doc.get("r"), doc.root, len(doc.root))
    again = written(doc, once=False)
    assert again.get("r").get("{urn:foo}a") == "1" and again.get("r").getparent() is again.root


def test_an_element_carried_out_of_its_prefixes_scope_inside_a_new_element_keeps_them() -> None:
    # r was moved into a new element while both were where foo is declared; the new
    # element then leaves, r inside it: r's own text still says foo:a.
    doc = SvgDocument(
        f'{OPEN}\n  <g id="g" xmlns:foo="urn:foo">\n    <rect id="r" foo:a="1"/>\n  </g>\n</svg>'.encode()
    )
    box = doc.new_element("{http://www.w3.org/2000/svg}g", {"id": "box"})
    doc.insert(doc.get("g"), len(doc.get("g")), box)
    doc.move(doc.get("r"), box, 0)
    doc.move(box, doc.root, len(doc.root))
    again = written(doc, once=False)
    assert again.get("r").get("{urn:foo}a") == "1" and again.get("r").getparent() is again.get(
        "box"
    )


def test_attributes_in_new_namespaces_are_declared_once_on_the_root_under_their_source_prefix() -> (
    None
):
    doc = SvgDocument(f'{OPEN}\n  <rect id="r"/>\n</svg>'.encode())
    r = doc.get("r")
    doc.set_attribute(r, "{urn:foo}a", "1", prefix="foo")
    doc.set_attribute(
        doc.root, "{http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd}docname", "d.svg"
    )
    # "q" is bound to another namespace already: a new one never takes it.
    doc.set_attribute(r, "{urn:other}b", "2", prefix="q")
    again = written(doc)
    for n in range(3):  # and again: nothing is declared a second time
        doc.set_attribute(doc.get("r"), "{urn:foo}a", str(n), prefix="foo")
        doc.set_attribute(doc.root, "{urn:other}c", str(n))
        again = written(doc)
    root = again.root
    assert root.nsmap["foo"] == "urn:foo" and root.nsmap["q"] == "urn:q"
    assert root.nsmap["sodipodi"] == "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
    assert again.get("r").get("{urn:other}b") == "2" and again.get("r").get("{urn:foo}a") == "2"
    assert b'xmlns:foo="urn:foo"' in again.source.encode() and "sodipodi:docname" in again.source


def test_markup_of_an_element_declares_what_its_ancestors_did() -> None:
    doc = SvgDocument(f'{OPEN}<g xmlns:foo="urn:foo"><rect id="r" foo:a="1"/></g></svg>'.encode())
    copy = doc.parse_fragment(doc.markup_of(doc.get("r")))
    assert copy.get("{urn:foo}a") == "1"


def test_a_prefix_declared_twice_with_different_namespaces_is_still_refused() -> None:
    from svgx_sync.errors import DocumentError

    with pytest.raises(DocumentError, match="not well-formed"):
        SvgDocument(b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:a="urn:1" xmlns:a="urn:2"/>')


# -- operations naming attributes in other namespaces -----------------------------------

from svgx_sync.core.ops import apply_operation, coerce_operation  # noqa: E402
from svgx_sync.errors import OperationError  # noqa: E402


def update(element: str, data: dict[str, Any]) -> Any:
    return coerce_operation(
        {"operation_type": "update", "user_id": "u", "element_id": element, "data": data}
    )


def test_an_update_may_bind_its_prefixes_and_its_inverse_undoes_it() -> None:
    doc = SvgDocument(f'{OPEN}\n  <rect id="r"/>\n</svg>\n'.encode())
    op = update(
        "r",
        {
            "attributes": {"acme:rev": "7", "inkscape:label": "Door"},
            "namespaces": {"acme": "urn:acme"},
        },
    )
    (inverse,) = apply_operation(doc, op)
    assert inverse.data == {
        "attributes": {"acme:rev": None, "inkscape:label": None},
        "namespaces": {"acme": "urn:acme"},
    }
    again = written(doc)
    assert again.get("r").get("{urn:acme}rev") == "7"
    assert again.root.nsmap["inkscape"] == "http://www.inkscape.org/namespaces/inkscape"
    apply_operation(doc, inverse)
    assert written(doc).get("r").attrib == {"id": "r"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"attributes": {"acme:rev": "7"}}, "declare it in data.namespaces"),
        (
            {"attributes": {"a:x": "1"}, "namespaces": {"xmlns": "urn:a"}},
            "invalid namespace prefix",
        ),
        ({"attributes": {"a:x": "1"}, "namespaces": {"a": ""}}, "invalid namespace URI"),
        ({"attributes": {"a:x": "1"}, "namespaces": ["a"]}, "prefix: namespace URI"),
        # The first name is fine, the second is not: nothing is declared for the first.
        ({"attributes": {"a:x": "1", "b:y": "2"}, "namespaces": {"a": "urn:a"}}, "b:y"),
    ],
)
def test_an_unusable_namespace_is_refused_and_changes_nothing(
    data: dict[str, Any], reason: str
) -> None:
    source = f'{OPEN}\n  <rect id="r"/>\n</svg>\n'.encode()
    doc = SvgDocument(source)
    with pytest.raises(OperationError, match=reason):
        apply_operation(doc, update("r", data))
    assert doc.to_bytes() == source


def test_markup_sent_to_clients_declares_what_the_root_does_not() -> None:
    from svgx_sync.core.diff import diff_documents

    old = f"{OPEN}\n</svg>\n".encode()
    new = (
        f'{OPEN[:-1]} xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd">\n'
        '  <sodipodi:namedview id="nv"/>\n</svg>\n'
    ).encode()
    (create,) = diff_documents(old, new, "document.svg")
    markup = create["data"]["markup"]
    assert_wellformed(markup.encode())  # on its own, as a client's DOMParser reads it
    doc = SvgDocument(old)
    inverse = apply_operation(doc, coerce_operation({**create, "user_id": "u"}))
    assert (
        written(doc).root.nsmap["sodipodi"] == "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
    )
    (restore,) = apply_operation(doc, inverse[0])  # the inverse of a delete is a create
    assert "sodipodi:namedview" in restore.data["markup"]
    apply_operation(doc, restore)
    assert (
        written(doc).get("nv").tag
        == "{http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd}namedview"
    )
