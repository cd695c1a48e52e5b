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


# -- messy, chat-style input ------------------------------------------------------


@pytest.mark.parametrize(
    "text, met",
    [
        # Lower-case names after "im", "i m", "this is", "my name is", "names".
        ("hey im jo, recovry coach at the shelter, hows your week going", True),
        ("Im jamal. I do intake at a detox.", True),
        ("i m dev, i answer the crisis line overnights", True),
        ("hi marcus im tasha, peer suport specialst at eastside", True),
        ("this is mel from harbor house", True),
        ("my name is devon, peer coach at new hope", True),
        ("names tee, i drive folks to intake", True),
        ("im kat btw, i work nights", True),
        # States, moods and roles after "im" are not names.
        ("im so tired lol, long drive in", False),
        ("im here for the discharge track", False),
        ("hi im nervous lol first conference", False),
        ("im in recovery too, 9 yrs", False),
        ("im a peer at the youth drop-in", False),
        ("Im kinda new at this", False),
        ("im beat, long day", False),
        ("im starving lol", False),
        ("im stoked to be here", False),
        ("this is awesome", False),
        ("after work im toast, so tired", False),
        ("im recovry coach at the shelter", False),
    ],
)
def test_messy_names(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["states_name"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        # Misspelt role words, by edit distance to the role head words.
        ("hey im jo, recovry coach at the shelter", True),
        ("peer suport specialst at eastside detox", True),
        ("I work as a navagator at the clinic", True),
        ("im a peer mentr at lincoln high", True),
        ("I'm a certifed peer specailist", True),
        ("councelor at the high school, mostly nights", True),
        # Roles told as activity, and a bare "I'm a peer".
        ("I get people out of the ER into housing", True),
        ("I'm the person who answers the peer line", True),
        ("I'm the guy who drives folks from detox to sober living", True),
        ("I'm a peer.", True),
        ("i m a peer too, at Eastside", True),
        ("i work the warm line", True),
        ("I run groups at the clubhouse", True),
        ("I do peer support on the crisis line", True),
        ("i teach the ethics module for new peer staff", True),
        ("we do parent partner stuff", True),
        ("I support people in early recovery", True),
        # Not roles.
        ("im a couch potato lol", False),
        ("I'm a beer guy", False),
        ("I'm the one who asked you earlier", False),
        ("I get people asking me that all the time", False),
        ("I'm a peer of his", False),
        ("im in recovery myself", False),
    ],
)
def test_messy_roles(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["states_role"].met is met


def test_misspelt_role_evidence_is_the_input(dana: Persona) -> None:
    text = "hey im jo, recovry coach at the shelter, hows your week going"
    crit = _criteria(score_text(text, dana))["states_role"]
    assert crit.evidence == "recovry coach at the shelter"


@pytest.mark.parametrize(
    "text, met",
    [
        # Questions without "?": a wh-word or an auxiliary with "you".
        ("I'm Sam, peer coach at the shelter, hows your week going", True),
        ("I'm Sam. do you know if the clinic is hiring", True),
        ("I'm Sam. what brings you here", True),
        ("I'm Sam. whats your favorite trail around here", True),
        ("I'm Sam. do u ever get to travel for work", True),
        ("I'm Sam. how long does it take to get a bed", True),
        ("I'm Sam. any tips on the ethics section", True),
        ("I'm Sam, a peer at Lakeside, you guys hiring", True),
        ("I'm Sam, peer specialist, what kind of work do you do", True),
        # Statements that open like questions.
        ("I'm Sam, I know, what you do is hard", False),
        ("I'm Sam, how I got here is a long story", False),
        ("I'm Sam, peer specialist, you know", False),
        ("I'm Sam, peer specialist. you got this", False),
        ("I'm Sam, peer specialist, you have a great day", False),
    ],
)
def test_questions_without_question_mark(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["conversation_hook"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        ("I'm Sam. hows your week going", False),
        ("I'm Sam. what got u into discharge planning", True),
        ("I'm Sam. what brings you here", True),
    ],
)
def test_discovery_without_question_mark(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["discovers_interests"].met is met


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


@pytest.mark.parametrize(
    "text, negated",
    [
        # Disliked interests are not common ground.
        ("Baseball? Never liked it.", True),
        ("baseball? nah, not for me", True),
        ("Oh, baseball? Meh.", True),
        ("I'm a coach at the Y. Baseball? never liked it, bad knees.", True),
        ("cycling's not my thing", True),
        ("cycling isnt really my thing", True),
        ("i dont really bike", True),
        ("not a big sports person, baseball bores me", True),
        ("baseball is boring", True),
        ("not a big baseball person", True),
        ("cycling, not really my thing", True),
        ("cycling, honestly never liked it", True),
        # Liked, or asked about: still common ground.
        ("Baseball? Love it, go Mariners.", False),
        ("Baseball? No way, I love it", False),
        ("Do you like baseball? Never been to a game.", False),
        ("cycling, and baseball too", False),
        ("I'd love to try cycling", False),
    ],
)
def test_disliked_interests(text: str, negated: bool) -> None:
    kevin = get_persona("kevin")
    mentions = find_interest_mentions(text, kevin)
    assert mentions and mentions[0].negated is negated


@pytest.mark.parametrize(
    "text, common, own",
    [
        ("Baseball? Never liked it. I'm Sam, I run groups.", False, False),
        ("hey im ana. cycling's not my thing either.", False, False),
        ("not a big sports person, baseball bores me", False, False),
        ("baseball is boring but I love board games", True, True),
        ("gardening not really my thing but i bake bread", False, True),
        ("I love cycling, baseball not so much.", True, True),
    ],
)
def test_disliked_interests_in_scores(text: str, common: bool, own: bool) -> None:
    crits = _criteria(score_text(text, get_persona("kevin")))
    assert crits["names_common_ground"].met is common
    assert crits["shares_own_interests"].met is own


def test_follow_up_question_discovers_in_conversation() -> None:
    marcus = get_persona("marcus")
    turns = [
        Turn("persona", "Hey there. Interested in recovery housing?"),
        Turn("user", "housing def. im sharon, i get ppl out of the er"),
        Turn("persona", "We run eleven houses at Second Wind, about ninety beds."),
        Turn("user", "ninety beds! whats the wait like rn"),
    ]
    crits = _criteria(score_conversation(turns, marcus))
    assert crits["discovers_interests"].met
    assert crits["discovers_interests"].evidence == "whats the wait like rn"
    assert crits["builds_on_common_ground"].met


@pytest.mark.parametrize(
    "text, met",
    [
        ("hello walter, name's Ray. i teach ethics.", True),
        ("yo marcus, names dre. i run groups.", True),
        ("morning walter, name's Bo, peer at Lakeside", True),
        ("hey kevin, names are not my strong suit lol", False),
        ("hey, your name is Walter, right? im a peer at Lakeside.", False),
    ],
)
def test_name_after_greeting_the_listener(text: str, met: bool) -> None:
    crits = _criteria(score_text(text, get_persona("walter")))
    assert crits["states_name"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        (
            "i do family peer support, mostly with moms whose kids just got out "
            "of the hospital",
            True,
        ),
        ("i run groups on 5th, mostly guys fresh out of treatment", True),
        ("i do peer support in the ER, mostly for folks who keep coming back", True),
        ("nice meeting u, can i grab a flyer for the parents at my school", False),
        ("great to meet you marcus, ill tell the guys at my clinic", False),
        ("there were mostly people with badges in line", False),
        ("i work with mostly moms whose kids just got out of the hospital", True),
        ("my caseload is mostly dads who lost custody", True),
    ],
)
def test_key_message_after_a_comma(text: str, met: bool) -> None:
    crits = _criteria(score_text(text, get_persona("rosa")))
    assert crits["key_message"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        ("hey, im kat, i work the 988 line nights", False),
        ("i run a 12-step group at the clubhouse", False),
        ("i answer 988 calls, took 40 of them last night", True),
        ("i got 12 people housed since june", True),
    ],
)
def test_service_numbers_are_not_details(text: str, met: bool) -> None:
    crits = _criteria(score_text(text, get_persona("priya")))
    assert crits["spark_interest"].met is met


