"""The scaled-run balancer, against throwaway aiohttp upstreams on loopback.

Each upstream counts the requests it gets and echoes what it saw; the balancer
marks every answer with ``X-IntroCoach-Upstream`` (the upstream's index).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, Iterator, List

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from introcoach.balancer import UPSTREAM_HEADER, Balancer, PinTable, engineio_sid
from introcoach.settings import BALANCER_POOL, BalancerLimits, load_balancer_limits

TIMEOUT = aiohttp.ClientTimeout(total=5)
COOLDOWN = 0.3


@dataclass
class Upstream:
    """A throwaway replica: echoes requests, plays engine.io, echoes websockets."""

    index: int
    port: int = 0  # 0: any free port, chosen when it starts
    count: int = 0
    seen_sids: List[str] = field(default_factory=list)
    ws_closed: asyncio.Event = field(default_factory=asyncio.Event)
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def echo(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        body = await request.read()
        payload = {
            "upstream": self.index,
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "body": body.decode(),
            "headers": dict(request.headers),
        }
        response = web.json_response(payload)
        response.headers["Proxy-Authenticate"] = "Basic"
        response.headers["X-From-Upstream"] = "yes"
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    async def gzipped(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        response = web.Response(text="hello " * 200)
        response.enable_compression()  # only if the caller accepts gzip
        return response

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in ("one ", "two ", "three"):
            await response.write(part.encode())
        await response.write_eof()
        return response

    async def socketio(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        if request.query.get("transport") == "websocket" or request.headers.get(
            "Upgrade"
        ):
            return await self.websocket(request)
        sid = request.query.get("sid")
        if sid is None:
            sid = f"u{self.index}-{self.count}"
            packet = {"sid": sid, "upgrades": ["websocket"], "pingInterval": 25000}
            return web.Response(text="0" + json.dumps(packet))
        self.seen_sids.append(sid)
        return web.Response(text="ok" if request.method == "POST" else "6")

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("chat",))
        await ws.prepare(request)
        await ws.send_str(
            f"hello from {self.index} origin={request.headers.get('Origin')}"
        )
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                if message.data == "close-me":
                    await ws.close(code=4000, message=b"bye")
                    break
                await ws.send_str("echo:" + message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        self.ws_closed.set()
        return ws

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/gzip", self.gzipped)
        app.router.add_get("/chunked", self.chunked)
        app.router.add_route("*", "/socket.io/", self.socketio)
        app.router.add_get("/ws", self.websocket)
        app.router.add_route("*", "/{tail:.*}", self.echo)
        self.server = TestServer(app, host="127.0.0.1", port=self.port or None)
        await self.server.start_server()
        self.port = self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


class Refusing:
    """Loopback ports held bound but not listening: connections to them fail."""

    def __init__(self) -> None:
        self.held: Dict[int, socket.socket] = {}

    def url(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.held[port] = sock
        return f"http://127.0.0.1:{port}"

    def release(self, port: int) -> None:
        self.held.pop(port).close()


@pytest.fixture
def refusing() -> Iterator[Refusing]:
    held = Refusing()
    yield held
    for sock in held.held.values():
        sock.close()


@pytest.fixture
async def upstreams() -> AsyncIterator[List[Upstream]]:
    started = [Upstream(0), Upstream(1)]
    for upstream in started:
        await upstream.start()
    yield started
    for upstream in started:
        await upstream.stop()


async def balanced(urls: List[str], **options: Any) -> TestClient:
    balancer = Balancer(urls, "rasa", cooldown=COOLDOWN, **options)
    client = TestClient(TestServer(balancer.app(), host="127.0.0.1"), timeout=TIMEOUT)
    await client.start_server()
    client.balancer = balancer  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def client(upstreams: List[Upstream]) -> AsyncIterator[TestClient]:
    running = await balanced([u.url for u in upstreams])
    yield running
    await running.close()


async def went_to(client: TestClient, path: str = "/x", **kwargs: Any) -> int:
    async with client.get(path, **kwargs) as response:
        assert response.status == 200, await response.text()
        return int(response.headers[UPSTREAM_HEADER])


# -- plain HTTP ---------------------------------------------------------------


async def test_round_robin_alternates(client, upstreams) -> None:
    order = [await went_to(client) for _ in range(6)]
    assert order in ([0, 1] * 3, [1, 0] * 3)
    assert [u.count for u in upstreams] == [3, 3]


async def test_request_is_forwarded_whole(client, upstreams) -> None:
    async with client.post(
        "/webhooks/rest/webhook?x=1&y=two%20words",
        data=b'{"message": "hi"}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer t"},
    ) as response:
        assert response.status == 200
        seen = await response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/webhooks/rest/webhook"
    assert seen["query"] == {"x": "1", "y": "two words"}
    assert seen["body"] == '{"message": "hi"}'
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["Authorization"] == "Bearer t"
    assert seen["headers"]["Content-Length"] == str(len(b'{"message": "hi"}'))
    assert response.headers[UPSTREAM_HEADER] == str(seen["upstream"])


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "GET"])
async def test_other_methods_are_forwarded(client, method) -> None:
    async with client.request(method, "/a/b") as response:
        assert response.status == 200
        assert (await response.json())["method"] == method


async def test_hop_by_hop_headers_dropped_and_forwarded_for_set(
    client, upstreams
) -> None:
    headers = {
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "secret",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic abc",
        "X-Custom": "kept",
        "X-Forwarded-For": "203.0.113.7",
    }
    async with client.get("/h", headers=headers) as response:
        seen = (await response.json())["headers"]
        back = response.headers
    for name in ("X-Private-Hop", "Keep-Alive", "TE", "Proxy-Authorization"):
        assert name not in seen
    assert seen.get("Connection", "keep-alive").lower() == "keep-alive"
    assert seen["X-Custom"] == "kept"
    assert seen["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Forwarded-Host"] == f"127.0.0.1:{client.port}"
    assert seen["Host"] in {f"127.0.0.1:{u.port}" for u in upstreams}
    assert "Proxy-Authenticate" not in back
    assert back["X-From-Upstream"] == "yes"
    assert back.getall("Set-Cookie") == ["a=1", "b=2"]


async def test_gzip_responses_pass_through(client) -> None:
    gzip_only = {"Accept-Encoding": "gzip"}
    async with client.get("/gzip", headers=gzip_only) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert await response.text() == "hello " * 200
    raw = aiohttp.ClientSession(auto_decompress=False, timeout=TIMEOUT)
    async with raw, raw.get(client.make_url("/gzip"), headers=gzip_only) as response:
        body = await response.read()
        assert int(response.headers["Content-Length"]) == len(body)
        assert gzip.decompress(body).decode() == "hello " * 200
    async with client.get(
        "/gzip", skip_auto_headers=["Accept-Encoding"]
    ) as response:  # a caller that does not accept gzip gets plain text
        assert "Content-Encoding" not in response.headers
        assert await response.text() == "hello " * 200


async def test_chunked_response_is_passed_on_whole(client) -> None:
    async with client.get("/chunked") as response:
        assert response.status == 200
        assert await response.text() == "one two three"
        assert response.headers["Content-Length"] == str(len("one two three"))


# One write of the whole body: aiohttp 3.9's client reuses a connection whose
# streamed body was cut short by an early answer, which would garble the next.
@pytest.mark.filterwarnings("ignore:Sending a large body")
async def test_body_over_one_mib_is_refused(client, upstreams) -> None:
    async with client.post("/big", data=b"x" * (2 * 1024 * 1024)) as response:
        assert response.status == 413
        assert (await response.json())["error"] == "request_too_large"
    async with client.post("/ok", data=b"x" * 1_000_000) as response:
        assert response.status == 200
        assert len((await response.json())["body"]) == 1_000_000
    assert sum(u.count for u in upstreams) == 1


async def test_health_endpoint(client, upstreams) -> None:
    async with client.get("/_balancer/health") as response:
        assert response.status == 200
        assert await response.json() == {
            "name": "rasa",
            "upstreams": [{"url": u.url, "healthy": True} for u in upstreams],
        }
    assert sum(u.count for u in upstreams) == 0


# -- failover -----------------------------------------------------------------


async def test_failover_to_the_upstream_that_answers_and_recovery(
    upstreams, refusing
) -> None:
    live = upstreams[1]
    url = refusing.url()  # nothing listens on this port yet
    dead = Upstream(0, port=int(url.rsplit(":", 1)[1]))
    client = await balanced([url, live.url])
    try:
        for i in range(8):
            async with client.post(f"/m{i}", data=f"message {i}") as response:
                assert response.status == 200
                assert response.headers[UPSTREAM_HEADER] == "1"
                assert (await response.json())["body"] == f"message {i}"
        assert live.count == 8
        async with client.get("/_balancer/health") as response:
            health = await response.json()
        assert [u["healthy"] for u in health["upstreams"]] == [False, True]

        refusing.release(dead.port)
        await dead.start()
        await asyncio.sleep(COOLDOWN + 0.1)
        order = [await went_to(client) for _ in range(6)]
        assert sorted(order) == [0, 0, 0, 1, 1, 1]
        assert dead.count == 3
    finally:
        await client.close()
        await dead.stop()


async def test_all_upstreams_down_answers_502_json(refusing) -> None:
    client = await balanced([refusing.url(), refusing.url()])
    try:
        for _ in range(2):  # also once both are in their cool-down
            async with client.post("/webhooks/rest/webhook", data=b"{}") as response:
                assert response.status == 502
                assert await response.json() == {
                    "error": "upstream_unavailable",
                    "message": "No rasa server is answering right now; "
                    "try again in a moment.",
                }
    finally:
        await client.close()


async def test_upstream_dropping_mid_request_is_not_retried(upstreams) -> None:
    accepted = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")  # the request reached this upstream
        writer.close()

    dropper = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = dropper.sockets[0].getsockname()[1]
    other = upstreams[1]
    client = await balanced([f"http://127.0.0.1:{port}", other.url])
    try:
        async with client.post("/webhooks/rest/webhook", data=b"hi") as response:
            assert response.status == 502
            assert response.headers[UPSTREAM_HEADER] == "0"
            assert (await response.json())["error"] == "upstream_failed"
        assert accepted == 1
        assert other.count == 0
    finally:
        await client.close()
        dropper.close()
        await dropper.wait_closed()


async def test_slow_upstream_times_out_with_504(upstreams) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/slow", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = await balanced([str(server.make_url("")), upstreams[1].url], timeout=0.5)
    try:
        async with client.post("/slow", data=b"hi") as response:
            assert response.status == 504
            assert (await response.json())["error"] == "upstream_timeout"
        assert upstreams[1].count == 0
    finally:
        await client.close()
        await server.close()


# -- socket.io: sticky sessions and websockets -------------------------------


async def handshake(client: TestClient) -> tuple[str, int]:
    async with client.get("/socket.io/?EIO=4&transport=polling") as response:
        assert response.status == 200
        text = await response.text()
        return json.loads(text[1:])["sid"], int(response.headers[UPSTREAM_HEADER])


async def test_polling_session_sticks_to_the_upstream_that_opened_it(
    client, upstreams
) -> None:
    sessions = [await handshake(client) for _ in range(2)]
    assert sorted(index for _, index in sessions) == [0, 1]
    for _ in range(3):
        for sid, index in sessions:
            path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
            assert await went_to(client, path) == index
            async with client.post(path, data="42") as response:
                assert response.headers[UPSTREAM_HEADER] == str(index)
    for sid, index in sessions:
        assert upstreams[index].seen_sids == [sid] * 6
    assert client.balancer.pins.keys() == {sid for sid, _ in sessions}


async def test_session_on_a_dead_upstream_answers_400_and_is_dropped(
    client, upstreams
) -> None:
    sessions = dict([await handshake(client) for _ in range(2)])
    lost = next(sid for sid, index in sessions.items() if index == 0)
    await upstreams[0].stop()
    path = f"/socket.io/?EIO=4&transport=polling&sid={lost}"
    async with client.get(path) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "session_lost"
    assert lost not in client.balancer.pins
    sid, index = await handshake(client)  # the client starts over: upstream 1
    assert index == 1


async def test_unknown_sid_is_not_pinned_and_fails_over(upstreams, refusing) -> None:
    client = await balanced([refusing.url(), upstreams[1].url])
    try:
        path = "/socket.io/?EIO=4&transport=polling&sid=from-an-older-balancer"
        assert await went_to(client, path) == 1
        assert upstreams[1].seen_sids == ["from-an-older-balancer"]
        assert not client.balancer.pins
    finally:
        await client.close()


def test_engineio_open_packet_is_recognised() -> None:
    assert engineio_sid(b'0{"sid":"abc","upgrades":[]}') == "abc"
    assert engineio_sid(gzip.compress(b'0{"sid":"abc"}'), "gzip") == "abc"
    assert engineio_sid(b'0{"sid":"abc"}\x1e2') == "abc"
    for body in (b"", b"6", b'0{"nosid":1}', b"0{broken", b'40{"sid":"x"}'):
        assert engineio_sid(body) is None


def test_pins_are_bounded_least_recent_first() -> None:
    balancer = Balancer(["http://127.0.0.1:1"], "rasa", max_pins=3)
    for i in range(5):
        balancer._pin(f"s{i}", balancer.upstreams[0])
    assert list(balancer.pins) == ["s2", "s3", "s4"]
    balancer._pin("s2", balancer.upstreams[0])
    balancer._pin("s5", balancer.upstreams[0])
    assert list(balancer.pins) == ["s4", "s2", "s5"]


async def test_websocket_relays_both_ways_and_closes(client, upstreams) -> None:
    ws = await client.ws_connect(
        "/ws", protocols=("chat",), origin="http://localhost:5000"
    )
    index = int(ws._response.headers[UPSTREAM_HEADER])
    assert ws.protocol == "chat"
    greeting = await ws.receive(timeout=5)
    assert greeting.data == f"hello from {index} origin=http://localhost:5000"
    await ws.send_str("ping me")
    assert (await ws.receive(timeout=5)).data == "echo:ping me"
    await ws.send_bytes(b"\x00\x01\x02")
    assert (await ws.receive(timeout=5)).data == b"\x02\x01\x00"
    await ws.close()
    await asyncio.wait_for(upstreams[index].ws_closed.wait(), 5)


async def test_upstream_closing_a_websocket_closes_the_client(client) -> None:
    ws = await client.ws_connect("/ws")
    await ws.receive(timeout=5)
    await ws.send_str("close-me")
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4000
    assert ws.closed or (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSED


async def test_websocket_upgrade_follows_the_polling_session(client, upstreams) -> None:
    sessions = [await handshake(client) for _ in range(2)]
    for sid, index in sessions * 2:
        ws = await client.ws_connect(f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
        assert ws._response.headers[UPSTREAM_HEADER] == str(index)
        assert (await ws.receive(timeout=5)).data.startswith(f"hello from {index}")
        await ws.close()


async def test_websocket_without_handshake_goes_round_robin(client) -> None:
    seen = []
    for _ in range(4):
        ws = await client.ws_connect("/socket.io/?EIO=4&transport=websocket")
        seen.append(int(ws._response.headers[UPSTREAM_HEADER]))
        await ws.close()
    assert sorted(seen) == [0, 0, 1, 1]


async def test_websocket_fails_over_and_502_when_all_down(upstreams, refusing) -> None:
    client = await balanced([refusing.url(), upstreams[1].url])
    try:
        for _ in range(3):
            ws = await client.ws_connect("/ws")
            assert ws._response.headers[UPSTREAM_HEADER] == "1"
            await ws.close()
    finally:
        await client.close()
    client = await balanced([refusing.url()])
    try:
        async with client.get("/ws", headers={"Upgrade": "websocket"}) as response:
            assert response.status == 502
            assert (await response.json())["error"] == "upstream_unavailable"
    finally:
        await client.close()


async def test_websocket_refused_by_the_upstream_is_an_error_not_a_hang(
    client,
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/not-a-websocket")
    assert refused.value.status == 502
    async with client.get(
        "/not-a-websocket", headers={"Upgrade": "websocket"}
    ) as response:
        assert response.status == 502
        assert (await response.json())["error"] == "upgrade_refused"


async def test_shutdown_closes_open_websockets(upstreams) -> None:
    client = await balanced([upstreams[0].url])
    try:
        ws = await client.ws_connect("/ws")
        await ws.receive(timeout=5)
        closing = asyncio.ensure_future(client.server.close())
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.GOING_AWAY
        await asyncio.wait_for(closing, 5)
        await asyncio.wait_for(upstreams[0].ws_closed.wait(), 5)
    finally:
        await client.close()


# -- a real socket.io server on each replica ----------------------------------


async def socketio_replica(index: int) -> TestServer:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")

    @sio.on("ask")
    async def ask(sid: str, data: str) -> None:
        await sio.emit("answer", f"{data} from {index}", to=sid)

    app = web.Application()
    sio.attach(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


# Polling only: python-engineio's websocket client needs aiohttp >= 3.10 (Rasa
# pins 3.9); the websocket leg is covered by the tests above.
async def test_socketio_polling_clients_stick_through_the_balancer() -> None:
    replicas = [await socketio_replica(i) for i in range(2)]
    client = await balanced([str(r.make_url("")).rstrip("/") for r in replicas])
    answers: asyncio.Queue[str] = asyncio.Queue()
    sockets = [socketio.AsyncClient(reconnection=False) for _ in range(4)]
    try:
        for sio in sockets:
            sio.on("answer", answers.put_nowait)
            await asyncio.wait_for(
                sio.connect(str(client.make_url("/")), transports=["polling"]), 5
            )
        for round_ in range(3):
            for number, sio in enumerate(sockets):
                await sio.emit("ask", f"q{round_}-{number}")
        got = [await asyncio.wait_for(answers.get(), 5) for _ in range(12)]
        assert len({answer.split(" from ")[0] for answer in got}) == 12
        assert {answer.rsplit(" ", 1)[1] for answer in got} == {"0", "1"}
        assert len(client.balancer.pins) == 4
    finally:
        # python-engineio's polling client waits for its pending long-poll on
        # a clean disconnect (directly against a replica too): abort instead.
        for sio in sockets:
            await asyncio.wait_for(sio.eio.disconnect(abort=True), 5)
        await client.close()
        for replica in replicas:
            await replica.close()
        for sio in sockets:
            if sio.eio.http is not None:
                await sio.eio.http.close()


# -- limits: websocket relays, socket.io connect, the session table --------------


def from_address(address: str) -> aiohttp.ClientSession:
    """A client whose connections come from another loopback address."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(address, 0)), timeout=TIMEOUT
    )


