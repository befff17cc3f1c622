"""Using the engine from several Python threads (README "Threads"): each scenario runs in a child
interpreter with a time limit, so a deadlock fails the test instead of hanging the suite. Each one
hung or crashed before the fix it tests: two models on the shared pool (parallel_for had no
exclusion), a state call inside a stream loop or a callback (GIL / model-lock deadlock), resizing the
global pool under a model (use after free), a setter racing a pass; then a stress run of 8 threads
making mixed calls on the built-in demo model for a bounded time."""
import os
import subprocess
import sys
import textwrap

import pytest

PRELUDE = textwrap.dedent("""
    import sys, threading, time
    import llama_diffusion as ld
    def run_threads(fns, limit):
        ths = [threading.Thread(target=f, daemon=True) for f in fns]
        for t in ths: t.start()
        for t in ths: t.join(limit)
        hung = sum(t.is_alive() for t in ths)
        if hung:
            print(f"HUNG: {hung} thread(s) still running after {limit} s", flush=True)
            import os; os._exit(3)
""")


def run_child(body: str, timeout: float = 120) -> str:
    env = dict(os.environ)
    env.setdefault("LD_NUM_THREADS", "2")
    try:
        r = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"child interpreter hung (> {timeout} s): {(e.stdout or '')[-2000:]}")
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_two_models_generate_in_two_threads():
    out = run_child("""
        ms = [ld.Model(), ld.Model()]
        ref = [m.generate("def f(x):", max_tokens=64, seed=3).tokens for m in ms]
        assert ref[0] == ref[1]
        got = [None, None]
        def work(i):
            for _ in range(5):
                got[i] = ms[i].generate("def f(x):", max_tokens=64, seed=3).tokens
        run_threads([lambda: work(0), lambda: work(1)], 60)
        assert got == ref, "concurrent generation changed the tokens"
        print("OK")
    """)
    assert "OK" in out


def test_state_call_inside_stream_loop_raises_busy():
    out = run_child("""
        m = ld.Model()
        seen = 0
        for ev in m.stream("import os", max_tokens=64, seed=1):
            if isinstance(ev, ld.Step) and seen == 0:
                seen += 1
                for call in (lambda: m.kv_cache(0), m.reset, lambda: setattr(m, "capture_layers", True),
                             lambda: m.layer_outputs, lambda: m.kv_length):
                    try:
                        call()
                    except ld.ModelBusyError as e:
                        assert "generation is running" in str(e), e
                    else:
                        # the generation may have ended between the event and the call
                        assert not ld.generate.engine_of(m).busy
        assert seen == 1
        m.kv_cache(0)           # after the stream: allowed again
        m.reset()
        assert m.kv_length == 0
        print("OK")
    """)
    assert "OK" in out


def test_calls_from_a_callback():
    out = run_child("""
        m = ld.Model()
        eng = ld.generate.engine_of(m)
        lengths, errors = [], []
        def on_step(*a):
            lengths.append(m.kv_length)          # a read from the generation's own thread: allowed
            k, v = m.kv_cache(0)
            try:
                m.reset()                        # a change: would wait for itself; raises instead
            except ld.ModelBusyError as e:
                errors.append(str(e))
        ids = m.tokenize("import os")
        eng.generate(ids, {"max_tokens": 32, "seed": 1}, True, on_step)
        assert lengths and all(n == lengths[0] for n in lengths[:1]), lengths
        assert errors and "callback" in errors[0], errors
        # a generate from a callback raises too (instead of deadlocking)
        def nested(*a):
            m.generate("x", max_tokens=8)
        try:
            eng.generate(ids, {"max_tokens": 32, "seed": 1}, True, nested)
        except ld.ModelBusyError as e:
            assert "callback" in str(e)
        else:
            raise AssertionError("nested generate did not raise")
        print("OK")
    """)
    assert "OK" in out


def test_set_num_threads_while_generating():
    out = run_child("""
        m = ld.Model()
        stop = False
        def gen():
            for _ in range(6):
                m.generate("def g():", max_tokens=64, seed=2)
        def resize():
            n = 0
            while not stop:
                ld.ops.set_num_threads(1 + n % 3); n += 1
        t = threading.Thread(target=resize, daemon=True); t.start()
        run_threads([gen], 60)
        stop = True; t.join(10)
        print("OK")
    """)
    assert "OK" in out


def test_setters_during_generation_raise_or_apply():
    out = run_child("""
        m = ld.Model()
        done = threading.Event()
        busy = 0
        def gen():
            for _ in range(4):
                m.generate("class A:", max_tokens=64, seed=4)
            done.set()
        def poke():
            global busy
            while not done.is_set():
                for name, val in (("capture_layers", True), ("capture_layers", False), ("chunk_size", 7),
                                  ("chunk_size", 512)):
                    try:
                        setattr(m, name, val)
                    except ld.ModelBusyError:
                        busy += 1
        run_threads([gen, poke], 60)
        m.capture_layers = True
        m.reset(); m.encode(m.tokenize("x = 1"))
        assert len(m.layer_outputs) == m.hparams["n_layer"] + 1
        print("OK", busy)
    """)
    assert "OK" in out


def test_stress_8_threads_mixed_calls():
    """8 threads x mixed calls (generate, stream, reset, kv_cache, set threads, chat) on two demo
    models for a bounded time: the only errors allowed are ModelBusyError, every thread finishes,
    and afterwards a seeded generation gives the tokens it gave before."""
    out = run_child("""
        import random
        ms = [ld.Model(), ld.Model()]
        ref = ms[0].generate("def main():", max_tokens=32, seed=9).tokens
        deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 8)
        counts = {}
        bad = []
        lock = threading.Lock()
        def worker(i):
            rng = random.Random(i)
            while time.monotonic() < deadline:
                m = ms[rng.randrange(2)]
                op = rng.choice(["generate", "stream", "reset", "kv_cache", "threads", "chat", "kv_length",
                                 "capture", "encode"])
                try:
                    if op == "generate":
                        m.generate("def f():", max_tokens=32, seed=i)
                    elif op == "stream":
                        for n, ev in enumerate(m.stream("import sys", max_tokens=32, seed=i)):
                            if n == 3 and rng.random() < 0.5:
                                break              # closing early cancels
                    elif op == "reset":
                        m.reset()
                    elif op == "kv_cache":
                        m.kv_cache(rng.randrange(m.hparams["n_layer"]))
                    elif op == "threads":
                        ld.ops.set_num_threads(rng.randrange(1, 4))
                    elif op == "chat":
                        c = ld.ChatSession(m)
                        c.send("hi", max_tokens=16, seed=i)
                        c.clear()
                    elif op == "kv_length":
                        m.kv_length; m.next_pos
                    elif op == "capture":
                        m.capture_layers = rng.random() < 0.5
                    elif op == "encode":
                        m.encode(m.tokenize("x = 1"))
                    key = op
                except ld.ModelBusyError:
                    key = op + ":busy"
                except BaseException as e:
                    with lock:
                        bad.append(f"{op}: {type(e).__name__}: {e}")
                    key = op + ":error"
                with lock:
                    counts[key] = counts.get(key, 0) + 1
        run_threads([lambda i=i: worker(i) for i in range(8)], 120)
        assert not bad, bad[:5]
        for m in ms:
            m.capture_layers = False
        again = ms[0].generate("def main():", max_tokens=32, seed=9).tokens
        assert again == ref, "the model state was corrupted"
        print("OK", sorted(counts.items()))
    """, timeout=240)
    assert "OK" in out
    print(out)
