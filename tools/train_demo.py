#!/usr/bin/env python3
"""Train the small demo DiffusionGemma model on the CPython standard library.

Reproducible end to end (seeded) on a 2-core CPU with torch + transformers + tokenizers:

  1. corpus: every .py file of this interpreter's standard library (sysconfig 'stdlib' path, test
     directories and site-packages excluded), sorted, shuffled with the seed; a fixed slice of the
     files is held out for evaluation.
  2. tokenizer: a byte-fallback BPE trained with `tokenizers` on the training files, Gemma-4 style
     (SentencePiece spaces U+2581 via a normalizer, no pre-tokenizer, <0xXX> byte tokens, Gemma 4
     special tokens; ids <pad>0 <eos>1 <bos>2 <unk>3 <mask>4, then turn/channel/tool/image markers).
  3. model: transformers' DiffusionGemmaForBlockDiffusion (sliding + full layers, MoE + shared MLP,
     self-conditioning), trained with the published recipe (docs/algorithm.md §15):
     causal-LM loss of the encoder on the clean sequence + flat diffusion loss on one canvas block
     whose tokens are replaced by uniform random tokens with rate t ~ U(0.001, 1]; the decoder reads
     the encoder's KV cache of the text before the block; two-pass self-conditioning (pass 1 without
     gradients, its logits fed to pass 2 for half of the examples).
  4. logs: bench/results/demo-train-log.csv (step, ar_loss, diffusion_loss, elapsed_s) and a summary
     bench/results/demo-train.md (config, time, losses, held-out AR perplexity, denoising accuracy,
     HF generate() samples with denoising steps per canvas).
  5. checkpoint: save_pretrained to OUT (default build/demo-hf): config.json, generation_config.json,
     model.safetensors, tokenizer.json, tokenizer_config.json, special_tokens_map.json. Written
     every --save-every-min minutes during training too, so an interrupted run leaves a usable model.
  6. shipping: the package's built-in model is this checkpoint converted with our converter,
       llama-diffusion-convert build/demo-hf --outtype q8_0 \
           -o python/llama_diffusion/models/diffusiongemma-demo-q8_0.gguf
     (the shipped file is the default run, 6000 steps; see bench/results/demo-train.md).

Usage:
  python tools/train_demo.py [--out build/demo-hf] [--steps N] [...]
  python tools/train_demo.py --eval-only --out build/demo-hf     # evaluate + generate an existing one
"""
import argparse
import csv
import json
import math
import os
import platform
import random
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent

# Gemma 4 special tokens (docs/algorithm.md §10). Our ids differ from the real vocabulary past <mask>.
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>",
            "<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|think|>",
            "<|tool>", "<tool|>", "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>",
            '<|"|>', "<|image>", "<|image|>", "<image|>"]
PAD, EOS, BOS, UNK = 0, 1, 2, 3
SP = "\u2581"  # SentencePiece space
EOS_IDS = [EOS, SPECIALS.index("<turn|>"), SPECIALS.index("<|tool_response>")]  # as the real [1, 106, 50]

# Gemma 4 chat format (docs/algorithm.md §10), thinking off by default.
CHAT_TEMPLATE = (  # no whitespace-control dashes: every newline in the literals is significant
    "{{ bos_token }}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "<|turn>system\n{% if enable_thinking %}<|think|>\n{% endif %}{{ messages[0]['content'] | trim }}<turn|>\n"
    "{% set rest = messages[1:] %}"
    "{% else %}"
    "{% if enable_thinking %}<|turn>system\n<|think|>\n<turn|>\n{% endif %}"
    "{% set rest = messages %}"
    "{% endif %}"
    "{% for m in rest %}"
    "<|turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] | trim }}<turn|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n"
    "{% if not enable_thinking %}<|channel>thought\n<channel|>{% endif %}"
    "{% endif %}"
)

