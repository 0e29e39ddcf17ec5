"""Access rules, with the clock passed in: roles, principals, identity, failures, browsers."""

from __future__ import annotations

from typing import get_args

import pytest

from svgx_sync.core import protocol as P
from svgx_sync.core.access import (
    CREATE_DOCUMENT,
    NEEDED,
    FailureLimiter,
    Gate,
    Principal,
    Role,
    bind_identity,
    handshake_refusal,
    host_allowed,
    is_loopback,
    may_listen,
    message_kind,
    origin_allowed,
    own_origins,
    served_names,
    visible_health,
)
from svgx_sync.core.ops import OperationType
from svgx_sync.errors import Forbidden, Unauthorized

VIEWER = Principal("vi", "Vi", Role.VIEWER)
EDITOR = Principal("ed", "Ed", Role.EDITOR)
ADMIN = Principal("ad", "Ad", Role.ADMIN)


def msg(**fields: object) -> object:
    return P.parse_message(P.encode(fields))


def every_kind() -> set[str]:
    """Every kind a client can send, from the protocol's own lists."""
    plain = set(P.MESSAGE_TYPES) - {"operation", "version"}
    operations = {f"operation:{t.value}" for t in OperationType}
    actions = {f"version:{a}" for a in get_args(P.VersionAction)}
    return plain | operations | actions | {CREATE_DOCUMENT}


def test_the_table_names_every_kind_of_message_and_nothing_else():
    assert set(NEEDED) == every_kind()


ROLE_CASES = [
    # (message, least role that may send it)
    ({"type": "join", "user_id": "u", "session_id": "plan"}, Role.VIEWER),
    ({"type": "activity", "user_id": "u", "status": "away"}, Role.VIEWER),
    (
        {"type": "operation", "operation_type": "select", "user_id": "u", "element_id": "r"},
        Role.VIEWER,
    ),
    ({"type": "version", "action": "history"}, Role.VIEWER),
    ({"type": "version", "action": "diff", "version_id": "v"}, Role.VIEWER),
    ({"type": "status"}, Role.VIEWER),
    (
        {"type": "operation", "operation_type": "update", "user_id": "u", "element_id": "r"},
        Role.EDITOR,
    ),
    (
        {"type": "operation", "operation_type": "create", "user_id": "u", "element_id": "r"},
        Role.EDITOR,
    ),
    ({"type": "version", "action": "create_version"}, Role.EDITOR),
    ({"type": "version", "action": "revert", "version_id": "v"}, Role.EDITOR),
    ({"type": "version", "action": "create_branch", "branch": "b"}, Role.EDITOR),
    (
        {"type": "resolve_conflict", "conflict_id": "c", "resolution": "ours", "resolved_by": "u"},
        Role.EDITOR,
    ),
    ({"type": "configure", "strategy": "manual"}, Role.ADMIN),
    ({"type": "version", "action": "merge_branch", "branch": "b"}, Role.ADMIN),
    ({"type": "version", "action": "complete_merge"}, Role.ADMIN),
    ({"type": "version", "action": "abort_merge"}, Role.ADMIN),
]


@pytest.mark.parametrize(("fields", "least"), ROLE_CASES, ids=lambda c: str(c)[:60])
def test_each_role_may_send_what_the_table_says(fields: dict[str, object], least: Role):
    for principal in (VIEWER, EDITOR, ADMIN):
        own = {k: principal.user_id if v == "u" else v for k, v in fields.items()}
        message = msg(**own)
        gate = Gate(principal)
        if principal.role.rank >= least.rank:
            gate.admit(message, "plan", now=0.0)
        else:
            with pytest.raises(Forbidden, match=f"needs the {least.value} role"):
                gate.admit(message, "plan", now=0.0)


def test_an_unknown_kind_is_refused_even_to_an_admin():
    assert not ADMIN.may("version:delete_everything")
    assert not ADMIN.may("")


def test_documents_are_globs_over_names():
    plans = Principal("p", "P", Role.EDITOR, ("plans-*", "shared"))
    assert plans.may_open("plans-2024") and plans.may_open("shared")
    assert not plans.may_open("Plans-2024")  # case counts
    assert not plans.may_open("shared2") and not plans.may_open("budget")
    assert plans.visible(["budget", "plans-a", "shared"]) == ["plans-a", "shared"]


def test_a_join_is_judged_by_the_document_it_names():
    gate = Gate(Principal("p", "P", Role.VIEWER, ("plans-*",)))
    gate.admit(msg(type="join", user_id="p", session_id="plans-a@idea"), None, now=0.0)
    with pytest.raises(Forbidden, match="may not open document 'budget'"):
        gate.admit(msg(type="join", user_id="p", session_id="budget"), "plans-a", now=0.0)


