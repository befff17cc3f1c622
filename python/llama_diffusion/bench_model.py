"""``llama-diffusion-bench model -m FILE``: the cost of one decoder pass (canvas C) and of one
encoder pass per 1,000 prompt tokens on a DiffusionGemma GGUF (made by bench/make_bench_gguf.py
with the real layer dimensions and a few layers), split into the layers and the vocabulary-sized
work, and extrapolated to the real model's 30 layers (25 sliding + 5 full).

    llama-diffusion-bench model -m FILE [--json] [--repeats 3] [--threads 2] [--prefix 64]
                                        [--prompt-tokens 1000] [--canvas 256] [--real-layers 30]
                                        [--kv-type f32|f16|q8_0]

Measured (median of --repeats runs after one warm-up run, this process's pool), each as wall time
and as process CPU time / threads (what the same threads take on uncontended cores; the two agree
on an idle machine, and every figure is reported both ways):
  * decoder: ``decode_canvas`` of C tokens after a --prefix-token prompt, without and with
    self-conditioning logits (the first pass's logits; the one-time build of the transposed
    embedding it uses is done before timing);
  * layers: ``decode_hidden`` of the same canvas (the decoder pass without the LM head);
  * LM head: the same matmul kernel on the file's tied embedding, [C, H] x [V, H]^T, alone;
  * fused head: the CPU backend's vocab head as generation runs it (one pass over vocabulary tiles: LM
    head, softcap, the sampler's statistics and draw), with and without the self-conditioning soft
    embedding, on random hidden states [C, H];
  * encoder: ``encode`` of --prompt-tokens tokens into an empty cache, as the engine runs it (the
    last layer's FFN is skipped: only its K/V matter) and with every layer's FFN (capture on).
Derived: logits = decoder - layers (the LM head as the pass runs it, with the softcap and the [C, V]
output); ms per layer = layers / n_layer (the file's mix of sliding and full layers); vocabulary-sized
work = logits + self-conditioning (= decoder with SC - without);
the step as generation runs it = layers + the fused head with the soft embedding (the plain-head step,
from decode_canvas with logits, is printed too); the 30-layer figure scales the measured layers by the FLOP ratio of the real layer pattern to the
file's layers (full layers have larger projections than sliding ones; the FLOP model is printed).
"""
import argparse
import json
import time

import numpy as np

from . import _core
from .gguf import GGUFFile
from .model import Model


def real_pattern(n_layers):
    """is_swa per layer of the real model: every 6th layer full, the last one full."""
    swa = [(i + 1) % 6 != 0 for i in range(n_layers)]
    swa[-1] = False
    return swa


def layer_flops(hp, swa, n_q, keys_per_query):
    """Flops (2 per multiply-add) of one layer on n_q tokens, each attending keys_per_query keys."""
    H, F = hp["n_embd"], hp["n_ff"]
    d = hp["head_dim_swa"] if swa else hp["head_dim"]
    nq = hp["n_head"]
    # the real file's KV heads for this layer type (the first layer of that type in the file)
    nkv = next((n for n, s in zip(hp["n_kv_head"], hp["is_swa"]) if s == swa), hp["n_kv_head"][0])
    proj = H * nq * d + H * nkv * d * (2 if swa else 1) + nq * d * H  # q, k (+ v), o
    att = 2 * keys_per_query * nq * d                                  # QK^T and PV
    ffn = 3 * H * F + H * hp["n_expert"] + hp["n_expert_used"] * 3 * H * hp["n_ff_exp"]
    return 2.0 * n_q * (proj + att + ffn)


def mean_keys(S, L, swa, W, causal):
    """Mean keys per query: decoder (canvas S after L cached) or causal encoder of S tokens."""
    if not causal:
        return (min(L, W - 1) if swa else L) + S
    i = np.arange(S)
    return float(np.mean(np.minimum(i, W - 1) + 1 if swa else i + 1))


