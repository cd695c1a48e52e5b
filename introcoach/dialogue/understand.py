"""What the trainee just said, as the persona hears it.

Rasa's intent says which move family fits; this module reads the words
themselves, so a message that does several things ("hey im jo, recovry coach
at the shelter, hows your week going") is heard whole: the greeting, the
name, the role and the question. Everything is rules and small word lists in
``understanding.yml`` beside this module, so it runs in well under a
millisecond and needs no model.

Example:
    >>> heard = hear("hey im jo, recovry coach at the shelter, hows your week going",
    ...              get_persona("dana"))
    >>> heard.name, heard.role, heard.question.topic
    ('Jo', 'recovery coach', 'wellbeing')
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from introcoach.personas import STANDARD_TOPICS, Persona

UNDERSTANDING_FILE = Path(__file__).with_name("understanding.yml")
SMALL_TALK_TOPICS = ("name", "wellbeing", "interests", "sports", "weather", "family")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;\n])\s+|\s*\n\s*")
_COMMA = re.compile(
    r",\s*|\s+-+\s+|\s+(?:and|but|so)\s+(?=(?:how|what|where|why|when|who|which|do|does|did|are|is|have|has|can|could|would|will)\b)"
)


@functools.lru_cache(maxsize=1)
def lexicon() -> Dict[str, Any]:
    """The word lists, read once per process.

    Read with YAML's base loader: every value is a string, so words like
    "yes", "no" and "on" stay words instead of becoming booleans.
    """
    with UNDERSTANDING_FILE.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=yaml.BaseLoader)  # noqa: S506 (no objects)


def words(text: str) -> List[str]:
    """Lower-case words with common chat spellings normalised ("ur" -> "your")."""
    fixes = lexicon()["spelling"]
    out: List[str] = []
    for word in _WORD.findall(text.lower().replace("’", "'")):
        fixed = fixes.get(word, word)
        out.extend(str(fixed).split())
    return out


@dataclass
class Question:
    """A question the trainee put to the persona."""

    text: str
    topic: Optional[str]
    score: float
    follow_up: bool = False
    #: The topic the words matched before an interest took over, if any.
    matched_topic: Optional[str] = None


@dataclass
class Heard:
    """Everything the persona took from one trainee message."""

    text: str
    intent: Optional[str] = None
    greeting: bool = False
    name: Optional[str] = None
    role: Optional[str] = None
    role_known: bool = False
    organization: Optional[str] = None
    question: Optional[Question] = None
    asked_back: bool = False
    feeling: Optional[str] = None
    thanks: bool = False
    congrats: bool = False
    empathy: bool = False
    acknowledgement: bool = False
    yes: bool = False
    no: bool = False
    likes: List[str] = field(default_factory=list)
    dislikes: List[str] = field(default_factory=list)
    their_interest: Optional[str] = None
    their_dislike: Optional[str] = None
    asked_about: List[str] = field(default_factory=list)
    goodbye: bool = False
    contact: bool = False
    me_too: bool = False
    relief: bool = False
    #: The persona's own reaction (an index into ``persona.reactions``) that
    #: what they told it calls for, if any.
    reaction: Optional[int] = None
    #: Good news of their own ("just got certified").
    good_news: bool = False
    #: They said they work where the persona works.
    same_org: bool = False
    #: "nice to meet you", a goodbye once the conversation is under way.
    nice_to_meet: bool = False

    @property
    def introduced(self) -> bool:
        """Whether they said anything about who they are."""
        return bool(self.name or self.role or self.role_known or self.organization)


# -- small pattern helpers ------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _pattern(key: str) -> re.Pattern:
    alternatives = lexicon()["patterns"][key]
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.I)


def has_pattern(key: str, text: str) -> bool:
    """Whether a word pattern under ``key`` in understanding.yml is in the text."""
    return bool(_pattern(key).search(text.replace("’", "'")))


_has = has_pattern


def clauses(text: str) -> List[str]:
    """Sentences, and comma-run-on clauses that start a new question."""
    found: List[str] = []
    for sentence in _CLAUSE_SPLIT.split(text.strip()):
        parts = [p for p in _COMMA.split(sentence) if p and p.strip()]
        merged: List[str] = []
        for part in parts:
            if merged and not _starts_question(part) and not _starts_statement(part):
                merged[-1] = f"{merged[-1]}, {part.strip()}"
            else:
                merged.append(part.strip())
        found.extend(merged)
    return [c for c in found if c]


_OPENERS = (
    "so",
    "and",
    "but",
    "oh",
    "wait",
    "sorry",
    "also",
    "um",
    "hey",
    "ok",
    "okay",
    "btw",
    "hmm",
    "ha",
    "haha",
    "lol",
    "well",
    "anyway",
    "really",
    "aw",
    "aww",
    "awww",
    "omg",
    "ooh",
    "oooh",
    "wow",
    "ahh",
    "ah",
)


def _strip_openers(tokens: List[str]) -> List[str]:
    while tokens and tokens[0] in _OPENERS:
        tokens = tokens[1:]
    return tokens


def _starts_question(clause: str) -> bool:
    tokens = _strip_openers(words(clause))
    if not tokens:
        return False
    starters = lexicon()["question_starts"]
    if tokens[0] in starters["wh"]:
        return True
    if tokens[0] == "any" and 1 < len(tokens) <= 8:
        return True  # "any remote jobs or all in person"
    if tokens[0] in starters["aux"] and len(tokens) > 1:
        return tokens[1] in starters["subjects"]
    return (
        " ".join(tokens[:2]) in starters["phrases"]
        or " ".join(tokens[:3]) in starters["phrases"]
    )


def _starts_statement(clause: str) -> bool:
    tokens = words(clause)
    return bool(tokens) and tokens[0] in ("i", "im", "i'm", "my", "we", "our")


def _echo(clause: str) -> bool:
    """Whether a clause only says a word back ("Baseball?"): not a question."""
    return (
        len(words(clause)) <= 2
        and not _starts_question(clause)
        and not _is_follow_up(clause)
    )


def is_question(clause: str) -> bool:
    """A question, with or without its question mark."""
    return (
        clause.rstrip().endswith("?")
        or _starts_question(clause)
        or _has("indirect_question", clause)
    )


# -- topics ---------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    if (
        min(len(a), len(b)) >= 4
        and abs(len(a) - len(b)) <= 3
        and (a.startswith(b) or b.startswith(a))
    ):
        return True  # "house"/"houses", "work"/"working"; not "after"/"afternoon"
    if min(len(a), len(b)) >= 5 and a[0] == b[0]:
        # A typo ("recovry"), not a different word ("raining"/"trainings").
        return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8
    return False


def word_weight(word: str) -> float:
    """How much a word carries of a question's meaning (light words a quarter)."""
    light = lexicon()["light_words"]
    return 0.25 if word in light else 1.0