def test_every_message_is_judged_against_the_joined_document():
    gate = Gate(Principal("p", "P", Role.EDITOR, ("plans-*",)))
    move = msg(type="operation", operation_type="move", user_id="p", element_id="r")
    gate.admit(move, "plans-a", now=0.0)
    with pytest.raises(Forbidden):
        gate.admit(move, "budget", now=0.0)


def test_what_a_gate_allowed_once_is_not_taken_for_another_kind_or_document():
    gate = Gate(Principal("p", "P", Role.VIEWER, ("plans-*",), expires=100.0))
    select = msg(type="operation", operation_type="select", user_id="p", element_id="r")
    update = msg(type="operation", operation_type="update", user_id="p", element_id="r")
    for _ in range(3):  # the same message again and again
        assert gate.admit(select, "plans-a", now=1.0) is select
    with pytest.raises(Forbidden, match="needs the editor role"):
        gate.admit(update, "plans-a", now=1.0)
    with pytest.raises(Forbidden, match="may not open document 'budget'"):
        gate.admit(select, "budget", now=1.0)
    with pytest.raises(Forbidden, match="not this connection's user"):
        gate.admit(msg(**{**select.model_dump(), "user_id": "q"}), "plans-a", now=1.0)
    with pytest.raises(Unauthorized, match="expired"):
        gate.admit(select, "plans-a", now=100.0)


def test_an_expired_principal_is_refused_at_every_message():
    gate = Gate(Principal("p", "P", Role.ADMIN, expires=100.0))
    status = msg(type="status")
    gate.admit(status, None, now=99.9)
    with pytest.raises(Unauthorized, match="expired"):
        gate.admit(status, None, now=100.0)


def test_identity_fields_take_the_connections_user():
    version = bind_identity(msg(type="version", action="create_version"), "ed")
    assert (version.created_by, version.user_id) == ("ed", "ed")
    resolved = bind_identity(
        msg(type="resolve_conflict", conflict_id="c", resolution="ours", resolved_by="ed"), "ed"
    )
    assert resolved.resolved_by == "ed"
    blank = bind_identity(msg(type="version", action="create_version", created_by=""), "ed")
    assert blank.created_by == "ed"


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "operation", "operation_type": "update", "user_id": "bob", "element_id": "r"},
        {"type": "version", "action": "create_version", "created_by": "bob"},
        {"type": "version", "action": "create_version", "user_id": "bob"},
        {
            "type": "resolve_conflict",
            "conflict_id": "c",
            "resolution": "ours",
            "resolved_by": "bob",
        },
        {"type": "activity", "user_id": "bob"},
        {"type": "configure", "strategy": "manual", "user_id": "bob"},
        {"type": "join", "user_id": "bob", "session_id": "plan"},
    ],
    ids=lambda f: f"{f['type']}:{next(k for k in f if f[k] == 'bob')}",
)
def test_a_message_claiming_another_user_is_refused(fields: dict[str, object]):
    with pytest.raises(Forbidden, match="'bob' is not this connection's user 'ad'"):
        Gate(ADMIN).admit(msg(**fields), "plan", now=0.0)


def test_without_tokens_the_first_join_names_the_user_for_good():
    gate = Gate(open_door=True)
    status = msg(type="status")
    assert gate.admit(status, None, now=0.0) is status  # before any join: nothing to bind
    gate.admit(msg(type="join", user_id="ada", username="Ada", session_id="plan"), None, now=0.0)
    assert gate.principal == Principal("ada", "Ada", Role.ADMIN)
    gate.admit(msg(type="configure", strategy="manual"), "plan", now=0.0)
    gate.admit(msg(type="join", user_id="ada", session_id="other"), "plan", now=0.0)
    with pytest.raises(Forbidden, match="'bob' is not this connection's user 'ada'"):
        gate.admit(msg(type="join", user_id="bob", session_id="plan"), "plan", now=0.0)


def test_with_tokens_nothing_passes_before_a_principal():
    gate = Gate()
    with pytest.raises(Unauthorized):
        gate.admit(msg(type="join", user_id="ada", session_id="plan"), None, now=0.0)
    with pytest.raises(Unauthorized):
        gate.check(CREATE_DOCUMENT, "plan", now=0.0)


def test_a_connection_cannot_change_who_it_is():
    gate = Gate()
    gate.authenticate(EDITOR)
    gate.authenticate(Principal("ed", "Ed", Role.EDITOR))  # the same user again
    with pytest.raises(Forbidden, match="'ed'"):
        gate.authenticate(ADMIN)
    assert gate.principal == EDITOR


