"""Structured outputs: the JSON Schema subset that ``output_config.format.schema``
and a ``strict`` tool's ``input_schema`` may use, the limits on a request's strict
schemas taken together, and what structured outputs cannot be combined with.

The API compiles these schemas into a grammar before answering, so it refuses
what a grammar cannot hold. Texts marked "measured" are the API's own, quoted by
projects that hit them (the source is named beside each); the others are
Dateline's wording in the API's style and are listed in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from re import _constants, _parser  # the stdlib's regex parser: what a pattern is made of
from typing import Any

from .. import errors

__all__ = [
    "FORMATS",
    "Tally",
    "check_compatible",
    "check_input_schema",
    "check_schema",
    "check_structured",
    "lift_output_format",
]

#: The string formats the grammar knows [structured-outputs docs; the SDK's
#: ``SupportedStringFormats`` in ``anthropic/lib/_parse/_transform.py``].
FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"})
LEGACY_BETA = "structured-outputs-2025-11-13"

MAX_STRICT_TOOLS = 20
MAX_OPTIONAL = 24
MAX_UNIONS = 16
#: Optional or union-typed properties of one object beyond which its grammar does not
#: compile: 12 nullable compile, 14 do not, 24 optional in one object do not (measured,
#: per object, not through $ref; code index 60847182591, 66679477002). 13 is unmeasured.
MAX_OBJECT_BRANCHES = 13
MAX_REPEAT = 1000  # Dateline's reading of "large {n,m}"
MAX_DEPTH = 64  # Dateline's: nesting deeper than this is "too complex"

_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "$schema", "$id", "deprecated", "readOnly", "writeOnly"}  # fmt: skip
_COMMON = {"type", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions"} | _ANNOTATIONS
_BY_TYPE = {
    "object": {"properties", "required", "additionalProperties"},
    "array": {"items", "minItems"},
    "string": {"format", "pattern"},
}
# JSON Schema keywords outside the subset. Keys JSON Schema does not define are
# ignored, as a validator ignores unknown keywords.
_REFUSED = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "prefixItems", "additionalItems",
    "unevaluatedItems", "minProperties", "maxProperties", "patternProperties", "propertyNames",
    "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties", "if", "then", "else",
    "contentEncoding", "contentMediaType", "contentSchema", "$anchor", "$dynamicRef", "$dynamicAnchor",
}  # fmt: skip
_KNOWN = _COMMON | _REFUSED | {k for keys in _BY_TYPE.values() for k in keys}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
}  # fmt: skip


@dataclass(slots=True)
class Tally:
    """What a schema spends of the request's budget (counted as written: not through
    ``$ref``, not inside ``$defs``, as the API counts)."""

    optional: int = 0
    unions: int = 0
    #: The most optional-or-union properties of any one object.
    widest: int = 0


class _Refused(Exception):
    """A schema outside the subset; the message is the API's, without the location."""


# -- one schema ----------------------------------------------------------------------------


def check_schema(schema: Any, at: str) -> Tally:
    """Refuse ``schema`` (400 ``<at>: <reason>``) unless it is in the subset; what it spends if it is."""
    try:
        walk = _Walk(schema)
        walk.node(schema, 0)
        walk.cycles()
    except _Refused as exc:
        raise errors.InvalidRequestError(f"{at}: {exc}") from None
    except RecursionError:
        raise errors.InvalidRequestError("Schema is too complex for compilation.") from None
    tally = Tally()
    _count(schema, tally)
    return tally


