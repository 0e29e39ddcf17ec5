"""SVG bytes shared by the tests of edits made beside the daemon."""

from __future__ import annotations

BASE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">\n'
    b'  <rect id="r" x="1" y="2" width="10" height="10" fill="red"/>\n'
    b'  <circle id="c" cx="50" cy="50" r="5"/>\n'
    b"</svg>\n"
)


def big_drawing(count: int) -> bytes:
    """A drawing of ``count`` rectangles ``r0``... one per line, as a CAD sheet has."""
    rows = "".join(
        f'  <rect id="r{n}" x="{n % 100}" y="{n // 100}" width="1" height="1" fill="gray"/>\n'
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">\n'
        f"{rows}</svg>\n"
    ).encode()
