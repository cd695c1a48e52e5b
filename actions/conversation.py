"""In-character replies: the persona answers, reacts and asks back.

Every in-character action hands the trainee's message to the reply planner
(:mod:`introcoach.dialogue`): Rasa's intent picks the action, and the planner
hears the whole message, so a greeting with a name, a role and a question
gets all three answered whichever action Rasa chose.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    PersonaAction,
    current_persona,
    heard_from,
    really_goodbye,
    reply_in_character,
    speak,
    voice_for,
)


class _PlannedReply(PersonaAction):
    """Base: reply to the latest message through the planner (abstract)."""

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        return reply_in_character(dispatcher, tracker)


class ActionGreet(_PlannedReply):
    """The persona greets the trainee back and offers a way in."""

    def name(self) -> str:
        return "action_greet"


class ActionAnswerQuestion(_PlannedReply):
    """Answers a question about the persona's work, life, or the day."""

    def name(self) -> str:
        return "action_answer_question"


class ActionRespondIntroduction(_PlannedReply):
    """Reacts to the name, role, organization or interest the trainee gave."""

    def name(self) -> str:
        return "action_respond_introduction"


class ActionRespondInterest(_PlannedReply):
    """Notices a shared interest and warms up, or shows curiosity."""

    def name(self) -> str:
        return "action_respond_interest"


class ActionRespondComment(_PlannedReply):
    """Acknowledges a remark, a feeling, thanks or a yes/no, and keeps going."""

    def name(self) -> str:
        return "action_respond_comment"


class ActionSteerBack(_PlannedReply):
    """Anything Rasa was unsure of: the planner still answers what it can.

    A question gets an answer or an honest deflection in character, never
    "I didn't catch that".
    """

    def name(self) -> str:
        return "action_steer_back"


class ActionExchangeContact(PersonaAction):
    """Hands over a business card."""

    def name(self) -> str:
        return "action_exchange_contact"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        heard = heard_from(tracker, persona)
        heard.contact = True  # Rasa heard it; the planner may not have
        return speak(
            dispatcher, persona, voice_for(tracker, persona).respond(heard), tracker
        )


class ActionSayGoodbye(PersonaAction):
    """Says goodbye in character (the feedback follows, out of character)."""

    def name(self) -> str:
        return "action_say_goodbye"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        heard = heard_from(tracker, persona)
        if not really_goodbye(tracker):
            return reply_in_character(dispatcher, tracker, heard)
        heard.goodbye = True
        return speak(
            dispatcher, persona, voice_for(tracker, persona).respond(heard), tracker
        )
