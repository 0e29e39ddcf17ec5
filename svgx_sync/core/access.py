"""Who may send what: roles, principals, the identity a connection speaks for.

Rules kept here (pure: the clock comes in as ``now``, tokens are checked elsewhere):

* **One table** (:data:`NEEDED`) says, for every kind of client message, the least role
  that may send it. A ``viewer`` reads the document and its history and takes part in
  presence; an ``editor`` also edits, makes versions and branches and resolves
  conflicts; an ``admin`` also configures the session and merges branches. A kind the
  table does not name is refused, whatever the role.
* A :class:`Principal` is who a connection is: a user id, a display name, a role, the
  documents it may open (globs over document names) and when it stops being valid.
  Every message is checked against it (:meth:`Gate.admit`), not only the join.
* **Identity comes from the connection.** The fields that name a user (``user_id``,
  ``created_by``, ``resolved_by``, ``changed_by``) are set to the principal's user id;
  a message that names another user is refused (:func:`bind_identity`).
* **Without tokens** (the embedded default, loopback only), the first ``join`` names
  the connection's user, as an admin of every document, for the connection's lifetime.
* Repeated authentication failures from one address wait longer and longer before the
  next attempt is judged (:class:`FailureLimiter`).
* **Browsers**: a handshake's ``Origin`` must be the daemon's own or one allowed by the
  settings (a client that sends none, not a browser, passes); its ``Host`` must be a
  name the daemon serves, or an IP address, so that a page whose host name an attacker
  re-points at this machine (DNS rebinding) is refused.
* **Without tokens the daemon listens on loopback only** (:func:`may_listen`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from pydantic import BaseModel

from ..errors import Forbidden, ProtocolError, Unauthorized
from .ops import OperationType
from .protocol import Join, OperationMessage, VersionRequest

__all__ = [
    "CREATE_DOCUMENT",
    "IDENTITY_FIELDS",
    "LOOPBACK_NAMES",
    "NEEDED",
    "FailureLimiter",
    "Gate",
    "Principal",
    "Role",
    "authorize",
    "bind_identity",
    "handshake_refusal",
    "host_allowed",
    "is_loopback",
    "may_listen",
    "message_kind",
    "origin_allowed",
    "own_origins",
    "served_names",
    "visible_health",
]


class Role(StrEnum):
    """What a principal may do; each role may do all that the ones before it may."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}

#: Not a message but what a join does to a document that does not exist yet.
CREATE_DOCUMENT = "create_document"

VIEWER, EDITOR, ADMIN = Role.VIEWER, Role.EDITOR, Role.ADMIN

#: The least role that may send each kind of message (see :func:`message_kind`).
#: Deleting a branch is not a protocol action; the store's delete is reached only from
#: git itself.
NEEDED: dict[str, Role] = {
    # reading the document and its history, and presence
    "join": VIEWER,
    "leave": VIEWER,
    "activity": VIEWER,
    "status": VIEWER,
    "operation:select": VIEWER,
    "operation:deselect": VIEWER,
    "version:history": VIEWER,
    "version:list_branches": VIEWER,
    "version:diff": VIEWER,
    "version:switch_branch": VIEWER,  # another branch's live session, as a join names it
    # editing: operations, versions, branches, resolutions, new documents
    "operation:create": EDITOR,
    "operation:update": EDITOR,
    "operation:delete": EDITOR,
    "operation:move": EDITOR,
    "operation:resize": EDITOR,
    "operation:constraint_add": EDITOR,
    "operation:constraint_remove": EDITOR,
    "operation:assembly_update": EDITOR,
    "resolve_conflict": EDITOR,
    "version:create_version": EDITOR,
    "version:revert": EDITOR,
    "version:create_branch": EDITOR,
    CREATE_DOCUMENT: EDITOR,
    # administration: the session's strategy and branch merges
    "configure": ADMIN,
    "version:merge_branch": ADMIN,
    "version:complete_merge": ADMIN,
    "version:abort_merge": ADMIN,
}

