"""Each version's request models, derived from the head models and the declared
differences: what each version's model has, and that nothing else changed."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from dateline import errors
from dateline.schemas import CompletionCreateParams, MessageCountTokensParams, MessageCreateParams
from dateline.versions import VERSIONS, FieldExisted, RuleAdded, Version, VersionBundle, VersionChange
from dateline.versions._schema import derive

HEAD, OLD = "2026-10-21", "2023-06-01"
SAMPLING = {"temperature", "top_p", "top_k"}


def model(date: str, head: type[BaseModel]) -> type[BaseModel]:
    return VERSIONS.request_model(date, head)


def test_head_has_no_sampling_parameters_and_the_older_version_has_them() -> None:
    assert not SAMPLING & set(model(HEAD, MessageCreateParams).model_fields)
    older = model(OLD, MessageCreateParams).model_fields
    assert SAMPLING <= set(older)
    # Everything else is head's, field for field.
    assert {k: repr(v) for k, v in older.items() if k not in SAMPLING} == {
        k: repr(v) for k, v in MessageCreateParams.model_fields.items()
    }
    assert model("2023-01-01", MessageCreateParams).model_fields.keys() == older.keys()


def test_models_nothing_declared_about_are_head_s_own() -> None:
    for date in (HEAD, OLD, "2023-01-01"):
        assert model(date, CompletionCreateParams) is CompletionCreateParams
    assert set(model(OLD, MessageCountTokensParams).model_fields) == set(MessageCountTokensParams.model_fields)
    assert model(OLD, MessageCountTokensParams) is MessageCountTokensParams  # rules are head's alone


def test_derived_models_keep_their_names_and_strictness() -> None:
    for date in (HEAD, OLD):
        derived = model(date, MessageCreateParams)
        assert derived.__name__ == "MessageCreateParams"
        assert derived.model_config["extra"] == "forbid"
    assert model(HEAD, MessageCreateParams) is model(HEAD, MessageCreateParams)  # derived once


def test_rules_are_head_s_and_documented() -> None:
    body = {"model": "m", "max_tokens": 1, "messages": [
        {"role": "assistant", "content": [{"type": "document", "source": {
            "type": "text", "media_type": "text/plain", "data": "x"}}]}]}
    with pytest.raises(errors.InvalidRequestError, match=r"^messages\.0\.content\.0: "):
        model(HEAD, MessageCreateParams).model_validate(body, strict=True)
    model(OLD, MessageCreateParams).model_validate(body, strict=True)
    head_doc = model(HEAD, MessageCreateParams).model_json_schema()["description"]
    assert "`document`" in head_doc and "`citations`" in head_doc
    assert "`document`" not in (model(OLD, MessageCreateParams).model_json_schema().get("description") or "")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thing(_Base):
    name: str


def _no_bob(body: dict) -> None:
    if body["name"] == "bob":
        raise errors.InvalidRequestError("name: bob is gone")


class SizeRemoved(VersionChange):
    description = "`size` is gone."
    endpoints = frozenset({"things"})
    schema = (FieldExisted(Thing, "size", int, 0),)
    beside = ("size",)


class NoBob(VersionChange):
    description = "`bob` is refused."
    endpoints = frozenset({"things"})
    schema = (RuleAdded((Thing,), _no_bob, "No bob."),)


BUNDLE = VersionBundle(Version("2025-01-01", NoBob), Version("2024-01-01", SizeRemoved), Version("2023-01-01"))


def test_each_version_undoes_what_the_newer_ones_declared() -> None:
    head, middle, first = (BUNDLE.request_model(d, Thing) for d in ("2025-01-01", "2024-01-01", "2023-01-01"))
    assert set(head.model_fields) == set(middle.model_fields) == {"name"}
    assert set(first.model_fields) == {"name", "size"}
    with pytest.raises(errors.InvalidRequestError):
        head.model_validate({"name": "bob"})
    middle.model_validate({"name": "bob"})
    first.model_validate({"name": "bob", "size": 3})


def test_fields_without_a_place_at_head_travel_beside_and_come_back() -> None:
    beside: dict = {}
    assert BUNDLE.plan("2023-01-01", "things").migrate_request({"name": "a", "size": 3}, beside) == {"name": "a"}
    assert beside == {"size": 3}
    down = BUNDLE.plan("2023-01-01", "things").migrate_request_down({"name": "a"}, beside)
    assert down == {"name": "a", "size": 3} and beside == {}
    # A version with no place for it leaves it beside.
    kept = {"size": 3}
    assert BUNDLE.plan("2024-01-01", "things").migrate_request_down({"name": "a"}, kept) == {"name": "a"}
    assert kept == {"size": 3}


def test_a_field_declared_gone_that_head_still_has_is_an_error() -> None:
    with pytest.raises(ValueError, match="Thing.name"):
        derive(Thing, [FieldExisted(Thing, "name", str)], [])


def test_a_head_request_in_an_older_version_s_shape() -> None:
    head = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
    older = VERSIONS.request_for(OLD, "messages", MessageCreateParams, head, {"temperature": 0.2}, check=True)
    assert older == {**head, "temperature": 0.2}
    assert "temperature" not in head  # the head request is left as it was
    # Head has no place for it: refused with head's own error, never dropped.
    with pytest.raises(errors.InvalidRequestError, match="^temperature: Extra inputs are not permitted$"):
        VERSIONS.request_for(HEAD, "messages", MessageCreateParams, head, {"temperature": 0.2}, check=False)
    assert VERSIONS.request_for(HEAD, "messages", MessageCreateParams, head, {}, check=False) == head
