"""Durable state: batches and file metadata in SQLite or PostgreSQL, file bytes in a blob store."""

from ._blobs import Blobs, LocalBlobs
from ._store import (
    CANCELED,
    ERRORED,
    EXPIRED,
    HEAD,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Claimed,
    Outcome,
    Store,
    default_data_dir,
)

__all__ = [
    "CANCELED",
    "ERRORED",
    "EXPIRED",
    "HEAD",
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "Blobs",
    "Claimed",
    "LocalBlobs",
    "Outcome",
    "Store",
    "default_data_dir",
]
