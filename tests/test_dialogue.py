"""The persona voice: memory, variety and staying in character."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from introcoach.dialogue import TOPICS, Memory, PersonaVoice, spoken_interest
from introcoach.personas import all_personas, get_persona


def test_memory_survives_a_malformed_slot() -> None:
    assert Memory.from_dict(
        {"turn": "x", "used_facts": [1, "a"], "shared": [3, "hiking"]}
    ).to_dict() == {
        "turn": 0,
        "used_facts": [1],
        "used_questions": [],
        "revealed": [],
        "shared": ["hiking"],
    }
    assert Memory.from_dict("not a dict").turn == 0


def test_questions_do_not_repeat_until_used_up() -> None:
    persona = get_persona("dana")
    memory = None
    asked = []
    for _ in range(len(persona.questions)):
        voice = PersonaVoice(persona, memory, seed="s")
        asked.append(voice.ask_back())
        memory = voice.memory.to_dict()
    assert sorted(asked) == sorted(persona.questions)


@pytest.mark.parametrize("persona", all_personas(), ids=lambda p: p.id)
def test_every_persona_answers_every_topic(persona) -> None:
    voice = PersonaVoice(persona, seed="t", user_name="Sam")
    assert all(voice.opening())
    for topic in TOPICS:
        assert voice.answer(topic).text.strip()
    assert voice.greet().text and voice.steer_back().text and voice.goodbye().text
    assert "Sam" in voice.goodbye().text


def test_shared_interest_warms_up_once() -> None:
    voice = PersonaVoice(get_persona("priya"), seed="t")
    hiking = SimpleNamespace(interest="hiking", negated=False)
    first = voice.notice_shared_interest([hiking])
    assert first and "hiking" in first.lower()
    assert voice.notice_shared_interest([hiking]) is None
    assert voice.memory.shared == ["hiking"]


def test_negated_mentions_are_ignored() -> None:
    voice = PersonaVoice(get_persona("priya"), seed="t")
    assert (
        voice.notice_shared_interest([SimpleNamespace(interest="hiking", negated=True)])
        is None
    )


def test_spoken_interest() -> None:
    assert spoken_interest("her rescue dog, Biscuit") == "my rescue dog, Biscuit"
    assert spoken_interest("gardening") == "gardening"


@pytest.mark.parametrize("persona", all_personas(), ids=lambda p: p.id)
def test_asked_about_work_a_persona_names_its_role_once(persona) -> None:
    said = PersonaVoice(persona, seed="w").answer("work").text.lower()
    assert said.count(persona.role.lower()) == 1, said
