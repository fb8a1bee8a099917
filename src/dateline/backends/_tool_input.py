"""Schema-driven values for the built-in model: ``tool_use.input`` and JSON answers.

The built-in model has no weights, so when it calls a tool it fills the
arguments from the tool's ``input_schema``: every required property plus a
seeded subset of optional ones, with strings chosen from the property name,
its ``format`` and words of the conversation, so the call reads like one a
model would make.  A structured-output answer (``output_config.format``) is
made the same way, from any top-level type, and written as a grammar-constrained
model writes it: required properties first, then optional ones, each in schema
order.  Output is a pure function of (schema, seed, context).
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import threading
import uuid
import warnings
from collections import OrderedDict
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import extend, validator_for

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None

__all__ = ["generate_json", "generate_tool_input", "json_text", "validate_tool_input"]

_ATTEMPTS = 6  # candidates tried before settling for the least-bad one
_SHRINK_DEPTH = 4  # from here on only required members, so recursion ends
_MAX_DEPTH = 12  # hard stop for schemas whose recursion is required
#: Under a grammar the schema has no recursion (structured outputs refuse it) and nests at most
#: 64 deep: required members are followed all the way down.
_GRAMMAR_DEPTH = 80
_BUDGET = 5000  # values per attempt: huge minItems/minLength nest multiplicatively
_MAX_LEN = 10_000  # longest string or array we are willing to build

_CITIES = ("San Francisco, CA", "Paris, France", "Tokyo, Japan", "London, UK", "Berlin, Germany", "Toronto, Canada")
_PATHS = ("src/main.py", "src/app/utils.py", "README.md", "tests/test_main.py", "docs/index.md", "package.json")
_COMMANDS = ("ls -la", "git status", "python -m pytest -q", "cat README.md", "npm test", "git diff --stat")
_GLOBS = ("**/*.py", "src/**/*.ts", "*.md", "tests/**/test_*.py")
_FILLER = ("project", "status", "weather", "report", "summary", "release", "notes", "config", "update", "search")
_STOP = frozenset(
    "the a an and or but for with from into that this these those what which who when where why how is are was "
    "were be been do does did can could would should will may might must have has had not you your our their they "
    "them please me my its it we us of to in on at by as about i".split()
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_'-]*")
# (name word, plausible range) for numbers without tighter schema bounds
# fmt: off
_NUM_HINTS = (
    ("timeout", (5000, 120000)), ("limit", (1, 50)), ("count", (1, 10)), ("results", (1, 20)), ("k", (1, 10)),
    ("offset", (1, 200)), ("page", (1, 5)), ("year", (2000, 2025)), ("port", (1024, 9000)), ("age", (18, 80)),
    ("temperature", (0.0, 1.0)), ("confidence", (0.0, 1.0)), ("probability", (0.0, 1.0)), ("score", (0.0, 1.0)),
    ("price", (1.0, 500.0)), ("amount", (1.0, 500.0)), ("total", (10.0, 2000.0)), ("cost", (1.0, 500.0)),
    ("quantity", (1, 10)), ("qty", (1, 10)), ("rating", (1, 5)),
)
# fmt: on
_KINDS = ("object", "array", "string", "integer", "number", "boolean", "null")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int(v: Any, default: int | None) -> int | None:
    return int(v) if _num(v) and v >= 0 else default


def _copy(v: Any) -> Any:
    # Values taken from the schema must not alias it: callers may mutate inputs.
    return copy.deepcopy(v) if isinstance(v, (dict, list)) else v


def _schema(s: Any) -> dict:
    return s if isinstance(s, dict) else {} if s is True else {"not": {}}


def _merge(a: Any, b: Any) -> dict:
    """Combine two schemas; ``b`` wins except for the keys that accumulate."""
    out = dict(_schema(a))
    for k, v in _schema(b).items():
        if k == "properties" and isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = {**out[k], **{n: _merge(out[k][n], sub) if n in out[k] else sub for n, sub in v.items()}}
        elif k == "required" and isinstance(out.get(k), list) and isinstance(v, list):
            out[k] = list(dict.fromkeys([*out[k], *v]))
        else:
            out[k] = v
    return out


def _tokens(name: str) -> tuple[str, ...]:
    """``filePath``/``file_path`` -> ("file", "path"): hints match whole words."""
    # Property names are the client's: only short ones (all real ones) are remembered.
    return _tokens_cached(name) if len(name) <= 256 else _split_name(name)


@lru_cache(maxsize=1024)
def _tokens_cached(name: str) -> tuple[str, ...]:
    return _split_name(name)


def _split_name(name: str) -> tuple[str, ...]:
    return tuple(t for t in re.split(r"[^a-z0-9]+", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()) if t)


@lru_cache(maxsize=64)
def _context_words(context: str) -> tuple[str, ...]:
    words = (w.strip("'-") for w in _WORD_RE.findall(context))
    return tuple(w for w in words if len(w) > 2 and w.lower() not in _STOP)


# Constraints the SDK's transform_schema moves out of a structured-output schema into its
# description ("...\n\n{minimum: 1, pattern: ^[A-Z]+$}"): a model reads them there and keeps them.
_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
          "pattern", "minItems", "maxItems", "uniqueItems", "format")  # fmt: skip
_HINT_RE = re.compile(r"(?:^|, )(" + "|".join(_HINTS) + r"): ")


@lru_cache(maxsize=256)
def _described(description: str) -> tuple[tuple[str, Any], ...]:
    head, sep, block = description.rpartition("\n\n{")
    if not sep:
        block = description[1:] if description.startswith("{") else ""
    if not block.endswith("}"):
        return ()
    block = block[:-1]
    found = list(_HINT_RE.finditer(block))
    hints = []
    for n, match in enumerate(found):
        text = block[match.end() : found[n + 1].start() if n + 1 < len(found) else len(block)]
        key = match.group(1)
        if key in ("pattern", "format"):
            hints.append((key, text))
        elif key == "uniqueItems":
            hints.append((key, text == "True"))
        else:
            try:
                number = float(text)
            except ValueError:
                continue
            hints.append((key, int(number) if number.is_integer() else number))
    return tuple(hints)


class _OverBudget(Exception):
    """Raised to abandon an attempt that would build an enormous value."""


class _Gen:
    def __init__(
        self, root: dict, rng: random.Random, words: tuple[str, ...], minimal: bool, grammar: bool = False
    ) -> None:
        self.root, self.rng, self.words, self.minimal = root, rng, words, minimal
        #: Written as under a grammar (structured outputs, strict tools): required members
        #: first, and any of a type array's types.
        self.grammar = grammar
        self.budget = _BUDGET

    # -- schema plumbing --------------------------------------------------
    def deref(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#") or (ref[1:2] not in ("", "/")):
            return {}  # remote refs and anchors: generate freely, validation decides
        node: Any = self.root
        for part in ref[2:].split("/") if len(ref) > 1 else ():
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return {}
        return node

    def resolve(self, s: Any, shrink: bool) -> dict:
        """Flatten ``$ref``/``allOf`` and commit to one ``anyOf``/``oneOf`` branch."""
        for _ in range(16):  # bounds chains of refs pointing at each other
            if not isinstance(s, dict):
                return _schema(s)
            if "$ref" in s:
                s = _merge(self.deref(s["$ref"]), {k: v for k, v in s.items() if k != "$ref"})
            elif isinstance(s.get("allOf"), list):
                rest = {k: v for k, v in s.items() if k != "allOf"}
                for sub in s["allOf"]:
                    rest = _merge(rest, self.resolve(sub, shrink))
                s = rest
            elif isinstance(s.get("anyOf") or s.get("oneOf"), list):
                key = "anyOf" if s.get("anyOf") else "oneOf"
                branches = [b for b in s[key] if b is not False] or [{}]
                if shrink:  # scalar branches end a recursion
                    flat = [b for b in branches if isinstance(b, dict) and b.get("type") in _KINDS[2:]]
                    branches = flat or branches
                s = _merge({k: v for k, v in s.items() if k != key}, self.rng.choice(branches))
            elif "if" in s and "else" not in s:  # satisfying `then` outright satisfies if/then
                s = _merge({k: v for k, v in s.items() if k not in ("if", "then")}, s.get("then", True))
            else:
                return s
        return s

    def kind(self, s: dict, shrink: bool) -> str:
        t = s.get("type")
        if isinstance(t, list):
            real = [x for x in t if x in _KINDS and x != "null"]
            if self.grammar and real and not shrink:  # a nullable member is sometimes null
                t = "null" if "null" in t and self.rng.random() < 0.2 else self.rng.choice(real)
            else:
                t = "null" if not real or (shrink and "null" in t) else real[0]
        if t in _KINDS:
            return t
        if s.keys() & {"properties", "required", "additionalProperties", "minProperties"}:
            return "object"
        if s.keys() & {"items", "prefixItems", "minItems", "contains"}:
            return "array"
        if s.keys() & {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}:
            return "number"
        return "string"

    def value(self, s: Any, name: str = "", depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _OverBudget
        shrink = self.minimal or depth >= _SHRINK_DEPTH
        s = self.resolve(s, shrink)
        description = s.get("description")
        if self.grammar and isinstance(description, str) and description.endswith("}") and len(description) < 4096:
            s = {**dict(_described(description)), **s}
        if "const" in s:
            return _copy(s["const"])
        if isinstance(s.get("enum"), list) and s["enum"]:
            return _copy(self.rng.choice(s["enum"]))
        kind = self.kind(s, shrink)
        if kind in ("boolean", "null"):
            return self.rng.random() < 0.5 if kind == "boolean" else None
        if depth >= (_GRAMMAR_DEPTH if self.grammar else _MAX_DEPTH):
            return {"object": {}, "array": [], "string": ""}.get(kind, 0)
        return getattr(self, "_" + kind)(s, name, depth, shrink)

    # -- containers --------------------------------------------------------
    def _object(self, s: dict, name: str, depth: int, shrink: bool) -> dict:
        props = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        required = (
            [r for r in s.get("required", ()) if isinstance(r, str)] if isinstance(s.get("required"), list) else []
        )
        needed = set(required)  # a set: schemas are the client's, with thousands of members
        optional = [k for k in props if k not in needed]
        keys = required + ([] if shrink else [k for k in optional if self.rng.random() < 0.5])
        deps = s.get("dependentRequired") or s.get("dependencies") or {}
        for k in keys:  # grows while iterating, so dependency chains are followed
            for d in deps.get(k, ()) if isinstance(deps, dict) and isinstance(deps.get(k), list) else ():
                if d not in keys:
                    keys.append(d)
        if _int(s.get("maxProperties"), None) is not None:
            keys = keys[: max(_int(s["maxProperties"], 0), len(required))]
        extra = s.get("additionalProperties", True)
        spare = optional + ([f"key{i}" for i in range(8)] if extra is not False else [])
        for k in spare:  # minProperties: optional members first, then made-up keys if allowed
            if len(keys) >= _int(s.get("minProperties"), 0):
                break
            if k not in keys:
                keys.append(k)
        order = {k: i for i, k in enumerate(props)}  # models answer in schema order
        if self.grammar:  # ...required members first under a grammar [structured-outputs docs]
            order = {k: i + (0 if k in required else len(order)) for k, i in order.items()}
        out = {}
        for k in sorted(keys, key=lambda k: order.get(k, 2 * len(order))):
            sub = props.get(k, extra if isinstance(extra, dict) else {})
            if k not in needed and isinstance(sub, dict) and "default" in sub and self.rng.random() < 0.25:
                out[k] = _copy(sub["default"])
            else:
                out[k] = self.value(sub, k, depth + 1)
        return out

    def _array(self, s: dict, name: str, depth: int, shrink: bool) -> list:
        prefix, items = s.get("prefixItems"), s.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, s.get("additionalItems", {})
        prefix = prefix if isinstance(prefix, list) else []
        lo, hi = min(_int(s.get("minItems"), 0), _MAX_LEN), _int(s.get("maxItems"), None)
        if items is False:
            hi = len(prefix) if hi is None else min(hi, len(prefix))
        cap = lo + 2 if hi is None else min(hi, lo + 2)
        n = lo if shrink else self.rng.randint(min(max(lo, 1), cap), max(cap, lo))
        n = max(n, min(len(prefix), cap))
        item_name = name[:-3] + "y" if name.endswith("ies") else name[:-1] if name.endswith("s") else name
        if "contains" in s and n == 0 and _int(s.get("minContains"), 1):
            n = 1
        out: list = []
        seen: set[str] = set()
        for attempt in range(n * 4):  # spare tries: distinct items read better (and uniqueItems needs them)
            if len(out) >= n:
                break
            i = len(out)
            sub = s["contains"] if i == 0 and "contains" in s else prefix[i] if i < len(prefix) else items
            v = self.value(sub, item_name, depth + 1)
            key = json.dumps(v, sort_keys=True, default=str)
            if key in seen and (s.get("uniqueItems") is True or attempt < n * 3):
                continue
            seen.add(key)
            out.append(v)
        return out

    # -- scalars -------------------------------------------------------------
    def _string(self, s: dict, name: str, depth: int, shrink: bool) -> str:
        text = _from_regex(s["pattern"], self.rng) if isinstance(s.get("pattern"), str) else None
        fmt = _FORMATS.get(s.get("format"))
        if text is None and fmt is not None:
            text = fmt(self)
        if text is None:
            text = self.named(name, str(s.get("description", "")).lower())
        lo, hi = min(_int(s.get("minLength"), 0), _MAX_LEN), _int(s.get("maxLength"), None)
        for _ in range(20):  # pad with more words, then with letters
            if len(text) >= lo:
                break
            text = f"{text} {self.phrase(1, 3)}".strip()
        if hi is not None and len(text) > hi:  # cut at a word boundary when that still fits
            cut = text[: hi + 1].rsplit(" ", 1)[0]
            text = cut if lo <= len(cut) <= hi else text[:hi]
        text = text + "x" * (lo - len(text)) if len(text) < lo else text
        self.budget -= len(text) // 100  # long strings count against the budget too
        return text

    def _integer(self, s: dict, name: str, depth: int, shrink: bool) -> int:
        lo, hi = self.bounds(s, name, integer=True)
        m = s.get("multipleOf")
        if _num(m) and m > 0:
            k = max(math.ceil(lo / m), min(math.floor(hi / m), math.ceil(lo / m) + self.rng.randint(0, 5)))
            v = k * m
            return int(v) if float(v).is_integer() else v
        return self.rng.randint(lo, hi)

    def _number(self, s: dict, name: str, depth: int, shrink: bool) -> float | int:
        lo, hi = self.bounds(s, name, integer=False)
        m = s.get("multipleOf")
        if _num(m) and m > 0:
            base = math.ceil(lo / m)
            base += self.rng.randint(0, max(0, min(20, math.floor(hi / m) - base)))
            for k in range(base, base + 10):  # float quotients can miss; try neighbours
                v = k * m if isinstance(m, int) else round(k * m, 10)
                if not isinstance(v, float) or (v / m).is_integer():
                    return v
        if isinstance(lo, int) and isinstance(hi, int) and hi - lo >= 10:
            return self.rng.randint(lo, hi)  # counts, offsets, timeouts: whole even when typed "number"
        v = round(self.rng.uniform(lo, hi), 2)
        return v if lo <= v <= hi else (lo + hi) / 2

    def bounds(self, s: dict, name: str, integer: bool) -> tuple:
        toks = _tokens(name)
        lo, hi = next((r for word, r in _NUM_HINTS if word in toks), (0, 100))
        mn, mx, xmn, xmx = (s.get(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"))
        if xmn is True:  # draft 4: boolean flag on minimum
            mn, xmn = None, mn
        if xmx is True:
            mx, xmx = None, mx
        step = 1 if integer else 1e-6
        lows = [math.ceil(mn) if integer else mn] if _num(mn) else []
        lows += [(math.floor(xmn) + 1) if integer else xmn + step] if _num(xmn) else []
        highs = [math.floor(mx) if integer else mx] if _num(mx) else []
        highs += [(math.ceil(xmx) - 1) if integer else xmx - step] if _num(xmx) else []
        slo, shi = (max(lows) if lows else None), (min(highs) if highs else None)
        lo, hi = (lo if slo is None else max(lo, slo)), (hi if shi is None else min(hi, shi))
        if lo > hi:  # hint range misses the schema's: fall back to the schema's edges
            lo = slo if slo is not None else hi - 10
            hi = shi if shi is not None else lo + 10
        if integer:
            # JSON encoders stop at 64 bits; a bound beyond that cannot be met anyway.
            lo, hi = (max(_INT64_MIN, min(_INT64_MAX, int(v))) for v in (lo, hi))
        return (lo, hi)

    # -- plausible text ------------------------------------------------------
    def phrase(self, lo: int, hi: int) -> str:
        n, words = self.rng.randint(lo, hi), self.words or _FILLER
        start = self.rng.randrange(max(1, len(words) - n + 1))  # a contiguous run keeps the request's wording
        return " ".join(words[start : start + n])

    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.phrase(1, 1).lower()).strip("-") or "item"

    def when(self) -> datetime:
        return datetime(2024, 1, 1) + timedelta(
            days=self.rng.randrange(730), seconds=self.rng.randrange(86400) // 60 * 60
        )

    def url(self) -> str:
        host = self.rng.choice(("example.com", "docs.example.com", "api.example.org"))
        return f"https://{host}/{self.slug()}"

    def named(self, name: str, desc: str) -> str:
        rng, toks = self.rng, _tokens(name) or ("",)
        last, n = toks[-1], "_".join(toks)
        if "email" in toks:
            return f"{self.slug()}@example.com"
        if last == "street":
            return f"{rng.randint(1, 250)} {rng.choice(('Main', 'Market', 'Oak', 'Harbor', 'Station'))} Street"
        if last in ("location", "city", "place", "address"):
            return rng.choice(_CITIES)
        if last in ("command", "cmd"):
            return rng.choice(_COMMANDS)
        if {"url", "uri", "link", "href", "endpoint"} & set(toks):
            return self.url()
        if last in ("pattern", "glob") and "glob" in (n + desc):
            return rng.choice(_GLOBS)
        if last in ("domain", "host", "hostname"):
            return rng.choice(("example.com", "docs.python.org", "github.com"))
        if last == "path" and "directory" in desc and "file" not in desc or last in ("directory", "dir", "folder"):
            return rng.choice(("src", "tests", "docs"))
        if last in ("path", "file", "filename", "filepath"):
            path = rng.choice(_PATHS)
            return f"/home/user/project/{path}" if "absolute" in desc else path
        if last in ("timezone", "tz"):
            return rng.choice(("America/New_York", "Europe/Paris", "Asia/Tokyo"))
        if last in ("date", "day", "at"):
            return self.when().strftime("%Y-%m-%d")
        if last in ("language", "lang"):
            return rng.choice(("python", "typescript", "en"))
        if last in ("unit", "units"):
            return rng.choice(("celsius", "fahrenheit"))
        if n == "subagent_type":
            return "general-purpose"
        if last == "id":
            return f"{self.slug()}-{rng.randint(1, 999)}"
        if last == "pattern":  # a search pattern: a word or two from the request
            return self.phrase(1, 2)
        if last in ("query", "q", "search", "keyword", "keywords", "topic", "prompt", "question", "term"):
            return self.phrase(2, 4)
        if last in ("name", "title", "label", "type", "kind", "category", "tag"):
            return self.phrase(1, 2)
        return self.phrase(3, 8)  # descriptions, messages, edits: free text


# fmt: off
_FORMATS = {
    "email": lambda g: f"{g.slug()}@example.com",
    "idn-email": lambda g: f"{g.slug()}@example.com",
    "uri": _Gen.url, "iri": _Gen.url, "url": _Gen.url,
    "uri-reference": lambda g: f"/docs/{g.slug()}", "iri-reference": lambda g: f"/docs/{g.slug()}",
    "uri-template": lambda g: f"https://example.com/{g.slug()}/{{id}}",
    "date-time": lambda g: g.when().strftime("%Y-%m-%dT%H:%M:%SZ"),
    "date": lambda g: g.when().strftime("%Y-%m-%d"),
    "time": lambda g: g.when().strftime("%H:%M:%SZ"),
    "duration": lambda g: f"PT{g.rng.randint(1, 59)}M",
    "uuid": lambda g: str(uuid.UUID(int=g.rng.getrandbits(128), version=4)),
    "hostname": lambda g: f"{g.slug()[:63]}.example.com", "idn-hostname": lambda g: f"{g.slug()[:63]}.example.com",
    "ipv4": lambda g: f"192.0.2.{g.rng.randint(1, 254)}",
    "ipv6": lambda g: f"2001:db8::{g.rng.randint(1, 0xFFFF):x}",
    "regex": lambda g: "^[a-z]+$",
    "json-pointer": lambda g: f"/{g.slug()}/0", "relative-json-pointer": lambda g: f"0/{g.slug()}",
}
# fmt: on

# -- patterns: walk the stdlib regex parse tree and emit one matching string --
_CATS = {"DIGIT": "0123456789", "WORD": "abcdefghijklmnopqrstuvwxyz0123456789_", "SPACE": " "}


def _in_class(ch: str, items: list) -> bool:
    for op, av in items:
        op = str(op)
        if op == "LITERAL" and ch == chr(av) or op == "RANGE" and av[0] <= ord(ch) <= av[1]:
            return True
        if op == "CATEGORY":
            cat = str(av).removeprefix("CATEGORY_")
            hit = ch in _CATS.get(cat.removeprefix("NOT_"), "") or (cat.endswith("WORD") and ch.isalnum())
            if hit != cat.startswith("NOT_"):
                return True
    return False


def _emit(items: Any, rng: random.Random, out: list, groups: dict) -> None:
    for op, av in items:
        if len(out) > 512:
            raise ValueError("pattern expands too far")
        op = str(op)
        if op == "LITERAL":
            out.append(chr(av))
        elif op in ("NOT_LITERAL", "ANY"):
            out.append("b" if op == "NOT_LITERAL" and av == ord("a") else "a")
        elif op == "IN":
            negate = any(str(o) == "NEGATE" for o, _ in av)
            pool = [c for c in "abcxyz0123456789_-. " if _in_class(c, av) != negate]
            if not negate:
                pool += [chr(rng.randint(a[0], min(a[1], a[0] + 25))) for o, a in av if str(o) == "RANGE"]
            out.append(rng.choice(pool) if pool else "a")
        elif op in ("MAX_REPEAT", "MIN_REPEAT"):
            lo, hi, sub = av
            for _ in range(rng.randint(lo, min(hi, lo + 3))):
                _emit(sub, rng, out, groups)
        elif op == "SUBPATTERN":
            start = len(out)
            _emit(av[3], rng, out, groups)
            groups[av[0]] = "".join(out[start:])
        elif op == "BRANCH":
            _emit(rng.choice(av[1]), rng, out, groups)
        elif op == "GROUPREF":
            out.append(groups.get(av, ""))
        elif op not in ("AT", "ASSERT", "ASSERT_NOT"):  # anchors/lookarounds: checked below
            raise ValueError(op)


def _from_regex(pattern: str, rng: random.Random) -> str | None:
    """A string matching ``pattern`` (search semantics, as JSON Schema uses), or None."""
    try:
        from re import _parser

        out: list[str] = []
        _emit(_parser.parse(pattern), rng, out, {})
        text = "".join(out)
        return text if _search(pattern, text) else None
    except Exception:  # unsupported construct or a private-API change: fall back
        return None


# -- patterns, searched in linear time -------------------------------------
# Schemas are the client's, and Python's engine backtracks: `(x|xx)+y$` on
# forty x's runs for minutes, holding the interpreter's lock in any thread.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` is found in ``text`` (RE2), or None if RE2 cannot run it (lookaround, backreferences)."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS).search(text) is not None
    except re2.error:
        return None


def _found(pattern: str, text: str) -> bool:
    return _search(pattern, text) is not False  # a pattern RE2 cannot run is not checked


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Any:
    if validator.is_type(instance, "string") and not _found(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict, instance: Any, schema: dict) -> Any:
    if validator.is_type(instance, "object"):
        for pattern, subschema in patterns.items():
            for key, value in instance.items():
                if _found(pattern, key):
                    yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: dict) -> Any:
    if not validator.is_type(instance, "object"):
        return
    named, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    extras = [k for k in instance if k not in named and not any(_found(p, k) for p in patterns)]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        yield ValidationError(
            f"Additional properties are not allowed ({', '.join(map(repr, sorted(extras)))} unexpected)"
        )


def _unchecked(validator: Any, value: Any, instance: Any, schema: dict) -> Any:
    return iter(())


@lru_cache(maxsize=32)
def _linear(cls: Any, pattern_properties: bool) -> Any:
    """``cls`` with every pattern searched by RE2. ``unevaluatedProperties`` is not
    checked where ``patternProperties`` are about: jsonschema searches them itself."""
    keywords = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    if pattern_properties and "unevaluatedProperties" in cls.VALIDATORS:
        keywords["unevaluatedProperties"] = _unchecked
    return extend(cls, keywords)


# -- formats jsonschema checks only with optional packages: the structured-outputs ones --
_DURATION = re.compile(r"P(?:\d+W|(?:\d+Y)?(?:\d+M)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?)")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def _is_duration(value: Any) -> bool:
    return not isinstance(value, str) or (
        _DURATION.fullmatch(value) is not None and value not in ("P", "PT") and not value.endswith("T")
    )


def _is_hostname(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    return 0 < len(value) <= 253 and all(_LABEL.fullmatch(label) for label in value.rstrip(".").split("."))


def _is_uri(value: Any) -> bool:
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


@lru_cache(maxsize=8)
def _formats(base: FormatChecker) -> FormatChecker:
    checker = FormatChecker(())
    extra = {"duration": _is_duration, "hostname": _is_hostname, "uri": _is_uri}
    checker.checkers = {**{name: (check, ()) for name, check in extra.items()}, **base.checkers}
    return checker


# -- validation ------------------------------------------------------------
def _build(schema: Any, pattern_properties: bool = True) -> tuple[Any, str | None]:
    try:
        with warnings.catch_warnings():  # unknown $schema warns before defaulting
            warnings.simplefilter("ignore", DeprecationWarning)
            cls = validator_for(schema, default=Draft202012Validator)
        cls.check_schema(schema)
        cls = _linear(cls, pattern_properties)
        return cls(schema, format_checker=_formats(cls.FORMAT_CHECKER)), None
    except SchemaError as exc:
        return None, f"invalid input_schema: {exc.message}"
    except Exception as exc:
        return None, f"invalid input_schema: {exc}"


class _Compiled:
    """Validators by schema (its canonical JSON), least recently used out first.

    Bounded by the bytes of the schemas held, not their number: a compiled
    schema takes several times its JSON in memory, and schemas are the
    client's, as big as a body. One too big to keep is not compiled at all:
    checking a schema of megabytes against the meta-schema alone takes tens
    of seconds, so inputs for it are generated unchecked.
    """

    max_bytes = 8 * 1024 * 1024
    max_entry = 256 * 1024

    def __init__(self) -> None:
        self._entries: OrderedDict[str | bytes, tuple[Any, str | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # composing big requests runs in worker threads

    def __call__(self, key: str | bytes) -> tuple[Any, str | None]:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        if len(key) > self.max_entry:
            return None, f"input_schema not checked: over {self.max_entry} bytes"
        found = _build(
            json.loads(key), ("patternProperties" in key) if isinstance(key, str) else b"patternProperties" in key
        )
        with self._lock:
            if key not in self._entries:
                self._entries[key] = found
                self._bytes += len(key)
            while self._bytes > self.max_bytes:
                old, _ = self._entries.popitem(last=False)
                self._bytes -= len(old)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_compiled = _Compiled()


def _validator(schema: Any) -> tuple[Any, str | None]:
    try:
        if orjson is not None:
            return _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        pass  # orjson refuses e.g. huge ints; json may still cope
    try:
        return _compiled(json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError):
        return _build(schema)  # not JSON at all: compile uncached


def validate_tool_input(schema: dict, value: Any) -> str | None:
    """None when ``value`` satisfies ``schema``, else the first error's message."""
    validator, problem = _validator(schema)
    if validator is None:
        return problem
    try:
        error = next(validator.iter_errors(value), None)
    except Exception as exc:  # e.g. a $ref that points nowhere
        return f"invalid input_schema: {exc}"
    return None if error is None else error.message


