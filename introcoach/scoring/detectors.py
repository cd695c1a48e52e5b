"""Rule detectors, one per rubric criterion, over one analysed utterance.

Each detector returns a :class:`Hit` (a score in 0..1 and the character span of
the evidence in the utterance text) or ``None``. Cue phrases come from
``lexicons/cues.yml``; persona-specific rules come from the persona data.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Pattern, Sequence, Tuple

from spacy.tokens import Doc

from introcoach.personas import Persona
from introcoach.scoring import lexicon
from introcoach.scoring.interests import InterestMention, mentions_in_doc
from introcoach.scoring.pipeline import get_nlp

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|\n|$)")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_YOU = re.compile(r"\b(?:you|your|yours|yourself|y'all|ya)\b", re.IGNORECASE)
_NAME_WORD = re.compile(r"\s+([^\W\d_][\w'’-]*)(?:\s+([^\W\d_][\w'’-]*))?")
_NAME_END = re.compile(r"\s*(?:$|[,.!;:]|\s+(?:from|here|and|with)\b)", re.IGNORECASE)
_ORG_ONLY = re.compile(
    r"\bi(?:'m|’m| am) (?:with|from|at) (?:the )?[A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*"
)
_WORD_SPAN_LIMIT = 6


def count_words(text: str) -> int:
    """Words as a reader counts them ("don't" and "peer-run" are one word)."""
    return len(WORD.findall(text))


@dataclass
class Sentence:
    """One sentence of an utterance, with character offsets into it."""

    start: int
    end: int
    text: str
    question: bool
    invitation: bool
    pleasantry: bool
    first_person: bool

    @property
    def asks(self) -> bool:
        """A question or an invitation to talk ("tell me about ...")."""
        return self.question or self.invitation


@dataclass
class Hit:
    """A detector's finding: score and evidence span (or no evidence)."""

    score: float
    start: Optional[int] = None
    end: Optional[int] = None
    detail: Optional[str] = None


@dataclass
class Utterance:
    """One analysed piece of the trainee's text (a whole intro or one turn)."""

    text: str
    doc: Doc
    sentences: List[Sentence]
    mentions: List[InterestMention]
    words: int
    lemmas: FrozenSet[str] = field(default_factory=frozenset)

    def sentence_at(self, offset: int) -> Optional[Sentence]:
        """Return the sentence holding a character offset."""
        for sentence in self.sentences:
            if sentence.start <= offset < sentence.end:
                return sentence
        return None


_ABBREVIATION = re.compile(
    r"\b(?:st|dr|mr|mrs|ms|mt|jr|sr|vs|etc|no|a\.m|p\.m)\.$", re.I
)


def split_sentences(text: str) -> List[Tuple[int, int]]:
    """Sentence spans, trimmed of surrounding whitespace ("St. Brigid" is kept)."""
    spans = []
    carry: Optional[int] = None
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        if carry is not None:
            start, carry = carry, None
        if _ABBREVIATION.search(text, start, end) and end < len(text):
            carry = start
            continue
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and _HAS_LETTER.search(text, start, end):
            spans.append((start, end))
    if carry is not None:
        end = len(text.rstrip())
        if end > carry and _HAS_LETTER.search(text, carry, end):
            spans.append((carry, end))
    return spans


def _sentence(text: str, start: int, end: int) -> Sentence:
    body = text[start:end]
    ending = body.rstrip("\"'”’) ")
    question = (
        ending.endswith("?")
        or bool(lexicon.cue("hook", "question_openings").search(body))
        or (
            not ending.endswith((".", "!"))
            and bool(lexicon.cue("hook", "bare_question").search(body))
        )
    )
    return Sentence(
        start=start,
        end=end,
        text=body,
        question=question,
        invitation=bool(lexicon.cue("hook", "invitations").search(body)),
        pleasantry=bool(lexicon.cue("questions", "pleasantries").search(body)),
        first_person=bool(lexicon.cue("own_interests", "first_person").search(body)),
    )


@functools.lru_cache(maxsize=1)
def _content_stop_words() -> FrozenSet[str]:
    stop = set(get_nlp().Defaults.stop_words)
    stop.update(lexicon.cue_words("follow_up", "generic_words"))
    return frozenset(stop)


