"""How a version's request schema differed from the next newer one's, and
each version's request models derived from the head models by those differences.

Declared on a ``VersionChange`` (``schema = (...)``), the way Cadwyn's schema
instructions are: the head models are the only ones written down (generated
from the official SDK); every older version's are derived from them once, on
first use, so validation and the per-version documents cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pydantic
from pydantic import BaseModel, create_model, model_validator


@dataclass(frozen=True)
class FieldExisted:
    """``model`` had the field ``name`` in the older version (head has none)."""

    model: type[BaseModel]
    name: str
    annotation: Any
    default: Any = None


@dataclass(frozen=True)
class RuleAdded:
    """Head refuses what ``check`` refuses in a body of ``models``; the older version did not.

    ``check`` sees a body that already fits the model, and raises the API's
    ``invalid_request_error`` naming the place. ``description`` documents the
    rule in the version's schema.
    """

    models: tuple[type[BaseModel], ...]
    check: Callable[[dict[str, Any]], None]
    description: str


Instruction = FieldExisted | RuleAdded


def derive(model: type[BaseModel], fields: Sequence[FieldExisted], rules: Sequence[RuleAdded]) -> type[BaseModel]:
    """``model`` plus ``fields``, checked by ``rules``: one version's model (same name, same base)."""
    if not fields and not rules:
        return model
    model.model_rebuild()  # resolve the generated module's forward references
    definitions: dict[str, Any] = {name: (info.annotation, info) for name, info in model.model_fields.items()}
    for field in fields:
        if field.name in definitions:
            raise ValueError(f"{model.__name__}.{field.name} is declared as gone, but head still has it")
        definitions[field.name] = (field.annotation, field.default)
    validators: dict[str, Any] = {}
    doc = model.__doc__ or ""
    if rules:
        checks = tuple(rule.check for rule in rules)

        def apply_rules(cls: type[BaseModel], data: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> Any:
            valid = handler(data)  # the rules read a body of the right shape
            for check in checks:
                check(data)
            return valid

        validators["dateline_rules"] = model_validator(mode="wrap")(apply_rules)  # type: ignore[arg-type]
        doc = "\n\n".join([doc, *(rule.description for rule in rules)]).strip()
    (base,) = model.__bases__
    return create_model(  # type: ignore[call-overload, no-any-return]
        model.__name__,
        __base__=base,
        __module__=model.__module__,
        __doc__=doc or None,
        __validators__=validators,
        **definitions,
    )
