"""``make chat`` sends the REST channel's token, and says so when it is refused.

Against a throwaway HTTP server on loopback that plays the REST channel.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

from introcoach import chat

TOKEN = "cli-rest-token-" + "c" * 20


class FakeRest(BaseHTTPRequestHandler):
    seen: List[Dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"authorization": self.headers.get("Authorization"), **body})
        ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        answer = [{"text": "Hi there!"}] if ok else {"error": "no"}
        raw = json.dumps(answer).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def fake_rest() -> Iterator[str]:
    FakeRest.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_send_carries_the_token(fake_rest: str) -> None:
    url = f"{fake_rest}/webhooks/rest/webhook"
    assert chat.send(url, "cli-x", "hello", token=TOKEN) == [{"text": "Hi there!"}]
    assert FakeRest.seen[-1]["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("token, code", [(TOKEN, 0), ("not-the-token", 1)])
def test_make_chat_uses_the_settings_token(
    fake_rest: str,
    token: str,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("INTROCOACH_REST_TOKEN", token)
    lines = iter(["hello", "/quit"])
    monkeypatch.setattr("builtins.input", lambda _prompt: next(lines))
    assert chat.main(["--url", fake_rest]) == code
    assert FakeRest.seen[0]["authorization"] == f"Bearer {token}"
    out, err = capsys.readouterr()
    if code == 0:
        assert "Hi there!" in out
    else:
        assert "refused the REST token" in err
