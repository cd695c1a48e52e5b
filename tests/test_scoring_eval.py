"""Per-criterion accuracy on the labelled evaluation set (tests/scoring_eval)."""

from __future__ import annotations

from pathlib import Path

from introcoach.scoring.evaluate import evaluate, load_cases, markdown_table

EVAL_DIR = Path(__file__).resolve().parent / "scoring_eval"
MIN_ACCURACY = 0.9


def test_eval_set_is_big_enough() -> None:
    cases = load_cases(EVAL_DIR)
    singles = [c for c in cases if "text" in c]
    conversations = [c for c in cases if "turns" in c]
    assert len(singles) >= 60
    assert len(conversations) >= 10
    assert {c["mode"] for c in singles} == {"intro", "pitch"}
    assert len({c["persona"] for c in cases}) >= 5
    assert len({c["id"] for c in cases}) == len(cases)


def test_per_criterion_accuracy() -> None:
    stats = evaluate(load_cases(EVAL_DIR))
    print()
    print(markdown_table(stats))
    low = {
        cid: round(entry.accuracy, 2)
        for cid, entry in stats.items()
        if entry.total and entry.accuracy < MIN_ACCURACY
    }
    assert not low, f"criteria below {MIN_ACCURACY}: {low}"