def make_utterance(text: str, doc: Doc, persona: Persona) -> Utterance:
    """Analyse one text already run through the pipeline."""
    sentences = [_sentence(text, s, e) for s, e in split_sentences(text)]
    stop = _content_stop_words()
    first = persona.first_name.lower()
    lemmas = frozenset(
        t.lemma_
        for t in doc
        if t.is_alpha and len(t.text) > 2 and t.lemma_ not in stop and t.lower_ != first
    )
    return Utterance(
        text=text,
        doc=doc,
        sentences=sentences,
        mentions=mentions_in_doc(doc, persona),
        words=count_words(text),
        lemmas=lemmas,
    )


def _span_hit(utt: Utterance, sentence: Sentence, score: float = 1.0) -> Hit:
    return Hit(score, sentence.start, sentence.end)


def _match_hit(sentence: Sentence, match: re.Match[str], score: float = 1.0) -> Hit:
    return Hit(score, sentence.start + match.start(), sentence.start + match.end())


_CLAUSE_END = re.compile(r"[,;:.!?()]|\s[-–—]\s")


def _clause_hit(sentence: Sentence, start: int, end: int, score: float = 1.0) -> Hit:
    """Evidence from ``start`` to the end of its clause (at most 12 words on)."""
    stop = _CLAUSE_END.search(sentence.text, end)
    clause_end = stop.start() if stop else len(sentence.text)
    words = list(WORD.finditer(sentence.text, end, clause_end))
    if len(words) > 12:
        clause_end = words[11].end()
    return Hit(score, sentence.start + start, sentence.start + clause_end)


def _about_listener_only(sentence: Sentence) -> bool:
    return (
        sentence.question
        and not sentence.first_person
        and bool(_YOU.search(sentence.text))
    )


# -- strategy 6 ---------------------------------------------------------------


def detect_name(utt: Utterance) -> Optional[Hit]:
    """Find the trainee's own name: "I'm Sam", "my name is Sam", "Sam here".

    "I'm Hope" counts (a capitalised word after "I'm"); "I'm tired", "I'm so
    glad" and "I'm a peer specialist" do not.
    """
    not_a_name = lexicon.cue_words("name", "not_a_name")
    names = frozenset(lexicon.load("names")["names"])
    for sentence in utt.sentences:
        body = sentence.text
        for match in lexicon.cue("name", "lead_ins").finditer(body):
            word = _NAME_WORD.match(body, match.end())
            if word and word.group(1).lower() not in not_a_name:
                return Hit(
                    1.0, sentence.start + match.start(), sentence.start + word.end(1)
                )
        for match in lexicon.cue("name", "soft_lead_ins").finditer(body):
            if match.end() < len(body) and body[match.end()].isalnum():
                continue
            word = _NAME_WORD.match(body, match.end())
            if not word:
                continue
            candidate = word.group(1)
            lower = candidate.lower()
            if lower in not_a_name or candidate == "I":
                continue
            if not (candidate[0].isupper() or lower in names):
                continue
            end = word.end(1)
            surname = word.group(2)
            if surname and surname[0].isupper() and surname.lower() not in not_a_name:
                end = word.end(2)
            if match.group(0).lower().startswith(("this", "it")):
                if not _NAME_END.match(body, end):
                    continue
            return Hit(1.0, sentence.start + match.start(), sentence.start + end)
        alone = lexicon.pattern(
            lexicon.load("cues")["name"]["full_name_alone"], flags=0
        ).search(body)
        if alone and not {w.lower() for w in alone.group(1).split()} & not_a_name:
            start = sentence.start + alone.start(1)
            return Hit(1.0, start, sentence.start + alone.end(1))
        here = lexicon.cue("name", "here_form").search(body)
        if (
            here
            and here.group(1).lower() not in not_a_name
            and here.group(1)[0].isupper()
        ):
            return _match_hit(sentence, here)
    return None


def detect_role(utt: Utterance) -> Optional[Hit]:
    """Find what the trainee does: a role, a job, a kind of work.

    Examples: "I work as a peer specialist", "peer specialist at Harbor
    County", "I run WRAP groups for veterans". "I'm with Harbor County" alone
    scores 0.5 (where, not what).
    """
    within = int(lexicon.load("cues")["role"]["starts_with_noun_within"])
    for sentence in utt.sentences:
        if _about_listener_only(sentence):
            continue
        match = lexicon.cue("role", "statements").search(sentence.text)
        if match:
            return _clause_hit(sentence, match.start(), match.end())
        for noun in lexicon.cue("role", "nouns").finditer(sentence.text):
            early = count_words(sentence.text[: noun.start()]) <= within
            if sentence.first_person or early:
                return _clause_hit(sentence, noun.start(), noun.end())
    for sentence in utt.sentences:
        match = _ORG_ONLY.search(sentence.text)
        if match:
            return _match_hit(sentence, match, 0.5)
    return None


