"""The trainee's practice pages over HTTP: picker, start, chat page, token, history.

The socket itself is tested against the real Rasa server in
``test_integration.py``; here the web app runs alone on a seeded SQLite file.
"""

from __future__ import annotations

import re
from typing import Iterator, Tuple

import pytest
from web_support import (
    JWT_KEY,
    SCRIPT,
    Client,
    Seeded,
    Server,
    running_server,
    seed,
)

from introcoach.chat_auth import read_chat_token
from introcoach.storage import get_session, make_engine


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tuple[Server, Seeded, str]]:
    workdir = tmp_path_factory.mktemp("practice")
    url = f"sqlite:///{workdir / 'introcoach.db'}"
    seeded = seed(url, extra_sessions=0)
    with running_server(workdir, url) as server:
        yield server, seeded, url


def signed_in(server: Server, username: str) -> Client:
    client = Client(server.port)
    assert client.login(username).status == 303
    return client


def start(client: Client, persona: str = "dana", mode: str = "small_talk") -> int:
    response = client.post(
        "/practice", {"persona": persona, "mode": mode}, csrf_from="/practice"
    )
    assert response.status == 303, response.text
    match = re.fullmatch(r"/practice/(\d+)", response.header("Location"))
    assert match, response.header("Location")
    return int(match.group(1))


def test_picker_shows_personas_modes_rubric_and_privacy(app) -> None:
    server, _, _ = app
    page = signed_in(server, "tina").get("/practice")
    assert page.status == 200
    text = page.text
    for expected in (
        "Dana",
        "Surprise me",
        "Small talk",
        "Elevator pitch",
        "What counts",
        "Gino, Kouchaki &amp; Casciaro (2016)",
        "Your supervisor can read your practice sessions",
    ):
        assert expected in text, expected
    assert 'name="persona" value="dana"' in text


def test_supervisor_cannot_practise(app) -> None:
    server, _, _ = app
    page = signed_in(server, "sam").get("/practice")
    assert page.status == 403
    assert "Practice is for trainee accounts" in page.text


def test_start_creates_the_trainees_session_and_opens_the_chat(app) -> None:
    server, seeded, url = app
    client = signed_in(server, "tina")
    practice_id = start(client, "marcus", "pitch")
    page = client.get(f"/practice/{practice_id}")
    assert page.status == 200
    assert 'src="/static/widget/introcoach-chat.js"' in page.text
    assert f'data-token-url="/practice/{practice_id}/token"' in page.text
    status, body = client.get_json(f"/practice/{practice_id}/token")
    assert status == 200
    assert body["mode"] == "pitch"
    assert body["persona"]["id"] == "marcus"
    assert body["start"] == {
        "message": "/practice_pitch",
        "metadata": {"persona_id": "marcus", "mode": "pitch"},
    }
    assert body["rasa_url"] == "http://127.0.0.1:5999"
    claims = read_chat_token(JWT_KEY, body["token"])
    assert claims.sender_id == body["sender_id"]
    assert claims.practice_id == practice_id
    assert claims.trainee_id == seeded.users["tina"]
    stored = get_session(make_engine(url), body["sender_id"])
    assert stored is not None
    assert (stored.id, stored.trainee_id, stored.persona_id, stored.mode) == (
        practice_id,
        seeded.users["tina"],
        "marcus",
        "pitch",
    )


def test_surprise_me_picks_a_real_persona(app) -> None:
    server, _, _ = app
    client = signed_in(server, "theo")
    practice_id = start(client, "surprise", "small_talk")
    status, body = client.get_json(f"/practice/{practice_id}/token")
    assert status == 200
    assert body["persona"]["name"]
    assert body["start"]["message"] == "/session_start"


@pytest.mark.parametrize(
    "form, message",
    [
        ({"persona": "nobody", "mode": "small_talk"}, "not available any more"),
        ({"persona": "dana", "mode": "karaoke"}, "Choose small talk or elevator pitch"),
    ],
)
def test_bad_choices_are_explained(app, form, message) -> None:
    server, _, _ = app
    client = signed_in(server, "tina")
    response = client.post("/practice", form, csrf_from="/practice")
    assert response.status == 400
    assert message in response.text


def test_only_the_owner_gets_a_token_or_the_history(app) -> None:
    server, _, _ = app
    practice_id = start(signed_in(server, "tina"))
    for username in ("theo", "sam"):
        other = signed_in(server, username)
        for suffix in ("", "/token", "/history"):
            if suffix:
                status, body = other.get_json(f"/practice/{practice_id}{suffix}")
                assert status in (403, 404), (username, suffix)
                assert "error" in body
                assert "token" not in body
            else:
                assert other.get(f"/practice/{practice_id}").status in (403, 404)


def test_signed_out_widget_gets_json_not_a_login_page(app) -> None:
    server, _, _ = app
    status, body = Client(server.port).get_json("/practice/1/token")
    assert status == 401
    assert "Sign in again" in body["error"]


def test_history_is_the_transcript_in_order_without_payloads(app) -> None:
    server, seeded, _ = app
    client = signed_in(server, "tina")
    status, body = client.get_json(f"/practice/{seeded.sessions['tina_pitch']}/history")
    assert status == 200
    messages = body["messages"]
    speakers = [m["speaker"] for m in messages]
    assert speakers[:3] == ["narrator", "persona", "trainee"]
    assert any(SCRIPT in m["text"] for m in messages)  # as typed: JSON, not HTML
    assert not any(
        m["text"].startswith("/") for m in messages if m["speaker"] == "trainee"
    )
    assert all(m["timestamp"] and m["timestamp"].endswith("+00:00") for m in messages)


def test_widget_files_and_socketio_client_are_served_locally(app) -> None:
    server, _, _ = app
    client = Client(server.port)
    for path in (
        "/static/widget/introcoach-chat.js",
        "/static/widget/introcoach-chat.css",
        "/static/vendor/socket.io.min.js",
    ):
        response = client.get(path)
        assert response.status == 200, path
        assert len(response.body) > 1000, path


def test_csp_lets_pages_reach_only_the_rasa_socket(app) -> None:
    server, _, _ = app
    policy = (
        signed_in(server, "tina").get("/practice").header("Content-Security-Policy")
    )
    assert "connect-src 'self' http://127.0.0.1:5999 ws://127.0.0.1:5999" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_trainee_home_shows_supervisor_comments_escaped(app) -> None:
    server, seeded, _ = app
    session_id = seeded.sessions["tina_pitch"]
    sam = signed_in(server, "sam")
    posted = sam.post(
        f"/sessions/{session_id}/comments",
        {"body": f"Great opener! {SCRIPT}", "turn": "2"},
        csrf_from=f"/sessions/{session_id}",
    )
    assert posted.status == 303
    home = signed_in(server, "tina").get("/").text
    assert "Comments from your supervisor" in home
    assert "Great opener! &lt;script&gt;" in home and SCRIPT not in home
    assert f'href="/sessions/{session_id}#turn-2"' in home
    assert "Great opener!" not in signed_in(server, "theo").get("/").text
