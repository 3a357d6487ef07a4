"""Issue 24 (item 3) and 21 (item 8): `kv.Client`, one connection to Moonshot for many
calls, against the loopback server: one HTTP client and one SDK client for every call,
the pacing a 429 taught in one call still in force in the next, typed errors, nothing
printed, the key in no repr."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import kimi_vision_cli as kv
from kimi_vision_cli.errors import AuthError, UsageError
from tests.fake_moonshot import Fault
from tests.media import image_bytes


def test_one_client_makes_one_http_and_one_sdk_client_for_every_call(env, fake, made, capfd) -> None:
    with kv.Client(env=env, concurrency=2) as client:
        first = list(client.describe([image_bytes(20, 10), image_bytes(30, 10)]))
        second = list(client.describe(image_bytes(40, 10), prompt="Alt text."))
        answer = client.ask("What is it?", [image_bytes(50, 10)])
        (est,) = client.estimate([image_bytes(60, 10)])
        (again,) = client.estimate([image_bytes(70, 10)])
    assert [r.error for r in first + second] == [None] * 3
    assert "a 40x10 image/png image" in second[0].text and "a 50x10 image/png image" in answer.text
    assert est.tokens and again.tokens
    assert (made.http, made.sdk) == (1, 1)  # one pool and one SDK client for five calls
    assert made.pools[0].is_closed  # by the end of the `with` block
    # The functions make a client per call (what the count would show without a Client),
    # and close it when the call ends.
    list(kv.describe(image_bytes(), env=env))
    kv.estimate(image_bytes(), env=env)
    kv.ask("What is it?", image_bytes(), env=env)
    with pytest.raises(UsageError, match="standard input"):  # refused before its run starts
        kv.describe("-", env=env)
    assert (made.http, made.sdk) == (5, 2)
    assert all(pool.is_closed for pool in made.pools)
    assert capfd.readouterr() == ("", "")  # nothing printed


def test_a_client_shared_by_threads_gives_each_call_its_own_records(env, fake, made) -> None:
    client = kv.Client(env=env, concurrency=2)
    texts: dict[int, list[str]] = {}

    def one(n: int) -> None:
        texts[n] = [r.text for r in client.describe([image_bytes(10 + n, 10)] * 2)]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    client.close()
    assert sorted(texts) == [0, 1, 2, 3]
    for n, got in texts.items():
        assert len(got) == 2 and all(f"a {10 + n}x10 image/png image" in t for t in got)
    assert made.http == 1 and made.pools[0].is_closed


def test_pacing_learned_in_one_call_holds_in_the_next(env, one_at_a_time, minute_host) -> None:
    fake = one_at_a_time
    client = kv.Client(env=env, concurrency=2, host=minute_host)
    first = list(client.describe([image_bytes(20, 10), image_bytes(30, 10)]))
    assert [r.error for r in first] == [None, None]
    taught = fake.state.rate_limited
    assert taught >= 1  # two at once: the account's 429 named its concurrency, 1
    second = list(client.describe([image_bytes(40, 10), image_bytes(50, 10)]))
    assert [r.error for r in second] == [None, None]
    assert fake.state.rate_limited == taught  # held to one at a time from the start: no new 429
    assert fake.state.max_in_flight == 1
    # The function's own client learned nothing: it meets the limit again.
    assert [
        r.error
        for r in kv.describe(
            [image_bytes(60, 10), image_bytes(70, 10)], concurrency=2, env=env, host=minute_host
        )
    ]
    assert fake.state.rate_limited > taught


def test_runs_leave_no_rate_limit_listener_on_the_shared_client(env, one_at_a_time, minute_host) -> None:
    """Each run listens to the client's 429s while it runs, not after (a Ray actor makes
    thousands of runs on one client)."""
    client = kv.Client(env=env, concurrency=2, host=minute_host)
    for n in range(3):
        list(client.describe([image_bytes(20 + n, 10), image_bytes(30 + n, 10)]))
    assert client._client.observer.callbacks == []


def test_a_call_may_change_the_request_and_its_errors_tell_that_call(env, fake) -> None:
    """Errors are told in the call's own settings, not the Client's: here the
    token-limit hint names the call's max_tokens."""
    client = kv.Client(env=env)
    fake.inject(Fault(400, "invalid_request_error", "Your request exceeded model token limit: 8192"))
    (rec,) = client.describe(image_bytes(), model="moonshot-v1-8k-vision-preview", max_tokens=1234)
    assert rec.error is not None and "lower --max-tokens (max_tokens), now 1,234" in (rec.error.hint or "")
    (rec,) = client.describe(image_bytes())  # the Client's own settings again
    assert rec.error is None and rec.model == "kimi-k2.6"
    assert [(r.body["model"], r.body.get("max_tokens")) for r in fake.chat_requests] == [
        ("moonshot-v1-8k-vision-preview", 1234),
        ("kimi-k2.6", None),
    ]


