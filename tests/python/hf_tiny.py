"""Test fixtures for the converter: tiny random DiffusionGemma checkpoints (built with transformers,
deterministic seeds), a byte-fallback BPE tokenizer.json (built with `tokenizers`), a numpy-only
safetensors writer for large synthetic checkpoints, and the real 26B-A4B config.json.
"""
import json
import math
import os
import struct
from collections import Counter
from pathlib import Path

import numpy as np

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<|turn>", "<turn|>"]


# ---------------------------------------------------------------------------------------------
# tokenizer
def make_tokenizer(out_dir, vocab_size=512):
    """Gemma-4-style BPE: SentencePiece spaces (U+2581), byte fallback; ids 0..6 specials, then
    256 <0xXX> byte tokens, single characters, greedy merges from a small corpus, <unusedK> filler."""
    from tokenizers import Tokenizer, decoders, normalizers
    from tokenizers.models import BPE

    out = Path(out_dir)
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for c in ["\u2581"] + [chr(c) for c in range(33, 127)] + ["\n"]:
        vocab.setdefault(c, len(vocab))
    corpus = ("the quick brown fox jumps over the lazy dog . hello world , a tiny test of the diffusion "
              "gemma canvas model . write a short poem about the sea and the sky . ") * 3
    words = [list("\u2581" + w) for w in corpus.split()]
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter(p for w in words for p in zip(w, w[1:]))
        if not pairs:
            break
        (a, b), _ = pairs.most_common(1)[0]
        merges.append((a, b))
        vocab[a + b] = len(vocab)
        new_words = []
        for w in words:
            i, r = 0, []
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    r.append(a + b)
                    i += 2
                else:
                    r.append(w[i])
                    i += 1
            new_words.append(r)
        words = new_words
    k = 0
    while len(vocab) < vocab_size:
        vocab[f"<unused{k}>"] = len(vocab)
        k += 1
    tok = Tokenizer(BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(SPECIALS)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    template = ("{{ bos_token }}{% for m in messages %}<|turn>{{ m['role'] }}\n{{ m['content'] }}<turn|>\n"
                "{% endfor %}{% if add_generation_prompt %}<|turn>model\n{% endif %}")
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
           "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
           "additional_special_tokens": ["<|turn>", "<turn|>"], "add_bos_token": True,
           "add_eos_token": False, "chat_template": template}
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1))
    return vocab, merges


