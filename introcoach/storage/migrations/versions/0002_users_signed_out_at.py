"""users.signed_out_at: chat tokens issued before a sign-out stop working.

The web app and the Rasa server are separate processes; the Rasa server's
socket channel reads this column to close a trainee's sockets once they sign
out (introcoach.storage.chat_access).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column (null: never signed out)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("signed_out_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("signed_out_at")
