"""Run every IntroCoach benchmark; ``make bench`` calls this.

Writes ``bench/results/rasa.json`` (every number, plus the machine) and
``bench/results/rasa.md`` (the table, which is also printed), then runs the
scoring benchmarks, ``bench/bench_review.py`` (the review app with 10,000
stored sessions) and ``bench/bench_load.py`` (simulated trainees on one and two
Rasa replicas; its soak only with ``--soak-minutes``). Progress goes to stderr.

Examples:
    .venv/bin/python bench/run_all.py --quick
    .venv/bin/python bench/run_all.py --only training,nlu
    .venv/bin/python bench/run_all.py --only load --soak-minutes 30
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import List, Optional, Sequence

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # when imported rather than run as a script
    sys.path.insert(0, str(BENCH_DIR))

import bench_rasa  # noqa: E402
from bench_rasa import PARTS, Options, log, markdown_table, run_benchmarks  # noqa: E402

# Scoring speed in process, then what scoring adds to a round trip.
SCORING_SCRIPTS = (
    BENCH_DIR / "bench_scoring.py",
    BENCH_DIR / "bench_scoring_action.py",
)
SCORING_TIMEOUT = 1800.0
# The review app with 10,000 stored sessions (SQLite and PostgreSQL).
REVIEW_SCRIPT = BENCH_DIR / "bench_review.py"
# Simulated trainees over REST and socket.io (issue "scale-out"): about 10 min
# on 2 cores for the three configurations (mostly starting 1 + 1 + 2 Rasa
# replicas); a soak only with --soak-minutes, which adds its own length.
LOAD_SCRIPT = BENCH_DIR / "bench_load.py"
LOAD_TIMEOUT = 2700.0
ALL_PARTS = PARTS + ("scoring", "review", "load")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark IntroCoach against the stock `rasa init` assistant."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 40 messages, 2 folds, 1 start per assistant",
    )
    parser.add_argument(
        "--only",
        default=",".join(ALL_PARTS),
        help=f"comma-separated parts to run (default: all): {','.join(ALL_PARTS)}",
    )
    parser.add_argument(
        "--messages", type=int, help="measured REST messages (default 200, quick 40)"
    )
    parser.add_argument(
        "--folds", type=int, help="cross-validation folds (default 5, quick 2)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="starts per assistant for the ready time (default 3, quick 1)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=BENCH_DIR / "results",
        help="where rasa.json and rasa.md go (default bench/results)",
    )
    parser.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep the temporary folder (logs, models)",
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=0.0,
        help="part load: also soak for this many minutes (default 0: no soak)",
    )
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = sorted(set(parts) - set(ALL_PARTS))
    if unknown or not parts:
        parser.error(f"--only takes {','.join(ALL_PARTS)}; got {args.only!r}")
    args.parts = parts
    for name in ("messages", "folds", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if args.folds is not None and args.folds < 2:
        parser.error("--folds must be at least 2")
    if args.soak_minutes < 0:
        parser.error("--soak-minutes must be at least 0")
    return args


def build_options(args: argparse.Namespace) -> Options:
    """Options for :func:`bench_rasa.run_benchmarks` from the command line."""
    overrides = {
        "parts": tuple(p for p in args.parts if p in PARTS),
        "keep_temp": args.keep_temp,
        "results_dir": args.results_dir,
    }
    if args.messages is not None:
        overrides["messages"] = args.messages
    if args.folds is not None:
        overrides["folds"] = args.folds
    if args.repeats is not None:
        overrides["ready_repeats"] = args.repeats
    return Options.quick_run(**overrides) if args.quick else Options(**overrides)


def run_scoring(quick: bool, results_dir: Path) -> Optional[int]:
    """Run each scoring benchmark script; the first non-zero exit code wins.

    Outputs are printed and saved to ``<results_dir>/<script name>.txt``.

    Returns:
        0 when all passed, else the first failing exit code; None if none exist.
    """
    codes = [
        code
        for code in (run_scoring_script(s, quick, results_dir) for s in SCORING_SCRIPTS)
        if code is not None
    ]
    if not codes:
        return None
    return next((code for code in codes if code != 0), 0)


def run_scoring_script(
    script: Path,
    quick: bool,
    results_dir: Path,
    extra: Sequence[str] = (),
    timeout: float = SCORING_TIMEOUT,
) -> Optional[int]:
    """Run one benchmark script in its own process, if it exists.

    ``--quick`` is passed on only when the script's source mentions it (asking
    it for ``--help`` would run it, since it may take no options); ``extra``
    arguments are passed as they are.

    Returns:
        Its exit code, or None when the script is absent.
    """
    if not script.exists():
        log(f"{script.name} is not there; skipping it")
        return None
    command: List[str] = [sys.executable, str(script)]
    if quick and "--quick" in script.read_text(encoding="utf-8"):
        command.append("--quick")
    command += list(extra)
    root = str(bench_rasa.PROJECT_ROOT)
    pythonpath = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, **bench_rasa.BENCH_ENV, PYTHONPATH=pythonpath)
    log(f"running {script.name} {' '.join(command[2:])}...")
    process = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"{script.name} did not finish in {timeout:.0f} s; stopped it")
        return -1
    finally:
        bench_rasa._stop_group(process)
    print(output, end="", flush=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{script.stem}.txt").write_text(output, encoding="utf-8")
    if process.returncode != 0:
        log(f"{script.name} exited {process.returncode}")
    return process.returncode


def _raise_interrupt(signum: int, _frame: Optional[FrameType]) -> None:
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops its servers.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the selected benchmarks, write the results and print the table."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    failed = False
    options = build_options(args)
    if options.parts:
        results = run_benchmarks(options)
        results["total_seconds"] = round(time.monotonic() - started, 1)
        args.results_dir.mkdir(parents=True, exist_ok=True)
        json_path = args.results_dir / "rasa.json"
        md_path = args.results_dir / "rasa.md"
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        table = markdown_table(results)
        md_path.write_text("# IntroCoach vs. the `rasa init` assistant\n\n" + table)
        print(table, flush=True)
        log(f"wrote {json_path} and {md_path} ({results['total_seconds']:.0f} s)")
        failed = bool(results["errors"])
    if "scoring" in args.parts:
        code = run_scoring(args.quick, args.results_dir)
        failed = failed or (code not in (None, 0))
    if "review" in args.parts:
        code = run_scoring_script(REVIEW_SCRIPT, args.quick, args.results_dir)
        failed = failed or (code not in (None, 0))
    if "load" in args.parts:
        extra = ["--results-dir", str(args.results_dir)]
        if args.soak_minutes > 0:
            extra += ["--soak-minutes", f"{args.soak_minutes:g}"]
        code = run_scoring_script(
            LOAD_SCRIPT,
            args.quick,
            args.results_dir,
            extra,
            timeout=LOAD_TIMEOUT + args.soak_minutes * 60 * 1.5,
        )
        failed = failed or (code not in (None, 0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
