"""Workspaces' rate limits, revised by the keys' counter.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False, unique=True),
        # NULL: the limits were removed (kept, with a new revision, for other processes to read).
        sa.Column("rate_limits", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_workspaces_revision", "workspaces", ["revision"])


def downgrade() -> None:
    op.drop_index("ix_workspaces_revision", "workspaces")
    op.drop_table("workspaces")