def test_errors_are_typed_and_the_connection_is_fixed(env, fake, capfd) -> None:
    no_key = {k: v for k, v in env.items() if k != "MOONSHOT_API_KEY"}
    with pytest.raises(AuthError):  # at once, before any input: a Ray actor fails in __init__
        kv.Client(env=no_key)
    with pytest.raises(UsageError, match="concurrency"):
        kv.Client(env=env, concurrency=0)
    client = kv.Client(env=env)
    with pytest.raises(UsageError, match="concurrency"):
        client.describe(image_bytes(), concurrency=0)
    with pytest.raises(TypeError, match="base_url: fixed when the Client is made"):
        client.describe(image_bytes(), base_url="http://127.0.0.1:9/v1")
    with pytest.raises(TypeError, match="api_key"):
        client.ask("What?", image_bytes(), api_key="sk-other")
    fake.inject(Fault(401, "invalid_authentication_error", "Invalid Authentication"))
    with pytest.raises(AuthError):
        client.ask("What is it?", image_bytes())
    (missing,) = client.describe(["/nonexistent/a.png"])
    assert missing.error is not None and missing.error.exit_code == 2
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.describe(image_bytes())
    assert capfd.readouterr() == ("", "")


def test_the_key_is_in_no_repr(env, fake) -> None:
    key = "sk-given-" + "x" * 20
    client = kv.Client(env=dict(env, MOONSHOT_API_KEY=fake.api_key), api_key=key)
    shown: list[Callable[[Any], str]] = [repr, str]
    for show in shown:
        assert key not in show(client) and fake.api_key not in show(client)
        assert key not in show(vars(client)) and fake.api_key not in show(vars(client))
    assert repr(client).startswith("Client(model='kimi-k2.6', base_url=")
    client.close()


def test_the_given_key_is_the_one_sent(env, fake) -> None:
    client = kv.Client(env=dict(env, MOONSHOT_API_KEY="sk-wrong"), api_key=fake.api_key)
    (rec,) = client.describe(image_bytes())
    assert rec.error is None
    assert client.ask("What is it?", image_bytes()).error is None
    client.close()


def test_a_client_says_where_to_make_it_when_sent_to_another_process(env, fake) -> None:
    import pickle

    with kv.Client(env=env) as client, pytest.raises(TypeError, match="__init__ of the class"):
        pickle.dumps(client)


def test_stopping_a_call_early_leaves_the_client_and_the_requests_in_flight_alone(env, fake, made) -> None:
    fake.state.latency = 0.2
    with kv.Client(env=env, concurrency=2) as client:
        records = client.describe([image_bytes(10 + n, 10) for n in range(6)])
        assert next(records).error is None
        records.close()  # the caller stops reading: the run is cancelled
        (rec,) = client.describe(image_bytes(99, 10))  # the Client goes on
        assert rec.error is None and "a 99x10 image/png image" in rec.text
    one = kv.describe([image_bytes(10 + n, 10) for n in range(6)], concurrency=2, env=env)
    assert next(one).error is None
    one.close()
    time.sleep(0.5)  # the cancelled run has returned by now
    assert not made.pools[-1].is_closed  # its requests in flight end on their own, not cut


def test_a_call_may_lower_the_clients_concurrency(env, fake) -> None:
    """The Client's Pacing allows its own concurrency; a call asking for fewer in flight
    gets fewer."""
    fake.state.latency = 0.2
    with kv.Client(env=env, concurrency=4) as client:
        got = list(client.describe([image_bytes(10 + n, 10) for n in range(4)], concurrency=1))
    assert [r.error for r in got] == [None] * 4
    assert fake.state.max_in_flight == 1


