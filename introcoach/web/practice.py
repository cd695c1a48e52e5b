"""The trainee's practice pages: pick a scenario, then chat in the widget.

``/practice`` shows the personas, the two modes and the rubric in plain words;
starting creates the practice session (tied to the signed-in trainee) and opens
``/practice/<id>``, which embeds the chat widget. The widget fetches a
short-lived token for the socket (``/practice/<id>/token``) and the
conversation so far (``/practice/<id>/history``), so a reload or a dropped
connection loses nothing. Only the trainee who owns a session can use these
URLs; anyone else gets 404, as for an id that does not exist.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence

from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse, json, redirect

from introcoach.chat_auth import issue_chat_token
from introcoach.personas import (
    Persona,
    PersonaError,
    all_personas,
    find_persona,
    pick_persona,
)
from introcoach.scoring import rubric_plain_words
from introcoach.settings import Settings
from introcoach.storage import transaction
from introcoach.storage.models import MODES, PracticeSession, User
from introcoach.storage.practice import start_session
from introcoach.storage.transcripts import Turn, read_transcript
from introcoach.web.app import error_page, render
from introcoach.web.routes import MODE_LABELS

logger = logging.getLogger(__name__)

SURPRISE = "surprise"
MODE_BLURBS = {
    "small_talk": "Introduce yourself and keep a casual conversation going. Find "
    "something you have in common.",
    "pitch": "Say who you are, what you do and why it matters in 20 to 60 "
    "seconds, then get feedback and try again.",
}
#: The first message the widget sends, per mode; see ActionSessionStart.
START_MESSAGES = {"small_talk": "/session_start", "pitch": "/practice_pitch"}
#: What the widget shows for payloads it sends from its own buttons.
WIDGET_BUTTONS = {
    "/ask_hint": "Hint, please",
    "/practice_pitch": "Try again",
    "/switch_persona": "Meet someone else",
}


def _trainee(request: Request) -> Optional[User]:
    user: Optional[User] = request.ctx.user
    return user if user is not None and user.role == "trainee" else None


def _not_for_supervisors(request: Request) -> HTTPResponse:
    return error_page(
        request,
        403,
        "Practice is for trainee accounts. Supervisors can read their trainees' "
        "sessions under Sessions.",
    )


def _own_session(request: Request, session_id: int) -> PracticeSession:
    """The trainee's own session; 404 for anyone else's (never 403)."""
    user = _trainee(request)
    with transaction(request.app.ctx.engine) as session:
        practice = session.get(PracticeSession, session_id)
    if user is None or practice is None or practice.trainee_id != user.id:
        raise NotFound("no such practice session")
    return practice


def _persona_or_none(persona_id: Optional[str]) -> Optional[Persona]:
    try:
        return find_persona(persona_id) if persona_id else None
    except PersonaError:
        return None


def _picker_page(
    request: Request,
    chosen: Dict[str, str],
    errors: Sequence[str] = (),
    status: int = 200,
) -> HTTPResponse:
    """The scenario picker, with the trainee's choice and any errors."""
    try:
        personas = all_personas()
    except PersonaError:
        logger.exception("The persona file could not be read")
        return error_page(
            request, 500, "The personas could not be loaded. Please tell your admin."
        )
    return render(
        request,
        "practice.html",
        status=status,
        personas=personas,
        modes=[(mode, MODE_LABELS[mode], MODE_BLURBS[mode]) for mode in MODES],
        rubric=rubric_plain_words(),
        errors=list(errors),
        chosen=chosen,
    )


async def picker(request: Request) -> HTTPResponse:
    """Persona cards, the mode, and what counts, before the chat starts."""
    if _trainee(request) is None:
        return _not_for_supervisors(request)
    return _picker_page(request, {"persona": SURPRISE, "mode": "small_talk"})


