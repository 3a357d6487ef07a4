"""config.toml and precedence: flag > environment > config file > default; a bad file
is one line naming the file and the line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.media import write_image

UNREACHABLE = "http://127.0.0.1:9/v1"  # discard port: nothing listens there


@pytest.fixture
def cfg(env: dict[str, str]) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "kimi-vision" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


@pytest.fixture
def img(tmp_path: Path) -> str:
    write_image(tmp_path / "a.png", 64, 48)
    return "a.png"


def _dry(kv, *args: str, **kw) -> dict:  # type: ignore[no-untyped-def]
    r = kv("describe", *args, "--dry-run", **kw)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _endpoint(kv, *args: str, extra_env: dict[str, str] | None = None) -> str:  # type: ignore[no-untyped-def]
    r = kv("estimate", "a.png", "--dry-run", *args, extra_env=extra_env)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stderr.splitlines() if "would POST" in ln)
    return line.split("would POST ", 1)[1].split("/tokenizers", 1)[0]


def test_file_sets_model_prompt_max_tokens(kv, cfg: Path, img: str) -> None:
    cfg.write_text('model = "moonshot-v1-8k-vision-preview"\nprompt = "List the colours."\nmax_tokens = 77\n')
    body = _dry(kv, img)
    assert body["model"] == "moonshot-v1-8k-vision-preview"
    assert body["max_tokens"] == 77
    assert body["messages"][-1]["content"][-1]["text"] == "List the colours."


def test_env_beats_file_and_flag_beats_env(kv, cfg: Path, img: str) -> None:
    cfg.write_text('model = "moonshot-v1-8k-vision-preview"\nmax_tokens = 77\n')
    env = {"KIMI_VISION_MODEL": "moonshot-v1-32k-vision-preview", "KIMI_VISION_MAX_TOKENS": "88"}
    body = _dry(kv, img, extra_env=env)
    assert (body["model"], body["max_tokens"]) == ("moonshot-v1-32k-vision-preview", 88)
    body = _dry(kv, img, "-m", "moonshot-v1-128k-vision-preview", "--max-tokens", "99", extra_env=env)
    assert (body["model"], body["max_tokens"]) == ("moonshot-v1-128k-vision-preview", 99)


def test_default_without_file(kv, img: str) -> None:
    body = _dry(kv, img)
    assert body["model"] == "kimi-k2.6" and "max_tokens" not in body


def test_file_base_url_is_used(kv, fake, cfg: Path, img: str) -> None:
    cfg.write_text(f'base_url = "{fake.base_url}"\n')
    r = kv("describe", img, extra_env={"MOONSHOT_BASE_URL": ""})
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 1


def test_env_base_url_beats_file_and_flag_beats_env(kv, fake, cfg: Path, img: str) -> None:
    cfg.write_text(f'base_url = "{UNREACHABLE}"\n')
    assert kv("describe", img).returncode == 0  # env MOONSHOT_BASE_URL (the fake) wins over the file
    r = kv("describe", img, "--base-url", fake.base_url, extra_env={"MOONSHOT_BASE_URL": UNREACHABLE})
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 2


def test_region_picks_the_endpoint(kv, cfg: Path, img: str) -> None:
    no_env = {"MOONSHOT_BASE_URL": ""}
    assert _endpoint(kv, extra_env=no_env) == "https://api.moonshot.ai/v1"
    assert _endpoint(kv, "--region", "cn", extra_env=no_env) == "https://api.moonshot.cn/v1"
    assert _endpoint(kv, extra_env={**no_env, "KIMI_VISION_REGION": "cn"}) == "https://api.moonshot.cn/v1"
    cfg.write_text('region = "cn"\n')
    assert _endpoint(kv, extra_env=no_env) == "https://api.moonshot.cn/v1"
    assert _endpoint(kv, "--region", "global", extra_env=no_env) == "https://api.moonshot.ai/v1"


def test_base_url_and_moonshot_base_url_beat_region(kv, fake, cfg: Path, img: str) -> None:
    cfg.write_text('region = "cn"\n')
    # env MOONSHOT_BASE_URL beats a region from the file and from the flag
    assert _endpoint(kv) == fake.base_url
    assert _endpoint(kv, "--region", "cn") == fake.base_url
    # --base-url beats everything
    assert _endpoint(kv, "--region", "cn", "--base-url", "http://127.0.0.1:1/v1") == "http://127.0.0.1:1/v1"
    # a region given as env or flag beats a base_url from the file (env/flag > file)
    cfg.write_text(f'base_url = "{UNREACHABLE}"\n')
    assert (
        _endpoint(kv, "--region", "cn", extra_env={"MOONSHOT_BASE_URL": ""}) == "https://api.moonshot.cn/v1"
    )


def test_concurrency_from_file(kv, fake, cfg: Path, tmp_path: Path) -> None:
    for name in "abc":
        write_image(tmp_path / f"{name}.png", 32, 32)
    fake.state.latency = 0.4
    cfg.write_text("concurrency = 1\n")
    r = kv("describe", "a.png", "b.png", "c.png")
    assert r.returncode == 0, r.stderr
    assert fake.state.max_in_flight == 1


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ('model = "kimi-k2.5"\nmax_tokens = = 3\n', 2, "invalid TOML"),
        ('model = "kimi-k2.5"\n\ncolour = "red"\n', 3, "unknown key 'colour'"),
        ('model = "kimi-k2.5"\nmax_tokens = "many"\n', 2, "'max_tokens'"),
        ('region = "eu"\n', 1, "region = 'eu' is not one of global, cn"),
        ('upload = "sometimes"\n', 1, "upload"),
        ('max_size = "big"\n', 1, "max_size"),
        ('model = "kimi-k2.5"\n[prices."kimi-k2.5"]\ninput = 0.6\n', 2, "lacks output"),
        ('[prices."kimi-k2.5"]\ninput = "cheap"\noutput = 3\n', 1, "prices.kimi-k2.5.input must be a number"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_line(
    kv, fake, cfg: Path, img: str, text: str, line: int, what: str
) -> None:
    cfg.write_text(text)
    r = kv("describe", img)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    (message,) = r.stderr.strip().splitlines()
    assert message.startswith(f"kimi-vision: error: {cfg}: ")
    assert what in message
    assert f"line {line}" in message
    assert fake.state.requests == []


def test_bad_file_stops_every_command(kv, fake, cfg: Path) -> None:
    cfg.write_text("this is not toml\n")
    for args in (("models",), ("estimate", "a.png")):
        r = kv(*args)
        assert r.returncode == 2 and str(cfg) in r.stderr and "line 1" in r.stderr
