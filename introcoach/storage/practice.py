"""Practice sessions and their scores: start, end, score, list, delete.

A practice session is one Rasa conversation (one sender id). Scores are written
exactly once per (session, user message id), however often or concurrently the
scoring action runs, and each new score refreshes the session's cached scores.

Every function takes an engine (it opens and commits its own transaction) or a
session (it works inside the caller's transaction).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Collection, Dict, List, Mapping, Optional, Tuple, Union

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from introcoach.storage.db import Bind, insert_ignoring_conflict, transaction
from introcoach.storage.errors import NotFound
from introcoach.storage.models import (
    MODES,
    SCORE_KINDS,
    PracticeSession,
    Score,
    ScoreCriterion,
    User,
    utcnow,
)

logger = logging.getLogger(__name__)

# Strategy numbers whose latest scores are cached on the session row.
CACHED_STRATEGIES = {4: "strategy_4_score", 6: "strategy_6_score"}
SORT_KEYS = {
    "started_at": PracticeSession.started_at,
    "ended_at": PracticeSession.ended_at,
    "overall_score": PracticeSession.overall_score,
    "strategy_4_score": PracticeSession.strategy_4_score,
    "strategy_6_score": PracticeSession.strategy_6_score,
    "persona_id": PracticeSession.persona_id,
    "mode": PracticeSession.mode,
}
MAX_PAGE_SIZE = 200
_DELETE_CHUNK = 500


@dataclass(frozen=True)
class _CriterionRow:
    strategy_id: str
    criterion_id: str
    met: bool
    score: float
    evidence: Optional[str]
    tip: Optional[str]


@dataclass(frozen=True)
class _ParsedReport:
    overall: int
    rubric_version: str
    criteria: Tuple[_CriterionRow, ...]
    strategy_scores: Dict[int, int]
    stored: Dict[str, Any]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")


def _check_sender_id(sender_id: str) -> None:
    if not sender_id or len(sender_id) > 255:
        raise ValueError("sender id must have 1 to 255 characters")


def _optional_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("evidence and tip must be text or null")
    return value


def _parse_report(report: Mapping[str, Any]) -> _ParsedReport:
    """Check the ``ScoreReport.to_dict()`` shape before anything is written."""
    try:
        overall = report["overall"]
        if isinstance(overall, bool) or not isinstance(overall, int):
            raise TypeError("overall must be an integer")
        rubric_version = str(report["rubric_version"])
        criteria: List[_CriterionRow] = []
        strategy_scores: Dict[int, int] = {}
        for strategy in report["strategies"]:
            number = strategy.get("number")
            if number in CACHED_STRATEGIES:
                strategy_scores[int(number)] = int(strategy["score"])
            for criterion in strategy.get("criteria", ()):
                met = criterion["met"]
                if not isinstance(met, bool):
                    raise TypeError("met must be a boolean")
                criteria.append(
                    _CriterionRow(
                        strategy_id=str(strategy["id"]),
                        criterion_id=str(criterion["id"]),
                        met=met,
                        score=float(criterion["score"]),
                        evidence=_optional_text(criterion.get("evidence")),
                        tip=_optional_text(criterion.get("tip")),
                    )
                )
        # A detached, JSON-clean copy: what is stored is what a reader gets back.
        stored = json.loads(json.dumps(dict(report)))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"report is not a ScoreReport.to_dict(): {error}") from None
    if not rubric_version or len(rubric_version) > 32:
        raise ValueError("rubric_version must have 1 to 32 characters")
    ids = [c.criterion_id for c in criteria]
    if len(ids) != len(set(ids)):
        raise ValueError("report lists a criterion twice")
    return _ParsedReport(
        overall, rubric_version, tuple(criteria), strategy_scores, stored
    )


def _session_by_sender(session: Session, sender_id: str) -> Optional[PracticeSession]:
    return session.execute(
        select(PracticeSession).where(PracticeSession.sender_id == sender_id)
    ).scalar_one_or_none()


def _get_or_create(
    session: Session,
    sender_id: str,
    persona_id: str,
    mode: str,
    trainee_id: Optional[int],
) -> PracticeSession:
    if trainee_id is not None:
        trainee = session.get(User, trainee_id)
        if trainee is None:
            raise NotFound(f"no user with id {trainee_id}")
        if trainee.role != "trainee":
            raise ValueError(f"user {trainee_id} is not a trainee")
    created = insert_ignoring_conflict(
        session,
        PracticeSession,
        {
            "sender_id": sender_id,
            "persona_id": persona_id,
            "mode": mode,
            "trainee_id": trainee_id,
            "started_at": utcnow(),
        },
        ["sender_id"],
    )
    practice = _session_by_sender(session, sender_id)
    if practice is None:  # pragma: no cover - the row was just written or found
        raise NotFound("practice session vanished")
    if created:
        logger.info("Started practice session %d", practice.id)
    return practice


def start_session(
    bind: Bind,
    sender_id: str,
    persona_id: str,
    mode: str,
    trainee_id: Optional[int] = None,
) -> PracticeSession:
    """Return the practice session for ``sender_id``, creating it on first call.

    Idempotent: later calls (even concurrent ones) return the existing session
    unchanged.

    Args:
        bind: Engine or session.
        sender_id: The Rasa conversation id.
        persona_id: The persona played.
        mode: ``"small_talk"`` or ``"pitch"``.
        trainee_id: The signed-in trainee; None for anonymous use.

    Returns:
        The session.

    """
    _check_sender_id(sender_id)
    _check_mode(mode)
    with transaction(bind) as session:
        return _get_or_create(session, sender_id, persona_id, mode, trainee_id)


def get_session(bind: Bind, sender_id: str) -> Optional[PracticeSession]:
    """Return the practice session for a Rasa sender id, or None."""
    with transaction(bind) as session:
        return _session_by_sender(session, sender_id)


def end_session(
    bind: Bind, sender_id: str, ended_at: Optional[datetime] = None
) -> Optional[PracticeSession]:
    """Mark the session ended (the first end time is kept); None if unknown."""
    with transaction(bind) as session:
        practice = _session_by_sender(session, sender_id)
        if practice is not None and practice.ended_at is None:
            practice.ended_at = ended_at or utcnow()
            logger.info("Ended practice session %d", practice.id)
        return practice


def record_score(
    bind: Bind,
    sender_id: str,
    message_id: str,
    kind: str,
    report: Mapping[str, Any],
    persona_id: str,
    mode: str,
    trainee_id: Optional[int] = None,
) -> Tuple[Score, bool]:
    """Store a score exactly once per (session, user message).

    The session is created if needed (as :func:`start_session`). The first call
    for a message writes the score, its criteria and the session's cached
    scores, persona and mode (so a listed row describes its latest score), in one
    transaction. Repeated or concurrent calls for the same message write nothing
    and return the stored score.

    Args:
        bind: Engine or session.
        sender_id: The Rasa conversation id.
        message_id: The id of the user message that triggered scoring.
        kind: ``"pitch"`` or ``"conversation"``.
        report: ``ScoreReport.to_dict()``.
        persona_id: The persona played.
        mode: ``"small_talk"`` or ``"pitch"``.
        trainee_id: Used only when the session is created here.

    Returns:
        The stored score (criteria loaded) and whether this call wrote it.

    Raises:
        ValueError: Invalid kind, mode, ids or report shape (nothing written).

    """
    _check_sender_id(sender_id)
    _check_mode(mode)
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {SCORE_KINDS}")
    if not message_id or len(message_id) > 255:
        raise ValueError("message id must have 1 to 255 characters")
    parsed = _parse_report(report)
    with transaction(bind) as session:
        practice = _get_or_create(session, sender_id, persona_id, mode, trainee_id)
        created = insert_ignoring_conflict(
            session,
            Score,
            {
                "session_id": practice.id,
                "kind": kind,
                "message_id": message_id,
                "overall": parsed.overall,
                "rubric_version": parsed.rubric_version,
                "report": parsed.stored,
                "created_at": utcnow(),
            },
            ["session_id", "message_id"],
        )
        score = session.execute(
            select(Score)
            .where(Score.session_id == practice.id, Score.message_id == message_id)
            .options(selectinload(Score.criteria))
            .execution_options(populate_existing=True)
        ).scalar_one()
        if not created:
            logger.info(
                "Score for session %d message %s already stored as %d",
                practice.id,
                message_id,
                score.id,
            )
            return score, False
        score.criteria.extend(
            ScoreCriterion(
                strategy_id=row.strategy_id,
                criterion_id=row.criterion_id,
                met=row.met,
                score=row.score,
                evidence=row.evidence,
                tip=row.tip,
            )
            for row in parsed.criteria
        )
        _cache_latest(practice, parsed, persona_id, mode)
        session.flush()
        logger.info(
            "Stored %s score %d for session %d message %s",
            kind,
            score.id,
            practice.id,
            message_id,
        )
        return score, True


def _cache_latest(
    practice: PracticeSession, parsed: _ParsedReport, persona_id: str, mode: str
) -> None:
    practice.overall_score = parsed.overall
    for number, column in CACHED_STRATEGIES.items():
        setattr(practice, column, parsed.strategy_scores.get(number))
    practice.persona_id = persona_id
    practice.mode = mode


def list_scores(bind: Bind, session_id: int) -> List[Score]:
    """List a session's scores, oldest first, with their criteria loaded."""
    with transaction(bind) as session:
        return list(
            session.execute(
                select(Score)
                .where(Score.session_id == session_id)
                .options(selectinload(Score.criteria))
                .order_by(Score.created_at, Score.id)
            ).scalars()
        )


