"""Find a persona's interests in what the trainee says.

Matching is by lemma, so "hiked", "hikes" and "hiking" all find *hiking*. The
words matched for an interest are the interest itself, the persona's
``interest_keywords`` and the common variants in ``lexicons/interests.yml``.
A mention is *negated* when a negation cue ("not", "n't", "never", "hate")
comes shortly before it in the same clause, or a dislike cue shortly after it
("hiking isn't my thing", "basketball bores me"), or when the mention is asked
back on its own and the answer dismisses it ("Baseball? Never liked it.").
Matchers are built once per persona and cached.

Example:
    >>> [m.interest for m in find_interest_mentions("I hike a lot", priya)]
    ['hiking']

"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Pattern, Sequence, Tuple

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from introcoach.personas import Persona
from introcoach.scoring import lexicon
from introcoach.scoring.pipeline import analyse, get_nlp, lemma_phrases

logger = logging.getLogger(__name__)

MAX_MATCH_CHARS = 60_000
_CACHE_LIMIT = 64
_POSSESSIVE = re.compile(r"^(?:her|his|their|my|our)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class InterestMention:
    """One place where a persona interest is named.

    Attributes:
        interest: The persona's interest string, as in the persona data.
        text: The exact words in the input (``input[start:end]``).
        start: Character offset where the mention starts.
        end: Character offset where it ends.
        negated: True when the speaker says they do not share it.

    """

    interest: str
    text: str
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class _Ambiguity:
    before: FrozenSet[str]
    after: FrozenSet[str]


class InterestMatcher:
    """A PhraseMatcher over lemmas for one persona's interests."""

    def __init__(self, persona: Persona) -> None:
        """Build the patterns from the persona data and the variants lexicon."""
        nlp = get_nlp()
        data = lexicon.load("interests")
        self.interests: Tuple[str, ...] = persona.all_interests
        self._matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        variants = _variants_by_lemma(data.get("variants") or {})
        self._ambiguous = {
            _lemma_key(word): _Ambiguity(
                frozenset(_lemma_key(w) for w in (rule or {}).get("before", ())),
                frozenset(_lemma_key(w) for w in (rule or {}).get("after", ())),
            )
            for word, rule in (data.get("ambiguous") or {}).items()
        }
        self._negation = negation_rules()
        for index, interest in enumerate(self.interests):
            phrases = _phrases_for(persona, interest)
            keys = {_lemma_key(p) for p in phrases}
            for key in keys:
                phrases.extend(str(v) for v in variants.get(key, ()))
            unique = sorted({str(p).lower() for p in phrases if str(p).strip()})
            self._matcher.add(str(index), list(lemma_phrases(unique)))

    def find(self, doc: Doc) -> List[InterestMention]:
        """Mentions in ``doc``, longest first where they overlap, in text order.

        Back-to-back matches of one interest ("sober living house") are one
        mention.
        """
        found = []
        for match_id, start, end in self._matcher(doc):
            if end - start == 1 and self._is_other_sense(doc, start):
                continue
            found.append((start, end, int(doc.vocab.strings[match_id])))
        found.sort(key=lambda item: (item[0], -(item[1] - item[0]), item[2]))
        spans: List[Tuple[int, int, int]] = []
        taken_until = -1
        for start, end, index in found:
            if start < taken_until:
                continue
            taken_until = end
            # "sober living house" names recovery housing once, not twice.
            if spans and spans[-1][1] == start and spans[-1][2] == index:
                spans[-1] = (spans[-1][0], end, index)
            else:
                spans.append((start, end, index))
        mentions: List[InterestMention] = []
        for start, end, index in spans:
            span = doc[start:end]
            mentions.append(
                InterestMention(
                    interest=self.interests[index],
                    text=span.text,
                    start=span.start_char,
                    end=span.end_char,
                    negated=self._is_negated(doc, start, end),
                )
            )
        return mentions

    def _is_other_sense(self, doc: Doc, i: int) -> bool:
        rule = self._ambiguous.get(doc[i].lemma_)
        if rule is None:
            return False
        before = doc[i - 1].lemma_ if i > 0 else ""
        after = doc[i + 1].lemma_ if i + 1 < len(doc) else ""
        return before in rule.before or after in rule.after

    def _is_negated(self, doc: Doc, start: int, end: int) -> bool:
        return self._negation.is_negated(doc, start, end)


