"""The Rasa balancer passes on only what clients need, never Rasa's HTTP API.

``make run-scaled`` starts the Rasa balancer with ``--paths rasa-clients``
(:func:`introcoach.balancer.rasa_client_path`). Uses the throwaway upstreams
of ``test_balancer.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, List

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_balancer import TIMEOUT, Upstream

from introcoach.balancer import PATH_FILTERS, Balancer, main, rasa_client_path
from introcoach.scaled import ScaledStack
from introcoach.stack import ephemeral_settings

CLIENT_PATHS = [
    "/socket.io/?EIO=4&transport=polling",
    "/socket.io/?EIO=4&transport=websocket&sid=abc",
    "/socket.io",
    "/webhooks/rest/webhook",
    "/webhooks/rest/webhook?stream=true",
    "/webhooks/rest/",
    "/webhooks/introcoach_socketio/",
]
REFUSED_PATHS = [
    "/",
    "/status",
    "/status?token=anything",
    "/version",
    "/conversations/someone/tracker",
    "/conversations/someone/tracker/events",
    "/model",
    "/model/parse",
    "/domain",
    "/webhooks/rest/webhook/",
    "/webhooks/rest/webhook/../../status",
    "/socket.io/../status",
    "/socket.io/%2e%2e/status",
    "/%73tatus",
    "/socket.io.evil",
    "/webhooks/socketio/",
    "/webhooks/rest",
    "/_balancer/health/../status",
]


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_client_paths_pass(path: str) -> None:
    assert rasa_client_path(path)


@pytest.mark.parametrize("path", REFUSED_PATHS)
def test_everything_else_is_refused(path: str) -> None:
    assert not rasa_client_path(path)


@pytest.fixture
async def filtered() -> AsyncIterator[tuple]:
    upstream = Upstream(0)
    await upstream.start()
    balancer = Balancer([upstream.url], "rasa")
    balancer.allow_path = rasa_client_path
    client = TestClient(TestServer(balancer.app(), host="127.0.0.1"), timeout=TIMEOUT)
    await client.start_server()
    try:
        yield client, upstream
    finally:
        await client.close()
        await upstream.stop()


@pytest.mark.parametrize(
    "method, path",
    [("GET", p) for p in REFUSED_PATHS if "%" not in p and ".." not in p]
    + [("POST", "/model/parse"), ("PUT", "/model"), ("DELETE", "/model")],
)
async def test_the_http_api_is_not_reachable_through_the_balancer(
    filtered: tuple, method: str, path: str
) -> None:
    client, upstream = filtered
    async with client.request(method, path) as response:
        assert response.status == 404
        body = await response.json()
        assert body["error"] == "not_found"
    assert upstream.count == 0


async def test_traversal_attempts_sent_as_is_are_refused(filtered: tuple) -> None:
    client, upstream = filtered
    async with aiohttp.ClientSession(timeout=TIMEOUT) as raw:
        for path in ("/socket.io/%2e%2e/status", "/socket.io/../status"):
            url = str(client.make_url("")).rstrip("/") + path
            async with raw.get(aiohttp.client.URL(url, encoded=True)) as response:
                assert response.status == 404, path
    assert upstream.count == 0


async def test_client_paths_and_the_balancers_own_health_still_work(
    filtered: tuple,
) -> None:
    client, upstream = filtered
    async with client.post("/webhooks/rest/webhook", data=b"{}") as response:
        assert response.status == 200
        assert (await response.json())["path"] == "/webhooks/rest/webhook"
    async with client.get("/socket.io/?EIO=4&transport=polling") as response:
        assert response.status == 200
    async with client.get("/_balancer/health") as response:
        assert response.status == 200
    assert upstream.count == 2


def test_make_run_scaled_starts_the_rasa_balancer_with_the_filter() -> None:
    stack = ScaledStack(
        ephemeral_settings(), Path("model.tar.gz"), replicas=1, ephemeral_ports=True
    )
    commands = stack.commands()
    rasa: List[str] = commands["rasa-lb"]
    assert rasa[rasa.index("--paths") + 1] == "rasa-clients"
    assert "--paths" not in commands["actions-lb"]
    assert PATH_FILTERS["rasa-clients"] is rasa_client_path
    with pytest.raises(SystemExit):
        main(["--port", "1", "--upstream", "http://127.0.0.1:1", "--paths", "bogus"])
