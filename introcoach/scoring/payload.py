"""The structured feedback message the dialogue sends beside the text report."""

from __future__ import annotations

from typing import Any, Dict, Optional

from introcoach.scoring.report import ScoreReport
from introcoach.scoring.rubric import criteria_by_id

PAYLOAD_TYPE = "introcoach.feedback"


def feedback_payload(
    report: ScoreReport, comparison: Optional[str] = None
) -> Dict[str, Any]:
    """The custom JSON message for the chat widget.

    It holds exactly the keys of ``introcoach score --json`` (``report.to_dict()``),
    plus ``type``, the derived feedback (what worked, top tips, stretch goal,
    undiscovered interests) and, for a retried pitch, the comparison line; each
    criterion also carries its short ``label`` from the rubric.

    Args:
        report: The score report.
        comparison: How this attempt compares with the previous one, if any.

    Returns:
        A JSON-safe dict.

    """
    payload: Dict[str, Any] = {"type": PAYLOAD_TYPE}
    payload.update(report.to_dict())
    labels = {c.id: c.label for c in criteria_by_id().values()}
    for strategy in payload.get("strategies", []):
        for criterion in strategy.get("criteria", []):
            criterion["label"] = labels.get(criterion["id"], criterion["id"])
    payload.update(report.feedback_dict())
    payload["comparison"] = comparison
    return payload