async def test_websocket_relays_are_capped_per_client_and_in_total(upstreams) -> None:
    limits = BalancerLimits(max_sockets=3, max_sockets_per_client=2)
    client = await balanced([upstreams[0].url], limits=limits)
    other = from_address("127.0.0.2")
    opened: List[aiohttp.ClientWebSocketResponse] = []
    try:
        for _ in range(2):
            opened.append(await client.ws_connect("/ws"))
        before = upstreams[0].count
        for _ in range(20):  # a bounded flood from the same address
            async with client.get("/ws", headers=UPGRADE) as response:
                assert response.status == 503
                assert (await response.json())["error"] == "too_many_connections"
                assert response.headers["Retry-After"]
        assert upstreams[0].count == before  # none reached the replica
        opened.append(await other.ws_connect(client.make_url("/ws")))
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await other.ws_connect(client.make_url("/ws"))  # 3 open in total
        assert refused.value.status == 503
        for ws in opened:
            assert (await ws.receive(timeout=5)).data.startswith("hello from 0")
            await ws.close()
        gate = client.balancer.gate
        for _ in range(50):
            if gate.open == 0:
                break
            await asyncio.sleep(0.05)
        assert gate.open == 0 and gate.by_client == {}  # nothing leaked
        ws = await client.ws_connect("/ws")
        await ws.close()
    finally:
        await other.close()
        await client.close()


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade"}


