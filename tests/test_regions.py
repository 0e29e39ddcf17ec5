"""The diff by regions of text gives what the complete diff gives, or declines.

:func:`svgx_sync.core.regions.regions_diff` is a shortcut of
:func:`svgx_sync.core.diff.diff_documents`: on every input here it either answers None or
answers exactly the complete diff's operations, and it never answers for a pair the
complete diff refuses. Versions are made the way files change in practice: edits through
:class:`SvgDocument` written by the minimal-diff writer (most of the text stays), and
byte-level damage.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from corpus import CORPUS, readable_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from svgx_sync.core import changes, diff, merge, regions
from svgx_sync.core.merge import Versions
from svgx_sync.core.regions import laid_out_alike, regions_changes, regions_diff, regions_merge
from svgx_sync.core.svgdoc import SvgDocument, is_element
from svgx_sync.errors import DocumentError

SVG = "{http://www.w3.org/2000/svg}"


def complete(old: bytes, new: bytes) -> list[dict[str, Any]] | None:
    """The complete diff's answer, None when it refuses the pair."""
    try:
        return [diff._as_dict(op) for op in diff._complete_diff(old, new, "f.svg")]
    except DocumentError:
        return None


def quick(old: bytes, new: bytes) -> list[dict[str, Any]] | None:
    ops = regions_diff(old, new, "f.svg", lambda a, b: diff._Differ(a, b, "f.svg", diff.DIFF_USER))
    return None if ops is None else [diff._as_dict(op) for op in ops]


def check(old: bytes, new: bytes) -> bool:
    """Asserts the shortcut agrees; returns whether it answered."""
    answer = quick(old, new)
    if answer is None:
        return False
    assert answer == complete(old, new)
    return True


def plan(
    n: int, rng: random.Random, *, ids: float = 1.0, text: bool = False, refs: float = 0.0
) -> bytes:
    """A drawing of ``n`` leaves in nested groups, one element per line; ``refs``: the
    share of leaves that refer to another (``href`` or ``url(#...)``)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<svg xmlns="http://www.w3.org/2000/svg">']
    made = 0
    for g in range(max(1, n // 20)):
        lines.append(f'  <g id="g{g}">')
        for _ in range(20):
            ident = f' id="e{made}"' if rng.random() < ids else ""
            target = f"e{rng.randrange(n)}"
            if rng.random() < refs:
                if rng.random() < 0.5:
                    lines.append(f'    <use{ident} href="#{target}"/>')
                else:
                    lines.append(f'    <rect{ident} x="{made}" fill="url(#{target})"/>')
            elif text and rng.random() < 0.1:
                lines.append(f"    <text{ident} x='{made}'>label {made}</text>")
            elif rng.random() < 0.1:
                lines.append(f'    <g{ident} class="c"><rect x="{made}"/><circle r="2"/></g>')
            else:
                lines.append(f'    <rect{ident} x="{made}" y="{rng.randrange(99)}"/>')
            made += 1
        lines.append("  </g>")
    lines.append("</svg>")
    return ("\n".join(lines) + "\n").encode()


def edit(data: bytes, rng: random.Random, edits: int, *, gentle: bool = False) -> bytes:
    """``edits`` random changes through SvgDocument, written by the minimal-diff writer;
    ``gentle``: only deletions, insertions of elements with ids and attribute edits (the
    changes the shortcuts take)."""
    doc = SvgDocument(data)
    for _ in range(edits):
        elements = [e for e in doc.elements() if e is not doc.root]
        if not elements:
            break
        el = rng.choice(elements)
        parent = el.getparent()
        kind = rng.choice([0, 1, 3]) if gentle else rng.randrange(8)
        if kind == 0:
            doc.remove(el)
        elif kind == 1:
            fresh = {"id": f"n{rng.randrange(10**6)}"}
            attrib = {"x": "1"} if rng.random() < 0.3 and not gentle else fresh
            doc.insert(
                parent, rng.randrange(len(parent) + 1), doc.new_element(f"{SVG}rect", attrib)
            )
        elif kind == 2:
            targets = [
                t for t in doc.elements() if t is not el and el not in set(t.iterancestors())
            ]
            target = rng.choice(targets)
            doc.move(el, target, rng.randrange(len(target) + 1))
        elif kind == 3:
            doc.set_attribute(el, "fill", f"#{rng.randrange(4096):03x}")
        elif kind == 4:
            doc.set_attribute(el, rng.choice(sorted(el.attrib) or ["x"]), None)
        elif kind == 5:
            doc.set_text(el, rng.choice(["hi", None, "\n  "]))
        elif kind == 6:
            others = [e.get("id") for e in elements if e.get("id")]
            doc.set_attribute(
                el,
                "id",
                rng.choice(others) if others and rng.random() < 0.3 else f"i{rng.randrange(99)}",
            )
        else:
            doc.set_tail(el, rng.choice(["tail", "\n    "]))
    return doc.to_bytes()


def damage(data: bytes, rng: random.Random) -> bytes:
    """A byte-level change that may break the file."""
    at = rng.randrange(len(data))
    piece = rng.choice([b"<", b">", b"&", b'"', b"</g>", b"<g>", b"", b"<!-- c -->", b"\xff"])
    cut = rng.randrange(4)
    return data[:at] + piece + data[at + cut :]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**32),
    st.integers(1, 12),
    st.sampled_from([1.0, 0.9, 0.5]),
    st.booleans(),
    st.booleans(),
)
def test_agrees_with_the_complete_diff_on_random_edits(
    seed: int, edits: int, ids: float, text: bool, gentle: bool
) -> None:
    """The operations, and the diff page's entries (:func:`check_changes`)."""
    rng = random.Random(seed)
    old = plan(rng.randrange(20, 200), rng, ids=ids, text=text)
    new = edit(old, rng, edits, gentle=gentle)
    for a, b in ((old, new), (new, old)):
        check(a, b)
        check_changes(a, b)