class _Walk:
    def __init__(self, root: Any) -> None:
        self.root = root
        #: (where each $ref is written, what it names), as JSON pointers: for cycles.
        self.refs: list[tuple[str, str]] = []

    def node(self, s: Any, depth: int, at: str = "#") -> None:
        if depth > MAX_DEPTH:
            raise RecursionError
        if not isinstance(s, dict):
            raise _Refused(f"Invalid schema: Schema type is missing for schema: {_show(s)}")
        if "oneOf" in s:  # measured: code index 47629094542, 68415230661
            raise _Refused("Schema type 'oneOf' is not supported")
        if "not" in s:  # measured: code index 66256221862
            raise _Refused("Schema keyword 'not' is not supported")
        types = self.types(s)
        if "$ref" in s:
            self.ref(s["$ref"], at)
        self.literals(s, types)
        self.keywords(s, types)
        if "object" in types:
            self.object(s, depth, at)
        if "array" in types and "items" in s:
            self.node(s["items"], depth + 1, f"{at}/items")
        if "string" in types:
            self.string(s)
        for key in ("anyOf", "allOf"):
            if key not in s:
                continue
            branches = s[key]
            if not isinstance(branches, list) or not branches:
                raise _Refused(f"Invalid schema: '{key}' must be a non-empty array")
            if key == "allOf" and any(isinstance(b, dict) and "$ref" in b for b in branches):
                raise _Refused("'allOf' may not contain '$ref'")
            for n, branch in enumerate(branches):
                self.node(branch, depth + 1, f"{at}/{key}/{n}")
        for key in ("$defs", "definitions"):
            defs = s.get(key, {})
            if not isinstance(defs, dict):
                raise _Refused(f"Invalid schema: '{key}' must be an object")
            for name, sub in defs.items():
                self.node(sub, depth + 1, f"{at}/{key}/{_escape(name)}")

    def types(self, s: dict) -> tuple[str, ...]:
        t = s.get("type")
        if t is None:
            if not s.keys() & {"enum", "const", "anyOf", "allOf", "$ref"}:
                raise _Refused(f"Invalid schema: Schema type is missing for schema: {_show(s)}")
            return ()
        names = t if isinstance(t, list) else [t]
        if not names:
            raise _Refused(f"Invalid schema: Schema type is missing for schema: {_show(s)}")
        for name in names:
            if name not in _TYPES:
                raise _Refused(f"Schema type {_show(name)} is not supported")
        return tuple(names)

    def ref(self, ref: Any, at: str) -> None:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise _Refused(
                f"External references are not supported: '$ref' must point inside the schema (got: {_show(ref)})"
            )
        if _pointer(self.root, ref) is None:
            raise _Refused(f"Reference {_show(ref)} does not resolve to a definition in the schema")
        self.refs.append((at, ref))

    def literals(self, s: dict, types: tuple[str, ...]) -> None:
        if "enum" in s:
            values = s["enum"]
            if not isinstance(values, list) or not values:
                raise _Refused("Invalid schema: 'enum' must be a non-empty array")
            for v in values:
                if isinstance(v, (dict, list)):
                    raise _Refused(
                        f"Enum value {_show(v)} is not supported: enum values must be strings, numbers, booleans or null"
                    )
                # measured: a type array beside an enum is refused at its first value (code index
                # 71398479921, 60847182591); a value of another type, Dateline's reading of it.
                if len(types) > 1 or types and not _is(v, types[0]):
                    declared = f"{list(types)!r}" if len(types) > 1 else types[0]
                    raise _Refused(f"Enum value '{v}' does not match declared type '{declared}'")
        if "const" in s and isinstance(s["const"], (dict, list)):
            raise _Refused(
                f"Const value {_show(s['const'])} is not supported: it must be a string, number, boolean or null"
            )

    def keywords(self, s: dict, types: tuple[str, ...]) -> None:
        if "array" in types and "minItems" in s and s["minItems"] not in (0, 1):
            # measured, the range shown with maxItems or ∞ (code index 68415230661, 53857468497)
            high = s.get("maxItems", "∞")
            raise _Refused(
                f"For 'array' type, 'minItems' values other than 0 or 1 are not supported (got: [{s['minItems']}, {high}])"
            )
        allowed = _COMMON.union(*(_BY_TYPE.get(t, ()) for t in types))
        refused = sorted(k for k in s if k in _KNOWN and k not in allowed)
        if not refused:
            return
        if not types:
            raise _Refused(f"Schema keyword '{refused[0]}' is not supported")
        kind = next((t for t in types if t != "null"), types[0])
        # measured, keywords in alphabetical order (code index 59117985330, 29358500322, 66256221862)
        if len(refused) == 1:
            raise _Refused(f"For '{kind}' type, property '{refused[0]}' is not supported")
        raise _Refused(f"For '{kind}' type, properties {', '.join(refused)} are not supported")

    def object(self, s: dict, depth: int, at: str) -> None:
        if s.get("additionalProperties", True) is not False:  # measured: code index 61369042860, 55047434001
            raise _Refused("For 'object' type, 'additionalProperties' must be explicitly set to false")
        props = s.get("properties", {})
        if not isinstance(props, dict):
            raise _Refused("Invalid schema: 'properties' must be an object")
        required = s.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise _Refused("Invalid schema: 'required' must be an array of strings")
        for name in required:
            if name not in props:
                raise _Refused(f"For 'object' type, required property {name!r} is not in 'properties'")
        for name, sub in props.items():
            self.node(sub, depth + 1, f"{at}/properties/{_escape(name)}")

    def string(self, s: dict) -> None:
        fmt = s.get("format")
        if fmt is not None and fmt not in FORMATS:  # measured: code index 66256221862, 70634224845
            raise _Refused(f"For 'string' type, format '{fmt}' is not supported")
        if "pattern" in s:
            problem = _pattern_problem(s["pattern"])
            if problem:
                raise _Refused(f"For 'string' type, pattern '{s['pattern']}' is not supported: {problem}")

    def cycles(self) -> None:
        """Refuse a schema reachable from itself (measured: code index 56410017627, 59697934465)."""
        done: set[str] = set()

        def visit(target: str, path: list[str]) -> None:
            if target in path:
                names = [_name(t) for t in path[path.index(target) :]] + [_name(target)]
                raise _Refused(
                    f"Circular reference detected in schema definitions: {' -> '.join(names)}. "
                    "Self-referencing or mutually-referencing definitions are not supported."
                )
            if target in done:
                return
            for nxt in sorted({ref for at, ref in self.refs if _within(at, target)}):
                visit(nxt, [*path, target])
            done.add(target)

        for at, ref in sorted(self.refs):
            if _within(at, "#"):
                visit(ref, [])


