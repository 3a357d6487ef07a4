"""The pure request plan (plan.py): the inline-or-upload decision, the one-file size
check, and the body describe/ask/estimate/batch/--dry-run share. No server, no network."""

from __future__ import annotations

import pytest

from kimi_vision_cli import plan as planning
from kimi_vision_cli.errors import ExitCode, InputError, UsageError
from kimi_vision_cli.plan import Prepared, plan
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.types import MediaRef
from tests.media import image_bytes

MB = 1024 * 1024
LIMIT = 100 * MB


def _image(name: str = "a.png", w: int = 32, h: int = 24) -> Prepared:
    data = image_bytes(w, h, "PNG")
    return Prepared(name, MediaRef("image", "image/png", data=data), {"mime": "image/png", "width": w})


def _video(name: str = "v.mp4") -> Prepared:
    return Prepared(name, MediaRef("video", "video/mp4", data=b"\0" * 64), {"mime": "video/mp4"})


def _uploaded(file_id: str = "f-1", kind: str = "image") -> Prepared:
    return Prepared(f"ms://{file_id}", MediaRef(kind, "", file_id=file_id), {"mime": None})


# -- the transport decision ----------------------------------------------------------------


def test_everything_inline_when_it_fits() -> None:
    assert planning.choose_uploads([10 * MB, 20 * MB], mode="auto") == set()


def test_auto_uploads_the_largest_first_until_the_rest_fits() -> None:
    # 80 + 50 + 30 = 160 MB: dropping the 80 MB part leaves 80 MB, under the budget.
    assert planning.choose_uploads([50 * MB, 80 * MB, 30 * MB], mode="auto") == {1}


def test_auto_uploads_several_when_one_is_not_enough() -> None:
    assert planning.choose_uploads([60 * MB, 60 * MB, 60 * MB], mode="auto") == {0, 1}


def test_margin_and_fixed_part_count() -> None:
    just_under = LIMIT - planning.MARGIN
    assert planning.choose_uploads([just_under], mode="auto") == set()
    assert planning.choose_uploads([just_under], mode="auto", fixed=1) == {0}


def test_always_uploads_every_part() -> None:
    assert planning.choose_uploads([1, 2, 3], mode="always") == {0, 1, 2}


def test_never_refuses_an_oversized_body_naming_the_limit() -> None:
    with pytest.raises(InputError) as info:
        planning.choose_uploads([70 * MB, 70 * MB], mode="never")
    assert "140 MiB, over Moonshot's 100 MiB limit" in info.value.message
    assert info.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize(
    ("kinds", "has", "lacks"),
    [
        (["video", "video"], "--downscale-video", "--max-size"),  # issue 19, item 18: not an image option
        (["image", "image"], "--max-size", "--downscale-video"),
        (["image", "video"], "--max-size for images, use --downscale-video", "MB"),
    ],
)
def test_never_names_the_way_to_shrink_what_was_given(kinds: list[str], has: str, lacks: str) -> None:
    with pytest.raises(InputError) as info:
        planning.choose_uploads([70 * MB, 70 * MB], mode="never", kinds=kinds)
    assert has in (info.value.hint or "") and lacks not in (info.value.hint or "")


def test_never_is_fine_under_the_limit() -> None:
    assert planning.choose_uploads([10 * MB], mode="never") == set()


def test_check_file_size() -> None:
    planning.check_file_size(100 * MB, "ok.mp4")
    with pytest.raises(InputError) as info:
        planning.check_file_size(105_015_014, "big.mp4")
    # 105,015,014 bytes are 100.2 MiB (105.0 MB): the unit printed is the one computed
    assert info.value.input == "big.mp4"
    assert info.value.message == "100.2 MiB after preparation, over Moonshot's 100 MiB file limit"
    assert "--downscale-video" in (info.value.hint or "") and "--max-size" not in (info.value.hint or "")
    with pytest.raises(InputError) as info:
        planning.check_file_size(105_015_014, "big.png", "image")
    assert "--max-size" in (info.value.hint or "") and "--downscale-video" not in (info.value.hint or "")


# -- the plan: body shape ---------------------------------------------------------------------


def test_one_image_inline_with_the_default_prompt() -> None:
    planned = plan([_image()], None, Settings())
    assert planned.input == "a.png" and planned.uploads == frozenset()
    body = planned.body
    assert body["model"] == "kimi-k2.6" and body["stream"] is True
    assert body["thinking"] == {"type": "enabled"} and "temperature" not in body
    (user,) = body["messages"]
    image, text = user["content"]
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
    assert text == {"type": "text", "text": "Describe the content of the image."}
    assert planned.records[0]["transport"] == "inline" and planned.records[0]["file_id"] is None


