"""Tokens: hashed opaque secrets, signed tokens (HS256 and ES256), the settings file."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from svgx_sync.auth import (
    Authenticator,
    bearer_token,
    hash_secret,
    issue_token,
    secret_matches,
    sign_token,
    store_token,
)
from svgx_sync.config import Settings, TokenRecord, load_settings
from svgx_sync.core.access import Principal, Role
from svgx_sync.errors import ClientError, Unauthorized

NOW = 1_750_000_000.0
SECRET = "a shared secret of at least thirty-two bytes"


def test_a_secret_is_kept_salted_and_matched_only_by_itself():
    one, two = hash_secret("s3cret"), hash_secret("s3cret")
    assert one != two and "s3cret" not in one  # salted: the same secret, two hashes
    assert secret_matches("s3cret", one) and secret_matches("s3cret", two)
    assert not secret_matches("s3creT", one)
    for broken in ("", "scrypt$1$2", "pbkdf2$1$1$1$aa$bb", "scrypt$0$8$1$aa$bb", one[:-4]):
        assert not secret_matches("s3cret", broken)


def test_the_handshake_token_comes_from_the_header_or_the_query():
    assert bearer_token("Bearer abc", {}) == "abc"
    assert bearer_token("bearer  abc ", {"token": "q"}) == "abc"
    assert bearer_token(None, {"token": "q"}) == "q"
    assert bearer_token("Basic abc", {}) is None
    assert bearer_token("Bearer ", {"token": ""}) is None


def issued(role: Role = Role.EDITOR, **kw: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {"documents": ("plans-*",), "user_id": "ada", "name": "Ada"}
    fields.update(kw)
    return issue_token(role=role, expires=None, **fields)  # type: ignore[arg-type]


def test_an_opaque_token_names_its_principal():
    token = issued(Role.VIEWER)
    assert token.token.startswith(f"svgx_{token.record.id}_")
    assert token.token.split("_", 2)[2] not in token.record.hash
    auth = Authenticator(Settings(tokens=(token.record,)))
    assert auth.required
    assert auth.principal(token.token, NOW) == Principal("ada", "Ada", Role.VIEWER, ("plans-*",))
    assert auth.principal(token.token, NOW) == auth.principal(token.token, NOW)  # cached


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the secret
        lambda t: t.replace("svgx_", "svgx_0"),  # another id
        lambda t: t.rsplit("_", 1)[0],  # no secret
        lambda t: "svgx_",
        lambda t: "",
        lambda t: "not.a.jwt",
    ],
)
def test_a_wrong_opaque_token_is_refused(mangle):  # type: ignore[no-untyped-def]
    token = issued()
    auth = Authenticator(Settings(tokens=(token.record,)))
    with pytest.raises(Unauthorized, match="not valid"):
        auth.principal(mangle(token.token), NOW)


def test_an_opaque_token_ends_when_its_record_says():
    end = datetime.fromtimestamp(NOW + 60, UTC)
    token = issue_token(role=Role.ADMIN, documents=("*",), user_id=None, name=None, expires=end)
    auth = Authenticator(Settings(tokens=(token.record,)))
    principal = auth.principal(token.token, NOW)
    assert principal.user_id == f"admin-{token.record.id}" and principal.expires == NOW + 60
    with pytest.raises(Unauthorized, match="expired"):
        auth.principal(token.token, NOW + 60)


def test_no_tokens_configured_means_none_required():
    assert not Authenticator(Settings()).required


# -- signed tokens ------------------------------------------------------------------------


def claims(**kw: object) -> dict[str, object]:
    out: dict[str, object] = {"sub": "bo", "role": "editor", "documents": ["*"], "exp": NOW + 60}
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


def test_hs256_tokens_name_their_principal_and_expire():
    auth = Authenticator(Settings(jwt_secret=SECRET))
    token = jwt.encode(claims(name="Bo", documents=["a", "b*"]), SECRET, algorithm="HS256")
    assert auth.principal(token, NOW) == Principal("bo", "Bo", Role.EDITOR, ("a", "b*"), NOW + 60)
    with pytest.raises(Unauthorized, match="expired"):
        auth.principal(token, NOW + 60)
    later = jwt.encode(claims(nbf=NOW + 10), SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        auth.principal(later, NOW)
    assert auth.principal(later, NOW + 10).user_id == "bo"


@pytest.mark.parametrize(
    "bad",
    [
        claims(exp=None),
        claims(sub=None),
        claims(role=None),
        claims(documents=None),
        claims(role="owner"),
        claims(documents=[]),
        claims(documents="*"),
        claims(sub=""),
    ],
    ids=[
        "no exp",
        "no sub",
        "no role",
        "no documents",
        "unknown role",
        "no document",
        "documents not a list",
        "empty sub",
    ],
)
def test_a_signed_token_without_its_claims_is_refused(bad: dict[str, object]):
    auth = Authenticator(Settings(jwt_secret=SECRET))
    with pytest.raises(Unauthorized):
        auth.principal(jwt.encode(bad, SECRET, algorithm="HS256"), NOW)


def p256_key_files(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "es256.pem", folder / "es256.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_es256_tokens_are_verified_with_the_public_key(tmp_path: Path):
    private, public = p256_key_files(tmp_path)
    auth = Authenticator(Settings(jwt_public_key_file=public))
    token = jwt.encode(claims(), private.read_bytes(), algorithm="ES256")
    assert auth.principal(token, NOW).role is Role.EDITOR
    other, _ = p256_key_files(tmp_path / "..")
    forged = jwt.encode(claims(role="admin"), other.read_bytes(), algorithm="ES256")
    with pytest.raises(Unauthorized):
        auth.principal(forged, NOW)


def test_the_algorithm_comes_from_the_keys_not_the_token(tmp_path: Path):
    _, public = p256_key_files(tmp_path)
    auth = Authenticator(Settings(jwt_public_key_file=public))
    unsigned = jwt.encode(claims(role="admin"), None, algorithm="none")
    with pytest.raises(Unauthorized):
        auth.principal(unsigned, NOW)
    # The public key used as an HMAC secret (the classic algorithm confusion).
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(json.dumps(claims()).encode()).decode()
    mac = hmac.new(public.read_bytes(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{body}.{jwt.utils.base64url_encode(mac).decode()}"
    with pytest.raises(Unauthorized):
        auth.principal(confused, NOW)
    # An HS256 daemon refuses ES256 tokens, however well signed.
    private, _ = p256_key_files(tmp_path)
    es = jwt.encode(claims(), private.read_bytes(), algorithm="ES256")
    with pytest.raises(Unauthorized):
        Authenticator(Settings(jwt_secret=SECRET)).principal(es, NOW)


def test_keys_that_cannot_serve_es256_are_refused_when_loaded(tmp_path: Path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pub.pem"
    path.write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(ClientError, match="P-256"):
        Authenticator(Settings(jwt_public_key_file=path))
    with pytest.raises(ClientError, match="cannot read"):
        Authenticator(Settings(jwt_public_key_file=tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ClientError, match="not an unencrypted PEM private key"):
        Authenticator(Settings(jwt_private_key_file=tmp_path / "junk.pem"))


def test_a_short_hs256_secret_is_refused():
    with pytest.raises(ClientError, match=r"jwt_secret: .*32 bytes"):
        load_settings({"jwt_secret": "short"})


def test_a_signed_variant_is_made_with_the_configured_key(tmp_path: Path):
    principal = Principal("ada", "Ada", Role.VIEWER, ("plans-*",), NOW + 3600)
    hs = sign_token(Settings(jwt_secret=SECRET), principal)
    assert hs is not None and jwt.get_unverified_header(hs)["alg"] == "HS256"
    assert Authenticator(Settings(jwt_secret=SECRET)).principal(hs, NOW) == principal
    private, _ = p256_key_files(tmp_path)
    es_settings = Settings(jwt_private_key_file=private, jwt_secret=SECRET)
    es = sign_token(es_settings, principal)
    assert es is not None and jwt.get_unverified_header(es)["alg"] == "ES256"
    assert Authenticator(es_settings).principal(es, NOW) == principal
    assert sign_token(Settings(), principal) is None  # no key
    never = Principal("ada", "Ada", Role.VIEWER)
    assert sign_token(Settings(jwt_secret=SECRET), never) is None  # a JWT always has exp


# -- the settings file ------------------------------------------------------------------


def test_a_token_is_stored_in_a_new_settings_file_readable_by_its_owner_only(tmp_path: Path):
    config = tmp_path / "svgx-sync.toml"
    end = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    token = issue_token(
        role=Role.VIEWER,
        documents=("a*", 'we"ird'),
        user_id="ada",
        name="Ada \\ Lovelace",
        expires=end,
    )
    store_token(config, token.record)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    settings = load_settings({}, {}, config)
    assert settings.tokens == (token.record,)
    assert Authenticator(settings).principal(token.token, end.timestamp() - 1).user_id == "ada"


def test_tokens_are_appended_under_serve_and_the_rest_is_kept(tmp_path: Path):
    config = tmp_path / "svgx.toml"
    config.write_text('# mine\n[serve]\nport = 9000\nallowed_origins = ["https://app.example"]')
    config.chmod(0o640)
    one, two = issued(), issued(Role.ADMIN, user_id="bo", name=None)
    store_token(config, one.record)
    store_token(config, two.record)
    text = config.read_text()
    assert text.startswith("# mine\n[serve]\nport = 9000\n")
    assert "[[serve.tokens]]" in text and stat.S_IMODE(config.stat().st_mode) == 0o640
    settings = load_settings({}, {}, config)
    assert settings.port == 9000 and settings.tokens == (one.record, two.record)


def test_a_file_that_cannot_take_a_token_is_left_as_it_was(tmp_path: Path):
    config = tmp_path / "svgx.toml"
    for text in ('tokens = ["plain"]\n', "port = [\n", "port = 70000\n"):
        config.write_text(text)
        with pytest.raises(ClientError):
            store_token(config, issued().record)
        assert config.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svgx.toml"]


def test_a_record_keeps_only_what_the_daemon_needs():
    token = issued()
    record = token.record.model_dump()
    assert set(record) == {"id", "hash", "user_id", "name", "role", "documents", "expires"}
    assert token.token not in str(record)
    with pytest.raises(ValueError):
        TokenRecord.model_validate({**record, "hash": "plain"})
    local = TokenRecord.model_validate({**record, "expires": datetime(2030, 1, 1)})
    assert local.expires == datetime(2030, 1, 1, tzinfo=UTC)
    data = tomllib.loads("expires = 2030-01-01T00:00:00")  # a TOML local date-time
    assert TokenRecord.model_validate({**record, **data}).expires == local.expires
