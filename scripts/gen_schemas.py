#!/usr/bin/env python
"""Generate src/dateline/schemas/_generated.py from the anthropic SDK's request param types.

The SDK's ``*Param`` TypedDicts are generated from Anthropic's OpenAPI spec, so they are the
most complete machine-readable description of what a client may put in a request body. This
script walks them from the endpoint roots and writes one pydantic model per TypedDict, with
``extra="forbid"`` so unknown keys are rejected the way the API rejects them.

Usage: python scripts/gen_schemas.py [--check] [--out PATH]
"""

from __future__ import annotations

import argparse
import ast
import collections.abc as abc
import difflib
import importlib
import inspect
import json
import keyword
import os
import pkgutil
import re
import sys
import textwrap
import typing
from pathlib import Path

import pydantic
import typing_extensions as te

OUT = Path(__file__).resolve().parents[1] / "src" / "dateline" / "schemas" / "_generated.py"

# The API models cache_control as a tagged union that has one member today: its error
# locations read `cache_control.ephemeral.<field>`. Nothing in the SDK types says so.
ONE_MEMBER_UNIONS = {"BetaCacheControlEphemeralParam": "CacheControl"}
# Body keys that the SDK methods take as arguments but no params TypedDict declares.
EXTRA_BODY_FIELDS: dict[str, typing.Any] = {"stream": bool}

NoneType = type(None)
WRAPPERS = {te.Required, te.NotRequired, te.ReadOnly}


def body_keys(method) -> set[str]:
    """Keys of the `body={...}` literal in an SDK resource method; the rest travel as headers."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "body":
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Dict):
                    return {k.value for k in sub.keys if isinstance(k, ast.Constant)}
    raise SystemExit(f"no body literal found in {method.__qualname__}")


def legacy_completion_params(notes: set[str]):
    """/v1/complete params. Recent SDKs dropped the legacy endpoint, so fall back to its last shape."""
    try:
        from anthropic.types.completion_create_params import CompletionCreateParamsBase
    except ImportError:
        notes.add("CompletionCreateParams: not in this SDK; written from the last SDK that had it")
        from anthropic._types import SequenceNotStr
        from anthropic.types.beta.beta_metadata_param import BetaMetadataParam
        from anthropic.types.model_param import ModelParam

        return te.TypedDict(
            "CompletionCreateParams",
            {
                "max_tokens_to_sample": te.Required[int],
                "model": te.Required[ModelParam],
                "prompt": te.Required[str],
                "metadata": BetaMetadataParam,
                "stop_sequences": SequenceNotStr[str],
                "temperature": float,
                "top_k": int,
                "top_p": float,
            },
            total=False,
        ), None
    return CompletionCreateParamsBase, None


def roots(notes: set[str]):
    from anthropic.resources.beta.messages.messages import Messages
    from anthropic.types.beta.message_count_tokens_params import MessageCountTokensParams
    from anthropic.types.beta.message_create_params import MessageCreateParamsBase

    return [
        ("MessageCreateParams", MessageCreateParamsBase, body_keys(Messages.create)),
        ("MessageCountTokensParams", MessageCountTokensParams, body_keys(Messages.count_tokens)),
        ("CompletionCreateParams", *legacy_completion_params(notes)),
    ]


get_origin, get_args = typing.get_origin, typing.get_args
SEQUENCES = (list, tuple, set, frozenset, abc.Iterable, abc.Sequence, abc.MutableSequence, abc.Set)
MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


def peel(t):
    """Drop wrappers that do not change the wire shape (Required, Annotated metadata)."""
    while get_origin(t) in WRAPPERS or get_origin(t) is te.Annotated:
        t = get_args(t)[0]
    return t


def source_literals(raw) -> list[tuple]:
    """Literal value tuples as written in an annotation's source. typing caches Literals by
    value *set*, so a resolved hint can come back in another declaration's order, and the
    order shows in pydantic's messages ("Input should be 'standard' or 'fast'")."""
    raw = getattr(raw, "__forward_arg__", raw)
    if not isinstance(raw, str):
        return []
    found = []
    for node in ast.walk(ast.parse(raw, mode="eval")):
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            found.append(tuple(e.value for e in elts if isinstance(e, ast.Constant)))
    return found


