"""The review web app over HTTP: ``python -m introcoach web`` on a free port.

One server per module (starting it is the slow part), seeded with the storage
API and Rasa's ``events`` table in a temporary SQLite file. Tests that change
data use their own rows; the deletion test runs last.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Iterator, Tuple

import pytest
from web_support import (
    EMAIL,
    PASSWORD,
    SCRIPT,
    Client,
    Seeded,
    Server,
    running_server,
    seed,
)

ROW_LINK = re.compile(r'href="/sessions/(\d+)" class="row-link"')


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tuple[Server, Seeded, Path]]:
    workdir = tmp_path_factory.mktemp("web")
    database = workdir / "introcoach.db"
    seeded = seed(f"sqlite:///{database}")
    with running_server(workdir, f"sqlite:///{database}") as server:
        yield server, seeded, database


@pytest.fixture
def server(app: Tuple[Server, Seeded, Path]) -> Server:
    return app[0]


@pytest.fixture
def ids(app: Tuple[Server, Seeded, Path]) -> Seeded:
    return app[1]


def signed_in(server: Server, username: str) -> Client:
    client = Client(server.port)
    response = client.login(username)
    assert response.status == 303, response.text
    return client


def listed(client: Client, query: str = "") -> Tuple[int, list]:
    page = client.get(f"/sessions{query}")
    assert page.status == 200
    total = int(re.search(r"(\d+) sessions?", page.text).group(1))
    return total, [int(i) for i in ROW_LINK.findall(page.text)]


# -- headers, cookies, sign-in ----------------------------------------------------


def test_security_headers_and_cookie_flags(server: Server) -> None:
    response = Client(server.port).get("/login")
    assert response.status == 200
    csp = response.header("Content-Security-Policy")
    for part in (
        "default-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
    ):
        assert part in csp
    assert "unsafe-inline" not in csp
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert response.header("Referrer-Policy")
    cookie = response.header("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert cookie.startswith("introcoach_session=") and "Domain" not in cookie
    assert not response.header("Strict-Transport-Security")  # not asked for
    assert "<script" not in response.text

    proxied = Client(server.port, forwarded_proto="https").get("/login")
    assert "Secure" in proxied.header("Set-Cookie")


def test_pages_need_sign_in(server: Server, ids: Seeded) -> None:
    client = Client(server.port)
    response = client.get(f"/sessions/{ids.sessions['tina_pitch']}")
    assert response.status == 302
    assert (
        response.header("Location")
        == f"/login?next=/sessions/{ids.sessions['tina_pitch']}"
    )
    assert client.get("/sessions/export.csv").status == 302
    assert client.get("/static/app.css").status == 200


def test_login_and_logout(server: Server) -> None:
    client = Client(server.port)
    client.get("/login")
    anonymous = dict(client.cookies)
    response = client.login("sam")
    assert response.status == 303 and response.header("Location") == "/"
    # Signing in starts a new session (no fixation).
    assert client.cookies != anonymous
    assert "HttpOnly" in response.header("Set-Cookie")
    assert client.get("/").header("Location") == "/sessions"
    assert client.get("/sessions").status == 200
    assert client.post("/logout", {}, csrf_from="/sessions").status == 303
    assert client.get("/sessions").status == 302


def test_login_redirects_only_to_local_paths(server: Server) -> None:
    client = Client(server.port)
    token = client.csrf("/login")
    response = client.request(
        "POST",
        "/login",
        {
            "username": "sam",
            "password": "correct horse battery",
            "csrf_token": token,
            "next": "//evil.example/",
        },
    )
    assert response.status == 303 and response.header("Location") == "/"


def test_wrong_password_then_rate_limit(server: Server) -> None:
    client = Client(server.port)
    for _ in range(5):
        response = client.login("nobody-here", "wrong password")
        assert response.status == 401
        assert "don&#39;t match" in response.text or "don't match" in response.text
    blocked = client.login("nobody-here", "wrong password")
    assert blocked.status == 429
    assert "Too many failed sign-in attempts" in blocked.text
    # Other usernames from the same address are not locked out.
    assert client.login("theo").status == 303


def test_forged_forwarded_for_does_not_change_the_limit_key(server: Server) -> None:
    client = Client(server.port)
    for i in range(5):  # each failure claims another address; nobody is trusted
        token = client.csrf("/login")
        response = client.request(
            "POST",
            "/login",
            {"username": "forger", "password": "wrong", "csrf_token": token},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert response.status == 401
    token = client.csrf("/login")
    blocked = client.request(
        "POST",
        "/login",
        {"username": "forger", "password": "wrong", "csrf_token": token},
        headers={"X-Forwarded-For": "198.51.100.99"},
    )
    assert blocked.status == 429 and blocked.header("Retry-After")


def test_login_page_flood_signs_nobody_out(server: Server) -> None:
    sam = signed_in(server, "sam")
    waiting = Client(server.port)
    token = waiting.csrf("/login")  # someone with the sign-in form open
    for _ in range(300):  # a bounded loop of GET /login from a cookieless client
        assert Client(server.port).get("/login").status == 200
    assert sam.get("/sessions").status == 200
    response = waiting.request(
        "POST",
        "/login",
        {"username": "theo", "password": PASSWORD, "csrf_token": token, "next": "/"},
    )
    assert response.status == 303


def test_csrf_is_checked_on_every_post(server: Server, ids: Seeded) -> None:
    fresh = Client(server.port)
    response = fresh.request("POST", "/login", {"username": "sam", "password": "x"})
    assert response.status == 403
    client = signed_in(server, "sam")
    path = f"/sessions/{ids.sessions['tina_pitch']}/comments"
    assert client.request("POST", path, {"body": "no token"}).status == 403
    assert (
        client.request("POST", path, {"body": "bad", "csrf_token": "x" * 43}).status
        == 403
    )
    page = client.get(f"/sessions/{ids.sessions['tina_pitch']}").text
    assert "no token" not in page and ">bad<" not in page
    # A token from another session does not work either.
    other = signed_in(server, "alex")
    foreign = other.csrf("/sessions")
    assert (
        client.request("POST", path, {"body": "x", "csrf_token": foreign}).status == 403
    )


# -- access control ---------------------------------------------------------------


def test_trainee_sees_only_own_sessions(server: Server, ids: Seeded) -> None:
    tina = signed_in(server, "tina")
    home = tina.get("/")
    assert home.status == 200
    assert "Sam Rivera" in home.text and "can read your practice sessions" in home.text
    assert f'/sessions/{ids.sessions["tina_pitch"]}"' in home.text
    assert tina.get(f"/sessions/{ids.sessions['tina_pitch']}").status == 200
    not_found = tina.get("/sessions/999999")
    for other in ("theo_bread", "uma", "anon"):
        response = tina.get(f"/sessions/{ids.sessions[other]}")
        assert response.status == 404
        assert response.text == not_found.text  # nothing tells them apart
        assert tina.get(f"/sessions/{ids.sessions[other]}/export.json").status == 404
        posted = tina.post(
            f"/sessions/{ids.sessions[other]}/comments", {"body": "hi"}, csrf_from="/"
        )
        assert posted.status == 404
    assert tina.get(f"/trainees/{ids.users['theo']}").status == 404
    assert tina.get(f"/trainees/{ids.users['tina']}").status == 200
    assert tina.get("/sessions").status == 403
    assert tina.get("/sessions/export.csv").status == 403
    assert tina.get("/rubric-agreement").status == 403


def test_supervisor_sees_only_assigned_trainees(server: Server, ids: Seeded) -> None:
    sam = signed_in(server, "sam")
    assert sam.get(f"/sessions/{ids.sessions['uma']}").status == 404
    assert sam.get(f"/sessions/{ids.sessions['uma']}/export.csv").status == 404
    assert sam.get(f"/sessions/{ids.sessions['uma']}/delete").status == 404
    assert sam.get(f"/sessions/{ids.sessions['anon']}").status == 404
    assert sam.get(f"/trainees/{ids.users['uma']}").status == 404
    page = sam.get("/sessions").text
    assert "Uma Patel" not in page
    total, _ = listed(sam, f"?trainee={ids.users['uma']}")
    assert total == 0
    alex = signed_in(server, "alex")
    assert alex.get(f"/sessions/{ids.sessions['uma']}").status == 200
    assert alex.get(f"/sessions/{ids.sessions['tina_pitch']}").status == 404


# -- list: filters, search, sort, pages -------------------------------------------


def test_list_pagination_and_sort(server: Server, ids: Seeded) -> None:
    sam = signed_in(server, "sam")
    total, first = listed(sam)
    assert total == 25 and len(first) == 20
    _, second = listed(sam, "?page=2")
    assert len(second) == 5 and not set(first) & set(second)
    page = sam.get("/sessions").text
    assert "Page 1 of 2" in page and 'href="/sessions?page=2"' in page
    _, ascending = listed(sam, "?sort=overall_score&dir=asc")
    _, descending = listed(sam, "?sort=overall_score&dir=desc")
    assert descending[0] == ids.sessions["theo_bread"]  # 88 is the best score
    assert ascending[0] != descending[0]
    # Sort links flip the direction of the current column.
    assert (
        "sort=overall_score&amp;dir=asc" in sam.get("/sessions?sort=overall_score").text
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?persona=marcus", {"tina_talk"}),
        ("?mode=small_talk", {"tina_talk", "theo_bread"}),
        ("?min=85&max=88", {"theo_bread", None}),  # 87 and 88
        ("?from=2025-03-03&to=2025-03-10", {"tina_pitch", "tina_talk"}),
        ("?trainee={tina}", {"tina_pitch", "tina_talk"}),
        ("?q=sourdough", {"theo_bread"}),  # case-insensitive; Uma's is invisible
        ("?q=_", {"theo_bread"}),  # LIKE wildcards match themselves
        ("?q=100%25_real", {"theo_bread"}),
        ("?q=hogging+the+coffee", {"tina_pitch"}),  # persona text too
        ("?q=nothing+says+this", set()),
    ],
)
def test_list_filters_and_search(
    server: Server, ids: Seeded, query: str, expected: set
) -> None:
    sam = signed_in(server, "sam")
    total, rows = listed(sam, query.format(tina=ids.users["tina"]))
    named = {k for k in expected if k}
    assert total == len(expected)
    assert {ids.sessions[k] for k in named} <= set(rows)


def test_transcript_search_is_audited_without_the_query(
    server: Server, ids: Seeded
) -> None:
    sam = signed_in(server, "sam")
    total, rows = listed(sam, "?q=tina.lee%40example.org")
    assert total == 1 and rows == [ids.sessions["tina_pitch"]]
    assert sam.get("/sessions/export.csv?q=hogging+the+coffee").status == 200
    log = server.log_text()
    assert (
        f"User {ids.users['sam']} searched transcript text: 1 sessions matched "
        f"(shown: {ids.sessions['tina_pitch']})" in log
    )
    assert (
        f"User {ids.users['sam']} searched transcript text: 1 sessions matched "
        "(exported)" in log
    )
    for private in (EMAIL, "tina.lee", "hogging", "coffee"):
        assert private not in log


def test_list_rejects_bad_filters_politely(server: Server) -> None:
    sam = signed_in(server, "sam")
    page = sam.get("/sessions?min=abc&from=yesterday&mode=evil")
    assert page.status == 200
    assert "Minimum score must be" in page.text and "From must be a date" in page.text


# -- the session page ----------------------------------------------------------------


def test_session_page_escapes_masks_and_highlights(server: Server, ids: Seeded) -> None:
    sam = signed_in(server, "sam")
    page = sam.get(f"/sessions/{ids.sessions['tina_pitch']}").text
    assert SCRIPT not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<mark>I help people leaving the hospital find steady housing</mark>" in page
    # A conversation score's evidence is marked in the earlier turn it came from.
    assert "<mark>I&#39;m Tina</mark>" in page or "<mark>I'm Tina</mark>" in page
    assert "Dana Whitfield" in page and "Trainee" in page and "Coach" in page
    assert EMAIL not in page and "t***@example.org" in page and "(***) ***-4567" in page
    assert "rubric 2026.11-1" in page and "Tip:" in page
    assert "Reveal contact details" in page

    revealed = sam.get(f"/sessions/{ids.sessions['tina_pitch']}?reveal=1").text
    assert EMAIL in revealed and "(555) 123-4567" in revealed
    log = server.log_text()
    assert re.search(
        rf"User {ids.users['sam']} revealed contact details of session "
        rf"{ids.sessions['tina_pitch']}",
        log,
    )
    for private in (EMAIL, "Tina Lee", "Sam Rivera", "sourdough", "alert(1)"):
        assert private not in log


def test_trainee_sees_own_typed_script_as_text(server: Server, ids: Seeded) -> None:
    tina = signed_in(server, "tina")
    page = tina.get(f"/sessions/{ids.sessions['tina_pitch']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert 'name="score_id"' not in page  # verdicts are for supervisors


def test_comments_add_edit_delete_own_only(server: Server, ids: Seeded) -> None:
    session = ids.sessions["tina_pitch"]
    page_path = f"/sessions/{session}"
    sam = signed_in(server, "sam")
    added = sam.post(
        f"{page_path}/comments", {"body": "Great <b>opening</b>!"}, csrf_from=page_path
    )
    assert added.status == 303
    page = sam.get(page_path).text
    assert "Great &lt;b&gt;opening&lt;/b&gt;!" in page
    comment_id = int(re.findall(r'id="comment-(\d+)"', page)[-1])

    on_turn = sam.post(
        f"{page_path}/comments",
        {"body": "Nice question here", "turn": "4"},
        csrf_from=page_path,
    )
    assert on_turn.status == 303 and on_turn.header("Location").endswith("#turn-4")
    turn_html = (
        sam.get(page_path).text.split('id="turn-4"', 1)[1].split('id="turn-5"', 1)[0]
    )
    assert "Nice question here" in turn_html
    assert (
        sam.post(
            f"{page_path}/comments", {"body": "x", "turn": "999"}, csrf_from=page_path
        ).status
        == 400
    )
    assert (
        sam.post(f"{page_path}/comments", {"body": "   "}, csrf_from=page_path).status
        == 400
    )

    edited = sam.post(
        f"{page_path}/comments/{comment_id}/edit",
        {"body": "Strong opening."},
        csrf_from=page_path,
    )
    assert edited.status == 303
    assert "Strong opening." in sam.get(page_path).text

    # The trainee can see the comment but not change or delete it.
    tina = signed_in(server, "tina")
    assert "Strong opening." in tina.get(page_path).text
    assert (
        tina.post(
            f"{page_path}/comments/{comment_id}/edit",
            {"body": "hacked"},
            csrf_from=page_path,
        ).status
        == 403
    )
    assert (
        tina.post(
            f"{page_path}/comments/{comment_id}/delete", {}, csrf_from=page_path
        ).status
        == 403
    )
    assert "hacked" not in sam.get(page_path).text
    # Through another session's URL it does not exist.
    other = f"/sessions/{ids.sessions['theo_bread']}"
    assert (
        sam.post(
            f"{other}/comments/{comment_id}/delete", {}, csrf_from=page_path
        ).status
        == 404
    )

    assert (
        sam.post(
            f"{page_path}/comments/{comment_id}/delete", {}, csrf_from=page_path
        ).status
        == 303
    )
    assert "Strong opening." not in sam.get(page_path).text


def test_verdicts_and_agreement_counts(server: Server, ids: Seeded) -> None:
    page_path = f"/sessions/{ids.sessions['tina_pitch']}"
    sam = signed_in(server, "sam")
    page = sam.get(page_path).text
    score_id = re.search(r'name="score_id" value="(\d+)"', page).group(1)
    for criterion, met in (
        ("key_message", "1"),
        ("spark_interest", "1"),
        ("states_name", "0"),
    ):
        response = sam.post(
            f"{page_path}/verdicts",
            {"score_id": score_id, "criterion_id": criterion, "met": met},
            csrf_from=page_path,
        )
        assert response.status == 303
    page = sam.get(page_path).text
    block = page.split(f'id="criterion-{score_id}-key_message"', 1)[1].split(
        "</li>", 1
    )[0]
    assert 'value="1" class="button button-small toggle" aria-pressed="true"' in block
    assert "Agrees with bot" in block
    block = page.split(f'id="criterion-{score_id}-spark_interest"', 1)[1].split(
        "</li>", 1
    )[0]
    assert "Disagrees with bot" in block
    agreement = sam.get("/rubric-agreement").text
    assert "Your key message" in agreement and "(spark_interest)" in agreement
    assert (
        sam.post(
            f"{page_path}/verdicts",
            {"score_id": score_id, "criterion_id": "not_a_criterion", "met": "1"},
            csrf_from=page_path,
        ).status
        == 404
    )
    tina = signed_in(server, "tina")
    assert (
        tina.post(
            f"{page_path}/verdicts",
            {"score_id": score_id, "criterion_id": "key_message", "met": "0"},
            csrf_from=page_path,
        ).status
        == 403
    )


def test_progress_page(server: Server, ids: Seeded) -> None:
    sam = signed_in(server, "sam")
    page = sam.get(f"/trainees/{ids.users['theo']}").text
    assert "<svg" in page and "<polyline" in page and "First score" in page
    assert "Best score" in page and "Latest score" in page and ">88<" in page
    assert 'style="' not in page  # CSP: no inline styles


# -- exports ------------------------------------------------------------------------


def test_list_exports(server: Server, ids: Seeded) -> None:
    sam = signed_in(server, "sam")
    response = sam.get("/sessions/export.csv")
    assert response.status == 200 and "attachment" in response.header(
        "Content-Disposition"
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 25
    assert {r["trainee"] for r in rows} == {"Tina Lee", "Theo Grant"}
    filtered = json.loads(sam.get("/sessions/export.json?persona=marcus").text)
    assert [s["session_id"] for s in filtered["sessions"]] == [
        ids.sessions["tina_talk"]
    ]


def test_session_exports_are_safe_and_masked(server: Server, ids: Seeded) -> None:
    sam = signed_in(server, "sam")
    base = f"/sessions/{ids.sessions['tina_pitch']}"
    text = sam.get(f"{base}/export.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert all(not row["text"].startswith(("=", "+", "-", "@")) for row in rows)
    assert any(row["text"].startswith("'=HYPERLINK") for row in rows)
    assert EMAIL not in text and "t***@example.org" in text
    assert SCRIPT in text  # exported as the text it is
    assert EMAIL in sam.get(f"{base}/export.csv?reveal=1").text

    document = json.loads(sam.get(f"{base}/export.json").text)
    assert document["contacts_masked"] is True
    assert EMAIL not in json.dumps(document)
    assert [s["kind"] for s in document["scores"]] == ["pitch", "conversation"]
    assert document["turns"][4]["speaker"] == "trainee"
    revealed = json.loads(sam.get(f"{base}/export.json?reveal=1").text)
    assert revealed["contacts_masked"] is False and EMAIL in json.dumps(revealed)
    assert re.search(
        rf"exported session {ids.sessions['tina_pitch']} as csv", server.log_text()
    )


# -- errors and deletion ----------------------------------------------------------


def test_error_pages_are_friendly(server: Server) -> None:
    sam = signed_in(server, "sam")
    for path in ("/no-such-page", "/sessions/abc", "/sessions/0"):
        response = sam.get(path)
        assert response.status == 404
        assert "Page not found" in response.text and "Traceback" not in response.text
        assert response.header("Content-Security-Policy")
    assert sam.request("PUT", "/sessions").status == 405


def test_delete_needs_confirmation_and_removes_events(
    app: Tuple[Server, Seeded, Path],
) -> None:
    server, ids, database = app
    session, sender = ids.sessions["tina_talk"], ids.senders["tina_talk"]
    sam = signed_in(server, "sam")
    confirm = sam.get(f"/sessions/{session}/delete")
    assert confirm.status == 200 and "Delete this session?" in confirm.text
    assert sam.request("POST", f"/sessions/{session}/delete", {}).status == 403
    assert sam.get(f"/sessions/{session}").status == 200
    tina = signed_in(server, "tina")
    assert tina.get(f"/sessions/{session}/delete").status == 403
    deleted = sam.post(
        f"/sessions/{session}/delete", {}, csrf_from=f"/sessions/{session}/delete"
    )
    assert (
        deleted.status == 303 and deleted.header("Location") == "/sessions?done=deleted"
    )
    assert "were deleted" in sam.get("/sessions?done=deleted").text
    assert sam.get(f"/sessions/{session}").status == 404
    with sqlite3.connect(database) as connection:
        left = connection.execute(
            "SELECT count(*) FROM events WHERE sender_id = ?", (sender,)
        ).fetchone()[0]
        others = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    assert left == 0 and others > 0
    assert re.search(
        rf"deleted session {session} \(4 tracker events\)", server.log_text()
    )
