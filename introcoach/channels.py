"""The socket.io channel the chat widget uses, with each socket bound to its token.

Rasa 3.6's own ``socketio`` channel checks a JWT only when the socket connects;
after that, any connected client may send messages under any ``session_id``
and join any conversation's room. This channel keeps Rasa's event names and
payloads but binds every socket to the sender id in its token
(:mod:`introcoach.chat_auth`): a ``session_request`` or a message for another
conversation is refused with an ``introcoach_error`` event, and nothing is
passed to Rasa.

It also sends each bot message as one event holding everything the widget
renders (text, buttons, the custom payload, who is speaking), where Rasa's
socket.io output splits them and passes custom JSON as keyword arguments to
``emit``.

A socket lives no longer than its token allows: it is closed when the token
expires, when the trainee signs out and when the practice session is deleted
(:mod:`introcoach.storage.chat_access`, in the database the web app shares).
That is checked when the socket connects, before each message, and every
``INTROCOACH_SOCKET_SWEEP_SECONDS`` (default 15) for every open socket. Each
message is acknowledged (``{"ok": true}`` once handled), so the widget knows
which to send again after it reconnects with a fresh token.

Registered in ``credentials.yml`` as ``introcoach.channels.TraineeSocketIOInput``.

Both channels here (and :class:`ReportingRestInput`, Rasa's REST channel)
answer a message that could not be handled with a short coach note instead of
silence: Rasa's REST channel logs the failure (with the message text) and
answers ``[]``, and its socket.io channel answers nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import (
    SocketBlueprint,
    SocketIOInput,
    SocketIOOutput,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from introcoach.chat_auth import ChatClaims, InvalidChatToken, read_chat_token
from introcoach.storage.chat_access import DELETED, SIGNED_OUT
from introcoach.tracker_store import ConversationStoreUnavailable

logger = logging.getLogger(__name__)

ERROR_EVENT = "introcoach_error"
#: Longest message passed to Rasa; longer ones are refused, not cut.
MAX_MESSAGE_CHARS = 5_000
#: Longest client ``metadata`` (as compact JSON) passed to Rasa, which stores it
#: with every message; the widget sends about 50 characters.
MAX_METADATA_CHARS = 2_000
MAX_SENDER_CHARS = 255
# C0 controls other than tab, newline and carriage return, and DEL. NUL cannot
# be stored in PostgreSQL text at all; the others are never typed on purpose.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_TEXT = "That message had no text."
EMPTY = "(Coach) That message was empty. Type what you would say, then send it."
TOO_LONG = (
    f"(Coach) That message is too long (over {MAX_MESSAGE_CHARS:,} characters), "
    "so it was not sent. In conversation, a few sentences at a time works best."
)
CONTROL = (
    "(Coach) That message contained invisible control characters, so it was not "
    "sent. Please type it again."
)


def refusal(text: Any) -> Optional[str]:
    """Why a message is not passed to Rasa, in words for the trainee; None if it is.

    Nothing refused is stored, so nothing stored is ever cut or altered.
    """
    if not isinstance(text, str):
        return NO_TEXT
    if len(text) > MAX_MESSAGE_CHARS:
        return TOO_LONG
    if not text.strip():
        return EMPTY
    if CONTROL_CHARACTERS.search(text):
        return CONTROL
    return None


STORE_UNAVAILABLE = (
    "(Coach) I can't reach the conversation store right now, so this exchange "
    "was not saved. Nothing said earlier is lost. Please try again in a minute."
)
HANDLING_FAILED = (
    "(Coach) Something went wrong on our side with that message. Please try "
    "again; if it keeps happening, tell your supervisor."
)


NO_REPLY = (
    "(Your conversation partner seems distracted for a moment and didn't catch "
    "that. Try saying it again.)"
)
#: Messages that rightly get no answer (see ActionSessionStart).
SILENT_MESSAGES = ("/session_start",)


def reporting(
    on_new_message: Callable[[UserMessage], Awaitable[Any]]
) -> Callable[[UserMessage], Awaitable[None]]:
    """Wrap Rasa's message handler so a failure gets a clear reply, not silence.

    Three cases: the tracker store did not answer; handling raised; or Rasa
    handled the message but sent nothing back, which is what happens when the
    action server is down, too slow or failing (Rasa logs the error and carries
    on with no reply).
    """

    async def handle(message: UserMessage) -> None:
        output = message.output_channel
        sent = 0
        if output is not None:
            send = output.send_response

            async def counted(recipient_id: str, reply: Dict[str, Any]) -> None:
                nonlocal sent
                sent += 1
                await send(recipient_id, reply)

            output.send_response = counted  # type: ignore[method-assign]
        try:
            await on_new_message(message)
            if sent or (message.text or "").startswith(SILENT_MESSAGES):
                return
            logger.warning(
                "Message %s of conversation %s got no reply (is the action "
                "server up?)",
                message.message_id,
                message.sender_id,
            )
            note, speaker = NO_REPLY, "narrator"
        except ConversationStoreUnavailable:
            note, speaker = STORE_UNAVAILABLE, "coach"  # logged by the store
        except Exception as error:  # noqa: BLE001 - reported to the trainee
            logger.error(
                "Message %s of conversation %s failed (%s)",
                message.message_id,
                message.sender_id,
                error.__class__.__name__,
                exc_info=error,
            )
            note, speaker = HANDLING_FAILED, "coach"
        if output is not None:
            await output.send_response(
                message.sender_id, {"text": note, "speaker": speaker}
            )

    return handle


METADATA_TOO_LARGE = (
    f'"metadata" must be at most {MAX_METADATA_CHARS:,} characters as JSON.'
)


def metadata_too_large(metadata: Any) -> bool:
    """Whether client metadata is over :data:`MAX_METADATA_CHARS` as compact JSON."""
    if metadata is None:
        return False
    if isinstance(metadata, str):
        return len(metadata) > MAX_METADATA_CHARS
    try:
        encoded = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return True
    return len(encoded) > MAX_METADATA_CHARS


REST_UNAUTHORIZED = (
    "This endpoint needs the REST channel's token: send the header "
    "'Authorization: Bearer <token>' (INTROCOACH_REST_TOKEN, kept in "
    ".secrets/rest_token)."
)


def check_rest_token(
    expected: str, authorization: Optional[str]
) -> Optional[HTTPResponse]:
    """401 unless ``authorization`` is ``Bearer <expected>``; None when it is.

    Only the header is read, never a ``?token=`` query parameter: query
    strings end up in access logs, proxy logs and shell history.
    """
    scheme, _, given = (authorization or "").strip().partition(" ")
    if (
        expected
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        return None
    return response.json(
        {"error": REST_UNAUTHORIZED},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="introcoach-rest"'},
    )


def _bad_request(error: str) -> HTTPResponse:
    return response.json({"error": error}, status=400)


def check_rest_body(raw: bytes) -> Optional[HTTPResponse]:
    """The answer to a REST message Rasa should not see; None when it may.

    Malformed JSON and missing or mistyped fields get 400 with the reason
    (Rasa's own channel answers them with a 500 or a crash in its handler);
    a message that is empty, too long or holds control characters gets the
    usual ``200`` list of messages with one coach note, and is not stored.
    """
    try:
        body = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return _bad_request(
            'The body must be JSON: {"sender": "...", "message": "..."}'
        )
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        return _bad_request('"sender" must be a non-empty string.')
    if len(sender) > MAX_SENDER_CHARS or CONTROL_CHARACTERS.search(sender):
        return _bad_request(
            f'"sender" must be at most {MAX_SENDER_CHARS} printable characters.'
        )
    if not isinstance(body.get("message"), str):
        return _bad_request('"message" must be a string.')
    if not isinstance(body.get("metadata", {}), (dict, type(None))):
        return _bad_request('"metadata", when given, must be an object.')
    if metadata_too_large(body.get("metadata")):
        return _bad_request(METADATA_TOO_LARGE)
    reason = refusal(body["message"])
    if reason is not None:
        return response.json([{"recipient_id": sender, "text": reason}])
    return None


class ReportingRestInput(RestInput):
    """Rasa's REST channel (same name and URL), checking input and reporting failures.

    A message needs the channel's token (:func:`check_rest_token`; Rasa's own
    REST channel checks none, and ``--auth-token`` covers only the HTTP API).
    Bad requests get a clear answer before Rasa sees them
    (:func:`check_rest_body`), and a message whose handling fails gets a coach
    note instead of an empty reply (:func:`reporting`).
    """

    def __init__(self, token: str = "") -> None:
        """Set up the channel; without a token every message is refused (401)."""
        super().__init__()
        self.token = token

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Read ``credentials.yml``; a ``token`` is required."""
        token = str((credentials or {}).get("token") or "").strip()
        if not token:
            raise ValueError(
                "introcoach.channels.ReportingRestInput needs token in "
                "credentials.yml (INTROCOACH_REST_TOKEN)"
            )
        return cls(token)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """Rasa's REST blueprint around :func:`reporting`, with the body check."""
        webhook = super().blueprint(reporting(on_new_message))

        @webhook.middleware("request")
        async def check_body(request: Request) -> Optional[HTTPResponse]:
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            refused = check_rest_token(self.token, request.headers.get("authorization"))
            if refused is not None:
                logger.info("Refused a REST message without a valid token")
                return refused
            return check_rest_body(request.body)

        return webhook