_PIECES = ["<", ">", "a", " ", "\n", "é", "ü", "<g>", "</g>", '<r id="x"/>', "€"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=40),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 4), st.sampled_from(_PIECES))),
    st.sampled_from(["utf-8", "ascii", "iso-8859-1"]),
)
def test_the_old_version_is_cut_as_it_would_be_alone_sharing_the_new_ones_units(
    body: list[str], edits: list[tuple[int, int, str]], encoding: str
) -> None:
    text = "".join(body)
    for at, drop, piece in edits:  # replace ``drop`` characters at ``at`` by ``piece``
        at %= len(text) + 1
        text = text[:at] + piece + text[at + drop :]
    declared = f"<?xml version='1.0' encoding='{encoding}'?>"
    try:
        old = (declared + "".join(body)).encode(encoding)
        new = (declared + text).encode(encoding)
    except UnicodeEncodeError:
        return
    units = new.decode(encoding).split("<")
    beside = regions._units_beside(old, new, units, encoding)
    assert beside == old.decode(encoding).split("<")


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
def test_a_small_change_leaves_the_old_version_the_new_ones_units(encoding: str) -> None:
    rects = "".join(f'<rect id="r{i}" x="{i}" fill="#ccc"/>\n' for i in range(2000))
    declared = f"<?xml version='1.0' encoding='{encoding}'?>\n<svg>\n"
    old = (declared + rects + "<text>Größe</text></svg>\n").encode(encoding)
    new = old.replace(b'"r1000" x="1000" fill="#ccc"', b'"r1000" x="1000" fill="red"')
    units = new.decode(encoding).split("<")
    beside = regions._units_beside(old, new, units, encoding)
    assert beside == old.decode(encoding).split("<")
    own = [k for k, unit in enumerate(beside) if unit is not units[k]]
    # UTF-8: only the changed unit is the old version's own; Latin-1 is cut whole
    assert own == ([1003] if encoding == "utf-8" else list(range(1, len(units))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(1, 4))
def test_declines_what_the_complete_diff_refuses(seed: int, hits: int) -> None:
    rng = random.Random(seed)
    old = plan(rng.randrange(20, 100), rng, ids=0.9, text=True)
    new = edit(old, rng, 3)
    for _ in range(hits):
        new = damage(new, rng)
    check(old, new)
    check(new, old)


def test_answers_for_attribute_edits_inserts_and_deletes() -> None:
    # The shortcut must actually be taken on the common case, or the tests above prove
    # nothing about it.
    rng = random.Random(7)
    old = plan(2000, rng)
    doc = SvgDocument(old)
    ids = [i for i in doc.ids if i.startswith("e")]
    for n, ident in enumerate(rng.sample(ids, 60)):
        el = doc.ids[ident]
        if n % 3 == 0:
            doc.remove(el)
        elif n % 3 == 1:
            parent = el.getparent()
            doc.insert(parent, parent.index(el), doc.new_element(f"{SVG}rect", {"id": f"k{n}"}))
        else:
            doc.set_attribute(el, "x", str(n))
    new = doc.to_bytes()
    assert check(old, new)
    assert check(new, old)
    assert diff.diff_documents(old, new, "f.svg") == complete(old, new)


def test_declines_a_move_between_regions_and_positional_addresses() -> None:
    old = plan(200, random.Random(1), ids=1.0)
    doc = SvgDocument(old)
    doc.move(doc.ids["e3"], doc.ids["g7"], 2)
    moved = doc.to_bytes()
    assert quick(old, moved) is None
    assert complete(old, moved)
    anonymous = plan(200, random.Random(1), ids=0.0)
    doc = SvgDocument(anonymous)
    doc.set_attribute(doc.get("/3/4"), "x", "5")
    assert quick(anonymous, doc.to_bytes()) is None


def over_corpus(
    make: Callable[[bytes, random.Random], tuple[bytes, ...]],
    compare: Callable[..., int],
) -> tuple[int, int]:
    """``compare(data, *make(data, rng))`` for every readable corpus file: how many
    were compared, and the sum of what ``compare`` answered."""
    answered = checked = 0
    failures: list[str] = []
    for path, data, rng in readable_corpus():
        try:
            made = make(data, rng)
        except Exception:  # an edit the document refuses (a namespace, say): not ours
            continue
        try:
            answered += compare(data, *made)
            checked += 1
        except AssertionError as exc:
            failures.append(f"{path.relative_to(CORPUS)}: {exc!r}"[:300])
    assert not failures, "\n".join(failures[:10]) + f"\n({len(failures)} failures)"
    return checked, answered


def test_agrees_over_the_corpus() -> None:
    checked, answered = over_corpus(
        lambda data, rng: (edit(data, rng, rng.randrange(1, 5)),),
        lambda data, new: check(data, new) + check(new, data),
    )
    assert checked > 1000
    assert answered > 100


def test_elements_without_ids_inside_changed_elements() -> None:
    old = b"""<svg xmlns="http://www.w3.org/2000/svg">
  <g id="a">
    <g id="b"><rect x="1"/><rect x="2"/><title>t</title></g>
    <g id="c"><rect x="1"/></g>
  </g>
</svg>
"""
    doc = SvgDocument(old)
    inner = [c for c in doc.ids["b"] if is_element(c)]
    doc.set_attribute(inner[1], "x", "9")
    doc.remove(inner[0])
    new = doc.to_bytes()
    answer = quick(old, new)
    assert answer is None or answer == complete(old, new)
    assert complete(old, new)
    assert etree.fromstring(new) is not None


# -- what changed, for the diff page -----------------------------------------------------------


def changes_complete(old: bytes, new: bytes) -> list[dict[str, Any]] | None:
    try:
        old_doc, new_doc = SvgDocument(old), SvgDocument(new)
    except DocumentError:
        return None
    return changes.document_changes(old_doc, new_doc, "f.svg")


def check_changes(old: bytes, new: bytes) -> bool:
    """Asserts the entries told from the text are the complete comparison's; returns
    whether the text told them."""
    answer = regions_changes(old, new, "f.svg", changes.document_changes)
    if answer is None:
        return False
    assert answer == changes_complete(old, new)
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(1, 4))
def test_changes_decline_what_the_complete_comparison_refuses(seed: int, hits: int) -> None:
    rng = random.Random(seed)
    old = plan(rng.randrange(20, 100), rng)
    new = old
    for _ in range(hits):
        new = damage(new, rng)
    if changes_complete(old, new) is None:
        assert regions_changes(old, new, "f.svg", changes.document_changes) is None


