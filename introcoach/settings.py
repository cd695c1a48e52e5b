"""Configuration, read from the environment in one place.

Every value has a safe local default: servers bind to 127.0.0.1, and the two
secrets (the Rasa HTTP API token, the REST channel's token, the action server's
shared token and the key that signs the chat widget's tokens) are taken
from the environment or generated once and kept in the git-ignored ``.secrets/``
folder, so a fresh clone never ships a guessable secret.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Where the servers listen and how they authenticate each other."""

    host: str
    rasa_port: int
    action_port: int
    web_port: int
    api_token: str
    action_token: str
    secrets_dir: Path
    jwt_key: str = ""
    public_rasa_url: str = ""
    #: Proxies whose ``X-Forwarded-For`` the web app believes (addresses, CIDRs).
    trusted_proxies: Tuple[str, ...] = ()
    #: TLS ends at a proxy: ``Secure`` ``__Host-`` cookies and HSTS, always.
    secure_cookies: bool = False
    #: What a client of Rasa's REST channel sends (``Authorization: Bearer``).
    rest_token: str = ""
    #: Seconds a chat widget token holds (``INTROCOACH_CHAT_TOKEN_SECONDS``).
    chat_token_seconds: int = 15 * 60

    @property
    def action_url(self) -> str:
        """The action server's webhook, as Rasa calls it."""
        return f"http://{self.host}:{self.action_port}/webhook"

    @property
    def rasa_url(self) -> str:
        """Base URL of the Rasa server."""
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def chat_url(self) -> str:
        """Where browsers reach the Rasa server's socket (differs behind a proxy)."""
        return self.public_rasa_url or self.rasa_url

    @property
    def rest_headers(self) -> Dict[str, str]:
        """The headers a REST channel client sends: the token, as JSON."""
        return {
            "Authorization": f"Bearer {self.rest_token}",
            "Content-Type": "application/json",
        }

    @property
    def web_origins(self) -> tuple:
        """Origins allowed by CORS on the Rasa server: the project's own web app."""
        return (
            f"http://127.0.0.1:{self.web_port}",
            f"http://localhost:{self.web_port}",
        )

    def child_env(self) -> Dict[str, str]:
        """Variables a child process (Rasa, the action server) needs."""
        return {
            "INTROCOACH_HOST": self.host,
            "INTROCOACH_RASA_PORT": str(self.rasa_port),
            "INTROCOACH_ACTION_PORT": str(self.action_port),
            "INTROCOACH_WEB_PORT": str(self.web_port),
            "INTROCOACH_API_TOKEN": self.api_token,
            "INTROCOACH_ACTION_TOKEN": self.action_token,
            "INTROCOACH_ACTION_URL": self.action_url,
            "INTROCOACH_JWT_KEY": self.jwt_key,
            "INTROCOACH_REST_TOKEN": self.rest_token,
            # rasa-sdk reads SANIC_HOST; keep it on loopback unless told otherwise.
            "SANIC_HOST": self.host,
        }


def seconds_setting(
    env: Mapping[str, str], name: str, default: float, minimum: float = 0.001
) -> float:
    """A duration in seconds from ``env[name]``.

    ``default`` when the variable is unset, not a number, or below ``minimum``.
    """
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value >= minimum else default


def int_setting(
    env: Mapping[str, str], name: str, default: int, minimum: int = 1
) -> int:
    """A whole number from ``env[name]``.

    ``default`` when the variable is unset, not a whole number, or below
    ``minimum``.
    """
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return value if value >= minimum else default


def flag_setting(env: Mapping[str, str], name: str) -> bool:
    """True when ``env[name]`` is ``1``, ``true``, ``yes`` or ``on``."""
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def list_setting(env: Mapping[str, str], name: str) -> Tuple[str, ...]:
    """The comma-separated, non-empty items of ``env[name]``."""
    return tuple(i.strip() for i in env.get(name, "").split(",") if i.strip())


def _networks(env: Mapping[str, str], name: str) -> Tuple[str, ...]:
    """Addresses and CIDRs from ``env[name]``, checked (``ValueError`` if not)."""
    import ipaddress

    items = list_setting(env, name)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{name} must list addresses or CIDRs, got {item!r}"
            ) from None
    return items


#: The shortest chat token lifetime accepted: a page load and a connect fit in it.
MIN_CHAT_TOKEN_SECONDS = 5


#: The balancer's upstream connection pool; the socket caps stay below it.
BALANCER_POOL = 200