def _count(s: Any, tally: Tally) -> None:
    """Optional and union-typed parameters, walked as written (the API does not follow $ref)."""
    if not isinstance(s, dict):
        return
    types = s.get("type")
    if "anyOf" in s or isinstance(types, list) and len(types) > 1:
        tally.unions += 1
    props = s.get("properties")
    if isinstance(props, dict):
        required = set(s.get("required") or ())
        optional = [k for k in props if k not in required]
        unions = [k for k, v in props.items() if isinstance(v, dict) and _union(v)]
        tally.optional += len(optional)
        tally.widest = max(tally.widest, len(set(optional) | set(unions)))
        for sub in props.values():
            _count(sub, tally)
    _count(s.get("items"), tally)
    for key in ("anyOf", "allOf"):
        for branch in s.get(key) or ():
            _count(branch, tally)


def _union(s: dict) -> bool:
    return "anyOf" in s or isinstance(s.get("type"), list) and len(s["type"]) > 1


# -- the request ---------------------------------------------------------------------------


def check_structured(request: dict[str, Any], *, format_at: str = "output_config.format.schema") -> None:
    """Every strict schema in ``request`` in the subset, and all of them within the limits.

    ``format_at`` names the output schema in errors: ``output_format.schema`` for a
    request that used the legacy beta field.
    """
    tools = request.get("tools") or []
    strict = [(i, t) for i, t in enumerate(tools) if isinstance(t, dict) and t.get("strict") is True]
    if len(strict) > MAX_STRICT_TOOLS:  # measured: code index 68742218851, 58989304321
        raise errors.InvalidRequestError(
            f"Too many strict tools ({len(strict)}). The maximum number of strict tools supported is "
            f"{MAX_STRICT_TOOLS}. Try reducing the number of tools marked as strict."
        )
    tallies = [check_schema(t["input_schema"], f"tools.{i}.custom") for i, t in strict if "input_schema" in t]
    schema = _format_schema(request)
    if schema is not None:
        tallies.append(check_schema(schema, format_at))
    optional = sum(t.optional for t in tallies)
    if optional > MAX_OPTIONAL:  # measured: code index 61536757005, 58523515874
        raise errors.InvalidRequestError(
            f"Schemas contains too many optional parameters ({optional}), which would make grammar compilation "
            f"inefficient. Reduce the number of optional parameters in your tool schemas (limit: {MAX_OPTIONAL})."
        )
    unions = sum(t.unions for t in tallies)
    if unions > MAX_UNIONS:  # measured: code index 54663111384, 63177044018
        raise errors.InvalidRequestError(
            f"Schemas contains too many parameters with union types ({unions} parameters with type arrays or anyOf). "
            "This causes exponential compilation cost. Reduce the number of nullable or union-typed parameters "
            f"(limit: {MAX_UNIONS} parameters with unions)."
        )
    if any(t.widest > MAX_OBJECT_BRANCHES for t in tallies):  # measured text: structured-outputs docs
        raise errors.InvalidRequestError("Schema is too complex for compilation.")


