"""The action-call deadline: sent by the Rasa server, honoured by the action server."""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Dict

import pytest
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from introcoach import deadline, rasa_server
from introcoach.storage import recorder


@pytest.mark.parametrize("raw", [None, "", "soon", "nan", "inf"])
def test_a_missing_or_odd_deadline_is_none(raw) -> None:
    assert deadline.parse(raw) is None


def test_passed_only_after_the_deadline() -> None:
    def check() -> None:
        assert not deadline.passed()  # no deadline: never passed
        deadline.set_current(1000.0)
        assert not deadline.passed(now=999.0)
        assert deadline.passed(now=1000.5)

    contextvars.copy_context().run(check)
    assert not deadline.passed()  # set in its own context only


def test_a_late_score_is_not_stored(monkeypatch) -> None:
    stored = []
    monkeypatch.setattr(recorder, "record_score", lambda *a, **k: stored.append(a))
    monkeypatch.setattr(recorder, "ready_engine", lambda: None)
    monkeypatch.setattr(recorder, "end_session", lambda *a, **k: None)
    report = {"mode": "conversation"}

    def late() -> bool:
        deadline.set_current(time.time() - 1)
        return recorder.record_report("s", "m1", report, "dana")

    def in_time() -> bool:
        deadline.set_current(time.time() + 30)
        return recorder.record_report("s", "m2", report, "dana")

    assert contextvars.copy_context().run(late) is False
    assert contextvars.copy_context().run(in_time) is True
    assert [call[2] for call in stored] == ["m2"]


async def test_rasa_sends_the_moment_it_stops_waiting(monkeypatch) -> None:
    monkeypatch.setattr(EndpointConfig, "request", EndpointConfig.request)
    rasa_server._send_deadlines()
    seen: Dict[str, str] = {}

    async def webhook(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        before = time.time()
        await asyncio.wait_for(
            endpoint.request(json={}, method="post", timeout=15), timeout=10
        )
    finally:
        await runner.cleanup()
    sent = deadline.parse(seen.get(deadline.HEADER))
    assert sent is not None and before + 14 <= sent <= time.time() + 15.5
