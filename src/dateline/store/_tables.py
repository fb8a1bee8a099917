"""The tables, as SQLAlchemy Core metadata. Migrations create them; the
store queries them. Times are seconds since the epoch (floats), so both
SQLite and PostgreSQL compare them the same way."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: A Message Batch. ``seq`` orders the list (newest first) and its cursors.
batches = sa.Table(
    "batches",
    metadata,
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
    # The final tallies, written once when the batch ends.
    sa.Column("succeeded", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errored", sa.Integer, nullable=False, server_default="0"),
    sa.Column("canceled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expired", sa.Integer, nullable=False, server_default="0"),
    # The key that created the batch (its id, never its secret): whose batch limits and usage.
    sa.Column("api_key_id", sa.String(64)),
)

#: One request of a batch, its result once it has one, and who is working on it.
#: ``state`` is pending → running → succeeded | errored, or canceled | expired.
#: A running row whose ``lease_until`` has passed is claimed again (its
#: worker died); only the holder of ``claim`` may write the result.
batch_requests = sa.Table(
    "batch_requests",
    metadata,
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
    sa.Index("ix_batch_requests_state", "state", "lease_until"),
    sa.Index("ix_batch_requests_batch_state", "batch_id", "state"),
)

#: Uploaded (or made) files; the bytes live in the blob store under ``id``.
files = sa.Table(
    "files",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("filename", sa.String(500), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("downloadable", sa.Boolean, nullable=False),
    sa.Column("scope_id", sa.String(128)),
)

#: Secrets every process on this database shares, made by whichever asks first
#: (the thinking-signature key, when none is configured).
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: API keys: the secret only as a keyed hash (HMAC-SHA256 under the
#: ``api-key-hash-key`` secret), what it may do as JSON (``settings``).
#: ``revision`` orders changes, so every process can read those it has not seen.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("partial_key_hint", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("workspace_id", sa.String(128)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Index("ix_api_keys_revision", "revision"),
)

#: One row: the revision of the newest change to ``api_keys``. Writers bump it
#: under its row lock, so revisions commit in order and a reader polling it
#: sees every change once.
api_key_revision = sa.Table(
    "api_key_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
)

#: A workspace's rate limits (``id``: the ``workspace_id`` keys carry), as JSON. Changes
#: take their revision from ``api_key_revision``, so the keys' readers see them in the
#: same poll. Removed limits stay as a row with ``rate_limits`` NULL and a new revision:
#: other processes read the removal as they read any change.
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(128), nullable=False, unique=True),
    sa.Column("rate_limits", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Index("ix_workspaces_revision", "revision"),
)
