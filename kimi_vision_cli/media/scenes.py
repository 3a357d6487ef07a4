"""Where the picture changes: `describe --segment scenes` (issue 23).

People who caption video want one caption per shot, and a fixed grid cuts across
shots. The shots are found by PySceneDetect (scenedetect.com), the library made for
it, with its ContentDetector (a change of hue, saturation and lightness between frames)
on the PyAV decoding already installed. The `scenes` extra installs its headless
build (`scenedetect-headless`: the same package, with an OpenCV that needs no libGL,
so it imports on servers and in containers). Imported only for `--segment scenes`:
it costs about 0.6 s (OpenCV and numpy).
"""

from __future__ import annotations

from kimi_vision_cli.buffers import MediaBytes, ViewReader
from kimi_vision_cli.errors import UsageError

_INSTALL_HINT = "install the scenes extra: pip install 'kimi-vision[scenes]'"


def check(low: float, high: float) -> None:
    """Before any input is read: the bounds make sense and PySceneDetect is there (exit 2)."""
    import importlib.util

    if low > high:
        raise UsageError(
            f"--min-segment {low:g}s is longer than --max-segment {high:g}s", hint="lower --min-segment"
        )
    if importlib.util.find_spec("scenedetect") is None:
        raise UsageError("--segment scenes needs PySceneDetect", hint=_INSTALL_HINT)


def scene_starts(data: MediaBytes, *, name: str | None = None) -> list[float]:
    """The seconds, from the first decoded frame, at which each shot after the first starts."""
    try:
        from scenedetect import ContentDetector, SceneManager
        from scenedetect.backends.pyav import VideoStreamAv
    except ImportError:
        raise UsageError("--segment scenes needs PySceneDetect", input=name, hint=_INSTALL_HINT) from None
    with ViewReader(data) as file:
        # suppress_output: else PySceneDetect sends FFmpeg's log to our stdout, which holds answers.
        video = VideoStreamAv(file, name=name or "video", suppress_output=True)
        manager = SceneManager()
        manager.add_detector(ContentDetector())
        manager.detect_scenes(video)
        scenes = manager.get_scene_list()
    return [float(start.seconds) for start, _end in scenes[1:]]