@functools.lru_cache(maxsize=8192)
def _ask_words(ask: str) -> Tuple[str, ...]:
    return tuple(words(ask))


def ask_score(clause_words: Sequence[str], ask: str) -> float:
    """How well a clause matches one way of asking (0..1)."""
    ask_words = _ask_words(ask)
    if not ask_words:
        return 0.0
    total = matched = content = content_total = 0.0
    for word in ask_words:
        weight = word_weight(word)
        total += weight
        content_total += weight == 1.0
        if any(_similar(word, other) for other in clause_words):
            matched += weight
            if weight == 1.0:
                content += 1
    if content == 0:
        # An ask of only light words ("what do you do") must match whole, and
        # the clause may not add words that change it ("... outside work").
        extra = [
            w
            for w in clause_words
            if word_weight(w) == 1.0 and w not in lexicon()["filler_words"]
        ]
        return 1.0 if matched == total and not extra else 0.0
    # Content words carry the meaning: "do you hire peers" is not asked by
    # "what about peers on the crisis line", though most of its words are there.
    score = matched / total
    if content_total >= 3 and content / content_total < 0.5:
        score *= 0.7
    return score


def topic_asks(persona: Persona) -> Dict[str, Tuple[str, ...]]:
    """Every topic the persona can be asked about, with its ways of asking."""
    shared = lexicon()["topic_asks"]
    asks: Dict[str, Tuple[str, ...]] = {}
    for key in SMALL_TALK_TOPICS + STANDARD_TOPICS:
        asks[key] = tuple(shared.get(key, ()))
    for key, topic in persona.topics.items():
        asks[key] = asks.get(key, ()) + topic.asks
    return asks


_SUFFIX = re.compile(r"(?:'s|ing|ed|es|s)$")


@functools.lru_cache(maxsize=1)
def _concepts() -> Dict[str, str]:
    return {
        word: concept
        for concept, members in lexicon()["concepts"].items()
        for word in members
    }


@functools.lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """A crude stem, enough to pair "houses"/"house", "working"/"work".

    Words of one concept share a stem ("qualifies" and "eligibility").
    """
    concept = _concepts().get(word)
    if concept is not None:
        return concept
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    cut = _SUFFIX.sub("", word) if len(word) > 4 else word
    return cut[:6]


_IDF_CACHE: Dict[Tuple[str, int], Dict[str, float]] = {}