# ---------------------------------------------------------------------------------------------
# tiny HF checkpoint
def make_checkpoint(out_dir, *, vocab_size=512, hidden=64, intermediate=96, layers=6, period=3,
                    heads=4, kv_heads=2, head_dim=16, global_head_dim=32, global_kv_heads=1,
                    experts=8, top_k=2, moe_intermediate=32, canvas=32, dtype="bfloat16", seed=1234,
                    max_shard_size=None):
    """A random DiffusionGemmaForBlockDiffusion saved with save_pretrained (+ tokenizer files).
    Norms, scales and layer scalars are randomised too, so a converter that drops or mixes one up
    is caught. Deterministic for the same arguments."""
    import torch
    from transformers import (DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion,
                              DiffusionGemmaGenerationConfig, DiffusionGemmaTextConfig,
                              EntropyBoundSamplerConfig, Gemma4VisionConfig)

    layer_types = ["full_attention" if (i + 1) % period == 0 else "sliding_attention" for i in range(layers)]
    layer_types[-1] = "full_attention"
    text = DiffusionGemmaTextConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        layer_types=layer_types, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
        global_head_dim=global_head_dim, num_global_key_value_heads=global_kv_heads,
        hidden_activation="gelu_pytorch_tanh", max_position_embeddings=4096, rms_norm_eps=1e-6,
        pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                         "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                            "rope_theta": 1_000_000.0}},
        sliding_window=16, final_logit_softcapping=30.0, use_bidirectional_attention="vision",
        num_experts=experts, top_k_experts=top_k, moe_intermediate_size=moe_intermediate)
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, global_head_dim=8, patch_size=4,
                                pooling_kernel_size=2, position_embedding_size=64, default_output_length=4,
                                use_clipped_linears=False, standardize=False)
    config = DiffusionGemmaConfig(text_config=text, vision_config=vision, boi_token_id=vocab_size - 3,
                                  eoi_token_id=vocab_size - 1, image_token_id=vocab_size - 2,
                                  tie_word_embeddings=True, canvas_length=canvas)
    config.eos_token_id = [1, 106 % vocab_size, 50]
    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(config).eval()
    g = torch.Generator().manual_seed(seed)
    seen = set()
    with torch.no_grad():
        for name, p in model.named_parameters(remove_duplicate=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if p.ndim == 1:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
        for layer in list(model.model.decoder.layers) + list(model.model.encoder.language_model.layers):
            layer.layer_scalar.copy_(0.6 + 0.4 * torch.rand(layer.layer_scalar.shape, generator=g))
    model.generation_config = DiffusionGemmaGenerationConfig(
        max_new_tokens=2 * canvas, max_denoising_steps=48, sampler_config=EntropyBoundSamplerConfig(entropy_bound=0.1),
        t_min=0.4, t_max=0.8, stability_threshold=1, confidence_threshold=0.005, eos_token_id=[1, 106 % vocab_size, 50],
        pad_token_id=0, bos_token_id=2)
    if dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    os.makedirs(out_dir, exist_ok=True)
    kw = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(out_dir, **kw)
    make_tokenizer(out_dir, vocab_size)
    return out_dir


def load_safetensors_f32(directory):
    """Every tensor of a checkpoint as float32 numpy (reference reader: the safetensors package)."""
    from safetensors.torch import load_file as load_torch  # bf16 needs the torch reader
    out = {}
    for f in sorted(os.listdir(directory)):
        if f.endswith(".safetensors"):
            for k, v in load_torch(os.path.join(directory, f)).items():
                out[k] = v.float().numpy()
    return out


# ---------------------------------------------------------------------------------------------
# numpy-only safetensors writer (large synthetic checkpoints without torch)
def write_safetensors(path, tensors, seed=0, chunk_rows=4096):
    """tensors: list of (name, shape, kind) with kind 'norm' (~U(0.5,1.5)) or 'mat' (~N(0, 1/sqrt(in)));
    all written as bf16, generated and written chunk by chunk (never the whole tensor in memory)."""
    rng = np.random.default_rng(seed)
    header, off = {}, 0
    for name, shape, _ in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, kind in tensors:
            row = int(shape[-1])
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            for r0 in range(0, rows, chunk_rows):
                r1 = min(rows, r0 + chunk_rows)
                if kind == "norm":
                    x = rng.uniform(0.5, 1.5, size=(r1 - r0, row)).astype(np.float32)
                else:
                    x = (rng.standard_normal((r1 - r0, row), dtype=np.float32) / math.sqrt(row))
                f.write((x.view(np.uint32) >> 16).astype(np.uint16).tobytes())


def hf_tensor_list(cfg):
    """(name, shape, kind) of every text tensor of a DiffusionGemma config dict (old key spelling)."""
    tc = cfg["text_config"]
    E, F, Fe, X, V = tc["hidden_size"], tc["intermediate_size"], tc["moe_intermediate_size"], tc["num_experts"], tc["vocab_size"]
    out = [("model.decoder.embed_tokens.weight", (V, E), "mat"), ("model.decoder.norm.weight", (E,), "norm")]
    sc = "model.decoder.self_conditioning."
    out += [(sc + "pre_norm.weight", (E,), "norm"), (sc + "gate_proj.weight", (F, E), "mat"),
            (sc + "up_proj.weight", (F, E), "mat"), (sc + "down_proj.weight", (E, F), "mat")]
    for i, lt in enumerate(tc["layer_types"]):
        full = lt == "full_attention"
        H = tc["global_head_dim"] if full else tc["head_dim"]
        K = tc["num_global_key_value_heads"] if full else tc["num_key_value_heads"]
        p = f"model.decoder.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", (tc["num_attention_heads"] * H, E), "mat"),
                (p + "self_attn.k_proj.weight", (K * H, E), "mat")]
        if not full:
            out.append((p + "self_attn.v_proj.weight", (K * H, E), "mat"))
        out += [(p + "self_attn.o_proj.weight", (E, tc["num_attention_heads"] * H), "mat"),
                (p + "self_attn.q_norm.weight", (H,), "norm"), (p + "self_attn.k_norm.weight", (H,), "norm")]
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                  "post_feedforward_layernorm", "pre_feedforward_layernorm_2", "post_feedforward_layernorm_1",
                  "post_feedforward_layernorm_2"):
            out.append((p + n + ".weight", (E,), "norm"))
        out += [(p + "mlp.gate_proj.weight", (F, E), "mat"), (p + "mlp.up_proj.weight", (F, E), "mat"),
                (p + "mlp.down_proj.weight", (E, F), "mat"), (p + "router.proj.weight", (X, E), "mat"),
                (p + "router.scale", (E,), "norm"), (p + "router.per_expert_scale", (X,), "norm"),
                (p + "experts.gate_up_proj", (X, 2 * Fe, E), "mat"), (p + "experts.down_proj", (X, E, Fe), "mat"),
                (p + "layer_scalar", (1,), "norm"),
                (f"model.encoder.language_model.layers.{i}.layer_scalar", (1,), "norm")]
    return out