def list_sessions(
    bind: Bind,
    *,
    trainee_ids: Union[int, Collection[int], None] = None,
    persona_id: Optional[str] = None,
    mode: Optional[str] = None,
    started_from: Optional[datetime] = None,
    started_before: Optional[datetime] = None,
    min_score: Optional[int] = None,
    max_score: Optional[int] = None,
    sender_ids: Optional[Collection[str]] = None,
    sort: str = "started_at",
    descending: bool = True,
    page: int = 1,
    page_size: int = 25,
) -> Tuple[List[PracticeSession], int]:
    """One page of practice sessions matching every given filter, and the total.

    Args:
        bind: Engine or session.
        trainee_ids: Only these trainees' sessions (an empty collection matches
            nothing; use :func:`visible_trainee_ids` for a supervisor's view).
            None: any session, anonymous ones included.
        persona_id: Only this persona.
        mode: Only this mode.
        started_from: Started at or after this time.
        started_before: Started before this time.
        min_score: Latest overall score at least this (unscored sessions drop out).
        max_score: Latest overall score at most this.
        sender_ids: Only these Rasa sender ids, e.g. the hits of a text search
            over the tracker store (an empty collection matches nothing).
        sort: One of :data:`SORT_KEYS`; ties are broken by id, missing values last.
        descending: Sort direction.
        page: 1-based page number.
        page_size: Rows per page, 1 to :data:`MAX_PAGE_SIZE`.

    Returns:
        The rows of the page, and how many rows match in all.

    """
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {sorted(SORT_KEYS)}")
    if page < 1:
        raise ValueError("page starts at 1")
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}")
    if mode is not None:
        _check_mode(mode)
    conditions: List[Any] = []
    if trainee_ids is not None:
        ids = [trainee_ids] if isinstance(trainee_ids, int) else list(trainee_ids)
        conditions.append(PracticeSession.trainee_id.in_(ids))
    if persona_id is not None:
        conditions.append(PracticeSession.persona_id == persona_id)
    if mode is not None:
        conditions.append(PracticeSession.mode == mode)
    if started_from is not None:
        conditions.append(PracticeSession.started_at >= started_from)
    if started_before is not None:
        conditions.append(PracticeSession.started_at < started_before)
    if min_score is not None:
        conditions.append(PracticeSession.overall_score >= min_score)
    if max_score is not None:
        conditions.append(PracticeSession.overall_score <= max_score)
    if sender_ids is not None:
        conditions.append(PracticeSession.sender_id.in_(list(sender_ids)))

    column = SORT_KEYS[sort]
    if descending:
        order = [column.desc().nulls_last(), PracticeSession.id.desc()]
    else:
        order = [column.asc().nulls_last(), PracticeSession.id.asc()]
    with transaction(bind) as session:
        total = session.execute(
            select(func.count()).select_from(PracticeSession).where(*conditions)
        ).scalar_one()
        rows = session.execute(
            select(PracticeSession)
            .where(*conditions)
            .order_by(*order)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).scalars()
        return list(rows), int(total)


