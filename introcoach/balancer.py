"""A small reverse proxy that puts several server replicas behind one address.

``make run-scaled`` runs two Rasa server replicas behind one instance and two
rasa-sdk action servers behind another, all on loopback. Requests go
round-robin to the replicas that answer; a replica that refuses a connection is
left out for a short cool-down and the request is retried on the next one (it
never reached the first, so this is safe even for a POST). A request that did
reach a replica and then failed is never retried: the message may have been
handled already.

Why a project proxy and not nginx: the browser widget talks socket.io, whose
engine.io session (``sid``) lives in the memory of the replica that answered the
handshake, and every later polling request names it in the ``sid`` query
parameter. Open-source nginx can pin a client only by its address
(``ip_hash``) or by a hash of the request, but the ``sid`` is chosen by the
replica after the first request, so no hash of the handshake can predict it;
and from loopback every client has the same address, so ``ip_hash`` would send
everyone to one replica. This proxy reads the ``sid`` from the engine.io open
packet and pins it to the replica that issued it.

Run with ``python -m introcoach.balancer --name rasa --port 5005 --upstream
http://127.0.0.1:5105 --upstream http://127.0.0.1:5106``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Union,
)

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from introcoach.settings import BALANCER_POOL, BalancerLimits, load_balancer_limits

logger = logging.getLogger("introcoach.balancer")  # not __main__ under -m

UPSTREAM_HEADER = "X-IntroCoach-Upstream"
MAX_BODY_BYTES = 1_048_576
#: Headers that describe one connection, not the message (and ``Host``).
HOP_BY_HOP = frozenset(
    "connection keep-alive proxy-authenticate proxy-authorization te trailers "
    "transfer-encoding upgrade host".split()
)
#: Headers a websocket handshake passes on (the rest belong to the handshake).
WEBSOCKET_HEADERS = ("Origin", "Cookie", "Authorization", "User-Agent")
#: Let the caller's own headers through unchanged: no defaults added by aiohttp.
SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


@dataclass
class Upstream:
    """One replica, and until when it is left out after a failed connection."""

    url: str
    index: int
    down_until: float = 0.0
    failed: bool = False

    @property
    def healthy(self) -> bool:
        """False during the cool-down after a connection to it failed."""
        return time.monotonic() >= self.down_until


#: The Rasa server's paths a client needs: the widget's socket.io, the REST
#: channel (token-guarded by the channel itself) and the two channels' health
#: pages. Nothing of Rasa's HTTP API (``/status``, ``/conversations/...``,
#: ``/model/...``, ``/`` ...).
RASA_CLIENT_PATHS = frozenset(
    {
        "/socket.io/",
        "/socket.io",
        "/webhooks/rest/webhook",
        "/webhooks/rest/",
        "/webhooks/introcoach_socketio/",
    }
)


def rasa_client_path(raw_path: str) -> bool:
    """Whether a request path (as sent, query included) is one clients need.

    Compared exactly, still percent-encoded: ``/socket.io/../status``,
    ``/webhooks/rest/webhook/``, ``/%73tatus`` and the like are all refused, so
    no path the Rasa server might normalise differently gets through.
    """
    return raw_path.split("?", 1)[0] in RASA_CLIENT_PATHS


#: ``--paths`` choices: which requests a balancer passes on.
PATH_FILTERS: Dict[str, Optional[Callable[[str], bool]]] = {
    "all": None,
    "rasa-clients": rasa_client_path,
}


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def engineio_sid(body: bytes, encoding: str = "") -> Optional[str]:
    """The session id in an engine.io v4 open packet (``0{"sid": ...}``), if any."""
    if encoding in ("gzip", "deflate"):
        try:
            body = zlib.decompress(body, 47)  # 32 + 15: gzip or zlib header
        except zlib.error:
            return None
    if not body.startswith(b"0{"):
        return None
    try:
        packet = json.loads(body[1:].split(b"\x1e", 1)[0])
    except ValueError:
        return None
    sid = packet.get("sid") if isinstance(packet, dict) else None
    return sid if isinstance(sid, str) and sid else None


def socketio_connects(packets: Union[str, bytes]) -> bool:
    """Whether an engine.io payload carries a socket.io CONNECT (``40...``).

    Polling bodies join packets with the record separator (0x1E); a
    websocket message is one packet.
    """
    if isinstance(packets, str):
        packets = packets.encode("utf-8", "replace")
    return any(p.startswith(b"40") for p in packets.split(b"\x1e"))


@dataclass
class Pin:
    """One engine.io session: the replica that issued it, and how it is used."""

    upstream: Upstream
    client: str
    created: float
    last_seen: float
    confirmed: bool = False  # its socket.io CONNECT has been seen
    sockets: int = 0  # websockets open on it right now


class PinTable:
    """Engine.io sessions (sid to replica), bounded so a flood cannot flush them.

    Each client address may hold ``per_client`` pins and the table ``total``.
    When a new pin needs room it takes it from the same client first, then from
    anyone: a pin whose socket.io CONNECT never came goes first, then one unused
    for ``idle`` seconds; a pin with a websocket open, or in recent use, is never
    taken. With no such pin the new handshake is refused instead
    (:meth:`has_room`).
    """

    def __init__(
        self,
        total: int,
        per_client: int,
        idle: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set up an empty table (sizes of at least 1)."""
        self.total = max(1, total)
        self.per_client = max(1, min(per_client, self.total))
        self.idle = idle
        self.clock = clock
        self._pins: OrderedDict[str, Pin] = OrderedDict()  # least recent first
        self._unconfirmed: OrderedDict[str, None] = OrderedDict()
        self._by_client: Dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._pins)

    def __contains__(self, sid: object) -> bool:
        return sid in self._pins

    def __iter__(self) -> Iterator[str]:
        return iter(self._pins)

    def keys(self) -> Any:
        """The pinned sids, least recently used first."""
        return self._pins.keys()

    def get(self, sid: str) -> Optional[Pin]:
        """The pin of ``sid``, if any (without touching it)."""
        return self._pins.get(sid)

    def touch(self, sid: str) -> None:
        """Mark ``sid`` as just used."""
        pin = self._pins.get(sid)
        if pin is None:
            return
        pin.last_seen = self.clock()
        self._pins.move_to_end(sid)
        self._by_client[pin.client].move_to_end(sid)

    def confirm(self, sid: str) -> None:
        """The socket.io CONNECT of ``sid`` went through."""
        pin = self._pins.get(sid)
        if pin is not None and not pin.confirmed:
            pin.confirmed = True
            self._unconfirmed.pop(sid, None)

    def drop(self, sid: str) -> None:
        """Forget ``sid``."""
        pin = self._pins.pop(sid, None)
        if pin is None:
            return
        self._unconfirmed.pop(sid, None)
        mine = self._by_client.get(pin.client)
        if mine is not None:
            mine.pop(sid, None)
            if not mine:
                del self._by_client[pin.client]

    def _evictable(self, pin: Pin, now: float) -> bool:
        return pin.sockets == 0 and (
            not pin.confirmed or now - pin.last_seen >= self.idle
        )

    def _victim(self, sids: Any, now: float) -> Optional[str]:
        for sid in sids:  # least recently used first
            pin = self._pins[sid]
            if pin.sockets:
                continue  # open websocket: never
            if not pin.confirmed or now - pin.last_seen >= self.idle:
                return str(sid)
            return None  # the rest were used more recently still
        return None

    def _client_victim(self, client: str, now: float) -> Optional[str]:
        mine = self._by_client.get(client, OrderedDict())
        unconfirmed = (s for s in mine if not self._pins[s].confirmed)
        for sid in unconfirmed:
            if not self._pins[sid].sockets:
                return sid
        return self._victim(mine, now)

    def _global_victim(self, now: float) -> Optional[str]:
        for sid in self._unconfirmed:
            if not self._pins[sid].sockets:
                return sid
        return self._victim(self._pins, now)

    def has_room(self, client: str) -> bool:
        """Whether a new pin for ``client`` fits, making room if it must."""
        now = self.clock()
        if len(self._by_client.get(client, ())) >= self.per_client:
            victim = self._client_victim(client, now)
            if victim is None:
                return False
            self.drop(victim)
        if len(self._pins) >= self.total:
            victim = self._global_victim(now)
            if victim is None:
                return False
            self.drop(victim)
        return True

    def add(self, sid: str, upstream: Upstream, client: str = "") -> bool:
        """Pin ``sid`` to ``upstream`` for ``client``; False when there is no room."""
        if sid in self._pins:
            self._pins[sid].upstream = upstream
            self.touch(sid)
            return True
        if not self.has_room(client):
            return False
        now = self.clock()
        self._pins[sid] = Pin(upstream, client, now, now)
        self._unconfirmed[sid] = None
        self._by_client.setdefault(client, OrderedDict())[sid] = None
        return True

    def expired(self, sid: str, timeout: float) -> bool:
        """Whether ``sid`` has waited longer than ``timeout`` for its CONNECT."""
        pin = self._pins.get(sid)
        return (
            pin is not None
            and not pin.confirmed
            and self.clock() - pin.created > timeout
        )


