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
from introcoach.scoring.interests import (
    InterestMention,
    mentions_in_doc,
    span_is_negated,
)
from introcoach.scoring.pipeline import get_nlp, is_known_word, word_classes

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'”’)]*|\n|$)")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_YOU = re.compile(r"\b(?:you|your|yours|yourself|y'all|ya|u|ur)\b", re.IGNORECASE)
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


_CLAUSE_BREAK = re.compile(r"[,;:]|\s[-–—]+\s")


def _last_clause_asks(body: str) -> bool:
    """Tell whether the sentence's last clause is a question said without "?".

    Chat-style text runs a greeting, a role and a question into one sentence:
    "hey im jo, recovery coach at the shelter, hows your week going".
    """
    parts = _CLAUSE_BREAK.split(body)
    if len(parts) < 2:
        return False
    clause = parts[-1].strip()
    if lexicon.cue("hook", "clause_statement").search(clause):
        return False
    return bool(
        lexicon.cue("hook", "question_openings").search(clause)
        or lexicon.cue("hook", "bare_question").search(clause)
        or lexicon.cue("hook", "clause_questions").search(clause)
    )


def _sentence(text: str, start: int, end: int) -> Sentence:
    body = text[start:end]
    ending = body.rstrip("\"'”’) ")
    # Without a closing "." or "!", a question may have lost its "?".
    open_ended = not ending.endswith((".", "!"))
    question = (
        ending.endswith("?")
        or bool(lexicon.cue("hook", "question_openings").search(body))
        or (
            open_ended
            and bool(
                lexicon.cue("hook", "bare_question").search(body)
                or lexicon.cue("hook", "clause_questions").search(body)
                or _last_clause_asks(body)
            )
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


@functools.lru_cache(maxsize=1)
def _name_lists() -> Tuple[FrozenSet[str], FrozenSet[str]]:
    """Words never taken as a name, and the known lower-case first names."""
    not_a_name = set(lexicon.cue_words("name", "not_a_name"))
    not_a_name.update(lexicon.cue_words("name", "lowercase", "state_words"))
    names = frozenset(str(n).lower() for n in lexicon.load("names")["names"])
    return frozenset(not_a_name), names


def _opens_clause(body: str, offset: int) -> bool:
    """Tell whether only greetings (and one address) come before ``offset``.

    "hey rosa im tam" and "ok so, im jamal" open with "im"; "after work im
    beat" does not.
    """
    lead_words = lexicon.cue_words("name", "lowercase", "lead_words")
    before = _CLAUSE_BREAK.split(body[:offset])[-1]
    words = [w.lower() for w in WORD.findall(before)]
    others = [i for i, w in enumerate(words) if w not in lead_words]
    if not others:
        return True
    # One other word, right after a greeting: the listener's name.
    return len(others) == 1 and others[0] > 0 and words[others[0] - 1] in lead_words


def _looks_like_lowercase_name(
    body: str, lead: re.Match[str], word: re.Match[str]
) -> bool:
    """Tell whether an unknown lower-case word after "im" is a name ("im jamal,").

    People type names in lower case, but also "im so tired", "im here" and "im
    nervous": the word must end the phrase and must not be a state, a common
    English adjective, adverb or verb, or carry an adjective or verb ending.
    """
    config = lexicon.load("cues")["name"]["lowercase"]
    candidate = word.group(1)
    lower = candidate.lower()
    stop = get_nlp().Defaults.stop_words
    if not candidate.isalpha() or len(lower) < 2 or lower in stop:
        return False
    if lower.endswith(tuple(config["suffixes"])):
        return False
    if len(lower) > 4 and lower.endswith(tuple(config["long_suffixes"])):
        return False
    if _role_word(lower) is not None:
        return False
    # The name ends the phrase: "im jamal.", "im kat btw", not "im jo smith"
    # (a surname needs a capital) nor "im recovry coach".
    rest = body[word.end(1) :].lstrip()
    following = WORD.match(rest)
    ends = (
        not rest
        or rest[0] in ",.!;:?-–—)"
        or (
            following is not None
            and following.group(0).lower()
            in lexicon.cue_words("name", "lowercase", "end_words")
        )
    )
    if not ends or not _opens_clause(body, lead.start()):
        return False
    classes = word_classes()
    return not any(lower in classes.get(pos, ()) for pos in ("adj", "adv", "verb"))


def detect_name(utt: Utterance) -> Optional[Hit]:
    """Find the trainee's own name: "I'm Sam", "my name is Sam", "Sam here".

    "I'm Hope" counts (a capitalised word after "I'm"), and so does a name in
    lower case ("im jamal, I do intake"); "I'm tired", "im so glad", "im in
    recovery" and "I'm a peer specialist" do not.
    """
    not_a_name, names = _name_lists()
    for sentence in utt.sentences:
        body = sentence.text
        stop = get_nlp().Defaults.stop_words
        for match in lexicon.cue("name", "lead_ins").finditer(body):
            word = _NAME_WORD.match(body, match.end())
            if (
                word
                and word.group(1).lower() not in not_a_name
                # "names are hard": a lower-case stop word is no name.
                and not (word.group(1).islower() and word.group(1) in stop)
            ):
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
            if not (
                candidate[0].isupper()
                or lower in names
                or _looks_like_lowercase_name(body, match, word)
            ):
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


def _within_edits(a: str, b: str, limit: int) -> bool:
    """Optimal string alignment distance of ``a`` and ``b`` is at most ``limit``.

    Adjacent swaps count as one edit ("speicalist"). Rows stop early once every
    cell is over the limit, so a far-off word costs a few steps.
    """
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: List[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


@functools.lru_cache(maxsize=1)
def _head_words() -> Tuple[str, ...]:
    return tuple(sorted(lexicon.cue_words("role", "head_words")))


@functools.lru_cache(maxsize=4096)
def _role_word(word: str) -> Optional[str]:
    """The role head word that ``word`` is, or is a misspelling of.

    Only unknown words of five letters or more are read as misspellings, so
    "couch" stays a couch and "peer" is never guessed from "per".
    """
    heads = _head_words()
    if word in heads:
        return word
    if len(word) < 5 or not word.isalpha():
        return None
    limit = 1 if len(word) < 8 else 2
    close = [h for h in heads if len(h) >= 4 and _within_edits(word, h, limit)]
    if not close or is_known_word(word):
        return None
    return min(close, key=lambda h: (abs(len(h) - len(word)), h))


def _with_role_typos_fixed(text: str) -> Tuple[str, List[int]]:
    """The text with misspelt role words corrected, and where each char came from.

    Returns:
        The corrected text and, for each of its characters, the offset of the
        original character it stands for (so evidence is cut from the input).

    """
    pieces: List[str] = []
    origin: List[int] = []
    done = 0
    for match in WORD.finditer(text):
        word = match.group(0).lower()
        fixed = _role_word(word)
        if fixed is None or fixed == word:
            continue
        pieces.append(text[done : match.start()])
        origin.extend(range(done, match.start()))
        pieces.append(fixed)
        last = match.end() - 1
        origin.extend(min(match.start() + k, last) for k in range(len(fixed)))
        done = match.end()
    if not pieces:
        return text, list(range(len(text)))
    pieces.append(text[done:])
    origin.extend(range(done, len(text)))
    return "".join(pieces), origin


def _role_in_sentence(sentence: Sentence, within: int) -> Optional[Hit]:
    match = lexicon.cue("role", "statements").search(sentence.text)
    if match:
        return _clause_hit(sentence, match.start(), match.end())
    for noun in lexicon.cue("role", "nouns").finditer(sentence.text):
        early = count_words(sentence.text[: noun.start()]) <= within
        if sentence.first_person or early:
            return _clause_hit(sentence, noun.start(), noun.end())
    return None


def detect_role(utt: Utterance) -> Optional[Hit]:
    """Find what the trainee does: a role, a job, a kind of work.

    Examples: "I work as a peer specialist", "peer specialist at Harbor
    County", "I run WRAP groups for veterans", "I get people out of the ER into
    housing", "I'm a peer", and misspelt titles ("recovry coach"). "I'm with
    Harbor County" alone scores 0.5 (where, not what).
    """
    within = int(lexicon.load("cues")["role"]["starts_with_noun_within"])
    for sentence in utt.sentences:
        if _about_listener_only(sentence):
            continue
        hit = _role_in_sentence(sentence, within)
        if hit is not None:
            return hit
        fixed, origin = _with_role_typos_fixed(sentence.text)
        if fixed == sentence.text:
            continue
        corrected = Sentence(
            start=0,
            end=len(fixed),
            text=fixed,
            question=sentence.question,
            invitation=sentence.invitation,
            pleasantry=sentence.pleasantry,
            first_person=sentence.first_person,
        )
        hit = _role_in_sentence(corrected, within)
        if hit is not None and hit.start is not None and hit.end is not None:
            return Hit(
                hit.score,
                sentence.start + origin[hit.start],
                sentence.start + origin[hit.end - 1] + 1,
            )
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
            # "the 988 line", "a 12-step group" name a service, not a detail.
            if lexicon.cue("spark", "not_details").match(sentence.text, match.start()):
                continue
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
    """Find the trainee's own interests or passions ("I love ...", "I hike").

    A question to the listener ("do u do anything fun outside work") shares
    nothing, and "on weekends" in a sentence about work ("i cover the 988 line
    on weekends") is not a pastime.
    """
    for sentence in utt.sentences:
        if _about_listener_only(sentence):
            continue
        if lexicon.cue("own_interests", "cues").search(sentence.text):
            return _span_hit(utt, sentence)
    for sentence in utt.sentences:
        if not sentence.first_person or _about_listener_only(sentence):
            continue
        # "on weekends I garden", not "i cover the 988 line on weekends".
        if lexicon.cue("own_interests", "time_cues").search(
            sentence.text
        ) and not lexicon.cue("role", "statements").search(sentence.text):
            return _span_hit(utt, sentence)
        for match in lexicon.cue("own_interests", "hobbies").finditer(sentence.text):
            if _negated_before(sentence.text, match.start()):
                continue
            # "cycling's not my thing", "basketball bores me", "Baseball? Never."
            start = sentence.start + match.start()
            if span_is_negated(utt.doc, start, sentence.start + match.end()):
                continue
            return _span_hit(utt, sentence)
    return None


# A negation reaches up to the next comma or "but": "gardening not really my
# thing but i bake" still shares baking.
_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:not|never|no|cannot)\b|n't\b|n’t\b)(?:(?!\bbut\b)[^,.;!?]){0,30}$",
    re.I,
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


# How many sentences after naming an interest its question may come: "i do
# family peer support up north. traffic was brutal lol. how big are your
# groups" still asks about it (RUBRIC.md, builds_on_common_ground).
BUILD_WINDOW = 2


def _stays_on_topic(sentence: Sentence, facts: Optional[PersonaFacts]) -> bool:
    """Tell whether a later question may be about the interest just named.

    It does not when it is a pleasantry or turns to small talk, to the
    persona's job or organisation, or to their free time.
    """
    return (
        not sentence.pleasantry
        and topic_match(sentence, include_conference=True) is None
        and not _turns_to_their_work(sentence, facts)
        and not lexicon.cue("questions", "free_time").search(sentence.text)
    )


def detect_builds_single(
    utt: Utterance, facts: Optional[PersonaFacts] = None
) -> Optional[Hit]:
    """In one text: staying on a shared interest.

    Met by a question about it, or by a second, different mention of the same
    interest ("the fundraising workshop ... grant deadlines"). A question
    naming the interest counts wherever it is. The first question in the
    next two sentences counts as about it unless it is a pleasantry or turns
    to small talk, the persona's job or organisation, or their free time
    ("what do u do outside work").
    """
    seen: Dict[str, str] = {}
    for mention in live_mentions(utt, facts):
        sentence = utt.sentence_at(mention.start)
        if sentence is None:
            continue
        if sentence.asks:
            return Hit(1.0, sentence.start, sentence.end, mention.interest)
        position = utt.sentences.index(sentence)
        following = utt.sentences[position + 1 : position + 1 + BUILD_WINDOW]
        question = next((s for s in following if s.asks), None)
        if question is not None and _stays_on_topic(question, facts):
            return Hit(1.0, question.start, question.end, mention.interest)
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
