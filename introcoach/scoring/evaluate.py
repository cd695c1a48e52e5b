"""Per-criterion accuracy of the scorer on a labelled evaluation set.

Usage::

    python -m introcoach.scoring.evaluate tests/scoring_eval [--misses]

The folder holds YAML files with a ``cases`` list. A case has ``id``,
``persona`` (a packaged persona id), ``expected`` (criterion id -> met) and
either ``text`` with ``mode`` ("intro" or "pitch") or ``turns`` (a
conversation). Prints a markdown table of accuracy per criterion.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from introcoach.personas import get_persona
from introcoach.scoring.rubric import criterion_ids
from introcoach.scoring.scorer import Turn, score_conversation, score_text


@dataclass
class CriterionStats:
    """Agreement counts for one criterion."""

    total: int = 0
    correct: int = 0
    misses: List[Tuple[str, bool, bool]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of cases where the scorer agrees with the label."""
        return self.correct / self.total if self.total else 0.0


def load_cases(folder: Path) -> List[dict]:
    """Load every case from the YAML files in ``folder``, in file order."""
    cases: List[dict] = []
    for path in sorted(Path(folder).glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cases.extend(data.get("cases") or [])
    return cases


def evaluate(cases: Sequence[dict]) -> Dict[str, CriterionStats]:
    """Score every case and compare ``met`` with the labels.

    Returns:
        Stats per criterion id, in rubric order (conversation ids included).

    """
    order = criterion_ids("conversation")
    stats: Dict[str, CriterionStats] = {cid: CriterionStats() for cid in order}
    for case in cases:
        persona = get_persona(case["persona"])
        if "turns" in case:
            turns = [Turn(t["speaker"], t["text"]) for t in case["turns"]]
            report = score_conversation(turns, persona)
        else:
            report = score_text(case["text"], persona, case.get("mode", "intro"))
        results = report.criteria()
        for cid, expected in case["expected"].items():
            got = results[cid].met
            entry = stats[cid]
            entry.total += 1
            if got == bool(expected):
                entry.correct += 1
            else:
                entry.misses.append((case["id"], bool(expected), got))
    return stats


def markdown_table(stats: Dict[str, CriterionStats]) -> str:
    """Format the accuracy table as markdown."""
    lines = [
        "| criterion | cases | agree | accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    for cid, entry in stats.items():
        if entry.total:
            lines.append(
                f"| {cid} | {entry.total} | {entry.correct} | {entry.accuracy:.2f} |"
            )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the table (and optionally the disagreements)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", type=Path, nargs="?", default=Path("tests/scoring_eval")
    )
    parser.add_argument("--misses", action="store_true", help="list disagreements")
    args = parser.parse_args(argv)
    cases = load_cases(args.folder)
    if not cases:
        print(f"no cases found in {args.folder}", file=sys.stderr)
        return 2
    stats = evaluate(cases)
    print(f"{len(cases)} cases\n")
    print(markdown_table(stats))
    if args.misses:
        print()
        for cid, entry in stats.items():
            for case_id, expected, got in entry.misses:
                print(f"{cid}: {case_id} expected {expected}, scorer {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
