"""Score an introduction, a pitch or a conversation against the rubric.

Tips are filled in for criteria that are not fully met; a met criterion has
``tip=None`` (its praise feeds :func:`~introcoach.scoring.feedback.what_worked`).
Evidence is always an exact substring of what the trainee wrote (of one user
turn, in a conversation), or None for criteria measured on the whole text
(length, turn balance).
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from introcoach.personas import Persona
from introcoach.scoring import detectors as d
from introcoach.scoring.interests import InterestMention
from introcoach.scoring.pipeline import analyse_many
from introcoach.scoring.report import CriterionResult, ScoreReport, StrategyResult
from introcoach.scoring.rubric import RUBRIC_VERSION, CriterionDef, strategies

logger = logging.getLogger(__name__)

MAX_WORDS = 5_000
MAX_CHARS = 60_000
WORDS_PER_MINUTE = 150
LENGTH_RANGES = {"intro": (8, 80), "pitch": (50, 150), "conversation": (1, 80)}
BALANCE_RANGE = (0.30, 0.70)
SPEAKERS = ("user", "persona")
# Score needed for "met": partial credit below these is shown but not met.
_MET_AT = {"pitch_length": 1.0, "turn_balance": 1.0, "open_questions": 1.0}


class ScoringInputError(ValueError):
    """The input cannot be scored; ``str(error)`` is a one-line message."""


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: ``speaker`` is "user" or "persona"."""

    speaker: str
    text: str


# -- persona words for tips ------------------------------------------------------


def persona_vars(persona: Persona, interest: Optional[str] = None) -> Dict[str, str]:
    """Placeholders for tip templates (name, pronouns, role, field, interest)."""
    pronoun = persona.pronouns.split("/")[0].strip().lower()
    subj, obj, poss = {
        "she": ("she", "her", "her"),
        "he": ("he", "him", "his"),
    }.get(pronoun, ("they", "them", "their"))
    personal = persona.interests[1:] or persona.interests
    return {
        "first": persona.first_name,
        "subj": subj,
        "obj": obj,
        "poss": poss,
        "role": persona.role,
        "role_article": persona.role_with_article(),
        "organization": persona.organization,
        "field": persona.interests[0],
        "interest": interest or personal[0],
        "interests": interest or personal[0],
    }


class _SafeVars(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: Dict[str, str]) -> str:
    """Fill ``{placeholders}``; unknown ones are left as they are."""
    return string.Formatter().vformat(template, (), _SafeVars(values))


# -- validation ------------------------------------------------------------------