def delete_session(bind: Bind, sender_id: str) -> bool:
    """Delete a session with its scores, criteria, comments and verdicts.

    Returns:
        Whether there was such a session.

    """
    with transaction(bind) as session:
        practice = _session_by_sender(session, sender_id)
        if practice is None:
            return False
        session.delete(practice)
        logger.info("Deleted practice session %d", practice.id)
        return True


def delete_sessions_older_than(
    bind: Bind, days: float, now: Optional[datetime] = None
) -> List[str]:
    """Delete sessions started more than ``days`` ago, and all that hangs off them.

    Args:
        bind: Engine or session.
        days: Retention period; 0 deletes every session started before ``now``.
        now: The reference time (default: now, UTC).

    Returns:
        The deleted sessions' Rasa sender ids, so the caller can delete their
        tracker events too.

    """
    if days < 0:
        raise ValueError("days must not be negative")
    cutoff = (now or utcnow()) - timedelta(days=days)
    with transaction(bind) as session:
        found = session.execute(
            select(PracticeSession.id, PracticeSession.sender_id)
            .where(PracticeSession.started_at < cutoff)
            .order_by(PracticeSession.id)
        ).all()
        ids = [row.id for row in found]
        for start in range(0, len(ids), _DELETE_CHUNK):
            chunk = ids[start : start + _DELETE_CHUNK]
            # The database cascades to scores, criteria, comments and verdicts.
            session.execute(
                delete(PracticeSession)
                .where(PracticeSession.id.in_(chunk))
                .execution_options(synchronize_session=False)
            )
        if ids:
            logger.info("Retention deleted %d practice sessions", len(ids))
        return [row.sender_id for row in found]