def test_changes_agree_over_the_corpus() -> None:
    checked, answered = over_corpus(
        lambda data, rng: (edit(data, rng, rng.randrange(1, 5)),),
        lambda data, new: check_changes(data, new) + check_changes(new, data),
    )
    assert checked > 1000
    assert answered > 100


def test_changes_in_nested_and_flat_parents_name_whole_positions() -> None:
    """Positions in the answer are the whole versions', not the small documents': an
    element inserted in one group shifts its later siblings there and nowhere else, and
    an element without an id inside a changed one is named by its position."""
    rng = random.Random(7)
    old = plan(400, rng, ids=1.0)
    doc = SvgDocument(old)
    doc.insert(doc.ids["g3"], 4, doc.new_element(f"{SVG}rect", {"id": "fresh"}))
    doc.remove(doc.ids["e250"])
    doc.set_attribute(doc.ids["e399"], "fill", "red")
    group = doc.ids["e12"] if len(doc.ids["e12"]) else None
    if group is not None:
        doc.set_attribute(group[0], "x", "-1")
    new = doc.to_bytes()
    answer = regions_changes(old, new, "f.svg", changes.document_changes)
    assert answer is not None
    assert answer == changes_complete(old, new)
    kinds = {entry["element_id"]: entry["kind"] for entry in answer}
    assert kinds["fresh"] == "added" and kinds["e250"] == "removed"
    fresh = next(entry for entry in answer if entry["element_id"] == "fresh")
    assert fresh["path"] == {"old": None, "new": "/3/4"}


