"""In-character replies: the persona answers, reacts and asks back."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    PersonaAction,
    current_persona,
    interest_mentions,
    latest_entity,
    latest_intent,
    speak,
    trainee_name,
    voice_for,
)

# Which topic each question intent asks about.
QUESTION_TOPICS = {
    "ask_persona_work": "work",
    "ask_persona_organization": "organization",
    "ask_persona_interests": "interests",
    "ask_conference": "conference",
    "ask_travel": "travel",
    "ask_weather": "weather",
    "ask_sports": "sports",
}


class ActionGreet(PersonaAction):
    """The persona greets the trainee back and offers a way in."""

    def name(self) -> str:
        return "action_greet"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        reply = voice_for(tracker, persona).greet(interest_mentions(tracker, persona))
        return speak(dispatcher, persona, reply)


class ActionAnswerQuestion(PersonaAction):
    """Answers questions about the persona's work, interests and the day."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        voice = voice_for(tracker, persona)
        intent = latest_intent(tracker)
        if intent == "ask_wellbeing":
            reply = voice.wellbeing()
        else:
            topic = QUESTION_TOPICS.get(intent or "", "conference")
            reply = voice.answer(topic, interest_mentions(tracker, persona))
        return speak(dispatcher, persona, reply)


class ActionRespondIntroduction(PersonaAction):
    """Reacts to the name, role, organization or interest the trainee gave."""

    def name(self) -> str:
        return "action_respond_introduction"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        name = trainee_name(tracker, persona)
        given_now = [str(v).strip() for v in tracker.get_latest_entity_values("name")]
        reply = voice_for(tracker, persona).react_to_introduction(
            name=name if name in given_now else None,
            role=latest_entity(tracker, "role"),
            organization=latest_entity(tracker, "organization"),
            interest=latest_entity(tracker, "interest"),
            mentions=interest_mentions(tracker, persona),
        )
        events = speak(dispatcher, persona, reply)
        if tracker.get_slot("user_name") != name:
            # Rasa filled the slot with the persona's own name ("Hi Priya!").
            events.append(SlotSet("user_name", name))
        return events


class ActionRespondInterest(PersonaAction):
    """Notices a shared interest and warms up, or shows curiosity."""

    def name(self) -> str:
        return "action_respond_interest"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        reply = voice_for(tracker, persona).react_to_interest(
            latest_entity(tracker, "interest"), interest_mentions(tracker, persona)
        )
        return speak(dispatcher, persona, reply)


class ActionRespondComment(PersonaAction):
    """Acknowledges a remark, a yes or a no, and keeps the conversation going."""

    def name(self) -> str:
        return "action_respond_comment"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        voice = voice_for(tracker, persona)
        if latest_intent(tracker) == "thank":
            reply = voice.thanks()
        else:
            reply = voice.react_to_comment(interest_mentions(tracker, persona))
        return speak(dispatcher, persona, reply)


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
        return speak(
            dispatcher, persona, voice_for(tracker, persona).exchange_contact()
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
        return speak(dispatcher, persona, voice_for(tracker, persona).goodbye())


class ActionSteerBack(PersonaAction):
    """Anything not understood: an in-character reply that steers back."""

    def name(self) -> str:
        return "action_steer_back"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        persona = current_persona(tracker)
        return speak(dispatcher, persona, voice_for(tracker, persona).steer_back())
