"""The rubric: strategies, criteria and weights (data in ``lexicons/rubric.yml``).

Two strategies from Gino, Kouchaki & Casciaro (2016) are scored:

* Strategy 6, ``introduce_and_converse`` (60 % of the overall score).
* Strategy 4, ``common_interests`` (40 % of the overall score).

Points per criterion within its strategy (each column adds up to 100):

=========================  =====  =====  ============
criterion                  intro  pitch  conversation
=========================  =====  =====  ============
states_name                  10     10       8
states_role                  15     15       8
key_message                  20     20      10
spark_interest               15     15       8
shared_passion               15     15       8
conversation_hook            15     15       8
pitch_length                 10     10       5
open_questions               --     --      10
follow_up                    --     --      10
turn_balance                 --     --      10
small_talk_topics            --     --       7
graceful_close               --     --       8
discovers_interests          30     30      30
shares_own_interests         20     20      20
names_common_ground          30     30      30
builds_on_common_ground      20     20      20
=========================  =====  =====  ============

A strategy's score is ``round(100 * sum(weight * score) / sum(weight))`` over
the criteria that apply to the mode; the overall score is
``round((60 * strategy6 + 40 * strategy4) / 100)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Dict, List, Tuple

from introcoach.scoring import lexicon

RUBRIC_VERSION = "2026.11-1"
MODES = ("intro", "pitch", "conversation")
CITATION = "Gino, Kouchaki & Casciaro, 2016"


@dataclass(frozen=True)
class CriterionDef:
    """One criterion as defined in ``rubric.yml``."""

    id: str
    strategy_id: str
    label: str
    weights: Dict[str, int]
    plain: str
    tip: str
    praise: str
    gain: str
    loss: str

    def applies_to(self, mode: str) -> bool:
        """Tell whether the criterion is scored in this mode."""
        return mode in self.weights


@dataclass(frozen=True)
class StrategyDef:
    """One strategy and its criteria, in display order."""

    id: str
    number: int
    title: str
    short: str
    weight: int
    criteria: Tuple[CriterionDef, ...]

    def criteria_for(self, mode: str) -> List[CriterionDef]:
        """Return the criteria scored in this mode."""
        return [c for c in self.criteria if c.applies_to(mode)]


@functools.lru_cache(maxsize=1)
def strategies() -> Tuple[StrategyDef, ...]:
    """Strategy definitions in report order (6 first, then 4)."""
    data = lexicon.load("rubric")
    weights = data["strategy_weights"]
    result = []
    for entry in data["strategies"]:
        criteria = tuple(
            CriterionDef(
                id=c["id"],
                strategy_id=entry["id"],
                label=c["label"],
                weights={str(k): int(v) for k, v in c["weights"].items()},
                plain=c["plain"],
                tip=c["tip"],
                praise=c["praise"],
                gain=c["gain"],
                loss=c["loss"],
            )
            for c in entry["criteria"]
        )
        result.append(
            StrategyDef(
                id=entry["id"],
                number=int(entry["number"]),
                title=entry["title"],
                short=entry["short"],
                weight=int(weights[entry["id"]]),
                criteria=criteria,
            )
        )
    return tuple(result)


@functools.lru_cache(maxsize=1)
def criteria_by_id() -> Dict[str, CriterionDef]:
    """Every criterion by id."""
    return {c.id: c for s in strategies() for c in s.criteria}


def criterion_ids(mode: str) -> List[str]:
    """Ids of the criteria scored in a mode, in report order."""
    return [c.id for s in strategies() for c in s.criteria_for(mode)]


def stretch_templates() -> Dict[str, str]:
    """Stretch goals for a report where every criterion was met, by mode."""
    data = lexicon.load("rubric")["stretch_goals"]
    return dict(data["all_met"], hidden_hint=data["hidden_hint"])