def test_creating_a_document_on_join_is_an_edit():
    Gate(EDITOR).check(CREATE_DOCUMENT, "new", now=0.0)
    with pytest.raises(Forbidden):
        Gate(VIEWER).check(CREATE_DOCUMENT, "new", now=0.0)


def test_message_kind_names_operation_types_and_version_actions():
    assert message_kind(msg(type="leave")) == "leave"
    assert message_kind(msg(type="version", action="diff", version_id="v")) == "version:diff"
    op = msg(type="operation", operation_type="resize", user_id="u", element_id="r")
    assert message_kind(op) == "operation:resize"


# -- failures from one address --------------------------------------------------------------


def test_failures_past_the_free_ones_double_the_wait():
    limiter = FailureLimiter(free=2, base_s=1.0, max_s=8.0)
    waits = []
    now = 0.0
    for _ in range(7):
        limiter.failed("1.2.3.4", now)
        waits.append(limiter.retry_after("1.2.3.4", now))
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert limiter.retry_after("1.2.3.4", now + 3.0) == 5.0
    assert limiter.retry_after("5.6.7.8", now) == 0.0  # others are not slowed


def test_a_success_or_a_quiet_spell_forgets_the_failures():
    limiter = FailureLimiter(free=1, forget_s=60.0)
    for t in range(5):
        limiter.failed("a", float(t))
    assert limiter.retry_after("a", 4.0) > 0
    assert limiter.retry_after("a", 64.0) == 0.0 and len(limiter) == 0
    for t in range(5):
        limiter.failed("a", 100.0 + t)
    limiter.succeeded("a")
    assert limiter.retry_after("a", 105.0) == 0.0


def test_memory_stays_bounded_however_many_addresses_fail():
    limiter = FailureLimiter(free=0, max_addresses=100)
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}", float(i))
    assert len(limiter) == 100
    assert limiter.retry_after("10.0.3.231", 999.0) > 0  # the latest is remembered
    assert limiter.retry_after("10.0.0.0", 999.0) == 0.0  # the oldest went first


# -- browsers and listening -----------------------------------------------------------------


def test_without_tokens_only_loopback_may_be_listened_on():
    for host in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host) and may_listen(host, tokens_configured=False) is None
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""):
        assert "loopback only" in (may_listen(host, tokens_configured=False) or "")
        assert may_listen(host, tokens_configured=True) is None


def test_host_must_be_a_served_name_or_an_address():
    names = served_names("0.0.0.0", ["draw.example.com"])
    assert names == {"localhost", "127.0.0.1", "::1", "draw.example.com"}
    for host in (
        "localhost:8765",
        "LOCALHOST",
        "localhost.",
        "127.0.0.1:1",
        "[::1]:8765",
        "draw.example.com:443",
        "10.1.2.3:8765",
        "[fe80::1]",
    ):
        assert host_allowed(host, names), host
    for host in ("attacker.example:8765", "localhost.attacker.example", "", None):
        assert not host_allowed(host, names), host
    assert "box.lan" in served_names("box.lan")


def test_origin_must_be_the_daemons_own_or_allowed():
    own = own_origins(served_names("127.0.0.1"), 8765, tls=False)
    assert origin_allowed(None, own, ())  # not a browser
    assert origin_allowed("http://localhost:8765", own, ())
    assert origin_allowed("http://[::1]:8765", own, ())
    assert not origin_allowed("https://localhost:8765", own, ())  # another scheme
    assert not origin_allowed("http://localhost:3000", own, ())
    assert not origin_allowed("https://evil.example", own, ())
    assert not origin_allowed("null", own, ())
    assert origin_allowed("https://App.example", own, ["https://app.example:443"])
    assert origin_allowed("https://anything.example", own, ["*"])
    tls = own_origins({"draw.example.com"}, 443, tls=True)
    assert origin_allowed("https://draw.example.com", tls, ())


def test_a_request_is_refused_for_its_host_first_then_its_origin():
    names = served_names("127.0.0.1")
    own = own_origins(names, 8765, tls=False)
    assert handshake_refusal("localhost:8765", None, names, own, ()) is None
    assert handshake_refusal("evil.example", None, names, own, ()) == (403, "unknown host name")
    refusal = handshake_refusal("localhost", "https://evil.example", names, own, ())
    assert refusal == (403, "origin not allowed")


def test_health_shows_a_principal_only_its_documents():
    health = {
        "status": "ok",
        "documents": ["budget", "plans-a"],
        "sessions": [{"document": "budget", "users": []}, {"document": "plans-a", "users": []}],
    }
    seen = visible_health(health, Principal("p", "P", Role.VIEWER, ("plans-*",)))
    assert seen["documents"] == ["plans-a"] and [s["document"] for s in seen["sessions"]] == [
        "plans-a"
    ]
    assert visible_health(health, None) == health
