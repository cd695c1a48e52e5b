"""How fast the review app answers with 10,000 stored practice sessions.

Seeds a throwaway database (SQLite, and PostgreSQL when a server answers on
127.0.0.1:5432) through the project's own storage API: one supervisor, 40
trainees, 10,000 sessions each with a score and a short transcript in Rasa's
``events`` table, and one 100-turn session with ten scored turns. Then starts
``python -m introcoach web`` on a free loopback port, signs in as the
supervisor and times, over HTTP, what a supervisor does:

* the session list, unfiltered and with every filter set (trainee, persona,
  mode, date range, score range, sorted by score), and a transcript search;
* the 100-turn session page.

Targets (issue 4): filtered list <= 300 ms and 100-turn page <= 200 ms at p95.
Writes ``bench/results/review.json`` and prints a table.

Examples:
    .venv/bin/python bench/bench_review.py
    .venv/bin/python bench/bench_review.py --quick --backends sqlite
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlencode

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT_ROOT / "bench" / "results"
PASSWORD = "bench password, long enough"
PERSONAS = ("dana", "marcus", "priya", "walter", "rosa", "kevin")
TARGETS_MS = {"list_filtered": 300.0, "page_100_turns": 200.0}
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def log(message: str) -> None:
    print(f"[bench_review] {message}", file=sys.stderr, flush=True)


def report(overall: int, mode: str, evidence: str) -> Dict[str, Any]:
    """A stored-shape score report (``ScoreReport.to_dict()``)."""
    from introcoach.scoring.rubric import strategies

    result = []
    for strategy in strategies():
        criteria = [
            {
                "id": c.id,
                "met": i % 2 == 0,
                "score": 1.0 if i % 2 == 0 else 0.0,
                "evidence": evidence if i % 2 == 0 else None,
                "tip": None if i % 2 == 0 else "Try naming what you have in common.",
            }
            for i, c in enumerate(strategy.criteria)
        ]
        result.append(
            {
                "id": strategy.id,
                "number": strategy.number,
                "title": strategy.title,
                "score": overall,
                "criteria": criteria,
            }
        )
    return {
        "overall": overall,
        "mode": "pitch" if mode == "pitch" else "conversation",
        "persona": "dana",
        "rubric_version": "2026.11-1",
        "word_count": 60,
        "estimated_seconds": 24.0,
        "strategies": result,
    }


def _event(kind: str, text: str, speaker: str = "persona", mid: str = "") -> Dict:
    if kind == "user":
        return {"event": "user", "text": text, "message_id": mid, "metadata": {}}
    return {"event": "bot", "text": text, "metadata": {"speaker": speaker}}


def seed(url: str, sessions: int) -> Tuple[int, int]:
    """Fill the database; returns (a trainee id, the 100-turn session id)."""
    from argon2 import PasswordHasher
    from sqlalchemy import insert

    from introcoach.storage import (
        configure_password_hasher,
        create_user,
        init_db,
        make_engine,
        record_score,
        start_session,
        transaction,
    )
    from introcoach.storage.models import PracticeSession
    from introcoach.storage.transcripts import EVENTS, EVENTS_METADATA, event_row

    configure_password_hasher(PasswordHasher(time_cost=1, memory_cost=8192))
    engine = make_engine(url)
    init_db(engine)
    EVENTS_METADATA.create_all(engine)
    supervisor = create_user(engine, "sup", PASSWORD, "supervisor", "Sam Bench")
    trainees = [
        create_user(
            engine,
            f"t{i:02d}",
            PASSWORD,
            "trainee",
            f"Trainee {i}",
            supervisor=supervisor,
        ).id
        for i in range(40)
    ]
    rows: List[Dict[str, Any]] = []
    started = time.monotonic()
    for n in range(sessions):
        sender = f"bench-{n:05d}"
        mode = "pitch" if n % 3 == 0 else "small_talk"
        persona = PERSONAS[n % len(PERSONAS)]
        practice = start_session(engine, sender, persona, mode, trainees[n % 40])
        record_score(
            engine,
            sender,
            f"{sender}-m2",
            "pitch" if mode == "pitch" else "conversation",
            report((n * 37) % 101, mode, "I'm a peer specialist"),
            persona,
            mode,
        )
        when = T0 + timedelta(minutes=47 * n)
        with transaction(engine) as session:
            session.get(PracticeSession, practice.id).started_at = when
        stamp = when.timestamp()
        hobby = ("gardening", "hiking", "baking", "soccer")[n % 4]
        events = [
            _event("bot", "(Coffee break at the conference.)", "narrator"),
            _event("bot", "Hi, I'm glad to meet you."),
            _event(
                "user", "Hi, I'm a peer specialist at Hope Center.", mid=f"{sender}-m1"
            ),
            _event("bot", "What does your work look like?"),
            _event(
                "user",
                f"I help people find housing. I love {hobby}.",
                mid=f"{sender}-m2",
            ),
            _event("bot", f"Oh, {hobby}? Me too!"),
        ]
        rows += [event_row(sender, e, stamp + 20 * i) for i, e in enumerate(events)]
        if len(rows) >= 6_000:
            with engine.begin() as connection:
                connection.execute(insert(EVENTS), rows)
            rows = []
        if n and n % 1000 == 0:
            log(f"  {n} sessions seeded ({time.monotonic() - started:.0f} s)")
    # The long one: 50 trainee turns and 50 persona turns, ten of them scored.
    sender = "bench-long"
    long_session = start_session(engine, sender, "dana", "small_talk", trainees[0])
    for turn in range(50):
        message_id = f"{sender}-m{turn}"
        rows.append(
            event_row(
                sender,
                _event(
                    "user",
                    f"Turn {turn}: I'm a peer specialist; I love hiking.",
                    mid=message_id,
                ),
                T0.timestamp() + 40 * turn,
            )
        )
        rows.append(
            event_row(
                sender,
                _event("bot", f"Reply {turn}: hiking, really?"),
                T0.timestamp() + 40 * turn + 20,
            )
        )
        if turn % 5 == 4:
            record_score(
                engine,
                sender,
                message_id,
                "conversation",
                report(60 + turn % 30, "small_talk", "I love hiking"),
                "dana",
                "small_talk",
            )
    with engine.begin() as connection:
        connection.execute(insert(EVENTS), rows)
    engine.dispose()
    log(f"seeded {sessions + 1} sessions in {time.monotonic() - started:.0f} s")
    return trainees[3], long_session.id


@contextmanager
def web_app(url: str, workdir: Path) -> Iterator[int]:
    from introcoach.stack import free_port

    port = free_port()
    env = dict(
        os.environ,
        INTROCOACH_DATABASE_URL=url,
        INTROCOACH_SECRETS_DIR=str(workdir / "secrets"),
        PYTHONWARNINGS="ignore",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    out = open(workdir / "web.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "introcoach", "web", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError((workdir / "web.log").read_text(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the web app did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        out.close()


class Browser:
    """Keeps the cookie; one HTTP request at a time, as a person clicks."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(
        self, method: str, path: str, form: Optional[Dict] = None
    ) -> Tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", errors="replace")
        for line in response.headers.get_all("Set-Cookie") or []:
            self.cookie = line.split(";", 1)[0]
        connection.close()
        return response.status, text

    def sign_in(self) -> None:
        _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, _ = self.request(
            "POST",
            "/login",
            {"username": "sup", "password": PASSWORD, "csrf_token": token, "next": "/"},
        )
        if status != 303:
            raise RuntimeError(f"sign-in failed ({status})")

    def time_get(self, path: str, repeats: int) -> Dict[str, float]:
        for _ in range(3):  # warm caches and the connection pool
            self.request("GET", path)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            status, text = self.request("GET", path)
            samples.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
        ordered = sorted(samples)
        return {
            "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 1),
            "max_ms": round(ordered[-1], 1),
            "bytes": len(text.encode()),
            "requests": repeats,
        }


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[Optional[str]]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'review-bench.db'}"
        return
    try:
        import psycopg2
        from psycopg2 import sql

        admin = psycopg2.connect(connect_timeout=3, **PG_ADMIN)
    except Exception as error:  # noqa: BLE001 - reported, benchmark goes on
        log(f"PostgreSQL not reachable ({error.__class__.__name__}); skipping it")
        yield None
        return
    admin.autocommit = True
    name = f"introcoach_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
        admin.close()


