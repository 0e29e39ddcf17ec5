"""The recent written versions of a file: which one a save was made from, what a write
may replace, and how the record of them is kept."""

from __future__ import annotations

import random
import re
from pathlib import Path

import orjson
from samples import BASE

from svgx_sync.core.external import (
    closest_version,
    content_id,
    element_fingerprint,
    external_change,
    made_from_newest,
    may_replace,
)
from svgx_sync.durable.atomic import write_atomic
from svgx_sync.durable.bases import MAX_VERSIONS, WrittenBases

V0 = BASE
V1 = BASE.replace(b"</svg>", b'  <rect id="door" width="5"/>\n</svg>')  # created live
V2 = V1.replace(b'fill="red"', b'fill="blue"')  # and a fill changed live


# -- the rules ---------------------------------------------------------------------------------


def test_a_stale_copy_with_one_change_is_closest_to_the_version_it_was_loaded_from() -> None:
    saved = V0.replace(b'r="5"', b'r="9"')
    assert closest_version(saved, [V2, V1, V0]) == 2
    assert closest_version(V1.replace(b'r="5"', b'r="9"'), [V2, V1, V0]) == 1


def test_the_same_bytes_win_and_ties_go_to_the_newer_version() -> None:
    assert closest_version(V1, [V2, V1, V0]) == 1
    # Changing the attribute the newest version changed: as close to either; the newer.
    assert (
        closest_version(
            V2.replace(b'fill="blue"', b'fill="green"'),
            [V2, V1.replace(b'fill="red"', b'fill="pink"')],
        )
        == 0
    )


def test_formatting_does_not_count_and_a_broken_save_is_judged_on_the_newest() -> None:
    reformatted = V0.replace(b'x="1" y="2"', b"y='2' x='1'").replace(b"\n  ", b"\n    ")
    assert element_fingerprint(reformatted) == element_fingerprint(V0)
    assert closest_version(reformatted, [V2, V1, V0]) == 2
    assert element_fingerprint(V0[:40]) is None
    assert closest_version(V0[:40], [V2, V0]) == 0


def test_elements_without_ids_are_told_apart_by_place() -> None:
    plain = b'<svg xmlns="http://www.w3.org/2000/svg"><g><rect/><rect x="1"/></g><g/></svg>'
    moved = b'<svg xmlns="http://www.w3.org/2000/svg"><g><rect x="1"/><rect/></g><g/></svg>'
    assert element_fingerprint(plain) != element_fingerprint(moved)
    # Two rectangles changed places: two attributes away, against one.
    assert closest_version(moved, [plain, moved.replace(b"<rect/>", b'<rect y="3"/>')]) == 1


def _newest_by_tags(disk: bytes, versions: list[bytes]) -> bool:
    change = external_change(versions[0], versions[0], disk, "document.svg")
    known = made_from_newest(change, disk, versions)
    if known:  # never a different answer from the whole comparison
        assert closest_version(disk, versions) == 0
    return known


def test_a_save_from_the_newest_is_known_from_the_elements_it_changed() -> None:
    pink = V1.replace(b'fill="red"', b'fill="pink"')
    # The attribute the newest version changed, changed again: newest, without a whole read.
    assert _newest_by_tags(V2.replace(b'fill="blue"', b'fill="green"'), [V2, pink, V1])
    assert _newest_by_tags(V2.replace(b'r="5"', b'r="6"'), [V2, V1, V0])
    # A stale copy (the fill changed live is red again) is not known so: asked in full.
    stale = V1.replace(b'r="5"', b'r="9"')
    assert not _newest_by_tags(stale, [V2, V1, V0])
    assert closest_version(stale, [V2, V1, V0]) == 1
    # An element the older versions lack, an id written twice or in a comment, an
    # element without an id, or a namespace declared below the root: asked in full.
    assert not _newest_by_tags(V2.replace(b'width="5"', b'width="6"'), [V2, V0])
    twice = V2.replace(b"</svg>", b'<!-- <circle id="c" r="5"/> -->\n</svg>')
    assert not _newest_by_tags(twice.replace(b'r="5"/>\n', b'r="6"/>\n', 1), [twice, V1])
    plain = V2.replace(b'<rect id="door"', b"<rect")
    assert not _newest_by_tags(plain.replace(b'width="5"', b'width="7"'), [plain, V1])
    spaced = V2.replace(b"<circle", b'<circle xmlns:a="urn:a"')
    assert not _newest_by_tags(spaced.replace(b'r="5"', b'r="6"'), [spaced, V1])


