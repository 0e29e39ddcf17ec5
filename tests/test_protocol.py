"""The wire protocol and the settings, on the pure core."""

from __future__ import annotations

import orjson
import pytest

from svgx_sync.config import Settings, load_settings
from svgx_sync.core.protocol import (
    Activity,
    Join,
    OperationMessage,
    VersionRequest,
    check_client_operation,
    encode,
    parse_message,
    version_created,
)
from svgx_sync.errors import ClientError, OperationError, ProtocolError


def test_the_seed_join_parses():
    msg = parse_message(
        '{"type":"join","user_id":"user_123","username":"John Doe","session_id":"session_456"}'
    )
    assert isinstance(msg, Join)
    assert (msg.user_id, msg.session_id, msg.last_seq) == ("user_123", "session_456", None)


def test_the_seed_operation_parses_into_an_operation():
    msg = parse_message(
        orjson.dumps(
            {
                "type": "operation",
                "operation_type": "update",
                "user_id": "user_123",
                "session_id": "session_456",
                "element_id": "r1",
                "data": {"position": {"x": 1, "y": 2}},
            }
        )
    )
    assert isinstance(msg, OperationMessage)
    op = msg.to_operation()
    assert op.operation_type == "update" and op.data == {"position": {"x": 1, "y": 2}}


def test_the_seed_activity_without_session_id_parses():
    msg = parse_message(
        '{"type":"activity","user_id":"u","status":"editing","current_element":"e",'
        '"cursor_position":{"x":1,"y":2}}'
    )
    assert isinstance(msg, Activity) and msg.cursor_position == {"x": 1.0, "y": 2.0}


def test_the_seed_version_fields_parse():
    msg = parse_message(
        '{"type":"version","action":"create_version","created_by":"u","description":"d"}'
    )
    assert isinstance(msg, VersionRequest) and msg.action == "create_version"


@pytest.mark.parametrize(
    ("frame", "error", "code"),
    [
        ("{not json", ProtocolError, "protocol_error"),
        ("[1, 2]", ProtocolError, "protocol_error"),
        ('{"type":"dance"}', ProtocolError, "protocol_error"),
        ('{"type":"join","user_id":"u"}', ProtocolError, "protocol_error"),
        (
            '{"type":"join","user_id":"u","session_id":"s","extra":1}',
            ProtocolError,
            "protocol_error",
        ),
        (
            '{"type":"operation","operation_type":"explode","user_id":"u","element_id":"e",'
            '"op_id":"o1"}',
            OperationError,
            "invalid_operation",
        ),
    ],
)
def test_bad_frames_are_refused_with_a_code(frame, error, code):
    with pytest.raises(error) as info:
        parse_message(frame)
    assert info.value.code == code


def test_an_invalid_operation_keeps_its_op_id_for_the_error():
    with pytest.raises(OperationError) as info:
        parse_message(
            '{"type":"operation","operation_type":"nope","user_id":"u","element_id":"e","op_id":"o9"}'
        )
    assert info.value.op_id == "o9"


def test_encode_is_compact_json_text():
    assert encode({"type": "ack", "seq": 1}) == '{"type":"ack","seq":1}'


def test_settings_precedence_flag_env_toml_default(tmp_path):
    toml = tmp_path / "svgx.toml"
    toml.write_text('batch_size = 3\nport = 1000\nhost = "0.0.0.0"\n')
    env = {"SVGX_SYNC_PORT": "2000", "SVGX_SYNC_BATCH_TIMEOUT_MS": "5"}
    settings = load_settings({"port": 3000, "host": None}, env, toml)
    assert settings.port == 3000
    assert settings.batch_timeout_ms == 5
    assert settings.batch_size == 3
    assert settings.host == "0.0.0.0"
    assert settings.max_connections == Settings().max_connections == 1000


def test_settings_file_from_the_environment_and_tokens_list(tmp_path):
    toml = tmp_path / "svgx.toml"
    toml.write_text('[serve]\ntokens = ["a", "b"]\n')
    settings = load_settings({}, {"SVGX_SYNC_CONFIG": str(toml)})
    assert settings.tokens == ("a", "b")
    assert load_settings({}, {"SVGX_SYNC_TOKENS": "x, y"}).tokens == ("x", "y")


def test_settings_refuse_unknown_names_and_bad_values(tmp_path):
    toml = tmp_path / "svgx.toml"
    toml.write_text("batch_sise = 3\n")
    with pytest.raises(ClientError, match="batch_sise"):
        load_settings({}, {}, toml)
    with pytest.raises(ClientError, match="default_strategy"):
        load_settings({"default_strategy": "coin_toss"}, {})


def test_version_created_says_who_made_it_and_how():
    made = version_created("v1", "Version", "alice", 3)
    assert made == {
        "type": "version_created",
        "version_id": "v1",
        "description": "Version",
        "created_by": "alice",
        "seq": 3,
    }
    assert version_created("v1", "Version", "alice", 3, auto=True) == {**made, "auto": True}
    assert version_created("v3", "d", "bob", None, source="git")["source"] == "git"


@pytest.mark.parametrize(
    ("op_id", "taken"),
    [
        ("0b6f4c1e-9a2d-4f7b-8c1e-2d3f4a5b6c7d", True),
        ("alice:42", True),
        ("base64url_A-z+/=~#.@", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("ends-with-newline\n", False),
        ("inner space", False),
        ("ctl\x1b[31m", False),
        ("bidi\u202e", False),
        ("é", False),
    ],
)
def test_an_op_id_is_taken_only_of_trailer_safe_characters(op_id, taken):
    frame = orjson.dumps(
        {"type": "operation", "operation_type": "delete", "user_id": "u", "element_id": "e"}
        | {"op_id": op_id}
    )
    if taken:
        assert parse_message(frame).op_id == op_id
        check_client_operation(op_id, None, seq=0)
        return
    with pytest.raises(OperationError, match="op_id") as info:
        parse_message(frame)
    assert info.value.op_id == op_id  # the error names the operation it refuses
    with pytest.raises(OperationError, match="invalid op_id"):
        check_client_operation(op_id, None, seq=0)
