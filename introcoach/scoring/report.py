"""Score reports: what the scorer returns and what gets stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from introcoach.scoring.rubric import criteria_by_id, strategies


@dataclass
class CriterionResult:
    """One criterion's result.

    Attributes:
        id: Stable criterion id.
        met: Whether the criterion is met.
        score: 0..1, partial credit allowed.
        evidence: Exact text from the trainee that satisfied it, or None.
        tip: A concrete next step when not met; None when met.
        weight: Points within the strategy in this mode (not in ``to_dict``).
        praise: What went well, for :func:`what_worked` (not in ``to_dict``).

    """

    id: str
    met: bool
    score: float
    evidence: Optional[str]
    tip: Optional[str]
    weight: int = 0
    praise: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """Return the stored form."""
        return {
            "id": self.id,
            "met": self.met,
            "score": round(self.score, 2),
            "evidence": self.evidence,
            "tip": self.tip,
        }


@dataclass
class StrategyResult:
    """One strategy's score (0-100) and its criteria."""

    id: str
    number: int
    title: str
    score: int
    criteria: List[CriterionResult]
    weight: int = 0

    def to_dict(self) -> Dict[str, Any]:
        """Return the stored form."""
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "score": self.score,
            "criteria": [c.to_dict() for c in self.criteria],
        }


@dataclass
class ScoreReport:
    """The result of scoring an introduction, a pitch or a conversation.

    ``to_dict()`` holds exactly the stored keys. The feedback built from the
    report (what worked, top tips, stretch goal, undiscovered interests) is in
    ``feedback_dict()``.
    """

    overall: int
    mode: str
    persona: str
    rubric_version: str
    word_count: int
    estimated_seconds: float
    strategies: List[StrategyResult]
    persona_name: str = ""
    undiscovered: Optional[List[str]] = None
    stretch: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """Return the stored, JSON-safe form (``introcoach score --json``)."""
        return {
            "overall": self.overall,
            "mode": self.mode,
            "persona": self.persona,
            "rubric_version": self.rubric_version,
            "word_count": self.word_count,
            "estimated_seconds": self.estimated_seconds,
            "strategies": [s.to_dict() for s in self.strategies],
        }

    def feedback_dict(self) -> Dict[str, Any]:
        """Feedback derived from the report, for the dialogue and the web app."""
        from introcoach.scoring.feedback import stretch_goal, top_tips, what_worked

        return {
            "what_worked": what_worked(self),
            "top_tips": top_tips(self),
            "stretch_goal": stretch_goal(self),
            "undiscovered_interests": list(self.undiscovered or []),
        }

    def criteria(self) -> Dict[str, CriterionResult]:
        """Every criterion result by id."""
        return {c.id: c for s in self.strategies for c in s.criteria}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreReport:
        """Rebuild a stored report (e.g. the previous try, for comparison).

        Raises:
            ValueError: When the mapping does not have the stored shape.

        """
        try:
            known = criteria_by_id()
            titles = {s.id: s for s in strategies()}
            mode = str(data["mode"])
            result = []
            for s in data["strategies"]:
                defn = titles.get(s["id"])
                crits = []
                for c in s["criteria"]:
                    cdef = known.get(c["id"])
                    crits.append(
                        CriterionResult(
                            id=str(c["id"]),
                            met=bool(c["met"]),
                            score=float(c["score"]),
                            evidence=c.get("evidence"),
                            tip=c.get("tip"),
                            weight=cdef.weights.get(mode, 0) if cdef else 0,
                            praise=cdef.praise if cdef else "",
                        )
                    )
                result.append(
                    StrategyResult(
                        id=str(s["id"]),
                        number=int(s["number"]),
                        title=str(s["title"]),
                        score=int(s["score"]),
                        criteria=crits,
                        weight=defn.weight if defn else 0,
                    )
                )
            return cls(
                overall=int(data["overall"]),
                mode=mode,
                persona=str(data["persona"]),
                rubric_version=str(data["rubric_version"]),
                word_count=int(data["word_count"]),
                estimated_seconds=float(data["estimated_seconds"]),
                strategies=result,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored score report: {exc}") from None
