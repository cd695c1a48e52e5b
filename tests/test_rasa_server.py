"""The compiled validator for action-server answers behaves like Rasa's own."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from introcoach import rasa_server

GOOD = {
    "events": [
        {"event": "slot", "timestamp": None, "name": "persona_id", "value": "dana"}
    ],
    "responses": [{"text": "Hi!", "buttons": [], "custom": {}}],
}
BAD = [
    {"events": [{"event": "no_such_event"}], "responses": []},
    {"events": "not a list", "responses": []},
    {"events": [], "responses": "not a list"},
]


@pytest.mark.parametrize("result", [GOOD] + BAD)
def test_same_verdict_as_rasa(result, monkeypatch):
    action = RemoteAction("action_greet", None)
    try:
        rasa_verdict = action._validate_action_result(result)
    except ValidationError as error:
        rasa_verdict = error.message.split(". Failed to validate")[0]
    monkeypatch.setattr(
        RemoteAction, "_validate_action_result", rasa_server._validate_action_result
    )
    try:
        ours = action._validate_action_result(result)
    except ValidationError as error:
        assert "Failed to validate Action server response" in error.message
        ours = error.message.split(". Failed to validate")[0]
    assert ours == rasa_verdict