# Sampler defaults written to the checkpoint's generation_config.json (and so into the GGUF).
# The real checkpoint's values (REFERENCE_GEN) assume a model that is near-certain of most positions;
# at 3.8M parameters this model's per-position entropy on a half-noised canvas is ~2-4 nats, so with
# them it accepts ~1 position per step and runs ~47 of the 48 steps on every canvas (measured; see
# bench/results/demo-train.md). The demo therefore ships its own defaults, the way any checkpoint
# ships a generation_config.json: a cooler schedule (T 0.3 -> 0.1) and a looser entropy budget and
# stop threshold. The algorithm is unchanged and the reference values stay one flag away
# (--diffusion-eb-t-min 0.4 --diffusion-eb-t-max 0.8 --diffusion-eb-entropy-bound 0.1
#  --diffusion-eb-confidence 0.005).
REFERENCE_GEN = dict(max_denoising_steps=48, t_min=0.4, t_max=0.8, entropy_bound=0.1,
                     stability_threshold=1, confidence_threshold=0.005)
GEN_DEFAULTS = dict(max_denoising_steps=48, t_min=0.1, t_max=0.3, entropy_bound=1.0,
                    stability_threshold=1, confidence_threshold=0.05)
EVAL_PROMPTS = ["def fibonacci(n):", "import os\n", "class Stack:\n", "def read_file(path):\n"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# 1. corpus
def stdlib_files(seed, eval_fraction):
    """(train_paths, eval_paths): stdlib .py files, sorted then shuffled with `seed`."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip_dirs = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
    files = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if any(part in skip_dirs for part in rel.parts[:-1]):
            continue
        if p.name.startswith("test_"):
            continue
        files.append(p)
    if len(files) < 20:
        raise SystemExit(f"only {len(files)} .py files found under {root}; is this a full CPython install?")
    random.Random(seed).shuffle(files)
    n_eval = max(1, int(len(files) * eval_fraction))
    return root, files[n_eval:], files[:n_eval]


def read_text(path):
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


# ---------------------------------------------------------------------------------------------
# 2. tokenizer
def train_tokenizer(texts, vocab_size, out_dir):
    """Byte-fallback BPE, Gemma-4 layout. Returns the tokenizers.Tokenizer (also saved to out_dir)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    n_fixed = len(SPECIALS) + 256
    if vocab_size <= n_fixed + 200:
        raise SystemExit(f"--vocab {vocab_size} too small (specials + byte tokens alone take {n_fixed})")
    # Training-time segmentation only (keeps the pair counts small and merges within words,
    # indentation runs, punctuation runs); the saved tokenizer has no pre-tokenizer, like Gemma's.
    trainer_tok = Tokenizer(models.BPE(unk_token=None))
    trainer_tok.normalizer = normalizers.Replace(" ", SP)
    trainer_tok.pre_tokenizer = pre_tokenizers.Split(
        Regex(f"\\n+|{SP}+(?={SP})|{SP}?[A-Za-z_][A-Za-z0-9_]*|{SP}?[0-9]+|{SP}?[^{SP}\\nA-Za-z0-9_]+|{SP}+"),
        behavior="isolated")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - n_fixed, min_frequency=2, show_progress=False,
                                  limit_alphabet=160, initial_alphabet=[SP, "\n"], max_token_length=16)
    trainer_tok.train_from_iterator(texts, trainer=trainer)
    learned = json.loads(trainer_tok.to_str())["model"]
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for tok_str, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(tok_str, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in learned["merges"]]
    k = 0
    while len(vocab) < vocab_size:  # filler if the corpus ran out of merges (not expected)
        vocab[f"<unused{k}>"] = len(vocab)
        k += 1

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", SP)
    tok.decoder = decoders.Sequence([decoders.Replace(SP, " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(SPECIALS)
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", BOS)])
    save_tokenizer(tok, out_dir)
    return tok


def save_tokenizer(tok, out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>",
        "mask_token": "<mask>", "additional_special_tokens": SPECIALS[5:],
        "add_bos_token": True, "add_eos_token": False, "model_max_length": 4096,
        "padding_side": "left", "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1))
    (out / "special_tokens_map.json").write_text(json.dumps(
        {k: cfg[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token",
                             "additional_special_tokens")}, indent=1))


def encode_stream(tok, texts):
    """All texts as one int32 stream, each followed by <eos>; plus the indices where a line starts
    (sample windows begin there, like a prompt does)."""
    ids, starts = [], []
    newline_ids = {i for t, i in tok.get_vocab().items() if t and set(t) == {"\n"}}
    newline_ids.add(tok.token_to_id("<0x0A>"))
    pos = 0
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        file_ids = enc.ids + [EOS]
        starts.append(pos)
        for j, t in enumerate(file_ids[:-1]):
            if t in newline_ids:
                starts.append(pos + j + 1)
        ids.extend(file_ids)
        pos += len(file_ids)
    return np.asarray(ids, dtype=np.int32), np.asarray(starts, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# 3. model
def build_model(args, vocab_size):
    from transformers import (DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion, DiffusionGemmaTextConfig,
                              Gemma4VisionConfig)

    n = args.layers
    layer_types = ["full_attention" if (i + 1) % args.period == 0 else "sliding_attention" for i in range(n)]
    layer_types[-1] = "full_attention"
    text = DiffusionGemmaTextConfig(
        vocab_size=vocab_size, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=n, layer_types=layer_types, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, head_dim=args.head_dim,
        global_head_dim=args.global_head_dim, num_global_key_value_heads=args.global_kv_heads,
        hidden_activation="gelu_pytorch_tanh", max_position_embeddings=4096, rms_norm_eps=1e-6,
        pad_token_id=PAD, eos_token_id=EOS, bos_token_id=BOS, tie_word_embeddings=True,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                         "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                            "rope_theta": 1_000_000.0}},
        attention_bias=False, attention_dropout=0.0, sliding_window=args.window,
        final_logit_softcapping=30.0, use_bidirectional_attention="vision",
        num_experts=args.experts, top_k_experts=args.top_k, moe_intermediate_size=args.moe_intermediate,
        initializer_range=0.02)
    # DiffusionGemmaEncoderModel always builds a vision tower; keep it minuscule (never trained/used).
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, global_head_dim=8, patch_size=4,
                                pooling_kernel_size=2, position_embedding_size=64, default_output_length=4,
                                use_clipped_linears=False, standardize=False)
    config = DiffusionGemmaConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=True, canvas_length=args.canvas,
        boi_token_id=SPECIALS.index("<|image>"), eoi_token_id=SPECIALS.index("<image|>"),
        image_token_id=SPECIALS.index("<|image|>"))
    config.eos_token_id = list(EOS_IDS)
    config.pad_token_id = PAD
    config.bos_token_id = BOS
    torch.manual_seed(args.seed)
    model = DiffusionGemmaForBlockDiffusion(config)
    model.generation_config = build_generation_config(args.canvas)
    return model


def build_generation_config(canvas):
    from transformers import DiffusionGemmaGenerationConfig, EntropyBoundSamplerConfig

    return DiffusionGemmaGenerationConfig(
        max_new_tokens=4 * canvas, max_denoising_steps=GEN_DEFAULTS["max_denoising_steps"],
        sampler_config=EntropyBoundSamplerConfig(entropy_bound=GEN_DEFAULTS["entropy_bound"]),
        t_min=GEN_DEFAULTS["t_min"], t_max=GEN_DEFAULTS["t_max"],
        stability_threshold=GEN_DEFAULTS["stability_threshold"],
        confidence_threshold=GEN_DEFAULTS["confidence_threshold"],
        eos_token_id=list(EOS_IDS), pad_token_id=PAD, bos_token_id=BOS)


def softcapped_logits(model, hidden):
    """lm_head + final logit softcap, as DiffusionGemmaForBlockDiffusion.forward does: [B, S, V] fp32."""
    cap = model.config.text_config.final_logit_softcapping
    logits = model.lm_head(hidden).float()
    return torch.tanh(logits / cap) * cap


def new_cache(model):
    from transformers import DynamicCache

    return DynamicCache(config=model.config.text_config)


def positions(start, length, batch):
    return torch.arange(start, start + length, dtype=torch.long).unsqueeze(0).expand(batch, -1)


def corrupt(block, t, vocab_size, gen):
    """Replace each token of block [B, C] by a uniform random token with probability t [B]."""
    hit = torch.rand(block.shape, generator=gen) < t[:, None]
    noise = torch.randint(0, vocab_size, block.shape, generator=gen)
    return torch.where(hit, noise, block), hit


def training_losses(model, x, s, t, sc_on, gen):
    """One recipe step on a batch x [B, L] with the canvas block at [s, s+C).

    Encoder (causal) on x[:, :s] fills the cache; decoder pass 1 (no grad) and pass 2 denoise the
    corrupted block reading that cache; the encoder then continues on x[:, s:] (same cache) so the AR
    loss covers the whole clean sequence. Returns (ar_loss, diffusion_loss)."""
    B, L = x.shape
    C = model.config.canvas_length
    V = model.config.text_config.vocab_size
    enc = model.model.encoder
    dec = model.model.decoder
    cache = new_cache(model)
    h1 = enc(input_ids=x[:, :s], cache=cache, position_ids=positions(0, s, B)).last_hidden_state  # [B, s, H]

    block = x[:, s:s + C]                                                                       # [B, C]
    noisy, _ = corrupt(block, t, V, gen)
    dpos = positions(s, C, B)
    with torch.no_grad():
        h_first = dec(decoder_input_ids=noisy, cache=cache, decoder_position_ids=dpos).last_hidden_state
        sc_logits = softcapped_logits(model, h_first)                                           # [B, C, V]
    h_dec = dec(decoder_input_ids=noisy, cache=cache, decoder_position_ids=dpos,
                self_conditioning_logits=sc_logits, self_conditioning_mask=sc_on).last_hidden_state
    diff_logits = softcapped_logits(model, h_dec)
    diffusion_loss = torch.nn.functional.cross_entropy(diff_logits.reshape(-1, V), block.reshape(-1))

    h2 = enc(input_ids=x[:, s:], cache=cache, position_ids=positions(s, L - s, B)).last_hidden_state  # [B, L-s, H]
    ar_logits = softcapped_logits(model, torch.cat([h1, h2], dim=1))                            # [B, L, V]
    ar_loss = torch.nn.functional.cross_entropy(ar_logits[:, :-1].reshape(-1, V), x[:, 1:].reshape(-1))
    return ar_loss, diffusion_loss


class Batcher:
    """Windows of L tokens: <bos> + L-1 stream tokens starting at a line start."""

    def __init__(self, stream, starts, seq_len, seed):
        self.stream, self.L = stream, seq_len
        self.starts = starts[starts + seq_len - 1 <= len(stream)]
        if len(self.starts) == 0:
            raise SystemExit(f"token stream of {len(stream)} tokens is shorter than --seq-len {seq_len}")
        self.rng = np.random.default_rng(seed)

    def window(self, p):
        return np.concatenate([[BOS], self.stream[p:p + self.L - 1]])

    def sample(self, batch):
        picks = self.rng.choice(self.starts, size=batch)
        return torch.from_numpy(np.stack([self.window(p) for p in picks]).astype(np.int64))

    def fixed(self, n):
        idx = np.linspace(0, len(self.starts) - 1, n).astype(np.int64)
        return torch.from_numpy(np.stack([self.window(self.starts[i]) for i in idx]).astype(np.int64))


# ---------------------------------------------------------------------------------------------
# evaluation
@torch.no_grad()
def eval_ar(model, xs, batch):
    """Held-out causal-LM loss and perplexity over xs [N, L] (predicting tokens 1..L-1)."""
    model.eval()
    V = model.config.text_config.vocab_size
    tot, n = 0.0, 0
    for i in range(0, len(xs), batch):
        x = xs[i:i + batch]
        h = model.model.encoder(input_ids=x, cache=new_cache(model)).last_hidden_state
        logits = softcapped_logits(model, h)
        tot += torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), x[:, 1:].reshape(-1),
                                                 reduction="sum").item()
        n += x[:, 1:].numel()
    return tot / n, math.exp(tot / n)


@torch.no_grad()
def eval_diffusion(model, xs, batch, rates, seed):
    """Denoising accuracy of one decoder pass (no self-conditioning, like the first generate step)
    and of a second pass conditioned on the first, for the block after a fixed prefix."""
    model.eval()
    C = model.config.canvas_length
    V = model.config.text_config.vocab_size
    L = xs.shape[1]
    s = L - C
    out = {}
    for rate in rates:
        gen = torch.Generator().manual_seed(seed)
        stats = np.zeros(5)  # correct1, correct2, correct1 on corrupted, correct2 on corrupted, n corrupted
        for i in range(0, len(xs), batch):
            x = xs[i:i + batch]
            B = x.shape[0]
            cache = new_cache(model)
            model.model.encoder(input_ids=x[:, :s], cache=cache, position_ids=positions(0, s, B))
            block = x[:, s:]
            noisy, hit = corrupt(block, torch.full((B,), float(rate)), V, gen)
            dpos = positions(s, C, B)
            l1 = softcapped_logits(model, model.model.decoder(decoder_input_ids=noisy, cache=cache,
                                                              decoder_position_ids=dpos).last_hidden_state)
            l2 = softcapped_logits(model, model.model.decoder(decoder_input_ids=noisy, cache=cache,
                                                              decoder_position_ids=dpos,
                                                              self_conditioning_logits=l1).last_hidden_state)
            ok1, ok2 = l1.argmax(-1) == block, l2.argmax(-1) == block
            stats += [ok1.sum().item(), ok2.sum().item(), (ok1 & hit).sum().item(), (ok2 & hit).sum().item(),
                      hit.sum().item()]
        n = xs.shape[0] * C
        out[rate] = dict(acc1=stats[0] / n, acc2=stats[1] / n, acc1_noised=stats[2] / max(stats[4], 1),
                         acc2_noised=stats[3] / max(stats[4], 1), noised_frac=stats[4] / n)
    return out


@torch.no_grad()
def generate_samples(model, tok, prompts, max_new_tokens, seed):
    """HF generate() on each prompt; counts decoder forwards to get denoising steps per canvas."""
    model.eval()
    C = model.config.canvas_length
    calls = [0]
    hook = model.model.decoder.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    results = []
    try:
        for prompt in prompts:
            ids = torch.tensor([tok.encode(prompt).ids])  # post-processor adds <bos>
            torch.manual_seed(seed)
            calls[0] = 0
            t0 = time.time()
            out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens)
            dt = time.time() - t0
            seq = out.sequences if hasattr(out, "sequences") else out
            new = seq[0, ids.shape[1]:].tolist()
            canvases = len(new) // C
            text = tok.decode(ids[0].tolist() + new, skip_special_tokens=True)
            results.append(dict(prompt=prompt, text=text, canvases=canvases, forwards=calls[0],
                                steps_per_canvas=calls[0] / max(canvases, 1), seconds=dt,
                                new_tokens=sum(1 for t in new if t != PAD)))
    finally:
        hook.remove()
    return results


