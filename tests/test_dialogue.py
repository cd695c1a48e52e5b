"""The persona's reply planner: hearing messy input, planning, wording, memory."""

from __future__ import annotations

import re
from typing import List, Optional

import pytest

from introcoach.dialogue import ConversationState, PersonaVoice, hear
from introcoach.dialogue.state import sentence_key
from introcoach.personas import STANDARD_TOPICS, all_personas, get_persona

QUESTIONS = [
    "what does a typical day look like for you",
    "who do you mostly work with",
    "how does someone get in, is there a waiting list",
    "how did you end up doing this work",
    "what are you proudest of",
    "what keeps you up at night",
    "any advice for someone new to the field",
    "what did you think of the keynote",
    "how was your trip in",
    "what are you doing after the conference",
    "what do you do for fun",
    "do you follow any sports",
    "sorry whats your name again",
]


def converse(persona_id: str, messages: List[str], seed: str = "t") -> List[str]:
    persona = get_persona(persona_id)
    memory = PersonaVoice(persona, seed=seed).opening_state()
    replies = []
    for message in messages:
        reply = PersonaVoice(persona, memory, seed=seed).respond(hear(message, persona))
        memory = reply.memory.to_dict()
        replies.append(reply.text)
    return replies


def test_state_survives_a_malformed_slot() -> None:
    state = ConversationState.from_dict(
        {"turn": "x", "said": [1, "hi"], "trainee": {"name": 3, "role": "coach"}}
    )
    assert (
        state.turn == 0 and state.said == ["hi"] and state.trainee == {"role": "coach"}
    )
    assert ConversationState.from_dict("not a dict").to_dict() == (
        ConversationState().to_dict()
    )


@pytest.mark.parametrize(
    "text, name, role, organization, topic",
    [
        (
            "hey im jo, recovry coach at the shelter, hows your week going",
            "Jo",
            "recovery coach",
            "the shelter",
            "wellbeing",
        ),
        (
            "Hi Dana! I'm Tina, a peer specialist at Blue Harbor Clinic.",
            "Tina",
            "peer specialist",
            "Blue Harbor Clinic",
            None,
        ),
        ("im so tired, long day", None, None, None, None),
        ("sorry whats your name again", None, None, None, "name"),
        ("how do ppl get a bed at your place", None, None, None, "access"),
        ("how did you end up doing this", None, None, None, "story"),
        ("any tips for a first race?", None, None, None, "advice"),
    ],
)
def test_hears_messy_input(
    text: str,
    name: Optional[str],
    role: Optional[str],
    organization: Optional[str],
    topic: Optional[str],
) -> None:
    heard = hear(text, get_persona("dana"))
    assert (heard.name, heard.role, heard.organization) == (name, role, organization)
    assert (heard.question.topic if heard.question else None) == topic


@pytest.mark.parametrize(
    "text",
    [
        "I get people out of the ER into housing",
        "i'm the person who answers the peer line",
        "I'm a peer",
        "i work the warm line at the clubhouse",
    ],
)
def test_roles_without_a_title_are_heard(text: str) -> None:
    assert hear(text, get_persona("dana")).role_known


@pytest.mark.parametrize(
    "persona_id, text, label",
    [
        ("kevin", "cycling's not my thing tbh", "cycling"),
        ("kevin", "Baseball? Never liked it.", "baseball"),
        ("priya", "i dont really hike", "hiking"),
    ],
)
def test_a_disliked_interest_is_never_celebrated(
    persona_id: str, text: str, label: str
) -> None:
    persona = get_persona(persona_id)
    heard = hear(text, persona)
    assert heard.dislikes == [label] and not heard.likes
    reply = converse(persona_id, [text])[0]
    assert label not in reply.lower() and "too" not in reply.lower().split()


@pytest.mark.parametrize(
    "text, feeling",
    [
        ("honestly im kind of nervous, first confrence", "nervous"),
        ("I'm scared about going back to work after a long break", "back_to_work"),
        ("I'm in recovery myself, 3 years", "lived_experience"),
        ("this is a lot, i feel kinda lost", "overwhelmed"),
        ("thanks, this made me feel less awkward", None),
        ("sorry im kinda out of it, long night", "tired"),
        (
            "my sister has a kid who is struggling, she doesnt know where to start",
            "loved_one",
        ),
        ("honestly im nervous about the exam", "exam_nerves"),
    ],
)
def test_feelings_are_heard(text: str, feeling: Optional[str]) -> None:
    assert hear(text, get_persona("rosa")).feeling == feeling


