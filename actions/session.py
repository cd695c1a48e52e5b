"""Starting, switching and restarting a practice conversation."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ActiveLoop,
    EventType,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    PersonaAction,
    coach,
    current_persona,
    latest_intent,
    latest_text,
    misrouted_to_coach,
    open_conversation,
    reply_in_character,
    reset_practice_slots,
)
from introcoach.personas import find_persona, persona_named_in, pick_persona
from introcoach.storage.recorder import record_session_start


class ActionSessionStart(PersonaAction):
    """Starts a session with a persona and lets them open the conversation.

    The persona comes from the session's metadata (``{"persona_id": "dana"}``,
    as the chat widget sends it) when that names a known persona; otherwise one
    is picked, repeatably, from the sender id.

    The widget opens a conversation by sending ``/session_start``. Rasa then
    runs this action twice: once because the conversation is new, and once
    because that intent asks for it. The second run does nothing, so the
    persona greets the trainee once (and a repeated ``/session_start``, after
    a reload, does not restart a conversation that is under way).
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        if already_open(tracker):
            # Rasa predicts nothing after this action: say we are listening,
            # as a session start does, so the next message is read as usual.
            return [ActionExecuted("action_listen")]
        metadata = tracker.get_slot("session_started_metadata") or {}
        requested = metadata.get("persona_id") if isinstance(metadata, dict) else None
        persona = find_persona(requested) if requested else None
        if requested and persona is None:
            coach(
                dispatcher,
                f"There is no persona called '{requested}', so I picked someone for "
                "you.",
            )
        persona = persona or pick_persona(seed=tracker.sender_id)
        events: List[EventType] = [SessionStarted()]
        events += open_conversation(dispatcher, persona, tracker)
        if not record_session_start(tracker.sender_id, persona.id):
            coach(
                dispatcher,
                "(Coach) This practice session can't be saved right now (the database "
                "is not answering). You can still practise; it just won't appear in "
                "your history.",
            )
        events.append(ActionExecuted("action_listen"))
        return events


def already_open(tracker: Tracker) -> bool:
    """Whether this is a ``/session_start`` sent to a conversation under way."""
    if latest_intent(tracker) != "session_start":
        return False
    return bool(tracker.get_slot("persona_id"))


class ActionSwitchPersona(PersonaAction):
    """Introduces the trainee to someone else: the one they named, or another."""

    def name(self) -> str:
        return "action_switch_persona"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        heard = misrouted_to_coach(tracker)
        if heard is not None:
            return reply_in_character(dispatcher, tracker, heard)
        current = current_persona(tracker)
        named = persona_named_in(latest_text(tracker))
        if named is not None and named.id == current.id:
            coach(
                dispatcher,
                f"You're already talking with {current.name}. Carry on, or say 'meet "
                "someone else'.",
            )
            return [ActiveLoop(None), SlotSet("requested_slot", None)]
        if named is not None:
            persona = named
        else:
            # Seeded by the number of events so each switch can meet someone new.
            persona = pick_persona(
                exclude=current.id, seed=f"{tracker.sender_id}:{len(tracker.events)}"
            )
        coach(
            dispatcher,
            f"OK! You say goodbye to {current.first_name} and meet {persona.name}, "
            f"{persona.role_with_article()} from {persona.organization}.",
        )
        return (
            [ActiveLoop(None), SlotSet("requested_slot", None)]
            + reset_practice_slots()
            + open_conversation(dispatcher, persona, tracker)
        )


class ActionRestartPractice(PersonaAction):
    """Starts the conversation with the same persona again, from the top."""

    def name(self) -> str:
        return "action_restart_practice"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        heard = misrouted_to_coach(tracker)
        if heard is not None:
            return reply_in_character(dispatcher, tracker, heard)
        persona = current_persona(tracker)
        coach(
            dispatcher,
            f"Starting over. {persona.first_name} has never met you, so this is a "
            "fresh first impression.",
        )
        return (
            [ActiveLoop(None), SlotSet("requested_slot", None)]
            + reset_practice_slots()
            + open_conversation(dispatcher, persona, tracker)
        )
