"""Adopting a plain folder of SVG files: a repository with the files exactly as they were."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from svgx_sync.cli import main
from svgx_sync.errors import ClientError
from svgx_sync.git.adopt import adopt_folder, adopt_store, adoptable
from svgx_sync.git.layout import SYSTEM_NAME
from svgx_sync.git.store import Store

Git = Callable[..., str]

# Odd on purpose: CRLF, single quotes, a DOCTYPE, no final newline. None of it may change.
ODD = (
    b"<?xml version='1.0' encoding='UTF-8'?>\r\n"
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\r\n'
    b"<svg xmlns='http://www.w3.org/2000/svg'   width='10'><rect  id='a'/></svg>"
)
PLAIN = b'<svg xmlns="http://www.w3.org/2000/svg"><circle id="c" r="1"/></svg>\n'


def drawings(folder: Path) -> Path:
    (folder / "icons").mkdir(parents=True)
    (folder / "logo.svg").write_bytes(ODD)
    (folder / "icons" / "dot.svg").write_bytes(PLAIN)
    (folder / "notes.txt").write_text("not a drawing\n")
    (folder / ".hidden.svg").write_bytes(PLAIN)
    return folder


def test_a_folder_is_adopted_with_its_files_untouched(tmp_path: Path, git: Git) -> None:
    folder = drawings(tmp_path / "docs" / "drawings")
    doc = adopt_folder(folder)
    assert doc.name == "drawings" and doc.current_branch() == "main"
    assert doc.svg_files(doc.head_version()) == {"logo.svg": ODD, "icons/dot.svg": PLAIN}
    # Still byte-identical on disk, and git agrees nothing differs from the commit.
    assert (folder / "logo.svg").read_bytes() == ODD
    assert git(folder, "status", "--porcelain", "--untracked-files=no") == ""
    assert git(folder, "rev-parse", "HEAD:logo.svg") == git(folder, "hash-object", "logo.svg")
    (version,) = doc.history()
    assert version.author_name == SYSTEM_NAME
    assert version.description.startswith("Adopt folder: 2 SVG files")
    assert "notes.txt" in git(folder, "status", "--porcelain")  # left alone, untracked
    # From now on it is an ordinary document of the store.
    assert Store(folder.parent).names() == ["drawings"]


def test_adopting_a_repository_again_changes_nothing(tmp_path: Path) -> None:
    folder = drawings(tmp_path / "drawings")
    first = adopt_folder(folder).head_version()
    assert adopt_folder(folder).head_version() == first


def test_a_folder_without_svg_files_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    with pytest.raises(ClientError, match="no SVG"):
        adopt_folder(folder)
    assert not (folder / ".git").exists()


def test_serving_a_root_adopts_its_sub_folders(tmp_path: Path) -> None:
    root = tmp_path / "root"
    drawings(root / "one")
    (root / "two").mkdir()
    (root / "two" / "a.svg").write_bytes(PLAIN)
    (root / "no-svg").mkdir()
    (root / "no-svg" / "a.txt").write_text("x")
    store = Store(root)
    store.create("existing")
    assert adoptable(root) == ["one", "two"]
    assert [d.name for d in adopt_store(store)] == ["one", "two"]
    assert store.names() == ["existing", "one", "two"]
    assert adoptable(root) == []


def test_init_adopts_a_folder_of_svg_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = drawings(tmp_path / "art")
    assert main(["init", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(folder)
    doc = Store(tmp_path).open("art")
    assert doc.svg_files(doc.head_version())["logo.svg"] == ODD


def test_init_still_creates_a_new_document(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "fresh")]) == 0
    assert Store(tmp_path).open("fresh").svg_files().keys() == {"document.svg"}
