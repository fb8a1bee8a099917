"""The machinery behind the version history: changes, versions, the bundle.

A ``VersionChange`` is declared once, in the version that introduced it, and
knows how to carry a request *up* from the version before and a response or
stream *down* to it. Handlers only ever see the head (newest) shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Iterable, Iterator, Sequence

from pydantic import BaseModel

from ..schemas import validate
from ..types import JSON, Event
from ._schema import FieldExisted, Instruction, RuleAdded, derive


class StreamMigration:
    """A per-stream transformer, newer events in, older events out.

    One instance serves one stream, so it may keep state across events.
    ``feed`` returns the events to send in place of ``event`` (none, one or
    several); ``close`` returns the events to send once the stream has ended.
    """

    def feed(self, event: Event) -> Iterable[Event]:
        return (event,)

    def close(self) -> Iterable[Event]:
        return ()


class EventMap(StreamMigration):
    """A stream migration that turns each event into exactly one event.

    Most are of this kind; the engine runs a chain of them without building
    any sequence per event.
    """

    def map(self, event: Event) -> Event:
        return event

    def feed(self, event: Event) -> Iterable[Event]:
        return (self.map(event),)


class VersionChange:
    """One change between a version and the one before it.

    Subclasses set ``description`` and ``endpoints`` and override any of the
    migrations; the bundle only runs the ones a change overrides. A change to
    what a request may contain also declares how the older version's request
    schema differed (``schema``), and which of its fields head has no place
    for but backends may still use (``beside``).
    """

    description: ClassVar[str]
    endpoints: ClassVar[frozenset[str]]
    #: Also run ``response_down`` on error bodies.
    migrate_errors: ClassVar[bool] = False
    #: How the older version's request schema differed (see ``_schema``).
    schema: ClassVar[tuple[Instruction, ...]] = ()
    #: Request fields of the older version that travel beside the head request,
    #: never silently dropped: an upstream of the older version gets them back.
    beside: ClassVar[tuple[str, ...]] = ()

    def request_up(self, body: JSON) -> JSON:
        """Turn a request body of the older version into the newer shape."""
        return body

    def request_down(self, body: JSON) -> JSON:
        """Turn a newer request body into the older shape (for an upstream of that version)."""
        return body

    def response_down(self, body: JSON) -> JSON:
        """Turn a newer response body into the older shape."""
        return body

    def stream_down(self) -> StreamMigration | None:
        """Return a fresh transformer for one stream, or None."""
        return None

    @classmethod
    def overrides(cls, name: str) -> bool:
        return getattr(cls, name) is not getattr(VersionChange, name)

    @classmethod
    def changes_requests(cls) -> bool:
        return bool(cls.beside) or cls.overrides("request_up")


class Version:
    """A date and the changes it introduced relative to the version before."""

    def __init__(self, date: str, *changes: type[VersionChange], description: str | None = None) -> None:
        self.date = date
        self.changes = changes
        self.description = description

    def __repr__(self) -> str:
        return f"Version({self.date!r})"


@dataclass(frozen=True)
class Plan:
    """What to run for one (client version, endpoint) pair, precomputed."""

    request_up: tuple[VersionChange, ...]
    response_down: tuple[VersionChange, ...]
    error_down: tuple[VersionChange, ...]
    stream_down: tuple[VersionChange, ...]
    #: Changes that turn a head request back into this version's (head first).
    request_down: tuple[VersionChange, ...] = ()

    @property
    def is_head(self) -> bool:
        return not (self.request_up or self.response_down or self.error_down or self.stream_down)

    def migrate_request(self, body: JSON, beside: JSON | None = None) -> JSON:
        """``body`` carried up to head; the fields head has no place for go to ``beside``."""
        for change in self.request_up:
            for name in change.beside:
                if name in body:
                    value = body.pop(name)
                    if beside is not None:
                        beside[name] = value
            body = change.request_up(body)
        return body

    def migrate_request_down(self, body: JSON, beside: JSON) -> JSON:
        """A head request (and what travels beside it) in this version's shape.

        Takes from ``beside`` what this version has a place for; what is left
        there has no place in this version either.
        """
        for change in self.request_down:
            body = change.request_down(body)
            for name in change.beside:
                if name in beside:
                    body[name] = beside.pop(name)
        return body

    def migrate_response(self, body: JSON) -> JSON:
        for change in self.response_down:
            body = change.response_down(body)
        return body

    def migrate_error(self, body: JSON) -> JSON:
        for change in self.error_down:
            body = change.response_down(body)
        return body

    def migrate_stream(self, events: Iterable[Event]) -> Iterator[Event]:
        """Synchronous form, for tests and tools: run a whole event list down."""
        migrator = StreamMigrator(self)
        for event in events:
            yield from migrator.feed(event)
        yield from migrator.close()

    def new_stream_migrations(self) -> list[StreamMigration]:
        return [m for c in self.stream_down if (m := c.stream_down()) is not None]


class StreamMigrator:
    """Applies a plan's stream migrations to one live stream, event by event.

    This runs for every event of an older-version stream, so it avoids
    generators, and a chain of ``EventMap``s costs one call per migration.
    """

    __slots__ = ("_migrations", "_maps")

    def __init__(self, plan: Plan) -> None:
        self._migrations = plan.new_stream_migrations()
        maps = all(isinstance(m, EventMap) for m in self._migrations)
        self._maps = [m.map for m in self._migrations] if maps else None  # type: ignore[attr-defined]

    def feed(self, event: Event) -> Sequence[Event]:
        if self._maps is not None:
            for step in self._maps:
                event = step(event)
            return (event,)
        return self._through(0, (event,))

    def close(self) -> Sequence[Event]:
        # Events a migration emits at the end still pass through the older ones.
        out: list[Event] = []
        for i, migration in enumerate(self._migrations):
            out.extend(self._through(i + 1, tuple(migration.close())))
        return out

    def _through(self, start: int, events: Sequence[Event]) -> Sequence[Event]:
        migrations = self._migrations
        for i in range(start, len(migrations)):
            if len(events) == 1:
                events = migrations[i].feed(events[0])  # type: ignore[assignment]
                if type(events) is not tuple:
                    events = tuple(events)
            else:
                events = [out for event in events for out in migrations[i].feed(event)]
        return events


class VersionBundle:
    """All versions, newest first; the first one is the head."""

    def __init__(self, *versions: Version) -> None:
        dates = [v.date for v in versions]
        if dates != sorted(dates, reverse=True) or len(set(dates)) != len(dates):
            raise ValueError("versions must be unique and listed newest first")
        self.versions = versions
        self.head = versions[0]
        self._by_date = {v.date: v for v in versions}
        self.plan = lru_cache(maxsize=None)(self._plan)
        self.request_model = lru_cache(maxsize=None)(self._request_model)

    def __iter__(self) -> Iterator[Version]:
        return iter(self.versions)

    def __contains__(self, date: object) -> bool:
        return date in self._by_date

    def get(self, date: str) -> Version | None:
        return self._by_date.get(date)

    def _plan(self, date: str, endpoint: str) -> Plan:
        """The changes between ``date`` and head that touch ``endpoint``."""
        newer: list[VersionChange] = []  # head first
        for version in self.versions:
            if version.date == date:
                break
            newer.extend(c() for c in version.changes if endpoint in c.endpoints)
        else:
            raise KeyError(date)
        return Plan(
            request_up=tuple(c for c in reversed(newer) if c.changes_requests()),
            request_down=tuple(c for c in newer if c.beside or c.overrides("request_down")),
            response_down=tuple(c for c in newer if c.overrides("response_down")),
            error_down=tuple(c for c in newer if c.overrides("response_down") and c.migrate_errors),
            stream_down=tuple(c for c in newer if c.overrides("stream_down")),
        )

    def _request_model(self, date: str, model: type[BaseModel]) -> type[BaseModel]:
        """The request model of ``date`` for the head model ``model``.

        Head has every declared rule and none of the fields declared gone; an
        older version undoes what the versions after it declared.
        """
        newer: set[type[VersionChange]] = set()
        for version in self.versions:
            if version.date == date:
                break
            newer.update(version.changes)
        else:
            raise KeyError(date)
        fields: list[FieldExisted] = []
        rules: list[RuleAdded] = []
        for version in reversed(self.versions):  # oldest first: fields in the order they went
            for change in version.changes:
                for instruction in change.schema:
                    if isinstance(instruction, FieldExisted):
                        if change in newer and instruction.model is model:
                            fields.append(instruction)
                    elif change not in newer and model in instruction.models:
                        rules.append(instruction)
        return derive(model, fields, rules)

    def request_for(
        self, date: str, endpoint: str, model: type[BaseModel], body: JSON, beside: JSON, *, check: bool
    ) -> JSON:
        """A head request (and what travels beside it) as a client of ``date`` sends it.

        For an upstream that speaks ``date``. With ``check``, the result is
        validated as ``date`` validates it, so a request that version cannot
        carry (an older client's ``temperature`` toward a head upstream) is
        refused with that version's own 400 instead of losing a field.
        """
        left = dict(beside)
        out = self.plan(date, endpoint).migrate_request_down(dict(body), left)
        if left:
            out.update(left)  # no place for it in that version either: validation says so
            check = True
        if check:
            validate(self.request_model(date, model), out)
        return out

    def history(self) -> list[tuple[str, list[str]]]:
        """(date, [descriptions]) oldest first, as the version history reads."""
        rows = []
        for version in reversed(self.versions):
            lines = [c.description for c in version.changes]
            if version.description:
                lines.insert(0, version.description)
            rows.append((version.date, lines))
        return rows


