"""The structured feedback message the dialogue sends beside the text report."""

from __future__ import annotations

from typing import Any, Dict, Optional

from introcoach.scoring.report import ScoreReport

PAYLOAD_TYPE = "introcoach.feedback"


def feedback_payload(
    report: ScoreReport, comparison: Optional[str] = None
) -> Dict[str, Any]:
    """The custom JSON message for the chat widget.

    It holds exactly the keys of ``introcoach score --json`` (``report.to_dict()``),
    plus ``type``, the derived feedback (what worked, top tips, stretch goal,
    undiscovered interests) and, for a retried pitch, the comparison line.

    Args:
        report: The score report.
        comparison: How this attempt compares with the previous one, if any.

    Returns:
        A JSON-safe dict.

    """
    payload: Dict[str, Any] = {"type": PAYLOAD_TYPE}
    payload.update(report.to_dict())
    payload.update(report.feedback_dict())
    payload["comparison"] = comparison
    return payload
