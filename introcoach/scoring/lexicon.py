"""Read the scorer's data files (``lexicons/*.yml``) once, when first needed."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Pattern

import yaml

LEXICON_DIR = Path(__file__).with_name("lexicons")


@functools.cache
def load(name: str) -> Dict[str, Any]:
    """One lexicon file as a mapping (``load("cues")`` reads ``cues.yml``)."""
    with (LEXICON_DIR / f"{name}.yml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"lexicon {name}.yml must hold a mapping")
    return data


@functools.cache
def _compile(patterns: tuple, flags: int) -> Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), flags)


def pattern(patterns: Iterable[str] | str, flags: int = re.IGNORECASE) -> Pattern[str]:
    """One compiled alternation of the given regular expressions (cached)."""
    if isinstance(patterns, str):
        patterns = (patterns,)
    return _compile(tuple(patterns), flags)


def cue(*path: str) -> Pattern[str]:
    """Return the compiled pattern at ``path`` in ``cues.yml``."""
    node: Any = load("cues")
    for key in path:
        node = node[key]
    return pattern(node)


def cue_words(*path: str) -> frozenset:
    """Return a word list from ``cues.yml`` as a lower-case set."""
    node: Any = load("cues")
    for key in path:
        node = node[key]
    return _frozen(tuple(str(word).lower() for word in node))


@functools.cache
def _frozen(words: tuple) -> frozenset:
    return frozenset(words)
