"""The loopback server must refuse what Moonshot refuses, or the end-to-end tests
prove nothing. Each case posts a hand-made body straight to it."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.media import image_bytes

PNG = base64.b64encode(image_bytes(8, 8, "PNG")).decode()


def post(fake, body: Any, key: str | None = None, path: str = "/chat/completions") -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    req = urllib.request.Request(
        fake.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key or fake.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {"raw": resp.read().decode()}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def image_msg(url: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "x"}],
        }
    ]


def test_accepts_a_good_request(fake) -> None:
    status, out = post(
        fake, {"model": "kimi-k2.6", "messages": image_msg(f"data:image/png;base64,{PNG}"), "stream": True}
    )
    assert status == 200
    assert out["raw"].rstrip().endswith("data: [DONE]")
    chunks = [json.loads(line[6:]) for line in out["raw"].splitlines() if line.startswith("data: {")]
    # reasoning first, then content, usage in choices[0] of the last chunk
    kinds = [next(iter(c["choices"][0]["delta"]), None) for c in chunks]
    assert kinds.index("reasoning_content") < kinds.index("content")
    assert "usage" in chunks[-1]["choices"][0]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        # content as a string holding serialised JSON parts
        (
            {
                "model": "kimi-k2.6",
                "messages": [
                    {
                        "role": "user",
                        "content": json.dumps(image_msg("data:image/png;base64,AA")[0]["content"]),
                    }
                ],
            },
            400,
            "array of parts",
        ),
        # a wrong data-URL MIME
        ({"model": "kimi-k2.6", "messages": image_msg(f"data:image/.png;base64,{PNG}")}, 400, "mime"),
        # bytes that are not what the MIME says
        (
            {"model": "kimi-k2.6", "messages": image_msg(f"data:image/jpeg;base64,{PNG}")},
            400,
            "does not match",
        ),
        # fixed sampling parameters on kimi-k2.6
        (
            {"model": "kimi-k2.6", "messages": image_msg(f"data:image/png;base64,{PNG}"), "temperature": 0.3},
            400,
            "temperature",
        ),
        (
            {"model": "kimi-k2.6", "messages": image_msg(f"data:image/png;base64,{PNG}"), "top_p": 0.5},
            400,
            "top_p",
        ),
        # thinking on another model
        (
            {
                "model": "moonshot-v1-8k-vision-preview",
                "messages": image_msg(f"data:image/png;base64,{PNG}"),
                "thinking": {"type": "enabled"},
            },
            400,
            "thinking",
        ),
        # video on a v1 model
        (
            {
                "model": "moonshot-v1-8k-vision-preview",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}
                        ],
                    }
                ],
            },
            400,
            "video",
        ),
        # unknown model
        (
            {"model": "kimi-k9", "messages": image_msg(f"data:image/png;base64,{PNG}")},
            404,
            "Not found the model kimi-k9",
        ),
        # URLs are not fetched by the API
        ({"model": "kimi-k2.6", "messages": image_msg("https://example.com/a.png")}, 400, "URLs"),
    ],
)
def test_refuses_what_moonshot_refuses(fake, body: dict, status: int, needle: str) -> None:
    got, out = post(fake, body)
    assert got == status
    assert needle in out["error"]["message"]
    assert out["error"]["type"] in ("invalid_request_error", "resource_not_found_error")


def test_accepts_the_fixed_value_itself(fake) -> None:
    status, _ = post(
        fake, {"model": "kimi-k2.6", "messages": image_msg(f"data:image/png;base64,{PNG}"), "top_p": 0.95}
    )
    assert status == 200


def test_bad_key_is_401_invalid_authentication(fake) -> None:
    status, out = post(
        fake, {"model": "kimi-k2.6", "messages": image_msg(f"data:image/png;base64,{PNG}")}, key="sk-nope"
    )
    assert status == 401
    assert out["error"]["type"] == "invalid_authentication_error"
    assert fake.chat_requests == []
