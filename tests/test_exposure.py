"""The running servers: no secret on any command line, owner-only files.

Uses the session's ``stack`` fixture (action server, Rasa server, web app).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Dict

import pytest

from introcoach.stack import Stack

pytestmark = pytest.mark.model


def command_lines() -> Dict[int, str]:
    """Every readable ``/proc/<pid>/cmdline``, arguments joined by spaces."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return found


def test_no_secret_is_on_any_command_line(stack: Stack) -> None:
    s = stack.settings
    lines = command_lines()
    ours = {name: p.pid for name, p in stack.processes.items()}
    assert set(ours.values()) <= set(lines), "the servers should be running"
    assert "--enable-api" in lines[ours["rasa"]]
    assert "--auth-token" not in lines[ours["rasa"]]
    secrets = {
        "INTROCOACH_API_TOKEN": s.api_token,
        "INTROCOACH_REST_TOKEN": s.rest_token,
        "INTROCOACH_ACTION_TOKEN": s.action_token,
        "INTROCOACH_JWT_KEY": s.jwt_key,
    }
    for pid, line in lines.items():
        for name, secret in secrets.items():
            assert secret not in line, f"{name} is on the command line of {pid}"


def test_the_api_still_needs_the_token_read_from_the_environment(
    stack: Stack,
) -> None:
    import urllib.error
    import urllib.request

    base = stack.settings.rasa_url
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/status", timeout=10)  # noqa: S310
    assert refused.value.code in (401, 403)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/status?token=wrong", timeout=10)  # noqa: S310
    assert refused.value.code in (401, 403)
    url = stack.rasa_status_url(stack.settings.rasa_port)
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200


def test_the_database_its_wal_and_the_logs_are_owner_only(stack: Stack) -> None:
    database = Path(stack.extra_env["INTROCOACH_DATABASE_URL"].split("///", 1)[1])
    files = [database, *stack.log_dir.glob("*.log")]
    files += [
        database.with_name(database.name + suffix)
        for suffix in ("-wal", "-shm")
        if database.with_name(database.name + suffix).exists()
    ]
    assert len(files) >= 4  # the database and three logs at least
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