def run_backend(backend: str, sessions: int, repeats: int) -> Optional[Dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="review-bench-") as folder:
        workdir = Path(folder)
        with database(backend, workdir) as url:
            if url is None:
                return None
            log(f"{backend}: seeding {sessions} sessions...")
            trainee, long_id = seed(url, sessions)
            with web_app(url, workdir) as port:
                browser = Browser(port)
                browser.sign_in()
                filtered = urlencode(
                    {
                        "trainee": trainee,
                        "persona": "marcus",
                        "mode": "pitch",
                        "from": "2025-01-01",
                        "to": "2026-12-31",
                        "min": 20,
                        "max": 90,
                        "sort": "overall_score",
                    }
                )
                paths = {
                    "list_default": "/sessions",
                    "list_filtered": f"/sessions?{filtered}",
                    "list_search": "/sessions?q=gardening",
                    "page_100_turns": f"/sessions/{long_id}",
                }
                results = {}
                for name, path in paths.items():
                    results[name] = browser.time_get(path, repeats)
                    log(f"{backend}: {name} p95 {results[name]['p95_ms']} ms")
                return results


def machine() -> Dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1,000 sessions, 10 requests"
    )
    parser.add_argument("--sessions", type=int, help="stored sessions (default 10,000)")
    parser.add_argument(
        "--requests", type=int, help="timed requests per page (default 40)"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sessions = args.sessions or (1_000 if args.quick else 10_000)
    repeats = args.requests or (10 if args.quick else 40)
    results: Dict[str, Any] = {
        "sessions": sessions,
        "machine": machine(),
        "backends": {},
    }
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        found = run_backend(backend, sessions, repeats)
        if found is not None:
            results["backends"][backend] = found
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "review.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"Review app with {sessions:,} stored sessions ({results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores)\n"
    )
    print("| backend | page | p50 ms | p95 ms | target (p95) |")
    print("|---|---|---:|---:|---|")
    missed = 0
    for backend, pages in results["backends"].items():
        for name, figures in pages.items():
            target = TARGETS_MS.get(name)
            verdict = ""
            if target is not None:
                met = figures["p95_ms"] <= target
                missed += not met
                verdict = f"<= {target:.0f} ms: {'met' if met else 'MISSED'}"
            row = [backend, name, figures["p50_ms"], figures["p95_ms"], verdict]
            print("| " + " | ".join(str(cell) for cell in row) + " |")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
