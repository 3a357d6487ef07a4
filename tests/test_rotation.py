"""Rotated phone clips stay upright wherever a clip is re-encoded (issue 23):
--downscale-video and re-encoded --segment parts turn the pixels, copied parts keep
the display matrix. Checked on the decoded picture: which corner is red."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kimi_vision_cli.media import segments
from kimi_vision_cli.media.rotation import quarter_turns, upright_size
from tests.media import red_corner, rotated_video, shown

# Counterclockwise display rotation -> where the red top-left quarter is seen.
SEEN = {90: "bottom-left", -90: "top-right"}


def sent_video_data(fake) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The bytes of every inline video part the server received, in request order."""
    out = []
    for req in fake.chat_requests:
        for part in req.body["messages"][-1]["content"]:
            if part["type"] == "video_url":
                out.append(base64.b64decode(part["video_url"]["url"].split(",", 1)[1]))
    return out


def test_quarter_turns_and_upright_size() -> None:
    assert [quarter_turns(r) for r in (0, 90, -90, 180, -180, 89.6, None)] == [0, 90, 270, 180, 180, 90, 0]
    assert upright_size(3840, 2160, -90) == (2160, 3840) and upright_size(3840, 2160, 180) == (3840, 2160)


@pytest.mark.parametrize("rotation", [90, -90])
def test_downscale_video_turns_a_rotated_clip_upright(kv, fake, tmp_path: Path, rotation: int) -> None:
    source = rotated_video(2200, 1080, rotation=rotation, seconds=0.3)  # shown 1080x2200: over 1080x2048
    assert red_corner(shown(source)) == SEEN[rotation]
    (tmp_path / "phone.mp4").write_bytes(source)
    r = kv("describe", "--downscale-video", "--format", "json", "phone.mp4")
    assert r.returncode == 0, r.stderr
    [m] = json.loads(r.stdout)[0]["media"]
    assert (m["width"], m["height"], m["original_width"], m["original_height"]) == (1004, 2048, 1080, 2200)
    assert m["resized"] is True and m["rotated"] is True
    [sent] = sent_video_data(fake)
    picture = shown(sent)
    assert picture.size == (1004, 2048) and red_corner(picture) == SEEN[rotation]


@pytest.mark.parametrize("rotation", [90, -90])
def test_segments_of_a_rotated_clip_are_upright_copied_or_reencoded(rotation: int) -> None:
    for gop, reencoded in ((20, False), (100, True)):  # a keyframe at each cut, or only the first
        segs = segments.cut(rotated_video(rotation=rotation, seconds=4, gop=gop), 2)
        assert [(s.reencoded, s.rotated) for s in segs] == [(reencoded, reencoded)] * 2
        for seg in segs:
            picture = shown(seg.data)
            assert picture.size == (48, 64) and red_corner(picture) == SEEN[rotation]


def test_reencoded_segments_sent_upright_say_rotated(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "phone.mp4").write_bytes(rotated_video(rotation=-90, seconds=4, gop=100))
    r = kv("describe", "--segment", "2s", "--format", "json", "phone.mp4")
    assert r.returncode == 0, r.stderr
    media = json.loads(r.stdout)[0]["media"]
    assert [(m["width"], m["height"], m["rotated"]) for m in media] == [(48, 64, True)] * 2
    assert [red_corner(shown(sent)) for sent in sent_video_data(fake)] == ["top-right"] * 2
