"""The one spaCy pipeline the scorer uses, built lazily once per process.

The pipeline is ``spacy.blank("en")`` with the lookup lemmatizer (tables from
``spacy-lookups-data``, no download) followed by :class:`CaseFoldLemmas`, which
re-looks up capitalised words in lower case ("Hiking" -> "hike") and lower-cases
every lemma, so rule matching is case-insensitive.
"""

import functools
import logging
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc

logger = logging.getLogger(__name__)

PIPELINE_VERSION = "introcoach.scoring.pipeline.v1"


class CaseFoldLemmas:
    """Lower-case lemmas, looking capitalised forms up again in lower case."""

    def __init__(self, nlp: Language) -> None:
        """Share the lookup table of the pipeline's lemmatizer."""
        self._nlp = nlp
        self._table: Optional[Any] = None

    def _lookup(self) -> Any:
        if self._table is None:
            lemmatizer: Any = self._nlp.get_pipe("lemmatizer")
            self._table = lemmatizer.lookups.get_table("lemma_lookup")
        return self._table

    def __call__(self, doc: Doc) -> Doc:
        """Set ``token.lemma_`` to the lower-case lookup lemma of the lower form."""
        table = self._lookup()
        for token in doc:
            lower = token.lower_
            token.lemma_ = table.get(lower, lower)
        return doc


@Language.factory("introcoach_casefold_lemmas")
def make_casefold_lemmas(nlp: Language, name: str) -> CaseFoldLemmas:
    """Make a :class:`CaseFoldLemmas` component ("Trails" -> "trail")."""
    return CaseFoldLemmas(nlp)


@functools.lru_cache(maxsize=1)
def get_nlp() -> Language:
    """Return the shared pipeline, built on first use (about 0.2 s)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("introcoach_casefold_lemmas")
    nlp.initialize()
    logger.debug("scoring pipeline ready: %s", nlp.pipe_names)
    return nlp


@functools.lru_cache(maxsize=1)
def word_classes() -> Dict[str, FrozenSet[str]]:
    """English dictionary words by class ("adj", "adv", "noun", "verb").

    From the ``lemma_index`` table of ``spacy-lookups-data`` (WordNet lemmas),
    read on first use only (about 0.7 s): the scorer asks for it when a word
    might be a misspelling or a lower-case name. Empty if the table is missing.
    """
    try:
        from spacy.lookups import load_lookups

        table = load_lookups("en", ["lemma_index"]).get_table("lemma_index")
    except (ValueError, KeyError, OSError) as exc:  # pragma: no cover
        logger.warning("no English word list for typo checks: %s", exc)
        return {}
    return {pos: frozenset(table[pos]) for pos in ("adj", "adv", "noun", "verb")}


def is_known_word(word: str) -> bool:
    """Tell whether a lower-case word is an English word (or an inflection of one).

    Example:
        >>> is_known_word("couch"), is_known_word("recovry")
        (True, False)

    """
    nlp = get_nlp()
    if word in nlp.Defaults.stop_words:
        return True
    lemmatizer: Any = nlp.get_pipe("lemmatizer")
    if word in lemmatizer.lookups.get_table("lemma_lookup"):
        return True
    return any(word in words for words in word_classes().values())


def analyse(text: str) -> Doc:
    """Tokenize and lemmatize one text."""
    return get_nlp()(text)


def analyse_many(texts: Iterable[str]) -> List[Doc]:
    """Tokenize and lemmatize several texts in one batch."""
    return list(get_nlp().pipe(texts))


def lemma_phrases(phrases: Iterable[str]) -> Iterator[Doc]:
    """Docs for short phrases (lexicon entries, persona keywords)."""
    return get_nlp().pipe(phrases)
