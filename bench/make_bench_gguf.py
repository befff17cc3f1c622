#!/usr/bin/env python3
"""Writes a random DiffusionGemma GGUF with the REAL layer dimensions but only a few layers, for
benchmarking the engine (`llama-diffusion-bench model -m FILE`), in seconds and without torch.

Dimensions (google/diffusiongemma-26B-A4B-it, layer for layer): hidden 2816, 16 query heads,
sliding layers 8 KV heads x head dim 256 (window 1024), full layers 2 KV heads x head dim 512 with
no V projection, 128 experts top-8 of width 704, dense / self-conditioning MLP width 2112, vocab
262,144, canvas 256, softcap 30. Default layers: 2 (sliding, full); `--layers real` gives the
real model's 30 layers (5 sliding then 1 full, five times: 25 sliding + 5 full; 15.65 GiB at
Q4_K_M, written in about a minute without quantizing), `--layers N` the first N of that pattern.

How: the converter's own planner (llama_diffusion.convert) is run on a generated config.json and a
minimal tokenizer.json, so the tensor table, the metadata and the llama-quantize type plan
(--outtype q4_k_m: Q4_K/Q5_0/Q6_K/Q8_0; q8_0; bf16; f16; ...) are exactly what the converter gives
the real checkpoint. The tensor data is then streamed without quantizing the model: for each
matrix type, a pool of random rows (N(0, 0.02), as make_bench_hf.py) is quantized once with
llama_diffusion.quants and the pool's encoded rows are tiled (starting at a different pool row for
every tensor). Norm weights, router / per-expert scales and layer scalars are U(0.9, 1.1);
rope_freqs is the real proportional-RoPE table. The weights are valid blocks but not a trained
model, so only timing means anything.

Tokenizer: a minimal gemma4 BPE vocabulary of 262,144 entries (Gemma-like specials 0 <pad>,
1 <eos>, 2 <bos>, 3 <unk>, 4 <mask>, 105 <|turn>, 106 <turn|>, the 256 <0xXX> byte tokens, the
printable ASCII characters, then <unusedK> filler), no merges (a valid character-level BPE: the
CLI loads the file and runs it end to end), with a Gemma-4 chat template.

    PYTHONPATH=build/<dir>/pkg python bench/make_bench_gguf.py --outtype q4_k_m -o bench/models/dg-2L-Q4_K_M.gguf
    PYTHONPATH=build/<dir>/pkg python bench/make_bench_gguf.py --outtype q8_0   -o bench/models/dg-2L-Q8_0.gguf
    PYTHONPATH=build/<dir>/pkg python bench/make_bench_gguf.py --layers real   -o bench/models/dg-30L-Q4_K_M.gguf
    llama-diffusion-cli -m bench/models/dg-30L-Q4_K_M.gguf -p "hello" -n 256 -s 1

(*.gguf files are git-ignored.)
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

# Real DiffusionGemma 26B-A4B text dimensions.
REAL = dict(vocab_size=262144, hidden_size=2816, intermediate_size=2112, num_attention_heads=16,
            num_key_value_heads=8, head_dim=256, global_head_dim=512, num_global_key_value_heads=2,
            num_experts=128, top_k_experts=8, moe_intermediate_size=704, sliding_window=1024)
CANVAS = 256
# The real model's layer pattern (30 layers): five sliding-window layers then one full-attention layer.
REAL_LAYERS = (["sliding_attention"] * 5 + ["full_attention"]) * 5
POOL_ROWS = 4096      # distinct random rows per (type, row length); tiled over the tensor
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|turn>{{ m['role'] }}\n{{ m['content'] }}<turn|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|turn>model\n{% endif %}")


def config_json(layer_types, dims):
    """config.json of the benchmark model (Google's spelling: global_* keys)."""
    tc = dict(model_type="diffusion_gemma_text", num_hidden_layers=len(layer_types), layer_types=layer_types,
              max_position_embeddings=262144, rms_norm_eps=1e-6, final_logit_softcapping=30.0,
              tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0,
              hidden_activation="gelu_pytorch_tanh",
              rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                               "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                                  "rope_theta": 1000000.0}})
    tc.update(dims)
    return {"architectures": ["DiffusionGemmaForBlockDiffusion"], "model_type": "diffusion_gemma",
            "canvas_length": CANVAS, "eos_token_id": [1, 106, 50], "tie_word_embeddings": True, "text_config": tc}


def generation_config_json():
    return {"max_denoising_steps": 48, "t_min": 0.4, "t_max": 0.8, "sampler_config": {"entropy_bound": 0.1},
            "stability_threshold": 1, "confidence_threshold": 0.005, "eos_token_id": [1, 106, 50]}


def tokenizer_files(vocab_size):
    """(tokenizer.json, tokenizer_config.json) dicts of a minimal byte-fallback BPE vocabulary."""
    specials = {0: "<pad>", 1: "<eos>", 2: "<bos>", 3: "<unk>", 4: "<mask>", 105: "<|turn>", 106: "<turn|>"}
    toks = [specials.get(i, f"<reserved_{i}>") for i in range(107)]
    toks += [f"<0x{b:02X}>" for b in range(256)]
    toks += ["\u2581"] + [chr(c) for c in range(33, 127)] + ["\n"]
    if len(toks) > vocab_size:
        raise SystemExit(f"vocab_size {vocab_size} is smaller than the {len(toks)} base tokens")
    toks += [f"<unused{k}>" for k in range(vocab_size - len(toks))]
    vocab = {t: i for i, t in enumerate(toks)}
    added = [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False} for i, t in enumerate(toks[:107])]
    tj = {"version": "1.0", "added_tokens": added,
          "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
          "model": {"type": "BPE", "vocab": vocab, "merges": [], "unk_token": "<unk>", "byte_fallback": True,
                    "fuse_unk": True}}
    tc = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
          "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>", "add_bos_token": True,
          "add_eos_token": False, "chat_template": CHAT_TEMPLATE}
    return tj, tc