def _buttons(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    raw = message.get("buttons") or message.get("quick_replies") or []
    return [
        {"title": b.get("title"), "payload": b.get("payload")}
        for b in raw
        if isinstance(b, dict)
    ]


#: Seconds between two sweeps of the open sockets (``INTROCOACH_SOCKET_SWEEP_SECONDS``).
DEFAULT_SWEEP_SECONDS = 15.0
#: Why a socket is closed or refused (besides DELETED and SIGNED_OUT).
EXPIRED = "token_expired"
REASONS = {
    EXPIRED: "token expired",
    DELETED: "the practice session was deleted",
    SIGNED_OUT: "signed out since the token was issued",
}
SESSION_DELETED = (
    "(Coach) This practice session was deleted, so this chat is closed."
)
CHECK_FAILED = (
    "(Coach) I can't check this practice session right now, so that message "
    "was not sent. Please try again in a minute."
)
#: Acknowledgements of ``user_uttered``: handled; refused for good (the reason
#: came as ``introcoach_error``); or not taken, to be sent again after
#: reconnecting (the socket is being closed).
ACK_OK: Dict[str, Any] = {"ok": True}
ACK_REFUSED: Dict[str, Any] = {"ok": False}
ACK_RETRY: Dict[str, Any] = {"ok": False, "retry": True}


def sweep_seconds(env: Optional[Dict[str, str]] = None) -> float:
    """How often open sockets are checked (``INTROCOACH_SOCKET_SWEEP_SECONDS``)."""
    from introcoach.settings import seconds_setting

    return seconds_setting(
        dict(os.environ) if env is None else env,
        "INTROCOACH_SOCKET_SWEEP_SECONDS",
        DEFAULT_SWEEP_SECONDS,
        minimum=0.1,
    )


def _refusals_in_database(grants: Dict[str, ChatClaims]) -> Dict[str, str]:
    from introcoach.storage.chat_access import chat_refusals
    from introcoach.storage.db import get_engine

    return chat_refusals(get_engine(), grants)


async def refused_sockets(grants: Dict[str, ChatClaims]) -> Dict[str, str]:
    """``sid -> why`` for the sockets whose token no longer holds.

    Expired tokens are found without the database; the rest are checked in
    one query (off the event loop). Raises when the database does not answer.
    """
    now = time.time()
    refused = {
        sid: EXPIRED for sid, claims in grants.items() if claims.expires_at <= now
    }
    rest = {sid: claims for sid, claims in grants.items() if sid not in refused}
    if rest:
        loop = asyncio.get_running_loop()
        refused.update(await loop.run_in_executor(None, _refusals_in_database, rest))
    return refused


class TraineeSocketIOOutput(SocketIOOutput):
    """Sends each bot message to the conversation's room as a single event."""

    @classmethod
    def name(cls) -> str:
        """The channel's name, as Rasa records it on each message."""
        return TraineeSocketIOInput.name()

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Emit the whole message (text, buttons, custom payload, speaker) at once."""
        payload = {
            "text": message.get("text"),
            "buttons": _buttons(message),
            "custom": message.get("custom"),
            "speaker": message.get("speaker"),
            "persona_id": message.get("persona_id"),
            "timestamp": message.get("timestamp"),
        }
        if not (payload["text"] or payload["buttons"] or payload["custom"]):
            return
        await self.sio.emit(self.bot_message_evt, payload, room=recipient_id)


class TraineeSocketIOInput(SocketIOInput):
    """Rasa's socket.io input, with the sender bound to the socket's token."""

    @classmethod
    def name(cls) -> str:
        """The channel's name (its webhook is ``/socket.io``, not under it)."""
        return "introcoach_socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Read ``credentials.yml``; a ``jwt_key`` is required."""
        credentials = credentials or {}
        key = str(credentials.get("jwt_key") or "")
        if not key:
            raise ValueError(
                "introcoach_socketio needs jwt_key in credentials.yml "
                "(INTROCOACH_JWT_KEY)"
            )
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            True,
            credentials.get("socketio_path", "/socket.io"),
            key,
            "HS256",
            credentials.get("metadata_key", "metadata"),
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        """The output channel for messages Rasa sends outside a request."""
        if self.sio is None:
            return None
        return TraineeSocketIOOutput(self.sio, self.bot_message_evt)

    async def _bound_sender(self, sio: AsyncServer, sid: str) -> Optional[str]:
        try:
            session = await sio.get_session(sid, namespace=self.namespace)
        except KeyError:
            return None
        sender = session.get("sender_id")
        return sender if isinstance(sender, str) else None

    async def _refuse(self, sio: AsyncServer, sid: str, reason: str) -> None:
        logger.warning("Refused a socket.io request from %s: %s", sid, reason)
        await sio.emit(
            ERROR_EVENT,
            {"message": reason},
            room=sid,
            namespace=self.namespace,
        )

    async def _close(self, sio: AsyncServer, sid: str, why: str) -> None:
        """Close a socket whose token no longer holds.

        Only a deleted session is announced: after an expiry or a sign-out the
        widget reconnects with a fresh token from the web app, which decides
        (a browser still signed in goes on; a signed-out one is refused).
        """
        if self._sockets.pop(sid, None) is None:
            return  # closed already
        logger.info("Closing socket %s: %s", sid, why)
        if why == DELETED:
            await sio.emit(
                ERROR_EVENT,
                {"message": SESSION_DELETED, "code": why},
                room=sid,
                namespace=self.namespace,
            )
        await sio.disconnect(sid, namespace=self.namespace)

    async def sweep_once(self, sio: AsyncServer) -> List[str]:
        """Close every open socket whose token no longer holds; their ids.

        Sockets with a message being handled wait for the next sweep. When
        the database does not answer, only expired tokens are closed.
        """
        idle = {
            sid: claims
            for sid, claims in list(self._sockets.items())
            if not self._busy.get(sid)
        }
        try:
            refused = await refused_sockets(idle)
        except Exception as error:  # noqa: BLE001 - retried at the next sweep
            logger.warning(
                "Socket sweep could not check the database (%s)",
                error.__class__.__name__,
            )
            now = time.time()
            refused = {
                sid: EXPIRED for sid, c in idle.items() if c.expires_at <= now
            }
        for sid, why in refused.items():
            await self._close(sio, sid, why)
        return sorted(refused)

    async def _sweep(self, sio: AsyncServer) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.sweep_once(sio)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the sweep goes on
                logger.warning("Socket sweep failed (%s)", error.__class__.__name__)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """The socket.io server, mounted on Rasa's Sanic app."""
        # CORS headers come from Rasa's --cors (Sanic-CORS); an empty list stops
        # engine.io from adding a second set. Access is decided by the token.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        webhook = SocketBlueprint(
            sio, self.socketio_path, "introcoach_socketio", __name__
        )
        self.sio = sio
        key = str(self.jwt_key)
        handle = reporting(on_new_message)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        self._sockets: Dict[str, ChatClaims] = {}
        self._busy: Dict[str, int] = {}
        self._sweeper: Optional[asyncio.Task] = None
        self.sweep_seconds = sweep_seconds()

        @webhook.listener("after_server_start")
        async def start_sweeping(*_: Any) -> None:
            self._sweeper = asyncio.ensure_future(self._sweep(sio))

        @webhook.listener("before_server_stop")
        async def stop_sweeping(*_: Any) -> None:
            if self._sweeper is not None:
                self._sweeper.cancel()

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: Dict, auth: Optional[Dict]) -> bool:
            token = auth.get("token") if isinstance(auth, dict) else None
            try:
                claims = read_chat_token(key, token)
            except InvalidChatToken as exc:
                logger.info("Refused a socket.io connection: %s", exc)
                raise SocketRefused("Unauthorized: " + str(exc)) from None
            try:
                why = (await refused_sockets({sid: claims})).get(sid)
            except Exception as error:  # noqa: BLE001 - refused, not raised
                logger.warning(
                    "Refused a socket.io connection: could not check practice "
                    "session %s (%s)",
                    claims.practice_id,
                    error.__class__.__name__,
                )
                raise SocketRefused(
                    "Unauthorized: the practice session could not be checked"
                ) from None
            if why is not None:
                logger.info("Refused a socket.io connection: %s", why)
                raise SocketRefused(f"Unauthorized: {REASONS[why]}") from None
            await sio.save_session(
                sid,
                {"sender_id": claims.sender_id, "practice_id": claims.practice_id},
                namespace=self.namespace,
            )
            self._sockets[sid] = claims
            logger.debug(
                "Socket %s connected for practice session %s", sid, claims.practice_id
            )
            return True

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            self._sockets.pop(sid, None)
            self._busy.pop(sid, None)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            sender = await self._bound_sender(sio, sid)
            if sender is None:
                await self._refuse(sio, sid, "This connection is not signed in.")
                return
            claims = self._sockets.get(sid)
            if claims is None or claims.expires_at <= time.time():
                await self._close(sio, sid, EXPIRED)  # the widget reconnects
                return
            requested = data.get("session_id") if isinstance(data, dict) else None
            if requested not in (None, sender):
                await self._refuse(
                    sio, sid, "This chat belongs to another practice session."
                )
                return
            # A coroutine in python-socketio 5.x; Rasa's own channel calls it
            # without await, so its rooms are never joined.
            await sio.enter_room(sid, sender, namespace=self.namespace)
            await sio.emit(
                "session_confirm", sender, room=sid, namespace=self.namespace
            )

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> Dict[str, Any]:
            sender = await self._bound_sender(sio, sid)
            if sender is None:
                await self._refuse(sio, sid, "This connection is not signed in.")
                return ACK_REFUSED
            if not isinstance(data, dict):
                await self._refuse(sio, sid, "That message could not be read.")
                return ACK_REFUSED
            if data.get("session_id") != sender:
                await self._refuse(
                    sio, sid, "This chat belongs to another practice session."
                )
                return ACK_REFUSED
            text = data.get("message")
            reason = refusal(text)
            if reason is not None:
                await self._refuse(sio, sid, reason)
                return ACK_REFUSED
            metadata = data.get(self.metadata_key) or {}
            if metadata_too_large(metadata):
                await self._refuse(sio, sid, METADATA_TOO_LARGE)
                return ACK_REFUSED
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            claims = self._sockets.get(sid)
            if claims is None:  # closed meanwhile
                return ACK_RETRY
            try:
                why = (await refused_sockets({sid: claims})).get(sid)
            except Exception as error:  # noqa: BLE001 - the trainee is told
                logger.warning(
                    "Could not check practice session %s (%s); message not taken",
                    claims.practice_id,
                    error.__class__.__name__,
                )
                await self._refuse(sio, sid, CHECK_FAILED)
                return ACK_REFUSED
            if why is not None:
                # Nothing reaches Rasa: no events, no practice row made anew.
                await self._close(sio, sid, why)
                return ACK_RETRY
            message = UserMessage(
                text,
                TraineeSocketIOOutput(sio, self.bot_message_evt),
                sender,
                input_channel=self.name(),
                metadata=metadata,
            )
            # The sweep leaves a socket alone while one of its messages is
            # handled, so the acknowledgement gets through.
            self._busy[sid] = self._busy.get(sid, 0) + 1
            try:
                await handle(message)
            finally:
                left = self._busy.get(sid, 1) - 1
                if left > 0:
                    self._busy[sid] = left
                else:
                    self._busy.pop(sid, None)
            return ACK_OK

        return webhook