def _check_text(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        raise ScoringInputError(f"the {what} must be a string")
    if not text.strip():
        raise ScoringInputError(f"the {what} is empty: write something to score")
    if len(text) > MAX_CHARS:
        raise ScoringInputError(
            f"the {what} is too long ({len(text):,} characters; "
            f"the limit is {MAX_CHARS:,})"
        )
    words = d.count_words(text)
    if words > MAX_WORDS:
        raise ScoringInputError(
            f"the {what} has {words:,} words; the limit is {MAX_WORDS:,}"
        )
    if words == 0:
        raise ScoringInputError(f"the {what} has no words to score")
    return text


def _check_persona(persona: object) -> Persona:
    if not isinstance(persona, Persona):
        raise ScoringInputError("a persona is needed to score against")
    return persona


def _check_turns(turns: object) -> List[Turn]:
    if isinstance(turns, (str, bytes)) or not isinstance(turns, Sequence):
        raise ScoringInputError("the transcript must be a list of turns")
    if not turns:
        raise ScoringInputError("the transcript is empty")
    checked = []
    for number, turn in enumerate(turns, start=1):
        speaker: Any
        text: Any
        if isinstance(turn, Turn):
            speaker, text = turn.speaker, turn.text
        elif isinstance(turn, dict):
            speaker, text = turn.get("speaker"), turn.get("text")
        else:
            raise ScoringInputError(f"turn {number} must have a speaker and a text")
        if speaker not in SPEAKERS:
            raise ScoringInputError(
                f"turn {number}: speaker must be 'user' or 'persona'"
            )
        if not isinstance(text, str):
            raise ScoringInputError(f"turn {number}: text must be a string")
        checked.append(Turn(speaker, text))
    if not any(t.speaker == "user" and t.text.strip() for t in checked):
        raise ScoringInputError("the transcript has no user turns with text")
    total_chars = sum(len(t.text) for t in checked)
    if total_chars > MAX_CHARS:
        raise ScoringInputError(
            f"the transcript is too long ({total_chars:,} characters; "
            f"the limit is {MAX_CHARS:,})"
        )
    words = sum(d.count_words(t.text) for t in checked)
    if words > MAX_WORDS:
        raise ScoringInputError(
            f"the transcript has {words:,} words; the limit is {MAX_WORDS:,}"
        )
    return checked


# -- building the report ---------------------------------------------------------

Found = Optional[Tuple[int, d.Hit]]  # (utterance index, hit)


def _criterion(
    cdef: CriterionDef,
    mode: str,
    found: Found,
    utterances: Sequence[d.Utterance],
    tip_vars: Dict[str, str],
    met_threshold: float = 0.7,
) -> CriterionResult:
    if found is None:
        score, evidence, detail = 0.0, None, None
    else:
        index, hit = found
        score, detail = max(0.0, min(1.0, hit.score)), hit.detail
        evidence = d.evidence_of(utterances, index, hit)
    met = score >= _MET_AT.get(cdef.id, met_threshold)
    values = dict(tip_vars)
    if detail and cdef.id in ("names_common_ground", "builds_on_common_ground"):
        values["interests"] = detail
        values["interest"] = detail
    return CriterionResult(
        id=cdef.id,
        met=met,
        score=round(score, 2),
        evidence=evidence,
        tip=None if met and score >= 1.0 else fill(cdef.tip, values),
        weight=cdef.weights[mode],
        praise=fill(cdef.praise, values),
    )


def _assemble(
    mode: str,
    persona: Persona,
    found: Dict[str, Found],
    utterances: Sequence[d.Utterance],
    tip_vars: Dict[str, str],
    word_count: int,
) -> ScoreReport:
    results = []
    for sdef in strategies():
        crits = [
            _criterion(c, mode, found.get(c.id), utterances, tip_vars)
            for c in sdef.criteria_for(mode)
        ]
        total = sum(c.weight for c in crits)
        score = (
            round(100 * sum(c.weight * c.score for c in crits) / total) if total else 0
        )
        results.append(
            StrategyResult(sdef.id, sdef.number, sdef.title, score, crits, sdef.weight)
        )
    weight_sum = sum(s.weight for s in results)
    overall = round(sum(s.weight * s.score for s in results) / weight_sum)
    return ScoreReport(
        overall=overall,
        mode=mode,
        persona=persona.id,
        rubric_version=RUBRIC_VERSION,
        word_count=word_count,
        estimated_seconds=round(word_count / WORDS_PER_MINUTE * 60, 1),
        strategies=results,
        persona_name=persona.name,
    )


def _first(
    utterances: Sequence[d.Utterance], detect: Callable[[d.Utterance], Optional[d.Hit]]
) -> Found:
    best: Found = None
    for index, utt in enumerate(utterances):
        hit = detect(utt)
        if hit is not None and (best is None or hit.score > best[1].score):
            best = (index, hit)
            if hit.score >= 1.0:
                break
    return best


def _length_hit(words: int, low: int, high: int) -> d.Hit:
    if words < low:
        return d.Hit(words / low)
    if words > high:
        return d.Hit(high / words)
    return d.Hit(1.0)


def _length_tip(mode: str, words: int, longest: int = 0) -> str:
    low, high = LENGTH_RANGES[mode]
    seconds = round(words / WORDS_PER_MINUTE * 60)
    if mode == "conversation":
        return (
            f"One of your turns ran to {longest} words: keep each turn under {high} "
            "words and hand the conversation back with a question."
        )
    kind = "introduction" if mode == "intro" else "pitch"
    if words < low:
        return (
            f"Your {kind} is {words} words: aim for {low}-{high} words, "
            "with what you do and a question."
        )
    return (
        f"Your {kind} is {words} words (about {seconds} s): cut it to {high} words "
        f"or fewer (about {round(high / WORDS_PER_MINUTE * 60)} s)."
    )


def _common_ground_interest(
    persona: Persona, mentions: Sequence[InterestMention]
) -> Optional[str]:
    for mention in mentions:
        if not mention.negated:
            return mention.interest
    return None


def score_text(text: str, persona: Persona, mode: str = "intro") -> ScoreReport:
    """Score a single introduction or pitch.

    Args:
        text: What the trainee would say.
        persona: The conference attendee it is said to.
        mode: "intro" (8-80 words) or "pitch" (50-150 words).

    Returns:
        The report; conversation-only criteria are left out.

    Raises:
        ScoringInputError: Empty or whitespace-only text, more than 5,000
            words or 60,000 characters, or an unknown mode.

    """
    if mode not in ("intro", "pitch"):
        raise ScoringInputError("mode must be 'intro' or 'pitch'")
    text = _check_text(text)
    persona = _check_persona(persona)
    facts = d.persona_facts(persona)
    (doc,) = analyse_many([text])
    utt = d.make_utterance(text, doc, persona)
    utts = [utt]
    found: Dict[str, Found] = {
        "states_name": _first(utts, d.detect_name),
        "states_role": _first(utts, d.detect_role),
        "key_message": _first(utts, d.detect_key_message),
        "spark_interest": _first(utts, d.detect_spark),
        "shared_passion": _first(utts, lambda u: d.detect_shared_passion(u, facts)),
        "conversation_hook": _first(utts, d.detect_hook),
        "pitch_length": (0, _length_hit(utt.words, *LENGTH_RANGES[mode])),
        "discovers_interests": _first(utts, lambda u: d.detect_discovery(u, facts)),
        "shares_own_interests": _first(utts, d.detect_own_interests),
        "names_common_ground": _first(utts, lambda u: d.detect_common_ground(u, facts)),
        "builds_on_common_ground": _first(
            utts, lambda u: d.detect_builds_single(u, facts)
        ),
    }
    tip_vars = persona_vars(persona, _common_ground_interest(persona, utt.mentions))
    tip_vars["length_tip"] = _length_tip(mode, utt.words)
    report = _assemble(mode, persona, found, utts, tip_vars, utt.words)
    report.stretch = _stretch_for(report, persona, tip_vars)
    logger.debug("scored %s for persona %s: %d", mode, persona.id, report.overall)
    return report


def score_conversation(turns: Sequence[Turn], persona: Persona) -> ScoreReport:
    """Score the user's turns of a conversation, with the persona's as context.

    Args:
        turns: The conversation in order; ``speaker`` is "user" or "persona".
            Plain dicts with ``speaker`` and ``text`` are accepted too.
        persona: The persona who spoke the persona turns.

    Returns:
        The report in mode "conversation", with ``undiscovered`` set.

    Raises:
        ScoringInputError: An empty transcript, a turn of the wrong shape, no
            user text, or more than 5,000 words in all.

    """
    checked = _check_turns(turns)
    persona = _check_persona(persona)
    facts = d.persona_facts(persona)
    docs = analyse_many([t.text for t in checked])
    all_utts = [
        d.make_utterance(t.text, doc, persona)
        for t, doc in zip(checked, docs)  # noqa: B905
    ]
    user_idx = [
        i for i, t in enumerate(checked) if t.speaker == "user" and t.text.strip()
    ]
    utts = [all_utts[i] for i in user_idx]
    user_words = sum(u.words for u in utts)
    persona_words = sum(
        u.words
        for u, t in zip(all_utts, checked)  # noqa: B905
        if t.speaker == "persona"
    )
    longest = max(u.words for u in utts)

    # A question on the persona's work (a follow-up included) is also the
    # "work" small-talk topic.
    discovery = _discovery_in_conversation(checked, all_utts, user_idx, facts)
    found: Dict[str, Found] = {
        "states_name": _first(utts, d.detect_name),
        "states_role": _first(utts, d.detect_role),
        "key_message": _first(utts, d.detect_key_message),
        "spark_interest": _spark_in_conversation(checked, all_utts, user_idx),
        "shared_passion": _first(utts, lambda u: d.detect_shared_passion(u, facts)),
        "conversation_hook": _first(utts, d.detect_hook),
        "pitch_length": (0, d.Hit(1.0 if longest <= 80 else 80 / longest)),
        "discovers_interests": discovery,
        "shares_own_interests": _first(utts, d.detect_own_interests),
        "names_common_ground": _first(utts, lambda u: d.detect_common_ground(u, facts)),
        "builds_on_common_ground": _builds_in_conversation(
            checked, all_utts, user_idx, facts
        ),
        "open_questions": _open_questions(utts),
        "follow_up": _follow_up(checked, all_utts, user_idx, utts),
        "turn_balance": (0, _balance_hit(user_words, persona_words)),
        "small_talk_topics": _first(utts, _first_topic) or discovery,
        "graceful_close": _close(utts),
    }
    persona_mentions = [
        m
        for u, t in zip(all_utts, checked)  # noqa: B905 (3.8 has no strict=)
        if t.speaker == "persona"
        for m in u.mentions
        if not m.negated
    ]
    user_mentions = [m for u in utts for m in u.mentions]
    interest = _common_ground_interest(
        persona, user_mentions
    ) or _common_ground_interest(persona, persona_mentions)
    tip_vars = persona_vars(persona, interest)
    tip_vars["length_tip"] = _length_tip("conversation", user_words, longest)
    share = user_words / max(1, user_words + persona_words)
    tip_vars["balance_tip"] = (
        f"You spoke {round(share * 100)}% of the words: ask {persona.first_name} "
        f"a question and let {tip_vars['obj']} talk."
        if share > BALANCE_RANGE[1]
        else f"You spoke only {round(share * 100)}% of the words: share a little "
        "more about your own work."
    )
    report = _assemble("conversation", persona, found, utts, tip_vars, user_words)
    report.undiscovered = undiscovered_interests(checked, persona)
    report.stretch = _stretch_for(report, persona, tip_vars)
    # The tip for common ground names an interest the persona brought up.
    missed = [
        i
        for i in _persona_raised(checked, all_utts)
        if i not in {m.interest for m in user_mentions if not m.negated}
    ]
    if missed:
        crit = report.criteria()["names_common_ground"]
        if not crit.met:
            crit.tip = (
                f"{persona.first_name} mentioned {missed[0]}: ask "
                f"{tip_vars['obj']} about it."
            )
    logger.debug("scored conversation for persona %s: %d", persona.id, report.overall)
    return report


def _first_topic(utt: d.Utterance) -> Optional[d.Hit]:
    """Weather, sports, travel, the conference, or work (a question about it)."""
    for sentence in utt.sentences:
        hit = d.topic_match(sentence, include_conference=True)
        if hit is not None:
            return hit
    return d.detect_discovery(utt)


def _follow_up_question(utt: d.Utterance, previous: d.Utterance) -> Optional[d.Hit]:
    """A question that picks up what the persona just said, not small talk.

    "ninety beds! whats the wait like" asks about the persona's work although
    it names neither "you" nor the work.
    """
    asks = [
        s
        for s in utt.sentences
        if s.asks
        and not s.pleasantry
        and d.topic_match(s, include_conference=True) is None
    ]
    if not asks or d.follow_up_hit(utt, previous) is None:
        return None
    return d.Hit(1.0, asks[0].start, asks[0].end)


def _discovery_in_conversation(
    turns: Sequence[Turn],
    all_utts: Sequence[d.Utterance],
    user_idx: Sequence[int],
    facts: d.PersonaFacts,
) -> Found:
    """A question about the persona's work or interests, or a follow-up on them."""
    found = _first(
        [all_utts[i] for i in user_idx], lambda u: d.detect_discovery(u, facts)
    )
    if found is not None:
        return found
    for position, turn_index in enumerate(user_idx):
        previous = turn_index - 1
        if previous < 0 or turns[previous].speaker != "persona":
            continue
        hit = _follow_up_question(all_utts[turn_index], all_utts[previous])
        if hit is not None:
            return (position, hit)
    return None


def _spark_in_conversation(
    turns: Sequence[Turn], all_utts: Sequence[d.Utterance], user_idx: Sequence[int]
) -> Found:
    for position, turn_index in enumerate(user_idx):
        previous = turn_index - 1
        context = (
            turns[previous].text
            if previous >= 0 and turns[previous].speaker == "persona"
            else ""
        )
        hit = d.detect_spark(all_utts[turn_index], context)
        if hit is not None:
            return (position, hit)
    return None


def _balance_hit(user_words: int, persona_words: int) -> d.Hit:
    total = user_words + persona_words
    share = user_words / total if total else 1.0
    low, high = BALANCE_RANGE
    if share < low:
        return d.Hit(share / low)
    if share > high:
        return d.Hit((1 - share) / (1 - high))
    return d.Hit(1.0)


def _open_questions(utts: Sequence[d.Utterance]) -> Found:
    found = [(i, s) for i, u in enumerate(utts) for s in d.detect_open_questions(u)]
    if not found:
        return None
    index, sentence = found[0]
    return (index, d.Hit(min(1.0, len(found) / 2), sentence.start, sentence.end))


def _follow_up(
    turns: Sequence[Turn],
    all_utts: Sequence[d.Utterance],
    user_idx: Sequence[int],
    utts: Sequence[d.Utterance],
) -> Found:
    for position, turn_index in enumerate(user_idx):
        previous = turn_index - 1
        if previous < 0 or turns[previous].speaker != "persona":
            continue
        hit = d.follow_up_hit(all_utts[turn_index], all_utts[previous])
        if hit is not None:
            return (position, hit)
    return None


def _close(utts: Sequence[d.Utterance]) -> Found:
    start = max(0, len(utts) - 2)
    for index in range(len(utts) - 1, start - 1, -1):
        hit = d.detect_close(utts[index])
        if hit is not None:
            return (index, hit)
    return None


def _builds_in_conversation(
    turns: Sequence[Turn],
    all_utts: Sequence[d.Utterance],
    user_idx: Sequence[int],
    facts: d.PersonaFacts,
) -> Found:
    """Find a question about a shared interest, or staying on it across turns."""
    mentioned_before: set = set()
    user_mentioned: set = set()
    positions = {turn_index: pos for pos, turn_index in enumerate(user_idx)}
    for turn_index, utt in enumerate(all_utts):
        live = d.live_mentions(utt, facts)
        if turn_index in positions:
            pos = positions[turn_index]
            hit = d.detect_builds_single(utt, facts)
            if hit is not None:
                return (pos, hit)
            asks = [s for s in utt.sentences if s.asks]
            previous = turn_index - 1
            if previous >= 0 and turns[previous].speaker == "persona":
                # The persona answered on the user's topic and the user asks on.
                earlier = {m.interest for m in d.live_mentions(all_utts[previous])}
                if earlier & user_mentioned:
                    hit = _follow_up_question(utt, all_utts[previous])
                    if hit is not None:
                        interest = sorted(earlier & user_mentioned)[0]
                        return (pos, d.Hit(1.0, hit.start, hit.end, interest))
            for mention in live:
                if mention.interest in user_mentioned or (
                    mention.interest in mentioned_before and asks
                ):
                    sentence = utt.sentence_at(mention.start)
                    target = asks[0] if asks else sentence
                    if target is not None:
                        return (
                            pos,
                            d.Hit(1.0, target.start, target.end, mention.interest),
                        )
            user_mentioned.update(m.interest for m in live)
        mentioned_before.update(m.interest for m in live)
    return None


def _persona_raised(
    turns: Sequence[Turn], all_utts: Sequence[d.Utterance]
) -> List[str]:
    raised: List[str] = []
    for turn, utt in zip(turns, all_utts):  # noqa: B905 (3.8 has no strict=)
        if turn.speaker != "persona":
            continue
        for mention in utt.mentions:
            if not mention.negated and mention.interest not in raised:
                raised.append(mention.interest)
    return raised


def undiscovered_interests(turns: Sequence[Turn], persona: Persona) -> List[str]:
    """Persona interests (open and hidden) that never came up.

    An interest counts as discovered when the persona named it in one of its
    turns, or the user named it without negation (asked about it or said they
    share it). "I don't like hiking" does not discover Priya's hiking.

    Args:
        turns: The conversation so far.
        persona: The persona.

    Returns:
        The undiscovered interests, in the persona's order.

    """
    checked = [t for t in _check_turns(turns)] if turns else []
    texts = [t.text for t in checked]
    seen = set()
    if texts:
        for doc in analyse_many(texts):
            for mention in d.mentions_in_doc(doc, persona):
                if not mention.negated:
                    seen.add(mention.interest)
    return [i for i in persona.all_interests if i not in seen]


def _stretch_for(report: ScoreReport, persona: Persona, values: Dict[str, str]) -> str:
    from introcoach.scoring.feedback import ranked_missed
    from introcoach.scoring.rubric import stretch_templates

    missed = ranked_missed(report)
    if len(missed) > 2 and missed[2].tip:
        return missed[2].tip
    templates = stretch_templates()
    hint_values = dict(values)
    hint_values["hidden_hint"] = fill(templates["hidden_hint"], values)
    return fill(templates[report.mode], hint_values)
