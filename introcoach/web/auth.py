"""Sign-in sessions, the signed session cookie and the sign-in rate limit.

Signed-in sessions live on the server (in this process's memory); the cookie
carries only a random session id and an HMAC of it, so it can be neither read
nor forged. Restarting the web app signs everyone out. The app runs one worker,
so one store is enough.

Before sign-in nothing is stored: the sign-in form's session is a signed,
time-stamped cookie whose CSRF token is derived from it, so no number of
``GET /login`` can fill the store or push anyone's session out of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

SECRET_VARIABLE = "INTROCOACH_WEB_SECRET"
COOKIE_NAME = "introcoach_session"
#: The cookie's name when it is always ``Secure`` (``INTROCOACH_SECURE_COOKIES``):
#: browsers then insist on ``Secure``, ``Path=/`` and no ``Domain``.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
#: Sent with every answer when TLS ends at a proxy (one year; no subdomains,
#: which this app knows nothing about).
HSTS = "max-age=31536000"
#: Signed-in sessions end after this long without a request ...
IDLE_SECONDS = 2 * 60 * 60
#: ... and this long after signing in, whatever happens.
ABSOLUTE_SECONDS = 12 * 60 * 60
#: Sessions made only to carry the sign-in form's CSRF token.
ANONYMOUS_SECONDS = 30 * 60
MAX_SESSIONS = 10_000
#: Ids of pre-sign-in sessions start with this (stored ids never contain ``~``).
_ANONYMOUS_PREFIX = "p~"

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

    def _anonymous(self, session_id: str, now: float) -> Optional[WebSession]:
        """The pre-sign-in session a signed id describes, if still fresh."""
        try:
            issued = float(int(session_id.rsplit("~", 1)[1]))
        except (IndexError, ValueError):
            return None
        if not -60 <= now - issued <= ANONYMOUS_SECONDS:
            return None
        return WebSession(
            id=session_id,
            csrf_token=_mac(self._key, "csrf:" + session_id),
            created=issued,
            last_seen=now,
        )

    def get(self, cookie: Optional[str]) -> Optional[WebSession]:
        """The live session a cookie names, or None (unsigned, unknown, expired)."""
        if not cookie or cookie.count(".") != 1:
            return None
        session_id, signature = cookie.split(".")
        if not hmac.compare_digest(signature, _mac(self._key, session_id)):
            return None
        now = self.clock()
        if session_id.startswith(_ANONYMOUS_PREFIX):
            return self._anonymous(session_id, now)
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
        """Start a new session (signing in always starts a new one).

        Without ``user_id`` the session is not stored: its cookie carries it.
        """
        now = self.clock()
        if user_id is None:
            session_id = f"{_ANONYMOUS_PREFIX}{secrets.token_urlsafe(24)}~{int(now)}"
            anonymous = self._anonymous(session_id, now)
            assert anonymous is not None
            return anonymous
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

    def __len__(self) -> int:
        return len(self._sessions)

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
        # Still full (only signing in adds here): the longest idle go first.
        overflow = len(self._sessions) - MAX_SESSIONS + 1
        if overflow > 0:
            ordered = sorted(self._sessions.values(), key=lambda s: s.last_seen)
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


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def parse_networks(items: Sequence[str]) -> Tuple[Network, ...]:
    """Addresses and CIDRs (``10.0.0.0/8``, ``::1``) as networks."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(
    peer: str, forwarded_for: Optional[str], trusted: Sequence[Network]
) -> str:
    """The address a request came from, believing only trusted proxies.

    ``X-Forwarded-For`` is read only when the connection itself comes from a
    trusted proxy; then the right-most address that is not a trusted proxy is
    the client (everything left of it could have been written by the client).

    Args:
        peer: The address of the connection.
        forwarded_for: The ``X-Forwarded-For`` header, if any.
        trusted: The proxies to believe (``INTROCOACH_TRUSTED_PROXIES``).

    Returns:
        The client's address (``peer`` when nothing trusted says otherwise).
    """
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


@dataclass
class _Strikes:
    """Failed sign-ins counted under one key, and when the last one was."""

    count: int
    last: float


@dataclass
class LoginLimiter:
    """Exponential back-off after failed sign-ins, per account and per address.

    Failures are counted under three keys: the username from this address
    (``limit`` free), this address for any username (``per_address`` free) and
    the username from anywhere (``per_account`` free, to slow guessing spread
    over many addresses). Past its free failures a key must wait
    ``base_delay`` seconds after its last failure, doubling with every further
    failure up to ``max_delay``: an account under attack is slowed down, never
    locked, and other accounts and other addresses do not wait at all. A key
    with no failure for ``window`` seconds (at least ``max_delay``) starts over.
    """

    limit: int = 5
    window: float = 15 * 60
    per_address: int = 30
    per_account: int = 20
    base_delay: float = 2.0
    max_delay: float = 5 * 60
    clock: Clock = time.time
    max_keys: int = MAX_SESSIONS
    _strikes: OrderedDict[Tuple[str, ...], _Strikes] = field(
        default_factory=OrderedDict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _keys(self, username: str, address: str) -> List[Tuple[Tuple[str, ...], int]]:
        name = username.strip().lower()
        return [
            (("user-address", name, address), self.limit),
            (("address", address), self.per_address),
            (("user", name), self.per_account),
        ]

    def _live(self, key: Tuple[str, ...], now: float) -> Optional[_Strikes]:
        strikes = self._strikes.get(key)
        if strikes is not None and now - strikes.last > max(
            self.window, self.max_delay
        ):
            del self._strikes[key]
            return None
        return strikes

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after the last of ``failures`` with ``free`` allowed."""
        if failures < free:
            return 0.0
        return float(min(self.max_delay, self.base_delay * 2 ** (failures - free)))

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until this username may try again from here; 0 if allowed."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, free in self._keys(username, address):
                strikes = self._live(key, now)
                if strikes is not None:
                    until = strikes.last + self.delay(strikes.count, free)
                    wait = max(wait, until - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        """Count a failed sign-in."""
        now = self.clock()
        with self._lock:
            for key, _ in self._keys(username, address):
                strikes = self._live(key, now)
                if strikes is None:
                    strikes = self._strikes[key] = _Strikes(0, now)
                strikes.count += 1
                strikes.last = now
                self._strikes.move_to_end(key)
            while len(self._strikes) > self.max_keys:  # the longest quiet go
                self._strikes.popitem(last=False)

    def succeeded(self, username: str, address: str) -> None:
        """Clear this username's failures from this address."""
        with self._lock:
            self._strikes.pop(self._keys(username, address)[0][0], None)