def _idf(persona: Persona) -> Dict[str, float]:
    """How rare each word stem is across everything the persona can be asked."""
    key = (persona.id, id(persona))
    found = _IDF_CACHE.get(key)
    if found is None:
        asks = [a for group in topic_asks(persona).values() for a in group]
        counts: Dict[str, int] = {}
        for ask in asks:
            for s in {stem(w) for w in _ask_words(ask)}:
                counts[s] = counts.get(s, 0) + 1
        total = max(1, len(asks))
        found = {s: math.log(total / n) + 1.0 for s, n in counts.items()}
        _IDF_CACHE.clear() if len(_IDF_CACHE) > 64 else None
        _IDF_CACHE[key] = found
    return found


# Words too common in chat to make two sentences about the same thing.
_COMMON = frozenset(
    "im i'm from we our they them their people not no yes all some one out up "
    "back go going want know think need make lot lol haha because but if then "
    "than as by into off here us we're they're it's its right now today tho "
    "though ok okay cool yeah guys kind sort thing things much many long time "
    "times take takes way good great nice best new tonight tomorrow morning night "
    "later week weekend".split()
)


def _shared_stems(question: str, text: str) -> Set[str]:
    """Meaningful word stems a question and a sentence have in common."""
    asked = {
        stem(w)
        for w in words(question)
        if word_weight(w) == 1.0 and w not in _COMMON and len(w) > 2
    }
    return asked & {stem(w) for w in words(text)}


def rare_overlap(question: str, text: str, persona: Persona) -> float:
    """How much rare meaning a question and a sentence share (0 when none)."""
    idf = _idf(persona)
    top = max(idf.values(), default=1.0)
    return sum(idf.get(s, top) for s in _shared_stems(question, text))


_DF_CACHE: Dict[Tuple[str, int], Dict[str, int]] = {}
#: A word in more of the persona's answers than this is its field's everyday
#: vocabulary ("peer", "houses"), not the detail a question is about ("wait").
MAX_DETAIL_ANSWERS = 3


def _answer_df(persona: Persona) -> Dict[str, int]:
    """In how many of the persona's answers each word stem appears."""
    key = (persona.id, id(persona))
    found = _DF_CACHE.get(key)
    if found is None:
        found = {}
        answers = [a for t in persona.topics.values() for a in t.answers]
        answers += [a for k in persona.knowledge.values() for a in k.answers]
        for answer in answers:
            for s in {stem(w) for w in words(answer)}:
                found[s] = found.get(s, 0) + 1
        if len(_DF_CACHE) > 64:
            _DF_CACHE.clear()
        _DF_CACHE[key] = found
    return found


def detail_overlap(question: str, text: str, persona: Persona) -> float:
    """Like :func:`rare_overlap`, counting only words rare in the persona's answers.

    "How long is the wait right now?" and "...then a wait: a men's bed usually
    opens up in three to five weeks" share "wait", a detail; "how did you get
    into peer work" and any sentence with "peer" in it share only the field.
    """
    idf = _idf(persona)
    df = _answer_df(persona)
    top = max(idf.values(), default=1.0)
    return sum(
        idf.get(s, top)
        for s in _shared_stems(question, text)
        if df.get(s, 0) <= MAX_DETAIL_ANSWERS
    )


def _weight(word: str, idf: Mapping[str, float]) -> float:
    if word_weight(word) < 1.0 or word in _COMMON:
        return 0.2
    return idf.get(stem(word), max(idf.values(), default=1.0))


_PAIRS_CACHE: Dict[Tuple[str, int], Dict[str, Tuple[Tuple[str, float], ...]]] = {}


def _pairs(
    words_in: Sequence[str], idf: Mapping[str, float]
) -> Tuple[Tuple[str, float], ...]:
    return tuple((stem(w), _weight(w, idf)) for w in words_in)


def _ask_pairs(ask: str, persona: Persona) -> Tuple[Tuple[str, float], ...]:
    """An ask's (stem, weight) pairs, worked out once per persona."""
    key = (persona.id, id(persona))
    cache = _PAIRS_CACHE.get(key)
    if cache is None:
        if len(_PAIRS_CACHE) > 64:
            _PAIRS_CACHE.clear()
        cache = _PAIRS_CACHE[key] = {}
    found = cache.get(ask)
    if found is None:
        found = cache[ask] = _pairs(_ask_words(ask), _idf(persona))
    return found


def _f_measure(
    clause: Tuple[Tuple[str, float], ...], ask: Tuple[Tuple[str, float], ...]
) -> float:
    if not clause or not ask:
        return 0.0
    clause_stems = {s for s, _ in clause}
    ask_stems = {s for s, _ in ask}
    recall = sum(w for s, w in ask if s in clause_stems) / sum(w for _, w in ask)
    precision = sum(w for s, w in clause if s in ask_stems) / sum(
        w for _, w in clause
    )
    if not recall or not precision:
        return 0.0
    return 2 * recall * precision / (recall + precision)


