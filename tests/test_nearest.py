"""The version a save is nearest to, read only where the daemon's versions differ: always
the answer of the whole comparison of every element, or no answer."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from svgx_sync.core.external import closest_version, element_fingerprint
from svgx_sync.core.nearest import closest_by_differences

ROOT = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'


def whole_comparison(disk: bytes, versions: list[bytes]) -> int:
    """The rule, counted over whole fingerprints: the fewest hashes apart, ties to the
    newer (written out here again, as the test's own reference)."""
    saved = element_fingerprint(disk)
    assert saved is not None
    distances = []
    for version in versions:
        known = element_fingerprint(version)
        assert known is not None
        distances.append(len(set(saved) ^ set(known)))
    return distances.index(min(distances))


@dataclass
class Item:
    tag: str
    ident: str | None
    attrs: dict[str, str]
    text: str = ""
    tail: str = ""
    children: list[Item] = field(default_factory=list)

    def written(self, *, anew: bool, depth: int = 1) -> str:
        """As the daemon writes it (one line), or as another program lays it out."""
        pad = "\n" + "  " * (depth + 1)
        pairs = ([("id", self.ident)] if self.ident is not None else []) + list(self.attrs.items())
        if anew:
            attrs = "".join(f"{pad}   {k}='{v}'" for k, v in reversed(pairs))
        else:
            attrs = "".join(f' {k}="{v}"' for k, v in pairs)
        if not self.children and not self.text and self.tag != "text":
            return f"<{self.tag}{attrs}{' ' if anew else ''}/>{self.tail}"
        inner = "".join(pad + c.written(anew=anew, depth=depth + 1) for c in self.children)
        return f"<{self.tag}{attrs}>{self.text}{inner}</{self.tag}>{self.tail}"


def drawing(items: list[Item], *, anew: bool = False) -> bytes:
    root = ROOT.replace("<svg ", '<svg version="1.1" id="svg1" ') if anew else ROOT
    extra = '\n  <defs id="defs2"/>' if anew else ""
    body = "".join("\n  " + item.written(anew=anew) for item in items)
    return f"{root}{extra}{body}\n</svg>\n".encode()


def edited(items: list[Item], rng: random.Random, counter: list[int]) -> list[Item]:
    """A few of the edits the daemon makes (and a few it could be made to write)."""
    out = [replace(i, attrs=dict(i.attrs), children=list(i.children)) for i in items]
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(out))
        what = rng.random()
        if what < 0.35:
            key = rng.choice(["fill", "stroke", "x", "xlink:href"])
            out[k].attrs[key] = rng.choice(["red", "blue", "1", "#e3"])
        elif what < 0.45 and out[k].tag == "text":
            out[k].text = rng.choice(["Hall", "Door &amp; frame", "Room 2", ""])
        elif what < 0.5:
            out[k].tail = rng.choice(["", "note", " "])
        elif what < 0.62:
            counter[0] += 1
            out.insert(k, Item("rect", f"n{counter[0]}", {"x": str(counter[0])}))
        elif what < 0.7 and len(out) > 3:
            del out[k]
        elif what < 0.76:
            j = rng.randrange(len(out))
            out[k], out[j] = out[j], out[k]  # moved, with any children
        elif what < 0.82:
            out[k].ident = None  # an id stripped
        elif what < 0.86:
            out[k].ident = rng.choice(out).ident  # an id written twice
        elif what < 0.92:
            out[k].children.append(Item("circle", None, {"r": str(rng.randint(1, 3))}))
        else:
            out[k].attrs["x"] = "9"  # an element without an id, if that one has none
            if out[k].ident is None:
                out[k].attrs["y"] = "9"
    return out