def td_fields(td) -> list[tuple[str, typing.Any, bool, list]]:
    """(key, hint, required, source literals) in declaration order. Requiredness comes from
    the hints: with postponed annotations the SDK's __required_keys__ cannot see Required[]."""
    total: dict[str, bool] = {}

    def visit(cls):
        inherited: set[str] = set()
        for base in getattr(cls, "__orig_bases__", ()):
            if te.is_typeddict(base):
                visit(base)
                inherited |= set(base.__annotations__)
        for key in cls.__annotations__:
            if key not in inherited:
                total[key] = cls.__total__

    visit(td)
    out = []
    for key, hint in typing.get_type_hints(td, include_extras=True).items():
        origin = get_origin(hint)
        required = origin is te.Required or (origin is not te.NotRequired and total[key])
        out.append((key, hint, required, source_literals(td.__annotations__[key])))
    return out


def clean(name: str) -> str:
    """SDK name -> generated name: BetaTextBlockParam -> TextBlock."""
    name = re.sub(r"^Beta(?=[A-Z])", "", name)
    return re.sub(r"Params?(?=[A-Z]|$)|Typed$", "", name) or name


def camel(s: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in s.split("_"))


def lit(v) -> str:
    return json.dumps(v) if isinstance(v, str) else repr(v)


def literal_values(hint):
    """Values of a (possibly Optional) Literal hint, and whether None is allowed."""
    t, vals, nullable = peel(hint), [], False
    for m in get_args(t) if get_origin(t) is typing.Union else (t,):
        m = peel(m)
        if m is NoneType:
            nullable = True
        elif get_origin(m) is typing.Literal:
            vals += get_args(m)
        else:
            return None, False
    return vals, nullable


def kind_of(t) -> str:
    """The JSON type of a non-TypedDict union member, as a `<kind>` tag."""
    if get_origin(t) is typing.Literal:
        t = type(get_args(t)[0])
    if t in (str, int, float, bool):
        return f"<{t.__name__}>"
    return "<list>" if get_origin(t) in SEQUENCES else "<dict>"