def test_socket_caps_stay_below_the_upstream_pool() -> None:
    limits = load_balancer_limits(
        {
            "INTROCOACH_BALANCER_MAX_SOCKETS": "100000",
            "INTROCOACH_BALANCER_MAX_SOCKETS_PER_CLIENT": "500000",
            "INTROCOACH_BALANCER_CONNECT_TIMEOUT": "nonsense",
        }
    )
    assert limits.max_sockets < BALANCER_POOL
    assert limits.max_sockets_per_client == limits.max_sockets
    assert limits.connect_timeout == BalancerLimits().connect_timeout
    assert load_balancer_limits({}) == BalancerLimits()


async def test_websocket_without_socketio_connect_is_closed(upstreams) -> None:
    limits = BalancerLimits(connect_timeout=0.3)
    client = await balanced([upstreams[0].url], limits=limits)
    try:
        silent = await client.ws_connect("/socket.io/?EIO=4&transport=websocket")
        await silent.receive(timeout=5)  # the replica's greeting
        message = await silent.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert silent.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
        await asyncio.wait_for(upstreams[0].ws_closed.wait(), 5)

        talking = await client.ws_connect("/socket.io/?EIO=4&transport=websocket")
        await talking.receive(timeout=5)
        await talking.send_str("40")
        assert (await talking.receive(timeout=5)).data == "echo:40"
        await asyncio.sleep(0.5)  # past the timeout: still open
        await talking.send_str("42")
        assert (await talking.receive(timeout=5)).data == "echo:42"
        await talking.close()
    finally:
        await client.close()


