"""Issue 21, item 8: the Python API (`import kimi_vision_cli as kv`) on the CLI's core,
against the loopback server: records, typed errors, nothing printed, thread safety."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

import kimi_vision_cli as kv
from kimi_vision_cli.errors import AuthError, UsageError
from tests.media import image_bytes, write_image


def test_describe_yields_a_record_per_input_of_every_kind(env, fake, tmp_path: Path, capfd) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    inputs = [tmp_path / "a.png", image_bytes(30, 20), Image.new("RGB", (40, 10), "red")]
    records = list(kv.describe(inputs, prompt="Alt text.", concurrency=2, env=env))
    assert sorted(r.input for r in records) == sorted([str(tmp_path / "a.png"), "<bytes #2>", "<image #3>"])
    by_input = {r.input: r for r in records}
    assert "a 64x48 image/png image" in by_input[str(tmp_path / "a.png")].text
    assert "a 30x20 image/png image" in by_input["<bytes #2>"].text
    assert "a 40x10 image/png image" in by_input["<image #3>"].text
    for r in records:
        assert r.error is None and r.cost is not None and r.cost.amount > 0
        assert r.to_dict()["input"] == r.input  # the JSON contract's object
    assert {req.body["messages"][-1]["content"][-1]["text"] for req in fake.chat_requests} == {"Alt text."}
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # nothing printed


def test_a_bad_input_is_a_record_with_its_error_and_the_rest_go_on(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    records = {
        r.input: r for r in kv.describe([str(tmp_path / "a.png"), str(tmp_path / "gone.png")], env=env)
    }
    assert records[str(tmp_path / "a.png")].error is None
    err = records[str(tmp_path / "gone.png")].error
    assert err is not None and err.exit_code == 2
    assert len(fake.chat_requests) == 1


def test_schema_as_a_dict_gives_data(env, fake, tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"alt_text": {"type": "string"}},
        "required": ["alt_text"],
        "additionalProperties": False,
    }
    (rec,) = kv.describe(image_bytes(20, 10), schema=schema, env=env)
    assert rec.error is None
    assert isinstance(rec.data, dict) and isinstance(rec.data["alt_text"], str)


def test_bad_settings_are_the_clis_typed_errors_before_any_request(env, fake) -> None:
    with pytest.raises(UsageError, match="concurrency"):
        kv.describe([image_bytes()], concurrency=0, env=env)
    with pytest.raises(UsageError, match="shut down"):  # a retired model: refused as the CLI does
        kv.describe([image_bytes()], model="kimi-k2.5", env=env)
    with pytest.raises(TypeError, match="no_such_option"):
        kv.describe([image_bytes()], no_such_option=1, env=env)
    assert fake.chat_requests == []


def test_a_missing_key_raises_auth_error_not_system_exit(env, fake) -> None:
    env = {k: v for k, v in env.items() if k != "MOONSHOT_API_KEY"}
    with pytest.raises(AuthError):
        list(kv.describe([image_bytes()], env=env))
    with pytest.raises(AuthError):
        kv.ask("What is it?", [image_bytes()], env=env)


def test_a_missing_keys_error_says_what_to_do_in_its_str(env, fake) -> None:
    """A library user sees str(err) (a traceback's last line), not the CLI's hint."""
    env = {k: v for k, v in env.items() if k != "MOONSHOT_API_KEY"}
    for call in (lambda: kv.Client(env=env), lambda: kv.describe([image_bytes()], env=env)):
        with pytest.raises(AuthError) as raised:
            call()
        assert str(raised.value) == "no API key: set MOONSHOT_API_KEY or pass api_key="
        assert raised.value.exit_code == 3


def test_the_key_argument_wins_over_the_environment(env, fake) -> None:
    env = dict(env, MOONSHOT_API_KEY="sk-wrong")
    (rec,) = kv.describe([image_bytes()], api_key=fake.api_key, env=env)
    assert rec.error is None


def test_ask_returns_one_record_holding_every_input(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "before.png", 20, 10)
    rec = kv.ask("What changed?", [tmp_path / "before.png", image_bytes(30, 20)], env=env)
    assert rec.error is None
    assert "20x10" in rec.text and "30x20" in rec.text
    (req,) = fake.chat_requests
    assert req.body["messages"][-1]["content"][-1]["text"] == "What changed?"


def test_estimate_counts_tokens_without_a_chat_request(env, fake) -> None:
    (est,) = kv.estimate([image_bytes(64, 48)], env=env)
    assert est.error is None and est.tokens and est.tokens > 0
    assert fake.chat_requests == []


def test_describe_from_several_threads_at_once(env, fake) -> None:
    """Ray Data calls it from several workers: each call its own client and settings."""
    texts: dict[int, list[str]] = {}

    def one(n: int) -> None:
        texts[n] = [r.text for r in kv.describe([image_bytes(10 + n, 10)] * 2, concurrency=2, env=env)]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(texts) == [0, 1, 2, 3]
    for n, got in texts.items():
        assert len(got) == 2 and all(f"a {10 + n}x10 image/png image" in t for t in got)


def test_stopping_early_sends_no_more_requests(env, fake) -> None:
    records = kv.describe([image_bytes(10, 10)] * 12, concurrency=1, env=env)
    first = next(records)
    assert first.error is None
    records.close()  # the caller stops reading: the run is cancelled
    time.sleep(0.5)
    sent = len(fake.chat_requests)
    time.sleep(0.5)
    assert sent == len(fake.chat_requests) < 12


def test_import_stays_light() -> None:
    """`import kimi_vision_cli` loads no API until one is used (module __getattr__)."""
    code = (
        "import sys, json, kimi_vision_cli as kv; "
        "heavy = ('kimi_vision_cli.library', 'kimi_vision_cli.flows', 'openai', 'rich', 'PIL'); "
        "print(json.dumps([[m for m in heavy if m in sys.modules], callable(kv.describe)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [[], True]


def test_urls_and_uploaded_ids_are_inputs_too(env, fake) -> None:
    from tests.scenarios import web_server

    (uploaded,) = kv.describe([image_bytes(20, 10)], upload="always", env=env)
    file_id = uploaded.media[0]["file_id"]
    assert uploaded.error is None and file_id
    with web_server() as web:
        records = {r.input: r for r in kv.describe([f"{web}/image.png", f"ms://{file_id}"], env=env)}
    assert records[f"{web}/image.png"].error is None
    assert "a 20x10 image/png image" in records[f"{web}/image.png"].text
    assert records[f"ms://{file_id}"].error is None
    assert "a 20x10 image/png image" in records[f"ms://{file_id}"].text


def test_a_rejected_key_is_raised_without_the_key(env, fake) -> None:
    secret = "sk-not-this-one-0123456789"
    with pytest.raises(AuthError) as caught:
        list(kv.describe([image_bytes()] * 3, api_key=secret, env=env))
    err = caught.value
    assert err.exit_code == 3
    assert secret not in f"{err} {err.hint} {err.one_line()} {err!r}"


def test_a_host_given_to_the_api_paces_on_its_clock(env, fake) -> None:  # type: ignore[no-untyped-def]
    """host= (runner/host.py): describe and ask pace on the given clock. After a 429 that
    names 3 requests a minute, starts are 22 s apart there, and no time passes for real."""
    from kimi_vision_cli.runner.host import Host
    from tests.clock import FakeClock
    from tests.fake_moonshot import Fault

    rpm = Fault(
        status=429, type="rate_limit_reached_error",
        message="Your account org-1<ak-1> request reached organization max RPM: 3, please try again after 1 seconds",
    )  # fmt: skip
    fake.inject(rpm)
    clock = FakeClock()
    inputs = [image_bytes(20, 10), image_bytes(30, 10)]
    records = list(kv.describe(inputs, concurrency=1, env=env, host=Host(clock=clock)))
    assert [r.error for r in records] == [None, None]
    assert [round(w, 6) for w in clock.waits] == [22.0, 22.0]  # the retry, then the next input
    fake.inject(rpm)
    asked = FakeClock()
    assert kv.ask("Which is wider?", inputs, env=env, host=Host(clock=asked)).error is None
    assert [round(w, 6) for w in asked.waits] == [22.0]


def test_a_duration_given_as_a_number_is_checked_as_its_text_is(env, fake) -> None:
    """`segment` is typed `float | str`: a number is read as --segment reads "30", and a
    bad one is the same UsageError, not taken unchecked."""
    with pytest.raises(UsageError, match=r"--segment '0\.5' must be at least 1s"):
        kv.estimate([image_bytes()], segment=0.5, env=env)
    with pytest.raises(UsageError, match=r"--max-segment '-3' is not a duration"):
        kv.describe([image_bytes()], segment="scenes", max_segment=-3, env=env)
    (est,) = kv.estimate([image_bytes()], segment=30, env=env)  # taken: 30 s segments
    assert est.error is not None and est.error.message == "--segment cuts videos, this is an image"
    assert fake.chat_requests == []


def test_a_keyword_the_command_does_not_take_is_refused_not_ignored(env, fake) -> None:
    """segment=30 to ask cut no video, concurrency=64 to estimate sent nothing at once:
    both were accepted and ignored. A call, a function's or a Client's, takes only its
    command's keywords; a Client's own may be any (it serves every command)."""
    png = image_bytes()
    with pytest.raises(TypeError, match=r"ask\(\) takes no keyword segment"):
        kv.ask("What is it?", [png], segment=30, env=env)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"estimate\(\) takes no keyword concurrency, max_cost"):
        kv.estimate([png], concurrency=64, max_cost=1.0, env=env)  # type: ignore[call-arg]
    with kv.Client(env=env, concurrency=4) as client:
        with pytest.raises(TypeError, match=r"ask\(\) takes no keyword max_memory"):
            client.ask("What is it?", [png], max_memory=1)  # type: ignore[call-arg]
        assert client.ask("What is it?", [png]).error is None  # its own concurrency: fine
    assert len(fake.chat_requests) == 1
