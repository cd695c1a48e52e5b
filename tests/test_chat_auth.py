"""Chat tokens: what the web app issues and the socket.io channel accepts."""

from __future__ import annotations

import time

import jwt
import pytest

from introcoach.chat_auth import (
    ALGORITHM,
    AUDIENCE,
    InvalidChatToken,
    issue_chat_token,
    read_chat_token,
)

KEY = "unit-test-key-" + "z" * 32
NOW = 1_700_000_000  # November 2023: long expired


@pytest.fixture
def token() -> str:
    return issue_chat_token(KEY, "web-abc", trainee_id=7, practice_id=42)


def test_round_trip(token: str) -> None:
    claims = read_chat_token(KEY, token)
    assert (claims.sender_id, claims.trainee_id, claims.practice_id) == (
        "web-abc",
        7,
        42,
    )


def test_expired_token_is_refused() -> None:
    old = issue_chat_token(KEY, "web-abc", 7, 42, lifetime=60, now=NOW)
    with pytest.raises(InvalidChatToken, match="expired"):
        read_chat_token(KEY, old)


def _forge(claims: dict, key: str = KEY, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        42,
        {"token": "x"},
        "not.a.jwt",
        # signed with another key
        "WRONG_KEY",
        # a token for another audience (e.g. another app sharing the key)
        "OTHER_AUDIENCE",
        # no expiry
        "NO_EXP",
        # alg "none"
        "ALG_NONE",
        # sender missing
        "NO_SENDER",
    ],
)
def test_invalid_tokens_are_refused(bad: object) -> None:
    now = int(time.time())
    base = {"sub": "web-abc", "aud": AUDIENCE, "iat": now, "trainee": 7}
    base.update({"exp": now + 600, "practice": 42})
    assert read_chat_token(KEY, _forge(base))  # the unforged base is valid
    forged = {
        "WRONG_KEY": lambda: _forge(base, key="another-key-" + "y" * 32),
        "OTHER_AUDIENCE": lambda: _forge({**base, "aud": "someone-else"}),
        "NO_EXP": lambda: _forge({k: v for k, v in base.items() if k != "exp"}),
        "ALG_NONE": lambda: jwt.encode(base, None, algorithm="none"),
        "NO_SENDER": lambda: _forge({k: v for k, v in base.items() if k != "sub"}),
    }
    value = forged[bad]() if isinstance(bad, str) and bad in forged else bad
    with pytest.raises(InvalidChatToken):
        read_chat_token(KEY, value)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        issue_chat_token("short", "web-abc", 7, 42)


@pytest.mark.parametrize(
    "raw, seconds",
    [
        (None, 900),  # unset: 15 minutes
        ("", 900),
        ("6", 6),
        ("3600", 3600),
        ("4", 900),  # below the minimum (5 s)
        ("0", 900),
        ("-6", 900),
        ("6.5", 900),  # not a whole number
        ("soon", 900),
    ],
)
def test_chat_token_lifetime_setting(tmp_path, raw, seconds) -> None:
    from introcoach.settings import load_settings

    env = {"INTROCOACH_SECRETS_DIR": str(tmp_path)}
    if raw is not None:
        env["INTROCOACH_CHAT_TOKEN_SECONDS"] = raw
    assert load_settings(env).chat_token_seconds == seconds


def test_issued_with_the_configured_lifetime() -> None:
    lifetime = 6
    claims = read_chat_token(
        KEY, issue_chat_token(KEY, "web-abc", 7, 42, lifetime=lifetime)
    )
    assert claims.expires_at - claims.issued_at <= lifetime
    assert claims.expires_at - claims.issued_at > lifetime - 1