class Gen:
    def __init__(self):
        self.names: dict = {}  # TypedDict -> class name
        self.fields: dict = {}  # TypedDict -> [(key, type code, required)]
        self.queue: list = []  # TypedDicts in breadth-first order, so names come from the top
        self.open: set = set()  # TypedDicts that also accept any other key
        self.tag_default: dict = {}  # (TypedDict, key) -> tag that an absent key selects
        # Aliases are referenced as \0n\0 while walking and named at the end, so the best name
        # wins: an SDK alias name (BetaContentBlockParam) over owner+field (ToolResultBlockContent).
        self.alias_code: list[str] = []
        self.alias_names: list[list] = []
        self.alias_by_code: dict[str, int] = {}
        self.notes: set[str] = set()
        self.sdk_alias = self._index_sdk_aliases()

    @staticmethod
    def _index_sdk_aliases() -> dict:
        """Union -> the SDK's public alias for it. Every types module is imported first, so
        the names do not depend on what else the process happened to import."""
        import anthropic.types

        for info in pkgutil.walk_packages(anthropic.types.__path__, "anthropic.types."):
            importlib.import_module(info.name)
        index: dict = {}
        for modname in sorted(m for m in sys.modules if m.startswith("anthropic.types.")):
            for name, val in sorted(vars(sys.modules[modname]).items()):
                if name.endswith("Param") and get_origin(peel(val)) is typing.Union:
                    index.setdefault(frozenset(get_args(peel(val))) - {NoneType}, name)
        return index

    # -- walking --------------------------------------------------------------------------
    def klass(self, td) -> str:
        if td not in self.names:
            name = clean(td.__name__)
            if name in self.names.values():  # helper TypedDicts reuse short names (Source, ...)
                name = camel(re.sub(r"^beta_|_params?$", "", td.__module__.rsplit(".", 1)[-1])) + name
            while name in self.names.values():
                name += "_"
            self.names[td] = name
            self.queue.append(td)
        return self.names[td]

    def add_root(self, td, name, fields):
        self.names[td] = name
        self.queue.append(td)
        self.fields[td] = fields

    def run(self):
        for td in self.queue:  # grows while walking
            fields = self.fields.get(td) or td_fields(td)
            self.fields[td] = [(k, self.expr(h, self.names[td], k, lits), req) for k, h, req, lits in fields]

    def expr(self, t, owner: str, field: str, lits: list) -> str:
        t = peel(t)
        origin = get_origin(t)
        if te.is_typeddict(t):
            name = self.klass(t)
            if t.__name__ in ONE_MEMBER_UNIONS:
                return self.alias([(0, ONE_MEMBER_UNIONS[t.__name__])], f'Annotated[{name}, Field(discriminator="type")]')
            return name
        if origin is typing.Union:
            return self.union(t, owner, field, lits)
        if origin is typing.Literal:
            vals = get_args(t)
            vals = next((src for src in lits if set(src) == set(vals) and len(src) == len(vals)), vals)
            return f"Literal[{', '.join(lit(v) for v in vals)}]"
        if origin in SEQUENCES:
            return f"List[{self.expr(get_args(t)[0], owner, field + '_item', lits)}]"
        if origin in MAPPINGS:
            k, v = get_args(t)
            return f"Dict[{self.expr(k, owner, field, lits)}, {self.expr(v, owner, field, lits)}]"
        if t in (str, int, float, bool):
            return t.__name__
        if t in (object, typing.Any):
            return "Any"
        raise SystemExit(f"cannot map {t!r} ({owner}.{field})")

    def union(self, t, owner, field, lits) -> str:
        members, nullable = self.members(t)
        sdk = self.sdk_alias.get(frozenset(get_args(t)) - {NoneType})
        names = [(0, clean(sdk))] if sdk else []
        names.append((1, owner + camel(field)))
        if len(members) == 1:
            code = self.expr(members[0], owner, field, lits)
        elif all(te.is_typeddict(m) for m in members):
            code = self.td_union(members, names)
        else:
            code = self.kind_union(members, names, owner, field, lits)
        return f"Optional[{code}]" if nullable else code

    def members(self, t):
        flat, nullable, models = self.flatten(t)
        if models:
            self.check_response_models(models, [m for m in flat if te.is_typeddict(m)])
        if str in flat:  # Literal["claude-..."] | str is just str on the wire
            flat = [m for m in flat if not (get_origin(m) is typing.Literal and kind_of(m) == "<str>")]
        tds = [m for m in flat if te.is_typeddict(m)]
        if tds and any(get_origin(m) in MAPPINGS for m in flat):
            # TypedDict | Dict[str, object] (a tool's input_schema): known keys are checked,
            # other keys are allowed.
            self.open.update(tds)
            self.notes.add(f"{' | '.join(td.__name__ for td in tds)} | Dict[str, object]: typed keys checked, others allowed")
            flat = [m for m in flat if get_origin(m) not in MAPPINGS]
        literals = [m for m in flat if get_origin(m) is typing.Literal]
        if len(literals) > 1:
            merged = typing.Literal[tuple(v for m in literals for v in get_args(m))]
            flat = [merged if m is literals[0] else m for m in flat if m not in literals[1:]]
        return flat, nullable

    def flatten(self, t):
        flat, nullable, models = [], False, []
        for m in get_args(t):
            m = peel(m)
            if get_origin(m) is typing.Union:  # an Annotated union is not flattened by typing
                inner = self.flatten(m)
                flat, nullable, models = flat + inner[0], nullable or inner[1], models + inner[2]
            elif m is NoneType:
                nullable = True
            elif isinstance(m, type) and issubclass(m, pydantic.BaseModel):
                models.append(m)
            elif get_origin(m) is typing.IO or m is os.PathLike:
                self.notes.add("file objects (IO, PathLike) in base64 `data`: the SDK sends them as str")
            else:
                flat.append(m)
        return flat, nullable, models

    def check_response_models(self, models, tds):
        """The SDK lets callers echo response content blocks (pydantic models) back; on the
        wire they are the same tagged objects as the param members, which are what we map."""
        tags = {v for td in tds for k, h, _, _ in td_fields(td) if k == "type" for v in literal_values(h)[0] or []}
        for model in models:
            ann = model.model_fields.get("type")
            vals = set(get_args(ann.annotation)) if ann else set()
            if not vals <= tags:
                self.notes.add(f"response model {model.__name__} has no param twin for {sorted(vals - tags)}")
        self.notes.add("response models in content unions: validated as their param twins")

    def td_union(self, tds, names) -> str:
        key, default = self.discriminator(tds)
        body = "".join(f"        {self.klass(td)},\n" for td in tds)
        if key is None:
            self.notes.add(f"{names[0][1]}: no discriminator key; left as a plain union")
            return self.alias(names, f"Union[\n{body}    ]")
        if key != "type":
            return self.hidden_union(tds, names, key)
        extra = ""
        if default is not None:
            self.tag_default[default[0], key] = default[1]
            extra = f"\n    BeforeValidator(_default_tag({lit(key)}, {lit(default[1])})),"
        return self.alias(names, f"Annotated[\n    Union[\n{body}    ],\n    Field(discriminator={lit(key)}),{extra}\n]")

    def hidden_union(self, tds, names, key) -> str:
        """Messages: the SDK splits them by `role`, but the API's locations read
        `messages.1.content...`, as for one object whose `role` is a plain field. So the tags
        are `<role>` (dropped by the error formatter), and a bad or missing role goes to a
        TypedDict holding only `role`, whose errors read `messages.0.role: ...`."""
        tags, body = {}, ""
        for td in tds:
            vals = next(literal_values(h)[0] for k, h, _, _ in td_fields(td) if k == key)
            tags.update({v: f"<{vals[0]}>" for v in vals})
            body += f"        Annotated[{self.klass(td)}, Tag({lit(f'<{vals[0]}>')})],\n"
        allowed = ", ".join(lit(v) for v in tags)
        body += f"        Annotated[TypedDict({lit(names[0][1])}, {{{lit(key)}: Literal[{allowed}]}}), Tag(\"<?>\")],\n"
        mapping = ", ".join(f"{lit(v)}: {lit(t)}" for v, t in tags.items())
        return self.alias(names, f"Annotated[\n    Union[\n{body}    ],\n    Discriminator(_by_field({lit(key)}, {{{mapping}}})),\n]")

    def discriminator(self, tds):
        """A key present in every member, typed as a Literal whose values are unique across
        members (type, or role for messages). At most one member may omit it; an absent or
        null key then selects that member."""
        fields = [{k: (h, req) for k, h, req, _ in td_fields(td)} for td in tds]
        common = set.intersection(*(set(f) for f in fields))
        for key in sorted(common, key=lambda k: (k not in ("type", "role"), k)):
            values, loose = [], []
            for td, f in zip(tds, fields):
                vals, nullable = literal_values(f[key][0])
                if not vals:
                    break
                values += vals
                if nullable or not f[key][1]:
                    loose.append((td, vals[0]) if len(vals) == 1 else None)
            else:
                if len(values) == len(set(values)) and len(loose) <= 1 and None not in loose:
                    return key, (loose[0] if loose else None)
        return None, None

    def kind_union(self, members, names, owner, field, lits) -> str:
        """str | list | object unions. The API's error locations never name a branch, so the
        branch is picked by JSON type and tagged `<kind>`; the error formatter drops the tag."""
        branches: dict[str, str] = {}
        tds = [m for m in members if te.is_typeddict(m)]
        for m in members:
            if te.is_typeddict(m) and m is not tds[0]:
                continue
            if te.is_typeddict(m) and len(tds) > 1:
                kind, code = "<dict>", self.td_union(tds, [(p, n + "Object") for p, n in names])
            else:
                kind, code = kind_of(m), self.expr(m, owner, field, lits)
            if kind in branches:
                self.notes.add(f"{names[0][1]}: two {kind} branches; left as a plain union")
                return self.alias(names, f"Union[{', '.join(self.expr(m, owner, field, lits) for m in members)}]")
            branches[kind] = code
        body = "".join(f"        Annotated[{code}, Tag({lit(kind)})],\n" for kind, code in branches.items())
        tags = ", ".join(lit(k) for k in branches)
        return self.alias(names, f"Annotated[\n    Union[\n{body}    ],\n    Discriminator(_by_kind({tags})),\n]")

    def alias(self, names, code) -> str:
        if code not in self.alias_by_code:
            self.alias_by_code[code] = len(self.alias_code)
            self.alias_code.append(code)
            self.alias_names.append([])
        n = self.alias_by_code[code]
        self.alias_names[n] += [(prio, len(self.alias_names[n]), name) for prio, name in names]
        return f"\0{n}\0"

    # -- output ---------------------------------------------------------------------------
    def final_alias_names(self) -> list[str]:
        taken = set(self.names.values())
        out = [""] * len(self.alias_names)
        # SDK alias names are claimed first; an owner+field name that collides gets a suffix.
        for n in sorted(range(len(out)), key=lambda n: (min(self.alias_names[n])[0], n)):
            name = min(self.alias_names[n])[2]
            while name in taken:
                name += "Union"
            taken.add(name)
            out[n] = name
        return out

    def emit_class(self, td, base) -> str:
        lines = [f"class {self.names[td]}({base}):"]
        for key, code, required in self.fields[td]:
            default = "" if required else "None"
            if (td, key) in self.tag_default:  # the member an absent tag selects
                code, default = f"Literal[{lit(self.tag_default[td, key])}]", lit(self.tag_default[td, key])
            elif not required and not code.startswith("Optional["):
                code = f"Optional[{code}]"  # absent and null both mean "not given"
            if not key.isidentifier() or keyword.iskeyword(key) or key.startswith(("_", "model_")) or hasattr(pydantic.BaseModel, key):
                attr = re.sub(r"\W", "_", key).lstrip("_") + "_"
                args = ", ".join(a for a in (default, f"alias={lit(key)}") if a)
                lines.append(f"    {attr}: {code} = Field({args})")
            else:
                lines.append(f"    {key}: {code}" + (f" = {default}" if default else ""))
        return "\n".join(lines if len(lines) > 1 else lines + ["    pass"])


