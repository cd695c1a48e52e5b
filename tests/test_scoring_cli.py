"""The ``introcoach score`` command, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTRO = "Hi, I'm Sam, a peer specialist at Lakeside. How do you handle discharges?"


def run(args: List[str], stdin: Optional[str] = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "introcoach", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_json_output_shape() -> None:
    result = run(["score", "--persona", "dana", "--json"], INTRO)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["persona"] == "dana" and data["mode"] == "intro"
    assert [s["number"] for s in data["strategies"]] == [6, 4]


def test_json_matches_library() -> None:
    from introcoach.personas import get_persona
    from introcoach.scoring import score_text

    result = run(["score", "--persona", "priya", "--mode", "pitch", "--json"], INTRO)
    expected = score_text(INTRO, get_persona("priya"), "pitch").to_dict()
    assert json.loads(result.stdout) == expected


def test_readable_report_and_default_persona() -> None:
    result = run(["score"], INTRO)
    assert result.returncode == 0, result.stderr
    assert "Strategy 6" in result.stdout and "Dana Whitfield" in result.stdout


def test_transcript(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            [
                {"speaker": "persona", "text": "Hi, I'm Dana."},
                {"speaker": "user", "text": "Hi Dana, I'm Sam. What brings you here?"},
            ]
        )
    )
    result = run(
        ["score", "--transcript", str(path), "--json", "--mode", "pitch"], None
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mode"] == "conversation"


def test_persona_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "id: sol\nname: Sol Reyes\nrole: nurse\norganization: Mercy Clinic\n"
        "interests: [birdwatching]\n"
    )
    result = run(
        ["score", "--persona-file", str(path), "--json"], "I'm Sam. I go birding."
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["persona"] == "sol"


@pytest.mark.parametrize("stdin", ["", "   \n\t", "word " * 5001])
def test_bad_text(stdin: str) -> None:
    assert_one_line_error(run(["score"], stdin))


def test_unknown_persona() -> None:
    result = run(["score", "--persona", "nobody"], INTRO)
    assert_one_line_error(result)
    assert "nobody" in result.stderr


@pytest.mark.parametrize(
    "content, name",
    [
        (None, "missing.yml"),
        ("id: [unclosed\n", "bad.yml"),
        ("id: sol\nname: Sol\n", "partial.yml"),
    ],
)
def test_bad_persona_file(tmp_path: Path, content: Optional[str], name: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert_one_line_error(run(["score", "--persona-file", str(path)], INTRO))


@pytest.mark.parametrize(
    "content",
    [
        None,
        "{not json",
        json.dumps({"speaker": "user", "text": "hi"}),
        json.dumps([{"speaker": "coach", "text": "hi"}]),
        json.dumps([{"speaker": "user", "text": 3}]),
        json.dumps([]),
        json.dumps([{"speaker": "persona", "text": "Hi, I'm Dana."}]),
        json.dumps(["hello"]),
    ],
)
def test_bad_transcript(tmp_path: Path, content: Optional[str]) -> None:
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    assert_one_line_error(run(["score", "--transcript", str(path)], None))


def test_usage_error_is_one_line() -> None:
    assert_one_line_error(run(["score", "--mode", "speech"], INTRO))
    assert_one_line_error(run(["score", "--bogus"], INTRO))