class SocketGate:
    """Counts open websocket relays, in total and per client address."""

    def __init__(self, total: int, per_client: int) -> None:
        """Allow ``total`` relays at once, ``per_client`` of them per address."""
        self.total = total
        self.per_client = per_client
        self.open = 0
        self.by_client: Dict[str, int] = {}

    def enter(self, client: str) -> bool:
        """Take a place for ``client``; False (and nothing taken) when full."""
        if self.open >= self.total:
            return False
        if self.by_client.get(client, 0) >= self.per_client:
            return False
        self.open += 1
        self.by_client[client] = self.by_client.get(client, 0) + 1
        return True

    def leave(self, client: str) -> None:
        """Give back the place ``client`` took."""
        self.open = max(0, self.open - 1)
        left = self.by_client.get(client, 0) - 1
        if left > 0:
            self.by_client[client] = left
        else:
            self.by_client.pop(client, None)


def _is_handshake(request: web.Request) -> bool:
    """An engine.io handshake: a socket.io request that names no session yet."""
    return "sid" not in request.query and request.path.startswith("/socket.io/")


def _client_of(request: web.Request) -> str:
    """The address the connection came from (the balancer is the front door)."""
    return request.remote or "unknown"


class Balancer:
    """Round-robin reverse proxy with sticky engine.io sessions and failover."""

    def __init__(
        self,
        upstreams: Sequence[str],
        name: str,
        *,
        timeout: float = 330.0,
        connect_timeout: float = 2.0,
        cooldown: float = 2.0,
        max_pins: Optional[int] = None,
        limits: Optional[BalancerLimits] = None,
    ) -> None:
        """Set up the balancer (the HTTP client starts with the app).

        Args:
            upstreams: Base URLs of the replicas, e.g. ``http://127.0.0.1:5105``.
            name: What the replicas are ("rasa", "action"), used in messages.
            timeout: Seconds a whole request may take (Rasa may wait for actions).
            connect_timeout: Seconds to wait for a connection to a replica.
            cooldown: Seconds a replica is left out after a failed connection.
            max_pins: How many engine.io sessions to remember (overrides
                ``limits.max_pins``).
            limits: Socket and session caps (default: :class:`BalancerLimits`).
        """
        if not upstreams:
            raise ValueError("the balancer needs at least one upstream")
        self.name = name
        self.upstreams = [Upstream(u.rstrip("/"), i) for i, u in enumerate(upstreams)]
        self.cooldown = cooldown
        self.limits = limits or BalancerLimits()
        self.max_pins = self.limits.max_pins if max_pins is None else max_pins
        self.pins = PinTable(
            self.max_pins,
            min(self.limits.max_pins_per_client, self.max_pins),
            self.limits.idle_pin_seconds,
        )
        self.gate = SocketGate(
            self.limits.max_sockets, self.limits.max_sockets_per_client
        )
        self._last_refusal_log = -60.0
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._turn = 0
        self._session: Optional[aiohttp.ClientSession] = None
        self._sockets: Set[web.WebSocketResponse] = set()

    #: When set, only requests whose raw path it accepts are passed on; the
    #: rest get 404 (``--paths rasa-clients``: :func:`rasa_client_path`).
    allow_path: Optional[Callable[[str], bool]] = None

    def app(self) -> web.Application:
        """The aiohttp application: ``/_balancer/health``, and everything else."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.cleanup_ctx.append(self._client)
        app.on_shutdown.append(self._close_sockets)  # type: ignore[arg-type]
        app.router.add_get("/_balancer/health", self.health)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def _client(self, app: web.Application) -> AsyncIterator[None]:
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)  # type: ignore[arg-type]
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=BALANCER_POOL, keepalive_timeout=4.0),
            timeout=self._timeout,
            auto_decompress=False,
            trace_configs=[trace],
        )
        yield
        await self._session.close()
        self._session = None

    async def _close_sockets(self, app: web.Application) -> None:
        """On shutdown, close open websockets (the server would wait for them)."""
        for socket in list(self._sockets):
            await socket.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def health(self, request: web.Request) -> web.Response:
        """The balancer's view of its replicas."""
        upstreams = [{"url": u.url, "healthy": u.healthy} for u in self.upstreams]
        return web.json_response({"name": self.name, "upstreams": upstreams})

    def _candidates(self) -> List[Upstream]:
        """Replicas in round-robin order: healthy ones, or all if none is."""
        start = self._turn % len(self.upstreams)
        self._turn += 1
        ordered = self.upstreams[start:] + self.upstreams[:start]
        return [u for u in ordered if u.healthy] or ordered

    def _mark_down(self, upstream: Upstream, exc: BaseException) -> None:
        upstream.down_until = time.monotonic() + self.cooldown
        if not upstream.failed:
            logger.warning(
                "%s upstream %s is not answering (%s); leaving it out for %.1f s",
                self.name,
                upstream.url,
                type(exc).__name__,
                self.cooldown,
            )
        upstream.failed = True

    def _mark_up(self, upstream: Upstream) -> None:
        if upstream.failed:
            logger.info("%s upstream %s is answering again", self.name, upstream.url)
        upstream.failed = False

    def _pin(self, sid: str, upstream: Upstream, client: str = "") -> None:
        if not self.pins.add(sid, upstream, client):
            logger.warning(
                "%s balancer: session table full of live sessions", self.name
            )

    def _session_lost(self, sid: str) -> web.Response:
        # engine.io answers an unknown session with 400; the client then
        # starts over with a new handshake, on a replica that answers.
        self.pins.drop(sid)
        return _error(
            400,
            "session_lost",
            f"The {self.name} server holding this session is not answering; "
            "reconnect to start a new session.",
        )

    def _unavailable(self) -> web.Response:
        return _error(
            502,
            "upstream_unavailable",
            f"No {self.name} server is answering right now; try again in a moment.",
        )

    def _busy(self, what: str) -> web.Response:
        response = _error(
            503,
            "too_many_connections",
            f"The {self.name} server has too many open {what} right now; "
            "try again in a moment.",
        )
        response.headers["Retry-After"] = "5"
        return response

    def _connect_timed_out(self, sid: str) -> web.Response:
        self.pins.drop(sid)
        return _error(
            400,
            "connect_timeout",
            "This session never completed its socket.io connect; "
            "reconnect to start a new session.",
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Forward one request (or websocket) to a replica."""
        if self.allow_path is not None and not self.allow_path(request.raw_path):
            return _error(
                404,
                "not_found",
                f"The {self.name} balancer passes on only the chat paths "
                "(/socket.io/, /webhooks/rest/webhook).",
            )
        sid = request.query.get("sid", "")
        pin = self.pins.get(sid)
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if pin is not None:
            if not pin.upstream.healthy:
                return self._session_lost(sid)
            if self.pins.expired(sid, self.limits.connect_timeout):
                return self._connect_timed_out(sid)
            self.pins.touch(sid)
        else:
            sid = ""  # not pinned: any replica may try (engine.io 400s a stranger)
            if _is_handshake(request) and not websocket:
                if not self.pins.has_room(_client_of(request)):
                    return self._busy("sessions")
        candidates = [pin.upstream] if pin is not None else self._candidates()
        try:
            if websocket:
                return await self._limited_websocket(request, candidates, sid)
            return await self._forward(request, candidates, sid)
        except Exception as exc:  # noqa: BLE001 - never show a traceback
            logger.warning("%s balancer failed: %s", self.name, type(exc).__name__)
            return _error(502, "balancer_error", "The request could not be passed on.")

    @staticmethod
    def _forwarded(request: web.Request) -> Dict[str, str]:
        peer = request.remote or ""
        before = request.headers.get("X-Forwarded-For")
        return {
            "X-Forwarded-For": f"{before}, {peer}" if before else peer,
            "X-Forwarded-Proto": request.scheme,
            "X-Forwarded-Host": request.host,
        }

    def _headers(self, request: web.Request) -> CIMultiDict[str]:
        """The caller's headers minus hop-by-hop ones, plus ``X-Forwarded-*``."""
        connection = request.headers.get("Connection", "").split(",")
        drop = HOP_BY_HOP | {h.strip().lower() for h in connection} | {"content-length"}
        headers: CIMultiDict[str] = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in drop
        )
        headers.update(self._forwarded(request))
        return headers

    async def _forward(
        self, request: web.Request, candidates: List[Upstream], sid: str
    ) -> web.StreamResponse:
        assert self._session is not None, "the balancer app has not started"
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(
                413, "request_too_large", "The request body is larger than 1 MiB."
            )
        headers = self._headers(request)
        for upstream in candidates:
            attempt = SimpleNamespace(sent=False)
            try:
                async with self._session.request(
                    request.method,
                    URL(upstream.url + request.raw_path, encoded=True),
                    headers=headers,
                    data=body if request.body_exists else None,
                    allow_redirects=False,
                    skip_auto_headers=SKIP_AUTO_HEADERS,
                    trace_request_ctx=attempt,
                ) as reply:
                    content = await reply.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if not attempt.sent:  # never reached the replica: try the next
                    self._mark_down(upstream, exc)
                    if sid:
                        return self._session_lost(sid)
                    continue
                return self._failed_after_send(upstream, exc)
            self._mark_up(upstream)
            if sid and reply.status == 200 and socketio_connects(body):
                self.pins.confirm(sid)
            return self._response(request, reply, content, upstream)
        return self._unavailable()

    def _failed_after_send(
        self, upstream: Upstream, exc: BaseException
    ) -> web.Response:
        logger.warning(
            "%s upstream %s failed during a request (%s); not retried",
            self.name,
            upstream.url,
            type(exc).__name__,
        )
        timed_out = isinstance(exc, asyncio.TimeoutError)  # ServerTimeoutError too
        what = "took too long to answer" if timed_out else "stopped mid-request"
        response = _error(
            504 if timed_out else 502,
            "upstream_timeout" if timed_out else "upstream_failed",
            f"The {self.name} server {what}; the message may or may not have "
            "been handled.",
        )
        response.headers[UPSTREAM_HEADER] = str(upstream.index)
        return response

    def _response(
        self,
        request: web.Request,
        reply: aiohttp.ClientResponse,
        content: bytes,
        upstream: Upstream,
    ) -> web.Response:
        if _is_handshake(request) and reply.status == 200:
            encoding = reply.headers.get("Content-Encoding", "").lower()
            sid = engineio_sid(content, encoding)
            if sid:
                self._pin(sid, upstream, _client_of(request))
        headers: CIMultiDict[str] = CIMultiDict(
            (k, v)
            for k, v in reply.headers.items()
            if k.lower() not in HOP_BY_HOP
            and (k.lower() != "content-length" or request.method == "HEAD")
        )
        headers[UPSTREAM_HEADER] = str(upstream.index)
        return web.Response(status=reply.status, headers=headers, body=content)

    async def _limited_websocket(
        self, request: web.Request, candidates: List[Upstream], sid: str
    ) -> web.StreamResponse:
        """A websocket relay, if the caps allow one more (503 JSON if not)."""
        client = _client_of(request)
        if not self.gate.enter(client):
            now = time.monotonic()
            if now - self._last_refusal_log >= 10.0:  # a flood logs once per 10 s
                self._last_refusal_log = now
                logger.warning(
                    "%s balancer refusing websockets: %d open",
                    self.name,
                    self.gate.open,
                )
            return self._busy("sockets")
        pin = self.pins.get(sid) if sid else None
        if pin is not None:
            pin.sockets += 1
        try:
            return await self._websocket(request, candidates, sid)
        finally:
            self.gate.leave(client)
            if pin is not None:
                pin.sockets -= 1

    def _connect_watch(self, request: web.Request, sid: str) -> Optional[Watch]:
        """A watch for the socket.io CONNECT, unless it is not needed."""
        if not request.path.startswith("/socket.io/"):
            return None
        pin = self.pins.get(sid) if sid else None
        if pin is not None and pin.confirmed:
            return None
        return Watch(sid, self.pins)

    async def _websocket(
        self, request: web.Request, candidates: List[Upstream], sid: str
    ) -> web.StreamResponse:
        assert self._session is not None, "the balancer app has not started"
        headers = {
            h: request.headers[h] for h in WEBSOCKET_HEADERS if h in request.headers
        }
        headers.update(self._forwarded(request))
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        for upstream in candidates:
            try:
                remote = await self._session.ws_connect(
                    URL(upstream.url + request.raw_path, encoded=True),
                    headers=headers,
                    protocols=protocols,
                    autoping=True,
                )
            except aiohttp.WSServerHandshakeError as exc:
                status = exc.status if exc.status >= 400 else 502
                return _error(status, "upgrade_refused", exc.message)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self._mark_down(upstream, exc)  # no message was sent: try the next
                if sid:
                    return self._session_lost(sid)
                continue
            self._mark_up(upstream)
            local = web.WebSocketResponse(
                protocols=[remote.protocol] if remote.protocol else ()
            )
            local.headers[UPSTREAM_HEADER] = str(upstream.index)
            self._sockets.add(local)
            watch = self._connect_watch(request, sid)
            try:
                await local.prepare(request)
                await _relay(local, remote, watch, self.limits.connect_timeout)
            except Exception as exc:  # noqa: BLE001 - the response is under way
                logger.warning(
                    "%s websocket relay failed: %s", self.name, type(exc).__name__
                )
            finally:
                self._sockets.discard(local)
                await remote.close()
                await local.close()
            return local
        return self._unavailable()