def specific_score(clause_words: Sequence[str], ask: str, persona: Persona) -> float:
    """How well a clause and one specific way of asking match, both ways (0..1).

    Rare words count most ("detox", "women's", "degree"): the F-measure of
    the ask's words found in the clause and the clause's words found in the ask.
    """
    clause = _pairs(clause_words, _idf(persona))
    return _f_measure(clause, _ask_pairs(ask, persona))


MIN_SPECIFIC_SCORE = 0.5
#: A specific match this good wins even over a broad topic matched whole.
STRONG_SPECIFIC_SCORE = 0.75

def match_knowledge(clause: str, persona: Persona) -> Tuple[Optional[str], float]:
    """The persona's specific answer that a question asks for, if any."""
    clause_words = [w for w in words(clause) if w not in lexicon()["filler_words"]]
    pairs = _pairs(clause_words, _idf(persona))
    best: Tuple[Optional[str], float] = (None, 0.0)
    for key, item in persona.knowledge.items():
        for ask in item.asks:
            score = _f_measure(pairs, _ask_pairs(ask, persona))
            if score > best[1] * 0.75:
                score *= _wh_fit(clause_words, ask)
            if score > best[1]:
                best = (key, score)
    return best if best[1] >= MIN_SPECIFIC_SCORE else (None, best[1])


INTENT_TOPICS = {
    "ask_persona_work": "day_to_day",
    "ask_persona_organization": "organization",
    "ask_persona_interests": "interests",
    "ask_conference": "session",
    "ask_travel": "trip",
    "ask_weather": "weather",
    "ask_sports": "sports",
    "ask_wellbeing": "wellbeing",
}
MIN_TOPIC_SCORE = 0.6
STRONG_TOPIC_SCORE = 0.85


def match_topic(
    clause: str, persona: Persona, intent: Optional[str] = None
) -> Tuple[Optional[str], float]:
    """The topic a question asks about, and how sure the match is."""
    clause_words = words(clause)
    prior = INTENT_TOPICS.get(intent or "")
    pairs = _pairs(
        [w for w in clause_words if w not in lexicon()["filler_words"]], _idf(persona)
    )
    best: Tuple[Optional[str], float] = (None, 0.0)
    for key, asks in topic_asks(persona).items():
        score = max(
            (
                _wh_fit(clause_words, ask)
                * max(
                    ask_score(clause_words, ask),
                    _f_measure(pairs, _ask_pairs(ask, persona)),
                )
                for ask in asks
            ),
            default=0.0,
        )
        if key == prior and score > 0:
            score += 0.15
        if score > best[1]:
            best = (key, score)
    specific, sure = match_knowledge(clause, persona)
    if specific is not None and (
        sure >= min(best[1] - 0.15, STRONG_SPECIFIC_SCORE) or best[1] < MIN_TOPIC_SCORE
    ):
        # A specific question answered specifically beats the broad topic.
        return specific, max(sure, MIN_TOPIC_SCORE)
    if best[1] < MIN_TOPIC_SCORE:
        return None, best[1]
    return best


def _wh_fit(clause_words: Sequence[str], ask: str) -> float:
    """Less credit when the question word differs.

    "What are you doing after this" is not "how are you doing".
    """
    wh = set(lexicon()["question_starts"]["wh"])
    ask_wh = next((w for w in _ask_words(ask)[:2] if w in wh), None)
    said_wh = next((w for w in _strip_openers(list(clause_words))[:2] if w in wh), None)
    if ask_wh and said_wh and ask_wh != said_wh:
        return 0.75
    return 1.0


MIN_REACTION_SCORE = 0.7


def _shared_content(clause_words: Sequence[str], phrase: str) -> int:
    """How many meaningful words a clause and a phrase share."""
    mine = {stem(w) for w in clause_words if word_weight(w) == 1.0 and w not in _COMMON}
    return len(mine & {stem(w) for w in _ask_words(phrase)})


def match_reaction(statements: Sequence[str], persona: Persona) -> Optional[int]:
    """The persona's reaction that best fits what the trainee told it, if any."""
    best: Tuple[Optional[int], float] = (None, 0.0)
    for clause in statements:
        clause_words = words(clause)
        if len(clause_words) < 3:
            continue
        for index, reaction in enumerate(persona.reactions):
            score = max(
                max(
                    ask_score(clause_words, hears),
                    specific_score(clause_words, hears, persona)
                    if _shared_content(clause_words, hears) >= 2
                    else 0.0,
                )
                for hears in reaction.hears
            )
            if score > best[1]:
                best = (index, score)
    return best[0] if best[1] >= MIN_REACTION_SCORE else None


