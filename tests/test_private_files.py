"""Owner-only files and no secrets on command lines, without starting Rasa.

Each test sets the umask to the usual 022 first, so what it sees comes from
the project's own modes and not from a strict umask of the machine.
``test_exposure.py`` checks the same on the running servers.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

from introcoach.private_files import open_private_log, private_sqlite_file
from introcoach.rasa_server import with_api_token
from introcoach.stack import Stack, ephemeral_settings
from introcoach.storage.db import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def write_some(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('private words')"))
        # Keep a connection open: SQLite removes the WAL when the last closes.
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM t")).all()
            database = Path(url.removeprefix("sqlite:///"))
            for suffix in ("-wal", "-shm"):
                side = database.with_name(database.name + suffix)
                assert side.exists() and mode(side) == 0o600, side
    finally:
        engine.dispose()


def test_the_projects_database_its_wal_and_folders_are_owner_only(
    tmp_path: Path,
) -> None:
    database = tmp_path / "var" / "deeper" / "introcoach.db"
    write_some(f"sqlite:///{database}")
    assert mode(database) == 0o600
    assert mode(database.parent) == 0o700
    assert mode(database.parent.parent) == 0o700


def test_an_existing_folder_is_left_alone_and_an_old_database_narrowed(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    database = shared / "old.db"
    database.touch()
    os.chmod(database, 0o644)
    private_sqlite_file(database)
    assert mode(shared) == 0o755
    assert mode(database) == 0o600


def test_rasas_tracker_store_creates_its_database_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from introcoach.tracker_store import ProjectSQLTrackerStore

    database = tmp_path / "rasa-var" / "tracker.db"
    monkeypatch.setenv("INTROCOACH_DATABASE_URL", f"sqlite:///{database}")
    store = ProjectSQLTrackerStore()
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM events")).all()
            assert mode(database) == 0o600
            assert mode(database.parent) == 0o700
            for suffix in ("-wal", "-shm"):
                side = database.with_name(database.name + suffix)
                assert not side.exists() or mode(side) == 0o600
    finally:
        store.engine.dispose()


def test_logs_and_everything_a_server_creates_are_owner_only(tmp_path: Path) -> None:
    logs = tmp_path / "var" / "log"
    made = tmp_path / "made-by-the-server.txt"
    stack = Stack(ephemeral_settings(), tmp_path / "model.tar.gz", log_dir=logs)
    stack._spawn(
        "probe",
        [
            sys.executable,
            "-c",
            f"open({str(made)!r}, 'w').write('x'); print('started')",
        ],
    )
    assert stack.processes["probe"].wait(30) == 0
    log = logs / "probe.log"
    assert log.read_text().strip() == "started"
    assert mode(log) == 0o600
    assert mode(logs) == 0o700 and mode(logs.parent) == 0o700
    assert mode(made) == 0o600  # the child's umask is 077


def test_an_old_log_is_narrowed(tmp_path: Path) -> None:
    log = tmp_path / "old.log"
    log.write_text("before\n")
    os.chmod(log, 0o644)
    fd = open_private_log(log)
    os.close(fd)
    assert mode(log) == 0o600


def test_the_api_token_is_not_on_rasas_command_line(tmp_path: Path) -> None:
    settings = ephemeral_settings()
    stack = Stack(settings, tmp_path / "model.tar.gz")
    for command in stack.commands().values():
        joined = " ".join(command)
        for secret in (
            settings.api_token,
            settings.rest_token,
            settings.action_token,
            settings.jwt_key,
        ):
            assert secret not in joined
    assert "--auth-token" not in stack.rasa_command(5005)
    assert "--enable-api" in stack.rasa_command(5005)
    assert stack._env()["INTROCOACH_API_TOKEN"] == settings.api_token


def test_rasa_server_adds_the_token_from_the_environment() -> None:
    env = {"INTROCOACH_API_TOKEN": "from-the-env"}
    run = ["run", "--enable-api", "--port", "5005"]
    assert with_api_token(run, env) == [*run, "--auth-token=from-the-env"]
    # A token that looks like an option still reaches Rasa as the token.
    dash = {"INTROCOACH_API_TOKEN": "-starts-with-a-dash"}
    assert with_api_token(run, dash) == [*run, "--auth-token=-starts-with-a-dash"]
    # Given on the command line anyway: left as it is.
    assert with_api_token([*run, "--auth-token", "x"], env) == [
        *run,
        "--auth-token",
        "x",
    ]
    assert with_api_token([*run, "--auth-token=x"], env) == [*run, "--auth-token=x"]
    # No API, or not `run`: nothing added.
    assert with_api_token(["run", "--port", "5005"], env) == ["run", "--port", "5005"]
    assert with_api_token(["shell", "--enable-api"], env) == ["shell", "--enable-api"]
    assert with_api_token([], env) == []


@pytest.mark.parametrize("env", [{}, {"INTROCOACH_API_TOKEN": "  "}])
def test_an_api_without_a_token_does_not_start(env: dict) -> None:
    with pytest.raises(SystemExit, match="INTROCOACH_API_TOKEN"):
        with_api_token(["run", "--enable-api"], env)
