"""Write every role-play suite conversation as Markdown (``make transcripts``).

Starts the action server and the Rasa server on free loopback ports (a
throwaway database, fresh tokens), runs each scripted conversation in
``tests/roleplay/conversations`` over REST as a trainee would, and writes
``results/roleplay/<id>.md`` plus ``summary.md`` with the automated checks per
part (tuning and holdout). ``--plain`` leaves the checks out of the
transcripts, for readers who should judge them fresh.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from roleplay.suite import (  # noqa: E402
    SUITE_DIR,
    load_conversations,
    markdown,
    run_on_planner,
    run_over_rest,
    summary,
)

from introcoach.model import model_path  # noqa: E402
from introcoach.stack import Stack, ephemeral_settings  # noqa: E402


def main() -> int:
    """Run the suite and write the transcripts; 0 when every turn is clean."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "roleplay")
    parser.add_argument("--plain", action="store_true", help="no check notes")
    parser.add_argument(
        "--suite",
        type=Path,
        default=SUITE_DIR,
        help="a folder of conversation files (default: tests/roleplay/conversations)",
    )
    parser.add_argument(
        "--planner-only",
        action="store_true",
        help="run through the reply planner alone (no Rasa, no servers)",
    )
    args = parser.parse_args()
    conversations = load_conversations(args.suite)
    if args.planner_only:
        transcripts = [run_on_planner(c) for c in conversations]
    else:
        model = model_path()
        if not model.exists():
            print(f"no trained model at {model}: run `make train` first")
            return 2
        with tempfile.TemporaryDirectory() as work:
            stack = Stack(
                ephemeral_settings(),
                model,
                log_dir=Path(work),
                extra_env={"INTROCOACH_DATABASE_URL": f"sqlite:///{work}/t.db"},
                with_web=False,
            )
            stack.start()
            try:
                stack.wait_ready(timeout=300)
                s = stack.settings
                transcripts = [
                    run_over_rest(c, s.rasa_url, s.api_token, s.rest_token)
                    for c in conversations
                ]
            finally:
                stack.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    for transcript in transcripts:
        text = markdown(transcript, with_checks=not args.plain)
        (args.out / f"{transcript.id}.md").write_text(text, encoding="utf-8")
    figures = summary(transcripts)
    # The conversations written blind this session are reported on their own
    # too: the rest of the held-out part has been read before.
    source = {c["id"]: c["source"] for c in conversations}
    for name in sorted({c["source"] for c in conversations if c["part"] == "holdout"}):
        chosen = [t for t in transcripts if source.get(t.id) == name]
        figures[f"holdout: {name}.yml"] = summary(chosen)["holdout"]
    lines = ["# Role-play suite", "", "```json", json.dumps(figures, indent=2), "```"]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    print(f"{len(transcripts)} transcripts in {args.out}")
    return 0 if not any(t.faults for t in transcripts) else 1


if __name__ == "__main__":
    sys.exit(main())