def detect_key_message(utt: Utterance) -> Optional[Hit]:
    """Whom the trainee helps, what the work achieves or why it matters."""
    for sentence in utt.sentences:
        if sentence.question:
            continue
        body = sentence.text
        if lexicon.cue("key_message", "purpose").search(body):
            return _span_hit(utt, sentence)
        if lexicon.cue("key_message", "verbs").search(body) and lexicon.cue(
            "key_message", "beneficiaries"
        ).search(body):
            return _span_hit(utt, sentence)
    return None


_CLOCK = re.compile(
    r"(?:\bit(?:'s|’s| is) (?:only |already |almost |nearly |just )?\S+$)", re.I
)


def detect_spark(utt: Utterance, context: str = "") -> Optional[Hit]:
    """Find a concrete detail: a number, a result, a short story, a personal fact.

    Args:
        utt: The trainee's text.
        context: What the other person just said; numbers repeated from it
            ("Forty a week, wow") are not the trainee's detail.

    """
    keys = ("lived_experience", "results", "story")
    echoed = context.lower()
    for sentence in utt.sentences:
        if _about_listener_only(sentence) or (
            sentence.question and not sentence.first_person
        ):
            continue
        for key in keys:
            if lexicon.cue("spark", key).search(sentence.text):
                return _span_hit(utt, sentence)
        for match in lexicon.cue("spark", "numbers").finditer(sentence.text):
            word = match.group(0).lower()
            if echoed and re.search(r"\b" + re.escape(word) + r"\b", echoed):
                continue
            if _CLOCK.search(sentence.text[: match.end()]):
                continue
            return _span_hit(utt, sentence)
    return None


@dataclass(frozen=True)
class PersonaFacts:
    """What the detectors need to know about a persona, built once."""

    persona: Persona
    field_pattern: Optional[Pattern[str]]
    role_echo: Optional[Pattern[str]] = None


_FACTS: Dict[tuple, PersonaFacts] = {}


def persona_facts(persona: Persona) -> PersonaFacts:
    """Return the persona's field words (role and organisation), cached."""
    key = (persona.id, persona.role, persona.organization)
    facts = _FACTS.get(key)
    if facts is None:
        generic = lexicon.cue_words("shared_passion", "generic_field_words")
        words = [
            w
            for w in WORD.findall(persona.role.lower())
            if w not in generic and len(w) > 3
        ]
        org_words = WORD.findall(persona.organization)
        phrases = [persona.organization]
        if len(org_words) >= 2 and not {w.lower() for w in org_words[:2]} & generic:
            phrases.append(" ".join(org_words[:2]))
        if org_words and org_words[0].lower() not in generic and len(org_words[0]) > 4:
            phrases.append(org_words[0])
        role_words = WORD.findall(persona.role.lower())
        last_org = org_words[-1].lower() if org_words else ""
        if last_org and last_org not in ("center", "centre", "health", "services"):
            phrases.append("the " + last_org)
        alternatives = [re.escape(p) for p in phrases] + [
            re.escape(w) + r"s?" for w in words
        ]
        if role_words:
            alternatives.append(
                r"as (?:a|an|the) (?:\w+ ){0,2}" + re.escape(role_words[-1])
            )
        echo = (
            re.compile(
                r"\b" + r"\s+".join(map(re.escape, role_words[-2:])) + r"\b", re.I
            )
            if len(role_words) >= 2
            else None
        )
        field_pattern = (
            re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)
            if alternatives
            else None
        )
        facts = PersonaFacts(
            persona=persona, field_pattern=field_pattern, role_echo=echo
        )
        if len(_FACTS) > 64:
            _FACTS.clear()
        _FACTS[key] = facts
    return facts