def _is_follow_up(clause: str) -> bool:
    tokens = _strip_openers(words(clause))
    if len(tokens) > 9:
        return False
    return bool(set(tokens) & set(lexicon()["follow_up_words"])) or _has(
        "follow_up", clause
    )


# -- who the trainee is -------------------------------------------------------------


def _clean_name(candidate: str, persona: Persona) -> Optional[str]:
    word = candidate.strip(" ,.!'\"")
    stop = set(lexicon()["not_names"])
    if not word.isalpha() or word.lower() in stop or len(word) < 2:
        return None
    if word.lower() in {w.lower() for w in persona.name.split()}:
        return None
    if len(word) == 2 and not re.search(r"[aeiouy]", word, re.I):
        return word.upper()  # "cj" is CJ
    return word[:1].upper() + word[1:]


def plausible_name(value: str, persona: Persona) -> Optional[str]:
    """A name from elsewhere (Rasa's ``user_name`` slot), if it looks like one.

    Rasa once filled the slot with "tamales" from "my abuela's tamales": a
    lower-case word that is not a known first name is not trusted.
    """
    value = (value or "").strip()
    if " " in value:
        value = value.split()[0]
    name = _clean_name(value, persona)
    known = set(lexicon()["first_names"])
    if name and (value[:1].isupper() or value.lower() in known):
        return name
    return None


_NAME_AFTER = re.compile(
    r"\b(?:i'?m|i am|my name is|my name's|name's|this is|call me)\s+"
    r"([A-Za-z][a-z'A-Z-]*)"
    r"(?=\s*(?:[,.!?;]|$|and\b|from\b|i\b|i'm\b|im\b|here\b|btw\b|by the way\b|-))",
    re.I,
)


def find_name(
    text: str, persona: Persona, rasa_names: Iterable[str] = ()
) -> Optional[str]:
    """The trainee's first name, only when it is a clean single word."""
    known = set(lexicon()["first_names"])
    for match in _NAME_AFTER.finditer(text.replace("’", "'")):
        raw = match.group(1)
        name = _clean_name(raw, persona)
        after = text[match.end(1) : match.end(1) + 2]
        if (
            name
            and raw.islower()
            and raw.lower() not in known
            and (
                after.startswith((",", "."))
                or not after.strip()
                or text[match.end(1) :].lstrip().lower().startswith(("btw", "by the"))
            )
            and not re.search(r"(?:ed|ing|ous|ful|ive|ly|ish|less)$", raw.lower())
            and len(raw) <= 10
        ):
            # "im gabe, I get people..." : a lower-case word before a comma.
            return name
        if name and (
            raw[0].isupper()
            or raw.lower() in known
            or match.group(0).lower().startswith(("my name", "name", "call me"))
        ):
            return name
    for value in rasa_names:
        value = str(value).strip()
        if " " in value:
            continue
        name = _clean_name(value, persona)
        if (
            name
            and re.search(rf"\b{re.escape(value)}\b", text, re.I)
            and (value[0].isupper() or value.lower() in known)
        ):
            return name
    return None


def _fix_spelling(phrase: str) -> str:
    fixes = lexicon()["role_spelling"]
    return " ".join(fixes.get(w, w) for w in phrase.lower().split())


def find_role(text: str) -> Tuple[Optional[str], bool]:
    """A role that reads cleanly after "a"/"an", and whether any role was said.

    Returns:
        ``(role, known)``: the role as a clean phrase ("recovery coach") or
        None, and True when they described their work in any form.
    """
    lowered = text.lower().replace("’", "'")
    heads = lexicon()["role_heads"]
    head_alt = "|".join(sorted(heads, key=len, reverse=True))
    pattern = re.compile(
        r"(?:^|\b(?:i'?m|im|i am|i work as|work as|i'm working as|as)\s+"
        r"(?:a|an|the)?\s*|[,;]\s*(?:a|an)?\s*)"
        r"((?:(?!(?:"
        + "|".join(lexicon()["not_role_words"])
        + r")\b)[a-z-]+\s){0,3}(?:"
        + head_alt
        + r"))\b"
    )
    for match in pattern.finditer(_fix_spelling(lowered)):
        role = match.group(1).strip()
        first = role.split()[0]
        if first in lexicon()["not_role_starts"]:
            role = " ".join(role.split()[1:])
        if role and all(w.isalpha() or "-" in w for w in role.split()):
            return role, True
    return None, _has("role_activity", lowered)