def alias_order(codes: list[str]) -> list[int]:
    """Aliases refer to each other (never in a cycle), so define dependencies first."""
    done: list[int] = []

    def visit(n):
        if n not in done:
            for dep in re.findall(r"\0(\d+)\0", codes[n]):
                visit(int(dep))
            done.append(n)

    for n in range(len(codes)):
        visit(n)
    return done


TEMPLATE_HEAD = '''\
# Generated by scripts/gen_schemas.py from the anthropic SDK's param types; do not edit.
# Source: anthropic {version}. Header-only SDK arguments left out of the bodies: {dropped}.
# SDK types not mapped one to one:
{notes}

from __future__ import annotations

import json
from typing import Annotated, Any, Callable, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, ValidationError
from typing_extensions import Self, TypedDict

_KIND_OF = {{str: "<str>", list: "<list>", tuple: "<list>", dict: "<dict>", bool: "<bool>", int: "<int>", float: "<float>"}}


def _by_kind(*tags: str) -> Callable[[Any], str]:
    """Pick a str/list/object union branch by the input's JSON type. An input of another type
    goes to the first branch, so the error reads like pydantic's for that branch's type."""

    def kind(value: Any) -> str:
        tag = _KIND_OF.get(type(value)) or ("<dict>" if isinstance(value, BaseModel) else "")
        if tag == "<int>" and tag not in tags:
            tag = "<float>"
        return tag if tag in tags else tags[0]

    return kind


def _by_field(key: str, tags: Dict[Any, str]) -> Callable[[Any], str]:
    """Pick a member by a field whose value the error locations do not show (`role`)."""

    def pick(value: Any) -> str:
        tag = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        return tags.get(tag, "<?>") if isinstance(tag, str) else "<?>"

    return pick


def _default_tag(key: str, tag: str) -> Callable[[Any], Any]:
    """For unions where one member may omit its discriminator (a custom tool's `type`)."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict) and value.get(key) is None:
            return {{**value, key: tag}}
        return value

    return fill


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True, serialize_by_alias=True)


class _OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True, serialize_by_alias=True)


class _Root(_Model):
    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        # pydantic words some errors differently for JSON input ("a valid array", "an object");
        # the API reports the Python wording, so on failure re-validate the parsed body.
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                raise
            first = exc
        try:
            data = json.loads(json_data)
        except ValueError:
            raise first from None
        cls.model_validate(data, **kwargs)  # raises the same errors, worded for Python input
        raise first
'''