def detect_shared_passion(utt: Utterance, facts: PersonaFacts) -> Optional[Hit]:
    """Find a likely shared passion: a persona interest, their field, the event."""
    for mention in utt.mentions:
        if not mention.negated:
            return Hit(1.0, mention.start, mention.end, mention.interest)
    for sentence in utt.sentences:
        if facts.field_pattern is not None:
            match = facts.field_pattern.search(sentence.text)
            if match:
                return _match_hit(sentence, match)
        match = lexicon.cue("shared_passion", "phrases").search(sentence.text)
        if match:
            return _match_hit(sentence, match)
    return None


def topic_match(sentence: Sentence, include_conference: bool = False) -> Optional[Hit]:
    """Find an easy small-talk topic (weather, travel, sessions...)."""
    topics = lexicon.load("cues")["hook"]["topics"]
    for name in topics:
        match = lexicon.cue("hook", "topics", name).search(sentence.text)
        if match:
            return _match_hit(sentence, match)
    if include_conference:
        match = lexicon.cue("hook", "conference_words").search(sentence.text)
        if match:
            return _match_hit(sentence, match)
    return None


def detect_hook(utt: Utterance) -> Optional[Hit]:
    """Find a question or invitation (1.0), or an easy closing topic (0.7)."""
    for sentence in utt.sentences:
        if sentence.asks:
            return _span_hit(utt, sentence)
    if utt.sentences:
        # An easy topic works as a hook where the speaker hands over: at the end.
        hit = topic_match(utt.sentences[-1])
        if hit:
            hit.score = 0.7
            return hit
    return None


# -- strategy 4 ---------------------------------------------------------------


def _is_discovery(
    sentence: Sentence, utt: Utterance, facts: Optional[PersonaFacts] = None
) -> bool:
    if not sentence.asks or sentence.pleasantry:
        return False
    if facts is not None and facts.field_pattern is not None:
        if not sentence.first_person and facts.field_pattern.search(sentence.text):
            return True
    body = sentence.text
    about = lexicon.cue("questions", "about_them").search(body)
    mentions = [
        m
        for m in utt.mentions
        if sentence.start <= m.start < sentence.end and not m.negated
    ]
    if mentions:
        return True
    if not _YOU.search(body):
        return bool(about)
    if about:
        return True
    small = ("weather", "travel", "sessions")
    topics = lexicon.load("cues")["hook"]["topics"]
    for name in small:
        if name in topics and lexicon.cue("hook", "topics", name).search(body):
            return False
    return not lexicon.cue("hook", "conference_words").search(body)


def detect_discovery(
    utt: Utterance, facts: Optional[PersonaFacts] = None
) -> Optional[Hit]:
    """Find a question about the listener's work or interests (no pleasantry).

    A question naming the persona's organisation or field counts even without
    "you" ("Any chance Second Wind has room this month?").
    """
    for sentence in utt.sentences:
        if _is_discovery(sentence, utt, facts):
            return _span_hit(utt, sentence)
    return None


def detect_own_interests(utt: Utterance) -> Optional[Hit]:
    """Find the trainee's own interests or passions ("I love ...", "I hike")."""
    for sentence in utt.sentences:
        if lexicon.cue("own_interests", "cues").search(sentence.text):
            return _span_hit(utt, sentence)
    for sentence in utt.sentences:
        if not sentence.first_person or _about_listener_only(sentence):
            continue
        match = lexicon.cue("own_interests", "hobbies").search(sentence.text)
        if match and not _negated_before(sentence.text, match.start()):
            return _span_hit(utt, sentence)
    return None


_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:not|never|no|cannot)\b|n't\b|n’t\b)[^,.;!?]{0,30}$", re.I
)


def _negated_before(text: str, offset: int) -> bool:
    return bool(_NEGATION_BEFORE.search(text[max(0, offset - 40) : offset]))


def live_mentions(
    utt: Utterance, facts: Optional[PersonaFacts] = None
) -> List[InterestMention]:
    """Keep mentions that connect: not negated, not just the persona's job title.

    "What do you do as a discharge planner?" names Dana's role, not common
    ground, so a mention inside the persona's role title in a sentence about
    "you" is left out.
    """
    live = [m for m in utt.mentions if not m.negated]
    if facts is None or facts.role_echo is None:
        return live
    kept = []
    for mention in live:
        sentence = utt.sentence_at(mention.start)
        if sentence is not None and _YOU.search(sentence.text):
            echo = next(
                (
                    e
                    for e in facts.role_echo.finditer(sentence.text)
                    if sentence.start + e.start() <= mention.start
                    and mention.end <= sentence.start + e.end()
                ),
                None,
            )
            if echo is not None:
                continue
        kept.append(mention)
    return kept


