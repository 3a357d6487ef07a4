"""The loopback Moonshot server's account state and the values tests hand it.

`FakeState` is one account (its key, files, batches, limits, faults and recorded
requests); `Fault` and `Limits` are what a test injects; `Recorded` is what a test reads
back. The server is tests/fake_moonshot.py; tests import these names from there.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# A media part's inline form; ms://<file-id> is the other (tests/fake_files.py stores those).
DATA_URL = re.compile(r"^data:([a-z0-9.+-]+/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or raw bytes
    size: int
    # Seconds of each video part of a chat request, in order, as PyAV reads the bytes that
    # arrived (None: not decodable); tests see what was sent, e.g. the parts of --segment.
    videos: list[float | None] = field(default_factory=list)


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the next matching request."""

    status: int | None = None
    type: str = ""
    message: str = ""
    cut_after: int | None = None  # close the stream after N content chunks, no [DONE]
    finish_reason: str | None = None  # e.g. "length", "content_filter"
    malformed: bool = False  # send a chunk that is not JSON
    delay: float = 0.0  # sleep before answering
    # Chat only, an order of finishing fixed without a timed sleep: answered once this many
    # chat requests have arrived / ended on the account in all (`FakeState.chats`).
    hold_until_arrived: int = 0
    hold_until_ended: int = 0
    html: bool = False  # error body as an HTML page
    path: str = "/v1/chat/completions"


@dataclass(frozen=True)
class Limits:
    """An account's rate limits (tier 0 by default); `window` shortens Moonshot's minute."""

    concurrency: int | None = 1
    rpm: int | None = 3
    tpm: int | None = None
    tpd: int | None = None
    window: float = 60.0
    org: str = "org-f4k3acc0unt"
    ak: str = "ak-f4k3k3y"


@dataclass
class FakeState:
    api_key: str
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    latency: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_data: dict[str, bytes] = field(default_factory=dict)
    lock: threading.RLock = field(
        default_factory=threading.RLock
    )  # re-entered: batch results compose answers
    chunk_delay: float = 0.0
    record_bodies: bool = True
    max_files: int = 1000  # Moonshot's per-account file count; tests lower it
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: deque[str] = field(default_factory=deque)  # the next completions' raw text, in order
    reasonings: deque[str] = field(default_factory=deque)  # the next thinking completions' reasoning
    limits: Limits | None = None  # rate limits enforced on chat completions (None: unlimited)
    starts: deque[tuple[float, int]] = field(default_factory=deque)  # (when, tokens) of accepted chats
    tokens_today: int = 0
    rate_limited: int = 0  # rate-limit 429s answered
    prefixes: set[str] = field(default_factory=set)  # message prefixes seen: the context cache
    refuse_json_schema: bool = False  # every model refuses response_format json_schema (400)
    chats_arrived: int = 0  # chat requests received (refused ones too)
    chats_ended: int = 0  # chat requests taken on and ended: answered, cut or failed on the way
    chats: threading.Condition = field(default_factory=threading.Condition)  # guards both counts
