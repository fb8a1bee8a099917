"""Every API key of the database, and every workspace's limits, held in memory by each process.

A request's key is found by its keyed hash in a dict: no round trip to the
database. Each process reads what changed every ``poll`` seconds (one query
when nothing did), so a key revoked anywhere stops working everywhere within
a second; a key it does not know makes it look again (``recheck``), so a key
just made by another process works at once. When keys were last used is
written every ``flush`` seconds, not per request. Workspaces' limits share the
keys' revision: the same reads bring them, and each key carries its workspace's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pydantic

from .. import errors
from ..ids import new_id
from ..schemas import validate
from ._key import Key, digest, hint, new_secret
from ._settings import KeyCreate, KeySettings, KeyUpdate, RateLimits, check, merge_patch
from ._workspace import WorkspaceId, WorkspaceLimits, WorkspacePut

if TYPE_CHECKING:
    from ..store import Store

logger = logging.getLogger("dateline")

#: The stored secret API keys are hashed with.
HASH_KEY = "api-key-hash-key"
#: Seconds at least between the reads unknown keys ask for.
_RECHECK = 0.05


class KeyRing:
    """The keys, the reads that keep them current, and the changes made to them."""

    def __init__(self, store: Store, *, poll: float = 0.5, flush: float = 2.0) -> None:
        self.store = store
        self.poll, self.flush_every = poll, flush
        self._hash_key = b""
        self._by_hash: dict[bytes, Key] = {}
        self._workspaces: dict[str, RateLimits] = {}  # workspace id -> its limits
        self._revision = 0
        self._started = float("-inf")  # when the newest read began (monotonic)
        self._reading: asyncio.Future[None] | None = None
        self._used: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        #: Called with a key's (or workspace's) id once this process has changed it: the hook
        #: for telling other replicas at once (Redis pub/sub), which then
        #: call ``refresh``. Without it, they see the change at their next poll.
        self.on_change: list[Callable[[str], Awaitable[None]]] = []

    # -- life cycle ---------------------------------------------------------

    async def open(self) -> None:
        """Read the hash key and every key (the store is open)."""
        self._hash_key = (await self.store.secret(HASH_KEY)).encode()
        await self.refresh()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dateline keys")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        flushed = time.monotonic()
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.refresh()
                if time.monotonic() - flushed >= self.flush_every:
                    flushed = time.monotonic()
                    await self.flush()
            except Exception:
                # Never the end of the polling: keys unread would stay unrevoked.
                logger.exception("reading the API keys failed")

    # -- the hot path ---------------------------------------------------------

    @property
    def defined(self) -> bool:
        """Whether any key was ever made here: revoked ones count, or revoking
        the last key would open the server to every key."""
        return bool(self._by_hash)

    def find(self, secret: str) -> Key | None:
        """The key with this secret (live or revoked), None if there is none."""
        return self._by_hash.get(digest(self._hash_key, secret))

    def used(self, key: Key) -> None:
        self._used[key.id] = time.time()

    def workspace_limits(self, workspace_id: str | None) -> RateLimits | None:
        """A workspace's limits as last read; None: it has none."""
        return self._workspaces.get(workspace_id) if workspace_id is not None else None

    async def refresh(self) -> None:
        """Read what changed since the last look; callers at the same time share
        one read (a caller cancelled leaves it going on)."""
        reading = self._reading
        # A read just done may not have had its callback yet: awaiting it would not yield.
        if reading is None or reading.done():
            reading = self._reading = asyncio.ensure_future(self._read())
            reading.add_done_callback(self._read_done)
        await asyncio.shield(reading)

    def _read_done(self, reading: asyncio.Future[None]) -> None:
        if self._reading is reading:
            self._reading = None

    async def recheck(self) -> None:
        """Read the keys in a read begun from now on, for a key not found: it
        may have just been made by another process. Reads begin at most every
        ``_RECHECK`` seconds, shared by every caller waiting meanwhile, so
        unknown keys, however many, cost the database little."""
        asked = time.monotonic()
        while self._started < asked:
            if self._reading is None or self._reading.done():
                pause = self._started + _RECHECK - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                    continue  # another caller may have begun one meanwhile
            await self.refresh()

    async def _read(self) -> None:
        self._started = time.monotonic()
        try:
            revision = await self.store.key_revision()
            if revision == self._revision:
                return
            if revision < self._revision:  # a database started afresh
                self._by_hash, self._workspaces, self._revision = {}, {}, 0
            rows = await self.store.keys_since(self._revision)
            spaces = await self.store.workspaces_since(self._revision)
        except Exception as exc:
            # The database is away: the keys known stay as they were.
            logger.warning("cannot read the API keys: %s", exc)
            return
        changed = {space["id"] for space in spaces}
        for space in spaces:
            self._workspaces.pop(space["id"], None)
            if space["rate_limits"] is not None:  # None: removed
                try:
                    self._workspaces[space["id"]] = WorkspaceLimits.from_row(space).rate_limits
                except pydantic.ValidationError as exc:
                    logger.warning("workspace %s has unreadable limits, not applied: %s", space["id"], exc)
        for row in rows:
            try:
                self._by_hash[bytes.fromhex(row["secret_hash"])] = self._placed(Key.from_row(row))
            except (pydantic.ValidationError, ValueError) as exc:
                logger.warning("API key %s is unreadable and not accepted: %s", row["id"], exc)
        if changed:
            for digest_, key in list(self._by_hash.items()):
                if key.workspace_id in changed:
                    self._by_hash[digest_] = self._placed(key)
        # Not the newest row read: the two reads may each have seen changes the other did
        # not, and every change up to ``revision`` was committed before it was read.
        self._revision = revision

    def _placed(self, key: Key) -> Key:
        """The key carrying its workspace's limits as this process knows them."""
        limits = self.workspace_limits(key.workspace_id)
        return key if key.workspace_limits is limits else dataclasses.replace(key, workspace_limits=limits)

    async def flush(self) -> None:
        """Write when keys were last used."""
        used, self._used = self._used, {}
        try:
            await self.store.touch_keys(used)
        except Exception as exc:
            logger.warning("cannot record when API keys were last used: %s", exc)
            for key_id, at in used.items():
                self._used[key_id] = max(at, self._used.get(key_id, at))

    # -- managing keys ----------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> tuple[Key, str]:
        """A new key from the admin API's body; its secret, the one time it is known."""
        fields: KeyCreate = validate(KeyCreate, body)
        check(fields)
        secret = new_secret()
        row = {
            "id": new_id("apikey"),
            "name": fields.name,
            "partial_key_hint": hint(secret),
            "secret_hash": digest(self._hash_key, secret).hex(),
            "workspace_id": fields.workspace_id,
            "created_at": time.time(),
            "last_used_at": None,
            "revoked_at": None,
            "settings": _settings_json(fields),
        }
        await self.store.add_key(row)
        await self._changed(row["id"])
        return Key.from_row(row), secret

    async def update(self, key_id: str, patch: dict[str, Any]) -> Key | None:
        """Apply a merge patch (see ``KeyUpdate``) to a key; None if there is no such key."""
        validate(KeyUpdate, patch)

        def change(row: dict[str, Any]) -> dict[str, Any]:
            current = Key.from_row(row)
            base = {"name": current.name, "workspace_id": current.workspace_id}
            base.update(current.settings.model_dump(exclude_none=True))
            fields: KeyCreate = validate(KeyCreate, merge_patch(base, patch))
            check(fields)
            return {"name": fields.name, "workspace_id": fields.workspace_id, "settings": _settings_json(fields)}

        return await self._update(key_id, change)

    async def revoke(self, key_id: str) -> Key | None:
        """Revoke a key for good (revoking it again changes nothing); None if there is no such key."""
        now = time.time()
        return await self._update(key_id, lambda row: {} if row["revoked_at"] is not None else {"revoked_at": now})

    async def _update(self, key_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Key | None:
        row = await self.store.update_key(key_id, change)
        if row is None:
            return None
        await self._changed(key_id)
        return self._fresh(Key.from_row(row))

    async def get(self, key_id: str) -> Key | None:
        row = await self.store.get_key(key_id)
        return self._placed(self._fresh(Key.from_row(row))) if row is not None else None

    async def page(
        self, *, after_id: str | None, before_id: str | None, limit: int, **where: Any
    ) -> tuple[list[Key], bool]:
        """A page of keys, newest first (``where``: ``revoked``, ``workspace_id``); KeyError for an unknown cursor."""
        rows, has_more = await self.store.list_keys(after_id=after_id, before_id=before_id, limit=limit, **where)
        return [self._fresh(Key.from_row(row)) for row in rows], has_more

    # -- managing workspaces' limits ----------------------------------------------

    async def put_workspace(self, workspace_id: str, body: dict[str, Any]) -> WorkspaceLimits:
        """Set a workspace's limits from the admin API's body, ``{"rate_limits": {...}}``."""
        validate(WorkspaceId, {"workspace_id": workspace_id})
        fields: WorkspacePut = validate(WorkspacePut, body)
        if not fields.rate_limits.any:
            # Dateline's wording: limits that limit nothing are removed (DELETE), not set.
            raise errors.InvalidRequestError(
                "rate_limits: give at least one of requests_per_minute, input_tokens_per_minute, "
                "output_tokens_per_minute"
            )
        limits = fields.rate_limits.model_dump_json(exclude_none=True)
        row = await self.store.put_workspace(workspace_id, limits, time.time())
        await self._changed(workspace_id)
        return WorkspaceLimits.from_row(row)

    async def remove_workspace(self, workspace_id: str) -> WorkspaceLimits | None:
        """Remove a workspace's limits (its keys keep their own); the limits it had, None if none."""
        row = await self.store.remove_workspace(workspace_id, time.time())
        if row is None:
            return None
        await self._changed(workspace_id)
        return WorkspaceLimits.from_row(row)

    async def get_workspace(self, workspace_id: str) -> WorkspaceLimits | None:
        row = await self.store.get_workspace(workspace_id)
        return WorkspaceLimits.from_row(row) if row is not None else None

    async def workspaces(
        self, *, after_id: str | None, before_id: str | None, limit: int
    ) -> tuple[list[WorkspaceLimits], bool]:
        """A page of the workspaces with limits, newest first; KeyError for an unknown cursor."""
        rows, has_more = await self.store.list_workspaces(after_id=after_id, before_id=before_id, limit=limit)
        return [WorkspaceLimits.from_row(row) for row in rows], has_more

    def _fresh(self, key: Key) -> Key:
        """The key with its last use in this process, if that is not written yet."""
        at = self._used.get(key.id)
        if at is None or (key.last_used_at or 0) >= at:
            return key
        return dataclasses.replace(key, last_used_at=at)

    async def _changed(self, changed_id: str) -> None:
        # This process sees its own change at once: in a read begun now (one under way may not see it).
        await self.recheck()
        for hook in self.on_change:
            try:
                await hook(changed_id)
            except Exception as exc:
                logger.warning("cannot announce the change of %s: %s", changed_id, exc)


def _settings_json(fields: KeyCreate) -> str:
    return KeySettings.model_validate(fields.model_dump(exclude={"name", "workspace_id"})).model_dump_json(
        exclude_defaults=True
    )
