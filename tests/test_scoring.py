"""Unit tests for the scoring library (no Rasa, no downloads)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from introcoach.personas import Persona, get_persona, persona_from_dict
from introcoach.scoring import (
    RUBRIC_VERSION,
    InterestMention,
    ScoreReport,
    ScoringInputError,
    Turn,
    compare_reports,
    find_interest_mentions,
    format_report,
    rubric_plain_words,
    score_conversation,
    score_text,
    stretch_goal,
    suggest_hint,
    top_tips,
    undiscovered_interests,
    what_worked,
)

ROOT = Path(__file__).resolve().parent.parent
STRONG = (
    "Hi Dana, I'm Tasha, a peer specialist at Lakeside. I meet people on the unit "
    "before they're discharged so they have someone waiting on the outside. Last "
    "year 60% of them made it to their first appointment. I love trail running. "
    "Do you still run the river trails?"
)
WEAK = "Hi. I'm a peer specialist. Nice to meet you."


@pytest.fixture()
def dana() -> Persona:
    return get_persona("dana")


@pytest.fixture()
def priya() -> Persona:
    return get_persona("priya")


def _criteria(report: ScoreReport) -> dict:
    return report.criteria()


# -- report shape -----------------------------------------------------------------


def test_to_dict_has_exactly_the_stored_keys(dana: Persona) -> None:
    data = score_text(STRONG, dana).to_dict()
    assert set(data) == {
        "overall",
        "mode",
        "persona",
        "rubric_version",
        "word_count",
        "estimated_seconds",
        "strategies",
    }
    assert data["mode"] == "intro"
    assert data["persona"] == "dana"
    assert data["rubric_version"] == RUBRIC_VERSION
    assert [s["id"] for s in data["strategies"]] == [
        "introduce_and_converse",
        "common_interests",
    ]
    assert [s["number"] for s in data["strategies"]] == [6, 4]
    for strategy in data["strategies"]:
        assert set(strategy) == {"id", "number", "title", "score", "criteria"}
        for crit in strategy["criteria"]:
            assert set(crit) == {"id", "met", "score", "evidence", "tip"}
    json.dumps(data)


def test_intro_mode_leaves_out_conversation_criteria(dana: Persona) -> None:
    ids = set(_criteria(score_text(STRONG, dana)))
    assert "open_questions" not in ids and "graceful_close" not in ids
    assert len(ids) == 11


def test_estimated_seconds_is_150_words_a_minute(dana: Persona) -> None:
    report = score_text(STRONG, dana)
    assert report.estimated_seconds == round(report.word_count / 150 * 60, 1)


def test_strong_beats_weak(dana: Persona) -> None:
    strong, weak = score_text(STRONG, dana), score_text(WEAK, dana)
    assert strong.overall >= 80 > 30 > weak.overall


def test_met_criteria_have_no_tip_and_missed_have_one(dana: Persona) -> None:
    for crit in _criteria(score_text(WEAK, dana)).values():
        if crit.score >= 1.0:
            assert crit.tip is None
        else:
            assert crit.tip


def test_evidence_is_a_substring(dana: Persona) -> None:
    for crit in _criteria(score_text(STRONG, dana)).values():
        assert crit.evidence is None or crit.evidence in STRONG


def test_from_dict_round_trip(dana: Persona) -> None:
    report = score_text(STRONG, dana)
    again = ScoreReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()


def test_pitch_length_range(dana: Persona) -> None:
    intro = score_text(STRONG, dana, mode="intro")
    pitch = score_text(STRONG, dana, mode="pitch")
    assert _criteria(intro)["pitch_length"].met
    assert not _criteria(pitch)["pitch_length"].met
    assert "50" in _criteria(pitch)["pitch_length"].tip


# -- input errors -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "?!..."])
def test_empty_text_is_an_input_error(text: str, dana: Persona) -> None:
    with pytest.raises(ScoringInputError):
        score_text(text, dana)


def test_too_many_words(dana: Persona) -> None:
    with pytest.raises(ScoringInputError, match="5,000"):
        score_text("word " * 5001, dana)


def test_unknown_mode(dana: Persona) -> None:
    with pytest.raises(ScoringInputError):
        score_text("Hi, I'm Sam.", dana, mode="speech")


def test_error_messages_are_one_line(dana: Persona) -> None:
    for bad in ("", "word " * 5001):
        with pytest.raises(ScoringInputError) as info:
            score_text(bad, dana)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "turns",
    [
        [],
        [Turn("persona", "Hi, I'm Dana.")],
        [Turn("user", "   ")],
        [Turn("coach", "Hello")],
        "not a list",
    ],
)
def test_bad_transcripts(turns: object, dana: Persona) -> None:
    with pytest.raises(ScoringInputError):
        score_conversation(turns, dana)  # type: ignore[arg-type]


# -- names, roles, hooks ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, met",
    [
        ("Hi, I'm Sam, a peer specialist at Harbor County.", True),
        ("I'm Hope, and I run a warm line.", True),
        ("My name is Devon and I do outreach.", True),
        ("Sam here, peer specialist at the clubhouse.", True),
        ("hi i'm sam, i work on a warm line", True),
        ("Call me Bri, I work with teens.", True),
        ("I'm tired, it's been a long day of sessions.", False),
        ("I'm a peer specialist at Harbor County.", False),
        ("I'm so glad to be here, I'm in recovery myself.", False),
        ("I'm hoping to meet some recovery coaches today.", False),
    ],
)
def test_states_name(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["states_name"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        ("Peer specialist at Harbor County, mostly nights.", True),
        ("I run WRAP groups for veterans at the VA.", True),
        ("I work as a recovery coach.", True),
        ("Are you a peer specialist too? The coffee is good.", False),
        ("Nice to meet you, lovely weather today.", False),
    ],
)
def test_states_role(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["states_role"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        ("I'm Sam. What does your week look like?", True),
        ("I'm Sam. Tell me about your work", True),
        ("I'm Sam. I'd love to hear how your unit does discharges", True),
        ("I'm Sam and I work at a clubhouse in the valley.", False),
    ],
)
def test_conversation_hook(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["conversation_hook"].met is met


# -- interest mentions ------------------------------------------------------------


def test_mentions_by_lemma_and_variant(priya: Persona) -> None:
    text = "I hiked the Appalachian Trail and I'm planning road trips."
    mentions = find_interest_mentions(text, priya)
    assert [(m.interest, m.text) for m in mentions] == [
        ("hiking", "hiked"),
        ("hiking", "Appalachian Trail"),
        ("travel", "road trips"),
    ]
    for mention in mentions:
        assert isinstance(mention, InterestMention)
        assert text[mention.start : mention.end] == mention.text
        assert not mention.negated


def test_case_insensitive(priya: Persona) -> None:
    (mention,) = find_interest_mentions("HIKING is my thing", priya)
    assert mention.interest == "hiking" and mention.text == "HIKING"


@pytest.mark.parametrize(
    "text, negated",
    [
        ("I don't really like hiking", True),
        ("I never hike, my knees hate it", True),
        ("Hiking isn't for me", True),
        ("I'm not a hiker but I love to travel", True),
        ("I can't wait to go hiking this weekend", False),
        ("I don't mind a long hike", False),
        ("I'm not sure, but hiking sounds fun", False),
        ("Do you like hiking?", False),
    ],
)
def test_negation(text: str, negated: bool, priya: Persona) -> None:
    hiking = [m for m in find_interest_mentions(text, priya) if m.interest == "hiking"]
    assert hiking and hiking[0].negated is negated


def test_hidden_interests_and_possessive_names(dana: Persona) -> None:
    found = {m.interest for m in find_interest_mentions("My dog loves sourdough", dana)}
    assert found == {"her rescue dog, Biscuit", "sourdough baking"}
    (mention,) = find_interest_mentions("How is Biscuit doing?", dana)
    assert mention.interest == "her rescue dog, Biscuit"


def test_other_senses_are_not_interests(dana: Persona) -> None:
    assert find_interest_mentions("I run groups and I ran the intake", dana) == []
    assert [m.interest for m in find_interest_mentions("I run on trails", dana)] == [
        "trail running",
        "trail running",
    ]


def test_mentions_for_a_minimal_persona() -> None:
    persona = persona_from_dict(
        {
            "id": "sol",
            "name": "Sol Reyes",
            "role": "nurse",
            "organization": "Mercy Clinic",
            "interests": ["birdwatching", "knitting"],
        }
    )
    found = [
        m.interest for m in find_interest_mentions("I go birding and I knit", persona)
    ]
    assert found == ["birdwatching", "knitting"]


def test_empty_text_has_no_mentions(dana: Persona) -> None:
    assert find_interest_mentions("", dana) == []
    assert find_interest_mentions("   ", dana) == []


# -- conversation ------------------------------------------------------------------

CONVERSATION = [
    Turn("persona", "Oh, sorry, am I hogging the coffee? I'm Dana."),
    Turn("user", "No worries! I'm Tasha, a peer specialist at Lakeside."),
    Turn(
        "persona",
        "I'm a discharge planner. I ran a trail race this morning, so I need this.",
    ),
    Turn("user", "A trail race before a conference, wow! How long was it?"),
    Turn("persona", "Just a 10k. Do you run?"),
    Turn("user", "I do, slowly. Thanks so much, can I get your card?"),
]


def test_conversation_report(dana: Persona) -> None:
    report = score_conversation(CONVERSATION, dana)
    crits = _criteria(report)
    assert report.mode == "conversation"
    assert len(crits) == 16
    assert crits["follow_up"].met
    assert crits["graceful_close"].met
    assert crits["names_common_ground"].met
    for crit in crits.values():
        assert crit.evidence is None or any(
            crit.evidence in t.text for t in CONVERSATION if t.speaker == "user"
        )
    # "I'm a discharge planner" reveals care transitions.
    assert report.undiscovered == [
        "gardening",
        "sourdough baking",
        "her rescue dog, Biscuit",
    ]


def test_conversation_accepts_dicts(dana: Persona) -> None:
    turns = [{"speaker": t.speaker, "text": t.text} for t in CONVERSATION]
    assert (
        score_conversation(turns, dana).to_dict()
        == score_conversation(CONVERSATION, dana).to_dict()
    )


def test_undiscovered_interests(priya: Persona) -> None:
    turns = [
        Turn("persona", "I hiked part of the Appalachian Trail last summer."),
        Turn("user", "I don't really like hiking, but do you travel much?"),
    ]
    assert undiscovered_interests(turns, priya) == [
        "peer support",
        "crisis response",
        "watercolor painting",
        "learning Spanish",
    ]
    assert undiscovered_interests([], priya) == list(priya.all_interests)


def test_hint_introduce_first(dana: Persona) -> None:
    assert "Introduce yourself" in suggest_hint([], dana)
    assert "Introduce yourself" in suggest_hint(
        [Turn("persona", "Hi, I'm Dana.")], dana
    )


def test_hint_picks_up_persona_interest(dana: Persona) -> None:
    turns = [
        Turn("user", "Hi, I'm Sam, a peer specialist."),
        Turn("persona", "Nice to meet you! I just got back from trail running."),
    ]
    assert (
        suggest_hint(turns, dana) == "Dana mentioned trail running: ask her about it."
    )


def test_hint_name_then_question(dana: Persona) -> None:
    no_name = [Turn("persona", "Hi, I'm Dana."), Turn("user", "Hi! Nice to meet you.")]
    assert "name" in suggest_hint(no_name, dana)
    no_question = [
        Turn("persona", "Hi, I'm Dana."),
        Turn("user", "I'm Sam, I run peer groups at the clubhouse."),
    ]
    assert "Ask about Dana's work" in suggest_hint(no_question, dana)


# -- feedback ----------------------------------------------------------------------


def test_tips_goal_praise(dana: Persona) -> None:
    weak = score_text(WEAK, dana)
    tips = top_tips(weak)
    assert len(tips) == 2 and all(isinstance(t, str) and t for t in tips)
    assert top_tips(weak, n=1) == tips[:1]
    goal = stretch_goal(weak)
    assert goal and goal not in tips
    assert any("what you do" in line for line in what_worked(weak))
    strong = score_text(STRONG, dana)
    assert top_tips(strong) == [] or len(top_tips(strong)) <= 2
    assert "Dana" in stretch_goal(strong)


def test_feedback_dict(dana: Persona) -> None:
    feedback = score_text(WEAK, dana).feedback_dict()
    assert set(feedback) == {
        "what_worked",
        "top_tips",
        "stretch_goal",
        "undiscovered_interests",
    }


def test_format_report(dana: Persona) -> None:
    text = format_report(score_text(STRONG, dana))
    assert "Strategy 6" in text and "Strategy 4" in text
    assert '"I\'m Tasha"' in text
    assert "Stretch goal:" in text
    conversation = format_report(score_conversation(CONVERSATION, dana))
    assert "never discovered: gardening, sourdough baking" in conversation


def test_compare_reports(dana: Persona) -> None:
    before = score_text("Hi, I'm Sam, a peer specialist at Lakeside.", dana)
    after = score_text(
        "Hi, I'm Sam, a peer specialist at Lakeside. How's your week?", dana
    )
    gained = compare_reports(after, before)
    assert gained.startswith(f"+{after.overall - before.overall} since your last try")
    assert "you added a question" in gained and "conversation_hook" not in gained
    lost = compare_reports(before, after)
    assert lost.startswith("-") and "you dropped the question" in lost
    assert compare_reports(before, before).startswith("Same score as last time")


def test_compare_with_stored_report(dana: Persona) -> None:
    before = ScoreReport.from_dict(score_text(WEAK, dana).to_dict())
    assert "since your last try" in compare_reports(score_text(STRONG, dana), before)


def test_rubric_plain_words() -> None:
    text = rubric_plain_words()
    assert "Gino, Kouchaki & Casciaro (2016)" in text
    assert "Strategy 6" in text and "Strategy 4" in text
    assert "open questions" in rubric_plain_words("conversation")
    assert "open questions" not in text


def test_pipeline_is_not_built_at_import() -> None:
    code = (
        "import introcoach.scoring as s, introcoach.cli;"
        "from introcoach.scoring.pipeline import get_nlp;"
        "print(get_nlp.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "0"


def test_no_rasa_import() -> None:
    for path in (ROOT / "introcoach" / "scoring").rglob("*.py"):
        assert "import rasa" not in path.read_text(encoding="utf-8")
        assert "from rasa" not in path.read_text(encoding="utf-8")