@pytest.mark.parametrize(
    "text, family",
    [
        ("do your groups take dads", True),
        ("mostly moms whose kids just got out", True),
        ("a group for grandparents raising grandkids", True),
        ("my mom got me into this work", False),
    ],
)
def test_family_words_are_family_support(text: str, family: bool) -> None:
    rosa = get_persona("rosa")
    found = {m.interest for m in find_interest_mentions(text, rosa)}
    assert (_interest_with(rosa, "families") in found) is family


def test_back_to_back_matches_are_one_mention() -> None:
    marcus = get_persona("marcus")
    mentions = find_interest_mentions(
        "i help run the sober living house on elm", marcus
    )
    assert [m.text for m in mentions] == ["sober living house"]


@pytest.mark.parametrize(
    "text, met",
    [
        # The next sentence, or the one after an aside, still asks about it.
        ("i do family peer support. how big are your groups", True),
        (
            "i do family peer support. traffic was brutal lol. how big are your groups",
            True,
        ),
        # Small talk or free time leaves the topic.
        (
            "i do family peer support. the drive was long. hows the weather down there",
            False,
        ),
        ("i do family peer support. what do u do outside work", False),
        # Three sentences on, only a question naming it counts.
        (
            "i do family peer support. long drive. no coffee yet. whats the group size",
            False,
        ),
        (
            "i do family peer support. long drive. no coffee yet. do many dads come",
            True,
        ),
    ],
)
def test_builds_question_window(text: str, met: bool) -> None:
    crits = _criteria(score_text(text, get_persona("rosa")))
    assert crits["names_common_ground"].met
    assert crits["builds_on_common_ground"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        ("do u do anything fun outside work", False),
        ("what do u do for fun on weekends", False),
        ("i cover the 988 line on weekends", False),
        ("on weekends i mostly garden, what about u", True),
        ("in my free time i bake bread", True),
    ],
)
def test_own_interests_not_from_questions_or_work(text: str, met: bool) -> None:
    crits = _criteria(score_text(text, get_persona("dana")))
    assert crits["shares_own_interests"].met is met