def start(rng: random.Random) -> list[Item]:
    items = []
    for n in range(12):
        kind = rng.random()
        if kind < 0.6:
            items.append(Item("rect", f"e{n}", {"x": str(n), "fill": "gray"}))
        elif kind < 0.75:
            items.append(Item("text", f"e{n}", {"x": str(n)}, text="Room"))
        elif kind < 0.85:
            items.append(Item("rect", None, {"x": str(n)}))
        else:
            child = Item("rect", f"c{n}", {"width": "1"})
            items.append(Item("g", f"e{n}", {}, children=[child]))
    return items


def test_the_answer_read_where_versions_differ_is_the_whole_comparisons() -> None:
    rng = random.Random(7)
    answered = 0
    for case in range(600):
        counter = [0]
        history = [start(rng)]
        for _ in range(rng.randint(1, 5)):
            history.append(edited(history[-1], rng, counter))
        loaded = rng.choice(history)
        versions = [drawing(v) for v in reversed(history)]
        # Another program's save: laid out anew, with a change or two of its own.
        disk = drawing(edited(loaded, rng, counter), anew=rng.random() < 0.7)
        expected = whole_comparison(disk, versions)
        quick = closest_by_differences(disk, versions)
        assert quick in (None, expected), case
        assert closest_version(disk, versions) == expected, case
        answered += quick is not None
    assert answered > 100  # most histories are answered without the whole comparison


def test_a_stale_copy_of_a_big_drawing_is_told_from_its_edited_version() -> None:
    items = [Item("rect", f"r{n}", {"x": str(n), "fill": "gray"}) for n in range(2000)]
    older = drawing(items)
    items[10].attrs["fill"] = "#111111"
    newest = drawing(items)
    items[20].attrs["fill"] = "#222222"
    save = drawing(items, anew=True)
    assert closest_by_differences(save, [newest, older]) == 0
    items[10].attrs["fill"] = "gray"  # made from the copy loaded before the live edit
    assert closest_by_differences(drawing(items, anew=True), [newest, older]) == 1
    # Many elements apart (each id counted in one pass), and an id written twice there.
    for n in range(100, 160):
        items[n].attrs["stroke"] = "red"
    busy = drawing(items)
    save = drawing(items, anew=True)
    assert closest_by_differences(save, [newest, busy, older]) == 1
    twice = busy.replace(b'<rect id="r5" ', b'<rect id="r150" ')
    assert whole_comparison(save, [newest, twice]) == 1
    assert closest_by_differences(save, [newest, twice]) is None
    assert closest_version(save, [newest, twice]) == 1


def test_what_is_not_known_from_the_differences_is_left_to_the_whole_comparison() -> None:
    items = [Item("rect", f"r{n}", {"x": str(n)}) for n in range(5)]
    newest = drawing(items)
    save = drawing(items, anew=True)
    relaid = drawing(items, anew=True).replace(b'id="defs2"', b'id="d"')
    commented = newest.replace(b"</svg>", b"<!-- a note -->\n</svg>")
    spaced = newest.replace(b'<rect id="r1"', b'<rect xmlns:a="urn:a" id="r1"')
    for older in (relaid, commented, spaced):
        assert closest_by_differences(save, [newest, older]) is None
    assert closest_by_differences(b"<svg", [newest, newest]) is None


def tricky_edit(items: list[Item], rng: random.Random) -> list[Item]:
    """Small drawings edited where a reading of the differences could go wrong: ids
    written twice, elements without ids swapped, elements moved into and out of groups
    beside tails that hold text."""

    def copy(item: Item) -> Item:
        return replace(item, attrs=dict(item.attrs), children=[copy(c) for c in item.children])

    out = [copy(i) for i in items]
    for _ in range(rng.randint(1, 2)):
        flat = out + [c for i in out for c in i.children]
        target = rng.choice(flat)
        what = rng.random()
        if what < 0.3:
            target.attrs[rng.choice(["x", "fill"])] = rng.choice(["1", "2", "red"])
        elif what < 0.4:
            target.tail = rng.choice(["", "X", "Y"])
        elif what < 0.5:
            target.ident = rng.choice(["a", "b", None])
        elif what < 0.6 and len(out) > 1:
            j, k = rng.sample(range(len(out)), 2)
            out[j], out[k] = out[k], out[j]
        elif what < 0.75:
            groups = [i for i in out if i.tag == "g"]
            if groups and target in out and target.tag != "g":
                out.remove(target)
                rng.choice(groups).children.append(target)
            elif groups and groups[0].children:
                out.append(groups[0].children.pop())
        elif what < 0.85:
            target.text = rng.choice(["", "T"]) if target.tag in ("g", "text") else ""
        else:
            out.insert(rng.randrange(len(out) + 1), Item("rect", rng.choice(["a", "n"]), {}))
    return out


