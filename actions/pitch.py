"""Elevator pitch rehearsal: invite, validate, score, compare with the last try."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    UNSAVED_NOTE,
    PersonaAction,
    coach,
    current_persona,
    latest_message_id,
    say,
    structured,
    voice_for,
)
from introcoach.scoring import (
    ScoringInputError,
    compare_reports,
    format_report,
    score_text,
)
from introcoach.scoring.payload import feedback_payload
from introcoach.storage.recorder import record_report

RETRY_BUTTONS = [
    {"title": "Try again", "payload": "/practice_pitch"},
    {"title": "Meet someone else", "payload": "/switch_persona"},
]


class ActionAskPitchText(PersonaAction):
    """The persona invites the pitch (asked each time the form needs it)."""

    def name(self) -> str:
        return "action_ask_pitch_text"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        reply = voice_for(tracker, persona).invite_pitch()
        coach(
            dispatcher,
            "(Coach) Elevator pitch: about 50-150 words, 20-60 seconds spoken. Send it "
            "as one message.",
        )
        say(dispatcher, persona, reply.text)
        return [SlotSet("persona_memory", reply.memory.to_dict())]


class ValidatePitchForm(FormValidationAction):
    """Rejects a pitch that cannot be scored (empty, far too long), with a reason."""

    def name(self) -> str:
        return "validate_pitch_form"

    async def validate_pitch_text(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[str, Any]:
        text = slot_value if isinstance(slot_value, str) else ""
        try:
            score_text(text, current_persona(tracker), mode="pitch")
        except ScoringInputError as exc:
            coach(dispatcher, f"(Coach) {exc} Please try your pitch again.")
            return {"pitch_text": None}
        return {"pitch_text": text}


class ActionScorePitch(PersonaAction):
    """Scores the pitch at once and compares it with the previous attempt."""

    def name(self) -> str:
        return "action_score_pitch"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        text = tracker.get_slot("pitch_text") or ""
        try:
            report = score_text(text, persona, mode="pitch")
        except ScoringInputError as exc:
            coach(dispatcher, f"(Coach) I couldn't score that pitch: {exc}")
            return [SlotSet("pitch_text", None)]
        comparison = None
        previous = tracker.get_slot("last_pitch")
        if isinstance(previous, dict) and isinstance(previous.get("text"), str):
            try:
                # Re-score the last attempt against the same persona and rubric, so
                # the comparison is fair even after the rubric changes.
                comparison = compare_reports(
                    report, score_text(previous["text"], persona, mode="pitch")
                )
            except ScoringInputError:
                comparison = None
        header = "(Coach) Here's how that pitch went."
        if comparison:
            header += f"\n{comparison}"
        coach(
            dispatcher,
            f"{header}\n{format_report(report)}",
            json_message=structured(
                tracker, feedback_payload(report, comparison=comparison)
            ),
            buttons=RETRY_BUTTONS,
        )
        stored = record_report(
            tracker.sender_id, latest_message_id(tracker), report.to_dict(), persona.id
        )
        if not stored:
            coach(dispatcher, UNSAVED_NOTE)
        return [
            SlotSet("last_pitch", {"text": text, "overall": report.overall}),
            SlotSet("pitch_text", None),
        ]
