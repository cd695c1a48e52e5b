"""Storage tests, run on a temporary SQLite file and on a throwaway PostgreSQL
database (skipped when no server answers at 127.0.0.1:5432)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from pg_support import throwaway_postgres
from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    PrimaryKeyConstraint,
    UniqueConstraint,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from introcoach.storage import (
    Comment,
    CriterionVerdict,
    NotFound,
    PracticeSession,
    Score,
    ScoreCriterion,
    User,
    UsernameTaken,
    add_comment,
    agreement_by_criterion,
    assign_trainee,
    configure_password_hasher,
    create_user,
    delete_comment,
    delete_session,
    delete_sessions_older_than,
    edit_comment,
    end_session,
    get_engine,
    get_session,
    init_db,
    list_comments,
    list_scores,
    list_sessions,
    make_engine,
    record_score,
    set_verdict,
    start_session,
    transaction,
    verify_password,
    visible_trainee_ids,
)
from introcoach.storage import db as storage_db
from introcoach.storage import practice as storage_practice
from introcoach.storage.models import Base

BACKENDS = ["sqlite", "postgresql"]
PASSWORD = "correct horse battery"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


# --- databases -------------------------------------------------------------


@contextmanager
def throwaway_database(backend: str, folder: Any) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'introcoach.db'}"
    else:
        with throwaway_postgres() as url:
            yield url


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    # Real argon2 parameters cost ~50 ms a hash; the tests make dozens.
    configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    configure_password_hasher(None)


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_engine(request: Any, tmp_path_factory: Any) -> Iterator[Engine]:
    """One migrated database per backend for this module."""
    with throwaway_database(request.param, tmp_path_factory.mktemp("db")) as url:
        engine = make_engine(url)
        init_db(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """The migrated database, emptied before and after every test."""
    wipe(migrated_engine)
    yield migrated_engine
    wipe(migrated_engine)


def wipe(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(
            session.execute(select(func.count()).select_from(model)).scalar_one()
        )


# --- data builders ---------------------------------------------------------


def report(
    overall: int = 70,
    s4: Optional[int] = 60,
    s6: Optional[int] = 80,
    met: Sequence[bool] = (True, False, True),
) -> Dict[str, Any]:
    """A ``ScoreReport.to_dict()``-shaped report."""
    strategies: List[Dict[str, Any]] = []
    if s6 is not None:
        strategies.append(
            {
                "id": "introduce_and_converse",
                "number": 6,
                "title": "Introduce yourself and converse",
                "score": s6,
                "criteria": [
                    {
                        "id": "states_name",
                        "met": met[0],
                        "score": 1.0 if met[0] else 0.0,
                        "evidence": "I'm Sam" if met[0] else None,
                        "tip": None if met[0] else "Say your name.",
                    },
                    {
                        "id": "key_message",
                        "met": met[1],
                        "score": 0.5,
                        "evidence": None,
                        "tip": "Say what you do in one line.",
                    },
                ],
            }
        )
    if s4 is not None:
        strategies.append(
            {
                "id": "common_interests",
                "number": 4,
                "title": "Find common interests",
                "score": s4,
                "criteria": [
                    {
                        "id": "discovers_interests",
                        "met": met[2],
                        "score": 1.0 if met[2] else 0.0,
                        "evidence": "What got you into it?" if met[2] else None,
                        "tip": None,
                    }
                ],
            }
        )
    return {
        "overall": overall,
        "mode": "pitch",
        "persona": "dana",
        "rubric_version": "2025.1",
        "word_count": 42,
        "estimated_seconds": 16.8,
        "strategies": strategies,
    }


def criteria_in(data: Dict[str, Any]) -> int:
    return sum(len(s["criteria"]) for s in data["strategies"])


def set_started(bind: Any, sender_id: str, when: datetime) -> None:
    with transaction(bind) as session:
        session.execute(
            update(PracticeSession)
            .where(PracticeSession.sender_id == sender_id)
            .values(started_at=when)
        )


@pytest.fixture
def people(engine: Engine) -> Dict[str, User]:
    """Two supervisors; trainees t1, t2 under sup_a and t3 under sup_b."""
    # One transaction for the lot: the functions join a caller's transaction.
    with Session(engine, expire_on_commit=False) as s, s.begin():
        sup_a = create_user(s, "sup_a", PASSWORD, "supervisor", "Supervisor A")
        sup_b = create_user(s, "sup_b", PASSWORD, "supervisor", "Supervisor B")
        return {
            "sup_a": sup_a,
            "sup_b": sup_b,
            "t1": create_user(s, "t1", PASSWORD, "trainee", "Trainee 1", sup_a),
            "t2": create_user(s, "t2", PASSWORD, "trainee", "Trainee 2", sup_a.id),
            "t3": create_user(s, "t3", PASSWORD, "trainee", "Trainee 3", sup_b),
        }


# --- schema and configuration ----------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_produce_the_models_schema(backend: str, tmp_path: Any) -> None:
    with throwaway_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection)
                # The comparison sees a difference when there is one.
                missing = {
                    diff[1].name
                    for diff in compare_metadata(context, Base.metadata)
                    if diff[0] == "add_table"
                }
                assert missing == set(Base.metadata.tables)
            init_db(engine)
            init_db(engine)  # idempotent
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True}
                )
                assert compare_metadata(context, Base.metadata) == []
                assert context.get_current_revision() == "0002"
            # Autogenerate does not compare check constraints or every name.
            assert constraint_names(engine) == model_constraint_names()
            config = storage_db.alembic_config()
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "base")
            assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_services_starting_together_migrate_once(backend: str, tmp_path: Any) -> None:
    with throwaway_database(backend, tmp_path) as url:
        engine = make_engine(url)
        errors: List[BaseException] = []
        barrier = threading.Barrier(2)

        def migrate() -> None:
            try:
                barrier.wait(timeout=10)
                init_db(engine)
            except BaseException as error:  # noqa: B036 - reported below
                errors.append(error)

        try:
            threads = [threading.Thread(target=migrate) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert errors == []
            assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        finally:
            engine.dispose()


def constraint_names(engine: Engine) -> Dict[str, Dict[str, set]]:
    inspector = inspect(engine)
    return {
        table: {
            "pk": {inspector.get_pk_constraint(table)["name"]},
            "fk": {fk["name"] for fk in inspector.get_foreign_keys(table)},
            "uq": {uq["name"] for uq in inspector.get_unique_constraints(table)},
            "ck": {ck["name"] for ck in inspector.get_check_constraints(table)},
            "ix": {
                ix["name"]
                for ix in inspector.get_indexes(table)
                if not ix.get("duplicates_constraint")  # PostgreSQL: a UNIQUE's
            },
        }
        for table in Base.metadata.tables
    }


def model_constraint_names() -> Dict[str, Dict[str, set]]:
    kinds = {
        "pk": PrimaryKeyConstraint,
        "fk": ForeignKeyConstraint,
        "uq": UniqueConstraint,
        "ck": CheckConstraint,
    }
    return {
        name: {
            **{
                kind: {str(c.name) for c in table.constraints if isinstance(c, cls)}
                for kind, cls in kinds.items()
            },
            "ix": {str(ix.name) for ix in table.indexes},
        }
        for name, table in Base.metadata.tables.items()
    }


def test_database_url_from_environment() -> None:
    assert storage_db.database_url({}) == storage_db.default_url()
    assert storage_db.default_url().endswith("/var/introcoach.db")
    url = "postgresql+psycopg2://app@127.0.0.1/introcoach"
    assert storage_db.database_url({"INTROCOACH_DATABASE_URL": f" {url} "}) == url


def test_get_engine_is_lazy_and_cached_per_url(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'x.db'}"
    assert not (tmp_path / "nested").exists()
    try:
        engine = get_engine(url)
        assert get_engine(url) is engine
        assert (tmp_path / "nested" / "folder").is_dir()
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        storage_db.dispose_engines()
    assert url not in storage_db._engines


# --- users -----------------------------------------------------------------


@pytest.mark.parametrize(
    "username,password,expected",
    [
        ("sam", PASSWORD, True),
        ("  SAM ", PASSWORD, True),
        ("sam", "wrong password", False),
        ("nobody", PASSWORD, False),
        ("", PASSWORD, False),
    ],
)
def test_verify_password(
    engine: Engine, username: str, password: str, expected: bool
) -> None:
    created = create_user(engine, "Sam", PASSWORD, "trainee", "Sam Lee")
    assert created.username == "sam"
    assert PASSWORD not in created.password_hash
    user = verify_password(engine, username, password)
    assert (user is not None) == expected
    if user is not None:
        assert user.id == created.id


def test_password_rehashed_when_parameters_change(engine: Engine) -> None:
    old = create_user(engine, "sam", PASSWORD, "trainee", "Sam").password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    configure_password_hasher(stronger)
    user = verify_password(engine, "sam", PASSWORD)
    assert user is not None and user.password_hash != old
    assert not stronger.check_needs_rehash(user.password_hash)
    assert verify_password(engine, "sam", PASSWORD) is not None


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"username": "SUP_A"}, UsernameTaken),
        ({"role": "admin"}, ValueError),
        ({"password": "short"}, ValueError),
        ({"username": "  "}, ValueError),
        ({"display_name": ""}, ValueError),
        ({"role": "supervisor", "supervisor": "sup_a"}, ValueError),
        ({"supervisor": "t1"}, ValueError),
        ({"supervisor": 10**9}, NotFound),
    ],
)
def test_create_user_rejects(
    engine: Engine, people: Dict[str, User], kwargs: Dict[str, Any], error: type
) -> None:
    args: Dict[str, Any] = {
        "username": "new",
        "password": PASSWORD,
        "role": "trainee",
        "display_name": "New",
    }
    args.update(kwargs)
    if isinstance(args.get("supervisor"), str):
        args["supervisor"] = people[args["supervisor"]]
    before = count(engine, User)
    with pytest.raises(error):
        create_user(engine, **args)
    assert count(engine, User) == before


def test_supervisor_sees_only_assigned_trainees(
    engine: Engine, people: Dict[str, User]
) -> None:
    ids = {name: user.id for name, user in people.items()}
    assert visible_trainee_ids(engine, people["sup_a"]) == [ids["t1"], ids["t2"]]
    assert visible_trainee_ids(engine, ids["sup_b"]) == [ids["t3"]]
    assert visible_trainee_ids(engine, ids["t2"]) == [ids["t2"]]
    assert visible_trainee_ids(engine, 10**9) == []

    for name in ("t1", "t2", "t3"):
        start_session(engine, f"s-{name}", "dana", "pitch", trainee_id=ids[name])
    start_session(engine, "anonymous", "dana", "pitch")
    rows, total = list_sessions(
        engine, trainee_ids=visible_trainee_ids(engine, ids["sup_b"])
    )
    assert [r.sender_id for r in rows] == ["s-t3"] and total == 1

    assign_trainee(engine, ids["t3"], ids["sup_a"])
    assert visible_trainee_ids(engine, ids["sup_a"]) == [
        ids["t1"],
        ids["t2"],
        ids["t3"],
    ]
    assert visible_trainee_ids(engine, ids["sup_b"]) == []
    assign_trainee(engine, people["t3"], None)
    assert visible_trainee_ids(engine, ids["sup_a"]) == [ids["t1"], ids["t2"]]
    with pytest.raises(ValueError):
        assign_trainee(engine, ids["t1"], ids["t2"])
    with pytest.raises(ValueError):
        assign_trainee(engine, ids["sup_a"], ids["sup_b"])


# --- sessions and scores ---------------------------------------------------


def test_start_session_is_idempotent(engine: Engine, people: Dict[str, User]) -> None:
    first = start_session(engine, "abc", "dana", "pitch", trainee_id=people["t1"].id)
    again = start_session(engine, "abc", "lee", "small_talk")
    assert again.id == first.id
    assert (again.persona_id, again.mode, again.trainee_id) == (
        "dana",
        "pitch",
        people["t1"].id,
    )
    assert again.started_at.tzinfo is not None
    assert count(engine, PracticeSession) == 1
    with pytest.raises(ValueError):
        start_session(engine, "x", "dana", "karaoke")
    with pytest.raises(ValueError):
        start_session(engine, "x", "dana", "pitch", trainee_id=people["sup_a"].id)


def test_end_session_keeps_first_end_time(engine: Engine) -> None:
    start_session(engine, "abc", "dana", "pitch")
    ended = end_session(engine, "abc", ended_at=T0)
    assert ended is not None and ended.ended_at == T0
    later = end_session(engine, "abc", ended_at=T0 + timedelta(hours=1))
    assert later is not None and later.ended_at == T0
    assert end_session(engine, "unknown") is None


def test_record_score_writes_once_for_a_repeated_message(engine: Engine) -> None:
    data = report()
    score, created = record_score(engine, "abc", "m1", "pitch", data, "dana", "pitch")
    again, created_again = record_score(
        engine, "abc", "m1", "pitch", report(overall=5), "dana", "pitch"
    )
    assert (created, created_again) == (True, False)
    assert again.id == score.id and again.overall == 70
    assert again.report == data
    assert len(again.criteria) == criteria_in(data)
    assert {c.criterion_id for c in again.criteria} == {
        "states_name",
        "key_message",
        "discovers_interests",
    }
    assert count(engine, Score) == 1
    assert count(engine, ScoreCriterion) == criteria_in(data)
    practice = get_session(engine, "abc")
    assert practice is not None and practice.overall_score == 70


def test_record_score_exactly_once_under_concurrency(
    engine: Engine, people: Dict[str, User]
) -> None:
    """Threads race on the same new session and message; one write wins."""
    threads_per_round, rounds = 4, 3
    results: List[bool] = []
    errors: List[BaseException] = []
    lock = threading.Lock()

    for round_ in range(rounds):
        barrier = threading.Barrier(threads_per_round)

        def work(round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=10)
                _, created = record_score(
                    engine,
                    f"race-{round_}",
                    "m1",
                    "pitch",
                    report(),
                    "dana",
                    "pitch",
                    trainee_id=people["t1"].id,  # a read before the first write
                )
                with lock:
                    results.append(created)
            except BaseException as error:  # noqa: B036 - reported below
                with lock:
                    errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(threads_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert (
        sorted(results) == [False] * (threads_per_round - 1) * rounds + [True] * rounds
    )
    assert count(engine, PracticeSession) == rounds
    assert count(engine, Score) == rounds
    assert count(engine, ScoreCriterion) == rounds * criteria_in(report())


def test_new_scores_update_the_cached_scores(engine: Engine) -> None:
    start_session(engine, "abc", "dana", "small_talk")
    record_score(engine, "abc", "m1", "pitch", report(40, 30, 50), "dana", "pitch")
    practice = get_session(engine, "abc")
    assert practice is not None
    assert (
        practice.overall_score,
        practice.strategy_4_score,
        practice.strategy_6_score,
    ) == (
        40,
        30,
        50,
    )
    assert practice.mode == "pitch"
    record_score(
        engine, "abc", "m2", "conversation", report(85, None, 90), "lee", "small_talk"
    )
    practice = get_session(engine, "abc")
    assert practice is not None
    assert (
        practice.overall_score,
        practice.strategy_4_score,
        practice.strategy_6_score,
    ) == (
        85,
        None,
        90,
    )
    assert (practice.persona_id, practice.mode) == ("lee", "small_talk")
    assert [s.message_id for s in list_scores(engine, practice.id)] == ["m1", "m2"]


@pytest.mark.parametrize(
    "bad",
    [
        {"overall": "high"},
        {"overall": True},
        {"strategies": None},
        {"rubric_version": ""},
        {
            "strategies": [
                {"id": "x", "criteria": [{"id": "c", "met": "yes", "score": 1}]}
            ]
        },
        {
            "strategies": [
                {"id": "x", "criteria": [{"id": "c", "met": True, "score": 1}] * 2}
            ]
        },
    ],
)
def test_invalid_report_writes_nothing(engine: Engine, bad: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        record_score(engine, "abc", "m1", "pitch", {**report(), **bad}, "dana", "pitch")
    assert count(engine, PracticeSession) == 0
    assert count(engine, Score) == 0


def test_failure_mid_write_leaves_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    # Fails after the session, score and criteria rows have been written.
    monkeypatch.setattr(storage_practice, "_cache_latest", explode)
    with pytest.raises(RuntimeError):
        record_score(engine, "abc", "m1", "pitch", report(), "dana", "pitch")
    assert count(engine, PracticeSession) == 0
    assert count(engine, Score) == 0
    assert count(engine, ScoreCriterion) == 0
    monkeypatch.undo()
    _, created = record_score(engine, "abc", "m1", "pitch", report(), "dana", "pitch")
    assert created


def test_caller_transaction_spans_several_calls(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        with Session(engine) as session, session.begin():
            start_session(session, "abc", "dana", "pitch")
            record_score(session, "abc", "m1", "pitch", report(), "dana", "pitch")
            assert get_session(session, "abc") is not None
            raise RuntimeError("caller changed its mind")
    assert count(engine, PracticeSession) == 0
    # A lost username race inside a caller's transaction leaves it usable.
    with Session(engine) as session, session.begin():
        create_user(session, "sam", PASSWORD, "trainee", "Sam")
        with pytest.raises(UsernameTaken):
            create_user(session, "SAM", PASSWORD, "trainee", "Sam again")
        start_session(session, "abc", "dana", "pitch")
    assert count(engine, User) == 1 and count(engine, PracticeSession) == 1


# --- listing ---------------------------------------------------------------


@pytest.fixture
def listed(engine: Engine, people: Dict[str, User]) -> Dict[str, int]:
    """Five sessions a day apart: (trainee, persona, mode, overall score)."""
    t1, t2 = people["t1"].id, people["t2"].id
    table = [
        ("s1", t1, "dana", "pitch", 40),
        ("s2", t1, "dana", "small_talk", 90),
        ("s3", t2, "lee", "pitch", 65),
        ("s4", t2, "lee", "small_talk", None),
        ("s5", None, "dana", "pitch", 75),
    ]
    with Session(engine) as s, s.begin():
        for day, (sender, trainee, persona, mode, overall) in enumerate(table):
            start_session(s, sender, persona, mode, trainee_id=trainee)
            if overall is not None:
                kind = "pitch" if mode == "pitch" else "conversation"
                record_score(s, sender, "m1", kind, report(overall), persona, mode)
            set_started(s, sender, T0 + timedelta(days=day))
    return {"t1": t1, "t2": t2}


def senders(rows: Sequence[PracticeSession]) -> List[str]:
    return [row.sender_id for row in rows]


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({}, ["s5", "s4", "s3", "s2", "s1"]),
        ({"trainee_ids": ["t1"]}, ["s2", "s1"]),
        ({"trainee_ids": "t2"}, ["s4", "s3"]),
        ({"trainee_ids": []}, []),
        ({"persona_id": "dana"}, ["s5", "s2", "s1"]),
        ({"mode": "pitch"}, ["s5", "s3", "s1"]),
        ({"started_from": 1, "started_before": 3}, ["s3", "s2"]),
        ({"min_score": 60}, ["s5", "s3", "s2"]),
        ({"max_score": 70}, ["s3", "s1"]),
        ({"min_score": 60, "max_score": 80}, ["s5", "s3"]),
        ({"sender_ids": {"s1", "s3", "nope"}}, ["s3", "s1"]),
        ({"sender_ids": []}, []),
        ({"trainee_ids": ["t1", "t2"], "mode": "pitch", "min_score": 50}, ["s3"]),
        (
            {"sort": "overall_score", "descending": False},
            ["s1", "s3", "s5", "s2", "s4"],
        ),
        ({"sort": "overall_score"}, ["s2", "s5", "s3", "s1", "s4"]),
        ({"sort": "started_at", "descending": False}, ["s1", "s2", "s3", "s4", "s5"]),
        ({"sort": "persona_id", "descending": False}, ["s1", "s2", "s5", "s3", "s4"]),
    ],
)
def test_list_sessions_filters_and_sorts(
    engine: Engine, listed: Dict[str, int], filters: Dict[str, Any], expected: List[str]
) -> None:
    args = dict(filters)
    if "trainee_ids" in args:
        names = args["trainee_ids"]
        args["trainee_ids"] = (
            listed[names] if isinstance(names, str) else [listed[n] for n in names]
        )
    for key in ("started_from", "started_before"):
        if key in args:
            args[key] = T0 + timedelta(days=args[key])
    rows, total = list_sessions(engine, **args)
    assert senders(rows) == expected
    assert total == len(expected)


def test_list_sessions_pages(engine: Engine, listed: Dict[str, int]) -> None:
    seen: List[str] = []
    for page, size in ((1, 2), (2, 2), (3, 1)):
        rows, total = list_sessions(engine, page=page, page_size=2)
        assert total == 5 and len(rows) == size
        seen += senders(rows)
    assert seen == ["s5", "s4", "s3", "s2", "s1"]
    rows, total = list_sessions(engine, page=4, page_size=2)
    assert rows == [] and total == 5
    rows, total = list_sessions(engine, mode="pitch", page=2, page_size=2)
    assert senders(rows) == ["s1"] and total == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"sort": "password_hash"},
        {"page": 0},
        {"page_size": 0},
        {"page_size": 201},
        {"mode": "x"},
    ],
)
def test_list_sessions_rejects(engine: Engine, bad: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        list_sessions(engine, **bad)


# --- review ----------------------------------------------------------------


def test_comment_permissions(engine: Engine, people: Dict[str, User]) -> None:
    practice = start_session(engine, "abc", "dana", "pitch", trainee_id=people["t1"].id)
    sup_a, sup_b, t1, t2 = (people[n].id for n in ("sup_a", "sup_b", "t1", "t2"))

    note = add_comment(engine, practice.id, sup_a, "  Nice opener. ")
    assert note.body == "Nice opener." and note.turn_index is None
    own = add_comment(engine, practice.id, t1, "I rushed this bit.", turn_index=2)
    for outsider in (sup_b, t2):
        with pytest.raises(PermissionError):
            add_comment(engine, practice.id, outsider, "Sneaky.")
    anonymous = start_session(engine, "anon", "dana", "pitch")
    with pytest.raises(PermissionError):
        add_comment(engine, anonymous.id, sup_a, "Whose is this?")
    with pytest.raises(ValueError):
        add_comment(engine, practice.id, sup_a, "   ")
    with pytest.raises(NotFound):
        add_comment(engine, 10**9, sup_a, "Hello")

    with pytest.raises(PermissionError):
        edit_comment(engine, note.id, t1, "Rewritten by someone else")
    with pytest.raises(PermissionError):
        delete_comment(engine, note.id, sup_b)
    edited = edit_comment(engine, note.id, sup_a, "Nice opener; slow down.")
    assert edited.body == "Nice opener; slow down."
    assert edited.updated_at >= edited.created_at
    assert [c.id for c in list_comments(engine, practice.id)] == [note.id, own.id]

    delete_comment(engine, own.id, t1)
    with pytest.raises(NotFound):
        delete_comment(engine, own.id, t1)
    assert [c.body for c in list_comments(engine, practice.id)] == [
        "Nice opener; slow down."
    ]


def test_verdict_agreement_counts(engine: Engine, people: Dict[str, User]) -> None:
    # Bot: states_name met, key_message not met, discovers_interests met.
    score_1, _ = record_score(
        engine, "a", "m1", "pitch", report(), "dana", "pitch", people["t1"].id
    )
    score_3, _ = record_score(
        engine, "b", "m1", "pitch", report(), "dana", "pitch", people["t3"].id
    )
    sup_a, sup_b = people["sup_a"].id, people["sup_b"].id

    set_verdict(engine, score_1.id, "states_name", sup_a, True)  # agree
    set_verdict(engine, score_1.id, "key_message", sup_a, False)  # changed below
    verdict = set_verdict(engine, score_1.id, "key_message", sup_a, True)
    assert verdict.met is True  # supervisor only
    set_verdict(engine, score_1.id, "discovers_interests", sup_a, False)  # bot only
    set_verdict(engine, score_3.id, "states_name", sup_b, False)  # bot only
    set_verdict(engine, score_3.id, "key_message", sup_b, False)  # agree
    assert count(engine, CriterionVerdict) == 5

    rows = {row.criterion_id: row for row in agreement_by_criterion(engine)}
    assert sorted(rows) == ["discovers_interests", "key_message", "states_name"]
    assert (rows["states_name"].verdicts, rows["states_name"].agreements) == (2, 1)
    assert rows["states_name"].bot_only == 1 and rows["states_name"].rate == 0.5
    assert (rows["key_message"].agreements, rows["key_message"].supervisor_only) == (
        1,
        1,
    )
    assert (
        rows["discovers_interests"].verdicts,
        rows["discovers_interests"].bot_only,
    ) == (
        1,
        1,
    )
    only_b = agreement_by_criterion(engine, supervisor_id=sup_b)
    assert [(r.criterion_id, r.verdicts, r.agreements) for r in only_b] == [
        ("key_message", 1, 1),
        ("states_name", 1, 0),
    ]

    with pytest.raises(PermissionError):  # not t1's supervisor
        set_verdict(engine, score_1.id, "states_name", sup_b, True)
    with pytest.raises(PermissionError):  # not a supervisor
        set_verdict(engine, score_1.id, "states_name", people["t1"].id, True)
    with pytest.raises(NotFound):
        set_verdict(engine, score_1.id, "no_such_criterion", sup_a, True)
    with pytest.raises(NotFound):
        set_verdict(engine, 10**9, "states_name", sup_a, True)


# --- deleting --------------------------------------------------------------


def fill_session(engine: Engine, people: Dict[str, User], sender: str) -> None:
    score, _ = record_score(
        engine, sender, "m1", "pitch", report(), "dana", "pitch", people["t1"].id
    )
    add_comment(engine, score.session_id, people["sup_a"].id, "Good.")
    set_verdict(engine, score.id, "states_name", people["sup_a"].id, True)


def test_deleting_a_session_cascades(engine: Engine, people: Dict[str, User]) -> None:
    fill_session(engine, people, "abc")
    fill_session(engine, people, "keep")
    assert delete_session(engine, "abc") is True
    assert delete_session(engine, "abc") is False
    assert count(engine, PracticeSession) == 1
    assert count(engine, Score) == 1
    assert count(engine, ScoreCriterion) == criteria_in(report())
    assert count(engine, Comment) == 1
    assert count(engine, CriterionVerdict) == 1
    assert count(engine, User) == 5


def test_retention_deletes_old_sessions_and_returns_sender_ids(
    engine: Engine, people: Dict[str, User]
) -> None:
    now = T0 + timedelta(days=100)
    for sender, age in (("old-1", 95), ("old-2", 31), ("new-1", 29), ("new-2", 0)):
        fill_session(engine, people, sender)
        set_started(engine, sender, now - timedelta(days=age))
    deleted = delete_sessions_older_than(engine, 30, now=now)
    assert sorted(deleted) == ["old-1", "old-2"]
    rows, total = list_sessions(engine)
    assert sorted(senders(rows)) == ["new-1", "new-2"] and total == 2
    assert count(engine, Score) == 2
    assert count(engine, Comment) == 2
    assert count(engine, CriterionVerdict) == 2
    assert delete_sessions_older_than(engine, 30, now=now) == []
    with pytest.raises(ValueError):
        delete_sessions_older_than(engine, -1)


def test_logs_carry_ids_not_names_or_text(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="introcoach.storage")
    secret_words = ["Zebulon", "zeb_the_user", "Quetzal", "Mauve", "I'm Sam"]
    sup = create_user(engine, "Quetzal", PASSWORD, "supervisor", "Mauve Person")
    trainee = create_user(engine, "zeb_the_user", PASSWORD, "trainee", "Zebulon", sup)
    verify_password(engine, "zeb_the_user", "wrong password")
    score, _ = record_score(
        engine, "abc", "m1", "pitch", report(), "dana", "pitch", trainee.id
    )
    add_comment(engine, score.session_id, sup.id, "Zebulon did well")
    set_verdict(engine, score.id, "states_name", sup.id, True)
    delete_session(engine, "abc")
    assert caplog.records
    for record in caplog.records:
        message = record.getMessage()
        assert not [word for word in secret_words if word.lower() in message.lower()]