def test_small_drawings_edited_where_a_reading_could_go_wrong() -> None:
    rng = random.Random(11)
    answered = 0
    for case in range(4000):
        history = [
            [
                Item("g", "a", {"x": "1"}, tail="X"),
                Item("rect", "b", {"x": "2"}, tail=rng.choice(["", "Y"])),
                Item("rect", None, {"x": "1"}),
                Item("text", "c", {}, text="T"),
            ]
        ]
        for _ in range(rng.randint(1, 3)):
            history.append(tricky_edit(history[-1], rng))
        versions = [drawing(v) for v in reversed(history)]
        disk = drawing(tricky_edit(rng.choice(history), rng), anew=rng.random() < 0.5)
        quick = closest_by_differences(disk, versions)
        assert quick in (None, whole_comparison(disk, versions)), case
        answered += quick is not None
    assert answered > 600


def _svg(body: str, root: str = ROOT) -> bytes:
    return f"{root}\n  {body}\n</svg>\n".encode()


def _relaid(data: bytes) -> bytes:
    """The same elements written another way (attributes on lines of their own)."""
    return data.replace(b'" ', b'"\n     ').replace(b"<svg ", b'<svg version="1.1" ', 1)


CASES = {
    # A text changed, in an element whose tail holds text: read from the end tag.
    "text beside a tail": (
        '<text id="t">Old</text>X <rect id="r"/>',
        '<text id="t">New</text>X <rect id="r"/>',
        '<text id="t">New</text>X <rect id="r"/>',
    ),
    # An element moved out of its group, each end tag's tail now another element's.
    "moved out of a group": (
        '<g id="p"><g id="a" x="1"></g>X</g>Y',
        '<g id="p"></g>X<g id="a" x="2"></g>Y',
        '<g id="p"><g id="a" x="2"></g>X</g>Y',
    ),
    # Two elements without ids swapped: each is placed by its rank.
    "swapped without ids": (
        '<rect x="1"/><rect x="2"/><rect id="r" x="0"/>',
        '<rect x="2"/><rect x="1"/><rect id="r" x="0"/>',
        '<rect x="2"/><rect x="1"/><rect id="r" x="5"/>',
    ),
    # An id written twice, once on an element the versions share.
    "an id twice": (
        '<rect id="a" x="2" fill="red"/> <rect id="a" x="2"/>',
        '<rect id="a" x="1"/> <rect id="a" x="2"/>',
        '<rect id="a" x="1" fill="red"/>',
    ),
}


def test_each_way_a_reading_of_the_differences_could_go_wrong_is_seen() -> None:
    for name, (newest, older, saved) in CASES.items():
        versions = [_svg(newest), _svg(older)]
        disk = _relaid(_svg(saved))
        assert closest_by_differences(disk, versions) in (None, whole_comparison(disk, versions)), (
            name
        )
        assert closest_version(disk, versions) == whole_comparison(disk, versions), name
    # The root's namespaces read every element: a version with others is not read here.
    one, two = (ROOT.replace(">", f' xmlns:a="urn:{n}" id="s">') for n in (1, 2))
    versions = [_svg('<rect id="r" a:k="v"/>', one), _svg('<rect id="r" a:k="v"/>', two)]
    disk = _relaid(versions[1])
    assert whole_comparison(disk, versions) == 1
    assert closest_by_differences(disk, versions) in (None, 1)
