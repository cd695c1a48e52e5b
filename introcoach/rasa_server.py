"""Rasa's command line, with two fixes installed first.

1. Tracker store failures are reported, not hidden: Rasa's
   ``FailSafeTrackerStore`` is replaced by
   :class:`introcoach.tracker_store.StrictTrackerStore` (see there).
2. The action-server response schema is compiled once. Rasa 3.6 checks every
   answer from the action server with ``jsonschema.validate``, which re-checks
   the schema itself and builds a new validator on each call: about 13 ms per
   custom action on this project's machine, the largest part of a round trip.
   This validates with the same rules and the same error message.

3. Rasa waits at most ``INTROCOACH_ACTION_TIMEOUT`` seconds (default 15, not
   300) for the action server, and tells it when it stops waiting
   (:mod:`introcoach.deadline`).
4. The HTTP API token comes from the environment, not the command line:
   ``run --enable-api`` reads ``INTROCOACH_API_TOKEN`` (:func:`with_api_token`),
   so the token never shows in ``ps`` or ``/proc/<pid>/cmdline``, which every
   user of the machine can read.

``introcoach.stack`` starts the Rasa server through
``python -m introcoach.rasa_server run ...``.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
    """Drop-in for ``RemoteAction._validate_action_result``: same checks and error."""
    from jsonschema import ValidationError
    from rasa.shared.constants import DOCS_BASE_URL

    try:
        _response_validator().validate(result)
        return True
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            "For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error


DEFAULT_ACTION_TIMEOUT = 15.0


def action_timeout(env: Optional[Mapping[str, str]] = None) -> float:
    """Seconds Rasa waits for the action server (``INTROCOACH_ACTION_TIMEOUT``)."""
    from introcoach.settings import seconds_setting

    return seconds_setting(
        os.environ if env is None else env,
        "INTROCOACH_ACTION_TIMEOUT",
        DEFAULT_ACTION_TIMEOUT,
    )


def install() -> None:
    """Use the compiled validator, the strict tracker store and the action timeout.

    Rasa waits up to 300 s for the action server; a trainee should not. After
    ``action_timeout()`` seconds the action fails, and the channel answers the
    trainee with a note (``introcoach.channels.reporting``).
    """
    import rasa.core.actions.action as rasa_action
    from rasa.core.actions.action import RemoteAction
    from rasa.core.agent import Agent

    from introcoach.tracker_store import strict

    rasa_action.DEFAULT_REQUEST_TIMEOUT = action_timeout()  # type: ignore[attr-defined]

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _send_deadlines()
    Agent._create_tracker_store = staticmethod(strict)  # type: ignore[method-assign,assignment]


def _send_deadlines() -> None:
    """Every timed request Rasa makes (the action calls) says when it stops waiting.

    See :mod:`introcoach.deadline`: the action server does not run, or store
    anything for, a call Rasa has already given up on.
    """
    import time

    from rasa.utils.endpoints import EndpointConfig

    from introcoach import deadline

    request = EndpointConfig.request
    if getattr(request, "sends_deadline", False):
        return

    async def timed_request(self: EndpointConfig, *args: Any, **kwargs: Any) -> Any:
        timeout = kwargs.get("timeout")
        if isinstance(timeout, (int, float)) and timeout > 0:
            headers = dict(kwargs.get("headers") or {})
            headers[deadline.HEADER] = f"{time.time() + timeout:.3f}"
            kwargs["headers"] = headers
        return await request(self, *args, **kwargs)

    timed_request.sends_deadline = True  # type: ignore[attr-defined]
    EndpointConfig.request = timed_request  # type: ignore[method-assign]


API_TOKEN_VARIABLE = "INTROCOACH_API_TOKEN"


def with_api_token(
    argv: Sequence[str], env: Optional[Mapping[str, str]] = None
) -> List[str]:
    """Rasa's arguments, with ``--auth-token`` from the environment added.

    Only for ``run --enable-api`` without a token of its own on the command
    line. Changing ``sys.argv`` inside the process does not change what the
    kernel shows as its command line, so the token stays out of ``ps``.

    Args:
        argv: The arguments after the program name.
        env: Variables to read; ``os.environ`` when omitted.

    Returns:
        The arguments to give Rasa.

    Raises:
        SystemExit: ``--enable-api`` without any token: Rasa would then serve
            its HTTP API to anyone.
    """
    args = list(argv)
    if not args or args[0] != "run" or "--enable-api" not in args:
        return args
    if any(a in ("-t", "--auth-token") or a.startswith("--auth-token=") for a in args):
        return args
    token = (os.environ if env is None else env).get(API_TOKEN_VARIABLE, "").strip()
    if not token:
        raise SystemExit(
            f"--enable-api needs the API token: set {API_TOKEN_VARIABLE} "
            "(it is read from the environment, never the command line)"
        )
    # One argument, "--auth-token=...": a token starting with "-" (one in 64
    # of token_urlsafe's) would otherwise be read by argparse as an option.
    return args + [f"--auth-token={token}"]


def main() -> None:
    """Run ``rasa`` with the arguments given, after :func:`install`."""
    args = with_api_token(sys.argv[1:])
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[:] = ["rasa", *args]
    rasa_main()


if __name__ == "__main__":
    main()