#: The message fields that name a user; they always name the connection's user.
IDENTITY_FIELDS = ("user_id", "created_by", "resolved_by", "changed_by")


def message_kind(message: BaseModel) -> str:
    """The row of :data:`NEEDED` a parsed client message falls under: its ``type``, with
    the operation type or the version action after a colon."""
    if isinstance(message, OperationMessage):
        return _OPERATION_KINDS[OperationType(message.operation_type)]
    if isinstance(message, VersionRequest):
        return f"version:{message.action}"
    return str(getattr(message, "type", ""))


_OPERATION_KINDS = {kind: f"operation:{kind.value}" for kind in OperationType}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a connection is and what it may do.

    ``documents`` are globs over document names (``*`` any run of characters, ``?`` one,
    ``[abc]`` one of them; case counts); ``expires`` is seconds since the epoch, or None
    for never.
    """

    user_id: str
    display_name: str
    role: Role
    documents: tuple[str, ...] = ("*",)
    expires: float | None = None

    def may_open(self, document: str) -> bool:
        """Whether ``document`` is one of this principal's documents."""
        return any(fnmatchcase(document, pattern) for pattern in self.documents)

    def may(self, kind: str) -> bool:
        """Whether this principal's role may send messages of ``kind``."""
        needed = NEEDED.get(kind)
        return needed is not None and self.role.rank >= needed.rank

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def visible(self, documents: Iterable[str]) -> list[str]:
        """The documents of ``documents`` this principal may open, in order."""
        return [name for name in documents if self.may_open(name)]


def visible_health(health: Mapping[str, Any], principal: Principal | None) -> dict[str, Any]:
    """The daemon's health as ``principal`` may see it: only its documents and their
    sessions. None (no tokens configured, everyone is trusted) sees everything."""
    out = dict(health)
    if principal is not None:
        out["documents"] = principal.visible(health.get("documents") or [])
        out["sessions"] = [
            s for s in health.get("sessions") or [] if principal.may_open(s["document"])
        ]
    return out


def authorize(principal: Principal, kind: str, document: str | None, now: float) -> None:
    """Raise :class:`Unauthorized` if ``principal`` has expired, :class:`Forbidden` if its
    role may not send ``kind`` or ``document`` is not one of its documents."""
    if principal.expired(now):
        raise Unauthorized("the token has expired")
    if not principal.may(kind):
        needed = NEEDED.get(kind)
        why = f"needs the {needed.value} role" if needed is not None else "is not allowed"
        raise Forbidden(f"{kind} {why}; {principal.user_id} is {principal.role.value}")
    if document is not None and not principal.may_open(document):
        raise Forbidden(f"{principal.user_id} may not open document {document!r}")


M = TypeVar("M", bound=BaseModel)


def bind_identity(message: M, user_id: str) -> M:
    """``message`` with every identity field it has set to ``user_id``.

    A field that names someone else is refused with :class:`Forbidden`; an absent or
    empty one is filled in, so what is stored and broadcast names the connection's user.
    """
    missing = []
    for name in _identity_fields(type(message)):
        claimed = getattr(message, name)
        if claimed and claimed != user_id:
            raise Forbidden(f"{name} {claimed!r} is not this connection's user {user_id!r}")
        if claimed != user_id:
            missing.append(name)
    # Most messages already name their user: copied only when a field is to be filled.
    return message.model_copy(update=dict.fromkeys(missing, user_id)) if missing else message


_IDENTITY_FIELDS_OF: dict[type[BaseModel], tuple[str, ...]] = {}


