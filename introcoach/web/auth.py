"""Sign-in sessions, the signed session cookie and the sign-in rate limit.

Sessions live on the server (in this process's memory); the cookie carries only
a random session id and an HMAC of it, so it can be neither read nor forged.
Restarting the web app signs everyone out. The app runs one worker, so one
store is enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Deque, Dict, Mapping, Optional, Tuple

SECRET_VARIABLE = "INTROCOACH_WEB_SECRET"
COOKIE_NAME = "introcoach_session"
#: Signed-in sessions end after this long without a request ...
IDLE_SECONDS = 2 * 60 * 60
#: ... and this long after signing in, whatever happens.
ABSOLUTE_SECONDS = 12 * 60 * 60
#: Sessions made only to carry the sign-in form's CSRF token.
ANONYMOUS_SECONDS = 30 * 60
MAX_SESSIONS = 10_000

Clock = Callable[[], float]


def web_secret(
    env: Optional[Mapping[str, str]] = None, secrets_dir: Path = Path()
) -> str:
    """The key that signs session cookies.

    Taken from ``INTROCOACH_WEB_SECRET``, else from ``secrets_dir/web_secret``,
    which is created (owner-only) with a random value on first use, like the
    other tokens in :mod:`introcoach.settings`.

    Args:
        env: Variables to read; ``os.environ`` when omitted.
        secrets_dir: The git-ignored secrets folder.

    Returns:
        The secret.

    """
    env = os.environ if env is None else env
    value = env.get(SECRET_VARIABLE, "").strip()
    if value:
        return value
    file = secrets_dir / "web_secret"
    if file.exists():
        stored = file.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    file.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _mac(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass
class WebSession:
    """One browser's session: who signed in and the CSRF token of its forms."""

    id: str
    csrf_token: str
    created: float
    last_seen: float
    user_id: Optional[int] = None

    @property
    def signed_in(self) -> bool:
        """Whether a user signed in with this session."""
        return self.user_id is not None


@dataclass
class SessionStore:
    """Sessions by id, with signed cookie values and expiry."""

    secret: str
    clock: Clock = time.time
    _sessions: Dict[str, WebSession] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def _key(self) -> bytes:
        return hashlib.sha256(
            b"introcoach-web-session:" + self.secret.encode()
        ).digest()

    def cookie_value(self, session: WebSession) -> str:
        """The cookie for ``session``: its id and the id's signature."""
        return f"{session.id}.{_mac(self._key, session.id)}"

    def _expired(self, session: WebSession, now: float) -> bool:
        if session.user_id is None:
            return now - session.created > ANONYMOUS_SECONDS
        return (
            now - session.last_seen > IDLE_SECONDS
            or now - session.created > ABSOLUTE_SECONDS
        )

    def get(self, cookie: Optional[str]) -> Optional[WebSession]:
        """The live session a cookie names, or None (unsigned, unknown, expired)."""
        if not cookie or cookie.count(".") != 1:
            return None
        session_id, signature = cookie.split(".")
        if not hmac.compare_digest(signature, _mac(self._key, session_id)):
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def create(self, user_id: Optional[int] = None) -> WebSession:
        """Start a new session (signing in always starts a new one)."""
        now = self.clock()
        session = WebSession(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            user_id=user_id,
        )
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._prune(now)
            self._sessions[session.id] = session
        return session

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
        # Still full: drop the oldest sessions that never signed in first.
        overflow = len(self._sessions) - MAX_SESSIONS + 1
        if overflow > 0:
            ordered = sorted(
                self._sessions.values(), key=lambda s: (s.signed_in, s.last_seen)
            )
            for session in ordered[:overflow]:
                del self._sessions[session.id]

    def end(self, session: Optional[WebSession]) -> None:
        """Forget a session (sign out)."""
        if session is not None:
            with self._lock:
                self._sessions.pop(session.id, None)

    def end_user(self, user_id: int) -> None:
        """Forget every session of a user."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.user_id == user_id]:
                del self._sessions[key]


@dataclass
class LoginLimiter:
    """At most ``limit`` failed sign-ins per username and address per window.

    A second, looser limit per address alone slows down trying many usernames.
    """

    limit: int = 5
    window: float = 5 * 60
    per_address: int = 30
    clock: Clock = time.time
    _failures: Dict[Tuple[str, str], Deque[float]] = field(default_factory=dict)
    _by_address: Dict[str, Deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, stamps: Optional[Deque[float]], now: float) -> int:
        if not stamps:
            return 0
        while stamps and now - stamps[0] > self.window:
            stamps.popleft()
        return len(stamps)

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until this username may try again from here; 0 if allowed."""
        now = self.clock()
        key = (username.strip().lower(), address)
        with self._lock:
            checks = (
                (self._failures.get(key), self.limit),
                (self._by_address.get(address), self.per_address),
            )
            wait = 0.0
            for stamps, limit in checks:
                if stamps is not None and self._recent(stamps, now) >= limit:
                    wait = max(wait, self.window - (now - stamps[-limit]))
            return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        """Count a failed sign-in."""
        now = self.clock()
        key = (username.strip().lower(), address)
        with self._lock:
            if len(self._failures) > MAX_SESSIONS:
                self._forget_old(now)
            self._failures.setdefault(key, deque()).append(now)
            self._by_address.setdefault(address, deque()).append(now)

    def succeeded(self, username: str, address: str) -> None:
        """Clear this username's failures from this address."""
        with self._lock:
            self._failures.pop((username.strip().lower(), address), None)

    def _forget_old(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(self._failures[key], now):
                del self._failures[key]
        for address in list(self._by_address):
            if not self._recent(self._by_address[address], now):
                del self._by_address[address]
