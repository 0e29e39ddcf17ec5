"""``style`` attributes merged declaration by declaration, keeping the text's spacing."""

from __future__ import annotations

from ..svgdoc import parse_style

__all__ = ["edit_style", "style_of"]


def style_of(value: str | None) -> dict[str, str]:
    """:func:`~svgx_sync.core.svgdoc.parse_style` of a value that may be absent, without
    declarations that have no property name."""
    return {name: val for name, val in parse_style(value or "").items() if name}


def edit_style(raw: str, changes: dict[str, str | None]) -> str:
    """Apply declaration changes to ``raw`` keeping its spacing and order."""
    parts = raw.split(";")
    done: set[str] = set()
    out: list[str] = []
    for part in parts:
        if ":" not in part:
            out.append(part)
            continue
        name, val = part.split(":", 1)
        prop = name.strip()
        if prop in changes:
            done.add(prop)
            new = changes[prop]
            if new is None:
                continue
            lead = val[: len(val) - len(val.lstrip())]
            trail = val[len(val.rstrip()) :]
            out.append(f"{name}:{lead}{new}{trail}")
        else:
            out.append(part)
    added = [(p, v) for p, v in changes.items() if p not in done and v is not None]
    if not added:
        return ";".join(out)
    decls = [p for p in parts if ":" in p]
    sep = " " if any(p.startswith(" ") for p in decls[1:]) else ""
    space = " " if decls and decls[0].split(":", 1)[1].startswith(" ") else ""
    body = [p for p in out if p.strip()]
    for prop, val in added:
        body.append(f"{sep if body else ''}{prop}:{space}{val}")
    return ";".join(body) + (";" if raw.rstrip().endswith(";") else "")
