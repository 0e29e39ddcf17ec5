"""The exceptions of svgx_sync.

Every error raised on purpose derives from :class:`SvgxError`. The tree says whose fault
it is, because the daemon reports a client's mistake to that client and carries on, while
a fault of ours is logged and the operation is not acknowledged::

    SvgxError
    ├── ClientError                 bad input: reported to the sender, nothing changed
    │   ├── InvalidName             document, file or branch name refused
    │   ├── DocumentError           SVG text refused (not well-formed, DOCTYPE, too big/deep)
    │   ├── OperationError          operation refused (bad value, id clash, malformed data)
    │   │   ├── UnknownElement      the operation names an element that is not there
    │   │   ├── ActiveContent       the operation would put script or outside loads in the file
    │   │   └── LimitExceeded       the operation would make the file too large or too deep
    │   ├── NotFound                unknown document, version, branch, tag or conflict
    │   ├── ProtocolError           malformed or unknown wire message
    │   ├── Unauthorized            no valid token: missing, unknown, expired or badly signed
    │   ├── Forbidden               the sender's role, documents or identity do not allow it
    │   └── RateLimited             faster than the connection's limit; not applied
    └── ServerError                 a fault of ours or of the machine
        ├── StoreError              git or file system failure
        │   └── LockHeld            a git lock file stayed held past the wait
        ├── JournalError            the operation journal cannot be written or read
        ├── ListenError             the daemon cannot listen (port in use, no such address)
        └── Unreachable             no svgx-sync daemon answers at the address asked

Each client error carries a short machine-readable ``code`` used in the wire ``error``
message.
"""

from __future__ import annotations

from typing import Any


class SvgxError(Exception):
    """Root of every error svgx_sync raises on purpose."""

    code = "internal_error"


class ClientError(SvgxError):
    """The input was wrong; the sender is told and nothing was changed."""

    code = "bad_request"


class InvalidName(ClientError):
    """A document, file, branch or tag name was refused."""

    code = "invalid_name"


class DocumentError(ClientError):
    """SVG text was refused: not well-formed, a DOCTYPE, too large or too deep."""

    code = "invalid_document"


class OperationError(ClientError):
    """An operation was refused; the document is unchanged."""

    code = "invalid_operation"


class UnknownElement(OperationError):
    """The operation addresses an element the document does not have."""

    code = "unknown_element"


class ActiveContent(OperationError):
    """The operation would put active content in the document (script, an event handler,
    a reference outside it: ``svgx_sync.core.active``); ``findings`` says what, as the
    wire gives it."""

    code = "active_content"

    def __init__(self, message: str, findings: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []


class LimitExceeded(OperationError):
    """The operation would build a document larger, deeper or with a longer value than a
    file may hold when it is loaded (``svgx_sync.core.svgdoc``); nothing was applied."""

    code = "limit_exceeded"


class NotFound(ClientError):
    """An unknown document, element, version, branch, tag or conflict."""

    code = "not_found"


class ProtocolError(ClientError):
    """A wire message that is malformed, unknown or out of place."""

    code = "protocol_error"


class Unauthorized(ClientError):
    """No valid token: none was given, it is unknown or badly signed, or it has expired."""

    code = "unauthorized"


class Forbidden(ClientError):
    """The sender is known, but its role or documents do not allow this message, or the
    message names another user than the connection's."""

    code = "forbidden"


class RateLimited(ClientError):
    """The connection acts faster than its limit; what it sent was not applied."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float, op_id: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the limit allows one more
        self.op_id = op_id


class ServerError(SvgxError):
    """A fault of ours or of the machine; the operation is not acknowledged."""

    code = "server_error"


class StoreError(ServerError):
    """git or the file system failed."""

    code = "store_error"


class LockHeld(StoreError):
    """A git lock file the action needs stayed held for longer than it waits."""

    code = "lock_held"


class JournalError(ServerError):
    """The operation journal could not be written or read back."""

    code = "journal_error"


class ListenError(ServerError):
    """The daemon cannot listen on its address: the port is taken, the address is not
    this machine's, or the port needs privileges."""

    code = "listen_error"


class Unreachable(ServerError):
    """No svgx-sync daemon answers at the address a command asked (none runs there, or
    another program does)."""

    code = "unreachable"


def validation_problems(exc: Any, *, whole: str, skip: int = 0, limit: int | None = None) -> str:
    """One line naming each field pydantic refused (``data.x: Input should be ...``).

    ``skip`` drops leading location parts (a union's tag), ``whole`` names the input
    itself when the location is empty.
    """
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][skip:]) or whole}: {err['msg']}"
        for err in exc.errors()[:limit]
    )
