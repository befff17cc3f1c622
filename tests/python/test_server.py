"""``llama-diffusion-server`` end to end: the real server (a subprocess on a loopback port, the
built-in demo model) driven by the official ``openai`` client and by ``httpx`` for malformed
requests.

* chat, completion, streaming (text equal to the non-streaming answer), models, usage counts,
  stop strings, the diffusion draft events (ignored by the openai client), the sampler extras;
* answers equal ``generate()`` run in this process for the same prompt, seed and settings;
* errors: bad JSON, wrong types, huge max_tokens, unknown model, missing / wrong key, oversized
  body, n > 1, bad sampler settings, unknown route; each an OpenAI-style JSON error body;
* load: 16 concurrent streaming clients, all complete within a bounded time, with outputs equal to
  the same requests run one at a time (deterministic mode), and /metrics shows batches > 1;
* a full queue answers 429 and a client that disconnects frees its slot.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import llama_diffusion as ld  # noqa: E402
from llama_diffusion import generate as G  # noqa: E402

KEY = "test-key-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProc:
    def __init__(self, *args):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "llama_diffusion.server", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.proc.stdout.read().decode(errors="replace"))
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start in 60 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server():
    s = ServerProc("--api-key", KEY, "--max-batch", "16", "--max-queue", "32", "--max-tokens-limit", "2048",
                   "--max-body-bytes", "65536")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def demo():
    return ld.Model()


def metric(base, name):
    text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_models_and_health(server, client):
    models = client.models.list().data
    assert [x.id for x in models] == ["diffusiongemma-demo"]
    assert httpx.get(server.base + "/health").json() == {"status": "ok"}   # no key needed


def test_completion_equals_generate(client, demo):
    r = client.completions.create(model="diffusiongemma-demo", prompt="def fibonacci(n):", max_tokens=64, seed=3,
                                  extra_body={"deterministic": True})
    ref = G.generate(demo, "def fibonacci(n):", max_tokens=64, seed=3, deterministic=True)
    assert r.choices[0].text == ref.text
    assert r.choices[0].finish_reason == ("stop" if ref.stats["stop_reason"] == "eos" else "length")
    assert r.usage.prompt_tokens == ref.stats["prompt_tokens"]
    assert r.usage.completion_tokens == ref.stats["delivered_tokens"]
    # seeded sampling with the sampler extras, too
    extra = {"diffusion_eb_max_steps": 12, "diffusion_eb_entropy_bound": 0.5, "diffusion_eb_confidence": 0.1}
    r = client.completions.create(model="diffusiongemma-demo", prompt="import sys\n", max_tokens=40, seed=9,
                                  extra_body=extra)
    ref = G.generate(demo, "import sys\n", max_tokens=40, seed=9, max_steps=12, entropy_bound=0.5, confidence=0.1)
    assert r.choices[0].text == ref.text
    assert all(s <= 12 for s in ref.stats["steps_per_canvas"])
    # sparse self-conditioning: the same text as generate() with the same setting
    r = client.completions.create(model="diffusiongemma-demo", prompt="import os\n", max_tokens=40, seed=5,
                                  extra_body={"sparse_sc": 1e-6})
    ref = G.generate(demo, "import os\n", max_tokens=40, seed=5, soft_drop_mass=1e-6)
    assert r.choices[0].text == ref.text and ref.stats["soft_rows_fraction"] < 1.0


def test_temperature_mapping(client, demo):
    d = G.engine_of(demo).default_params()
    r = client.completions.create(model="diffusiongemma-demo", prompt="import re\n", max_tokens=64, seed=4,
                                  temperature=0.5)
    ref = G.generate(demo, "import re\n", max_tokens=64, seed=4, t_min=d["t_min"] * 0.5, t_max=d["t_max"] * 0.5)
    assert r.choices[0].text == ref.text
    other = G.generate(demo, "import re\n", max_tokens=64, seed=4)
    assert other.text != ref.text   # the mapping matters (the test can fail)


def test_chat_and_stream(client, demo):
    msgs = [{"role": "system", "content": "# utilities"}, {"role": "user", "content": "def add(a, b):"}]
    kw = dict(model="diffusiongemma-demo", messages=msgs, max_tokens=64, seed=7)
    r = client.chat.completions.create(**kw)
    ref = G.generate(demo, "# utilities\ndef add(a, b):", max_tokens=64, seed=7)   # the demo: raw text
    text = r.choices[0].message.content
    assert r.choices[0].message.role == "assistant" and text == ref.text
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(deltas) == text
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [r.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    # the drafts extra: extra events the openai client passes through as empty deltas
    chunks = list(client.chat.completions.create(stream=True, extra_body={"stream_options": {"include_drafts": True}},
                                                 **kw))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert len(chunks) > sum(ref.stats["steps_per_canvas"])


def test_draft_events_and_stop(server, demo):
    h = {"Authorization": f"Bearer {KEY}"}
    body = {"prompt": "def fibonacci(n):", "max_tokens": 64, "seed": 3, "deterministic": True, "stream": True,
            "stream_options": {"include_drafts": True}}
    with httpx.stream("POST", server.base + "/v1/completions", json=body, headers=h, timeout=60) as resp:
        assert resp.status_code == 200
        lines = [ln for ln in resp.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    drafts = [json.loads(lines[i + 1][6:]) for i, ln in enumerate(lines) if ln == "event: diffusion.draft"]
    ref = G.generate(demo, "def fibonacci(n):", max_tokens=64, seed=3, deterministic=True)
    assert len(drafts) == ref.stats["steps"]
    d = drafts[-1]["diffusion"]
    assert d["step"] == ref.stats["steps_per_canvas"][-1] and len(d["tokens"]) == 32
    # stop: the text ends before the first occurrence of the stop string
    cut = ref.text[5:9]
    r = httpx.post(server.base + "/v1/completions", headers=h, timeout=60,
                   json={"prompt": "def fibonacci(n):", "max_tokens": 64, "seed": 3, "deterministic": True,
                         "stop": [cut]}).json()
    assert r["choices"][0]["text"] == ref.text[:ref.text.find(cut)]
    assert r["choices"][0]["finish_reason"] == "stop"


BAD = [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (json.dumps({"prompt": "x", "max_tokens": "ten"}).encode(), 400, "max_tokens"),
    (json.dumps({"prompt": "x", "max_tokens": 10 ** 9}).encode(), 400, "max_tokens"),
    (json.dumps({"prompt": "x", "max_tokens": 0}).encode(), 400, "max_tokens"),
    (json.dumps({"prompt": 5}).encode(), 400, "prompt"),
    (json.dumps({"prompt": [1, 2, 10 ** 7]}).encode(), 400, "prompt"),
    (json.dumps({"prompt": "x", "temperature": 7}).encode(), 400, "temperature"),
    (json.dumps({"prompt": "x", "n": 2}).encode(), 400, "n"),
    (json.dumps({"prompt": "x", "stream": "yes"}).encode(), 400, "stream"),
    (json.dumps({"prompt": "x", "seed": -1}).encode(), 400, "seed"),
    (json.dumps({"prompt": "x", "diffusion_eb_t_min": 0.9, "diffusion_eb_t_max": 0.2}).encode(), 400,
     "diffusion_eb_t_max"),
    (json.dumps({"prompt": "x", "diffusion_eb_max_steps": "many"}).encode(), 400, "diffusion_eb_max_steps"),
    (json.dumps({"prompt": "x", "sparse_sc": 1.5}).encode(), 400, "sparse_sc"),
    (json.dumps({"prompt": "x", "model": "gpt-4"}).encode(), 404, "model"),
    (json.dumps({"prompt": "x" * 70000}).encode(), 413, None),
]


@pytest.mark.parametrize("body,status,param", BAD)
def test_malformed_requests(server, body, status, param):
    r = httpx.post(server.base + "/v1/completions", content=body, timeout=30,
                   headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"] and "type" in err
    assert err["param"] == param


def test_malformed_chat_and_auth(server):
    h = {"Authorization": f"Bearer {KEY}"}
    for body in ({"messages": "hi"}, {"messages": []}, {"messages": [{"role": "robot", "content": "x"}]},
                 {"messages": [{"role": "user", "content": 5}]}):
        r = httpx.post(server.base + "/v1/chat/completions", json=body, headers=h)
        assert r.status_code == 400 and r.json()["error"]["param"].startswith("messages"), r.text
    for hdr in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        r = httpx.post(server.base + "/v1/completions", json={"prompt": "x", "max_tokens": 8}, headers=hdr)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(server.base + "/v1/models").status_code == 401
    r = httpx.get(server.base + "/v1/nothing", headers=h)
    assert r.status_code == 404 and "error" in r.json()
    # the server is still serving after all that
    r = httpx.post(server.base + "/v1/completions", json={"prompt": "x", "max_tokens": 8}, headers=h, timeout=60)
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] > 0


def _stream_text(client, prompt, seed):
    parts = []
    for c in client.completions.create(model="diffusiongemma-demo", prompt=prompt, max_tokens=96, seed=seed,
                                       stream=True, extra_body={"deterministic": True}):
        parts.append(c.choices[0].text)
    return "".join(parts)


def test_16_concurrent_streams_equal_sequential(server, client):
    prompts = [f"def f{i}(x):\n    return x * {i}\n" if i % 2 else f"import mod{i}\n" for i in range(16)]
    steps0 = metric(server.base, "llama_diffusion_batch_steps_total")
    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        futs = [ex.submit(_stream_text, client, p, i) for i, p in enumerate(prompts)]
        together = [f.result(timeout=180) for f in futs]
    assert time.time() - t0 < 180
    assert all(isinstance(t, str) for t in together) and len(together) == 16
    alone = [_stream_text(client, p, i) for i, p in enumerate(prompts)]
    assert together == alone
    assert len(set(alone)) > 1
    # batching happened: fewer batched steps than sequence steps, and a batch of more than 4 sequences
    text = httpx.get(server.base + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    le4 = float(re.search(r'^llama_diffusion_batch_size_bucket\{le="4"\} (\S+)$', text, re.M).group(1))
    total = float(re.search(r"^llama_diffusion_batch_size_count (\S+)$", text, re.M).group(1))
    assert total > le4
    assert metric(server.base, "llama_diffusion_batch_steps_total") > steps0
    assert metric(server.base, "llama_diffusion_active_sequences") == 0


def test_queue_full_and_disconnect_frees_slot():
    s = ServerProc("--max-batch", "1", "--max-queue", "0")
    try:
        body = {"prompt": "def long(x):", "max_tokens": 4096, "seed": 1, "stream": True,
                "diffusion_eb_stability": 0, "diffusion_eb_max_steps": 64, "diffusion_eb_confidence": 1e-9}
        with httpx.stream("POST", s.base + "/v1/completions", json=body, timeout=60) as resp:
            assert resp.status_code == 200
            it = resp.iter_lines()
            next(it)
            r = httpx.post(s.base + "/v1/completions", json={"prompt": "x", "max_tokens": 8}, timeout=30)
            assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
        # the stream is closed: the slot is freed at the next step
        deadline = time.time() + 20
        while time.time() < deadline and s.proc.poll() is None:
            text = httpx.get(s.base + "/metrics").text
            if re.search(r"^llama_diffusion_requests_cancelled_total 1$", text, re.M):
                break
            time.sleep(0.1)
        assert re.search(r"^llama_diffusion_active_sequences 0$", text, re.M), text
        r = httpx.post(s.base + "/v1/completions", json={"prompt": "x", "max_tokens": 8}, timeout=60)
        assert r.status_code == 200
    finally:
        s.stop()


def test_cli_rejects_bad_flags():
    r = subprocess.run([sys.executable, "-m", "llama_diffusion.server", "--max-batch", "0"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--max-batch" in r.stderr
