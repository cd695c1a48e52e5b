"""Scoring speed, in process after warm-up (not a test).

Run: ``PYTHONPATH=. python bench/bench_scoring.py``. Prints the median time to
score a 150-word pitch (target <= 5 ms) and a 40-turn conversation (target
<= 50 ms), and the machine it ran on.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, List

from introcoach.personas import get_persona
from introcoach.scoring import Turn, score_conversation, score_text
from introcoach.scoring.detectors import count_words

PITCH = (
    "Hi Dana, I'm Marisol Vega. I'm a certified peer specialist on the bridge team at "
    "Lakeside. When someone is discharged from the unit, I'm the person who meets them "
    "at the door, rides the bus with them to the pharmacy and sits in on their first "
    "appointment. I do it because twelve years ago I walked out of a hospital with a "
    "paper bag of meds and nobody to call. Since our team started, the folks we work "
    "with are coming back to the hospital about a third less often, and last month we "
    "added a Saturday check-in call. I also co-facilitate a WRAP group on Thursdays "
    "for people who just came home. On weekends I'm out on the trails, training for a "
    "half marathon. I know you plan discharges at St. Brigid: what's the hardest part "
    "of getting people connected before they leave, and do you still run trails?"
)
PERSONA_LINES = [
    "Oh, sorry, am I hogging the coffee? Go ahead. I'm Dana.",
    "My unit discharges about forty people a week, and many leave with nowhere to go.",
    "I started inviting peer specialists to our discharge meetings.",
    "I drove three hours to get here, and then the hotel lost my reservation.",
]
USER_LINES = [
    "I'm Tasha, a peer specialist at Lakeside. How do you plan discharges?",
    "Forty a week, wow. I meet people before they leave so they have a familiar face.",
    "What made you bring peers in? I'd love to hear how it went.",
    "Oh no, the hotel! I flew in and my suitcase is in Denver. Do you run trails?",
]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's description."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_ms(func: Callable[[], object], runs: int) -> float:
    """Median wall time of ``func`` in milliseconds."""
    times: List[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Warm up, time both cases, print the figures."""
    dana = get_persona("dana")
    turns = [
        Turn(
            "persona" if i % 2 == 0 else "user",
            (PERSONA_LINES if i % 2 == 0 else USER_LINES)[(i // 2) % 4],
        )
        for i in range(40)
    ]
    for _ in range(20):  # warm-up: pipeline, matchers, regexes
        score_text(PITCH, dana, "pitch")
        score_conversation(turns, dana)
    pitch_ms = median_ms(lambda: score_text(PITCH, dana, "pitch"), 300)
    conv_ms = median_ms(lambda: score_conversation(turns, dana), 100)
    conv_words = sum(count_words(t.text) for t in turns)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"pitch ({count_words(PITCH)} words): median {pitch_ms:.2f} ms (target <= 5 ms)"
    )
    print(
        f"conversation (40 turns, {conv_words} words): median {conv_ms:.2f} ms "
        "(target <= 50 ms)"
    )


if __name__ == "__main__":
    main()