class RowPools:
    """Encoded random rows per (type, row length), made once and tiled over every tensor."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.pools = {}

    def get(self, type_name, ne0, kind):
        key = (type_name, ne0, kind)
        if key not in self.pools:
            from llama_diffusion.convert.stream import encode_rows
            if kind == "norm":
                x = self.rng.uniform(0.9, 1.1, size=(64, ne0)).astype(np.float32)
            else:
                x = (self.rng.standard_normal((POOL_ROWS, ne0), dtype=np.float32) * 0.02)
            enc = np.ascontiguousarray(encode_rows(x, type_name))
            self.pools[key] = enc.view(np.uint8).reshape(x.shape[0], -1)
        return self.pools[key]


def tiled_rows(pool, start):
    """raw(r0, r1) callable: encoded rows r0..r1 taken cyclically from the pool from `start` on."""
    n = pool.shape[0]

    def raw(r0, r1):
        idx = (np.arange(r0, r1) + start) % n
        return np.ascontiguousarray(pool[idx])
    return raw


def write(out_path, outtype, layer_types, dims, seed=1234, threads=2, force=False, log=print):
    from llama_diffusion.convert.convert import check_output_path, plan_checkpoint
    from llama_diffusion.convert.gguf_types import row_bytes
    from llama_diffusion.convert.progress import Progress
    from llama_diffusion.convert.stream import Job, run_jobs
    from llama_diffusion.convert.tensor_map import rope_freqs

    check_output_path(out_path, force)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config_json(layer_types, dims), f)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump(generation_config_json(), f)
        tj, tc = tokenizer_files(dims["vocab_size"])
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tc, f)
        plan = plan_checkpoint(d, outtype, allow_no_weights=True)
    pools = RowPools(seed)
    jobs = []
    for k, (s, t) in enumerate(zip(plan.specs, plan.types)):
        ne0 = int(s.ne[0])
        n_rows = int(np.prod(s.ne[1:], dtype=np.int64)) if len(s.ne) > 1 else 1
        if s.name == "rope_freqs.weight":
            data = rope_freqs(plan.hp).reshape(1, -1).astype(np.float32)
            raw = (lambda r0, r1, d=data: d[r0:r1])
        else:
            kind = "norm" if n_rows == 1 or s.name.endswith(".scale") else "mat"
            pool = pools.get(t, ne0, kind)
            raw = tiled_rows(pool, (97 * k) % pool.shape[0])
        jobs.append(Job(s.name, t, ne0, n_rows, row_bytes(t, ne0), raw=raw))
    w = plan.make_writer(out_path)
    run_jobs(w, jobs, Progress(len(jobs), sum(j.n_rows * j.src_row_bytes for j in jobs), enabled=False),
             threads=threads)
    size = os.path.getsize(out_path)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan.type_counts().items()))
    log(f"wrote {out_path}: {size / 1e9:.2f} GB, {len(plan.specs)} tensors ({counts}), "
        f"layers {','.join('s' if t == 'sliding_attention' else 'f' for t in layer_types)}, "
        f"{time.time() - t0:.1f} s")
    return out_path


def layers_from_args(layers, layer_types):
    """The layer type list of --layers (real | N) or --layer-types (comma list of s / f; default s,f)."""
    if layers is not None and layer_types is not None:
        raise SystemExit("give --layers or --layer-types, not both")
    if layers is not None:
        if layers == "real":
            return list(REAL_LAYERS)
        try:
            n = int(layers)
        except ValueError:
            n = 0
        if not 1 <= n <= len(REAL_LAYERS):
            raise SystemExit(f"--layers: expected 'real' or a layer count in 1..{len(REAL_LAYERS)}, got {layers!r}")
        return list(REAL_LAYERS[:n])
    code = {"s": "sliding_attention", "f": "full_attention"}
    try:
        return [code[x.strip()] for x in (layer_types or "s,f").split(",")]
    except KeyError as e:
        raise SystemExit(f"--layer-types: unknown layer type {e} (use s or f)") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--outfile", required=True, help="output GGUF path")
    ap.add_argument("--outtype", default="q4_k_m", type=str.lower,
                    help="q4_k_m (default), q8_0, or any converter --outtype")
    ap.add_argument("--layer-types", default=None, help="comma list of s (sliding) / f (full); default s,f")
    ap.add_argument("--layers", default=None,
                    help="'real' (the real 30-layer pattern: 25 sliding + 5 full) or N (its first N layers); "
                         "not with --layer-types")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="overwrite an existing output file")
    for k, v in REAL.items():  # overridable only for quick smoke tests; defaults are the real model
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    args = ap.parse_args(argv)
    layer_types = layers_from_args(args.layers, args.layer_types)
    dims = {k: getattr(args, k) for k in REAL}
    from llama_diffusion.convert.errors import ConvertError
    try:
        write(args.outfile, args.outtype, layer_types, dims, seed=args.seed, threads=args.threads,
              force=args.force, log=lambda m: print(m, file=sys.stderr))
    except ConvertError as e:
        raise SystemExit(f"make_bench_gguf: error: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
