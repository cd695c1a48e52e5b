"""Out-of-character coaching: help, the rubric, hints and feedback."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    UNSAVED_NOTE,
    PersonaAction,
    coach,
    conversation_turns,
    current_persona,
    latest_intent,
    latest_message_id,
    misrouted_to_coach,
    really_goodbye,
    reply_in_character,
    structured,
)
from introcoach.personas import all_personas
from introcoach.scoring import (
    ScoreReport,
    ScoringInputError,
    format_report,
    rubric_plain_words,
    score_conversation,
    suggest_hint,
)
from introcoach.scoring.payload import feedback_payload
from introcoach.storage.recorder import record_report

NEXT_STEPS = [
    {"title": "Meet someone else", "payload": "/switch_persona"},
    {"title": "Start over", "payload": "/start_over"},
    {"title": "Practise my elevator pitch", "payload": "/practice_pitch"},
]


class ActionExplainHelp(PersonaAction):
    """Explains what can be practised here and how."""

    def name(self) -> str:
        return "action_explain_help"

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
        people = "; ".join(p.summary() for p in all_personas())
        coach(
            dispatcher,
            "(Coach) You are practising networking at a behavioral health conference. "
            f"Right now you are talking with {persona.summary()}.\n"
            "- Small talk: introduce yourself, ask about their work and interests, "
            "look "
            "for something you have in common, and say goodbye (or ask 'how did I "
            "do?') "
            "to get feedback.\n"
            "- Elevator pitch: say 'practise my pitch', then give a 20-60 second "
            "pitch; "
            "you get a score at once and can try again.\n"
            "- Say 'what will I be scored on?', 'give me a hint', 'meet someone else' "
            "or 'start over' at any time.\n"
            f"People here today: {people}.",
            buttons=NEXT_STEPS,
        )
        return []


class ActionExplainRubric(PersonaAction):
    """Shows the rubric in plain words before (or during) practice."""

    def name(self) -> str:
        return "action_explain_rubric"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        heard = misrouted_to_coach(tracker)
        if heard is not None:
            return reply_in_character(dispatcher, tracker, heard)
        mode = "pitch" if tracker.active_loop_name == "pitch_form" else "conversation"
        coach(dispatcher, rubric_plain_words(mode))
        return []


class ActionGiveHint(PersonaAction):
    """Suggests a next move, without scoring it."""

    def name(self) -> str:
        return "action_give_hint"

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
            dispatcher, f"(Hint) {suggest_hint(conversation_turns(tracker), persona)}"
        )
        return []


class ActionGiveFeedback(PersonaAction):
    """Scores the whole conversation with the current persona, out of character."""

    def name(self) -> str:
        return "action_give_feedback"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        if latest_intent(tracker) == "goodbye" and not really_goodbye(tracker):
            return []  # the persona answered the question instead
        heard = misrouted_to_coach(tracker)
        if heard is not None:
            return reply_in_character(dispatcher, tracker, heard)
        persona = current_persona(tracker)
        turns = conversation_turns(tracker)
        report: Optional[ScoreReport] = None
        if any(turn.speaker == "user" for turn in turns):
            try:
                report = score_conversation(turns, persona)
            except ScoringInputError as exc:
                coach(dispatcher, f"(Coach) I couldn't score this conversation: {exc}")
                return []
        if report is None:
            coach(
                dispatcher,
                "(Coach) There's nothing to score yet. Say hello to "
                f"{persona.first_name}, "
                "introduce yourself, and ask me again.",
            )
            return []
        coach(
            dispatcher,
            "(Coach) Stepping out of the role-play for a moment.\n"
            + format_report(report),
            json_message=structured(tracker, feedback_payload(report)),
            buttons=NEXT_STEPS,
        )
        stored = record_report(
            tracker.sender_id, latest_message_id(tracker), report.to_dict(), persona.id
        )
        if not stored:
            coach(dispatcher, UNSAVED_NOTE)
        return []
