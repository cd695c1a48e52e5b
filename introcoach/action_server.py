"""The rasa-sdk action server, bound to loopback and guarded by a shared token.

rasa-sdk 3.6 has no authentication of its own, and its default error handler
echoes the request body back. This wraps :func:`rasa_sdk.endpoint.create_app`:
every call except ``/health`` must carry ``X-IntroCoach-Action-Token`` (the
Rasa server sends it, configured in ``endpoints.yml``), a call that arrives
after Rasa stopped waiting for it is not run (:mod:`introcoach.deadline`), and
errors answer with a short message that holds no conversation text.

Run with ``python -m introcoach.action_server``.
"""

from __future__ import annotations

import argparse
import hmac
import logging
from typing import Any, Optional, Sequence

from sanic import Sanic, response
from sanic.request import Request

from introcoach import deadline
from introcoach.settings import load_settings

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-IntroCoach-Action-Token"
OPEN_PATHS = frozenset({"/health"})


def create_app(token: str, action_package: str = "actions") -> Sanic:
    """Build the action server app.

    Args:
        token: The shared secret every caller must send in ``TOKEN_HEADER``.
        action_package: The package holding the custom actions.

    Returns:
        A Sanic app ready to run.
    """
    from rasa_sdk.endpoint import create_app as create_sdk_app

    if not token:
        raise ValueError("the action server needs a non-empty token")
    # No CORS: only the Rasa server, never a browser, calls the action server.
    app = create_sdk_app(action_package, cors_origins=None)

    @app.middleware("request")
    async def require_token(request: Request) -> Optional[Any]:
        if request.path in OPEN_PATHS:
            return None
        sent = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            logger.warning(
                "refused action call without a valid token (%s)", request.path
            )
            return response.json(
                {"error": "missing or invalid action server token"}, 401
            )
        # Rasa says when it stops waiting; a call that arrives later (the
        # server was paused or overloaded) is not run: Rasa has already told
        # the trainee, and a score stored now would be one they never saw.
        deadline.set_current(deadline.parse(request.headers.get(deadline.HEADER)))
        if deadline.passed():
            logger.warning(
                "skipped a call Rasa had stopped waiting for (%s)", request.path
            )
            return response.json(
                {"error": "the Rasa server stopped waiting for this call; not run"},
                503,
            )
        return None

    async def safe_error(request: Request, exception: Exception) -> Any:
        # Log the action name and the error type only: never the tracker or text.
        name = None
        try:
            name = (request.json or {}).get("next_action")
        except Exception:  # noqa: BLE001 - a body that is not JSON
            name = None
        logger.error(
            "action %s failed: %s", name, type(exception).__name__, exc_info=exception
        )
        status = getattr(exception, "status_code", 500)
        if not isinstance(status, int) or status < 400:
            status = 500
        return response.json(
            {"error": "the action failed", "action_name": name}, status
        )

    app.error_handler.add(Exception, safe_error)
    return app


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the action server on the configured host and port."""
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.action_port)
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    app = create_app(settings.action_token, args.actions)
    logger.info("action server on http://%s:%s", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
