"""The review web app behind a TLS-ending proxy: trusted ``X-Forwarded-For``,
``__Host-`` Secure cookies and HSTS (``INTROCOACH_TRUSTED_PROXIES``,
``INTROCOACH_SECURE_COOKIES``).

Its own server on a free port, with loopback as the trusted proxy; the tests
in ``test_web.py`` run the same app with neither setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from web_support import Client, Server, running_server, seed

PROXY_ENV = {
    "INTROCOACH_TRUSTED_PROXIES": "127.0.0.1/32, ::1",
    "INTROCOACH_SECURE_COOKIES": "1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("web-proxy")
    url = f"sqlite:///{workdir / 'introcoach.db'}"
    seed(url, extra_sessions=0)
    with running_server(workdir, url, PROXY_ENV) as running:
        yield running


def attempt(client: Client, username: str, forwarded_for: str) -> int:
    token = client.csrf("/login")
    return client.request(
        "POST",
        "/login",
        {"username": username, "password": "wrong", "csrf_token": token},
        headers={"X-Forwarded-For": forwarded_for},
    ).status


def test_forwarded_for_from_a_trusted_proxy_is_the_key(server: Server) -> None:
    client = Client(server.port)
    for _ in range(5):
        assert attempt(client, "proxied", "203.0.113.5") == 401
    assert attempt(client, "proxied", "203.0.113.5") == 429
    # Another client behind the same proxy is not held back ...
    assert attempt(client, "proxied", "203.0.113.6") == 401
    # ... and what a client writes left of its own address is ignored.
    assert attempt(client, "proxied", "203.0.113.6, 203.0.113.5") == 429


def test_secure_cookies_use_the_host_prefix_and_hsts(server: Server) -> None:
    client = Client(server.port)
    response = client.get("/login")  # plain HTTP here: TLS ended at the proxy
    cookie = response.header("Set-Cookie")
    assert cookie.startswith("__Host-introcoach_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie
    assert response.header("Strict-Transport-Security") == "max-age=31536000"
    signed_in = client.login("sam")
    assert signed_in.status == 303
    assert "__Host-introcoach_session=" in signed_in.header("Set-Cookie")
    assert client.get("/sessions").status == 200
    # The plain cookie name means nothing to this app.
    value = client.cookies.pop("__Host-introcoach_session")
    client.cookies["introcoach_session"] = value
    assert client.get("/sessions").status == 302


def test_unparseable_trusted_proxies_stop_the_start(tmp_path: Path) -> None:
    from introcoach.settings import load_settings

    env = {"INTROCOACH_SECRETS_DIR": str(tmp_path), "INTROCOACH_TRUSTED_PROXIES": "x"}
    with pytest.raises(ValueError, match="INTROCOACH_TRUSTED_PROXIES"):
        load_settings(env)
