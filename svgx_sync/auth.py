"""Tokens: who a presented token says a connection is.

Two kinds, both naming a user, a role, the documents it may open and, optionally, when
it stops being valid:

* **Opaque tokens**, ``svgx_<id>_<secret>``, made by ``svgx-sync token create``. The
  settings keep only a :class:`~svgx_sync.config.TokenRecord` per token: its ``id``,
  who it is for, and a salted scrypt hash of the secret, compared in constant time
  (:func:`hmac.compare_digest`). The id finds the record, so a wrong token costs one
  hash at most; the secret is 256 random bits, so the hash guards the settings file,
  not a weak password.
* **Signed tokens** (JWT) for applications that issue their own: HS256 with
  ``jwt_secret``, or ES256 verified with ``jwt_public_key_file`` (or the public half of
  ``jwt_private_key_file``). Claims: ``sub`` (user id), ``role``, ``documents`` (a
  list of globs), ``exp``, and optionally ``name`` and ``nbf``. The algorithm is taken
  from the configured keys, never from the token alone.

The clock comes in as ``now`` (seconds since the epoch). What a principal may do is
:mod:`svgx_sync.core.access`; this module only says who it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import Settings, TokenRecord
from .core.access import Principal, Role
from .durable.atomic import write_atomic
from .errors import ClientError, Unauthorized, validation_problems

__all__ = [
    "TOKEN_PREFIX",
    "Authenticator",
    "IssuedToken",
    "bearer_token",
    "hash_secret",
    "issue_token",
    "secret_matches",
    "sign_token",
    "store_token",
]

TOKEN_PREFIX = "svgx_"

# scrypt's cost: 16 MiB and some tens of milliseconds per hash (RFC 7914's interactive
# parameters).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_CACHE_SIZE = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """``secret`` as the settings keep it: ``scrypt$N$r$p$salt$digest``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def secret_matches(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        if len(expected) != 32:
            return False
        got = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:  # a malformed hash, or scrypt parameters OpenSSL refuses
        return False
    return hmac.compare_digest(got, expected)


def bearer_token(authorization: str | None, query: Mapping[str, str]) -> str | None:
    """The token a handshake carries: ``Authorization: Bearer TOKEN``, else the
    ``token`` query parameter (browsers cannot set headers on a WebSocket)."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return query.get("token") or None


class _Claims(BaseModel):
    model_config = ConfigDict(extra="allow")

    sub: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    role: Role
    documents: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=400)], ...], Field(min_length=1)
    ]
    exp: float
    nbf: float | None = None


def _read_key(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ClientError(f"cannot read the {what} {path}: {exc.strerror}") from exc


def _p256(key: object, path: Path) -> None:
    curve = getattr(key, "curve", None)
    if not isinstance(curve, ec.SECP256R1):
        raise ClientError(f"{path}: ES256 needs a P-256 (secp256r1) elliptic-curve key")


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_key(path, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise ClientError(f"{path} is not an unencrypted PEM private key") from exc
    _p256(key, path)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(_read_key(path, "public key"))
    except (ValueError, TypeError) as exc:
        raise ClientError(f"{path} is not a PEM public key") from exc
    _p256(key, path)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _verification_keys(settings: Settings) -> dict[str, Any]:
    """The key for each algorithm a signed token may use, by the settings."""
    keys: dict[str, Any] = {}
    if settings.jwt_secret is not None:
        keys["HS256"] = settings.jwt_secret.get_secret_value().encode()
    if settings.jwt_public_key_file is not None:
        keys["ES256"] = _public_key(settings.jwt_public_key_file)
    elif settings.jwt_private_key_file is not None:
        keys["ES256"] = _private_key(settings.jwt_private_key_file).public_key()
    return keys


def _expiry(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


class Authenticator:
    """Turns a presented token into a :class:`Principal`, by the settings' tokens and
    keys; reads the key files once, when made."""

    def __init__(self, settings: Settings) -> None:
        self._records = {r.id: r for r in settings.tokens if isinstance(r, TokenRecord)}
        self._shared = tuple(t.encode() for t in settings.tokens if isinstance(t, str))
        self._keys = _verification_keys(settings)
        # sha256 of opaque tokens already verified, so a reconnect costs no scrypt
        self._verified: dict[bytes, Principal] = {}

    @property
    def required(self) -> bool:
        """Whether any token or key is configured (then every connection needs one)."""
        return bool(self._records or self._shared or self._keys)

    def shared(self, token: str) -> bool:
        """Whether ``token`` is one of the shared secrets written out in the settings
        (compared in constant time). A shared secret names nobody: whoever knows it is
        trusted as without tokens, named by the first join."""
        given = token.encode()
        return any(hmac.compare_digest(given, secret) for secret in self._shared)

    def principal(self, token: str, now: float) -> Principal:
        """Who ``token`` says the connection is; :class:`Unauthorized` if it is unknown,
        badly signed, not yet valid or expired."""
        opaque = token.startswith(TOKEN_PREFIX)
        found = self._opaque(token) if opaque else self._signed(token, now)
        if found is None:
            raise Unauthorized("the token is not valid")
        if found.expired(now):
            raise Unauthorized("the token has expired")
        return found

    def _opaque(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(key)
        if known is not None:
            return known
        _, key_id, secret = (token.split("_", 2) + ["", ""])[:3]
        record = self._records.get(key_id)
        if record is None or not secret_matches(secret, record.hash):
            return None
        found = Principal(
            record.user_id,
            record.name or record.user_id,
            record.role,
            record.documents,
            _expiry(record.expires),
        )
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[key] = found
        return found

    def _signed(self, token: str, now: float) -> Principal | None:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if not isinstance(algorithm, str) or algorithm not in self._keys:
                return None
            raw = jwt.decode(
                token,
                self._keys[algorithm],
                algorithms=[algorithm],
                # exp and nbf are checked below against the clock given, not PyJWT's.
                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
            )
            claims = _Claims.model_validate(raw)
        except (jwt.InvalidTokenError, ValidationError):
            return None
        if claims.nbf is not None and now < claims.nbf:
            return None  # judged once, here: a principal has no "valid from"
        name = claims.name or claims.sub
        return Principal(claims.sub, name, claims.role, claims.documents, claims.exp)


def sign_token(settings: Settings, principal: Principal) -> str | None:
    """``principal`` as a signed token (ES256 with ``jwt_private_key_file``, else HS256
    with ``jwt_secret``), or None when no signing key is configured or the principal
    never expires (a signed token always carries ``exp``)."""
    if principal.expires is None:
        return None
    claims: dict[str, Any] = {
        "sub": principal.user_id,
        "name": principal.display_name,
        "role": principal.role.value,
        "documents": list(principal.documents),
        "exp": int(principal.expires),
    }
    if settings.jwt_private_key_file is not None:
        return jwt.encode(claims, _private_key(settings.jwt_private_key_file), algorithm="ES256")
    if settings.jwt_secret is not None:
        return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
    return None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new opaque token: the secret to hand over once, and the record to keep."""

    token: str
    record: TokenRecord

    @property
    def principal(self) -> Principal:
        r = self.record
        return Principal(r.user_id, r.name or r.user_id, r.role, r.documents, _expiry(r.expires))


def issue_token(
    *,
    role: Role,
    documents: tuple[str, ...],
    user_id: str | None,
    name: str | None,
    expires: datetime | None,
) -> IssuedToken:
    """A new opaque token with a fresh id and secret; nothing is stored yet. Without
    ``user_id`` the token is for a user named after its role and id."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    user = user_id or f"{role.value}-{key_id}"
    record = TokenRecord(
        id=key_id,
        hash=hash_secret(secret),
        user_id=user,
        name=name,
        role=role,
        documents=documents,
        expires=expires.astimezone(UTC).replace(microsecond=0) if expires else None,
    )
    return IssuedToken(f"{TOKEN_PREFIX}{key_id}_{secret}", record)


def _toml_string(text: str) -> str:
    # A TOML basic string: JSON's escapes are TOML's, except that TOML has no "\/".
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _token_table(record: TokenRecord, table: str) -> str:
    lines = [
        f"[[{table}]]",
        f"id = {_toml_string(record.id)}",
        f"user_id = {_toml_string(record.user_id)}",
    ]
    if record.name is not None:
        lines.append(f"name = {_toml_string(record.name)}")
    lines.append(f"role = {_toml_string(record.role.value)}")
    lines.append(f"documents = [{', '.join(_toml_string(d) for d in record.documents)}]")
    if record.expires is not None:
        lines.append(f"expires = {record.expires.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    lines.append(f"hash = {_toml_string(record.hash)}")
    return "\n".join(lines) + "\n"


def store_token(config: Path, record: TokenRecord) -> None:
    """Append ``record`` to the settings file ``config`` (created, readable by its owner
    only, when missing), under ``[serve]`` when the file has that table.

    The file is replaced atomically, and only if nobody changed it meanwhile; the result
    must still be valid settings, or nothing is written.
    """
    try:
        original = config.read_bytes()
    except FileNotFoundError:
        # Created empty first, so that the atomic write keeps its owner-only mode.
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        try:
            _append(config, b"", record)
        except BaseException:
            config.unlink()
            raise
        return
    _append(config, original, record)


def _append(config: Path, original: bytes, record: TokenRecord) -> None:
    try:
        text = original.decode()
    except UnicodeDecodeError as exc:
        raise ClientError(f"the settings file {config} is not UTF-8 text: {exc}") from exc
    try:
        table = "serve.tokens" if "serve" in tomllib.loads(text) else "tokens"
    except tomllib.TOMLDecodeError as exc:
        raise ClientError(f"the settings file {config} is not valid TOML: {exc}") from exc
    updated = text + ("\n" if text and not text.endswith("\n") else "")
    updated += ("\n" if updated else "") + _token_table(record, table)
    try:
        data = tomllib.loads(updated)
    except tomllib.TOMLDecodeError:
        raise ClientError(
            f"{config}: `tokens` is written as an inline list; write each token as a"
            " [[tokens]] table (docs/security.md) to add one"
        ) from None
    settings_table = data.get("serve", data)
    ids = [t.get("id") for t in settings_table.get("tokens", []) if isinstance(t, dict)]
    if ids.count(record.id) > 1:
        raise ClientError(f"{config} already has a token {record.id}; try again")
    try:
        Settings.model_validate(settings_table)
    except ValidationError as exc:
        problems = validation_problems(exc, whole="settings")
        raise ClientError(f"{config} would not be valid settings: {problems}") from None
    if not write_atomic(config, updated.encode(), may_replace=lambda now: now == original):
        raise ClientError(f"{config} changed while the token was added; nothing was written")
