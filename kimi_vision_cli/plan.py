"""The request plan, pure (no network, no printing): prepared media + prompt + settings
-> Planned. describe, ask, estimate, batch submit and --dry-run share it, so what is
estimated or shown is what is sent.

A Planned holds the transport decision (inline or upload, per medium), the request
body, and what must be uploaded before the body can go: those media appear in the body
as `ms://<upload: INPUT>` placeholders until flows/upload.py replaces them with the ids
Moonshot gives (`Planned.uploaded`).

Inline or upload is decided from the request-body size alone. Moonshot caps a body at
100 MB: `auto` inlines everything while the body stays under the limit less a margin
(JSON framing, prompt, history), and otherwise uploads the largest media first until
the rest fits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kimi_vision_cli import schema as schemas
from kimi_vision_cli.errors import InputError, UsageError
from kimi_vision_cli.moonshot import BODY_LIMIT, DEFAULT_MODEL, FILE_LIMIT, Model, flag_and_field, mib
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.types import MediaRef

if TYPE_CHECKING:
    from kimi_vision_cli.settings_types import Upload

DEFAULT_PROMPTS = {
    "image": "Describe the content of the image.",
    "video": "Describe the content of the video.",
}
# Headroom for the JSON around the parts, the prompt, history and multipart framing.
MARGIN = 2 * 1024 * 1024
UPLOAD_LIMIT = FILE_LIMIT


@dataclass(frozen=True)
class Prepared:
    """One input read, sniffed and prepared (runner/prepare.py): what to send, and what
    the `media` entry of its JSON record says about it."""

    input: str
    ref: MediaRef
    record: dict[str, Any]


# -- the transport decision --------------------------------------------------------------


def shrink_hint(kinds: Sequence[str]) -> str:
    """How to make these media smaller: --max-size bounds images only, videos have their
    own options (issue 19, item 18)."""
    image, video = "lower --max-size", "use --downscale-video (describe: or --segment)"
    if "video" not in kinds:
        return image
    return video if "image" not in kinds else f"{image} for images, {video} for videos"


def choose_uploads(
    inline_sizes: list[int], *, mode: Upload = "auto", fixed: int = 0, limit: int = BODY_LIMIT,
    kinds: Sequence[str] = (),
) -> set[int]:  # fmt: skip
    """Indices of the media to upload.

    `inline_sizes[i]` is what part i adds to the body when inlined (base64 included);
    `fixed` is the rest of the body (prompt, history, framing).
    """
    budget = limit - MARGIN - fixed
    if mode == "always":
        return set(range(len(inline_sizes)))
    total = sum(inline_sizes)
    if total <= budget:
        return set()
    if mode == "never":
        raise InputError(
            f"request body would be {mib(total + fixed)}, over Moonshot's {mib(limit)} limit",
            hint=f"use --upload auto or --upload always, or {shrink_hint(kinds)}",
        )
    chosen: set[int] = set()
    for i in sorted(range(len(inline_sizes)), key=lambda i: -inline_sizes[i]):
        if total <= budget:
            break
        chosen.add(i)
        total -= inline_sizes[i]
    return chosen


def check_file_size(size: int, name: str, kind: str = "video") -> None:
    if size > UPLOAD_LIMIT:
        hint = (
            "lower --max-size (or drop --no-resize)"
            if kind == "image"
            else "shorten it or use --downscale-video (describe: or --segment)"
        )
        raise InputError(
            f"{mib(size)} after preparation, over Moonshot's {mib(UPLOAD_LIMIT)} file limit",
            input=name,
            hint=hint,
        )


# -- messages and body -----------------------------------------------------------------


def default_prompt(kinds: list[str]) -> str:
    return (
        DEFAULT_PROMPTS["video"] if kinds and all(k == "video" for k in kinds) else DEFAULT_PROMPTS["image"]
    )


def check_model(settings: Settings) -> None:
    """What no input can change, refused before any input is read (moonshot.MODELS):
    a retired model, and the settings its family does not take."""
    spec, model = settings.spec, settings.request.model
    if spec.retired:
        raise UsageError(
            f"{model} was shut down by Moonshot on {spec.retired}", hint=f"use -m {spec.successor} instead"
        )
    family = spec.family
    if settings.request.temperature is not None and family.fixed_sampling:
        raise UsageError(
            f"{flag_and_field('temperature')} cannot be set for {model}: its sampling is fixed",
            hint="drop --temperature, or use a moonshot-v1-*-vision-preview model",
        )
    if settings.request.effort is not None and not family.efforts:
        raise UsageError(
            f"{flag_and_field('reasoning_effort')} cannot be set for {model}: it takes no reasoning effort",
            hint="drop --effort, or use -m kimi-k3",
        )
    if not settings.request.thinking and family.thinking == "always":
        given = "--no-thinking" if "thinking" in settings.flags_given else "thinking = false (config file)"
        said = flag_and_field("thinking", given) if given == "--no-thinking" else given
        raise UsageError(f"{said} cannot be set for {model}: it always thinks", hint=f"drop {given}")
    if settings.request.temperature is not None and not 0 <= settings.request.temperature <= 1:
        raise UsageError(
            f"{flag_and_field('temperature')} must be between 0 and 1, got {settings.request.temperature}"
        )


def check_settings(settings: Settings, kinds: list[str]) -> None:
    """Refuse, before any network call, what the API would refuse for this model."""
    check_model(settings)
    spec: Model = settings.spec
    if "video" in kinds and not spec.video:
        raise UsageError(
            f"model {settings.request.model} cannot take video input",
            hint=f"use -m {DEFAULT_MODEL} for video",
        )
    if "image" in kinds and not spec.image:
        raise UsageError(
            f"model {settings.request.model} cannot take image input", hint=f"use -m {DEFAULT_MODEL}"
        )


def media_part(ref: MediaRef, url: str | None = None, *, wire: bool = False) -> dict[str, Any]:
    """wire=True: inline media stay a MediaRef where the data URL goes, for the chat
    transport to base64-encode as it sends (api/transport.py), not held whole in memory."""
    key = "video_url" if ref.kind == "video" else "image_url"
    if wire and url is None and ref.data is not None:
        return {"type": key, key: {"url": ref}}
    return {"type": key, key: {"url": url or ref.url}}


def user_message(parts: list[dict[str, Any]], text: str) -> dict[str, Any]:
    """Moonshot wants a list of parts (never a string holding JSON): media, then text."""
    if not parts:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [*parts, {"type": "text", "text": text}]}


def build_messages(
    settings: Settings,
    turn: dict[str, Any],
    *,
    history: Sequence[dict[str, Any]] = (),
    prefix: str | None = None,
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if settings.request.system:
        messages.append({"role": "system", "content": settings.request.system})
    messages.extend(history)
    messages.append(turn)
    if prefix:
        # Partial Mode: the model continues this assistant message.
        messages.append({"role": "assistant", "content": prefix, "partial": True})
    return messages


def build_body(
    settings: Settings, messages: list[dict[str, Any]], *, stream: bool = True, json_object: bool = False
) -> dict[str, Any]:
    """The body as moonshot.MODELS says this model's family takes it. json_object: the
    --schema goes as JSON Mode (the schema is in the prompt), not as json_schema."""
    family = settings.spec.family
    body: dict[str, Any] = {"model": settings.request.model, "messages": messages}
    if stream:
        body["stream"] = True
    if settings.request.max_tokens is not None:
        body[family.limit_param] = settings.request.max_tokens
    if family.thinking == "switch":
        body["thinking"] = {"type": "enabled" if settings.request.thinking else "disabled"}
    if settings.request.effort is not None and family.efforts:
        body["reasoning_effort"] = settings.request.effort
    # Fixed sampling parameters are never sent: any other value is a 400.
    if settings.request.temperature is not None and not family.fixed_sampling:
        body["temperature"] = settings.request.temperature
    if settings.request.schema is not None and family.json_schema and not json_object:
        body["response_format"] = schemas.json_schema_format(schemas.load(settings.request.schema))
    elif settings.request.json_mode or settings.request.schema is not None:
        body["response_format"] = dict(schemas.RESPONSE_FORMAT)
    return body


def schema_in_prompt(settings: Settings) -> bool:
    """--schema as JSON Mode with the schema described in the prompt: where the family
    takes no json_schema (else the schema travels in response_format)."""
    return settings.request.schema is not None and not settings.spec.family.json_schema


def upload_placeholder(p: Prepared) -> str:
    """What a medium still to upload looks like in a body (only ever shown, never sent)."""
    return f"ms://<upload: {p.input}>"


# -- the plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One request, decided: its media (records saying inline or upload), the indices of
    those still to upload, and everything the body is built from."""

    input: str  # what the request is for: "a.png", or "a.png, b.png" for ask
    media: tuple[Prepared, ...]
    uploads: frozenset[int]
    prompt: str
    settings: Settings
    history: tuple[dict[str, Any], ...] = ()
    prefix: str | None = None
    stream: bool = True
    json_object: bool = True  # a --schema goes as JSON Mode (already in the prompt), not json_schema

    @property
    def records(self) -> list[dict[str, Any]]:
        return [p.record for p in self.media]

    @property
    def pending(self) -> list[tuple[int, Prepared]]:
        """(index, medium) of what must be uploaded before the body can be sent."""
        return [(i, self.media[i]) for i in sorted(self.uploads)]

    def turn(self, *, inline: bool = False, wire: bool = False) -> dict[str, Any]:
        """The user message of this request. inline=True puts every medium's bytes in
        (what the tokenizer counts: a medium costs the same tokens either way)."""
        parts = [
            media_part(p.ref, upload_placeholder(p) if i in self.uploads and not inline else None, wire=wire)
            for i, p in enumerate(self.media)
        ]
        return user_message(parts, self.prompt)

    def messages(self, *, inline: bool = False, wire: bool = False) -> list[dict[str, Any]]:
        return build_messages(
            self.settings, self.turn(inline=inline, wire=wire), history=self.history, prefix=self.prefix
        )

    @property
    def body(self) -> dict[str, Any]:
        """The request body; media still to upload appear as placeholders."""
        return build_body(self.settings, self.messages(), stream=self.stream, json_object=self.json_object)

    @property
    def wire_body(self) -> dict[str, Any]:
        """The body as sent: inline media left as MediaRefs (see media_part)."""
        return build_body(
            self.settings, self.messages(wire=True), stream=self.stream, json_object=self.json_object
        )

    @property
    def via_json_schema(self) -> bool:
        return self.settings.request.schema is not None and not self.json_object

    def as_json_object(self) -> Planned:
        """This request with --schema as JSON Mode, the schema described in the prompt:
        what a service that refuses json_schema gets (runner/send.py)."""
        if not self.via_json_schema:
            return self
        assert self.settings.request.schema is not None
        text = f"{self.prompt}\n\n{schemas.load(self.settings.request.schema).instruction()}"
        return replace(self, prompt=text, json_object=True)

    def uploaded(self, index: int, file_id: str, *, cached: bool = False) -> Planned:
        """This plan once media[index] is uploaded as `file_id`: its part becomes ms://ID."""
        p = self.media[index]
        record = {**p.record, "transport": "upload", "file_id": file_id, "cached": cached}
        done = Prepared(p.input, MediaRef(p.ref.kind, p.ref.mime, file_id=file_id), record)
        media = (*self.media[:index], done, *self.media[index + 1 :])
        return replace(self, media=media, uploads=self.uploads - {index})