def generate() -> str:
    import anthropic

    gen, root_tds, dropped = Gen(), [], set()
    for name, td, body in roots(gen.notes):
        fields = td_fields(td)
        if body is not None:  # the SDK sends the other arguments as headers
            dropped |= {f[0] for f in fields} - body
            fields = [f for f in fields if f[0] in body]
        known = {f[0] for f in fields}
        for key in sorted(set(body or EXTRA_BODY_FIELDS) - known):
            fields.append((key, EXTRA_BODY_FIELDS[key], False, []))
        gen.add_root(td, name, fields)
        root_tds.append(td)
    gen.run()

    alias_names = gen.final_alias_names()
    parts = [
        TEMPLATE_HEAD.format(
            version=anthropic.__version__,
            dropped=", ".join(sorted(dropped)) or "none",
            notes="\n".join(f"#   - {n}" for n in sorted(gen.notes)) or "#   - nothing",
        )
    ]
    for td in gen.queue:
        base = "_Root" if td in root_tds else "_OpenModel" if td in gen.open else "_Model"
        parts.append(gen.emit_class(td, base))
    for n in alias_order(gen.alias_code):
        parts.append(f"{alias_names[n]} = {gen.alias_code[n]}")
    rebuild = "\n".join(f"{gen.names[td]}.model_rebuild()" for td in root_tds)
    parts.append(f"# Build the root validators at import rather than on the first request.\n{rebuild}")
    code = "\n\n\n".join(parts) + "\n"
    return re.sub(r"\0(\d+)\0", lambda m: alias_names[int(m.group(1))], code)


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate the request models from the installed anthropic SDK.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a unified diff if the module differs from what the SDK gives")
    parser.add_argument("--out", type=Path, default=OUT, help="the module (default: %(default)s)")
    args = parser.parse_args()
    code = generate()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        diff = "".join(difflib.unified_diff(current.splitlines(True), code.splitlines(True),
                                            str(args.out), "generated from the installed SDK"))
        if diff:
            sys.stdout.write(diff)
            import anthropic

            sys.exit(f"{args.out} differs from what anthropic {anthropic.__version__} gives; "
                     "regenerate with: python scripts/gen_schemas.py")
        print(f"{args.out} matches what the installed SDK gives")
        return
    args.out.write_text(code)
    print(f"wrote {args.out} ({code.count(chr(10))} lines)")


if __name__ == "__main__":
    main()
