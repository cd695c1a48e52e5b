"""Short-lived tokens that let a signed-in trainee's browser talk to Rasa.

The web app issues one (:func:`issue_chat_token`) for a trainee's own practice
session; the socket.io channel (:mod:`introcoach.channels`) reads it
(:func:`read_chat_token`) when the socket connects and binds that socket to the
token's sender id, so it can neither join nor write to anyone else's
conversation. Tokens are HS256 JWTs signed with ``Settings.jwt_key``, carry an
audience so no other token signed with the same key passes, and expire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import jwt

ALGORITHM = "HS256"
AUDIENCE = "introcoach-chat"
#: Long enough for a slow page load; the widget asks for a new one on reconnect.
LIFETIME_SECONDS = 15 * 60
_MIN_KEY_LENGTH = 32


class InvalidChatToken(Exception):
    """The token is missing, forged, expired or not a chat token."""


@dataclass(frozen=True)
class ChatClaims:
    """What a valid chat token says.

    Attributes:
        sender_id: The Rasa conversation the bearer may use.
        trainee_id: The signed-in trainee.
        practice_id: The practice session row the conversation belongs to.
        expires_at: Unix time after which the token is refused.
        issued_at: Unix time it was issued, to the microsecond (a sign-out
            revokes the tokens issued before it).

    """

    sender_id: str
    trainee_id: int
    practice_id: int
    expires_at: int
    issued_at: float = 0.0


def _check_key(key: str) -> None:
    if len(key) < _MIN_KEY_LENGTH:
        raise ValueError(
            f"the chat token key must be at least {_MIN_KEY_LENGTH} characters"
        )


def issue_chat_token(
    key: str,
    sender_id: str,
    trainee_id: int,
    practice_id: int,
    *,
    lifetime: int = LIFETIME_SECONDS,
    now: Optional[float] = None,
) -> str:
    """A signed token for one trainee's one conversation.

    Args:
        key: The signing key (``Settings.jwt_key``).
        sender_id: The Rasa sender id of the practice session.
        trainee_id: The trainee the session belongs to.
        practice_id: The practice session's id.
        lifetime: Seconds until it expires.
        now: The current Unix time (for tests).

    Returns:
        The encoded JWT.

    """
    _check_key(key)
    # Not rounded to the second: a sign-out and the next sign-in's token may
    # fall in the same second, and only tokens from before the sign-out go.
    issued = time.time() if now is None else float(now)
    claims = {
        "sub": sender_id,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": int(issued) + lifetime,
        "trainee": trainee_id,
        "practice": practice_id,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_chat_token(key: str, token: Any) -> ChatClaims:
    """Check a token and return its claims.

    Args:
        key: The signing key.
        token: What the client sent (anything; only a valid JWT string passes).

    Returns:
        The claims of a valid, unexpired chat token.

    Raises:
        InvalidChatToken: For anything else, with a reason safe to log.

    """
    if not isinstance(token, str) or not token:
        raise InvalidChatToken("no token")
    try:
        data = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidChatToken("token expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidChatToken(f"invalid token ({exc.__class__.__name__})") from None
    sender, trainee, practice = (
        data.get("sub"),
        data.get("trainee"),
        data.get("practice"),
    )
    if not isinstance(sender, str) or not sender:
        raise InvalidChatToken("token has no sender")
    if not isinstance(trainee, int) or not isinstance(practice, int):
        raise InvalidChatToken("token has no trainee or practice session")
    issued = data["iat"]
    if isinstance(issued, bool) or not isinstance(issued, (int, float)):
        raise InvalidChatToken("token has no issue time")
    return ChatClaims(sender, trainee, practice, int(data["exp"]), float(issued))
