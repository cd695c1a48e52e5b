"""The project's own tables: users, practice sessions, scores and reviews.

Rasa keeps the conversations themselves in its tracker store; these tables hold
what IntroCoach adds on top, keyed by the Rasa sender id. The schema is created
and changed only by the Alembic migrations in ``introcoach/storage/migrations``
(:func:`introcoach.storage.db.init_db`); a test checks they match these models.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional, Tuple

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    column,
)
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

ROLES = ("supervisor", "trainee")
MODES = ("small_talk", "pitch")
SCORE_KINDS = ("pitch", "conversation")

# Fixed constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always stored and returned as UTC.

    SQLite keeps no offset, PostgreSQL keeps one; this type makes both return
    aware UTC datetimes. Naive datetimes passed in are taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Any:
        """Convert to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Any:
        """Attach UTC to what SQLite returns without an offset."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _one_of(name: str, values: Tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(column(name).in_(values), name=name)


class User(Base):
    """A supervisor or a trainee who signs in to the web app."""

    __tablename__ = "users"
    __table_args__ = (_one_of("role", ROLES),)

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(128), nullable=False)
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    # For trainees: the supervisor they are assigned to.
    supervisor_id = Column(
        Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    # The latest sign-out: chat tokens issued before it are refused, and the
    # Rasa server closes their sockets (introcoach.storage.chat_access).
    signed_out_at = Column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:
        # Ids only: never names in logs or tracebacks.
        return f"<User id={self.id} role={self.role}>"


class PracticeSession(Base):
    """One practice conversation (one Rasa sender id), with cached latest scores."""

    __tablename__ = "practice_sessions"
    __table_args__ = (
        _one_of("mode", MODES),
        # Serves the trainee filter and "this trainee, newest first".
        Index("ix_practice_sessions_trainee_started", "trainee_id", "started_at"),
    )

    id = Column(Integer, primary_key=True)
    # Null for anonymous use from the shell or the REST channel.
    trainee_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    persona_id = Column(String(64), nullable=False, index=True)
    mode = Column(String(16), nullable=False, index=True)
    sender_id = Column(String(255), nullable=False, unique=True, index=True)
    started_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    ended_at = Column(UTCDateTime(), nullable=True)
    # Copies of the latest score, so the session list filters and sorts on columns.
    overall_score = Column(Integer, nullable=True, index=True)
    strategy_4_score = Column(Integer, nullable=True)
    strategy_6_score = Column(Integer, nullable=True)

    scores = relationship(
        "Score",
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Score.id",
    )
    comments = relationship(
        "Comment",
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Comment.id",
    )

    def __repr__(self) -> str:
        return f"<PracticeSession id={self.id} mode={self.mode}>"


class Score(Base):
    """One scoring of a pitch or a conversation, written once per user message."""

    __tablename__ = "scores"
    __table_args__ = (
        # A retried action must not score the same message twice.
        UniqueConstraint("session_id", "message_id"),
        _one_of("kind", SCORE_KINDS),
    )

    id = Column(Integer, primary_key=True)
    session_id = Column(
        Integer,
        ForeignKey("practice_sessions.id", ondelete="CASCADE"),
        nullable=False,
    )
    kind = Column(String(16), nullable=False)
    # The Rasa user message id that triggered the scoring.
    message_id = Column(String(255), nullable=False)
    overall = Column(Integer, nullable=False)
    rubric_version = Column(String(32), nullable=False)
    # ScoreReport.to_dict(), whole.
    report = Column(JSON, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    session = relationship("PracticeSession", back_populates="scores")
    criteria = relationship(
        "ScoreCriterion",
        back_populates="parent",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ScoreCriterion.id",
    )

    def __repr__(self) -> str:
        return f"<Score id={self.id} session_id={self.session_id} kind={self.kind}>"


class ScoreCriterion(Base):
    """One criterion's result within a score, as a row for querying."""

    __tablename__ = "score_criteria"
    __table_args__ = (UniqueConstraint("score_id", "criterion_id"),)

    id = Column(Integer, primary_key=True)
    score_id = Column(
        Integer, ForeignKey("scores.id", ondelete="CASCADE"), nullable=False
    )
    strategy_id = Column(String(64), nullable=False)
    criterion_id = Column(String(64), nullable=False, index=True)
    met = Column(Boolean, nullable=False)
    score = Column(Float, nullable=False)
    evidence = Column(Text, nullable=True)
    tip = Column(Text, nullable=True)

    parent = relationship("Score", back_populates="criteria")

    def __repr__(self) -> str:
        return f"<ScoreCriterion id={self.id} criterion_id={self.criterion_id}>"


class Comment(Base):
    """A reviewer's note on a whole session or on one turn of it."""

    __tablename__ = "comments"

    id = Column(Integer, primary_key=True)
    session_id = Column(
        Integer,
        ForeignKey("practice_sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    author_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Null: about the whole session.
    turn_index = Column(Integer, nullable=True)
    body = Column(Text, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    session = relationship("PracticeSession", back_populates="comments")

    def __repr__(self) -> str:
        return f"<Comment id={self.id} session_id={self.session_id}>"


class CriterionVerdict(Base):
    """A supervisor's own judgement of one criterion of one score."""

    __tablename__ = "criterion_verdicts"
    __table_args__ = (
        UniqueConstraint("score_id", "criterion_id", "supervisor_id"),
        # Only criteria the bot actually scored can get a verdict.
        ForeignKeyConstraint(
            ["score_id", "criterion_id"],
            ["score_criteria.score_id", "score_criteria.criterion_id"],
            ondelete="CASCADE",
        ),
    )

    id = Column(Integer, primary_key=True)
    score_id = Column(Integer, nullable=False)
    criterion_id = Column(String(64), nullable=False)
    supervisor_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    met = Column(Boolean, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<CriterionVerdict id={self.id} score_id={self.score_id}>"
