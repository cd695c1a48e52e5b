"""Per-criterion accuracy of the scorer on a labelled evaluation set.

Usage::

    python -m introcoach.scoring.evaluate tests/scoring_eval [--misses]
        [--part all|tuning|holdout|both]
    python -m introcoach.scoring.evaluate tests/scoring_eval/holdout.yml

Each path is a folder of YAML files or one YAML file (only the named files
are read). The files hold with a ``cases`` list. A case has ``id``,
``persona`` (a packaged persona id), ``expected`` (criterion id -> met) and
either ``text`` with ``mode`` ("intro" or "pitch") or ``turns`` (a
conversation). Prints a markdown table of accuracy per criterion.

Files whose name starts with ``holdout`` are the *holdout* part: written
before the scorer was tuned for them and never tuned on. The other files are
the *tuning* part (``holdout_fresh.yml`` is holdout, so ``--part tuning``
never reads it). ``--part`` scores one part, or ``both`` for one table each.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

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


PARTS = ("tuning", "holdout")
HOLDOUT_PREFIX = "holdout"


def part_of(path: Path) -> str:
    """The part a case file belongs to: "holdout" or "tuning"."""
    return "holdout" if path.name.startswith(HOLDOUT_PREFIX) else "tuning"


def case_files(folder: Path, part: str = "all") -> List[Path]:
    """The YAML case files in ``folder`` (sorted), optionally of one part.

    Only file names are looked at: a file of the other part is never opened.

    Args:
        folder: The evaluation folder, or a single YAML file.
        part: "all", "tuning" or "holdout".

    Raises:
        ValueError: An unknown part.

    """
    if part not in ("all",) + PARTS:
        raise ValueError(f"part must be 'all', 'tuning' or 'holdout', not {part!r}")
    path = Path(folder)
    files = [path] if path.is_file() else sorted(path.glob("*.yml"))
    return [f for f in files if part == "all" or part_of(f) == part]


def _files_of(paths: Sequence[Path], part: str) -> List[Path]:
    files: List[Path] = []
    for path in paths:
        files.extend(f for f in case_files(path, part) if f not in files)
    return files


def _read_cases(paths: Iterable[Path]) -> List[dict]:
    cases: List[dict] = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cases.extend(data.get("cases") or [])
    return cases


def load_cases(folder: Path, part: str = "all") -> List[dict]:
    """Load every case from the YAML files in ``folder``, in file order.

    Args:
        folder: The evaluation folder.
        part: "all" (default), "tuning" or "holdout" (files named holdout*).

    """
    return _read_cases(case_files(folder, part))


def load_parts(folder: Path) -> Dict[str, List[dict]]:
    """The cases of each part: ``{"tuning": [...], "holdout": [...]}``."""
    return {part: load_cases(folder, part) for part in PARTS}


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


def _print_stats(title: str, cases: Sequence[dict], misses: bool) -> None:
    stats = evaluate(cases)
    print(f"{title}{len(cases)} cases\n")
    print(markdown_table(stats))
    if misses:
        print()
        for cid, entry in stats.items():
            for case_id, expected, got in entry.misses:
                print(f"{cid}: {case_id} expected {expected}, scorer {got}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the table (and optionally the disagreements)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths",
        type=Path,
        nargs="*",
        default=[Path("tests/scoring_eval")],
        metavar="PATH",
        help="evaluation folders or single YAML files (default tests/scoring_eval)",
    )
    parser.add_argument("--misses", action="store_true", help="list disagreements")
    parser.add_argument(
        "--part",
        choices=("all",) + PARTS + ("both",),
        default="all",
        help="score all files (default), one part, or both parts separately",
    )
    args = parser.parse_args(argv)
    where = ", ".join(str(p) for p in args.paths)
    if args.part == "both":
        parts = {part: _read_cases(_files_of(args.paths, part)) for part in PARTS}
        if not any(parts.values()):
            print(f"no cases found in {where}", file=sys.stderr)
            return 2
        for number, part in enumerate(PARTS):
            if number:
                print()
            _print_stats(f"{part} part: ", parts[part], args.misses)
        return 0
    cases = _read_cases(_files_of(args.paths, args.part))
    if not cases:
        print(f"no cases found in {where}", file=sys.stderr)
        return 2
    title = "" if args.part == "all" else f"{args.part} part: "
    _print_stats(title, cases, args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