@dataclass(frozen=True)
class NegationRules:
    """When a mention of something is said in the negative (data: interests.yml).

    Attributes:
        cues: Lemmas that negate what follows shortly in the same clause.
        breakers: Lemmas that cancel a cue right after it ("don't mind").
        window: How many tokens before a mention a cue may stand.
        clause_breaks: Tokens a cue does not reach across.
        after_cues: Lemmas that negate what comes shortly before them
            ("hiking isn't my thing", "basketball bores me").
        reactions: Lemmas that dismiss a topic asked back on its own
            ("Baseball? Nah."), besides the cues.
        fillers: Words that may come before such an asked-back topic ("oh").
        after_comma: A pattern for a dismissal right after a comma
            ("fishing, not really my thing"), where ``after_cues`` stop.

    """

    cues: FrozenSet[str]
    breakers: FrozenSet[str]
    window: int
    clause_breaks: FrozenSet[str]
    after_cues: FrozenSet[str]
    reactions: FrozenSet[str]
    fillers: FrozenSet[str]
    after_comma: Optional[Pattern[str]] = None

    @classmethod
    def from_lexicon(cls, data: Dict) -> NegationRules:
        """Read the ``negation`` section of ``interests.yml``."""
        negation = data.get("negation") or {}

        def words(key: str, default: Sequence[str] = ()) -> FrozenSet[str]:
            return frozenset(str(w) for w in negation.get(key, default) or ())

        return cls(
            cues=words("cues"),
            breakers=words("breakers"),
            window=int(negation.get("window", 6)),
            clause_breaks=words("clause_breaks"),
            after_cues=words("after_cues", ("not", "never")),
            reactions=words("reactions"),
            fillers=words("fillers"),
            after_comma=(
                lexicon.pattern(negation["after_comma"])
                if negation.get("after_comma")
                else None
            ),
        )

    def _is_negator(self, doc: Doc, i: int) -> bool:
        if doc[i].lemma_ not in self.cues:
            return False
        following = {t.lemma_ for t in doc[i + 1 : i + 3]}
        return not following & self.breakers

    def is_negated(self, doc: Doc, start: int, end: int) -> bool:
        """Tell whether tokens ``doc[start:end]`` are said in the negative."""
        for i in range(start - 1, max(-1, start - 1 - self.window), -1):
            if doc[i].lemma_ in self.clause_breaks:
                break
            if self._is_negator(doc, i):
                return True
        for i in range(end, min(len(doc), end + 4)):
            lemma = doc[i].lemma_
            if lemma in self.clause_breaks:
                break
            if lemma in self.after_cues and (
                lemma not in self.cues or self._is_negator(doc, i)
            ):
                return True
        if self.after_comma is not None and end < len(doc) and doc[end].text == ",":
            if self.after_comma.match(doc.text, doc[end].idx + 1):
                return True
        return self._dismissed_when_asked_back(doc, start, end)

    def _dismissed_when_asked_back(self, doc: Doc, start: int, end: int) -> bool:
        """Tell whether a topic echoed on its own is brushed off next.

        As in "Baseball? Never liked it." Only a topic standing alone before the
        question mark counts, so a real question ("Do you like baseball? Never
        tried it.") is left alone.
        """
        if end >= len(doc) or doc[end].text != "?":
            return False
        for i in range(start - 1, -1, -1):
            token = doc[i]
            # "at the Y." is one token: any token ending a sentence stops here.
            if token.text[-1] in ".!?" or "\n" in token.text:
                break
            if not (token.is_punct or token.is_space or token.lower_ in self.fillers):
                return False
        i = end
        while i < len(doc) and doc[i].text in ("?", "!"):
            i += 1
        for j in range(i, min(len(doc), i + 6)):
            token = doc[j]
            if token.text in (".", "!", "?"):
                break
            if token.lemma_ in self.reactions or self._is_negator(doc, j):
                return True
        return False


def _phrases_for(persona: Persona, interest: str) -> List[str]:
    """List the interest, its parts ("her rescue dog, Biscuit") and keywords."""
    phrases = list(persona.keywords_for(interest))
    for part in interest.split(","):
        cleaned = _POSSESSIVE.sub("", part.strip())
        if cleaned:
            phrases.append(cleaned)
    return phrases


def _lemma_key(phrase: str) -> str:
    doc = next(iter(lemma_phrases([str(phrase).lower()])))
    return " ".join(t.lemma_ for t in doc)


def _variants_by_lemma(
    variants: Dict[str, Sequence[str]]
) -> Dict[str, Tuple[str, ...]]:
    merged: Dict[str, Tuple[str, ...]] = {}
    for key, values in variants.items():
        lemma = _lemma_key(key)
        merged[lemma] = merged.get(lemma, ()) + tuple(str(v) for v in values or ())
    return merged


_MATCHERS: Dict[tuple, InterestMatcher] = {}


def _persona_key(persona: Persona) -> tuple:
    # Only the public accessors: the persona file's shape may change (interests
    # as mappings with variants) while these keep their meaning.
    keywords = tuple(tuple(persona.keywords_for(i)) for i in persona.all_interests)
    return (persona.id, persona.interests, persona.hidden_interests, keywords)


def matcher_for(persona: Persona) -> InterestMatcher:
    """Return the cached matcher for this persona (rebuilt on change)."""
    key = _persona_key(persona)
    matcher = _MATCHERS.get(key)
    if matcher is None:
        if len(_MATCHERS) >= _CACHE_LIMIT:
            _MATCHERS.clear()
        matcher = InterestMatcher(persona)
        _MATCHERS[key] = matcher
        logger.debug("built interest matcher for persona %s", persona.id)
    return matcher


@functools.lru_cache(maxsize=1)
def negation_rules() -> NegationRules:
    """The negation rules of ``interests.yml``, read once."""
    return NegationRules.from_lexicon(lexicon.load("interests"))


def span_is_negated(doc: Doc, start_char: int, end_char: int) -> bool:
    """Tell whether the words at these character offsets are said in the negative.

    Used for the trainee's own hobbies ("cycling's not my thing"), with the
    same rules as persona interests.
    """
    span = doc.char_span(start_char, end_char, alignment_mode="expand")
    if span is None:
        return False
    return negation_rules().is_negated(doc, span.start, span.end)


def mentions_in_doc(doc: Doc, persona: Persona) -> List[InterestMention]:
    """Like :func:`find_interest_mentions` for an already analysed text."""
    return matcher_for(persona).find(doc)


def find_interest_mentions(text: str, persona: Persona) -> List[InterestMention]:
    """Where the text names one of the persona's interests (open or hidden).

    Args:
        text: What the trainee said. Only the first 60,000 characters are read.
        persona: The persona whose interests to look for.

    Returns:
        Mentions in text order; ``text[m.start:m.end] == m.text``. Negated
        mentions ("I don't really like hiking") are included with
        ``negated=True``. Empty text gives an empty list.

    """
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    if not text.strip():
        return []
    return mentions_in_doc(analyse(text[:MAX_MATCH_CHARS]), persona)