# ---------------------------------------------------------------------------------------------
def real_config(n_layers=30, vocab=262144):
    """config.json of google/diffusiongemma-26B-A4B-it (old global_* spelling, as Google ships it)."""
    layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layers)]
    layer_types[-1] = "full_attention"
    return {
        "architectures": ["DiffusionGemmaForBlockDiffusion"], "model_type": "diffusion_gemma",
        "canvas_length": 256, "eos_token_id": [1, 106, 50], "tie_word_embeddings": True,
        "text_config": {
            "model_type": "diffusion_gemma_text", "vocab_size": vocab, "hidden_size": 2816,
            "intermediate_size": 2112, "num_hidden_layers": n_layers, "num_attention_heads": 16,
            "num_key_value_heads": 8, "head_dim": 256, "global_head_dim": 512, "num_global_key_value_heads": 2,
            "max_position_embeddings": 262144, "rms_norm_eps": 1e-6, "sliding_window": 1024,
            "layer_types": layer_types, "final_logit_softcapping": 30.0, "num_experts": 128,
            "top_k_experts": 8, "moe_intermediate_size": 704, "tie_word_embeddings": True,
            "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
            "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                                   "rope_theta": 1000000.0}},
        },
    }


def small_config(hidden=256, vocab=512, layers=3, experts=4, moe=64, ff=160, heads=4, kv=2, hd=64, ghd=128, gkv=1):
    """A small config.json dict in the Google (global_* keys) spelling, for numpy-only checkpoints."""
    cfg = real_config(n_layers=layers, vocab=vocab)
    cfg["canvas_length"] = 32
    tc = cfg["text_config"]
    tc.update(hidden_size=hidden, intermediate_size=ff, num_attention_heads=heads, num_key_value_heads=kv,
              head_dim=hd, global_head_dim=ghd, num_global_key_value_heads=gkv, num_experts=experts,
              top_k_experts=min(2, experts), moe_intermediate_size=moe, sliding_window=16,
              max_position_embeddings=4096,
              layer_types=["full_attention" if (i + 1) % 3 == 0 or i == layers - 1 else "sliding_attention"
                           for i in range(layers)])
    return cfg


def make_numpy_checkpoint(out_dir, cfg, seed=0, with_tokenizer=True):
    """config.json + generation_config.json + model.safetensors (random bf16, written with numpy
    chunk by chunk) + tokenizer files. No torch needed."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    gen = {"max_denoising_steps": 48, "t_min": 0.4, "t_max": 0.8, "sampler_config": {"entropy_bound": 0.1},
           "stability_threshold": 1, "confidence_threshold": 0.005, "eos_token_id": [1, 106, 50]}
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), hf_tensor_list(cfg), seed=seed)
    if with_tokenizer:
        make_tokenizer(out_dir, cfg["text_config"]["vocab_size"])
    return out_dir