def plan(
    media: Sequence[Prepared],
    prompt: str | None,
    settings: Settings,
    *,
    label: str | None = None,
    history: Sequence[dict[str, Any]] = (),
    prefix: str | None = None,
    stream: bool = True,
    can_upload: bool = True,
) -> Planned:
    """Decide one request. `prompt` None: -p/--prompt, else the default for the media.
    `can_upload=False` (Batch API lines) keeps every medium inline whatever its size.
    Raises UsageError/InputError for what Moonshot would refuse, before any upload."""
    kinds = [p.ref.kind for p in media]
    check_settings(settings, kinds)
    text = prompt if prompt is not None else (settings.request.prompt or default_prompt(kinds))
    if schema_in_prompt(settings):
        # Moonshot's JSON Mode wants the object described in the prompt (schema.py).
        text = f"{text}\n\n{schemas.load(settings.request.schema).instruction()}"  # type: ignore[arg-type]
    chosen: set[int] = set()
    if can_upload:
        fixed = (
            len(text.encode()) + len((settings.request.system or "").encode()) + len((prefix or "").encode())
        )
        fixed += len(json.dumps(list(history), ensure_ascii=False).encode()) if history else 0
        sizes = [p.ref.inline_size if p.ref.data is not None else 0 for p in media]
        picked = choose_uploads(sizes, mode=settings.media.upload, fixed=fixed, kinds=kinds)
        chosen = {i for i in picked if media[i].ref.data is not None}
    # Every size check before the first upload: a refused file must not leave others behind.
    for i in sorted(chosen):
        data = media[i].ref.data
        assert data is not None
        check_file_size(len(data), media[i].input, media[i].ref.kind)
    placed = tuple(_placed(p, i in chosen) for i, p in enumerate(media))
    return Planned(
        input=label if label is not None else ", ".join(p.input for p in media),
        media=placed,
        uploads=frozenset(chosen),
        prompt=text,
        settings=settings,
        history=tuple(history),
        prefix=prefix,
        stream=stream,
        json_object=not (settings.request.schema is not None and settings.spec.family.json_schema),
    )


def _placed(p: Prepared, upload: bool) -> Prepared:
    """The medium with its record saying how it travels (a copy: plans do not mutate)."""
    record = dict(p.record)
    if p.ref.file_id is not None:
        record.setdefault("transport", "upload")
        record.setdefault("file_id", p.ref.file_id)
    else:
        record.update(transport="upload" if upload else "inline", file_id=None)
    return Prepared(p.input, p.ref, record)