@pytest.mark.parametrize(
    "text, met",
    [
        ("do any of them take guys with service dogs", True),
        ("do many dads come to your groups", True),
        ("did the intake today, was rough", False),
        ("is the best part of my week honestly", False),
    ],
)
def test_yes_no_questions_without_you(text: str, met: bool, dana: Persona) -> None:
    assert _criteria(score_text(text, dana))["conversation_hook"].met is met


def test_evaluate_reads_only_the_named_file(tmp_path: Path) -> None:
    from introcoach.scoring.evaluate import case_files, main

    case = (
        "cases:\n  - id: one\n    persona: dana\n    mode: intro\n"
        "    text: Hi, I'm Sam, a peer specialist.\n"
        "    expected: {states_name: true}\n"
    )
    (tmp_path / "tuning.yml").write_text(case, encoding="utf-8")
    (tmp_path / "holdout_fresh.yml").write_text("not: [valid", encoding="utf-8")
    named = tmp_path / "tuning.yml"
    assert case_files(named) == [named]
    assert case_files(tmp_path, "tuning") == [named]
    # The broken holdout file is never opened by these runs.
    assert main([str(named)]) == 0
    assert main([str(tmp_path), "--part", "tuning"]) == 0


def _interest_with(persona: Persona, keyword: str) -> str:
    """The persona's interest label whose keywords include ``keyword``.

    Labels are persona data ("her rescue dog, Biscuit" became "dogs"), so the
    tests look them up instead of spelling them out.
    """
    return next(
        i
        for i in persona.all_interests
        if keyword.lower() in (k.lower() for k in persona.keywords_for(i))
    )


def test_hidden_interests_and_possessive_names(dana: Persona) -> None:
    dog = _interest_with(dana, "dog")
    found = {m.interest for m in find_interest_mentions("My dog loves sourdough", dana)}
    assert found == {dog, "sourdough baking"}
    assert dog in dana.hidden_interests
    (mention,) = find_interest_mentions("How is Biscuit doing?", dana)
    assert mention.interest == dog


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
        _interest_with(dana, "dog"),
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
