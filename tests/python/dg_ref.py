"""Helpers for the model tests: tiny random DiffusionGemma checkpoints built in-process with
transformers (float32, every norm / scale / layer scalar randomised, encoder scalars != decoder),
an F32 GGUF writer that follows spec/gguf.md Part B (fused or split experts, tensors can be
dropped or reshaped for the error tests), and HF reference passes (encoder KV cache, canvas
logits with and without self-conditioning, AR logits, committing a canvas).
"""
import math

import numpy as np

H_DEFAULT = dict(vocab_size=512, hidden_size=64, intermediate_size=96, num_layers=6, period=3, num_heads=4,
                 num_kv_heads=2, head_dim=16, global_head_dim=32, num_global_kv_heads=1, sliding_window=16,
                 num_experts=8, top_k=2, moe_intermediate_size=32, canvas_length=32, seed=1234)


def build_hf(**over):
    """A random DiffusionGemmaForBlockDiffusion (float32, eval, eager attention)."""
    import torch
    from transformers import (DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion, DiffusionGemmaTextConfig,
                              Gemma4VisionConfig)

    a = dict(H_DEFAULT, **over)
    n = a["num_layers"]
    layer_types = ["full_attention" if (i + 1) % a["period"] == 0 else "sliding_attention" for i in range(n)]
    layer_types[-1] = "full_attention"
    text = DiffusionGemmaTextConfig(
        vocab_size=a["vocab_size"], hidden_size=a["hidden_size"], intermediate_size=a["intermediate_size"],
        num_hidden_layers=n, layer_types=layer_types, num_attention_heads=a["num_heads"],
        num_key_value_heads=a["num_kv_heads"], head_dim=a["head_dim"], global_head_dim=a["global_head_dim"],
        num_global_key_value_heads=a["num_global_kv_heads"], hidden_activation="gelu_pytorch_tanh",
        max_position_embeddings=4096, rms_norm_eps=1e-6, pad_token_id=0, eos_token_id=1, bos_token_id=2,
        tie_word_embeddings=True,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                         "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                            "rope_theta": 1_000_000.0}},
        sliding_window=a["sliding_window"], final_logit_softcapping=30.0, use_bidirectional_attention="vision",
        num_experts=a["num_experts"], top_k_experts=a["top_k"], moe_intermediate_size=a["moe_intermediate_size"])
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, global_head_dim=8, patch_size=4,
                                pooling_kernel_size=2, position_embedding_size=64, default_output_length=4,
                                use_clipped_linears=False, standardize=False)
    V = a["vocab_size"]
    cfg = DiffusionGemmaConfig(text_config=text, vision_config=vision, boi_token_id=V - 3, eoi_token_id=V - 1,
                               image_token_id=V - 2, tie_word_embeddings=True, canvas_length=a["canvas_length"])
    torch.manual_seed(a["seed"])
    model = DiffusionGemmaForBlockDiffusion(cfg)
    g = torch.Generator().manual_seed(a["seed"])
    with torch.no_grad():
        seen = set()
        for name, p in model.named_parameters(remove_duplicate=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if "vision" in name:
                continue
            if name.endswith("embed_tokens.weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
                p.copy_(0.2 + 0.4 * torch.rand(p.shape, generator=g))
            elif p.ndim == 1:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
        for layer in list(model.model.decoder.layers) + list(model.model.encoder.language_model.layers):
            layer.layer_scalar.copy_(0.6 + 0.4 * torch.rand(layer.layer_scalar.shape, generator=g))
    model.config._attn_implementation = "eager"
    for m in model.modules():
        if hasattr(m, "config") and hasattr(m.config, "_attn_implementation"):
            m.config._attn_implementation = "eager"
    return model.float().eval()


def _np(t):
    return t.detach().float().cpu().numpy()


def layer_dims(model):
    """(global head dim, sliding head dim, per-layer kv heads, per-layer is_full) read from the modules."""
    full, kv, hg, hs = [], [], None, None
    for L in model.model.decoder.layers:
        at = L.self_attn
        d = at.head_dim
        is_full = getattr(at, "v_proj", None) is None
        full.append(is_full)
        kv.append(at.k_proj.weight.shape[0] // d)
        if is_full:
            hg = d
        else:
            hs = d
    return hg, hs or hg, kv, full


def gguf_tensors(model, fused=True):
    """[(gguf name, np.float32 array)] in Part B naming (numpy shape = reversed GGUF ne)."""
    tc = model.config.text_config
    dec = model.model.decoder
    enc = model.model.encoder.language_model
    out = [("token_embd.weight", _np(dec.embed_tokens.weight)), ("output_norm.weight", _np(dec.norm.weight))]
    hg, _, _, _ = layer_dims(model)
    n_ones = int(hg * 0.25 // 2)
    rf = np.full(hg // 2, 1e30, dtype=np.float32)
    rf[:n_ones] = 1.0
    out.append(("rope_freqs.weight", rf))
    sc = dec.self_conditioning
    out += [("self_cond_pre_norm.weight", _np(sc.pre_norm.weight)), ("self_cond_gate.weight", _np(sc.gate_proj.weight)),
            ("self_cond_up.weight", _np(sc.up_proj.weight)), ("self_cond_down.weight", _np(sc.down_proj.weight))]
    for i, L in enumerate(dec.layers):
        p = f"blk.{i}."
        at = L.self_attn
        out += [(p + "attn_norm.weight", _np(L.input_layernorm.weight)), (p + "attn_q.weight", _np(at.q_proj.weight)),
                (p + "attn_k.weight", _np(at.k_proj.weight))]
        if getattr(at, "v_proj", None) is not None:
            out.append((p + "attn_v.weight", _np(at.v_proj.weight)))
        out += [(p + "attn_output.weight", _np(at.o_proj.weight)), (p + "attn_q_norm.weight", _np(at.q_norm.weight)),
                (p + "attn_k_norm.weight", _np(at.k_norm.weight)),
                (p + "post_attention_norm.weight", _np(L.post_attention_layernorm.weight)),
                (p + "ffn_norm.weight", _np(L.pre_feedforward_layernorm.weight)),
                (p + "ffn_gate.weight", _np(L.mlp.gate_proj.weight)), (p + "ffn_up.weight", _np(L.mlp.up_proj.weight)),
                (p + "ffn_down.weight", _np(L.mlp.down_proj.weight)),
                (p + "post_ffw_norm_1.weight", _np(L.post_feedforward_layernorm_1.weight)),
                (p + "pre_ffw_norm_2.weight", _np(L.pre_feedforward_layernorm_2.weight)),
                (p + "post_ffw_norm_2.weight", _np(L.post_feedforward_layernorm_2.weight)),
                (p + "post_ffw_norm.weight", _np(L.post_feedforward_layernorm.weight)),
                (p + "ffn_gate_inp.weight", _np(L.router.proj.weight)), (p + "ffn_gate_inp.scale", _np(L.router.scale)),
                (p + "ffn_down_exps.scale", _np(L.router.per_expert_scale))]
        gu = _np(L.experts.gate_up_proj)  # [X, 2Fe, H]
        if fused:
            out.append((p + "ffn_gate_up_exps.weight", gu))
        else:
            fe = gu.shape[1] // 2
            out += [(p + "ffn_gate_exps.weight", np.ascontiguousarray(gu[:, :fe])),
                    (p + "ffn_up_exps.weight", np.ascontiguousarray(gu[:, fe:]))]
        out += [(p + "ffn_down_exps.weight", _np(L.experts.down_proj)),
                (p + "layer_output_scale.weight", _np(L.layer_scalar).reshape(1)),
                (p + "enc_layer_output_scale.weight", _np(enc.layers[i].layer_scalar).reshape(1))]
    return out


def write_gguf(model, path, fused=True, drop=(), reshape=None, arch="diffusion-gemma", skip_keys=(), tensors=None,
               split_max_tensors=0):
    """Writes an F32 diffusion-gemma GGUF. drop: tensor names to leave out; reshape: {name: new numpy
    shape}; skip_keys: metadata keys to leave out; tensors: [(name, float array)] to write instead of
    the model's, or (name, uint8 blocks, gguf type) for a tensor already encoded; split_max_tensors:
    shards written by the `gguf` package's own split writer (returns the first shard's path)."""
    import gguf

    tc = model.config.text_config
    hg, hs, kv, full = layer_dims(model)
    n = len(kv)
    A = arch
    kvs = [
        (f"{A}.block_count", "u32", n), (f"{A}.context_length", "u32", tc.max_position_embeddings),
        (f"{A}.embedding_length", "u32", tc.hidden_size), (f"{A}.feed_forward_length", "u32", tc.intermediate_size),
        (f"{A}.attention.head_count", "u32", tc.num_attention_heads), (f"{A}.attention.head_count_kv", "arr", kv),
        (f"{A}.rope.freq_base", "f32", 1e6), (f"{A}.rope.freq_base_swa", "f32", 1e4),
        (f"{A}.attention.layer_norm_rms_epsilon", "f32", tc.rms_norm_eps),
        (f"{A}.expert_count", "u32", tc.num_experts), (f"{A}.expert_used_count", "u32", tc.top_k_experts),
        (f"{A}.expert_feed_forward_length", "u32", tc.moe_intermediate_size),
        (f"{A}.attention.key_length", "u32", hg), (f"{A}.attention.value_length", "u32", hg),
        (f"{A}.attention.key_length_swa", "u32", hs), (f"{A}.attention.value_length_swa", "u32", hs),
        (f"{A}.rope.dimension_count", "u32", hg), (f"{A}.rope.dimension_count_swa", "u32", hs),
        (f"{A}.attention.sliding_window", "u32", tc.sliding_window),
        (f"{A}.attention.sliding_window_pattern", "arr", [not f for f in full]),
        (f"{A}.final_logit_softcapping", "f32", 30.0), (f"{A}.attention.causal", "bool", False),
        ("diffusion.canvas_length", "u32", model.config.canvas_length), ("diffusion.eb_max_steps", "u32", 48),
        ("diffusion.eb_t_min", "f32", 0.4), ("diffusion.eb_t_max", "f32", 0.8),
        ("diffusion.eb_entropy_bound", "f32", 0.1), ("diffusion.eb_stability_threshold", "u32", 1),
        ("diffusion.eb_confidence_threshold", "f32", 0.005),
    ]
    w = gguf.GGUFWriter(str(path), arch, split_max_tensors=split_max_tensors)
    for k, t, v in kvs:
        if k in skip_keys:
            continue
        if t == "u32":
            w.add_uint32(k, int(v))
        elif t == "f32":
            w.add_float32(k, float(v))
        elif t == "bool":
            w.add_bool(k, bool(v))
        else:
            w.add_array(k, v)
    reshape = reshape or {}
    for item in (tensors if tensors is not None else gguf_tensors(model, fused)):
        name, arr = item[0], item[1]
        if name in drop:
            continue
        if len(item) == 3:  # (name, uint8 blocks [..., row bytes], gguf type): written as is
            w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.uint8), raw_dtype=item[2])
            continue
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if name in reshape:
            arr = np.resize(arr, reshape[name]).astype(np.float32)
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if len(w.tensors) > 1:
        return path.with_name(f"{path.stem}-00001-of-{len(w.tensors):05d}.gguf")
    return path


# ---- HF reference passes -------------------------------------------------------------------
class HFRef:
    """Drives the HF model the way generate() does: encoder prefill into a DynamicCache, canvas
    forwards against it (read-only), committing a canvas by re-encoding it at the decoder's positions."""

    def __init__(self, model):
        from transformers import DynamicCache
        self.model = model
        self.cfg = model.config
        self.cache = DynamicCache(config=self.cfg.get_text_config(decoder=True))
        self.length = 0

    def encode(self, ids, logits=False):
        import torch
        ids = torch.as_tensor(np.asarray(ids), dtype=torch.long).reshape(1, -1)
        P = ids.shape[1]
        pos = torch.arange(self.length, self.length + P, dtype=torch.long)[None]
        attn = torch.ones((1, self.length + P), dtype=torch.bool)
        m = self.model
        with torch.no_grad():
            mask = m.model.encoder.create_masks_for_generate(
                config=m.config, inputs_embeds=torch.empty((1, P, 0), dtype=torch.float32), attention_mask=attn,
                cache=self.cache, position_ids=pos)
            out = m.model.encoder(input_ids=ids, attention_mask=mask, cache=self.cache, position_ids=pos)
        self.length += P
        if logits:
            with torch.no_grad():
                lg = m.lm_head(out.last_hidden_state[:, -1]).float()
                sc = self.cfg.text_config.final_logit_softcapping
                return _np(torch.tanh(lg / sc) * sc)[0]
        return None

    def kv(self, layer):
        lay = self.cache.layers[layer]
        return _np(lay.keys)[0].transpose(1, 0, 2), _np(lay.values)[0].transpose(1, 0, 2)  # [T, nkv, d]

    def decode(self, canvas, sc_logits=None):
        import torch
        canvas = torch.as_tensor(np.asarray(canvas), dtype=torch.long).reshape(1, -1)
        C = canvas.shape[1]
        m = self.model
        with torch.no_grad():
            dmask = m.model.decoder.create_diffusion_decoder_attention_mask(
                config=m.config, inputs_embeds=canvas.unsqueeze(-1), cache=self.cache,
                decoder_attention_mask=torch.ones((1, self.length + C), dtype=torch.bool))
            dpos = torch.arange(self.length, self.length + C, dtype=torch.long)[None]
            kw = {}
            if sc_logits is not None:
                kw["self_conditioning_logits"] = torch.as_tensor(sc_logits, dtype=torch.float32)[None]
            r = m(decoder_input_ids=canvas, cache=self.cache, decoder_attention_mask=dmask,
                  decoder_position_ids=dpos, **kw)
        assert self.cache.get_seq_length() == min(self.length, self.cache.get_seq_length())
        return _np(r.logits)[0]


def make_prompt(P, V):
    head = [2, 105 % V, 300 % V, 107 % V]
    body = [(5 + 37 * i) % (V - 8) + 5 for i in range(max(P - 4, 0))]
    return np.array((head + body)[:P], dtype=np.int32)


def make_canvas(C, V, salt=0):
    return np.array([(3 + 101 * i + 17 * salt) % V for i in range(C)], dtype=np.int32)