def find_organization(
    text: str, persona: Persona, name: Optional[str]
) -> Optional[str]:
    """Where the trainee works, as a clean span ("Blue Harbor Clinic", "the shelter").

    A first name ("Jo") or the persona's own name is never taken for one.
    """
    match = re.search(
        r"\b(?:at|with|for|from)\s+((?:the\s+)?(?:[A-Z][\w&'.-]*)(?:\s+(?:of\s+|for\s+|and\s+|&\s+)?[A-Z][\w&'.-]*){0,5})",
        text,
    )
    if match:
        org = match.group(1).strip(" .,'")
        lowered = org.lower()
        bad = {persona.first_name.lower(), persona.name.lower(), (name or "").lower()}
        if lowered not in bad and lowered.split()[-1] not in lexicon()["not_org_words"]:
            return org
    place = re.search(
        r"\b(?:at|with|for)\s+(?:the|a|our)\s+("
        + "|".join(lexicon()["generic_places"])
        + r")\b",
        text,
        re.I,
    )
    if place:
        return "the " + place.group(1).lower()
    return None


# -- the whole message ----------------------------------------------------------


def _feeling(text: str) -> Optional[str]:
    for kind in lexicon()["feelings"]:
        for match in _pattern(f"feeling_{kind}").finditer(text.replace("’", "'")):
            before = text[max(0, match.start() - 12) : match.start()].lower()
            if not re.search(
                r"\b(?:less|no longer|not|never)\s+(?:so\s+|as\s+)?$", before
            ):
                return str(kind)
    return None


def _interest_by_stem(text: str, persona: Persona) -> Tuple[Optional[str], int]:
    """An interest named by a word's stem ("i backpack too": backpacking), and where."""
    lowered = text.lower()
    for label in persona.all_interests:
        for variant in (label, *persona.keywords_for(label)):
            if " " in variant or len(variant) < 5:
                continue
            found = re.search(rf"\b{re.escape(stem(variant.lower()))}", lowered)
            if found:
                return label, found.start()
    return None, 0


def _interest_mentions(text: str, persona: Persona) -> Tuple[List[str], List[str]]:
    # Imported here: the scoring package builds its spaCy pipeline lazily, and
    # importing it at module level would make the dialogue import spaCy at start.
    from introcoach.scoring import find_interest_mentions

    likes: List[str] = []
    dislikes: List[str] = []
    for mention in find_interest_mentions(text, persona):
        negated = mention.negated or _disliked_near(text, mention.start, mention.end)
        target = dislikes if negated else likes
        if mention.interest not in target:
            target.append(mention.interest)
    if not likes and not dislikes:
        label, at = _interest_by_stem(text, persona)
        if label is not None:
            disliked = _disliked_near(text, at, at + len(label))
            (dislikes if disliked else likes).append(label)
    likes = [i for i in likes if i not in dislikes]
    return likes, dislikes


def _disliked_near(text: str, start: int, end: int) -> bool:
    """Whether a dislike is said next to a mention ("Baseball? Never liked it.")."""
    after = text[end : end + 45]
    before = text[max(0, start - 40) : start]
    return _has("dislike_after", after) or _has("dislike_before", before)


# Hobbies said as verbs ("i ride too"), as they read in a sentence.
_GERUNDS = {
    "ride": "riding",
    "run": "running",
    "hike": "hiking",
    "cook": "cooking",
    "bake": "baking",
    "swim": "swimming",
    "paint": "painting",
    "read": "reading",
    "write": "writing",
    "knit": "knitting",
    "dance": "dancing",
    "fish": "fishing",
    "garden": "gardening",
    "draw": "drawing",
    "sing": "singing",
    "climb": "climbing",
    "bike": "biking",
    "walk": "walking",
    "skate": "skating",
    "surf": "surfing",
    "ski": "skiing",
    "camp": "camping",
    "golf": "golf",
    "lift": "lifting",
    "box": "boxing",
    "sew": "sewing",
    "crochet": "crocheting",
}


def _their_interest(
    text: str, rasa_interests: Iterable[str], persona: Persona
) -> Tuple[Optional[str], Optional[str]]:
    for value in rasa_interests:
        value = " ".join(str(value).split()).strip(" .,!?")
        if (
            not value
            or len(value.split()) > 3
            or not re.fullmatch(r"[A-Za-z' -]+", value)
        ):
            continue
        if value.lower() in lexicon()["not_interests"]:
            continue
        at = text.lower().find(value.lower())
        value = _GERUNDS.get(value.lower(), value)  # "i ride too" -> riding
        if at < 0:
            continue
        if _disliked_near(text, at, at + len(value)) or _has(
            "dislike_before", text[max(0, at - 30) : at]
        ):
            return None, value.lower()
        return value.lower(), None
    return None, None


