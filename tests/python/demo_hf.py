"""Rebuilds an HF transformers DiffusionGemmaForBlockDiffusion from a `diffusion-gemma` GGUF (the
shipped demo model), for the parity tests of test_demo_model.py; also writes it back out as a
checkpoint directory our converter reads.

    fields, tensors = read_gguf_f32(path)           # metadata {key: value}, {gguf name: float32 array}
    hf = build_hf(fields, tensors)                   # eval, float32, eager attention
    save_checkpoint(hf, fields, out_dir)             # save_pretrained + tokenizer.json & co from the GGUF

The GGUF -> HF name table is convert_helpers.hf_name (written independently of the converter's
tensor_map). Tensors are stored as HF has them (numpy shape = reversed GGUF ne, norms as-is, the
experts' gate_up fused gate-rows-first), so no reshaping is needed. Tensors tied to the decoder
(encoder text weights except the layer scalars, lm_head) get the decoder's values; the vision tower
is not in the GGUF and stays at its (seeded) random init: the text path never reads it.
"""
import json
import os

import numpy as np

import convert_helpers as ch

A = "diffusion-gemma."
SP = "\u2581"


def read_gguf_f32(path):
    """({key: python value}, {gguf tensor name: float32 array, numpy shape = reversed ne})."""
    fields, raw = ch.read_gguf(path)
    meta = {k: v for k, (_, v) in fields.items()}
    tensors = {n: ch.tensor_f32(t, ne, d) for n, (t, ne, d) in raw.items()}
    return meta, tensors


def _token_id(meta, text):
    return meta["tokenizer.ggml.tokens"].index(text)


def build_config(meta, tensors):
    """DiffusionGemmaConfig from the GGUF metadata (same construction as tools/train_demo.py build_model)."""
    from transformers import DiffusionGemmaConfig, DiffusionGemmaTextConfig, Gemma4VisionConfig

    if meta.get("general.architecture") != "diffusion-gemma":
        raise ValueError(f"not a diffusion-gemma GGUF: {meta.get('general.architecture')!r}")
    n = int(meta[A + "block_count"])
    sliding = [bool(s) for s in meta[A + "attention.sliding_window_pattern"]]
    kv = [int(k) for k in meta[A + "attention.head_count_kv"]]
    full = [i for i in range(n) if not sliding[i]]
    swa = [i for i in range(n) if sliding[i]]
    head_dim = int(meta[A + "attention.key_length"])
    # full layers: rope_freqs holds 1.0 for the rotated pairs, 1e30 for the rest
    rf = tensors["rope_freqs.weight"]
    partial = float(2 * int(np.sum(rf == 1.0)) / head_dim)
    eos = [int(e) for e in meta["diffusion.eos_token_ids"]]
    text = DiffusionGemmaTextConfig(
        vocab_size=tensors["token_embd.weight"].shape[0], hidden_size=int(meta[A + "embedding_length"]),
        intermediate_size=int(meta[A + "feed_forward_length"]), num_hidden_layers=n,
        layer_types=["sliding_attention" if s else "full_attention" for s in sliding],
        num_attention_heads=int(meta[A + "attention.head_count"]), num_key_value_heads=kv[swa[0]],
        head_dim=int(meta[A + "attention.key_length_swa"]), global_head_dim=head_dim,
        num_global_key_value_heads=kv[full[0]], hidden_activation="gelu_pytorch_tanh",
        max_position_embeddings=int(meta[A + "context_length"]),
        rms_norm_eps=float(np.float32(meta[A + "attention.layer_norm_rms_epsilon"])),
        pad_token_id=int(meta["tokenizer.ggml.padding_token_id"]), eos_token_id=eos[0],
        bos_token_id=int(meta["tokenizer.ggml.bos_token_id"]), tie_word_embeddings=True,
        rope_parameters={"sliding_attention": {"rope_type": "default",
                                               "rope_theta": float(meta[A + "rope.freq_base_swa"])},
                         "full_attention": {"rope_type": "proportional", "partial_rotary_factor": partial,
                                            "rope_theta": float(meta[A + "rope.freq_base"])}},
        attention_bias=False, attention_dropout=0.0, sliding_window=int(meta[A + "attention.sliding_window"]),
        final_logit_softcapping=float(meta[A + "final_logit_softcapping"]), use_bidirectional_attention="vision",
        num_experts=int(meta[A + "expert_count"]), top_k_experts=int(meta[A + "expert_used_count"]),
        moe_intermediate_size=int(meta[A + "expert_feed_forward_length"]))
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, global_head_dim=8, patch_size=4,
                                pooling_kernel_size=2, position_embedding_size=64, default_output_length=4,
                                use_clipped_linears=False, standardize=False)
    cfg = DiffusionGemmaConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=True,
        canvas_length=int(meta["diffusion.canvas_length"]), boi_token_id=_token_id(meta, "<|image>"),
        eoi_token_id=_token_id(meta, "<image|>"), image_token_id=_token_id(meta, "<|image|>"))
    cfg.eos_token_id = eos
    cfg.pad_token_id = text.pad_token_id
    cfg.bos_token_id = text.bos_token_id
    return cfg


