"""The Sanic application: sessions, CSRF, security headers and error pages.

:func:`create_app` builds everything from its arguments; nothing here touches a
database or the file system at import time. Routes are in
:mod:`introcoach.web.routes`.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, html, json, redirect
from sqlalchemy.engine import Engine

from introcoach.settings import Settings
from introcoach.storage import get_user
from introcoach.web import csrf
from introcoach.web.auth import (
    COOKIE_NAME,
    HSTS,
    SECURE_COOKIE_NAME,
    LoginLimiter,
    SessionStore,
    WebSession,
    client_address,
    parse_networks,
    web_secret,
)
from introcoach.web.review import format_duration, format_time

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
PUBLIC_PATHS = ("/login",)
VENDOR_DIR = Path(__file__).resolve().parents[2] / "node_modules"
#: Browser libraries served from the npm packages `make install` puts in place.
VENDOR_FILES = {
    "socket.io.min.js": VENDOR_DIR / "socket.io-client" / "dist" / "socket.io.min.js",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
ERROR_MESSAGES = {
    400: ("Something in that request was not right", "Please go back and try again."),
    403: ("You can't do that here", "Your account doesn't have access to this."),
    404: ("Page not found", "There is nothing here, or you don't have access to it."),
    405: ("That didn't work", "This page doesn't accept that kind of request."),
    413: ("That was too much", "The form you sent is too large."),
    429: ("Too many attempts", "Please wait a few minutes and try again."),
}
_app_numbers = itertools.count(1)


def content_security_policy(chat_url: str) -> str:
    """The CSP, letting pages open a socket to the Rasa server at ``chat_url``."""
    parts = urlsplit(chat_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return CONTENT_SECURITY_POLICY
    socket_scheme = "wss" if parts.scheme == "https" else "ws"
    origins = f"{parts.scheme}://{parts.netloc} {socket_scheme}://{parts.netloc}"
    return CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'", f"connect-src 'self' {origins}"
    )


def wants_json(request: Request) -> bool:
    """Whether the client asked for JSON (the chat widget's fetches do)."""
    return "application/json" in request.headers.get("accept", "")


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("introcoach.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.filters["duration"] = format_duration
    env.filters["band"] = score_band
    return env


def score_band(value: Optional[int]) -> str:
    """A CSS class for a 0-100 score: ``low``, ``mid``, ``high`` or ``none``."""
    if value is None:
        return "none"
    if value >= 75:
        return "high"
    if value >= 50:
        return "mid"
    return "low"


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or via a proxy)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def request_address(request: Request) -> str:
    """The client's address (``X-Forwarded-For`` only from a trusted proxy)."""
    return client_address(
        request.ip or "unknown",
        request.headers.get("x-forwarded-for"),
        request.app.ctx.trusted_proxies,
    )


def render(
    request: Request, template: str, status: int = 200, **context: Any
) -> HTTPResponse:
    """Render a template with the signed-in user and the CSRF token.

    Args:
        request: The current request.
        template: File name under ``templates/``.
        status: HTTP status.
        **context: Template variables.

    Returns:
        The HTML response.

    """
    env: Environment = request.app.ctx.templates
    session: Optional[WebSession] = getattr(request.ctx, "session", None)
    page = env.get_template(template).render(
        user=getattr(request.ctx, "user", None),
        csrf_token=session.csrf_token if session else "",
        path=request.path,
        **context,
    )
    return html(page, status=status)


def error_page(
    request: Request, status: int, detail: Optional[str] = None
) -> HTTPResponse:
    """A friendly error page (never a traceback)."""
    title, message = ERROR_MESSAGES.get(
        status, ("Something went wrong", "Please try again in a moment.")
    )
    return render(
        request,
        "error.html",
        status=status,
        title=title,
        message=detail or message,
        status_code=status,
    )


def start_session(request: Request, user_id: Optional[int]) -> WebSession:
    """Replace the request's session by a new one (and set its cookie)."""
    store: SessionStore = request.app.ctx.store
    store.end(getattr(request.ctx, "session", None))
    session = store.create(user_id)
    request.ctx.session = session
    request.ctx.cookie = store.cookie_value(session)
    return session


def end_session(request: Request) -> None:
    """Sign out: forget the session and expire its cookie."""
    store: SessionStore = request.app.ctx.store
    store.end(getattr(request.ctx, "session", None))
    request.ctx.session = None
    request.ctx.user = None
    request.ctx.cookie = ""


def create_app(
    engine: Engine,
    settings: Settings,
    *,
    secret: Optional[str] = None,
    limiter: Optional[LoginLimiter] = None,
) -> Sanic:
    """Build the review web app.

    Args:
        engine: Database with the project's tables (and Rasa's ``events``).
        settings: Where the app listens; its secrets folder holds the cookie key.
        secret: Key that signs session cookies (default: :func:`web_secret`).
        limiter: Sign-in rate limit (default: 5 failures per 5 minutes).

    Returns:
        The Sanic app, ready to ``run``.

    """
    from introcoach.web import routes

    app = Sanic(f"introcoach_web_{next(_app_numbers)}")
    app.config.ACCESS_LOG = False  # URLs can carry search text; we log ids only
    app.config.MOTD = False
    app.config.REQUEST_MAX_SIZE = 1_000_000
    app.ctx.engine = engine
    app.ctx.settings = settings
    app.ctx.store = SessionStore(secret or web_secret(secrets_dir=settings.secrets_dir))
    app.ctx.limiter = limiter or LoginLimiter()
    app.ctx.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.ctx.secure_cookies = settings.secure_cookies
    cookie_name = SECURE_COOKIE_NAME if settings.secure_cookies else COOKIE_NAME
    app.ctx.cookie_name = cookie_name
    app.ctx.templates = _templates()
    app.ctx.security_headers = dict(
        SECURITY_HEADERS,
        **{"Content-Security-Policy": content_security_policy(settings.chat_url)},
    )
    app.static("/static", str(STATIC_DIR), name="static")
    for file_name, source in VENDOR_FILES.items():
        if not source.is_file():
            logger.warning(
                "%s is missing, so the chat widget cannot connect: run `make install`",
                source,
            )
        app.static(
            f"/static/vendor/{file_name}",
            str(source),
            name=f"vendor_{file_name.replace('.', '_')}",
            content_type="application/javascript",
        )

    @app.middleware("request")
    async def load_session(request: Request) -> Optional[HTTPResponse]:
        store: SessionStore = request.app.ctx.store
        session = store.get(request.cookies.get(cookie_name))
        request.ctx.session = session
        request.ctx.user = None
        request.ctx.cookie = None
        if session is not None and session.user_id is not None:
            user = get_user(engine, session.user_id)
            if user is None:
                end_session(request)
            else:
                request.ctx.user = user
        if request.path.startswith("/static/"):
            return None
        if request.method == "POST" and not csrf.token_is_valid(
            request.ctx.session, request.form.get(csrf.FIELD)
        ):
            logger.info(
                "Rejected a POST without a valid CSRF token on %s", request.path
            )
            return error_page(
                request,
                403,
                "This form has expired or was not sent from IntroCoach. "
                "Go back, reload the page and try again.",
            )
        if request.ctx.user is None and request.path not in PUBLIC_PATHS:
            if wants_json(request):
                return json(
                    {"error": "You are signed out. Sign in again to practise."},
                    status=401,
                )
            target = request.path
            if target in ("/", "/logout"):
                return redirect("/login")
            return redirect(f"/login?next={quote(target, safe='/')}")
        return None

    @app.middleware("response")
    async def security_headers(request: Request, response: HTTPResponse) -> None:
        for name, value in request.app.ctx.security_headers.items():
            response.headers[name] = value
        if request.app.ctx.secure_cookies:
            response.headers["Strict-Transport-Security"] = HSTS
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        cookie = getattr(request.ctx, "cookie", None)
        if cookie is not None:
            response.cookies[cookie_name] = cookie
            jar = response.cookies[cookie_name]
            jar["path"] = "/"  # and no Domain: what __Host- requires
            jar["httponly"] = True
            jar["samesite"] = "Lax"
            if request.app.ctx.secure_cookies or is_https(request):
                jar["secure"] = True
            if not cookie:
                jar["max-age"] = 0

    @app.exception(Exception)
    async def handle_error(request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicException):
            status = int(getattr(exception, "status_code", 500) or 500)
        else:
            status = 500
        if status >= 500:
            logger.error(
                "Error %s on %s %s",
                exception.__class__.__name__,
                request.method,
                request.route.name if request.route else "unrouted",
                exc_info=exception,
            )
        if not hasattr(request.ctx, "session"):
            # The router failed before the middleware ran: show the nav anyway.
            store: SessionStore = request.app.ctx.store
            session = store.get(request.cookies.get(cookie_name))
            request.ctx.session = session
            request.ctx.user = (
                get_user(engine, session.user_id)
                if session is not None and session.user_id is not None
                else None
            )
        if wants_json(request):
            title, _ = ERROR_MESSAGES.get(status, ("Something went wrong", ""))
            return json({"error": title}, status=status)
        return error_page(request, status)

    routes.register(app)
    return app