@dataclass(frozen=True)
class BalancerLimits:
    """What one balancer lets clients hold open (``INTROCOACH_BALANCER_*``).

    Attributes:
        max_sockets: Websocket relays open at once, in total.
        max_sockets_per_client: Websocket relays open at once per client address.
        connect_timeout: Seconds a socket.io session may stay without its
            socket.io CONNECT packet before the balancer closes it.
        max_pins: Engine.io sessions remembered (sid to replica), in total.
        max_pins_per_client: Engine.io sessions remembered per client address.
        idle_pin_seconds: A pin not used for this long may give way to a new one.
    """

    max_sockets: int = 150
    max_sockets_per_client: int = 50
    connect_timeout: float = 10.0
    max_pins: int = 50_000
    max_pins_per_client: int = 1_000
    idle_pin_seconds: float = 120.0


def load_balancer_limits(env: Optional[Mapping[str, str]] = None) -> BalancerLimits:
    """Read the balancer's limits from ``env`` (default: the process environment).

    The socket caps are kept below the upstream pool (:data:`BALANCER_POOL`), so
    relays can never starve plain requests of connections.

    Args:
        env: Variables to read; ``os.environ`` when omitted.

    Returns:
        The limits, with defaults for anything unset or invalid.
    """
    env = os.environ if env is None else env
    default = BalancerLimits()
    ceiling = BALANCER_POOL - 10
    total = min(
        int_setting(env, "INTROCOACH_BALANCER_MAX_SOCKETS", default.max_sockets),
        ceiling,
    )
    per_client = min(
        int_setting(
            env,
            "INTROCOACH_BALANCER_MAX_SOCKETS_PER_CLIENT",
            default.max_sockets_per_client,
        ),
        total,
    )
    pins = int_setting(env, "INTROCOACH_BALANCER_MAX_PINS", default.max_pins)
    return BalancerLimits(
        max_sockets=total,
        max_sockets_per_client=per_client,
        connect_timeout=seconds_setting(
            env, "INTROCOACH_BALANCER_CONNECT_TIMEOUT", default.connect_timeout
        ),
        max_pins=pins,
        max_pins_per_client=min(
            int_setting(
                env,
                "INTROCOACH_BALANCER_MAX_PINS_PER_CLIENT",
                default.max_pins_per_client,
            ),
            pins,
        ),
        idle_pin_seconds=default.idle_pin_seconds,
    )


def url_without_password(url: str) -> str:
    """``scheme://host:port/path`` of a URL, for messages (no credentials)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < value < 65536:
        raise ValueError(f"{name} must be between 1 and 65535, got {value}")
    return value


def _secret(env: Mapping[str, str], name: str, file: Path) -> str:
    """The token from the environment, or from ``file``, created on first use."""
    value = env.get(name, "").strip()
    if value:
        return value
    if file.exists():
        stored = file.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    from introcoach.private_files import private_dir

    private_dir(file.parent)
    token = secrets.token_urlsafe(32)
    # Create with owner-only permissions before writing the secret.
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment).

    Args:
        env: Variables to read; ``os.environ`` when omitted.

    Returns:
        The settings, with tokens generated into the secrets folder when unset.
    """
    env = os.environ if env is None else env
    secrets_dir = Path(env.get("INTROCOACH_SECRETS_DIR") or PROJECT_ROOT / ".secrets")
    return Settings(
        host=env.get("INTROCOACH_HOST", "").strip() or "127.0.0.1",
        rasa_port=_port(env, "INTROCOACH_RASA_PORT", 5005),
        action_port=_port(env, "INTROCOACH_ACTION_PORT", 5055),
        web_port=_port(env, "INTROCOACH_WEB_PORT", 8000),
        api_token=_secret(env, "INTROCOACH_API_TOKEN", secrets_dir / "api_token"),
        action_token=_secret(
            env, "INTROCOACH_ACTION_TOKEN", secrets_dir / "action_token"
        ),
        secrets_dir=secrets_dir,
        jwt_key=_secret(env, "INTROCOACH_JWT_KEY", secrets_dir / "jwt_key"),
        public_rasa_url=env.get("INTROCOACH_PUBLIC_RASA_URL", "").strip().rstrip("/"),
        trusted_proxies=_networks(env, "INTROCOACH_TRUSTED_PROXIES"),
        secure_cookies=flag_setting(env, "INTROCOACH_SECURE_COOKIES"),
        rest_token=_secret(env, "INTROCOACH_REST_TOKEN", secrets_dir / "rest_token"),
        chat_token_seconds=int_setting(
            env,
            "INTROCOACH_CHAT_TOKEN_SECONDS",
            Settings.chat_token_seconds,
            minimum=MIN_CHAT_TOKEN_SECONDS,
        ),
    )
