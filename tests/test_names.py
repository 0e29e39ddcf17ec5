"""The names svgx_sync accepts for documents, files, branches and tags."""

from __future__ import annotations

import pytest

from svgx_sync.errors import InvalidName
from svgx_sync.git.names import (
    validate_branch_name,
    validate_document_name,
    validate_file_name,
    validate_tag_name,
)


@pytest.mark.parametrize("name", ["logo", "Logo_2024", "a.b-c", "café", "图标", "x" * 100, "v1.0"])
def test_document_name_accepted(name: str) -> None:
    assert validate_document_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        (".git", "start with '.'"),
        (".hidden", "start with '.'"),
        ("..", "start with '.'"),
        ("a..b", "'..'"),
        ("a/b", "single folder"),
        ("../etc", "single folder"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("x" * 101, "longer than 100"),
        ("a b", "only letters"),
        ("a:b", "only letters"),
        ("name.", "end with '.'"),
        ("CON", "reserved"),
        ("nul.txt", "reserved"),
        ("com1", "reserved"),
    ],
)
def test_document_name_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidName, match=reason):
        validate_document_name(name)


@pytest.mark.parametrize(
    "name", ["document.svg", "icons/logo.svg", "a/b/c/d.svg", "ünï/cödé.svg", "git/x.svg"]
)
def test_file_name_accepted(name: str) -> None:
    assert validate_file_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("document.png", "end with '.svg'"),
        ("document", "end with '.svg'"),
        ("/etc/x.svg", "relative"),
        ("../x.svg", "'..'"),
        ("a/../../x.svg", "'..'"),
        ("./x.svg", "'.'"),
        ("a//b.svg", "empty path components"),
        (".git/x.svg", "git's own files"),
        (".GIT/x.svg", "git's own files"),
        ("a/.Git/hooks/x.svg", "git's own files"),
        (".gitattributes.svg", "git's own files"),
        ("a\\b.svg", "backslash"),
        ("a\x00.svg", "NUL"),
        ("dir./x.svg", "end with"),
    ],
)
def test_file_name_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidName, match=reason):
        validate_file_name(name)


@pytest.mark.parametrize("name", ["main", "feature/logo", "v1.2", "fix-42", "über"])
def test_branch_and_tag_names_accepted(name: str) -> None:
    assert validate_branch_name(name) == name
    assert validate_tag_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a..b", "git does not accept"),
        ("a.lock", "git does not accept"),
        ("a@{b", "git does not accept"),
        ("a b", "git does not accept"),
        ("a~1", "git does not accept"),
        ("a:b", "git does not accept"),
        ("a/", "git does not accept"),
        ("/a", "git does not accept"),
        (".a", "git does not accept"),
        ("-x", "start with '-'"),
        ("HEAD", "reserved by git"),
        ("svgx/snapshots", "reserved for svgx_sync"),
        ("svgx", "reserved for svgx_sync"),
        ("", "empty"),
        ("a\\b", "backslash"),
    ],
)
def test_branch_and_tag_names_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidName, match=reason):
        validate_branch_name(name)
    with pytest.raises(InvalidName, match=reason):
        validate_tag_name(name)


def test_refusal_is_a_client_error() -> None:
    from svgx_sync.errors import ClientError

    with pytest.raises(ClientError):
        validate_document_name("../x")