def check_input_schema(i: int, schema: Any) -> None:
    """Any custom tool's schema: no combinator at its top (measured: code index 56736961717, 52836056437)."""
    if isinstance(schema, dict) and schema.keys() & {"oneOf", "allOf", "anyOf"}:
        raise errors.InvalidRequestError(
            f"tools.{i}.custom.input_schema: input_schema does not support oneOf, allOf, or anyOf at the top level"
        )


def check_compatible(request: dict[str, Any]) -> None:
    """What an output format cannot be combined with (the texts are Dateline's)."""
    if _format_schema(request) is None:
        return
    messages = request.get("messages") or []
    for i, message in enumerate(messages):
        for j, block in _cited(message.get("content")):
            raise errors.InvalidRequestError(
                f"messages.{i}.content.{j}: citations cannot be enabled when `output_config.format` is set: "
                "structured outputs are incompatible with citations"
            )
    if messages and messages[-1].get("role") == "assistant":
        raise errors.InvalidRequestError(
            "Prefilling the assistant message is not supported when `output_config.format` is set. "
            "The conversation must end with a user message."
        )


def lift_output_format(body: dict[str, Any], betas: list[str]) -> dict[str, Any]:
    """``body`` with the deprecated top-level ``output_format`` moved to ``output_config.format``.

    Only under its beta; without it the field is unknown, as head's schema says.
    """
    if "output_format" not in body:
        return body
    if LEGACY_BETA not in betas:
        raise errors.InvalidRequestError("output_format: Extra inputs are not permitted")  # measured: 15668896681
    rest = {k: v for k, v in body.items() if k != "output_format"}
    config = dict(rest.get("output_config") or {})
    if config.get("format") is not None:
        raise errors.InvalidRequestError(
            "output_format: cannot be used together with `output_config.format`; "
            "use `output_config.format` (`output_format` is deprecated)"
        )
    config["format"] = body["output_format"]
    return {**rest, "output_config": config}


def _format_schema(request: dict[str, Any]) -> Any:
    fmt = (request.get("output_config") or {}).get("format")
    return fmt.get("schema") if isinstance(fmt, dict) else None


def _cited(content: Any):
    """(index, block) of each top-level block with citations enabled, tool results' contents included."""
    if not isinstance(content, list):
        return
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        if (block.get("citations") or {}).get("enabled") is True:
            yield j, block
        elif block.get("type") == "tool_result" and any(True for _ in _cited(block.get("content"))):
            yield j, block


# -- patterns ------------------------------------------------------------------------------


def _pattern_problem(pattern: Any) -> str | None:
    """What in ``pattern`` the grammar cannot hold, or None (the reasons are Dateline's)."""
    if not isinstance(pattern, str):
        return "it must be a string"
    try:
        tree = _parser.parse(pattern)
    except Exception:  # re.error, or a construct Python's parser does not take
        return "it is not a valid regular expression"
    return _tree_problem(tree)


def _tree_problem(items: Any) -> str | None:
    for op, av in items:
        op = str(op)
        if op in ("GROUPREF", "GROUPREF_EXISTS"):
            return "backreferences are not supported"
        if op in ("ASSERT", "ASSERT_NOT"):
            return "lookahead and lookbehind assertions are not supported"
        if op == "AT" and str(av) in ("AT_BOUNDARY", "AT_NON_BOUNDARY"):
            return "word boundaries (\\b, \\B) are not supported"
        if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            if lo > MAX_REPEAT or (hi != _constants.MAXREPEAT and hi > MAX_REPEAT):
                return f"repetition bounds above {MAX_REPEAT} are not supported"
            found = _tree_problem(sub)
        elif op == "SUBPATTERN":
            found = _tree_problem(av[-1])
        elif op == "BRANCH":
            found = next((p for p in map(_tree_problem, av[1]) if p), None)
        elif op == "ATOMIC_GROUP":
            found = _tree_problem(av)
        else:
            found = None
        if found:
            return found
    return None


# -- small helpers -------------------------------------------------------------------------


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, _PY_TYPES.get(kind, ()))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _within(at: str, target: str) -> bool:
    """Whether a $ref written at ``at`` is part of the schema at ``target`` (not of a definition inside it)."""
    if at != target and not at.startswith(target.rstrip("/") + "/"):
        return False
    rest = at[len(target) :].split("/")
    return "$defs" not in rest and "definitions" not in rest


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") if ref != "#" else "#"


def _pointer(root: Any, ref: str) -> Any:
    """The node a local ``$ref`` names, or None."""
    node = root
    for part in ref[2:].split("/") if len(ref) > 1 else ():
        if not ref.startswith("#/"):
            return None
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
