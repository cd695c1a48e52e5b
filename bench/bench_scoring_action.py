"""What scoring adds to a Rasa round trip (not a test).

Run: ``PYTHONPATH=. python bench/bench_scoring_action.py``.

A round trip that ends in feedback and one that does not differ only in the
custom action: Rasa's NLU, policies, tracker store and the HTTP call to the
action server are the same. So this runs the two scoring actions in process on
realistic trackers, once as they are and once with the scorer replaced by a
lookup of the report it would return (everything else unchanged: the tracker
walk, formatting, the payload, storing the score), and reports the p50/p95
difference. Target: p95 overhead <= 20 ms. Storage writes go to a throwaway
SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_scoring import PERSONA_LINES, PITCH, USER_LINES, cpu_model  # noqa: E402

RUNS = 300


def _tracker(kind: str) -> Any:
    from rasa_sdk import Tracker

    events: List[Dict[str, Any]] = [
        {
            "event": "bot",
            "text": "(scene)",
            "metadata": {"speaker": "narrator", "segment_start": True},
        }
    ]
    for turn in range(20):  # a 40-turn conversation
        events.append(
            {
                "event": "bot",
                "text": PERSONA_LINES[turn % 4],
                "metadata": {"speaker": "persona"},
            }
        )
        events.append({"event": "user", "text": USER_LINES[turn % 4]})
    latest = {
        "text": "how did I do?",
        "intent": {"name": "ask_feedback"},
        "entities": [],
    }
    slots: Dict[str, Any] = {"persona_id": "dana"}
    if kind == "pitch":
        latest = {"text": PITCH, "intent": {"name": "introduce_self"}, "entities": []}
        slots["pitch_text"] = PITCH
    latest["message_id"] = uuid.uuid4().hex  # a new message each run: a real write
    return Tracker("bench", slots, latest, events, False, None, {}, "action_listen")


def _timings(run: Callable[[], Any]) -> List[float]:
    for _ in range(20):  # warm-up: pipeline, matchers, database
        run()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p(values: List[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def measure(kind: str) -> Tuple[List[float], List[float]]:
    """Run one scoring action with the real scorer, then with a cached report."""
    from rasa_sdk.executor import CollectingDispatcher

    import actions.coaching as coaching
    import actions.pitch as pitch

    action = (
        pitch.ActionScorePitch() if kind == "pitch" else coaching.ActionGiveFeedback()
    )
    module = pitch if kind == "pitch" else coaching
    attribute = "score_text" if kind == "pitch" else "score_conversation"
    real = getattr(module, attribute)

    def once() -> None:
        tracker = _tracker(kind)
        asyncio.run(action.run(CollectingDispatcher(), tracker, {}))

    with_scoring = _timings(once)
    cache: Dict[str, Any] = {}

    def cached(*args: Any, **kwargs: Any) -> Any:
        key = repr(
            (args[0] if args and isinstance(args[0], str) else len(args[0]), kwargs)
        )
        if key not in cache:
            cache[key] = real(*args, **kwargs)
        return cache[key]

    setattr(module, attribute, cached)
    try:
        without_scoring = _timings(once)
    finally:
        setattr(module, attribute, real)
    return with_scoring, without_scoring


def main() -> int:
    """Print the overhead table."""
    folder = tempfile.mkdtemp(prefix="introcoach-bench-")
    os.environ["INTROCOACH_DATABASE_URL"] = f"sqlite:///{folder}/bench.db"
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores; "
        f"{RUNS} runs each after warm-up"
    )
    print(
        "| action | with scoring p50 / p95 (ms) | scorer cached p50 / p95 (ms) "
        "| overhead p95 (ms) | target |"
    )
    print("|---|---:|---:|---:|---|")
    worst = 0.0
    for kind, label in (
        ("pitch", "action_score_pitch (150-word pitch)"),
        ("conversation", "action_give_feedback (40 turns)"),
    ):
        scored, cached = measure(kind)
        overhead = _p(scored, 95) - _p(cached, 95)
        worst = max(worst, overhead)
        print(
            f"| {label} | {_p(scored, 50):.1f} / {_p(scored, 95):.1f} | "
            f"{_p(cached, 50):.1f} / {_p(cached, 95):.1f} | {overhead:.1f} | <= 20 ms |"
        )
    print(
        f"scoring adds at most {worst:.1f} ms at p95 to a round trip (target <= 20 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