async def test_polling_session_without_socketio_connect_expires(upstreams) -> None:
    limits = BalancerLimits(connect_timeout=0.3)
    client = await balanced([upstreams[0].url], limits=limits)
    try:
        idle, _ = await handshake(client)
        live, _ = await handshake(client)
        path = "/socket.io/?EIO=4&transport=polling&sid="
        async with client.post(path + live, data="40") as response:
            assert response.status == 200
        await asyncio.sleep(0.5)
        async with client.get(path + idle) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "connect_timeout"
        assert idle not in client.balancer.pins
        assert await went_to(client, path + live) == 0
        assert upstreams[0].seen_sids == [live, live]
    finally:
        await client.close()


async def confirmed(client: Any, session: Any = None) -> str:
    """A handshake and its socket.io CONNECT, from ``session``'s address."""
    http = session if session is not None else client.session
    url = client.make_url("/socket.io/?EIO=4&transport=polling")
    async with http.get(url) as reply:
        assert reply.status == 200, await reply.text()
        sid = json.loads((await reply.text())[1:])["sid"]
    url = client.make_url(f"/socket.io/?EIO=4&transport=polling&sid={sid}")
    async with http.post(url, data="40") as reply:
        assert reply.status == 200
    return str(sid)


async def test_handshake_flood_does_not_flush_live_sessions(upstreams) -> None:
    limits = BalancerLimits(max_pins=30, max_pins_per_client=10)
    client = await balanced([upstreams[0].url], limits=limits)
    neighbour = from_address("127.0.0.2")
    flooders = [from_address(f"127.0.0.{i}") for i in range(3, 9)]
    try:
        mine = await confirmed(client)
        theirs = await confirmed(client, neighbour)
        for _ in range(40):  # one address floods: only its own quota churns
            await handshake(client)
        pins = client.balancer.pins
        assert mine in pins and theirs in pins
        assert len(pins) <= 11
        for flooder in flooders:  # many addresses flood: the table stays bounded
            for _ in range(10):
                url = client.make_url("/socket.io/?EIO=4&transport=polling")
                async with flooder.get(url) as reply:
                    assert reply.status == 200
        assert mine in pins and theirs in pins and len(pins) <= 30
        path = "/socket.io/?EIO=4&transport=polling&sid="
        assert await went_to(client, path + mine) == 0
        async with neighbour.get(client.make_url(path + theirs)) as reply:
            assert reply.status == 200
    finally:
        for session in [neighbour, *flooders]:
            await session.close()
        await client.close()