# (entropy_bound, confidence_threshold, t_min, t_max); the first row is the real checkpoint's defaults
SAMPLER_SWEEP = [(0.1, 0.005, 0.4, 0.8), (0.1, 0.005, 0.1, 0.3), (0.5, 0.05, 0.2, 0.4), (1.0, 0.05, 0.1, 0.3),
                 (2.0, 0.1, 0.1, 0.3)]


@torch.no_grad()
def sampler_sweep(model, tok, prompts, max_new_tokens, seed):
    """Mean denoising steps per canvas of HF generate() with looser sampler settings than the
    generation_config.json defaults (for choosing settings for a small model)."""
    from transformers import EntropyBoundSamplerConfig

    C = model.config.canvas_length
    calls = [0]
    hook = model.model.decoder.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    rows = []
    try:
        for eb, ct, t_min, t_max in SAMPLER_SWEEP:
            forwards = canvases = 0
            for prompt in prompts:
                ids = torch.tensor([tok.encode(prompt).ids])
                torch.manual_seed(seed)
                calls[0] = 0
                out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens,
                                     sampler_config=EntropyBoundSamplerConfig(entropy_bound=eb),
                                     confidence_threshold=ct, t_min=t_min, t_max=t_max)
                forwards += calls[0]
                canvases += (out.sequences.shape[1] - ids.shape[1]) // C
            rows.append((eb, ct, t_min, t_max, forwards / max(canvases, 1)))
    finally:
        hook.remove()
    return rows