def test_changes_decline_a_whitespace_change_beside_a_parents_own_words() -> None:
    """A parent with words of its own among its children: whitespace added in a region
    changes its own text, which only the complete comparison lists."""
    rows = "".join(f'<rect id="r{i}" x="{i}"/>\n' for i in range(3000))
    old = f'<svg xmlns="http://www.w3.org/2000/svg"><g id="g">Plan\n{rows}</g></svg>'
    new = old.replace('<rect id="r1500" x="1500"/>\n', '<rect id="r1500" x="1500"/>\n\n')
    assert changes_complete(old.encode(), new.encode()) != []
    assert regions_changes(old.encode(), new.encode(), "f.svg", changes.document_changes) is None
    assert check_changes(old.encode(), old.replace('x="7"', 'x="8"').encode())


# -- three-way merges ---------------------------------------------------------------------------


def merge_complete(base: bytes, ours: bytes, theirs: bytes) -> Any:
    try:
        r = merge._merge(Versions(base, ours, theirs), "f.svg", by_regions=False)
    except DocumentError:
        return None
    return (r.merged, r.conflicts, r.notes)


def merge_quick(base: bytes, ours: bytes, theirs: bytes) -> Any:
    answer = regions_merge(
        (base, ours, theirs),
        lambda b, o, t: merge._run(Versions(b, o, t), "f.svg"),
    )
    return None if answer is None else answer[:3]  # without the units it touched


def check_merge(base: bytes, ours: bytes, theirs: bytes) -> bool:
    if len({base, ours, theirs}) < 3:
        return False  # merge_documents answers these before any merging
    answer = merge_quick(base, ours, theirs)
    if answer is None:
        return False
    assert answer == merge_complete(base, ours, theirs)
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**32),
    st.integers(1, 8),
    st.integers(1, 8),
    st.sampled_from([1.0, 0.9]),
    st.booleans(),
    st.booleans(),
)
def test_merge_agrees_with_the_complete_merge(
    seed: int, ours_edits: int, theirs_edits: int, ids: float, text: bool, gentle: bool
) -> None:
    rng = random.Random(seed)
    base = plan(rng.randrange(20, 200), rng, ids=ids, text=text)
    ours = edit(base, rng, ours_edits, gentle=gentle)
    theirs = edit(base, rng, theirs_edits, gentle=gentle)
    check_merge(base, ours, theirs)
    check_merge(base, theirs, ours)
    check_merge(ours, base, theirs)


def test_merge_declines_where_ours_alone_edits_a_child_without_an_id() -> None:
    # The complete merge pairs id-less siblings across the whole parent, so a region
    # ours alone changed (kept as ours has it) must not hold one either.
    rows = "".join(f'    <rect id="e{k}" x="{k}"/>\n' for k in range(10))
    base = (
        '<svg xmlns="http://www.w3.org/2000/svg">\n  <g id="g2">\n'
        + rows
        + '    <g class="c"><rect x="42"/><circle r="2"/></g>\n'
        + rows.replace('id="e', 'id="f')
        + '    <g class="c"><rect x="50"/><circle r="2"/></g>\n'
        + rows.replace('id="e', 'id="h')
        + "  </g>\n</svg>\n"
    )
    ours = base.replace('<g class="c"><rect x="42"/>', '<g class="c" fill="#237"><rect x="42"/>')
    theirs = base.replace('<rect x="50"/>', '<rect x="50"/><rect id="n1"/>')
    versions = [v.encode() for v in (base, ours, theirs)]
    assert merge_complete(*versions) is not None
    assert not check_merge(*versions)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(1, 8), st.integers(1, 8), st.sampled_from([0.05, 0.3]))