async def test_full_table_of_live_sessions_refuses_new_handshakes(upstreams) -> None:
    limits = BalancerLimits(max_pins=3, max_pins_per_client=3)
    client = await balanced([upstreams[0].url], limits=limits)
    try:
        live = [await confirmed(client) for _ in range(3)]
        async with client.get("/socket.io/?EIO=4&transport=polling") as response:
            assert response.status == 503
            assert (await response.json())["error"] == "too_many_connections"
        assert list(client.balancer.pins) == live
    finally:
        await client.close()


def test_pin_table_evicts_unconfirmed_then_idle_never_open_sockets() -> None:
    now = [0.0]
    upstream = Balancer(["http://127.0.0.1:1"], "rasa").upstreams[0]
    table = PinTable(total=3, per_client=3, idle=60, clock=lambda: now[0])
    for sid in ("open", "idle", "fresh"):
        assert table.add(sid, upstream, "a")
        table.confirm(sid)
    table.get("open").sockets = 1  # type: ignore[union-attr]
    assert not table.add("new", upstream, "b")  # all live: refused, none evicted
    assert list(table) == ["open", "idle", "fresh"]
    now[0] += 61
    table.touch("fresh")
    assert table.add("later", upstream, "b")  # "idle" has gone unused for 61 s
    assert list(table) == ["open", "fresh", "later"]
    assert table.add("again", upstream, "b")  # unconfirmed "later" goes first
    assert list(table) == ["open", "fresh", "again"]
    now[0] += 600
    assert table.add("last", upstream, "b")
    assert "open" in table  # a pin with an open websocket is never evicted