_NOT_MY_THING = re.compile(
    r"\b([a-z]{3,20}(?: [a-z]{3,20})?) (?:is|are|'s|isnt|isn't) "
    r"(?:just |really |honestly |totally )?(?:not |never been )?(?:really )?"
    r"my (?:thing|jam|scene|cup of tea)",
    re.I,
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|ive|me|my)\b", re.I)
_LOVE = re.compile(
    r"\bi (?:really |just |also |totally )?(?:love|like|enjoy|am into|'m into|m into)"
    r" ([a-z][a-z' -]{2,30}?)"
    r"(?=\s*(?:[.!,?;]|$|\btoo\b|\bas well\b|\bso much\b|\btbh\b))",
    re.I,
)


def _said_they_love(text: str) -> Optional[str]:
    """An interest of theirs the persona does not share ("i love ethiopian food")."""
    match = _LOVE.search(text)
    if not match:
        return None
    phrase = match.group(1).strip().lower()
    tokens = phrase.split()
    skip = set(lexicon()["not_interests"]) | set(lexicon()["light_words"])
    if not 1 <= len(tokens) <= 3 or tokens[0] in skip or tokens[-1] in skip:
        return None
    return phrase


def hear(
    text: str,
    persona: Persona,
    intent: Optional[str] = None,
    entities: Optional[Dict[str, List[str]]] = None,
) -> Heard:
    """Read one trainee message.

    Args:
        text: The message as typed.
        persona: Who is listening (its topics and interests are matched).
        intent: Rasa's intent for the message, used as a prior.
        entities: Rasa's entity values by entity name.

    Returns:
        What the persona heard.
    """
    entities = entities or {}
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    heard = Heard(text=text, intent=intent)
    tokens = words(text)
    heard.greeting = bool(tokens) and tokens[0] in lexicon()["greetings"]
    heard.name = find_name(text, persona, entities.get("name", ()))
    statements = " . ".join(c for c in clauses(text) if not is_question(c))
    heard.role, heard.role_known = (
        find_role(statements) if statements else (None, False)
    )
    if not heard.role_known and entities.get("role") and intent == "introduce_self":
        heard.role_known = True
    heard.organization = (
        find_organization(statements, persona, heard.name) if statements else None
    )
    # A feeling is their own: "did you ever think about quitting?" asks.
    own_words = " . ".join(
        c for c in clauses(text) if not is_question(c) or _FIRST_PERSON.search(c)
    )
    # Typed fast ("5 yrs in recovry"): the patterns see the spelling fixed too.
    heard.feeling = (
        (_feeling(own_words) or _feeling(" ".join(words(own_words))))
        if own_words
        else None
    )
    heard.thanks = _has("thanks", text)
    heard.congrats = _has("congrats", text)
    heard.empathy = _has("empathy", text)
    # "good afternoon! no, I was in the one about supervision" says no.
    opening = _strip_openers([t for t in tokens if t not in lexicon()["greetings"]])
    heard.no = bool(tokens) and (
        tokens[0] in lexicon()["no_words"]
        or any(t in lexicon()["no_words"] for t in opening[:3])
    )
    heard.yes = (
        bool(tokens)
        and not heard.no
        and (tokens[0] in lexicon()["yes_words"] or _has("affirm", text))
    )
    heard.acknowledgement = len(tokens) <= 6 and _has("acknowledge", text)
    heard.likes, heard.dislikes = _interest_mentions(text, persona)
    asked = [c for c in clauses(text) if is_question(c) and not _echo(c)]
    # "...before discharge, or is that not a thing there?" asks; it does not
    # say they dislike discharge planning.
    heard.dislikes = [
        label
        for label in heard.dislikes
        if not any(_mentions(c, label, persona) for c in asked)
    ]
    if intent in (None, "share_interest"):
        # Rasa tags odd words as interests in other intents ("im not sure im
        # ready"): only a message about interests names one of theirs.
        heard.their_interest, heard.their_dislike = _their_interest(
            text, entities.get("interest", ()), persona
        )
    if (
        intent in (None, "share_interest")
        and heard.their_interest is None
        and heard.their_dislike is None
        and not heard.likes
        and not heard.dislikes
    ):
        heard.their_interest = _said_they_love(text)
    if heard.their_interest and any(
        heard.their_interest in persona.keywords_for(i) for i in heard.likes
    ):
        heard.their_interest = None
    best: Optional[Question] = None
    for clause in clauses(text):
        if not is_question(clause):
            continue
        if _has("coach_command", clause):
            continue
        words_in = words(clause)
        if _echo(clause):
            continue
        if len(words_in) <= 4 and set(words_in) <= {
            "you",
            "and",
            "how",
            "about",
            "what",
            "u",
            "yourself",
            "your",
        }:
            heard.asked_back = True
            continue
        topic, score = match_topic(clause, persona, intent)
        matched = topic
        about = [label for label in heard.likes if _mentions(clause, label, persona)]
        personal = [i for i in about if persona.interest(i).kind == "personal"]
        work = [i for i in about if persona.interest(i).kind == "work"]
        specific = persona.knowledge.get(topic or "")
        if specific is not None and specific.parent not in personal:
            # "do you travel a lot?" is about the interest itself, not the
            # next trip a specific answer happens to share a word with.
            generic_ask = score < STRONG_TOPIC_SCORE + 0.1
        else:
            generic_ask = False
        if personal and (
            topic in (None, "interests", "sports", "advice") or generic_ask
        ):
            heard.asked_about = personal
            topic = "interests"
        elif work and topic is None:
            # "do you ever have peers come in before discharge?": their own
            # field, asked about; their story of it answers best.
            heard.asked_about = work
            topic = "interests"
        follow = topic is None and _is_follow_up(clause)
        candidate = Question(
            clause, topic, score, follow_up=follow, matched_topic=matched
        )
        # The last real question wins: people end a turn with what they want answered.
        if best is None or topic is not None or best.topic is None:
            best = candidate
    heard.question = best
    heard.reaction = match_reaction(
        [c for c in clauses(text) if not is_question(c)], persona
    )
    # A long message that ends "take care" is more than a goodbye.
    heard.goodbye = _has("goodbye", text) and (len(tokens) <= 20 or intent == "goodbye")
    if heard.goodbye and heard.likes:
        # "i gotta run to a session" is no trail running.
        rest = _pattern("goodbye").sub(" ", text)
        heard.likes = [i for i in heard.likes if _mentions(rest, i, persona)]
    no_dislike = heard.their_dislike is None and not heard.dislikes
    said_first = _NOT_MY_THING.search(text)
    if no_dislike and said_first:
        # "golf is just not my thing"
        heard.their_dislike = said_first.group(1).lower()
        heard.their_interest = None
    elif no_dislike and _has("dislike_after", text):
        # "cycling? nah not really my thing": the word said back is the dislike.
        echoed = [c.strip(" ?!.").lower() for c in clauses(text) if _echo(c)]
        if echoed and re.fullmatch(r"[a-z][a-z' -]{2,30}", echoed[0]):
            heard.their_dislike = echoed[0]
            heard.their_interest = None
    heard.contact = _has("contact", text)
    # "nice to meet you" opens a conversation and, later on, closes one.
    heard.nice_to_meet = _has("late_nice_to_meet", text) and heard.question is None
    heard.me_too = _has("me_too", text)
    heard.relief = _has("relief", text)
    heard.good_news = _has("good_news", statements) if statements else False
    heard.same_org = bool(statements) and works_where(statements, persona)
    return heard