def test_an_older_version_laid_out_by_another_program_does_not_make_a_save_unknown() -> None:
    # Inkscape's first save of a file written here gives the root, a <defs> and its
    # named view ids and writes every element again; its later saves change one fill.
    # The version from before that save is still among the recent ones: far from any
    # later save by the ids it lacks, so the newest is known without a whole read.
    inkscape = V2.replace(b"<svg ", b'<svg id="svg1" sodipodi:docname="d.svg" ', 1)
    inkscape = inkscape.replace(
        b'xmlns="http://www.w3.org/2000/svg"',
        b'xmlns="http://www.w3.org/2000/svg" '
        b'xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"',
        1,
    )
    inkscape = inkscape.replace(
        b"<circle",
        b'<defs id="defs1"/>\n  <sodipodi:namedview id="namedview1" pagecolor="#ffffff"/>'
        b"\n  <circle",
        1,
    )
    assert inkscape.count(b'id="') == V2.count(b'id="') + 3
    assert _newest_by_tags(inkscape.replace(b'fill="blue"', b'fill="green"'), [inkscape, V2])
    assert _newest_by_tags(inkscape.replace(b'r="5"', b'r="6"'), [inkscape, V1, V0])
    # Changed in more attributes than the missing ids can outweigh: asked in full.
    busy = inkscape.replace(
        b'fill="blue"', b'fill="green" stroke="red" opacity="1" class="a" rx="2"'
    )
    assert not _newest_by_tags(busy, [inkscape, V2])


def test_what_is_known_from_the_changed_elements_is_what_the_whole_comparison_says() -> None:
    rng = random.Random(12)
    rows = [f'  <rect id="e{n}" x="{n}" fill="gray"/>' for n in range(40)]
    known = 0
    for _ in range(150):

        def edited(lines: list[str]) -> list[str]:
            out = list(lines)
            for _ in range(rng.randint(1, 3)):
                k = rng.randrange(len(out))
                value = rng.choice(["red", "blue", "gray", "teal"])
                extra = rng.choice(["", ' stroke="black"', ' opacity="0.5"'])
                out[k] = re.sub(r' fill="[^"]*"[^/]*', f' fill="{value}"{extra}', out[k], count=1)
            return out

        history = [rows]
        for _ in range(rng.randint(1, 4)):
            history.append(edited(history[-1]))
        loaded = rng.choice(history)
        versions = [_drawing(v) for v in reversed(history)]
        for k in range(1, len(versions)):
            if rng.random() < 0.3:  # laid out by another program, ids given or taken
                versions[k] = _relaid(versions[k], rng)
        disk = _drawing(edited(loaded))
        if rng.random() < 0.2:
            disk = disk.replace(b"</svg>", b"<!-- a note -->\n</svg>")
        known += _newest_by_tags(disk, versions)
    assert known > 20


def _relaid(data: bytes, rng: random.Random) -> bytes:
    """``data`` as another program writes it: a root attribute more, every element's
    attributes on lines of their own, and a few elements given or stripped of an id."""
    out = data.replace(b"<svg ", b'<svg version="1.1" ', 1).replace(b'" ', b'"\n     ')
    for _ in range(rng.randint(0, 3)):
        n = rng.randrange(40)
        if rng.random() < 0.5:
            out = out.replace(b'<rect id="e%d"' % n, b"<rect", 1)
        else:
            out = out.replace(b"</svg>", b'<g id="x%d"/>\n</svg>' % n)
    return out


def _drawing(rows: list[str]) -> bytes:
    body = "\n".join(rows)
    return f'<svg xmlns="http://www.w3.org/2000/svg">\n{body}\n</svg>\n'.encode()


def test_a_write_may_replace_only_bytes_the_daemon_has_seen() -> None:
    seen = {content_id(V0), content_id(V1)}
    assert may_replace(V0, seen) and may_replace(V1, seen)
    assert not may_replace(V1.replace(b"red", b"teal"), seen)
    assert not may_replace(b"", seen)  # an editor caught half-way through its save
    assert may_replace(None, seen)  # nothing there to lose


# -- the shells --------------------------------------------------------------------------------