WebSocket = Union[web.WebSocketResponse, aiohttp.ClientWebSocketResponse]


class Watch:
    """Waits for the socket.io CONNECT a client sends over its websocket."""

    def __init__(self, sid: str, pins: PinTable) -> None:
        """Watch the socket of ``sid`` (empty: a websocket-only session)."""
        self.sid = sid
        self.pins = pins
        self.connected = asyncio.Event()

    def saw(self, text: str) -> None:
        """Look at one text message from the client."""
        if not self.connected.is_set() and socketio_connects(text):
            self.connected.set()
            if self.sid:
                self.pins.confirm(self.sid)


async def _pump(
    source: WebSocket, target: WebSocket, watch: Optional[Watch] = None
) -> None:
    """Copy messages from one websocket to the other until ``source`` closes."""
    try:
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                if watch is not None:
                    watch.saw(message.data)
                await target.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await target.send_bytes(message.data)
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
    except ConnectionResetError:  # the target went away mid-send
        pass
    code = source.close_code
    if code is None or code in (1005, 1006, 1015):  # never sent on the wire
        code = aiohttp.WSCloseCode.GOING_AWAY if code == 1006 else 1000
    await target.close(code=code)


async def _close_unconnected(
    local: web.WebSocketResponse, watch: Watch, timeout: float
) -> None:
    """Close the client's socket if no socket.io CONNECT comes within ``timeout``."""
    try:
        await asyncio.wait_for(watch.connected.wait(), timeout)
    except asyncio.TimeoutError:
        logger.info("Closed a websocket that sent no socket.io connect in time")
        await local.close(
            code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"connect timeout"
        )