@pytest.mark.parametrize("persona", all_personas(), ids=lambda p: p.id)
def test_every_persona_answers_every_question_without_repeating(persona) -> None:
    replies = converse(persona.id, QUESTIONS, seed="every")
    said = [sentence_key(s) for r in replies for s in re.split(r"(?<=[.!?])\s+", r)]
    assert len(said) == len(set(said)), replies
    for question, reply in zip(QUESTIONS, replies, strict=True):
        assert reply.strip(), question
        assert reply.count("?") <= 1, reply
        assert "didn't catch" not in reply and "not sure I follow" not in reply


@pytest.mark.parametrize("persona", all_personas(), ids=lambda p: p.id)
def test_a_question_gets_its_topic(persona) -> None:
    memory = PersonaVoice(persona, seed="q").opening_state()
    for key in ("story", "advice", "trip", "plans", "access"):
        ask = {
            "story": "how did you get into this work",
            "advice": "any advice for someone starting out",
            "trip": "how was your trip",
            "plans": "what are you up to after the conference",
            "access": "how do people get referred to you",
        }[key]
        reply = PersonaVoice(persona, memory, seed="q").respond(hear(ask, persona))
        memory = reply.memory.to_dict()
        assert reply.plan.get("answered") == key, (ask, reply.text, reply.plan)


def test_the_opener_question_is_not_asked_again() -> None:
    # Dana's opener asks "Is this your first time at this conference?"
    replies = converse("dana", ["yes first time! im sam", "cool", "what do you do"])
    assert not any("first time" in r.lower() and "?" in r for r in replies)


def test_an_unknown_question_gets_an_honest_deflection() -> None:
    reply = converse("walter", ["do you know the wifi password"])[0]
    assert "?" not in reply.split(".")[0]
    assert "catch" not in reply and reply.strip()


def test_shared_interest_warms_up_once() -> None:
    persona = get_persona("priya")
    memory = PersonaVoice(persona, seed="w").opening_state()
    first = PersonaVoice(persona, memory, seed="w").respond(
        hear("I love hiking", persona)
    )
    assert first.plan["reacted"] == "shared_interest"
    assert first.memory.shared == ["hiking"] and first.memory.warmth >= 1
    again = PersonaVoice(persona, first.memory.to_dict(), seed="w").respond(
        hear("hiking is the best", persona)
    )
    assert again.plan.get("reacted") != "shared_interest"


def test_a_question_about_an_interest_is_answered_not_celebrated() -> None:
    persona = get_persona("priya")
    reply = PersonaVoice(persona, PersonaVoice(persona).opening_state()).respond(
        hear("do you travel a lot?", persona)
    )
    assert reply.plan["answered"] == "interests"
    assert reply.plan.get("reacted") != "shared_interest"


def test_a_busy_persona_wraps_up() -> None:
    replies = converse("marcus", ["ok", "cool", "nice"] * 4)
    assert any("meeting" in r for r in replies[5:])


def test_plain_string_interests_get_display_forms() -> None:
    persona = get_persona("grace")
    interest = persona.interest("birdwatching")
    assert (interest.label, interest.mine, interest.kind) == (
        "birdwatching",
        "birdwatching",
        "personal",
    )
    from introcoach.personas import persona_from_dict

    dog = persona_from_dict(
        {
            "id": "x",
            "name": "X Y",
            "role": "peer",
            "organization": "Z",
            "interests": ["her rescue dog, Biscuit"],
        }
    ).interest("her rescue dog, Biscuit")
    assert dog.mine == "my rescue dog, Biscuit" and dog.theirs == "rescue dog"


@pytest.mark.parametrize("topic", STANDARD_TOPICS)
def test_the_minimal_persona_answers_from_the_defaults(topic: str) -> None:
    voice = PersonaVoice(get_persona("grace"))
    assert voice._next_answer(topic)


# -- knowledge, reactions and the shared reactions ------------------------------

HOUSING = {
    "id": "hal",
    "name": "Hal Moreno",
    "role": "recovery housing director",
    "organization": "Bright Path Residences",
    "personality": "warm",
    "interests": [
        {"label": "cycling", "kind": "personal", "story": "I ride to work."},
        {"label": "recovery housing", "kind": "work", "story": "I visit every house."},
    ],
    "topics": {
        "access": {
            "asks": ["how does someone get a bed", "how do people get in"],
            "answers": [
                "Anyone can refer; a bed opens in about a month.",
                "Rent is a hundred and sixty a week.",
            ],
        }
    },
    "questions": [
        {"text": "Are you certified yet, or working toward it?", "about": "other"},
        {"text": "What kind of work do you do?", "about": "role"},
    ],
    "knowledge": [
        {
            "asks": ["is there a womens house", "do you have beds for women"],
            "answer": "Three of our houses are for women, with women on staff.",
            "topic": "access",
        },
        {
            "asks": ["do you take people on mat", "is methadone ok in your houses"],
            "answers": ["Yes, people on methadone or buprenorphine are welcome."],
        },
    ],
    "reactions": [
        {
            "hears": [
                "we never have anywhere to send people after detox",
                "people leave detox with no place to go",
            ],
            "says": ["That gap after detox is the whole reason we exist."],
        }
    ],
}


