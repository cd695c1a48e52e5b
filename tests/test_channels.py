"""The channels' checks on their own: the REST token and the metadata cap.

The integration tests (``test_integration.py``, ``test_chat_socket.py``) check
the same rules on the running Rasa server.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from introcoach.channels import (
    MAX_METADATA_CHARS,
    METADATA_TOO_LARGE,
    REST_UNAUTHORIZED,
    ReportingRestInput,
    check_rest_body,
    check_rest_token,
    metadata_too_large,
)

TOKEN = "the-rest-token-" + "r" * 20


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        TOKEN,
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
    ],
)
def test_a_rest_message_without_the_token_gets_401(
    authorization: Optional[str],
) -> None:
    refused = check_rest_token(TOKEN, authorization)
    assert refused is not None and refused.status == 401
    assert json.loads(refused.body) == {"error": REST_UNAUTHORIZED}
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"  Bearer {TOKEN}  "]
)
def test_the_token_passes(authorization: str) -> None:
    assert check_rest_token(TOKEN, authorization) is None


def test_an_empty_expected_token_lets_nothing_through() -> None:
    assert check_rest_token("", "Bearer ") is not None
    assert check_rest_token("", "Bearer") is not None


def test_the_rest_channel_will_not_start_without_a_token() -> None:
    with pytest.raises(ValueError, match="INTROCOACH_REST_TOKEN"):
        ReportingRestInput.from_credentials(None)
    with pytest.raises(ValueError, match="INTROCOACH_REST_TOKEN"):
        ReportingRestInput.from_credentials({"token": "  "})
    channel = ReportingRestInput.from_credentials({"token": TOKEN})
    assert isinstance(channel, ReportingRestInput) and channel.token == TOKEN
    assert channel.name() == "rest"


@pytest.mark.parametrize(
    "metadata, too_large",
    [
        (None, False),
        ({}, False),
        ({"persona_id": "dana", "mode": "small_talk"}, False),
        ({"p": "x" * (MAX_METADATA_CHARS - 8)}, False),  # {"p":"..."} is 8 more
        ({"p": "x" * (MAX_METADATA_CHARS - 7)}, True),
        ("x" * MAX_METADATA_CHARS, False),
        ("x" * (MAX_METADATA_CHARS + 1), True),
        ({"nested": [{"deep": "é" * MAX_METADATA_CHARS}]}, True),
        ({"not json": object()}, True),
    ],
)
def test_metadata_is_capped(metadata: Any, too_large: bool) -> None:
    assert metadata_too_large(metadata) is too_large


def test_a_rest_body_with_too_much_metadata_gets_400() -> None:
    body = {"sender": "s", "message": "hi", "metadata": {"p": "x" * 5_000}}
    refused = check_rest_body(json.dumps(body).encode())
    assert refused is not None and refused.status == 400
    assert json.loads(refused.body) == {"error": METADATA_TOO_LARGE}
    body["metadata"] = {"persona_id": "dana"}
    assert check_rest_body(json.dumps(body).encode()) is None