def _identity_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of :data:`IDENTITY_FIELDS` that ``model`` has (looked up once)."""
    found = _IDENTITY_FIELDS_OF.get(model)
    if found is None:
        found = _IDENTITY_FIELDS_OF[model] = tuple(
            name for name in IDENTITY_FIELDS if name in model.model_fields
        )
    return found


def _joined_document(session_id: str) -> str:
    return session_id.partition("@")[0]


class Gate:
    """One connection's access, from its handshake to its close.

    ``principal`` is what the handshake's token gave (None when it carried none).
    ``open_door`` is the embedded default, without tokens: the first join names the
    user. Otherwise a connection without a principal may send nothing until it
    authenticates (a join carrying a token, checked by the caller and given to
    :meth:`authenticate`).
    """

    __slots__ = ("_allowed", "open_door", "principal")

    def __init__(self, principal: Principal | None = None, *, open_door: bool = False) -> None:
        self.principal = principal
        self.open_door = open_door
        # (kind, document) pairs the principal's role and documents allow: judged once
        # (the globs cost more than the message), its expiry on every message.
        self._allowed: set[tuple[str, str | None]] = set()

    @property
    def role(self) -> Role:
        """What this connection may do: its principal's role; everything through the
        open door (without tokens) and for a shared secret."""
        return self.principal.role if self.principal is not None else Role.ADMIN

    def authenticate(self, principal: Principal) -> None:
        """Take ``principal`` for this connection; a connection that already speaks for
        someone cannot switch to another user."""
        current = self.principal
        if current is None:
            self.principal = principal
        elif current.user_id != principal.user_id:
            raise Forbidden(f"this connection is {current.user_id!r}'s")

    def admit(self, message: M, current_document: str | None, now: float) -> M:
        """``message`` with its identity bound, if this connection may send it now.

        ``current_document`` is the document the connection has joined (None before
        its first join); a join is judged against the document it names. Raises
        :class:`Unauthorized` (no principal, or an expired one) or :class:`Forbidden`.
        """
        if self.principal is None:
            if not self.open_door:
                raise Unauthorized("a valid token is needed")
            if not isinstance(message, Join):
                return message  # nobody yet: the daemon's own "join first" answers
            if message.user_id is None:
                raise ProtocolError("join needs user_id: no token names the user")
            self.principal = Principal(message.user_id, message.username or message.user_id, ADMIN)
        document = current_document
        if isinstance(message, Join):
            document = _joined_document(message.session_id)
        self._authorize(message_kind(message), document, now)
        return bind_identity(message, self.principal.user_id)

    def _authorize(self, kind: str, document: str | None, now: float) -> None:
        """:func:`authorize`, remembering what was allowed (a few pairs per connection:
        past :data:`_ALLOWED_MAX` they are judged afresh)."""
        principal = self.principal
        assert principal is not None
        if (kind, document) in self._allowed and not principal.expired(now):
            return
        authorize(principal, kind, document, now)
        if len(self._allowed) >= _ALLOWED_MAX:
            self._allowed.clear()
        self._allowed.add((kind, document))

    def check(self, kind: str, document: str | None, now: float) -> None:
        """Whether this connection may do ``kind`` (e.g. :data:`CREATE_DOCUMENT`)."""
        if self.principal is None:
            raise Unauthorized("a valid token is needed")
        self._authorize(kind, document, now)


_ALLOWED_MAX = 64


class FailureLimiter:
    """Authentication failures per address: past ``free`` of them, each further one
    doubles the wait before the address's next attempt is judged (from ``base_s`` up
    to ``max_s``).

    An address is forgotten ``forget_s`` after its last failure, or at once on a
    success. At most ``max_addresses`` are remembered; the one whose last failure is
    oldest goes first, so memory stays bounded however many addresses try.
    """

    def __init__(
        self,
        *,
        free: int = 3,
        base_s: float = 1.0,
        max_s: float = 60.0,
        forget_s: float = 900.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.free = free
        self.base_s = base_s
        self.max_s = max_s
        self.forget_s = forget_s
        self.max_addresses = max_addresses
        # address -> (failures, time of the last one); dict order is the order of the
        # last failure, oldest first.
        self._failures: dict[str, tuple[int, float]] = {}

    def retry_after(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        entry = self._failures.get(address)
        if entry is None:
            return 0.0
        count, last = entry
        if now - last >= self.forget_s:
            del self._failures[address]
            return 0.0
        if count < self.free:
            return 0.0
        wait = min(self.max_s, self.base_s * 2.0 ** (count - self.free))
        return max(0.0, last + wait - now)

    def failed(self, address: str, now: float) -> None:
        """Count a failed attempt from ``address`` at ``now``."""
        count, last = self._failures.pop(address, (0, now))
        if now - last >= self.forget_s:
            count = 0
        self._failures[address] = (count + 1, now)
        while len(self._failures) > self.max_addresses:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        """Forget ``address``'s failures."""
        self._failures.pop(address, None)

    def __len__(self) -> int:
        return len(self._failures)


