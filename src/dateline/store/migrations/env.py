"""Alembic's entry point. The store runs migrations itself at start-up and
hands over its connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from dateline.store._tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
