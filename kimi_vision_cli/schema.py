"""--schema: structured answers, at the plan level (pure, no network).

SCHEMA is one of (first match wins):
- inline JSON: the text starts with `{` (a JSON Schema is an object);
- a concise field list: `alt_text, tags: list, people: int` (the grammar below);
- otherwise a path to a JSON Schema file (`./alt` for a file whose name would read as a
  field list).

Field-list grammar: comma-separated `name[: type]`; a name is a letter or `_` then letters,
digits, `_` or `-`; a type is `str` (the default), `int`, `float`, `bool`, `list` (of
strings) or `list[str|int|float|bool]`. Every field is required and no other key is
allowed, so the answers make a table with fixed columns.

Moonshot documents JSON Mode (`response_format: {"type": "json_object"}`) and asks the
prompt to describe the object wanted; it documents no `json_schema` response format
(platform.moonshot.ai/docs/guide/use-json-mode-feature-of-kimi-api), and JSON Mode answers
objects only. So the request asks for json_object, the prompt carries the schema, and the
answer is validated here (jsonschema, imported late: --help must not pay for it).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kimi_vision_cli.errors import APIError, UsageError

RESPONSE_FORMAT = {"type": "json_object"}


def json_schema_format(schema: Schema) -> dict[str, Any]:
    """response_format for a family that takes json_schema (moonshot.Family.json_schema):
    the schema itself, strict; the answer is still checked here (structured)."""
    return {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema.schema}}


_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}
_FIELD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(?::\s*([A-Za-z]+(?:\[\s*[A-Za-z]+\s*\])?)\s*)?$")
_LIST = re.compile(r"^list(?:\[\s*([A-Za-z]+)\s*\])?$")
GRAMMAR = "name[: type], ... with type str (default), int, float, bool, list (of strings) or list[int]..."

# Keys of a structured answer that hold the caption (XMP dc:description, manifest text)
# and its keywords (XMP dc:subject), first found wins.
CAPTION_KEYS = ("caption", "description", "alt_text", "alt", "text")
KEYWORD_KEYS = ("tags", "keywords", "subject", "subjects")


class SchemaMismatchError(APIError):
    """The answer was not JSON, or not of the schema, after the one retry."""

    code = "schema_mismatch"


@dataclass(frozen=True)
class Schema:
    schema: dict[str, Any]
    source: str = field(default="", compare=False)  # what the user gave, for messages

    def instruction(self) -> str:
        """What the prompt adds: Moonshot's JSON Mode wants the object described in it."""
        return "Answer with one JSON object and nothing else. It must match this JSON Schema:\n" + json.dumps(
            self.schema, ensure_ascii=False, sort_keys=True
        )

    def parse(self, text: str) -> dict[str, Any]:
        """The answer as a JSON object of the schema, or SchemaMismatchError saying why."""
        try:
            data = json.loads(_unfence(text))
        except ValueError as exc:
            raise SchemaMismatchError(f"answer does not match the schema: not JSON ({exc})") from None
        problem = first_violation(self.schema, data)
        if problem is not None:
            raise SchemaMismatchError(f"answer does not match the schema: {problem}")
        return cast("dict[str, Any]", data)  # the root is checked to be an object


def structured(
    schema: Schema, attempt: Callable[[], str], on_retry: Callable[[SchemaMismatchError], None] | None = None
) -> dict[str, Any]:
    """The parsed answer of `attempt()` (one request); an answer that is not JSON or not
    of the schema is asked for once more, and a second miss raises SchemaMismatchError."""
    try:
        return schema.parse(attempt())
    except SchemaMismatchError as err:
        if on_retry is not None:
            on_retry(err)
    return schema.parse(attempt())


def load(spec: str) -> Schema:
    """Inline JSON, a field list or a file -> Schema; UsageError (exit 2) saying what is wrong.
    Cached: the command checks SCHEMA up front and every plan then reuses it (a file is
    read again only when it changed)."""
    try:
        st = os.stat(spec)
        stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):
        stamp = None
    return _load(spec, stamp)


@functools.lru_cache(maxsize=8)
def _load(spec: str, stamp: tuple[int, int] | None) -> Schema:
    text = spec.strip()
    if not text:
        raise UsageError(
            "--schema is empty", hint=f"give a JSON Schema file, inline JSON, or fields: {GRAMMAR}"
        )
    where = "--schema"  # inline JSON or a field list; a file is named by its path
    if text.startswith(("{", "[")):
        schema = _json_schema(text, where)
    elif all(_FIELD.match(part) for part in text.split(",")):
        schema = from_fields(text)
    else:
        where = spec
        schema = _json_schema(_read(Path(spec)), where)
    check(schema, where)
    return Schema(schema, source=spec)


def from_fields(text: str) -> dict[str, Any]:
    """`alt_text, tags: list, people: int` -> an object schema; UsageError on a bad field."""
    properties: dict[str, Any] = {}
    for part in text.split(","):
        m = _FIELD.match(part)
        if m is None:
            raise UsageError(f"--schema: {part.strip()!r} is not a field", hint=GRAMMAR)
        name, kind = m.group(1), (m.group(2) or "str").replace(" ", "")
        if name in properties:
            raise UsageError(f"--schema: field {name!r} is given twice", hint=GRAMMAR)
        properties[name] = _type(kind)
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _type(kind: str) -> dict[str, Any]:
    if kind in _TYPES:
        return dict(_TYPES[kind])
    m = _LIST.match(kind)
    if m and (m.group(1) or "str") in _TYPES:
        return {"type": "array", "items": dict(_TYPES[m.group(1) or "str"])}
    raise UsageError(f"--schema: unknown type {kind!r}", hint=GRAMMAR)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"--schema: {path}: no such file, and not a field list",
            hint=f"give a JSON Schema file, inline JSON, or fields: {GRAMMAR}",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--schema: cannot read {path}: {exc}") from None