# -- browsers and listening ----------------------------------------------------------

#: The names of this machine's loopback interface that a client may use as ``Host``.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only (``localhost`` or a
    loopback address; a name that would need resolving is not)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def may_listen(host: str, tokens_configured: bool) -> str | None:
    """Why the daemon must not listen on ``host``, or None when it may: without tokens
    every connection is trusted, so only this machine may reach it."""
    if tokens_configured or is_loopback(host):
        return None
    return (
        f"without tokens the daemon listens on loopback only, not on {host!r}:"
        " configure tokens (svgx-sync token create) or listen on 127.0.0.1"
    )


def _hostname(host_header: str) -> str:
    """The name part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``),
    lower case, without a trailing dot (``localhost.`` is ``localhost``)."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def served_names(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a daemon listening on ``host`` answers to: the loopback names,
    ``host`` itself unless it is the any-address, and the ``extra`` configured."""
    names = set(LOOPBACK_NAMES)
    if _hostname(host) not in _ANY_ADDRESS:
        names.add(_hostname(host))
    names.update(_hostname(name) for name in extra)
    return frozenset(names)


def host_allowed(host_header: str | None, names: frozenset[str]) -> bool:
    """Whether a handshake's ``Host`` is one the daemon serves.

    An IP address always is: a browser sends as ``Host`` the name in the page's URL,
    and a page at an IP address is of that origin already. A host name must be one of
    ``names``: one the daemon does not know is what a rebinding attack looks like.
    """
    if not host_header:
        return False
    name = _hostname(host_header)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name in names
    return True


def _origin_key(origin: str) -> str:
    """An origin compared as browsers write it: lower case, default port left out."""
    text = origin.strip().lower().rstrip("/")
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if text.startswith(scheme) and text.endswith(port):
            return text[: -len(port)]
    return text


def own_origins(names: Iterable[str], port: int, *, tls: bool) -> frozenset[str]:
    """The origins of pages the daemon itself would serve under ``names`` on ``port``."""
    scheme = "https" if tls else "http"
    out = set()
    for name in names:
        shown = f"[{name}]" if ":" in name else name
        out.add(_origin_key(f"{scheme}://{shown}:{port}"))
    return frozenset(out)


def origin_allowed(origin: str | None, own: frozenset[str], allowed: Iterable[str]) -> bool:
    """Whether a handshake's ``Origin`` may connect: none at all (not a browser), the
    daemon's own, or one of ``allowed`` (``*`` allows every origin)."""
    if origin is None:
        return True
    key = _origin_key(origin)
    extra = {_origin_key(a) for a in allowed}
    return key in own or key in extra or "*" in extra


def handshake_refusal(
    host: str | None,
    origin: str | None,
    names: frozenset[str],
    own: frozenset[str],
    allowed: Iterable[str],
) -> tuple[int, str] | None:
    """Why a request must be refused before anything else (HTTP status and reason), or
    None: its ``Host`` is not served, or its ``Origin`` is not allowed."""
    if not host_allowed(host, names):
        return 403, "unknown host name"
    if not origin_allowed(origin, own, allowed):
        return 403, "origin not allowed"
    return None
