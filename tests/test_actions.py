"""Unit tests for every custom action: fresh tracker per test, real dispatcher."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.coaching import (
    ActionExplainHelp,
    ActionExplainRubric,
    ActionGiveFeedback,
    ActionGiveHint,
)
from actions.conversation import (
    ActionAnswerQuestion,
    ActionExchangeContact,
    ActionGreet,
    ActionRespondComment,
    ActionRespondInterest,
    ActionRespondIntroduction,
    ActionSayGoodbye,
    ActionSteerBack,
)
from actions.pitch import ActionAskPitchText, ActionScorePitch, ValidatePitchForm
from actions.session import (
    ActionRestartPractice,
    ActionSessionStart,
    ActionSwitchPersona,
)
from introcoach.personas import get_persona
from tests.conftest import bot_event, user_event

RESET = [
    SlotSet("user_name", None),
    SlotSet("user_role", None),
    SlotSet("user_organization", None),
    SlotSet("user_interest", None),
    SlotSet("pitch_text", None),
]


def opened(persona_id: str, sender: str = "test-sender") -> List[Dict[str, Any]]:
    """The slot events that open a conversation with a persona."""
    from introcoach.dialogue import PersonaVoice

    state = PersonaVoice(get_persona(persona_id), seed=sender).opening_state()
    return [
        SlotSet("persona_id", persona_id),
        SlotSet("persona_memory", state),
        SlotSet("last_pitch", None),
    ]


OPEN_DANA = opened("dana")

STRONG_PITCH = (
    "Hi, I'm Sam Ortiz, a certified peer specialist at Lakeside Recovery Center. "
    "I help people leaving the hospital find their footing in the first thirty days, "
    "because that's when people are most likely to come back. Last year our peers met "
    "with 120 people at discharge, and readmissions dropped by a third. I know you "
    "work "
    "on care transitions too, so I'd love to hear how your team connects people to "
    "peers. What has worked for you at St. Brigid?"
)


def texts(dispatcher: CollectingDispatcher) -> List[str]:
    return [m["text"] for m in dispatcher.messages if m.get("text")]


def speakers(dispatcher: CollectingDispatcher) -> List[str]:
    return [m.get("speaker") for m in dispatcher.messages]


def only_memory(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    assert [(e["event"], e["name"]) for e in events] == [("slot", "persona_memory")]
    return events[0]["value"]


# -- session -------------------------------------------------------------------


async def test_session_start_uses_persona_from_metadata(
    make_tracker, dispatcher, domain
):
    tracker = make_tracker(
        slots={"persona_id": None, "session_started_metadata": {"persona_id": "marcus"}}
    )
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    marcus = get_persona("marcus")
    assert events == [
        SessionStarted(),
        *opened("marcus"),
        ActionExecuted("action_listen"),
    ]
    assert texts(dispatcher) == [f"({marcus.scene})", marcus.opener]
    assert speakers(dispatcher) == ["narrator", "persona"]
    assert dispatcher.messages[0]["segment_start"] is True
    assert dispatcher.messages[0]["custom"]["persona"]["initials"] == "MB"


async def test_session_start_with_unknown_persona_explains_and_picks(
    make_tracker, dispatcher, domain
):
    tracker = make_tracker(
        slots={"persona_id": None, "session_started_metadata": {"persona_id": "nobody"}}
    )
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert "no persona called 'nobody'" in texts(dispatcher)[0]
    persona_id = events[1]["value"]
    assert get_persona(persona_id).opener == texts(dispatcher)[-1]
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted(
        "action_listen"
    )


async def test_widget_session_start_does_not_open_twice(
    make_tracker, dispatcher, domain
):
    # Rasa runs the action for the new conversation, then again for the
    # /session_start intent the widget sent: the second run does nothing.
    tracker = make_tracker("/session_start", intent="session_start")
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert events == [ActionExecuted("action_listen")]
    assert dispatcher.messages == []


async def test_session_start_intent_opens_a_conversation_not_yet_open(
    make_tracker, dispatcher, domain
):
    tracker = make_tracker(
        "/session_start",
        intent="session_start",
        slots={"persona_id": None, "session_started_metadata": {"persona_id": "dana"}},
    )
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert events[0] == SessionStarted() and SlotSet("persona_id", "dana") in events
    assert speakers(dispatcher) == ["narrator", "persona"]


async def test_session_start_pick_is_repeatable_per_sender(make_tracker, domain):
    picks = set()
    for _ in range(3):
        tracker = make_tracker(slots={"persona_id": None}, sender_id="same-sender")
        events = await ActionSessionStart().run(CollectingDispatcher(), tracker, domain)
        picks.add(events[1]["value"])
    assert len(picks) == 1


async def test_switch_persona_to_the_one_named(make_tracker, dispatcher, domain):
    tracker = make_tracker("can I talk to Marcus instead?", intent="switch_persona")
    events = await ActionSwitchPersona().run(dispatcher, tracker, domain)
    assert events == [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
    ] + RESET + opened("marcus")
    assert "You say goodbye to Dana and meet Marcus Bell" in texts(dispatcher)[0]
    assert texts(dispatcher)[-1] == get_persona("marcus").opener


async def test_switch_persona_without_a_name_meets_someone_new(
    make_tracker, dispatcher, domain
):
    tracker = make_tracker("meet someone else", intent="switch_persona")
    events = await ActionSwitchPersona().run(dispatcher, tracker, domain)
    new_id = [e for e in events if e.get("name") == "persona_id"][0]["value"]
    assert new_id != "dana"
    get_persona(new_id)


async def test_switch_to_the_current_persona_says_so(make_tracker, dispatcher, domain):
    tracker = make_tracker("let me talk to Dana", intent="switch_persona")
    events = await ActionSwitchPersona().run(dispatcher, tracker, domain)
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)]
    assert texts(dispatcher) == [
        "You're already talking with Dana Whitfield. Carry on, or say 'meet someone "
        "else'."
    ]


async def test_restart_starts_fresh_with_same_persona(make_tracker, dispatcher, domain):
    tracker = make_tracker("start over", intent="restart", slots={"user_name": "Sam"})
    events = await ActionRestartPractice().run(dispatcher, tracker, domain)
    assert (
        events
        == [ActiveLoop(None), SlotSet("requested_slot", None)] + RESET + OPEN_DANA
    )
    assert texts(dispatcher)[-1] == get_persona("dana").opener


# -- in character ---------------------------------------------------------------


async def test_greet_answers_and_asks_back(make_tracker, dispatcher, domain):
    # Right after the opener its question stands: a greeting is only greeted.
    memory = OPEN_DANA[1]["value"]
    events = await ActionGreet().run(
        dispatcher,
        make_tracker("hi there", intent="greet", slots={"persona_memory": memory}),
        domain,
    )
    memory = only_memory(events)
    assert memory["turn"] == 1
    (text,) = texts(dispatcher)
    assert text.count("?") <= 1 and "first time" not in text
    later = CollectingDispatcher()
    tracker = make_tracker(
        "hello again", intent="greet", slots={"persona_memory": memory}
    )
    memory = only_memory(await ActionGreet().run(later, tracker, domain))
    assert memory["turn"] == 2
    assert speakers(later) == ["persona"]
    assert texts(later)[0] != text


@pytest.mark.parametrize(
    "intent, text, topic, expected",
    [
        ("ask_persona_work", "what do you do?", "day_to_day", "discharge planner"),
        ("ask_persona_organization", "tell me about St. Brigid", "organization", ""),
        ("ask_persona_interests", "what do you do for fun?", "interests", ""),
        ("ask_travel", "how was the trip?", "trip", ""),
        ("ask_sports", "are you into sports?", "sports", "running"),
        ("ask_weather", "crazy weather huh", "weather", ""),
        ("ask_conference", "enjoying the conference?", "session", ""),
        ("ask_wellbeing", "how are you doing?", "wellbeing", ""),
        # Rasa's intent is a prior; the words decide when they are clear.
        ("ask_persona_work", "how did you get into this work?", "story", ""),
    ],
)
async def test_answer_question_by_topic(
    make_tracker, dispatcher, domain, intent, text, topic, expected
):
    events = await ActionAnswerQuestion().run(
        dispatcher, make_tracker(text, intent=intent), domain
    )
    only_memory(events)
    (said,) = texts(dispatcher)
    assert dispatcher.messages[0]["plan"]["answered"] == topic, said
    assert expected in said


async def test_interests_reveal_hidden_ones_when_asked_again(make_tracker, domain):
    memory = None
    said = []
    for _ in range(5):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(
            "what do you do for fun?",
            intent="ask_persona_interests",
            slots={"persona_memory": memory},
        )
        memory = only_memory(
            await ActionAnswerQuestion().run(dispatcher, tracker, domain)
        )
        said.append(texts(dispatcher)[0])
    dana = get_persona("dana")
    personal = {i for i in dana.all_interests if dana.interest(i).kind == "personal"}
    assert "sourdough" in " ".join(said) and "Biscuit" in " ".join(said)
    # Her field (care transitions) is never offered as a hobby.
    assert set(memory["revealed"]) == personal


async def test_introduction_uses_name_and_asks_about_role(
    make_tracker, dispatcher, domain
):
    tracker = make_tracker(
        "Hi, I'm Sam, a peer specialist at Hope Center",
        intent="introduce_self",
        entities=[
            {"entity": "name", "value": "Sam"},
            {"entity": "role", "value": "peer specialist"},
            {"entity": "organization", "value": "Hope Center"},
        ],
        slots={"user_name": "Sam"},  # Rasa fills it from the entity
    )
    only_memory(await ActionRespondIntroduction().run(dispatcher, tracker, domain))
    (text,) = texts(dispatcher)
    assert "Sam" in text and "peer specialist" in text
    assert dispatcher.messages[0]["plan"]["reacted"] == "intro"
    assert text.count("?") <= 1


async def test_persona_greeted_by_name_does_not_take_it_for_the_trainees(
    make_tracker, dispatcher, domain
):
    # "Hi Priya! I'm Tina": Rasa fills user_name from the first name found.
    tracker = make_tracker(
        "Hi Priya! I'm Tina, a peer support specialist.",
        intent="introduce_self",
        entities=[
            {"entity": "name", "value": "Priya"},
            {"entity": "name", "value": "Tina"},
            {"entity": "role", "value": "peer support specialist"},
        ],
        slots={"persona_id": "priya", "user_name": "Priya"},
    )
    events = await ActionRespondIntroduction().run(dispatcher, tracker, domain)
    (text,) = texts(dispatcher)
    assert "Tina" in text and "Priya!" not in text and "Hi, Priya" not in text
    assert events[-1] == SlotSet("user_name", "Tina")


async def test_persona_name_in_the_slot_is_never_used_for_the_trainee(
    make_tracker, dispatcher, domain
):
    slot_events = [
        {"event": "slot", "name": "user_name", "value": "Tina"},
        {"event": "slot", "name": "user_name", "value": "Priya"},
    ]
    tracker = make_tracker(
        "Thanks Priya!",
        intent="greet",
        entities=[{"entity": "name", "value": "Priya"}],
        slots={"persona_id": "priya", "user_name": "Priya"},
        events=slot_events,
    )
    from actions.common import trainee_name

    assert trainee_name(tracker, get_persona("priya")) == "Tina"


async def test_introduction_without_details_asks_what_they_do(
    make_tracker, dispatcher, domain
):
    tracker = make_tracker("nice to meet you, I'm new here", intent="introduce_self")
    await ActionRespondIntroduction().run(dispatcher, tracker, domain)
    assert texts(dispatcher)[0].endswith("?")
    assert dispatcher.messages[0]["plan"]["asked"] in ("role", "clients", "other")


async def test_shared_interest_is_noticed(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "I love gardening, my tomatoes are out of control",
        intent="share_interest",
        entities=[{"entity": "interest", "value": "gardening"}],
    )
    memory = only_memory(await ActionRespondInterest().run(dispatcher, tracker, domain))
    assert memory["shared"] == ["gardening"]
    assert "gardening" in texts(dispatcher)[0].lower()


async def test_negated_interest_is_not_common_ground(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "I don't really like gardening",
        intent="share_interest",
        entities=[{"entity": "interest", "value": "gardening"}],
    )
    memory = only_memory(await ActionRespondInterest().run(dispatcher, tracker, domain))
    assert memory["shared"] == []


async def test_new_interest_gets_curiosity(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "I'm really into pottery",
        intent="share_interest",
        entities=[{"entity": "interest", "value": "pottery"}],
    )
    memory = only_memory(await ActionRespondInterest().run(dispatcher, tracker, domain))
    assert memory["shared"] == []
    assert "pottery" in texts(dispatcher)[0].lower()


@pytest.mark.parametrize("intent", ["comment", "thank"])
async def test_comment_keeps_conversation_going(
    make_tracker, dispatcher, domain, intent
):
    only_memory(
        await ActionRespondComment().run(
            dispatcher, make_tracker("that sounds hard", intent=intent), domain
        )
    )
    (text,) = texts(dispatcher)
    assert dispatcher.messages[0]["plan"]["reacted"] == "empathy_ack"
    assert text.count("?") <= 1


async def test_exchange_contact_and_goodbye(make_tracker, domain):
    dispatcher = CollectingDispatcher()
    only_memory(
        await ActionExchangeContact().run(
            dispatcher, make_tracker("can I get your card?"), domain
        )
    )
    assert "card" in texts(dispatcher)[0]
    dispatcher = CollectingDispatcher()
    only_memory(
        await ActionSayGoodbye().run(
            dispatcher, make_tracker("bye", slots={"user_name": "Sam"}), domain
        )
    )
    assert "Sam" in texts(dispatcher)[0]


async def test_steer_back_stays_in_character(make_tracker, dispatcher, domain):
    only_memory(
        await ActionSteerBack().run(
            dispatcher, make_tracker("order me a pizza", intent="out_of_scope"), domain
        )
    )
    (text,) = texts(dispatcher)
    assert text.strip() and "catch" not in text and "follow" not in text
    assert speakers(dispatcher) == ["persona"]


async def test_minimal_persona_works(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "what do you do?", intent="ask_persona_work", slots={"persona_id": "grace"}
    )
    only_memory(await ActionAnswerQuestion().run(dispatcher, tracker, domain))
    assert texts(dispatcher)[0].strip()
    assert dispatcher.messages[0]["plan"]["answered"] == "day_to_day"


# -- coaching -------------------------------------------------------------------


async def test_help_lists_what_to_practise(make_tracker, dispatcher, domain):
    assert (
        await ActionExplainHelp().run(
            dispatcher, make_tracker("help", intent="help"), domain
        )
        == []
    )
    assert "Elevator pitch" in texts(dispatcher)[0]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        "/switch_persona",
        "/start_over",
        "/practice_pitch",
    ]
    assert speakers(dispatcher) == ["coach"]


async def test_rubric_in_plain_words(make_tracker, dispatcher, domain):
    assert (
        await ActionExplainRubric().run(
            dispatcher, make_tracker("what counts?", intent="ask_rubric"), domain
        )
        == []
    )
    assert "Gino" in texts(dispatcher)[0]


async def test_hint_suggests_a_move(make_tracker, dispatcher, domain):
    assert (
        await ActionGiveHint().run(
            dispatcher, make_tracker("give me a hint", intent="ask_hint"), domain
        )
        == []
    )
    assert texts(dispatcher)[0].startswith("(Hint) ")


async def test_feedback_with_nothing_said_yet(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        events=[
            bot_event("(scene)", "narrator", segment_start=True),
            bot_event("Hello!"),
        ]
    )
    assert await ActionGiveFeedback().run(dispatcher, tracker, domain) == []
    assert "nothing to score yet" in texts(dispatcher)[0]


async def test_feedback_scores_the_conversation_since_the_persona_arrived(
    make_tracker, dispatcher, domain
):
    events = [
        user_event(
            "I'm Alex and I love cooking", "introduce_self"
        ),  # before this persona: ignored
        bot_event("(scene)", "narrator", segment_start=True),
        bot_event("Oh, sorry, am I hogging the coffee? Is this your first time here?"),
        user_event(
            "Hi, I'm Sam, a peer specialist at Hope Center. What do you do?",
            "introduce_self",
        ),
        bot_event(
            "I'm a hospital discharge planner. How do you connect with people leaving "
            "the hospital?"
        ),
        bot_event("(Coach) not part of the conversation", "coach"),
        user_event(
            "How do you connect people with peers after discharge? I garden too, by "
            "the way.",
            "comment",
        ),
    ]
    tracker = make_tracker(
        "Thanks so much, can I get your card?", intent="exchange_contact", events=events
    )
    assert await ActionGiveFeedback().run(dispatcher, tracker, domain) == []
    (message,) = dispatcher.messages
    payload = message["custom"]
    assert payload["type"] == "introcoach.feedback"
    assert payload["mode"] == "conversation" and payload["persona"] == "dana"
    assert {s["id"] for s in payload["strategies"]} == {
        "introduce_and_converse",
        "common_interests",
    }
    assert 0 <= payload["overall"] <= 100
    assert "Alex" not in str(payload)
    assert message["text"].startswith("(Coach) Stepping out of the role-play")


# -- pitch ------------------------------------------------------------------------


async def test_ask_pitch_text_invites_the_pitch(make_tracker, dispatcher, domain):
    only_memory(
        await ActionAskPitchText().run(
            dispatcher, make_tracker(active_loop="pitch_form"), domain
        )
    )
    assert speakers(dispatcher) == ["coach", "persona"]
    assert "50-150 words" in texts(dispatcher)[0]


@pytest.mark.parametrize("bad", ["", "   ", "word " * 5001])
async def test_validate_pitch_rejects_unscorable_text(
    make_tracker, dispatcher, domain, bad
):
    result = await ValidatePitchForm().validate_pitch_text(
        bad, dispatcher, make_tracker(), domain
    )
    assert result == {"pitch_text": None}
    assert "Please try your pitch again" in texts(dispatcher)[0]


async def test_validate_pitch_accepts_text(make_tracker, dispatcher, domain):
    result = await ValidatePitchForm().validate_pitch_text(
        STRONG_PITCH, dispatcher, make_tracker(), domain
    )
    assert result == {"pitch_text": STRONG_PITCH}
    assert dispatcher.messages == []


async def test_pitch_is_scored_then_compared_with_last_try(make_tracker, domain):
    first_try = "Hi, I'm Sam. I'm a peer specialist."
    dispatcher = CollectingDispatcher()
    events = await ActionScorePitch().run(
        dispatcher, make_tracker(slots={"pitch_text": first_try}), domain
    )
    first_payload = dispatcher.messages[0]["custom"]
    assert events == [
        SlotSet("last_pitch", {"text": first_try, "overall": first_payload["overall"]}),
        SlotSet("pitch_text", None),
    ]
    assert first_payload["mode"] == "pitch" and first_payload.get("comparison") is None
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == [
        "Try again",
        "Meet someone else",
    ]

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots={"pitch_text": STRONG_PITCH, "last_pitch": events[0]["value"]}
    )
    events = await ActionScorePitch().run(dispatcher, tracker, domain)
    second = dispatcher.messages[0]["custom"]
    assert second["overall"] > first_payload["overall"]
    gain = second["overall"] - first_payload["overall"]
    assert second["comparison"].startswith(f"+{gain}")
    assert second["comparison"] in texts(dispatcher)[0]


# -- storage ------------------------------------------------------------------------


async def test_session_and_scores_are_stored_once(make_tracker, domain):
    from introcoach.storage import get_session, list_scores
    from introcoach.storage.recorder import ready_engine

    tracker = make_tracker(
        slots={"persona_id": None, "session_started_metadata": {"persona_id": "rosa"}},
        sender_id="store-1",
    )
    await ActionSessionStart().run(CollectingDispatcher(), tracker, domain)
    tracker = make_tracker(
        slots={"persona_id": "rosa", "pitch_text": STRONG_PITCH}, sender_id="store-1"
    )
    for _ in range(2):  # a retried action carries the same message id
        dispatcher = CollectingDispatcher()
        await ActionScorePitch().run(dispatcher, tracker, domain)
        assert speakers(dispatcher) == ["coach"]
    practice = get_session(ready_engine(), "store-1")
    assert practice.persona_id == "rosa"
    scores = list_scores(ready_engine(), practice.id)
    assert len(scores) == 1 and scores[0].kind == "pitch"
    assert scores[0].overall == dispatcher.messages[0]["custom"]["overall"]


async def test_unreachable_database_is_reported_not_hidden(
    make_tracker, domain, monkeypatch
):
    monkeypatch.setenv(
        "INTROCOACH_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere"
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"persona_id": None}, sender_id="no-db")
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted(
        "action_listen"
    )
    assert "can't be saved right now" in texts(dispatcher)[-1]
    dispatcher = CollectingDispatcher()
    await ActionScorePitch().run(
        dispatcher, make_tracker(slots={"pitch_text": STRONG_PITCH}), domain
    )
    assert texts(dispatcher)[-1].startswith("(Coach) Heads-up: I couldn't save this")


async def test_cli_and_dialogue_give_the_same_result(make_tracker, dispatcher, domain):
    """`introcoach score --json` and the in-dialogue payload agree for one input."""
    import json
    import subprocess
    import sys

    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "introcoach",
            "score",
            "--persona",
            "kevin",
            "--mode",
            "pitch",
            "--json",
        ],
        input=STRONG_PITCH,
        capture_output=True,
        text=True,
        check=True,
    )
    from_cli = json.loads(cli.stdout)
    tracker = make_tracker(slots={"persona_id": "kevin", "pitch_text": STRONG_PITCH})
    await ActionScorePitch().run(dispatcher, tracker, domain)
    payload = dispatcher.messages[0]["custom"]
    # The widget's payload adds each criterion's label for display.
    for strategy in payload["strategies"]:
        for criterion in strategy["criteria"]:
            assert criterion.pop("label")
    assert {key: payload[key] for key in from_cli} == from_cli


async def test_conversation_feedback_names_undiscovered_interests(
    make_tracker, dispatcher, domain
):
    events = [
        bot_event("(scene)", "narrator", segment_start=True),
        bot_event("Hi! I'm Dana. Is this your first time here?"),
        user_event(
            "Hi Dana, I'm Sam. Yes, my first time. What do you do?", "introduce_self"
        ),
        bot_event("I'm a hospital discharge planner. What about you?"),
    ]
    tracker = make_tracker(
        "Great talking to you, bye!", intent="goodbye", events=events
    )
    await ActionGiveFeedback().run(dispatcher, tracker, domain)
    payload = dispatcher.messages[0]["custom"]
    assert "sourdough baking" in payload["undiscovered_interests"]
    assert "sourdough baking" in " ".join(dispatcher.messages[0]["text"].split())


async def test_shell_gets_text_only_other_channels_the_payload(make_tracker, domain):
    """rasa shell prints custom JSON raw: it gets the readable text alone."""
    for channel, has_payload in (
        ("cmdline", False),
        ("rest", True),
        ("socketio", True),
    ):
        dispatcher = CollectingDispatcher()
        events = [dict(user_event("my pitch"), input_channel=channel)]
        tracker = make_tracker(slots={"pitch_text": STRONG_PITCH}, events=events)
        await ActionScorePitch().run(dispatcher, tracker, domain)
        assert bool(dispatcher.messages[0]["custom"]) is has_payload
        assert dispatcher.messages[0]["text"].startswith("(Coach) Here's how")


@pytest.mark.parametrize(
    "text, intent, speaker",
    [
        ("any tips for a first race?", "ask_hint", "persona"),
        ("what would you advise someone starting out?", "help", "persona"),
        (
            "my renewal is next year and im confused about the CE hours",
            "help",
            "persona",
        ),
        ("how long you been certified", "ask_feedback", "persona"),
        ("give me a hint", "ask_hint", "coach"),
        ("help", "help", "coach"),
        ("how did I do?", "ask_feedback", "coach"),
        ("/ask_hint", "ask_hint", "coach"),
    ],
)
async def test_a_question_to_the_persona_is_never_a_coaching_command(
    make_tracker, dispatcher, domain, text, intent, speaker
):
    action = {
        "ask_hint": ActionGiveHint(),
        "help": ActionExplainHelp(),
        "ask_feedback": ActionGiveFeedback(),
    }[intent]
    await action.run(dispatcher, make_tracker(text, intent=intent), domain)
    assert speakers(dispatcher)[0] == speaker, texts(dispatcher)
    assert all(t.strip() for t in texts(dispatcher))


async def test_two_conversations_with_one_persona_read_differently(
    make_tracker, domain
):
    said = []
    for sender in ("first-trainee", "second-trainee"):
        memory = opened("kevin", sender)[1]["value"]
        lines = []
        for text in ("hi im sam, a peer specialist", "cool", "that sounds hard", "ok"):
            dispatcher = CollectingDispatcher()
            tracker = make_tracker(
                text,
                sender_id=sender,
                slots={"persona_id": "kevin", "persona_memory": memory},
            )
            events = await ActionRespondComment().run(dispatcher, tracker, domain)
            memory = [e for e in events if e["name"] == "persona_memory"][0]["value"]
            lines.append(texts(dispatcher)[0])
        said.append(lines)
    assert said[0] != said[1]


@pytest.mark.parametrize(
    "text, switched",
    [
        ("could someone from my agency sit in on one? who would i talk to", False),
        ("can I talk to Marcus instead?", True),
        ("meet someone else", True),
    ],
)
async def test_only_a_request_to_switch_switches(
    make_tracker, dispatcher, domain, text, switched
):
    tracker = make_tracker(text, intent="switch_persona")
    events = await ActionSwitchPersona().run(dispatcher, tracker, domain)
    ids = [e["value"] for e in events if e.get("name") == "persona_id"]
    assert bool(ids) == switched, texts(dispatcher)


@pytest.mark.parametrize(
    "text, ends",
    [
        ("Great talking to you, bye!", True),
        ("ok later", True),
        ("baseball though, now we're talking", False),
        ("do you take people on MAT", False),
    ],
)
def test_only_a_real_goodbye_ends_the_conversation(make_tracker, text, ends) -> None:
    from actions.common import really_goodbye

    tracker = make_tracker(text, intent="goodbye", slots={"persona_id": "kevin"})
    assert really_goodbye(tracker) is ends