def test_a_guarded_write_leaves_an_unseen_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "document.svg"
    target.write_bytes(V0)
    seen = {content_id(V0)}
    assert write_atomic(target, V1, may_replace=lambda disk: may_replace(disk, seen))
    assert target.read_bytes() == V1
    outside = V1.replace(b"red", b"teal")
    target.write_bytes(outside)
    assert not write_atomic(target, V2, may_replace=lambda disk: may_replace(disk, seen))
    assert target.read_bytes() == outside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["document.svg"]  # no temporary left


def test_recent_versions_are_recorded_newest_first_bounded_and_reloaded(tmp_path: Path) -> None:
    bases = WrittenBases(tmp_path / "bases")
    versions = [BASE.replace(b'x="1"', f'x="{n}"'.encode()) for n in range(MAX_VERSIONS + 3)]
    for seq, data in enumerate(versions):
        bases.record({"document.svg": data}, {"document.svg": seq}, "abc")
    kept = bases.versions("document.svg")
    assert kept == [(versions[n], n) for n in reversed(range(3, MAX_VERSIONS + 3))]
    # Only the named bytes stay in the folder, and a new process reads the same record.
    assert len(list((tmp_path / "bases").iterdir())) == MAX_VERSIONS + 1
    again = WrittenBases(tmp_path / "bases")
    again.load()
    assert again.versions("document.svg") == kept and again.head == "abc"
    assert content_id(versions[-1]) in again.seen("document.svg")
    assert content_id(versions[0]) not in again.seen("document.svg")


def test_a_record_in_the_older_two_version_form_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "bases"
    folder.mkdir()
    for data in (V0, V1):
        (folder / content_id(data)).write_bytes(data)
    manifest = {
        "head": None,
        "files": {
            "document.svg": {
                "sha": content_id(V1),
                "seq": 4,
                "previous": content_id(V0),
                "previous_seq": 2,
            }
        },
    }
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    bases = WrittenBases(folder)
    bases.load()
    assert bases.versions("document.svg") == [(V1, 4), (V0, 2)]


def test_the_versions_of_files_a_checkout_kept_follow_them_to_the_new_branch(
    tmp_path: Path,
) -> None:
    main = WrittenBases(tmp_path / "written-main")
    for seq, data in enumerate((V0, V1, V2)):
        main.record(
            {"document.svg": data, "other.svg": data},
            dict.fromkeys(("document.svg", "other.svg"), seq),
            "abc",
        )
    feature = WrittenBases(tmp_path / "written-feature")
    feature.record({"document.svg": V2}, {"document.svg": 5}, "abc")  # taken at 3, merged to 5
    # document.svg is as main left it; other.svg was changed by the checkout.
    assert feature.follow(main, {"document.svg": V2, "other.svg": V0}, 3) == {"document.svg"}
    assert feature.versions("document.svg") == [(V2, 5), (V1, 3), (V0, 3)]
    assert feature.versions("other.svg") == []
    assert content_id(V0) in feature.seen("document.svg")
    again = WrittenBases(tmp_path / "written-feature")
    again.load()
    assert again.versions("document.svg") == [(V2, 5), (V1, 3), (V0, 3)]


def test_what_the_stale_reading_of_a_save_leaves_out_is_what_undoes_the_newer_versions() -> None:
    from svgx_sync.core.diff import diff_documents
    from svgx_sync.core.external import unread_changes

    deleted = V0.replace(b"  <", b"    <")  # V1's door deleted, re-indented
    assert closest_version(deleted, [V1, V0]) == 1
    (only,) = unread_changes(
        V1, V0, deleted, "document.svg", diff_documents(V0, deleted, "document.svg")
    )
    assert (only["operation_type"], only["element_id"]) == ("delete", "door")
    # A stale copy with one change of its own: its change is read, the live work is not undone.
    own = V0.replace(b'r="5"', b'r="9"')
    reading = diff_documents(V0, own, "document.svg")
    left_out = {
        (c["operation_type"], c["element_id"], str(c["data"]))
        for c in unread_changes(V2, V0, own, "document.svg", reading)
    }
    assert left_out == {
        ("delete", "door", "{}"),
        ("update", "r", "{'attributes': {'fill': 'red'}}"),
    }
    assert unread_changes(V2, V0, b"<svg", "document.svg", reading) == []
