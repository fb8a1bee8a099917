"""Message Batches and Files.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("processing_status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("cancel_initiated_at", sa.Float),
        sa.Column("archived_at", sa.Float),
        sa.Column("succeeded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("errored", sa.Integer, nullable=False, server_default="0"),
        sa.Column("canceled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("expired", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "batch_requests",
        sa.Column("batch_id", sa.String(64), sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("custom_id", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("claim", sa.String(64)),
        sa.Column("lease_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("processed_by", sa.String(64)),
    )
    op.create_index("ix_batch_requests_state", "batch_requests", ["state", "lease_until"])
    op.create_index("ix_batch_requests_batch_state", "batch_requests", ["batch_id", "state"])
    op.create_table(
        "files",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("downloadable", sa.Boolean, nullable=False),
        sa.Column("scope_id", sa.String(128)),
    )


def downgrade() -> None:
    op.drop_table("files")
    op.drop_table("batch_requests")
    op.drop_table("batches")
