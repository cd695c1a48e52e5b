"""Supervisor review: comments on sessions and verdicts on scored criteria.

Only someone who may see a session (its trainee, or the trainee's supervisor)
may comment on it; only a comment's author may edit or delete it; only the
trainee's supervisor may give verdicts. Each rule is checked here, in the
function, and broken rules raise ``PermissionError``.

Every function takes an engine (it opens and commits its own transaction) or a
session (it works inside the caller's transaction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional

from sqlalchemy import and_, case, false, func, select, true
from sqlalchemy.orm import Session, joinedload

from introcoach.storage.db import Bind, transaction, upsert
from introcoach.storage.errors import NotFound
from introcoach.storage.models import (
    Comment,
    CriterionVerdict,
    PracticeSession,
    Score,
    ScoreCriterion,
    User,
    utcnow,
)
from introcoach.storage.users import can_view_session

logger = logging.getLogger(__name__)

MAX_COMMENT_LENGTH = 10_000


@dataclass(frozen=True)
class CriterionAgreement:
    """How often supervisors agreed with the bot on one criterion.

    Attributes:
        criterion_id: The rubric criterion.
        verdicts: Supervisor verdicts given on it.
        agreements: Verdicts equal to the bot's met/not met.
        supervisor_only: The supervisor said met, the bot did not.
        bot_only: The bot said met, the supervisor did not.

    """

    criterion_id: str
    verdicts: int
    agreements: int
    supervisor_only: int
    bot_only: int

    @property
    def rate(self) -> float:
        """Share of verdicts that agree with the bot (0..1)."""
        return self.agreements / self.verdicts if self.verdicts else 0.0


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def _clean_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise ValueError("comment is empty")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValueError(f"comment is longer than {MAX_COMMENT_LENGTH} characters")
    return text


def _own_comment(session: Session, comment_id: int, author_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"no comment with id {comment_id}")
    if comment.author_id != author_id:
        raise PermissionError("only the author may change a comment")
    return comment


def add_comment(
    bind: Bind,
    session_id: int,
    author_id: int,
    body: str,
    turn_index: Optional[int] = None,
) -> Comment:
    """Comment on a whole session (``turn_index`` None) or on one turn.

    Raises:
        NotFound: No such session or author.
        PermissionError: The author may not see the session.
        ValueError: Empty or overlong body, negative turn index.

    """
    text = _clean_body(body)
    if turn_index is not None and turn_index < 0:
        raise ValueError("turn index must not be negative")
    with transaction(bind) as session:
        practice = session.get(PracticeSession, session_id)
        if practice is None:
            raise NotFound(f"no practice session with id {session_id}")
        author = _user(session, author_id)
        if not can_view_session(session, author, practice):
            raise PermissionError("the author may not see this session")
        now = utcnow()
        comment = Comment(
            session_id=practice.id,
            author_id=author.id,
            turn_index=turn_index,
            body=text,
            created_at=now,
            updated_at=now,
        )
        session.add(comment)
        session.flush()
        logger.info(
            "User %d commented %d on session %d", author.id, comment.id, practice.id
        )
        return comment


def edit_comment(bind: Bind, comment_id: int, author_id: int, body: str) -> Comment:
    """Change a comment's text; only its author may.

    Raises:
        NotFound: No such comment.
        PermissionError: ``author_id`` did not write it.

    """
    text = _clean_body(body)
    with transaction(bind) as session:
        comment = _own_comment(session, comment_id, author_id)
        comment.body = text
        comment.updated_at = utcnow()
        logger.info("User %d edited comment %d", author_id, comment.id)
        return comment


def delete_comment(bind: Bind, comment_id: int, author_id: int) -> None:
    """Delete a comment; only its author may.

    Raises:
        NotFound: No such comment.
        PermissionError: ``author_id`` did not write it.

    """
    with transaction(bind) as session:
        comment = _own_comment(session, comment_id, author_id)
        session.delete(comment)
        logger.info("User %d deleted comment %d", author_id, comment_id)


def list_comments(bind: Bind, session_id: int) -> List[Comment]:
    """List a session's comments: whole-session ones first, then by turn, time."""
    with transaction(bind) as session:
        return list(
            session.execute(
                select(Comment)
                .where(Comment.session_id == session_id)
                .order_by(
                    Comment.turn_index.asc().nulls_first(),
                    Comment.created_at,
                    Comment.id,
                )
            ).scalars()
        )