async def _relay(
    local: web.WebSocketResponse,
    remote: WebSocket,
    watch: Optional[Watch] = None,
    connect_timeout: float = 10.0,
) -> None:
    """Pump both ways; when one side closes, close the other and stop.

    With a ``watch``, the client's socket is closed when it sends no socket.io
    CONNECT within ``connect_timeout`` seconds.
    """
    tasks = [
        asyncio.ensure_future(_pump(local, remote, watch)),
        asyncio.ensure_future(_pump(remote, local)),
    ]
    guard = (
        asyncio.ensure_future(_close_unconnected(local, watch, connect_timeout))
        if watch is not None
        else None
    )
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if pending:  # give the other side's close handshake a moment
            await asyncio.wait(pending, timeout=5.0)
    finally:
        if guard is not None:
            tasks.append(guard)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            logger.warning("websocket relay stopped: %s", type(result).__name__)


async def _headers_sent(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
) -> None:
    if context.trace_request_ctx is not None:  # None for websocket handshakes
        context.trace_request_ctx.sent = True


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run a balancer in front of the replicas named on the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--name", default="rasa", help="what the replicas are")
    parser.add_argument(
        "--host", default=os.environ.get("INTROCOACH_HOST", "").strip() or "127.0.0.1"
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--upstream", action="append", required=True, help="replica base URL"
    )
    parser.add_argument("--timeout", type=float, default=330.0)
    parser.add_argument("--cooldown", type=float, default=2.0)
    parser.add_argument(
        "--paths",
        choices=sorted(PATH_FILTERS),
        default="all",
        help="which requests to pass on (rasa-clients: no Rasa HTTP API)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    balancer = Balancer(
        args.upstream,
        args.name,
        timeout=args.timeout,
        cooldown=args.cooldown,
        limits=load_balancer_limits(),
    )
    balancer.allow_path = PATH_FILTERS[args.paths]
    logger.info(
        "%s balancer on http://%s:%d -> %s",
        args.name,
        args.host,
        args.port,
        ", ".join(args.upstream),
    )
    web.run_app(
        balancer.app(), host=args.host, port=args.port, print=None, access_log=None
    )


if __name__ == "__main__":
    main()