def test_merge_with_references_agrees_with_the_complete_merge(
    seed: int, ours_edits: int, theirs_edits: int, refs: float
) -> None:
    rng = random.Random(seed)
    base = plan(rng.randrange(20, 200), rng, refs=refs)
    ours = edit(base, rng, ours_edits, gentle=True)
    theirs = edit(base, rng, theirs_edits, gentle=True)
    check_merge(base, ours, theirs)
    check_merge(base, theirs, ours)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(0, 2))
def test_merge_declines_what_the_complete_merge_refuses(seed: int, which: int) -> None:
    rng = random.Random(seed)
    base = plan(rng.randrange(20, 100), rng, ids=0.9)
    versions = [base, edit(base, rng, 2), edit(base, rng, 2)]
    versions[which] = damage(versions[which], rng)
    check_merge(*versions)


def test_merge_answers_for_edits_on_different_elements() -> None:
    rng = random.Random(3)
    base = plan(2000, rng)
    doc = SvgDocument(base)
    ids = [i for i in doc.ids if i.startswith("e")]
    chosen = rng.sample(ids, 80)

    def side(picked: list[str], tag: str) -> bytes:
        d = SvgDocument(base)
        for n, ident in enumerate(picked):
            el, kind = d.ids[ident], ("delete", "insert", "fill", "fill")[n % 4]
            if kind == "delete":
                d.remove(el)
            elif kind == "insert":
                circle = d.new_element(f"{SVG}circle", {"id": f"{tag}{n}"})
                d.insert(el.getparent(), el.getparent().index(el) + 1, circle)
            else:
                d.set_attribute(el, kind, f"#{n:06x}")
        return d.to_bytes()

    ours, theirs = side(chosen[:40], "o"), side(chosen[40:], "t")
    assert check_merge(base, ours, theirs)
    result = merge.merge_documents(Versions(base, ours, theirs), file="f.svg")
    assert (result.merged, result.conflicts, result.notes) == merge_complete(base, ours, theirs)
    # Both sides edit one attribute of one element differently: a conflict, the same one.
    d1, d2 = SvgDocument(base), SvgDocument(base)
    d1.set_attribute(d1.ids["e5"], "x", "1")
    d2.set_attribute(d2.ids["e5"], "x", "2")
    d2.set_attribute(d2.ids["e900"], "x", "3")
    assert check_merge(base, d1.to_bytes(), d2.to_bytes())


def test_merge_agrees_over_the_corpus() -> None:
    checked, answered = over_corpus(
        lambda data, rng: (
            edit(data, rng, rng.randrange(1, 4)),
            edit(data, rng, rng.randrange(1, 4)),
        ),
        check_merge,
    )
    assert checked > 1000
    assert answered > 10


_VALUE = re.compile(r"""(\s)(x|y|fill|class|r)(=)"([^"]*)\"""")
_WRITES = [
    ' {k}="7"',
    " {k}='7'",
    ' {k} = "7"',
    '  {k}="7"',
    ' {k}="a&amp;b"',
    ' {k}="a&#10;b"',
    ' {k}="a\nb"',
    ' {k}="a\tb"',
    ' {k}="url(#e3)"',
    ' {k}="#e1"',
    ' {k}=""',
    ' {k}="a>b"',
    ' href="#e2"',
    ' style="fill: red"',
    ' {k}="7" stroke="red"',
    "",
]


def rewrite(data: bytes, rng: random.Random, edits: int) -> bytes:
    """``edits`` attribute values rewritten in the text, as another program might:
    plain values, other quotes or spacing, references, entities, breaks."""
    text = data.decode()
    found = list(_VALUE.finditer(text))
    for match in sorted(rng.sample(found, min(edits, len(found))), key=lambda m: -m.start()):
        write = rng.choice(_WRITES).format(k=match.group(2))
        text = text[: match.start()] + write + text[match.end() :]
    return text.encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(0, 6), st.integers(1, 10), st.booleans())
def test_merge_agrees_where_theirs_rewrote_attribute_values(
    seed: int, ours_edits: int, theirs_edits: int, refs: bool
) -> None:
    # Where ours left a region as base has it and theirs only changed attribute values,
    # the merge by regions takes theirs' text: only right where the complete merge
    # writes exactly that.
    rng = random.Random(seed)
    base = plan(rng.randrange(20, 200), rng, ids=rng.choice([1.0, 0.9]), refs=0.1 * refs)
    ours = edit(base, rng, ours_edits, gentle=True) if ours_edits else base
    theirs = rewrite(base, rng, theirs_edits)
    check_merge(base, ours, theirs)
    check_merge(base, theirs, ours)