# ---------------------------------------------------------------------------------------------
ARGS_FILE = "train_demo_args.json"  # the training arguments, next to the checkpoint


def save_checkpoint(model, tok, out_dir, args):
    model.save_pretrained(out_dir)
    save_tokenizer(tok, out_dir)
    saved = {k: v for k, v in vars(args).items() if k not in ("out", "log_csv", "summary", "eval_only")}
    (Path(out_dir) / ARGS_FILE).write_text(json.dumps(saved, indent=1))


def write_summary(path, args, info, evals, diff, samples, sweep):
    lines = ["# Demo DiffusionGemma training", "",
             "Produced by `tools/train_demo.py`; the checkpoint itself is not committed "
             "(re-run the script to rebuild it).", "",
             "## Setup", "",
             f"- command: `{info['command']}`",
             f"- machine: {info['machine']}, torch {torch.__version__}, transformers {info['transformers']}, "
             f"Python {platform.python_version()} stdlib",
             f"- corpus: {info['n_train_files']} training files ({info['train_tokens']:,} tokens), "
             f"{info['n_eval_files']} held-out files ({info['eval_tokens']:,} tokens)",
             f"- tokenizer: byte-fallback BPE, {info['vocab']} tokens "
             f"({info['bytes_per_token']:.2f} bytes/token on the held-out files)",
             f"- model: {info['params']:,} parameters (text {info['text_params']:,}); hidden {args.hidden}, "
             f"{args.layers} layers {info['layer_types']}, {args.heads} heads, sliding window {args.window}, "
             f"{args.experts} experts top-{args.top_k}, canvas {args.canvas}",
             f"- training: {info['steps']} steps x batch {args.batch} x {args.seq_len} tokens, AdamW lr {args.lr} "
             f"(warmup {args.warmup}, cosine to {args.lr * args.min_lr_frac:g}), seed {args.seed}",
             f"- training time: {info['train_seconds'] / 60:.1f} min wall "
             f"({info['train_seconds'] / max(info['steps'], 1):.2f} s/step on a shared 2-core CPU)",
             "", "## Results", "",
             f"- final training losses (mean of the last {info['tail']} steps): AR {info['final_ar']:.3f}, "
             f"diffusion {info['final_diff']:.3f}",
             f"- held-out AR loss {evals[0]:.3f} nats/token, perplexity **{evals[1]:.2f}**",
             "", "Denoising accuracy on held-out blocks (argmax vs clean token; rate = fraction of the "
             f"canvas replaced by uniform noise; prefix {args.seq_len - args.canvas} tokens):", "",
             "| noise rate | 1 pass: all | 1 pass: noised | 2 passes (self-cond.): all | 2 passes: noised |",
             "|---|---|---|---|---|"]
    for rate, d in diff.items():
        lines.append(f"| {rate:g} | {d['acc1']:.3f} | {d['acc1_noised']:.3f} | {d['acc2']:.3f} | "
                     f"{d['acc2_noised']:.3f} |")
    if samples:
        mean_steps = sum(s["forwards"] for s in samples) / max(sum(s["canvases"] for s in samples), 1)
        lines += ["", "## HF `generate()` (entropy-bound sampler, this model's generation_config.json: "
                  f"T {GEN_DEFAULTS['t_max']:g} -> {GEN_DEFAULTS['t_min']:g}, entropy bound "
                  f"{GEN_DEFAULTS['entropy_bound']:g}, confidence threshold {GEN_DEFAULTS['confidence_threshold']:g})", "",
                  f"max_new_tokens {args.gen_tokens}, seed {args.seed}; mean denoising steps per canvas "
                  f"over all prompts: **{mean_steps:.1f}** (cap {GEN_DEFAULTS['max_denoising_steps']}).", ""]
        for s in samples:
            lines += [f"### `{s['prompt']!r}`: {s['canvases']} canvases, {s['forwards']} decoder forwards, "
                      f"{s['steps_per_canvas']:.1f} steps/canvas, {s['seconds']:.1f} s", "",
                      "```python", s["text"], "```", ""]
    if sweep:
        lines += ["Other sampler settings (same prompts and seed; the first row is the real checkpoint's "
                  "generation_config.json): mean denoising steps per canvas", "",
                  "| entropy_bound | confidence_threshold | t_min | t_max | steps/canvas |", "|---|---|---|---|---|"]
        lines += [f"| {eb:g} | {ct:g} | {t0:g} | {t1:g} | {v:.1f} |" for eb, ct, t0, t1, v in sweep]
        lines.append("")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")