def build_generation_config(meta):
    """The sampler defaults of the GGUF's diffusion.* keys as an HF generation config."""
    from transformers import DiffusionGemmaGenerationConfig, EntropyBoundSamplerConfig

    f32 = lambda k: float(np.float32(meta[k]))  # noqa: E731  (keys are stored as float32)
    return DiffusionGemmaGenerationConfig(
        max_new_tokens=4 * int(meta["diffusion.canvas_length"]),
        max_denoising_steps=int(meta["diffusion.eb_max_steps"]),
        sampler_config=EntropyBoundSamplerConfig(entropy_bound=f32("diffusion.eb_entropy_bound")),
        t_min=f32("diffusion.eb_t_min"), t_max=f32("diffusion.eb_t_max"),
        stability_threshold=int(meta["diffusion.eb_stability_threshold"]),
        confidence_threshold=f32("diffusion.eb_confidence_threshold"),
        eos_token_id=[int(e) for e in meta["diffusion.eos_token_ids"]],
        pad_token_id=int(meta["tokenizer.ggml.padding_token_id"]),
        bos_token_id=int(meta["tokenizer.ggml.bos_token_id"]))


def hf_state(tensors):
    """{HF name: float32 array} of the text weights in the GGUF (rope_freqs is generated, not a weight)."""
    out = {}
    for name, arr in tensors.items():
        hf = ch.hf_name(name)
        if hf is None:
            continue
        if name.endswith("layer_output_scale.weight"):
            arr = arr.reshape(())  # GGUF {1} -> HF scalar buffer
        out[hf] = arr
    return out


def build_hf(meta, tensors, seed=0):
    """DiffusionGemmaForBlockDiffusion with the GGUF's weights (float32, eval, eager attention).
    Raises if a text weight of the model has no GGUF source or a shape disagrees."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    cfg = build_config(meta, tensors)
    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(cfg).float()
    src = hf_state(tensors)
    enc = "model.encoder.language_model."
    sd, used = {}, set()
    for key, cur in model.state_dict().items():
        if "vision" in key:
            sd[key] = cur
            continue
        if key in src:
            name = key
        elif key.startswith(enc) and ("model.decoder." + key[len(enc):]) in src:
            name = "model.decoder." + key[len(enc):]  # tied to the decoder
        elif key == "lm_head.weight":
            name = "model.decoder.embed_tokens.weight"
        else:
            raise KeyError(f"no GGUF tensor for HF weight {key}")
        val = torch.from_numpy(np.ascontiguousarray(src[name]))
        if tuple(val.shape) != tuple(cur.shape):
            raise ValueError(f"{key}: GGUF gives {tuple(val.shape)}, the model wants {tuple(cur.shape)}")
        sd[key] = val
        used.add(name)
    unused = set(src) - used
    if unused:
        raise KeyError(f"GGUF tensors with no HF weight: {sorted(unused)[:5]}")
    model.load_state_dict(sd, strict=True)
    model.generation_config = build_generation_config(meta)
    model.config._attn_implementation = "eager"
    for m in model.modules():
        if hasattr(m, "config") and hasattr(m.config, "_attn_implementation"):
            m.config._attn_implementation = "eager"
    return model.eval()


def tokenizer_files(meta):
    """{file name: JSON object} of tokenizer.json / tokenizer_config.json rebuilt from the GGUF's
    tokenizer.ggml.* keys, enough for our converter to write the same tokenizer metadata back."""
    tokens = list(meta["tokenizer.ggml.tokens"])
    types = [int(t) for t in meta["tokenizer.ggml.token_type"]]
    CONTROL, USER_DEFINED = 3, 4
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": types[i] == CONTROL}
             for i, t in enumerate(tokens) if types[i] in (CONTROL, USER_DEFINED)]
    unk_id = meta.get("tokenizer.ggml.unknown_token_id")
    tok_json = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": SP},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SP}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": None if unk_id is None else tokens[int(unk_id)],
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": True, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)},
                  "merges": [m.split(" ", 1) for m in meta["tokenizer.ggml.merges"]]},
    }
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast",
           "add_bos_token": bool(meta["tokenizer.ggml.add_bos_token"]),
           "add_eos_token": bool(meta["tokenizer.ggml.add_eos_token"])}
    for field, key in (("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"),
                       ("pad_token", "padding"), ("mask_token", "mask")):
        i = meta.get(f"tokenizer.ggml.{key}_token_id")
        if i is not None:
            cfg[field] = tokens[int(i)]
    if meta.get("tokenizer.chat_template"):
        cfg["chat_template"] = meta["tokenizer.chat_template"]
    return {"tokenizer.json": tok_json, "tokenizer_config.json": cfg}


def save_checkpoint(model, meta, out_dir):
    """An HF checkpoint directory (config, generation config, safetensors, tokenizer) of ``model``."""
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    for name, obj in tokenizer_files(meta).items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False)
    return out_dir


def randomized(tensors, seed=0):
    """Same-shape random weights: each tensor replaced by normal values with that tensor's mean and
    std (rope_freqs, a fixed table, is kept). A model that has learned nothing, for the negative checks."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, arr in tensors.items():
        if name == "rope_freqs.weight":
            out[name] = arr
            continue
        out[name] = (arr.mean() + arr.std() * rng.standard_normal(arr.shape)).astype(np.float32)
    return out


def write_gguf_like(src_path, tensors, out_path):
    """An F32 GGUF with the metadata of ``src_path`` (tokenizer and sampler defaults included) and
    ``tensors`` ({gguf name: float32 array, numpy shape = reversed ne}) in the source's tensor order."""
    import gguf

    r = gguf.GGUFReader(str(src_path))
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(out_path), arch)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        vtype = gguf.GGUFValueType(f.types[0])
        sub = gguf.GGUFValueType(f.types[-1]) if vtype == gguf.GGUFValueType.ARRAY else None
        val = f.contents()
        if f.name == "general.file_type":
            val = 0  # all F32
        w.add_key_value(f.name, val, vtype, sub_type=sub)
    for t in r.tensors:
        w.add_tensor(t.name, np.ascontiguousarray(tensors[t.name], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out_path