def test_a_keyword_that_is_no_option_is_named_in_the_apis_words(env) -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword recursive \(an argument of describe\(\)"):
        kv.Client(env=env, recursive=True)
    with pytest.raises(TypeError, match=r"unexpected keyword colour: see docs/python\.md"):
        kv.describe([], env=env, colour="red")


def test_a_call_cannot_raise_the_clients_concurrency(env) -> None:
    from kimi_vision_cli.errors import UsageError

    with kv.Client(env=env, concurrency=4) as client, pytest.raises(UsageError, match="over this Client's 4"):
        client.describe([image_bytes()], concurrency=64)


def test_records_dropped_unread_close_the_functions_client(env, made) -> None:
    import gc

    records = kv.describe([image_bytes()], env=env)
    del records
    gc.collect()
    assert made.http == 1 and made.pools[0].is_closed


def test_calls_at_once_with_different_max_tokens_are_each_judged_by_their_own(env, fake, minute_host) -> None:
    """A TPM 429 to a request whose max_tokens alone is over the TPM is not retried; one
    to a smaller request is. Here each 429 comes while another call of the same Client,
    with the other max_tokens, has started: each request is judged by its own."""
    from kimi_vision_cli.api.errors import OverTPMError

    slow_429 = Fault(
        429, "rate_limit_reached_error",
        "Your account org-x<ak-x> request reached organization max TPM: 20000, please try again after 1 seconds",
        delay=0.5,  # the other call starts meanwhile
    )  # fmt: skip

    def sent(max_tokens: int) -> int:
        return sum(r.body.get("max_tokens") == max_tokens for r in fake.chat_requests)

    def with_another_call(client: kv.Client, first: int, other: int) -> dict[str, Any]:
        """A call with max_tokens `first` meets the slow 429; one with `other` runs meanwhile."""
        fake.inject(slow_429)
        out: dict[str, Any] = {}
        before = sent(first)

        def run() -> None:
            try:
                out["records"] = list(client.describe(image_bytes(20, 10), max_tokens=first))
            except OverTPMError as exc:
                out["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 30
        while sent(first) == before and time.monotonic() < deadline:  # it has the 429 coming
            time.sleep(0.01)
        assert [r.error for r in client.describe(image_bytes(30, 10), max_tokens=other)] == [None]
        thread.join(60)
        return out

    with kv.Client(env=env, host=minute_host) as client:
        big = with_another_call(client, 30_000, 1_000)
        assert "max_tokens (30,000) alone is over it" in str(big.get("error"))
        assert sent(30_000) == 1  # not retried: no wait lets it through
        small = with_another_call(client, 1_000, 30_000)
        assert [r.error for r in small["records"]] == [None]
        assert sent(1_000) == 3  # its 429 retried, then answered (and the first call's one)


@pytest.mark.parametrize("kept", [False, True], ids=["own client", "client kept across runs"])
def test_the_runs_client_speaks_for_the_settings_a_model_look_up_made(env, fake, kept: bool) -> None:
    """A model the table does not know is looked up (GET /v1/models) on the run's client
    before the run's settings hold what the look-up found: the client is told them, not
    left with the settings before (flows/start.py). Run on its own client (the CLI) and on
    one kept across runs (a kv.Client)."""
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.flows.start import start
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.runner.context import Context
    from kimi_vision_cli.settings import resolve
    from kimi_vision_cli.terminal import Terminal

    term = Terminal(
        stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.BytesIO(), stdout_isatty=False,
        stderr_isatty=False, stdin_isatty=False, color=False, env=env,
    )  # fmt: skip
    shared = MoonshotClient(resolve({}, env)) if kept else None
    settings = resolve({"model": "kimi-lens-preview"}, env, command="describe")
    ctx = start(Context(settings, term, Diagnostics(term), shared=shared))
    assert len(fake.requests_to("/v1/models", "GET")) == 1  # looked up, not from a cache
    assert ctx.settings.spec.context == 65_536 and not ctx.settings.spec.video  # what the listing says
    assert ctx.client.settings is ctx.settings
    (rec,) = kv.describe(image_bytes(), model="kimi-lens-preview", env=env)  # and the run goes
    assert rec.error is None and rec.model == "kimi-lens-preview"