def _json_schema(text: str, where: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise _bad(where, f"not valid JSON ({exc})", "a JSON Schema is a JSON object") from None
    if not isinstance(schema, dict):
        raise _bad(where, "a JSON Schema must be a JSON object")
    return schema


def check(schema: dict[str, Any], where: str) -> None:
    """A valid JSON Schema whose answers can be objects (JSON Mode answers nothing else),
    checked completely before any request (issue 19.6): valid against its meta-schema and
    every `$ref` resolvable, else UsageError naming `where` and the JSON pointer."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise _bad(
            where,
            f"not a valid JSON Schema at {pointer(exc.absolute_path)}: {exc.message}",
            "fix the schema there (see json-schema.org)",
        ) from None
    dangling = unresolved_ref(schema, cls)
    if dangling is not None:
        at, ref = dangling
        raise _bad(
            where,
            f"$ref {ref!r} at {at} resolves nowhere",
            "define what it points to in the schema (e.g. under $defs); remote schemas are not fetched",
        )
    kind = schema.get("type")
    if kind is not None and kind != "object" and not (isinstance(kind, list) and "object" in kind):
        raise _bad(
            where,
            f"the root type is {kind!r}",
            "Moonshot's JSON Mode answers a JSON object: wrap the value in an object",
        )


def _bad(where: str, what: str, hint: str | None = None) -> UsageError:
    """`--schema: <what>`, with the schema file as the input when SCHEMA named one."""
    return UsageError(f"--schema: {what}", input=None if where == "--schema" else where, hint=hint)


def pointer(path: Any) -> str:
    """A JSON pointer (RFC 6901) for a path of keys and indexes; `/` for the root."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else "/ (the root)"


# Keywords whose values are data, not subschemas: a "$ref" key inside them is not a reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})


def unresolved_ref(schema: dict[str, Any], cls: Any) -> tuple[str, str] | None:
    """The first `$ref` that resolves nowhere, as (JSON pointer of the $ref, the ref), or
    None. Refs resolve within the schema (its $defs, anchors, nested $id) and to the
    JSON Schema meta-schemas; nothing is fetched."""
    from jsonschema_specifications import REGISTRY
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import specification_with

    dialect = schema.get("$schema") or cls.META_SCHEMA.get("$id") or cls.META_SCHEMA.get("id", "")
    spec = specification_with(str(dialect), default=specification_with(cls.META_SCHEMA.get("$schema", "")))
    root = spec.create_resource(schema)
    registry = REGISTRY.with_resource(root.id() or "", root).crawl()
    todo: list[tuple[Any, tuple[Any, ...], Any]] = [(schema, (), registry.resolver(base_uri=root.id() or ""))]
    while todo:
        node, path, resolver = todo.pop()
        if isinstance(node, dict):
            if path and isinstance(spec.id_of(node), str):  # a nested resource: its own base URI
                resolver = resolver.in_subresource(spec.create_resource(node))
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    return pointer((*path, "$ref")), ref
            children = [(v, (*path, k)) for k, v in node.items() if k not in _DATA_KEYWORDS]
        elif isinstance(node, list):
            children = [(v, (*path, i)) for i, v in enumerate(node)]
        else:
            continue
        todo.extend((v, p, resolver) for v, p in reversed(children))
    return None


def first_violation(schema: dict[str, Any], data: Any) -> str | None:
    """The first way `data` breaks `schema` (`tags/0: 3 is not of type 'string'`), or None."""
    from jsonschema.validators import validator_for

    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    from referencing.exceptions import Unresolvable

    validator = validator_for(schema)(schema)
    try:
        errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    except Unresolvable as exc:  # check() resolves every $ref up front; never a traceback here
        raise SchemaMismatchError(f"the schema cannot be applied: {exc}") from None
    if not errors:
        return None
    err = errors[0]
    where = "/".join(str(p) for p in err.absolute_path)
    return f"{where}: {err.message}" if where else err.message


def _unfence(text: str) -> str:
    """JSON Mode answers bare JSON; a ```json fence around it is forgiven."""
    s = text.strip()
    if s.startswith("```") and s.endswith("```"):
        s = s[3:-3]
        if s.lower().startswith("json"):
            s = s[4:]
    return s


def answer_caption(text: str, data: dict[str, Any] | None) -> str:
    """The caption of an answer: a structured answer's caption field, else the text."""
    for key in CAPTION_KEYS:
        value = (data or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value
    return text


def answer_keywords(data: dict[str, Any] | None) -> list[str]:
    """A structured answer's tags/keywords array, as unique non-empty strings in order."""
    for key in KEYWORD_KEYS:
        value = (data or {}).get(key)
        if isinstance(value, list):
            seen: dict[str, None] = {}
            for item in value:
                if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                    word = str(item).strip()
                    if word:
                        seen.setdefault(word, None)
            return list(seen)
    return []
