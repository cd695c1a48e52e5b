"""Helpers shared by the actions: reading the tracker, speaking as the persona.

Every bot message carries a ``speaker`` in its metadata: ``persona`` (in
character), ``narrator`` (the scene) or ``coach`` (out of character: help,
feedback). The narration that opens a conversation with a persona also carries
``segment_start``, so the conversation with the current persona is everything
after the last such message.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from introcoach.dialogue import Heard, PersonaVoice, Reply, hear
from introcoach.dialogue.understand import asks_to_meet, is_coaching_command
from introcoach.personas import Persona, find_persona, persona_named_in, pick_persona
from introcoach.scoring import Turn, find_interest_mentions

PERSONA = "persona"
NARRATOR = "narrator"
COACH = "coach"


def current_persona(tracker: Tracker) -> Persona:
    """The persona of this conversation; a seeded pick if the slot is unset or stale."""
    persona = find_persona(tracker.get_slot("persona_id"))
    return persona or pick_persona(seed=tracker.sender_id)


def is_persona_name(value: str, persona: Persona) -> bool:
    """Whether ``value`` is the persona's own name (or part of it)."""
    words = persona.name.casefold().split()
    return value.strip().casefold() in {persona.name.casefold(), *words}


def trainee_name(tracker: Tracker, persona: Persona) -> Optional[str]:
    """The trainee's name: the latest one they gave that is not the persona's.

    "Hi Priya! I'm Tina" holds two names, and Rasa fills ``user_name`` from the
    first; a persona greeted by name must not start calling the trainee by it.
    Falls back to the ``user_name`` slot, or the last name it held that was not
    the persona's.
    """
    given = [str(value) for value in tracker.get_latest_entity_values("name")]
    held = [tracker.get_slot("user_name")] + [
        event.get("value")
        for event in reversed(tracker.events)
        if event.get("event") == "slot" and event.get("name") == "user_name"
    ]
    for value in given + held:
        if isinstance(value, str) and value.strip():
            if not is_persona_name(value, persona):
                return value.strip()
    return None


def voice_for(tracker: Tracker, persona: Optional[Persona] = None) -> PersonaVoice:
    """The persona's voice, with its memory of this conversation."""
    persona = persona or current_persona(tracker)
    return PersonaVoice(
        persona,
        memory=tracker.get_slot("persona_memory"),
        seed=tracker.sender_id,
        user_name=trainee_name(tracker, persona),
    )


def latest_text(tracker: Tracker) -> str:
    """The text of the trainee's latest message."""
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> Optional[str]:
    """The intent of the trainee's latest message."""
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def latest_message_id(tracker: Tracker) -> Optional[str]:
    """The id Rasa gave the trainee's latest message (stable across retries)."""
    value = (tracker.latest_message or {}).get("message_id")
    return str(value) if value else None


UNSAVED_NOTE = (
    "(Coach) Heads-up: I couldn't save this to your practice history just now. "
    "Your feedback above is still valid; please tell your supervisor if this keeps "
    "happening."
)


def latest_entity(tracker: Tracker, entity: str) -> Optional[str]:
    """The first value of ``entity`` in the latest message, if any."""
    value = next(tracker.get_latest_entity_values(entity), None)
    return str(value).strip() if value else None


def interest_mentions(tracker: Tracker, persona: Persona) -> List[Any]:
    """The persona's interests named in the latest message (negations included)."""
    text = latest_text(tracker)
    return find_interest_mentions(text, persona) if text.strip() else []


# Channels that show text only: a structured payload would be dumped as raw JSON.
TEXT_ONLY_CHANNELS = frozenset({"cmdline"})


