"""The review app's pages and form handlers.

Access rules, checked in every handler that takes an id:

* a trainee sees only their own sessions and progress;
* a supervisor sees only the trainees assigned to them;
* anything else answers 404, exactly like an id that does not exist.

Logs carry ids only (users, sessions, comments), never names or message text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlencode

from sanic import Sanic
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import HTTPResponse, raw, redirect
from sqlalchemy import select
from sqlalchemy.engine import Engine

from introcoach.storage import NotFound as StorageNotFound
from introcoach.storage import (
    add_comment,
    agreement_by_criterion,
    comments_for_trainee,
    delete_comment,
    delete_session,
    edit_comment,
    list_comments,
    list_scores,
    list_sessions,
    set_verdict,
    transaction,
    verify_password,
    visible_trainee_ids,
)
from introcoach.storage.chat_access import record_sign_out
from introcoach.storage.models import (
    MODES,
    Comment,
    CriterionVerdict,
    PracticeSession,
    User,
)
from introcoach.storage.practice import MAX_PAGE_SIZE, SORT_KEYS
from introcoach.storage.review import MAX_COMMENT_LENGTH
from introcoach.storage.transcripts import (
    MAX_QUERY_LENGTH,
    delete_events,
    read_transcript,
    search_sender_ids,
)
from introcoach.web.app import (
    end_session,
    error_page,
    render,
    request_address,
    start_session,
)
from introcoach.web.auth import LoginLimiter
from introcoach.web.review import (
    LIST_COLUMNS,
    TRANSCRIPT_COLUMNS,
    criterion_label,
    persona_name,
    progress_plot,
    score_cards,
    session_document,
    session_summary,
    to_csv,
    to_json,
    transcript_records,
    turn_views,
)

logger = logging.getLogger(__name__)
audit = logging.getLogger("introcoach.web.audit")

PAGE_SIZE = 20
MAX_EXPORT_ROWS = 10_000
MODE_LABELS = {"small_talk": "Small talk", "pitch": "Elevator pitch"}
SORT_COLUMNS = (
    ("started_at", "Date"),
    ("persona_id", "Persona"),
    ("mode", "Mode"),
    ("overall_score", "Overall"),
    ("strategy_6_score", "Strategy 6"),
    ("strategy_4_score", "Strategy 4"),
)
NOTICES = {
    "comment-added": "Comment added.",
    "comment-edited": "Comment saved.",
    "comment-deleted": "Comment deleted.",
    "verdict-saved": "Your verdict was saved.",
    "deleted": "The session and its transcript were deleted.",
}


def _engine(request: Request) -> Engine:
    return request.app.ctx.engine  # type: ignore[no-any-return]


def _user(request: Request) -> User:
    user: Optional[User] = request.ctx.user
    if user is None:  # pragma: no cover - the middleware redirects first
        raise NotFound("not signed in")
    return user


def _client_address(request: Request) -> str:
    return request_address(request)


def _safe_next(target: Optional[str]) -> str:
    """Only paths on this site (never ``//host`` or ``http:``) after sign-in."""
    if target and target.startswith("/") and not target.startswith("//"):
        if "\\" not in target and "\n" not in target and "\r" not in target:
            return target
    return "/"


def _int_arg(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


# -- sign in and out -----------------------------------------------------------


async def login_form(request: Request) -> HTTPResponse:
    """The sign-in page (starts a session to carry the form's CSRF token)."""
    if request.ctx.user is not None:
        return redirect("/")
    if request.ctx.session is None:
        start_session(request, None)
    return render(
        request, "login.html", next=_safe_next(request.args.get("next")), error=None
    )


async def login(request: Request) -> HTTPResponse:
    """Check the password; on success start a new, signed-in session."""
    limiter: LoginLimiter = request.app.ctx.limiter
    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    target = _safe_next(request.form.get("next"))
    address = _client_address(request)
    wait = limiter.retry_after(username, address)
    if wait:
        logger.info("Sign-in rate limit hit")
        if wait < 60:
            pause = f"{wait} second{'s' if wait != 1 else ''}"
        else:
            minutes = (wait + 59) // 60
            pause = f"{minutes} minute{'s' if minutes != 1 else ''}"
        response = render(
            request,
            "login.html",
            status=429,
            next=target,
            username=username,
            error=(
                "Too many failed sign-in attempts. For your security, please wait "
                f"{pause} and try again."
            ),
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = None
    if username and password:
        loop = asyncio.get_running_loop()
        # argon2 is slow on purpose: keep it off the event loop.
        user = await loop.run_in_executor(
            None, verify_password, _engine(request), username, password
        )
    if user is None:
        limiter.failed(username, address)
        return render(
            request,
            "login.html",
            status=401,
            next=target,
            username=username,
            error="That username and password don't match. Please try again.",
        )
    limiter.succeeded(username, address)
    start_session(request, user.id)
    logger.info("User %d signed in", user.id)
    return redirect(target, status=303)


async def logout(request: Request) -> HTTPResponse:
    """Sign out."""
    user = request.ctx.user
    end_session(request)
    if user is not None:
        # The Rasa server then closes this user's open chat sockets.
        record_sign_out(_engine(request), user.id)
        logger.info("User %d signed out", user.id)
    return redirect("/login?signed_out=1", status=303)


# -- home ------------------------------------------------------------------------


async def home(request: Request) -> HTTPResponse:
    """Supervisors go to the session list; trainees see their own sessions."""
    user = _user(request)
    if user.role == "supervisor":
        return redirect("/sessions")
    engine = _engine(request)
    page = max(1, _int_arg(request.args.get("page")) or 1)
    rows, total = list_sessions(
        engine, trainee_ids=[user.id], page=page, page_size=PAGE_SIZE
    )
    supervisor = _user_by_id(engine, user.supervisor_id)
    comments = comments_for_trainee(engine, user.id)
    authors = _users(engine, sorted({c.author_id for c in comments}))
    return render(
        request,
        "home_trainee.html",
        comments=comments,
        authors={i: u.display_name for i, u in authors.items()},
        sessions=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        supervisor=supervisor,
        persona_name=persona_name,
        mode_labels=MODE_LABELS,
    )


def _user_by_id(engine: Engine, user_id: Optional[int]) -> Optional[User]:
    if user_id is None:
        return None
    with transaction(engine) as session:
        return session.get(User, user_id)


def _users(engine: Engine, ids: Sequence[int]) -> Dict[int, User]:
    if not ids:
        return {}
    with transaction(engine) as session:
        rows = session.execute(select(User).where(User.id.in_(list(ids)))).scalars()
        return {u.id: u for u in rows}


# -- session list ----------------------------------------------------------------


@dataclass
class Filters:
    """The session list's filters, sort and page, read from the query string."""

    trainee: Optional[int] = None
    persona: Optional[str] = None
    mode: Optional[str] = None
    date_from: Optional[str] = None
    date_to: Optional[str] = None
    score_min: Optional[int] = None
    score_max: Optional[int] = None
    q: str = ""
    sort: str = "started_at"
    direction: str = "desc"
    page: int = 1
    errors: List[str] = field(default_factory=list)

    def query(self, **changes: Any) -> str:
        """The query string for these filters, with ``changes`` applied."""
        values = {
            "trainee": self.trainee,
            "persona": self.persona,
            "mode": self.mode,
            "from": self.date_from,
            "to": self.date_to,
            "min": self.score_min,
            "max": self.score_max,
            "q": self.q,
            "sort": self.sort,
            "dir": self.direction,
            "page": self.page,
        }
        values.update(changes)
        if values.get("sort") == "started_at" and values.get("dir") == "desc":
            values.pop("sort")
            values.pop("dir")
        if values.get("page") == 1:
            values.pop("page")
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    def sort_query(self, column: str) -> str:
        """Link target of a column header: sort by it, or flip the direction."""
        if column == self.sort:
            direction = "asc" if self.direction == "desc" else "desc"
        else:
            direction = "asc" if column == "persona_id" or column == "mode" else "desc"
        return self.query(sort=column, dir=direction, page=1)

    @property
    def active(self) -> bool:
        """Whether any filter (not sort or page) is set."""
        return any(
            v not in (None, "")
            for v in (
                self.trainee,
                self.persona,
                self.mode,
                self.date_from,
                self.date_to,
                self.score_min,
                self.score_max,
                self.q,
            )
        )


def _date(value: Optional[str], name: str, errors: List[str]) -> Optional[datetime]:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        errors.append(f"{name} must be a date like 2025-03-01.")
        return None


def _read_filters(args: Any) -> Filters:
    errors: List[str] = []
    found = Filters(errors=errors)
    found.trainee = _int_arg(args.get("trainee"))
    found.persona = (args.get("persona") or "").strip()[:64] or None
    mode = args.get("mode") or None
    if mode and mode not in MODES:
        errors.append("Unknown mode.")
        mode = None
    found.mode = mode
    for key, name, attr in (
        ("min", "Minimum score", "score_min"),
        ("max", "Maximum score", "score_max"),
    ):
        raw_value = (args.get(key) or "").strip()
        if raw_value:
            value = _int_arg(raw_value)
            if value is None or not 0 <= value <= 100:
                errors.append(f"{name} must be a whole number from 0 to 100.")
            else:
                setattr(found, attr, value)
    if _date(args.get("from"), "From", errors):
        found.date_from = args.get("from")
    if _date(args.get("to"), "To", errors):
        found.date_to = args.get("to")
    query = (args.get("q") or "").strip()
    if len(query) > MAX_QUERY_LENGTH:
        errors.append(f"Search text can be at most {MAX_QUERY_LENGTH} characters.")
        query = query[:MAX_QUERY_LENGTH]
    found.q = query
    sort = args.get("sort") or "started_at"
    found.sort = sort if sort in SORT_KEYS else "started_at"
    found.direction = "asc" if args.get("dir") == "asc" else "desc"
    found.page = max(1, _int_arg(args.get("page")) or 1)
    return found


def _query_sessions(
    engine: Engine, visible: List[int], filters: Filters, page: int, page_size: int
) -> Tuple[List[PracticeSession], int]:
    trainee_ids: List[int] = visible
    if filters.trainee is not None:
        # A trainee not assigned to this supervisor simply matches nothing.
        trainee_ids = [filters.trainee] if filters.trainee in visible else []
    started_before = None
    last_day = _date(filters.date_to, "To", [])
    if last_day is not None:
        started_before = last_day + timedelta(days=1)  # "to" includes that day
    sender_ids = None
    if filters.q:
        sender_ids = search_sender_ids(engine, filters.q)
    return list_sessions(
        engine,
        trainee_ids=trainee_ids,
        persona_id=filters.persona,
        mode=filters.mode,
        started_from=_date(filters.date_from, "From", []),
        started_before=started_before,
        min_score=filters.score_min,
        max_score=filters.score_max,
        sender_ids=sender_ids,
        sort=filters.sort,
        descending=filters.direction == "desc",
        page=page,
        page_size=page_size,
    )


def _audit_search(
    user: User, filters: Filters, total: int, rows: Sequence[PracticeSession]
) -> None:
    """Log that the unmasked transcripts were searched: ids, never the text.

    The search reads the stored text, contact details included, so whether a
    session matches can confirm an email address or phone number the page
    would mask: like *Reveal contact details*, it leaves an audit line.
    """
    if not filters.q:
        return
    shown = ", ".join(str(r.id) for r in rows) or "none"
    audit.info(
        "User %d searched transcript text: %d sessions matched (shown: %s)",
        user.id,
        total,
        shown,
    )


def _require_supervisor(request: Request) -> Optional[HTTPResponse]:
    if _user(request).role != "supervisor":
        return error_page(request, 403, "This page is for supervisors.")
    return None


async def session_list(request: Request) -> HTTPResponse:
    """Supervisor: every visible session, filtered, searched, sorted, paged."""
    denied = _require_supervisor(request)
    if denied:
        return denied
    user = _user(request)
    engine = _engine(request)
    filters = _read_filters(request.args)
    visible = visible_trainee_ids(engine, user)
    rows, total = _query_sessions(engine, visible, filters, filters.page, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if filters.page > pages:
        filters.page = pages
        rows, total = _query_sessions(engine, visible, filters, pages, PAGE_SIZE)
    _audit_search(user, filters, total, rows)
    trainees = _users(engine, visible)
    from introcoach.personas import PersonaError, all_personas

    try:
        personas = [(p.id, p.name) for p in all_personas()]
    except PersonaError:
        personas = []
    logger.info("User %d listed sessions (page %d)", user.id, filters.page)
    return render(
        request,
        "sessions.html",
        sessions=rows,
        total=total,
        pages=pages,
        filters=filters,
        trainees=trainees,
        trainee_options=sorted(trainees.values(), key=lambda u: u.display_name.lower()),
        personas=personas,
        persona_name=persona_name,
        modes=MODES,
        mode_labels=MODE_LABELS,
        sort_columns=SORT_COLUMNS,
        notice=NOTICES.get(request.args.get("done") or ""),
    )


def _download(body: str, filename: str, content_type: str) -> HTTPResponse:
    return raw(
        body.encode("utf-8"),
        content_type=f"{content_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def session_list_export(request: Request, fmt: str) -> HTTPResponse:
    """Supervisor: the filtered list (every page) as CSV or JSON."""
    denied = _require_supervisor(request)
    if denied:
        return denied
    user = _user(request)
    engine = _engine(request)
    filters = _read_filters(request.args)
    visible = visible_trainee_ids(engine, user)
    trainees = _users(engine, visible)
    records: List[Dict[str, Any]] = []
    page = 1
    while len(records) < MAX_EXPORT_ROWS:
        rows, total = _query_sessions(engine, visible, filters, page, MAX_PAGE_SIZE)
        records.extend(session_summary(row, trainees) for row in rows)
        if page * MAX_PAGE_SIZE >= total or not rows:
            break
        page += 1
    if filters.q:
        audit.info(
            "User %d searched transcript text: %d sessions matched (exported)",
            user.id,
            len(records),
        )
    audit.info("User %d exported %d sessions as %s", user.id, len(records), fmt)
    if fmt == "csv":
        return _download(
            to_csv(LIST_COLUMNS, records), "introcoach-sessions.csv", "text/csv"
        )
    return _download(
        to_json({"sessions": records}), "introcoach-sessions.json", "application/json"
    )


# -- one session -----------------------------------------------------------------


def _visible_session(request: Request, session_id: int) -> PracticeSession:
    """The session if this user may see it; 404 otherwise (never 403)."""
    from introcoach.storage.users import can_view_session

    user = _user(request)
    with transaction(_engine(request)) as session:
        practice = session.get(PracticeSession, session_id)
        if practice is None or not can_view_session(session, user, practice):
            raise NotFound("no such session")
        return practice


def _verdicts(
    engine: Engine, user: User, score_ids: List[int]
) -> Dict[Tuple[int, str], bool]:
    if user.role != "supervisor" or not score_ids:
        return {}
    with transaction(engine) as session:
        rows = session.execute(
            select(
                CriterionVerdict.score_id,
                CriterionVerdict.criterion_id,
                CriterionVerdict.met,
            ).where(
                CriterionVerdict.score_id.in_(score_ids),
                CriterionVerdict.supervisor_id == user.id,
            )
        ).all()
    return {(r.score_id, r.criterion_id): bool(r.met) for r in rows}


@dataclass
class SessionData:
    """Everything the session page and its exports show."""

    practice: PracticeSession
    trainee: Optional[User]
    views: List[Any]
    cards: List[Any]
    comments: List[Comment]
    authors: Dict[int, str]
    masked: bool


def _session_data(
    request: Request, practice: PracticeSession, reveal: bool
) -> SessionData:
    engine = _engine(request)
    user = _user(request)
    turns = read_transcript(engine, practice.sender_id)
    scores = list_scores(engine, practice.id)
    comments = list_comments(engine, practice.id)
    cards = score_cards(
        scores, _verdicts(engine, user, [s.id for s in scores]), not reveal
    )
    views = turn_views(turns, cards, comments, mask=not reveal)
    people = _users(
        engine, sorted({c.author_id for c in comments} | {practice.trainee_id or 0})
    )
    return SessionData(
        practice=practice,
        trainee=people.get(practice.trainee_id or 0),
        views=views,
        cards=cards,
        comments=comments,
        authors={i: u.display_name for i, u in people.items()},
        masked=not reveal,
    )


def _reveal(request: Request, practice: PracticeSession) -> bool:
    if request.args.get("reveal") != "1":
        return False
    audit.info(
        "User %d revealed contact details of session %d", _user(request).id, practice.id
    )
    return True


async def session_page(request: Request, session_id: int) -> HTTPResponse:
    """One session: transcript, scores, verdicts, comments."""
    practice = _visible_session(request, session_id)
    user = _user(request)
    data = _session_data(request, practice, _reveal(request, practice))
    agreement = []
    if user.role == "supervisor":
        agreement = agreement_by_criterion(_engine(request), supervisor_id=user.id)
    logger.info("User %d opened session %d", user.id, practice.id)
    return render(
        request,
        "session.html",
        data=data,
        practice=practice,
        persona=persona_name(practice.persona_id),
        mode_labels=MODE_LABELS,
        agreement=agreement,
        criterion_label=criterion_label,
        notice=NOTICES.get(request.args.get("done") or ""),
        open_score=_int_arg(request.args.get("score")),
        max_comment=MAX_COMMENT_LENGTH,
    )


async def session_export(request: Request, session_id: int, fmt: str) -> HTTPResponse:
    """One session as CSV (one row per turn) or JSON (turns, scores, comments)."""
    practice = _visible_session(request, session_id)
    user = _user(request)
    data = _session_data(request, practice, _reveal(request, practice))
    audit.info(
        "User %d exported session %d as %s (%s)",
        user.id,
        practice.id,
        fmt,
        "masked" if data.masked else "revealed",
    )
    name = f"introcoach-session-{practice.id}.{fmt}"
    if fmt == "csv":
        return _download(
            to_csv(TRANSCRIPT_COLUMNS, transcript_records(practice, data.views)),
            name,
            "text/csv",
        )
    trainees = {data.trainee.id: data.trainee} if data.trainee else {}
    document = session_document(
        practice,
        trainees,
        data.views,
        data.cards,
        data.comments,
        data.authors,
        data.masked,
    )
    return _download(to_json(document), name, "application/json")


def _back(session_id: int, done: str, anchor: str = "") -> HTTPResponse:
    return redirect(f"/sessions/{session_id}?done={done}{anchor}", status=303)


async def comment_add(request: Request, session_id: int) -> HTTPResponse:
    """Add a comment on the session or on one turn."""
    practice = _visible_session(request, session_id)
    user = _user(request)
    body = request.form.get("body") or ""
    turn = _int_arg(request.form.get("turn"))
    if turn is not None:
        turns = read_transcript(_engine(request), practice.sender_id)
        if not 0 <= turn < len(turns):
            return error_page(request, 400, "That turn is not part of this session.")
    try:
        comment = add_comment(_engine(request), practice.id, user.id, body, turn)
    except ValueError as exc:
        return error_page(request, 400, f"The comment was not saved: {exc}.")
    except PermissionError:
        raise NotFound("no such session") from None
    anchor = f"#turn-{turn}" if turn is not None else f"#comment-{comment.id}"
    return _back(practice.id, "comment-added", anchor)


def _own_comment(request: Request, session_id: int, comment_id: int) -> Comment:
    practice = _visible_session(request, session_id)
    with transaction(_engine(request)) as session:
        comment = session.get(Comment, comment_id)
    if comment is None or comment.session_id != practice.id:
        raise NotFound("no such comment")
    return comment


async def comment_edit(
    request: Request, session_id: int, comment_id: int
) -> HTTPResponse:
    """Change your own comment."""
    comment = _own_comment(request, session_id, comment_id)
    try:
        edit_comment(
            _engine(request),
            comment.id,
            _user(request).id,
            request.form.get("body") or "",
        )
    except PermissionError:
        return error_page(request, 403, "You can only edit your own comments.")
    except ValueError as exc:
        return error_page(request, 400, f"The comment was not saved: {exc}.")
    except StorageNotFound:
        raise NotFound("no such comment") from None
    return _back(session_id, "comment-edited", f"#comment-{comment.id}")


async def comment_delete(
    request: Request, session_id: int, comment_id: int
) -> HTTPResponse:
    """Delete your own comment."""
    comment = _own_comment(request, session_id, comment_id)
    try:
        delete_comment(_engine(request), comment.id, _user(request).id)
    except PermissionError:
        return error_page(request, 403, "You can only delete your own comments.")
    except StorageNotFound:
        raise NotFound("no such comment") from None
    return _back(session_id, "comment-deleted", "#comments")


async def verdict(request: Request, session_id: int) -> HTTPResponse:
    """Supervisor: record met / not met for one criterion of one score."""
    denied = _require_supervisor(request)
    if denied:
        return denied
    practice = _visible_session(request, session_id)
    score_id = _int_arg(request.form.get("score_id"))
    criterion_id = request.form.get("criterion_id") or ""
    met = request.form.get("met")
    if score_id is None or met not in ("0", "1"):
        return error_page(request, 400, "Choose met or not met.")
    if score_id not in {s.id for s in list_scores(_engine(request), practice.id)}:
        raise NotFound("no such score")
    try:
        set_verdict(
            _engine(request), score_id, criterion_id, _user(request).id, met == "1"
        )
    except StorageNotFound:
        raise NotFound("no such criterion") from None
    except PermissionError:
        raise NotFound("no such session") from None
    return _back(
        practice.id,
        "verdict-saved",
        f"&score={score_id}#criterion-{score_id}-{criterion_id}",
    )


async def delete_confirm(request: Request, session_id: int) -> HTTPResponse:
    """Supervisor: ask before deleting a session."""
    denied = _require_supervisor(request)
    if denied:
        return denied
    practice = _visible_session(request, session_id)
    data = _session_data(request, practice, reveal=False)
    return render(
        request,
        "session_delete.html",
        practice=practice,
        data=data,
        persona=persona_name(practice.persona_id),
        mode_labels=MODE_LABELS,
    )


async def delete(request: Request, session_id: int) -> HTTPResponse:
    """Supervisor: delete the session, its scores, comments and Rasa events."""
    denied = _require_supervisor(request)
    if denied:
        return denied
    practice = _visible_session(request, session_id)
    with transaction(_engine(request)) as session:
        events = delete_events(session, [practice.sender_id])
        delete_session(session, practice.sender_id)
    audit.info(
        "User %d deleted session %d (%d tracker events)",
        _user(request).id,
        practice.id,
        events,
    )
    return redirect("/sessions?done=deleted", status=303)


# -- progress and agreement --------------------------------------------------------


async def trainee_page(request: Request, trainee_id: int) -> HTTPResponse:
    """A trainee's progress: scores per session over time."""
    user = _user(request)
    engine = _engine(request)
    if trainee_id not in visible_trainee_ids(engine, user):
        raise NotFound("no such trainee")
    trainee = _user_by_id(engine, trainee_id)
    if trainee is None:  # pragma: no cover - visible ids exist
        raise NotFound("no such trainee")
    sessions: List[PracticeSession] = []
    page = 1
    while True:
        rows, total = list_sessions(
            engine,
            trainee_ids=[trainee_id],
            sort="started_at",
            descending=False,
            page=page,
            page_size=MAX_PAGE_SIZE,
        )
        sessions.extend(rows)
        if page * MAX_PAGE_SIZE >= total or not rows or len(sessions) >= 1000:
            break
        page += 1
    scored = [s for s in sessions if s.overall_score is not None]
    summary = None
    if scored:
        best = max(scored, key=lambda s: (s.overall_score, s.started_at))
        summary = {"first": scored[0], "best": best, "latest": scored[-1]}
    logger.info("User %d opened progress of trainee %d", user.id, trainee_id)
    return render(
        request,
        "trainee.html",
        trainee=trainee,
        sessions=list(reversed(sessions)),
        scored=scored,
        summary=summary,
        plot=progress_plot(scored) if scored else None,
        persona_name=persona_name,
        mode_labels=MODE_LABELS,
    )


async def agreement_page(request: Request) -> HTTPResponse:
    """Supervisor: how often supervisors' verdicts agree with the bot."""
    denied = _require_supervisor(request)
    if denied:
        return denied
    user = _user(request)
    engine = _engine(request)
    return render(
        request,
        "agreement.html",
        mine=agreement_by_criterion(engine, supervisor_id=user.id),
        everyone=agreement_by_criterion(engine),
        criterion_label=criterion_label,
    )


def _with_format(handler: Any, fmt: str) -> Any:
    async def export(request: Request, **kwargs: Any) -> HTTPResponse:
        return await handler(request, fmt=fmt, **kwargs)  # type: ignore[no-any-return]

    export.__name__ = f"{handler.__name__}_{fmt}"
    return export


def register(app: Sanic) -> None:
    """Add every route to ``app``."""
    from introcoach.web import practice

    practice.register(app)
    app.add_route(login_form, "/login", methods=["GET"], name="login_form")
    app.add_route(login, "/login", methods=["POST"], name="login")
    app.add_route(logout, "/logout", methods=["POST"], name="logout")
    app.add_route(home, "/", methods=["GET"], name="home")
    app.add_route(session_list, "/sessions", methods=["GET"], name="sessions")
    for fmt in ("csv", "json"):
        app.add_route(
            _with_format(session_list_export, fmt),
            f"/sessions/export.{fmt}",
            methods=["GET"],
            name=f"sessions_export_{fmt}",
        )
        app.add_route(
            _with_format(session_export, fmt),
            f"/sessions/<session_id:int>/export.{fmt}",
            methods=["GET"],
            name=f"session_export_{fmt}",
        )
    app.add_route(
        session_page, "/sessions/<session_id:int>", methods=["GET"], name="session"
    )
    app.add_route(
        comment_add,
        "/sessions/<session_id:int>/comments",
        methods=["POST"],
        name="comment_add",
    )
    app.add_route(
        comment_edit,
        "/sessions/<session_id:int>/comments/<comment_id:int>/edit",
        methods=["POST"],
        name="comment_edit",
    )
    app.add_route(
        comment_delete,
        "/sessions/<session_id:int>/comments/<comment_id:int>/delete",
        methods=["POST"],
        name="comment_delete",
    )
    app.add_route(
        verdict, "/sessions/<session_id:int>/verdicts", methods=["POST"], name="verdict"
    )
    app.add_route(
        delete_confirm,
        "/sessions/<session_id:int>/delete",
        methods=["GET"],
        name="delete_confirm",
    )
    app.add_route(
        delete, "/sessions/<session_id:int>/delete", methods=["POST"], name="delete"
    )
    app.add_route(
        trainee_page, "/trainees/<trainee_id:int>", methods=["GET"], name="trainee"
    )
    app.add_route(
        agreement_page, "/rubric-agreement", methods=["GET"], name="agreement"
    )