def test_merge_takes_theirs_plain_attribute_values() -> None:
    text = plan(400, random.Random(5)).decode()
    rects = re.findall(r'<rect id="e\d+" x="\d+"', text)
    a, b, c = rects[3], rects[150], rects[300]
    theirs = text.replace(a, a[:-1] + '0"').replace(b, b[:-1] + '>1"')
    ours = text.replace(c, c[:-1] + '9"')
    versions = text.encode(), ours.encode(), theirs.encode()
    assert check_merge(*versions)
    merged = merge_quick(*versions)[0].decode()
    assert a[:-1] + '0"' in merged and b[:-1] + '>1"' in merged and c[:-1] + '9"' in merged


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ('rect id="a" x="1"/>\n', 'rect id="a" x="2"/>\n', True),
        ('rect id="a" x="1">', "rect id='a' x=\"2\">", False),  # the id's quotes
        ('rect id="a" x="1"/>', "rect id=\"a\" x='2'/>", False),  # the value's quotes
        ('rect id="a" x="1"/>', 'rect id="a" x = "2"/>', False),
        ('rect id="a" x="1"/>', 'rect id="a" x="2" />', False),
        ('rect id="a" x="1"/>', 'rect id="a" x="1" y="2"/>', False),
        ('rect id="a" x="1"/>\n', 'rect id="a" x="2"/>\n  ', False),  # the text after
        ('rect x="1"/>', 'rect x="2"/>', False),  # no id
        ('rect id="a" x="1"/>', 'rect id="b" x="1"/>', False),
        ('rect id="a" x="1"/>', 'rect id="a" x="&amp;"/>', False),
        ('rect id="a" x="&amp;"/>', 'rect id="a" x="1"/>', False),
        ('rect id="a" x="1"/>', 'rect id="a" x="a\nb"/>', False),
        ('rect id="a" fill="red"/>', 'rect id="a" fill="url(#g)"/>', False),
        ('rect id="a" fill="url(#g)"/>', 'rect id="a" fill="red"/>', True),
        ('use id="a" href="#b"/>', 'use id="a" href="#c"/>', False),
        ('rect id="a" style="fill:red"/>', 'rect id="a" style="fill: red"/>', False),
        ('rect id="a" xlink:title="1"/>', 'rect id="a" xlink:title="2"/>', False),
        ('svgx:constraint id="a" x="1"/>', 'svgx:constraint id="a" x="2"/>', False),
        ("/g>", "/g>", False),  # not a start tag
    ],
)
def test_values_only(a: str, b: str, alike: bool) -> None:
    assert regions._values_only(a, b) is alike


@pytest.mark.parametrize(
    "flaw",
    [
        "<a:b/>",  # a prefix nothing declares
        '<e c="1" c="2"/>',  # one attribute twice
    ],
)
def test_merge_declines_where_every_version_holds_what_the_parser_refuses(flaw: str) -> None:
    # The flaw is outside every region, in all three versions: only a read of the
    # whole base finds it, and the complete merge refuses the files.
    text = plan(400, random.Random(2)).decode().replace("</svg>", flaw + "\n</svg>")
    rects = re.findall(r'<rect id="e\d+" x="\d+"', text)
    theirs = text.replace(rects[3], rects[3][:-1] + '0"')
    ours = text.replace(rects[300], rects[300][:-1] + '9"')
    versions = text.encode(), ours.encode(), theirs.encode()
    assert merge_complete(*versions) is None
    assert merge_quick(*versions) is None


def test_a_file_laid_out_anew_is_not_looked_at_for_regions() -> None:
    rows = "".join(f'\n  <rect id="r{n}" x="{n}" fill="gray"/>' for n in range(200))
    ours = f'<svg xmlns="http://www.w3.org/2000/svg">{rows}\n</svg>\n'.encode()
    edited = ours.replace(b'id="r7" x="7"', b'id="r7" x="70"')
    # As Inkscape writes it: each attribute on a line of its own.
    anew = edited.replace(b'" ', b'"\n     ').replace(b"/>", b" />")
    assert laid_out_alike(ours, edited) and laid_out_alike(edited, ours)
    assert not laid_out_alike(ours, anew) and not laid_out_alike(anew, ours)
    # Either way the diff is the same.
    assert diff.diff_documents(ours, anew, "d.svg") == diff.diff_documents(ours, edited, "d.svg")