async def start(request: Request) -> HTTPResponse:
    """Create the practice session for the trainee's choice and open the chat."""
    user = _trainee(request)
    if user is None:
        return _not_for_supervisors(request)
    persona_id = (request.form.get("persona") or SURPRISE).strip()
    mode = (request.form.get("mode") or "").strip()
    errors: List[str] = []
    if mode not in MODES:
        errors.append("Choose small talk or elevator pitch.")
    persona = None if persona_id == SURPRISE else _persona_or_none(persona_id)
    if persona_id != SURPRISE and persona is None:
        errors.append("That persona is not available any more. Pick another one.")
    if errors:
        chosen = {"persona": persona_id, "mode": mode or "small_talk"}
        return _picker_page(request, chosen, errors, status=400)
    persona = persona or pick_persona()
    sender_id = f"web-{secrets.token_hex(12)}"
    practice = start_session(
        request.app.ctx.engine, sender_id, persona.id, mode, trainee_id=user.id
    )
    logger.info(
        "Trainee %d started practice session %d (%s)", user.id, practice.id, mode
    )
    return redirect(f"/practice/{practice.id}", status=303)


async def chat_page(request: Request, session_id: int) -> HTTPResponse:
    """The page that embeds the widget for one of the trainee's sessions."""
    if _trainee(request) is None:
        return _not_for_supervisors(request)
    practice = _own_session(request, session_id)
    persona = _persona_or_none(practice.persona_id)
    return render(
        request,
        "practice_chat.html",
        practice=practice,
        persona=persona,
        mode_label=MODE_LABELS[practice.mode],
        rubric=rubric_plain_words(),
    )


async def token(request: Request, session_id: int) -> HTTPResponse:
    """A short-lived socket token for the trainee's own session (JSON)."""
    practice = _own_session(request, session_id)
    settings: Settings = request.app.ctx.settings
    persona = _persona_or_none(practice.persona_id)
    return json(
        {
            "token": issue_chat_token(
                settings.jwt_key,
                practice.sender_id,
                practice.trainee_id,
                practice.id,
                lifetime=settings.chat_token_seconds,
            ),
            "sender_id": practice.sender_id,
            "rasa_url": settings.chat_url,
            "socket_path": "/socket.io",
            "expires_in": settings.chat_token_seconds,
            "mode": practice.mode,
            "persona": persona.card() if persona else None,
            "start": {
                "message": START_MESSAGES[practice.mode],
                "metadata": {"persona_id": practice.persona_id, "mode": practice.mode},
            },
        }
    )


def _iso(value: Optional[datetime]) -> Optional[str]:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def history_message(turn: Turn) -> Dict[str, Any]:
    """One transcript message as the widget renders it."""
    return {
        "speaker": turn.speaker,
        "text": turn.text,
        "timestamp": _iso(turn.timestamp),
        "buttons": turn.buttons,
        "custom": turn.custom or None,
    }


def widget_history(turns: List[Turn]) -> List[Dict[str, Any]]:
    """The transcript as the widget showed it.

    Button presses are stored as their payloads (``/switch_persona``): they are
    shown by the button's title, as when they were pressed. The widget's own
    opening message (``/session_start``, or the pitch request it starts a
    pitch session with) was never shown, so it is left out.
    """
    titles = dict(WIDGET_BUTTONS)
    messages: List[Dict[str, Any]] = []
    first_from_trainee = True
    for turn in turns:
        if turn.speaker != "trainee" or not turn.text.startswith("/"):
            titles.update({b["payload"]: b["title"] for b in turn.buttons})
            messages.append(history_message(turn))
            first_from_trainee &= turn.speaker != "trainee"
            continue
        opening = first_from_trainee and turn.text in START_MESSAGES.values()
        first_from_trainee = False
        if opening or turn.text not in titles:
            continue
        shown = history_message(turn)
        shown["text"] = titles[turn.text]
        messages.append(shown)
    return messages


async def history(request: Request, session_id: int) -> HTTPResponse:
    """The conversation so far (JSON), for the widget after a reload."""
    practice = _own_session(request, session_id)
    turns = read_transcript(request.app.ctx.engine, practice.sender_id)
    return json({"messages": widget_history(turns)})


def register(app: Any) -> None:
    """Add the practice routes to ``app``."""
    app.add_route(picker, "/practice", methods=["GET"], name="practice")
    app.add_route(start, "/practice", methods=["POST"], name="practice_start")
    app.add_route(
        chat_page, "/practice/<session_id:int>", methods=["GET"], name="practice_chat"
    )
    app.add_route(
        token,
        "/practice/<session_id:int>/token",
        methods=["GET"],
        name="practice_token",
    )
    app.add_route(
        history,
        "/practice/<session_id:int>/history",
        methods=["GET"],
        name="practice_history",
    )