def generate_tool_input(schema: dict, *, seed: int, context: str = "", strict: bool = False) -> dict:
    """A deterministic, plausible object that validates against ``schema``.

    ``strict``: the tool is ``strict: true``, so the input is written as under a grammar.
    """
    if not isinstance(schema, dict):
        return {}
    value = _generate(schema, seed, context, grammar=strict, objects=True)
    return value if isinstance(value, dict) else {}


def generate_json(schema: dict, *, seed: int, context: str = "") -> Any:
    """A structured-output answer: a deterministic, plausible value of any type ``schema``
    allows, checked against it before it is returned (if no attempt passes, the one
    with the fewest errors: schemas outside the supported subset can ask for the impossible)."""
    return _generate(schema if isinstance(schema, dict) else {}, seed, context, grammar=True, objects=False)


def json_text(value: Any) -> str:
    """An answer's text: compact JSON, as a grammar-constrained model writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _generate(schema: dict, seed: int, context: str, *, grammar: bool, objects: bool) -> Any:
    validator, _ = _validator(schema)
    words = _context_words(context[:4000] if isinstance(context, str) else "")
    best: Any = {} if objects else None
    best_errors = None
    for attempt in range(_ATTEMPTS):
        # Attempt 1 keeps only required members; the rest re-roll the dice.
        rng = random.Random(seed if attempt == 0 else f"{seed}/{attempt}")
        try:
            value = _Gen(schema, rng, words, minimal=attempt == 1, grammar=grammar).value(schema)
        except Exception:  # _OverBudget, or e.g. RecursionError on a pathological schema
            continue
        if objects and not isinstance(value, dict):
            value = {}
        if validator is None:
            return value
        try:
            errors = sum(1 for _ in islice(validator.iter_errors(value), 50))
        except Exception:
            return value  # the schema can't be checked; nothing better to aim for
        if errors == 0:
            return value
        if best_errors is None or errors < best_errors:
            best, best_errors = value, errors
    return best