def detect_common_ground(
    utt: Utterance, facts: Optional[PersonaFacts] = None
) -> Optional[Hit]:
    """Find a non-negated mention of one of the persona's interests."""
    for mention in live_mentions(utt, facts):
        return Hit(1.0, mention.start, mention.end, mention.interest)
    return None


def detect_builds_single(
    utt: Utterance, facts: Optional[PersonaFacts] = None
) -> Optional[Hit]:
    """In one text: staying on a shared interest.

    Met by a question about it (in the sentence naming it or the next one), or
    by a second, different mention of the same interest ("the fundraising
    workshop ... grant deadlines").
    """
    seen: Dict[str, str] = {}
    for mention in live_mentions(utt, facts):
        sentence = utt.sentence_at(mention.start)
        if sentence is None:
            continue
        if sentence.asks:
            return Hit(1.0, sentence.start, sentence.end, mention.interest)
        position = utt.sentences.index(sentence)
        following = utt.sentences[position + 1 : position + 2]
        # The next question stays on the topic unless it turns to small talk.
        if (
            following
            and following[0].asks
            and not following[0].pleasantry
            and topic_match(following[0], include_conference=True) is None
            and not _turns_to_their_work(following[0], facts)
        ):
            return Hit(1.0, following[0].start, following[0].end, mention.interest)
        first = seen.setdefault(mention.interest, mention.text.lower())
        if first != mention.text.lower():
            return Hit(1.0, sentence.start, sentence.end, mention.interest)
    return None


def _turns_to_their_work(sentence: Sentence, facts: Optional[PersonaFacts]) -> bool:
    """Tell whether a question turns to the persona's organisation or job."""
    if facts is None or facts.field_pattern is None:
        return False
    return bool(facts.field_pattern.search(sentence.text))


def detect_open_questions(utt: Utterance) -> List[Sentence]:
    """Open questions: what/how/why/tell me about..., not pleasantries."""
    found = []
    for sentence in utt.sentences:
        if not sentence.asks or sentence.pleasantry:
            continue
        if lexicon.cue("questions", "open_openings").search(sentence.text):
            found.append(sentence)
    return found


def detect_close(utt: Utterance) -> Optional[Hit]:
    """Thanks, a next step or an exchange of contact details."""
    for sentence in utt.sentences:
        match = lexicon.cue("close", "cues").search(sentence.text)
        if match:
            return _match_hit(sentence, match)
    return None


def follow_up_hit(utt: Utterance, previous: Utterance) -> Optional[Hit]:
    """Find where the turn picks up a word or interest of the persona's turn."""
    shared = utt.lemmas & previous.lemmas
    interests = {m.interest for m in previous.mentions}
    picked = [m for m in utt.mentions if m.interest in interests and not m.negated]
    if not shared and not picked:
        if utt.words <= 15:
            for sentence in utt.sentences:
                if sentence.question and _ANAPHOR.search(sentence.text):
                    return Hit(1.0, sentence.start, sentence.end)
        return None
    reacts = lexicon.cue("follow_up", "reactions").search(utt.text)
    if not reacts and not any(s.asks for s in utt.sentences):
        return None
    offsets = [m.start for m in picked] + [t.idx for t in utt.doc if t.lemma_ in shared]
    candidates = [utt.sentence_at(o) for o in offsets]
    sentences = [s for s in candidates if s is not None]
    if not sentences:
        return None
    best = next((s for s in sentences if s.asks), sentences[0])
    return Hit(1.0, best.start, best.end)


_ANAPHOR = re.compile(
    r"^(?:\W*(?:oh|wow|so|and|really)\b\W*)?(?:is|was|will|does|did|has|how|why|what)\b"
    r"(?:\s+\w+)?\s+(?:it|that|this|they|those|there)\b",
    re.IGNORECASE,
)


def evidence_of(utterances: Sequence[Utterance], index: int, hit: Hit) -> Optional[str]:
    """Return the exact text of a hit's evidence span."""
    if hit.start is None or hit.end is None:
        return None
    return utterances[index].text[hit.start : hit.end]
