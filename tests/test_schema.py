"""--schema at the plan level (kimi_vision_cli/schema.py): reading SCHEMA, the field-list
grammar, the instruction for the prompt, validating answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kimi_vision_cli import schema as sch
from kimi_vision_cli.errors import ExitCode, UsageError
from tests.fake_moonshot import FakeMoonshot


def test_field_list_grammar() -> None:
    s = sch.load("alt_text, tags: list, people: int, score:float, nsfw: bool, ids: list[int]")
    assert s.schema == {
        "type": "object",
        "properties": {
            "alt_text": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "people": {"type": "integer"},
            "score": {"type": "number"},
            "nsfw": {"type": "boolean"},
            "ids": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["alt_text", "tags", "people", "score", "nsfw", "ids"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("alt_text, tags: dict", "unknown type 'dict'"),
        ("alt_text, alt_text", "given twice"),
        ("tags: list[list]", "unknown type 'list[list]'"),
        ("", "--schema is empty"),
    ],
)
def test_bad_field_lists_are_usage_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError) as exc:
        sch.load(spec)
    assert words in exc.value.one_line()
    assert exc.value.exit_code == ExitCode.BAD_INPUT


def test_inline_json_and_file(tmp_path: Path) -> None:
    doc = {"type": "object", "properties": {"caption": {"type": "string"}}, "required": ["caption"]}
    assert sch.load(json.dumps(doc)).schema == doc
    path = tmp_path / "caption.schema.json"
    path.write_text(json.dumps(doc))
    assert sch.load(str(path)).schema == doc


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "array", "items": {}}', "root type is 'array'"),
        ('{"type": 12}', "not a valid JSON Schema"),
        ("missing/schema.json", "no such file, and not a field list"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_schemas_are_usage_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError) as exc:
        sch.load(spec)
    assert words in exc.value.one_line()


def test_refs_that_resolve_are_taken() -> None:
    """$defs, anchors, a nested $id and the meta-schema itself: nothing is fetched."""
    doc = {
        "$id": "https://example.com/caption",
        "type": "object",
        "$defs": {
            "text": {"$anchor": "text", "type": "string"},
            "tags": {
                "$id": "https://example.com/tags",
                "$defs": {"tag": {"type": "string"}},
                "type": "array",
                "items": {"$ref": "#/$defs/tag"},
            },
        },
        "properties": {
            "alt": {"$ref": "#/$defs/text"},
            "title": {"$ref": "#text"},
            "tags": {"$ref": "tags"},
            "raw": {"$ref": "https://json-schema.org/draft/2020-12/schema"},
            "mode": {"enum": [{"$ref": "not a reference: data"}]},
        },
    }
    s = sch.load(json.dumps(doc))
    assert s.parse('{"alt": "a cat", "tags": ["cat"]}') == {"alt": "a cat", "tags": ["cat"]}


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (
            {"properties": {"a": {"$ref": "#/$defs/nope"}}},
            "$ref '#/$defs/nope' at /properties/a/$ref resolves nowhere",
        ),
        (
            {"properties": {"a": {"prefixItems": [{"$ref": "other.json"}]}}},
            "at /properties/a/prefixItems/0/$ref",
        ),
        ({"properties": {"a/b": {"$ref": "#nowhere"}}}, "at /properties/a~1b/$ref"),
        ({"properties": {"a": {"type": 12}}}, "not a valid JSON Schema at /properties/a/type"),
        ({"required": "alt"}, "not a valid JSON Schema at /required: 'alt' is not of type 'array'"),
    ],
)
def test_a_schema_is_checked_completely_naming_the_file_and_the_pointer(
    tmp_path: Path, doc: dict[str, object], words: str
) -> None:
    """Issue 19.6 / 19.19: the error names the schema file and the JSON pointer."""
    path = tmp_path / "bad.schema.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError) as exc:
        sch.load(str(path))
    assert exc.value.one_line().startswith(f"{path}: --schema: ")
    assert words in exc.value.one_line()
    assert exc.value.exit_code == ExitCode.BAD_INPUT


def test_instruction_carries_the_schema() -> None:
    s = sch.load("alt_text, tags: list")
    text = s.instruction()
    assert "JSON object" in text
    assert json.loads(text.split("\n", 1)[1]) == s.schema
    assert sch.RESPONSE_FORMAT == {"type": "json_object"}


def test_parse_accepts_a_matching_answer_even_fenced() -> None:
    s = sch.load("alt_text, tags: list")
    answer = {"alt_text": "a cat", "tags": ["cat"]}
    assert s.parse(json.dumps(answer)) == answer
    assert s.parse("```json\n" + json.dumps(answer) + "\n```") == answer


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("A cat on a mat.", "not JSON"),
        ('["a", "b"]', "a JSON list, not an object"),
        ('{"alt_text": "a cat"}', "'tags' is a required property"),
        ('{"alt_text": "a cat", "tags": [3]}', "tags/0: 3 is not of type 'string'"),
        ('{"alt_text": "x", "tags": [], "extra": 1}', "Additional properties are not allowed"),
    ],
)
def test_parse_refuses_what_does_not_match(answer: str, words: str) -> None:
    with pytest.raises(sch.SchemaMismatchError) as exc:
        sch.load("alt_text, tags: list").parse(answer)
    message = exc.value.one_line()
    assert message.startswith("answer does not match the schema")
    assert words in message
    assert exc.value.exit_code == ExitCode.FAILURE


def test_caption_and_keywords_of_a_structured_answer() -> None:
    data = {"alt_text": "a cat", "tags": ["cat", " mat ", "", "cat", 3, True, None]}
    assert sch.answer_caption('{"raw": 1}', data) == "a cat"
    assert sch.answer_caption("plain", None) == "plain"
    assert sch.answer_caption("raw json", {"people": 2}) == "raw json"
    assert sch.answer_keywords(data) == ["cat", "mat", "3"]
    assert sch.answer_keywords({"keywords": ["a"]}) == ["a"]
    assert sch.answer_keywords(None) == []


# -- the loopback server's JSON Mode (tests/fake_moonshot.py), which the CLI tests rely on --


def _chat(fake: FakeMoonshot, fmt: dict[str, object], text: str, model: str = "kimi-k2.6") -> tuple[int, str]:
    body = {"model": model, "response_format": fmt, "messages": [{"role": "user", "content": text}]}
    req = urllib.request.Request(
        fake.base_url + "/chat/completions", json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + fake.api_key},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())["choices"][0]["message"]["content"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_fake_answers_the_schema_in_the_prompt_and_queued_answers(fake: FakeMoonshot) -> None:
    s = sch.load("alt_text, tags: list, people: int, ok: bool")
    status, answer = _chat(fake, sch.RESPONSE_FORMAT, "Describe.\n\n" + s.instruction())
    assert status == 200
    assert set(s.parse(answer)) == {"alt_text", "tags", "people", "ok"}
    fake.state.answers.append('{"alt_text": 3}')
    assert _chat(fake, sch.RESPONSE_FORMAT, s.instruction()) == (200, '{"alt_text": 3}')
    assert s.parse(_chat(fake, sch.RESPONSE_FORMAT, s.instruction())[1])  # the queue is used up


def test_fake_takes_json_schema_where_moonshot_does(fake: FakeMoonshot) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    assert _chat(fake, fmt, "hi") == (200, '{"n": 1}')
    status, body = _chat(fake, fmt, "hi", model="moonshot-v1-8k-vision-preview")
    assert status == 400 and "response_format" in body and "json_schema" in body
    fake.state.refuse_json_schema = True
    assert _chat(fake, fmt, "hi")[0] == 400


def test_structured_retries_once_then_fails() -> None:
    s = sch.load("alt_text")
    answers = iter(["not json", '{"alt_text": "ok"}'])
    misses: list[str] = []
    assert sch.structured(s, lambda: next(answers), lambda e: misses.append(e.one_line())) == {
        "alt_text": "ok"
    }
    assert len(misses) == 1 and "not JSON" in misses[0]
    calls = []

    def bad() -> str:
        calls.append(1)
        return '{"alt_text": 1}'

    with pytest.raises(sch.SchemaMismatchError) as exc:
        sch.structured(s, bad)
    assert len(calls) == 2
    assert "alt_text: 1 is not of type 'string'" in exc.value.one_line()


def test_a_changed_schema_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"type": "object", "required": ["a"]}')
    assert sch.load(str(path)).schema["required"] == ["a"]
    path.write_text('{"type": "object", "required": ["a", "bb"]}')
    assert sch.load(str(path)).schema["required"] == ["a", "bb"]