def _median_ms(fn, repeats, threads):
    """(median wall ms, median process-CPU ms / threads) of fn() after one warm-up call. The second
    is what the same threads would take on uncontended cores (the machine may be shared)."""
    fn()  # warm-up: pool start, page faults of the mmap
    ts, cs = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return 1e3 * float(np.median(ts)), 1e3 * float(np.median(cs)) / threads


def run(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="llama-diffusion-bench model", description=__doc__.split("\n")[0])
    p.add_argument("-m", "--model", required=True, help="diffusion-gemma GGUF (bench/make_bench_gguf.py)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prefix", type=int, default=64, help="prompt tokens cached before the decoder pass")
    p.add_argument("--prompt-tokens", type=int, default=1000, help="encoder pass length")
    p.add_argument("--canvas", type=int, default=0, help="canvas length (default: the file's)")
    p.add_argument("--real-layers", type=int, default=30, help="layers of the model to extrapolate to")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N], sim, auto (Model(device=...))")
    p.add_argument("-ngl", "--n-gpu-layers", type=int, default=None, help="layers on the GPU (default: all)")
    p.add_argument("--cpu-moe", action="store_true", help="routed experts on the CPU")
    p.add_argument("--kv-type", default="f32", help="KV cache storage: f32, f16 or q8_0 (Model(kv_type=...))")
    a = p.parse_args(argv)
    if a.repeats < 1 or a.threads < 1 or a.prefix < 1 or a.prompt_tokens < 1 or a.real_layers < 1:
        p.error("--repeats, --threads, --prefix, --prompt-tokens and --real-layers must be >= 1")

    m = Model(a.model, n_threads=a.threads, device=a.device, n_gpu_layers=a.n_gpu_layers, cpu_moe=a.cpu_moe,
              kv_type=a.kv_type)
    hp = m.hparams
    if hp["architecture"] != "diffusion-gemma":
        p.error(f"{a.model}: architecture {hp['architecture']}; the model benchmark needs diffusion-gemma")
    H, V, L = hp["n_embd"], hp["n_vocab"], hp["n_layer"]
    C = a.canvas or hp["canvas_length"]
    W = hp["sliding_window"]
    rng = np.random.default_rng(a.seed)
    T = {}  # name -> (wall ms, cpu-time ms per thread)
    ids = lambda n: rng.integers(300, V, size=n).astype(np.int32)  # noqa: E731 (ordinary tokens)
    say = (lambda *x: None) if a.json else (lambda *x: print(*x, flush=True))

    with GGUFFile(a.model) as f:
        names = {t.name: t for t in f.tensors}
        head = "output.weight" if "output.weight" in names else "token_embd.weight"
        head_type = names[head].type
        types = {}
        for t in f.tensors:
            if len(t.shape) > 1:
                types[t.type] = types.get(t.type, 0) + 1
        w_head = np.array(f.raw(head))  # a private copy: the model maps the file separately
    say(f"{a.model}: {L} layers ({''.join('s' if s else 'f' for s in hp['is_swa'])}), H {H}, V {V}, "
        f"C {C}, experts {hp['n_expert']} top-{hp['n_expert_used']}, LM head {head_type}, "
        f"matrix types {types}, {a.threads} threads, device {m.placement}, KV {m.kv_type}")

    # ---- decoder -------------------------------------------------------------------------
    m.reset()
    m.encode(ids(a.prefix))
    canvas = ids(C)
    sc = m.decode_canvas(canvas)
    T['dec'] = _median_ms(lambda: m.decode_canvas(canvas), a.repeats, a.threads)
    say(f"decoder pass C={C} after {a.prefix} tokens: %.0f ms (cpu-time %.0f ms)" % T["dec"])
    T["hid"] = _median_ms(lambda: m.decode_hidden(canvas), a.repeats, a.threads)
    say("  of which the layers (decode_hidden, no LM head): %.0f ms (cpu-time %.0f ms)" % T["hid"])
    t0 = time.perf_counter()
    m.decode_canvas(canvas, sc)  # builds the transposed embedding (once per model)
    t_first_sc = 1e3 * (time.perf_counter() - t0)
    T["dec_sc"] = _median_ms(lambda: m.decode_canvas(canvas, sc), a.repeats, a.threads)
    say("decoder pass with self-conditioning: %.0f ms (cpu-time %.0f ms); the first one, which builds the "
        "transposed embedding: %.0f ms" % (T["dec_sc"] + (t_first_sc,)))
    xn = rng.standard_normal((C, H)).astype(np.float32)
    T["lm"] = _median_ms(lambda: _core.matmul(xn, w_head, head_type, V, None, a.threads), a.repeats, a.threads)
    say(f"LM head [{C}, {H}] x [{V}, {H}]^T ({head_type}): %.0f ms (cpu-time %.0f ms)" % T["lm"])
    ops = _core.BackendOps("cpu")
    cap = float(hp.get("final_softcap") or 0.0)
    for key, soft in (("fused", False), ("fused_sc", True)):
        T[key] = _median_ms(lambda: ops.vocab_head(xn, w_head, head_type, V, softcap=cap, want_soft=soft),
                            a.repeats, a.threads)
    say("fused vocab head (as generation runs it): %.0f ms (cpu-time %.0f ms) without the soft embedding, " % T["fused"]
        + "%.0f ms (cpu-time %.0f ms) with it" % T["fused_sc"])
    del w_head

    # ---- encoder -------------------------------------------------------------------------
    prompt = ids(a.prompt_tokens)

    def enc(capture):
        m.reset()
        m.capture_layers = capture
        m.encode(prompt)
        m.capture_layers = False

    T["enc"] = _median_ms(lambda: enc(False), a.repeats, a.threads)
    T["enc_all"] = _median_ms(lambda: enc(True), a.repeats, a.threads)
    say(f"encoder pass of {a.prompt_tokens} tokens: %.0f ms (cpu-time %.0f ms)" % T["enc"]
        + "; every layer's FFN: %.0f ms (cpu-time %.0f ms)" % T["enc_all"])

    # ---- derived -------------------------------------------------------------------------
    real = real_pattern(a.real_layers)
    fd = lambda s: layer_flops(hp, s, C, mean_keys(C, a.prefix, s, W, False))  # noqa: E731
    fe = lambda s: layer_flops(hp, s, a.prompt_tokens, mean_keys(a.prompt_tokens, 0, s, W, True))  # noqa: E731
    dec_ratio = sum(fd(s) for s in real) / sum(fd(s) for s in hp["is_swa"])
    enc_ratio = sum(fe(s) for s in real) / sum(fe(s) for s in hp["is_swa"])
    def derived(k):
        """Every derived figure from the wall (k=0) or cpu-time (k=1) measurements."""
        t_dec, t_hid, t_dec_sc, t_lm, t_enc, t_enc_all = (T[n][k] for n in ("dec", "hid", "dec_sc", "lm", "enc", "enc_all"))
        t_fused, t_fused_sc = T["fused"][k], T["fused_sc"][k]
        t_layers = t_hid                # measured directly (decode_hidden)
        t_logits = t_dec - t_hid        # LM head as the pass runs it: matmul + softcap + the [C, V] output
        t_sc = t_dec_sc - t_dec
        t_vocab = t_logits + t_sc
        t_skip = t_enc_all - t_enc  # the last layer's FFN the encoder skips
        scale = 1000.0 / a.prompt_tokens
        R = a.real_layers
        return {
            "decoder": {
                "pass_ms": round(t_dec, 1), "pass_with_sc_ms": round(t_dec_sc, 1),
                "layers_ms": round(t_layers, 1), "ms_per_layer": round(t_layers / L, 1),
                "lm_head_ms": round(t_lm, 1), "logits_in_pass_ms": round(t_logits, 1),
                "self_conditioning_ms": round(t_sc, 1),
                "vocab_work_ms": round(t_vocab, 1),
                "layer_gflops": round(sum(fd(s) for s in hp["is_swa"]) / (t_layers * 1e6), 1) if t_layers > 0 else None,
                "lm_head_gflops": round(2.0 * C * H * V / (t_lm * 1e6), 1),
                f"real_{R}_layers_ms": round(t_layers * dec_ratio, 1),
                "fused_head_ms": round(t_fused, 1), "fused_head_sc_ms": round(t_fused_sc, 1),
                f"real_{R}_step_ms": round(t_layers * dec_ratio + t_fused_sc, 1),
                f"real_{R}_step_no_sc_ms": round(t_layers * dec_ratio + t_fused, 1),
                f"real_{R}_plain_head_step_ms": round(t_layers * dec_ratio + t_vocab, 1),
            },
            "encoder_per_1000_tokens": {
                "pass_ms": round(t_enc * scale, 1), "all_ffn_pass_ms": round(t_enc_all * scale, 1),
                "ms_per_layer": round(t_enc_all * scale / L, 1),
                "layer_gflops": round(sum(fe(s) for s in hp["is_swa"]) / (t_enc_all * 1e6), 1),
                f"real_{R}_layers_ms": round((t_enc_all * enc_ratio - t_skip) * scale, 1),
            },
        }

    res = {
        "model": a.model, "threads": a.threads, "n_layer": L, "layer_types": ["s" if s else "f" for s in hp["is_swa"]],
        "canvas": C, "prefix": a.prefix, "prompt_tokens": a.prompt_tokens, "lm_head_type": head_type,
        "kv_type": m.kv_type,
        "matrix_types": types, "repeats": a.repeats, "device": m.device, "placement": m.placement,
        "flop_ratio_real_to_file": {"decoder": round(dec_ratio, 3), "encoder": round(enc_ratio, 3)},
        "first_sc_pass_ms": round(t_first_sc, 1), "wall": derived(0), "cpu_time": derived(1),
    }
    if a.json:
        print(json.dumps(res))
        return res
    R = a.real_layers
    for label, key in (("wall time", "wall"), ("cpu time / threads (uncontended estimate)", "cpu_time")):
        d, e = res[key]["decoder"], res[key]["encoder_per_1000_tokens"]
        print(f"\n[{label}]")
        print(f"decoder (C={C}): {d['pass_ms']:.0f} ms = layers {d['layers_ms']:.0f} ms ({d['ms_per_layer']:.0f} ms/layer, "
              f"{d['layer_gflops']} GFLOP/s) + logits {d['logits_in_pass_ms']:.0f} ms (of which the LM head matmul "
              f"alone: {d['lm_head_ms']:.0f} ms, {d['lm_head_gflops']} GFLOP/s)")
        print(f"  plain head: self-conditioning {d['self_conditioning_ms']:.0f} ms; vocabulary-sized work "
              f"{d['vocab_work_ms']:.0f} ms")
        print(f"  fused head (generation): {d['fused_head_sc_ms']:.0f} ms with self-conditioning, "
              f"{d['fused_head_ms']:.0f} ms without")
        print(f"  real {R} layers (x{dec_ratio:.2f} the file's layer flops): layers {d[f'real_{R}_layers_ms'] / 1e3:.2f} s, "
              f"step {d[f'real_{R}_step_ms'] / 1e3:.2f} s with self-conditioning, "
              f"{d[f'real_{R}_step_no_sc_ms'] / 1e3:.2f} s without (fused head; plain head "
              f"{d[f'real_{R}_plain_head_step_ms'] / 1e3:.2f} s)")
        print(f"encoder per 1,000 tokens: {e['pass_ms']:.0f} ms ({e['ms_per_layer']:.0f} ms/layer with FFN, "
              f"{e['layer_gflops']} GFLOP/s); real {R} layers {e[f'real_{R}_layers_ms'] / 1e3:.2f} s")
    return res


def main(argv) -> int:
    run(argv)
    return 0
