"""The API key that created each batch: its requests draw on that key's batch limits.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # None: a batch made before keys were remembered, or by a caller without a stored key.
    op.add_column("batches", sa.Column("api_key_id", sa.String(64)))


def downgrade() -> None:
    op.drop_column("batches", "api_key_id")