def count_params(model):
    uniq = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in uniq.values())
    vision = sum(p.numel() for n, p in model.named_parameters() if "vision" in n)
    return total, total - vision


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "build" / "demo-hf"))
    ap.add_argument("--log-csv", default=str(REPO / "bench" / "results" / "demo-train-log.csv"))
    ap.add_argument("--summary", default=str(REPO / "bench" / "results" / "demo-train.md"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 is fastest on a loaded shared CPU (2 spin-wait ~10x slower under nice)")
    ap.add_argument("--eval-fraction", type=float, default=0.05)
    ap.add_argument("--max-files", type=int, default=0, help="use only the first N training files (quick tests)")
    ap.add_argument("--vocab", type=int, default=3072)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=256, help="shared MLP and self-conditioning width")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--period", type=int, default=3, help="a full-attention layer every PERIOD layers")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--global-head-dim", type=int, default=64)
    ap.add_argument("--global-kv-heads", type=int, default=1)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--moe-intermediate", type=int, default=128)
    ap.add_argument("--canvas", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--sc-prob", type=float, default=0.5, help="self-conditioning probability (recipe: 0.5)")
    ap.add_argument("--t-eps", type=float, default=0.001)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--save-every-min", type=float, default=10.0)
    ap.add_argument("--eval-seqs", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=96)
    ap.add_argument("--eval-only", action="store_true", help="skip training; evaluate the checkpoint in --out")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    import transformers
    from tokenizers import Tokenizer

    command = " ".join(["python", os.path.relpath(__file__, REPO)] + [a for a in sys.argv[1:] if a != "--eval-only"])
    if args.eval_only and (Path(args.out) / ARGS_FILE).exists():
        recorded = json.loads((Path(args.out) / ARGS_FILE).read_text())
        for k, v in recorded.items():
            setattr(args, k, v)
        command = recorded.get("command", command)
    args.command = command

    t_start = time.time()
    root, train_files, eval_files = stdlib_files(args.seed, args.eval_fraction)
    if args.max_files:
        train_files = train_files[:args.max_files]
        eval_files = eval_files[:max(2, args.max_files // 10)]
    train_texts = [t for t in (read_text(p) for p in train_files) if t]
    eval_texts = [t for t in (read_text(p) for p in eval_files) if t]
    log(f"corpus {root}: {len(train_texts)} train files ({sum(map(len, train_texts)):,} chars), "
        f"{len(eval_texts)} held-out files")

    if args.eval_only:
        from transformers import DiffusionGemmaForBlockDiffusion
        tok = Tokenizer.from_file(str(Path(args.out) / "tokenizer.json"))
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(args.out, dtype=torch.float32)
    else:
        tok = train_tokenizer(train_texts, args.vocab, args.out)
        log(f"tokenizer: {tok.get_vocab_size()} tokens ({time.time() - t_start:.0f} s)")
    train_ids, train_starts = encode_stream(tok, train_texts)
    eval_ids, eval_starts = encode_stream(tok, eval_texts)
    eval_bytes = sum(len(t.encode("utf-8")) for t in eval_texts)
    log(f"tokens: train {len(train_ids):,}, held-out {len(eval_ids):,} "
        f"({eval_bytes / max(len(eval_ids) - len(eval_texts), 1):.2f} bytes/token) ({time.time() - t_start:.0f} s)")
    batcher = Batcher(train_ids, train_starts, args.seq_len, args.seed)
    eval_x = Batcher(eval_ids, eval_starts, args.seq_len, args.seed).fixed(args.eval_seqs)

    info = dict(command=args.command,
                machine=f"{platform.machine()} {os.cpu_count()} cores", transformers=transformers.__version__,
                n_train_files=len(train_texts), n_eval_files=len(eval_texts), train_tokens=len(train_ids),
                eval_tokens=len(eval_ids), vocab=tok.get_vocab_size(),
                bytes_per_token=eval_bytes / max(len(eval_ids) - len(eval_texts), 1))

    if not args.eval_only:
        model = build_model(args, tok.get_vocab_size())
    total, text_params = count_params(model)
    info.update(params=total, text_params=text_params,
                layer_types="".join("f" if t == "full_attention" else "s"
                                    for t in model.config.text_config.layer_types))
    log(f"model: {total:,} parameters, layers {info['layer_types']}")

    csv_rows = []
    if not args.eval_only:
        model.train()
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

        def lr_at(step):
            if step < args.warmup:
                return args.lr * (step + 1) / args.warmup
            frac = (step - args.warmup) / max(args.steps - args.warmup, 1)
            return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))

        gen = torch.Generator().manual_seed(args.seed + 1)
        L, C = args.seq_len, args.canvas
        Path(args.log_csv).parent.mkdir(parents=True, exist_ok=True)
        csv_f = open(args.log_csv, "w", newline="")
        writer = csv.writer(csv_f)
        writer.writerow(["step", "ar_loss", "diffusion_loss", "elapsed_s"])
        t_train = time.time()
        last_save = t_train
        acc_ar, acc_diff, acc_n = 0.0, 0.0, 0
        for step in range(args.steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            x = batcher.sample(args.batch)                                       # [B, L]
            s = int(torch.randint(1, L - C + 1, (1,), generator=gen))           # prefix length (>= <bos>)
            t = args.t_eps + (1 - args.t_eps) * torch.rand(args.batch, generator=gen)  # noise rate per example
            sc_on = torch.rand(args.batch, generator=gen) < args.sc_prob
            ar_loss, diff_loss = training_losses(model, x, s, t, sc_on, gen)
            loss = ar_loss + diff_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            acc_ar += ar_loss.item()
            acc_diff += diff_loss.item()
            acc_n += 1
            if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
                el = time.time() - t_train
                row = [step + 1, round(acc_ar / acc_n, 4), round(acc_diff / acc_n, 4), round(el, 1)]
                writer.writerow(row)
                csv_f.flush()
                csv_rows.append(row)
                log(f"step {step + 1}/{args.steps} ar {row[1]:.3f} diff {row[2]:.3f} lr {lr_at(step):.2e} "
                    f"{el / (step + 1):.2f} s/step")
                acc_ar, acc_diff, acc_n = 0.0, 0.0, 0
            if time.time() - last_save > args.save_every_min * 60:
                save_checkpoint(model, tok, args.out, args)
                last_save = time.time()
                log(f"checkpoint saved to {args.out} at step {step + 1}")
        csv_f.close()
        info["train_seconds"] = time.time() - t_train
        info["steps"] = args.steps
        save_checkpoint(model, tok, args.out, args)
        log(f"training done in {info['train_seconds'] / 60:.1f} min; saved to {args.out}")
    else:
        if Path(args.log_csv).exists():
            with open(args.log_csv) as f:
                csv_rows = [[float(v) for v in r] for r in list(csv.reader(f))[1:]]
        info["steps"] = int(csv_rows[-1][0]) if csv_rows else 0
        info["train_seconds"] = csv_rows[-1][3] if csv_rows else 0.0

    tail = csv_rows[-5:] if csv_rows else []
    info["tail"] = sum(1 for _ in tail) * args.log_every
    info["final_ar"] = float(np.mean([r[1] for r in tail])) if tail else float("nan")
    info["final_diff"] = float(np.mean([r[2] for r in tail])) if tail else float("nan")

    model.eval()
    ar = eval_ar(model, eval_x, 16)
    log(f"held-out AR loss {ar[0]:.3f}, perplexity {ar[1]:.2f}")
    diff = eval_diffusion(model, eval_x, 16, [0.1, 0.25, 0.5, 0.75, 1.0], args.seed)
    for rate, d in diff.items():
        log(f"denoise rate {rate}: acc {d['acc1']:.3f} (noised {d['acc1_noised']:.3f}), with self-cond "
            f"{d['acc2']:.3f} (noised {d['acc2_noised']:.3f})")
    samples = generate_samples(model, tok, EVAL_PROMPTS, args.gen_tokens, args.seed)
    for s in samples:
        log(f"generate {s['prompt']!r}: {s['steps_per_canvas']:.1f} steps/canvas\n{s['text']}\n---")
    sweep = sampler_sweep(model, tok, EVAL_PROMPTS, args.gen_tokens, args.seed)
    for eb, ct, t0, t1, v in sweep:
        log(f"entropy_bound {eb} confidence_threshold {ct} T {t1}->{t0}: {v:.1f} steps/canvas")
    write_summary(args.summary, args, info, ar, diff, samples, sweep)
    log(f"summary written to {args.summary} (total {(time.time() - t_start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