def structured(tracker: Tracker, payload: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The payload for channels that render it (the widget, REST); None in a shell."""
    if tracker.get_latest_input_channel() in TEXT_ONLY_CHANNELS:
        return None
    return payload


def say(
    dispatcher: CollectingDispatcher, persona: Persona, text: str, **extra: Any
) -> None:
    """Send a line in character."""
    dispatcher.utter_message(text=text, speaker=PERSONA, persona_id=persona.id, **extra)


def coach(dispatcher: CollectingDispatcher, text: str, **extra: Any) -> None:
    """Send an out-of-character coaching message."""
    dispatcher.utter_message(text=text, speaker=COACH, **extra)


_HEARD: OrderedDict[Tuple[Any, ...], Heard] = OrderedDict()


def heard_from(tracker: Tracker, persona: Persona) -> Heard:
    """What the persona heard in the trainee's latest message.

    One message is read by several checks and then by the action itself: the
    reading is kept (a copy each time, the planner may add to it) for the
    last few messages.
    """
    entities: Dict[str, List[str]] = {}
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") and entity.get("value") is not None:
            entities.setdefault(str(entity["entity"]), []).append(str(entity["value"]))
    text, intent = latest_text(tracker), latest_intent(tracker)
    key = (
        text,
        persona.id,
        id(persona),
        intent,
        tuple(sorted((k, tuple(v)) for k, v in entities.items())),
    )
    found = _HEARD.get(key)
    if found is None:
        found = _HEARD[key] = hear(text, persona, intent, entities)
        while len(_HEARD) > 256:
            _HEARD.popitem(last=False)
    return copy.deepcopy(found)


def speak(
    dispatcher: CollectingDispatcher,
    persona: Persona,
    reply: Reply,
    tracker: Optional[Tracker] = None,
) -> List[EventType]:
    """Send a reply in character and remember what was said.

    The plan (what the reply reacted to, answered and asked) travels in the
    message metadata, so transcripts and the role-play suite can check it.
    """
    say(dispatcher, persona, reply.text, plan=reply.plan)
    events: List[EventType] = [SlotSet("persona_memory", reply.memory.to_dict())]
    name = reply.memory.trainee.get("name")
    if tracker is not None and name and tracker.get_slot("user_name") != name:
        # Rasa fills the slot from the first name entity, which may be the
        # persona's own ("Hi Priya! I'm Tina").
        events.append(SlotSet("user_name", name))
    elif (
        tracker is not None
        and not name
        and tracker.get_slot("user_name")
        and is_persona_name(str(tracker.get_slot("user_name")), persona)
    ):
        events.append(SlotSet("user_name", None))
    return events


def reply_in_character(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    heard: Optional[Heard] = None,
) -> List[EventType]:
    """The persona's planned reply to the trainee's latest message."""
    persona = current_persona(tracker)
    heard = heard or heard_from(tracker, persona)
    reply = voice_for(tracker, persona).respond(heard)
    return speak(dispatcher, persona, reply, tracker)


def really_goodbye(tracker: Tracker) -> bool:
    """Whether a message Rasa took for a goodbye is one.

    "do you take people on MAT" once came out as ``goodbye``: a question
    without any goodbye words is answered, and no feedback card follows.
    """
    heard = heard_from(tracker, current_persona(tracker))
    text = latest_text(tracker)
    # "baseball though, now we're talking" once came out as goodbye too: a
    # statement ends the conversation only when it is short and says nothing
    # else ("ok later", "cya").
    short = len(text.split()) <= 3 and not (heard.likes or heard.introduced)
    return heard.goodbye or text.startswith("/") or (heard.question is None and short)


COMMAND_INTENTS = frozenset(
    {"ask_hint", "ask_feedback", "ask_rubric", "help", "start_over", "switch_persona"}
)


def misrouted_to_coach(tracker: Tracker) -> Optional[Heard]:
    """A message Rasa took for a coaching command that is really for the persona.

    "Any tips for a first race?" is a question to the persona, not a request
    for a hint: commands are recognised by their own words (hint, feedback,
    rubric, start over...). Buttons ("/ask_hint") and anything said during a
    pitch stay commands.

    Returns:
        What the persona heard, when it should answer in character; else None.
    """
    text = latest_text(tracker).strip()
    intent = latest_intent(tracker)
    if intent not in COMMAND_INTENTS or not text or text.startswith("/"):
        return None
    if tracker.active_loop_name or is_coaching_command(text):
        return None
    current = current_persona(tracker)
    if intent == "switch_persona":
        named = persona_named_in(text)
        if named is not None and (named.id != current.id or asks_to_meet(text)):
            return None  # "can I talk to Marcus?" (or to Dana, already here)
        # "so nice meeting u priya": her name, said to her, is no request.
    heard = heard_from(tracker, current)
    if intent != "help":
        # No command words at all: whatever it is, it was said to the persona.
        return heard
    if heard.question is not None and heard.question.topic:
        return heard
    if len(text.split()) > 5:
        # "my renewal is next year and im confused about the CE hours": a
        # sentence to the persona, not a call for the coach's help.
        return heard
    return None


def open_conversation(
    dispatcher: CollectingDispatcher, persona: Persona, tracker: Tracker
) -> List[EventType]:
    """Set the scene and let the persona speak first; starts a new segment."""
    voice = PersonaVoice(persona, seed=tracker.sender_id)
    scene, line = voice.opening()
    dispatcher.utter_message(
        text=scene,
        speaker=NARRATOR,
        persona_id=persona.id,
        segment_start=True,
        json_message=structured(
            tracker,
            {
                "type": "introcoach.persona",
                "persona": persona.card(),
            },
        ),
    )
    say(dispatcher, persona, line)
    return [
        SlotSet("persona_id", persona.id),
        SlotSet("persona_memory", voice.opening_state()),
        SlotSet("last_pitch", None),
    ]


def conversation_turns(tracker: Tracker) -> List[Turn]:
    """The current conversation with the persona, as scoring turns.

    Starts after the last ``segment_start`` narration; leaves out coaching
    messages and the trainee's pitch attempts (those are scored on their own).
    """
    events = tracker.events
    start = 0
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "bot" and (event.get("metadata") or {}).get(
            "segment_start"
        ):
            start = index
            break
    turns: List[Turn] = []
    in_pitch = False
    for event in events[start:]:
        kind = event.get("event")
        if kind == "active_loop":
            in_pitch = event.get("name") == "pitch_form"
        elif kind == "user" and not in_pitch:
            text = (event.get("text") or "").strip()
            if text and not text.startswith("/"):
                turns.append(Turn("user", text))
        elif kind == "bot":
            metadata = event.get("metadata") or {}
            text = (event.get("text") or "").strip()
            if text and metadata.get("speaker") == PERSONA:
                turns.append(Turn("persona", text))
    return turns


class PersonaAction(Action, ABC):
    """Base for actions; abstract, so the action server does not register it."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""


def reset_practice_slots() -> List[Dict[str, Any]]:
    """Slot events that forget the trainee's details for a fresh start."""
    return [
        SlotSet("user_name", None),
        SlotSet("user_role", None),
        SlotSet("user_organization", None),
        SlotSet("user_interest", None),
        SlotSet("pitch_text", None),
    ]
