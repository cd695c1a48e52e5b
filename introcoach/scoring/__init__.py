"""Score networking introductions, pitches and conversations.

The rubric follows two strategies from Gino, Kouchaki & Casciaro (2016),
"Learn to love networking" (Harvard Business Review): strategy 6, practise how
to introduce yourself and keep a casual conversation going, and strategy 4,
look for common interests. See ``RUBRIC.md`` beside this file and
:mod:`introcoach.scoring.rubric` for criteria and weights.

Everything here is rule-based on a ``spacy.blank("en")`` pipeline with the
lookup lemmatizer, built when first needed; no Rasa imports, no downloads.

Example:
    >>> from introcoach.personas import get_persona
    >>> report = score_text("Hi, I'm Sam, a peer specialist. What do you do?",
    ...                     get_persona("dana"))
    >>> report.to_dict()["mode"]
    'intro'

"""

from introcoach.scoring.feedback import (
    compare_reports,
    format_report,
    rubric_plain_words,
    stretch_goal,
    suggest_hint,
    top_tips,
    what_worked,
)
from introcoach.scoring.interests import InterestMention, find_interest_mentions
from introcoach.scoring.report import CriterionResult, ScoreReport, StrategyResult
from introcoach.scoring.rubric import RUBRIC_VERSION
from introcoach.scoring.scorer import (
    ScoringInputError,
    Turn,
    score_conversation,
    score_text,
    undiscovered_interests,
)

__all__ = [
    "RUBRIC_VERSION",
    "CriterionResult",
    "InterestMention",
    "ScoreReport",
    "ScoringInputError",
    "StrategyResult",
    "Turn",
    "compare_reports",
    "find_interest_mentions",
    "format_report",
    "rubric_plain_words",
    "score_conversation",
    "score_text",
    "stretch_goal",
    "suggest_hint",
    "top_tips",
    "undiscovered_interests",
    "what_worked",
]