_GENERIC_ORG_WORDS = frozenset(
    "the of and at for st county state regional city center centre health "
    "behavioral behavioural medical network alliance services board inc".split()
)


def works_where(statements: str, persona: Persona) -> bool:
    """Whether they said they work at the persona's own organisation."""
    distinctive = [
        w for w in words(persona.organization) if w not in _GENERIC_ORG_WORDS
    ]
    if not distinctive:
        return False
    for clause in clauses(statements):
        lowered = clause.lower()
        said = re.search(
            r"\b(?:i work|i'?m|im|i am|i've been|ive been)\b[^.?!]{0,40}?"
            r"\b(?:at|with|for|from)\s+(?:the\s+)?(.+)$",
            lowered,
        )
        if said:
            hits = sum(w in words(said.group(1)) for w in distinctive)
            if hits >= min(2, len(distinctive)) and hits * 2 >= len(distinctive):
                return True
    return False


def _mentions(clause: str, label: str, persona: Persona) -> bool:
    lowered = clause.lower()
    return any(
        re.search(rf"\b{re.escape(k.lower())}", lowered)
        for k in persona.keywords_for(label)
    )


def is_venue_question(text: str) -> bool:
    """A question about the venue or logistics, which no persona would know."""
    return _has("venue", text)


_MEET = re.compile(
    r"\b(?:talk|speak|chat|practi[cs]e) (?:to|with)\b|\b(?:switch|swap|change) to\b|"
    r"\b(?:can|could|may) i meet\b|\bintroduce me\b|\bsomeone else\b",
    re.I,
)


def asks_to_meet(text: str) -> bool:
    """Whether the words ask to talk to someone ("can I talk to Marcus?")."""
    return bool(_MEET.search(text))


def is_coaching_command(text: str) -> bool:
    """Whether the words ask the coach for something (hint, feedback, rubric...)."""
    return _has("coach_command", text)