def test_video_gets_a_video_part_and_the_video_prompt() -> None:
    body = plan([_video()], None, Settings()).body
    video, text = body["messages"][-1]["content"]
    assert video["type"] == "video_url" and video["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert text["text"] == "Describe the content of the video."


def test_an_uploaded_file_id_is_an_ms_reference() -> None:
    planned = plan([_uploaded("abc", "video")], None, Settings())
    part = planned.body["messages"][-1]["content"][0]
    assert part == {"type": "video_url", "video_url": {"url": "ms://abc"}}
    assert planned.uploads == frozenset()  # already uploaded: nothing to do
    assert planned.records[0]["transport"] == "upload" and planned.records[0]["file_id"] == "abc"


def test_system_prompt_prefix_and_settings_in_the_body() -> None:
    s = Settings().with_(system="Be terse.", max_tokens=99, json_mode=True, thinking=False)
    body = plan([_image()], "What is it?", s, prefix="It is").body
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert body["messages"][0]["content"] == "Be terse."
    assert body["messages"][-1] == {"role": "assistant", "content": "It is", "partial": True}
    assert body["messages"][1]["content"][-1]["text"] == "What is it?"
    assert body["max_tokens"] == 99 and body["response_format"] == {"type": "json_object"}
    assert body["thinking"] == {"type": "disabled"}


def test_prompt_flag_replaces_the_default_and_ask_labels_every_input() -> None:
    planned = plan([_image("a.png"), _image("b.png")], None, Settings().with_(prompt="Colours?"))
    assert planned.input == "a.png, b.png"
    parts = planned.body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"] and parts[-1][
        "text"
    ] == "Colours?"


def test_a_follow_up_carries_the_history_and_no_media() -> None:
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "answer"}]
    body = plan([], "and then?", Settings().with_(system="S"), label="a.png", history=history).body
    assert body["messages"] == [
        {"role": "system", "content": "S"},
        *history,
        {"role": "user", "content": "and then?"},
    ]


def test_batch_lines_do_not_stream_and_stay_inline() -> None:
    planned = plan([_image()], None, Settings().with_(upload="always"), stream=False, can_upload=False)
    assert "stream" not in planned.body and planned.uploads == frozenset()


def test_v1_models_take_temperature_and_refuse_video() -> None:
    s = Settings().with_(model="moonshot-v1-8k-vision-preview", temperature=0.3)
    body = plan([_image()], None, s).body
    assert body["temperature"] == 0.3 and "thinking" not in body
    with pytest.raises(UsageError, match="cannot take video"):
        plan([_video()], None, s)


def test_k2_refuses_temperature_before_any_network_call() -> None:
    with pytest.raises(UsageError, match="sampling is fixed"):
        plan([_image()], None, Settings().with_(temperature=0.5))


# -- the plan: what to upload -----------------------------------------------------------------


def test_media_to_upload_are_placeholders_until_uploaded() -> None:
    planned = plan([_image("a.png"), _uploaded("old")], None, Settings().with_(upload="always"))
    assert planned.uploads == frozenset({0})  # the ms:// one is uploaded already
    assert [i for i, _ in planned.pending] == [0]
    url = planned.body["messages"][-1]["content"][0]["image_url"]["url"]
    assert url == "ms://<upload: a.png>"
    assert planned.records[0]["transport"] == "upload" and planned.records[0]["file_id"] is None
    # what the tokenizer counts: the real pixels, whatever travels
    inline = planned.messages(inline=True)[-1]["content"][0]["image_url"]["url"]
    assert inline.startswith("data:image/png;base64,")

    sent = planned.uploaded(0, "new-id", cached=True)
    assert sent.uploads == frozenset() and sent.pending == []
    assert sent.body["messages"][-1]["content"][0]["image_url"]["url"] == "ms://new-id"
    assert sent.records[0]["file_id"] == "new-id" and sent.records[0]["cached"] is True
    assert planned.uploads == frozenset({0})  # plans are values: the first is unchanged


def test_planning_does_not_touch_the_prepared_records() -> None:
    p = _image()
    before = dict(p.record)
    plan([p], None, Settings().with_(upload="always"))
    assert p.record == before


def test_an_upload_over_the_file_limit_is_refused_by_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    small = _image("small.png", 8, 8)
    big = _image("big.png", 64, 64)
    monkeypatch.setattr(planning, "UPLOAD_LIMIT", len(small.ref.data or b""))
    with pytest.raises(InputError) as info:
        plan([small, big], None, Settings().with_(upload="always"))
    assert info.value.input == "big.png" and "MiB file limit" in info.value.message
    assert "--max-size" in (info.value.hint or "")
    # inline, the same media are fine: the file limit is for uploads
    assert plan([small, big], None, Settings().with_(upload="never")).uploads == frozenset()