def comments_for_trainee(bind: Bind, trainee_id: int, limit: int = 10) -> List[Comment]:
    """The newest comments others left on a trainee's sessions (newest first).

    Args:
        bind: Engine or session.
        trainee_id: Whose sessions.
        limit: How many at most.

    Returns:
        Comments with their ``session`` loaded.

    """
    with transaction(bind) as session:
        return list(
            session.execute(
                select(Comment)
                .join(PracticeSession, Comment.session_id == PracticeSession.id)
                .where(
                    PracticeSession.trainee_id == trainee_id,
                    Comment.author_id != trainee_id,
                )
                .options(joinedload(Comment.session))
                .order_by(Comment.created_at.desc(), Comment.id.desc())
                .limit(limit)
            ).scalars()
        )


def set_verdict(
    bind: Bind, score_id: int, criterion_id: str, supervisor_id: int, met: bool
) -> CriterionVerdict:
    """Record (or change) a supervisor's own verdict on one scored criterion.

    Raises:
        NotFound: No such score, criterion in that score, or supervisor.
        PermissionError: Not a supervisor, or not the trainee's supervisor.

    """
    with transaction(bind) as session:
        supervisor = _user(session, supervisor_id)
        if supervisor.role != "supervisor":
            raise PermissionError("only supervisors give verdicts")
        score = session.get(Score, score_id)
        if score is None:
            raise NotFound(f"no score with id {score_id}")
        practice = session.get(PracticeSession, score.session_id)
        if not can_view_session(session, supervisor, practice):
            raise PermissionError("the supervisor may not see this session")
        scored = session.execute(
            select(ScoreCriterion.id).where(
                ScoreCriterion.score_id == score_id,
                ScoreCriterion.criterion_id == criterion_id,
            )
        ).first()
        if scored is None:
            raise NotFound(f"score {score_id} has no criterion {criterion_id!r}")
        now = utcnow()
        upsert(
            session,
            CriterionVerdict,
            {
                "score_id": score_id,
                "criterion_id": criterion_id,
                "supervisor_id": supervisor_id,
                "met": bool(met),
                "created_at": now,
                "updated_at": now,
            },
            ["score_id", "criterion_id", "supervisor_id"],
            {"met": bool(met), "updated_at": now},
        )
        verdict = session.execute(
            select(CriterionVerdict)
            .where(
                CriterionVerdict.score_id == score_id,
                CriterionVerdict.criterion_id == criterion_id,
                CriterionVerdict.supervisor_id == supervisor_id,
            )
            .execution_options(populate_existing=True)
        ).scalar_one()
        logger.info("Supervisor %d set verdict %d", supervisor_id, verdict.id)
        return verdict


def agreement_by_criterion(
    bind: Bind, supervisor_id: Optional[int] = None
) -> List[CriterionAgreement]:
    """Per criterion: how supervisors' verdicts compare with the bot's.

    Args:
        bind: Engine or session.
        supervisor_id: Count only this supervisor's verdicts.

    Returns:
        One row per criterion with at least one verdict, by criterion id.

    """
    verdict, bot = CriterionVerdict, ScoreCriterion
    statement = (
        select(
            bot.criterion_id,
            func.count(verdict.id),
            func.sum(case((verdict.met == bot.met, 1), else_=0)),
            func.sum(
                case((and_(verdict.met.is_(true()), bot.met.is_(false())), 1), else_=0)
            ),
            func.sum(
                case((and_(verdict.met.is_(false()), bot.met.is_(true())), 1), else_=0)
            ),
        )
        .select_from(verdict)
        .join(
            bot,
            and_(
                bot.score_id == verdict.score_id,
                bot.criterion_id == verdict.criterion_id,
            ),
        )
        .group_by(bot.criterion_id)
        .order_by(bot.criterion_id)
    )
    if supervisor_id is not None:
        statement = statement.where(verdict.supervisor_id == supervisor_id)
    with transaction(bind) as session:
        return [
            CriterionAgreement(
                criterion_id=criterion,
                verdicts=int(total),
                agreements=int(agree or 0),
                supervisor_only=int(supervisor_only or 0),
                bot_only=int(bot_only or 0),
            )
            for criterion, total, agree, supervisor_only, bot_only in session.execute(
                statement
            )
        ]