def _voice_of(data: dict) -> tuple:
    from introcoach.personas import persona_from_dict

    persona = persona_from_dict(data)
    return persona, PersonaVoice(persona, seed="k").opening_state()


def _say(persona, memory, text: str):
    reply = PersonaVoice(persona, memory, seed="k").respond(hear(text, persona))
    return reply, reply.memory.to_dict()


def test_a_specific_question_gets_the_specific_answer() -> None:
    persona, memory = _voice_of(HOUSING)
    reply, memory = _say(persona, memory, "is there a women's house")
    assert "Three of our houses are for women" in reply.text
    # It counts as the broad topic it belongs to, for follow-ups and checks.
    assert reply.plan["answered"] == "access"
    reply, _ = _say(persona, memory, "do you take ppl on MAT?")
    assert "methadone or buprenorphine" in reply.text


def test_the_broad_topic_still_answers_a_broad_question() -> None:
    persona, memory = _voice_of(HOUSING)
    reply, _ = _say(persona, memory, "how do people get in")
    assert reply.plan["answered"] == "access"
    assert "Anyone can refer" in reply.text


def test_a_statement_about_its_world_gets_its_own_reaction() -> None:
    persona, memory = _voice_of(HOUSING)
    reply, _ = _say(
        persona,
        memory,
        "where do people go when they finish detox? "
        "we never have anywhere to send them",
    )
    assert "That gap after detox" in reply.text
    assert reply.plan["reacted"] == "own_reaction"
    # The reaction answers the question: no "I don't know" after it.
    assert reply.plan.get("answered") == "own_reaction"


def test_one_shared_word_is_not_a_reaction() -> None:
    persona = _voice_of(HOUSING)[0]
    assert hear("i work at a detox", persona).reaction is None


@pytest.mark.parametrize(
    "text, reacted",
    [
        ("i just got certified last month!", "news"),
        ("hi im jo, i work at bright path actually", "news"),
    ],
)
def test_good_news_and_a_colleague_are_noticed(text: str, reacted: str) -> None:
    persona, memory = _voice_of(HOUSING)
    reply, _ = _say(persona, memory, text)
    assert reply.plan["reacted"] == reacted, reply.text


def test_exam_nerves_get_an_answer_about_the_exam() -> None:
    heard = hear("honestly im kind of nervous about the exam", get_persona("walter"))
    assert heard.feeling == "exam_nerves"
    reply = converse("walter", ["honestly im kind of nervous about the exam"])[0]
    assert "exam" in reply.lower()


def test_it_does_not_ask_about_what_they_brought_up() -> None:
    persona, memory = _voice_of(HOUSING)
    reply, memory = _say(persona, memory, "im a peer at a shelter. just got certified")
    for _ in range(3):
        reply, memory = _say(persona, memory, "ok")
        assert "certified" not in reply.text.lower()


def test_a_card_request_with_thanks_is_one_answer() -> None:
    persona, memory = _voice_of(HOUSING)
    reply, _ = _say(persona, memory, "cool thanks, can i email you my resume")
    assert reply.plan.get("answered") == "contact"
    assert reply.plan.get("reacted") != "thanks"


def test_thanks_for_your_time_is_a_goodbye() -> None:
    heard = hear("thank you for your time Mr Okafor", get_persona("walter"))
    assert heard.goodbye


def test_do_you_like_gets_a_yes_before_the_story() -> None:
    persona, memory = _voice_of(HOUSING)
    reply, _ = _say(persona, memory, "do you like cycling?")
    assert reply.text.startswith("I do") and "I ride to work." in reply.text


def test_nice_to_meet_you_late_in_a_conversation_is_a_goodbye() -> None:
    replies = converse(
        "rosa",
        [
            "im lou",
            "i'm a peer",
            "cool",
            "ok the line is moving, nice to meet you rosa!",
        ],
    )
    assert (
        "Enjoy the rest of the conference" in replies[-1] or "meet you" in replies[-1]
    )
    assert "?" not in replies[-1]


def test_a_short_question_matches_its_topic_both_ways() -> None:
    heard = hear("is there a cost", get_persona("rosa"))
    assert heard.question is not None and heard.question.topic == "access"
