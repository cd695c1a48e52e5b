"""Initial schema: users, practice sessions, scores, comments and verdicts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created_updated() -> list:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('supervisor', 'trainee')", name=op.f("ck_users_role")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["users.id"],
            name="fk_users_supervisor_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_index("ix_users_supervisor_id", "users", ["supervisor_id"])

    op.create_table(
        "practice_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trainee_id", sa.Integer(), nullable=True),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overall_score", sa.Integer(), nullable=True),
        sa.Column("strategy_4_score", sa.Integer(), nullable=True),
        sa.Column("strategy_6_score", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "mode IN ('small_talk', 'pitch')", name=op.f("ck_practice_sessions_mode")
        ),
        sa.ForeignKeyConstraint(
            ["trainee_id"],
            ["users.id"],
            name="fk_practice_sessions_trainee_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_practice_sessions"),
    )
    op.create_index(
        "ix_practice_sessions_sender_id",
        "practice_sessions",
        ["sender_id"],
        unique=True,
    )
    op.create_index(
        "ix_practice_sessions_trainee_started",
        "practice_sessions",
        ["trainee_id", "started_at"],
    )
    for column in ("persona_id", "mode", "started_at", "overall_score"):
        op.create_index(f"ix_practice_sessions_{column}", "practice_sessions", [column])

    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        *_created_updated(),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name="fk_comments_author_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["practice_sessions.id"],
            name="fk_comments_session_id_practice_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
    )
    op.create_index("ix_comments_author_id", "comments", ["author_id"])
    op.create_index("ix_comments_session_id", "comments", ["session_id"])

    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("overall", sa.Integer(), nullable=False),
        sa.Column("rubric_version", sa.String(length=32), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('pitch', 'conversation')", name=op.f("ck_scores_kind")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["practice_sessions.id"],
            name="fk_scores_session_id_practice_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.UniqueConstraint(
            "session_id", "message_id", name="uq_scores_session_id_message_id"
        ),
    )

    op.create_table(
        "score_criteria",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("score_id", sa.Integer(), nullable=False),
        sa.Column("strategy_id", sa.String(length=64), nullable=False),
        sa.Column("criterion_id", sa.String(length=64), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("tip", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["score_id"],
            ["scores.id"],
            name="fk_score_criteria_score_id_scores",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_score_criteria"),
        sa.UniqueConstraint(
            "score_id", "criterion_id", name="uq_score_criteria_score_id_criterion_id"
        ),
    )
    op.create_index(
        "ix_score_criteria_criterion_id", "score_criteria", ["criterion_id"]
    )

    op.create_table(
        "criterion_verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("score_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.String(length=64), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=False),
        *_created_updated(),
        sa.ForeignKeyConstraint(
            ["score_id", "criterion_id"],
            ["score_criteria.score_id", "score_criteria.criterion_id"],
            name="fk_criterion_verdicts_score_id_score_criteria",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["users.id"],
            name="fk_criterion_verdicts_supervisor_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_criterion_verdicts"),
        sa.UniqueConstraint(
            "score_id",
            "criterion_id",
            "supervisor_id",
            name="uq_criterion_verdicts_score_id_criterion_id_supervisor_id",
        ),
    )
    op.create_index(
        "ix_criterion_verdicts_supervisor_id", "criterion_verdicts", ["supervisor_id"]
    )


def downgrade() -> None:
    """Drop every table (indexes go with them)."""
    for table in (
        "criterion_verdicts",
        "score_criteria",
        "scores",
        "comments",
        "practice_sessions",
        "users",
    ):
        op.drop_table(table)
