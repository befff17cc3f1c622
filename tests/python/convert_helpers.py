"""Shared helpers for the converter tests (imported by test_convert.py / test_quantize_tool.py):
running the CLIs, reading GGUF files with the `gguf` package, and the HF <- GGUF name table
written out independently of the converter's own tensor_map."""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# GGUF per-layer suffix -> HF per-layer suffix (docs/format.md §B)
LAYER_MAP = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "post_ffw_norm_1.weight": "post_feedforward_layernorm_1.weight",
    "pre_ffw_norm_2.weight": "pre_feedforward_layernorm_2.weight",
    "post_ffw_norm_2.weight": "post_feedforward_layernorm_2.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    "ffn_gate_inp.weight": "router.proj.weight",
    "ffn_gate_inp.scale": "router.scale",
    "ffn_gate_up_exps.weight": "experts.gate_up_proj",
    "ffn_down_exps.weight": "experts.down_proj",
    "ffn_down_exps.scale": "router.per_expert_scale",
    "layer_output_scale.weight": "layer_scalar",
}
GLOBAL_MAP = {
    "token_embd.weight": "model.decoder.embed_tokens.weight",
    "output_norm.weight": "model.decoder.norm.weight",
    "self_cond_pre_norm.weight": "model.decoder.self_conditioning.pre_norm.weight",
    "self_cond_gate.weight": "model.decoder.self_conditioning.gate_proj.weight",
    "self_cond_up.weight": "model.decoder.self_conditioning.up_proj.weight",
    "self_cond_down.weight": "model.decoder.self_conditioning.down_proj.weight",
}


def hf_name(gguf_name):
    """HF source of a GGUF tensor (None for generated rope_freqs)."""
    if gguf_name in GLOBAL_MAP:
        return GLOBAL_MAP[gguf_name]
    if gguf_name == "rope_freqs.weight":
        return None
    _, i, rest = gguf_name.split(".", 2)
    if rest == "enc_layer_output_scale.weight":
        return f"model.encoder.language_model.layers.{i}.layer_scalar"
    return f"model.decoder.layers.{i}.{LAYER_MAP[rest]}"


def run_cli(module, *args, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=env)


def read_gguf(path):
    """(fields {key: (type names, value)}, tensors {name: (type name, ne, data)}) via gguf-py."""
    import gguf
    r = gguf.GGUFReader(str(path))
    fields = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        fields[f.name] = ([gguf.GGUFValueType(t).name for t in f.types], f.contents())
    tensors = {}
    for t in r.tensors:
        tensors[t.name] = (t.tensor_type.name, [int(d) for d in t.shape], np.array(t.data))
    return fields, tensors


def tensor_f32(ttype, ne, data):
    """Dequantized float32 with numpy shape = reversed(ne), using gguf.quants as the oracle."""
    import gguf
    q = gguf.GGMLQuantizationType[ttype]
    if ttype == "F32":
        x = data.astype(np.float32)
    elif ttype == "F16":
        x = data.astype(np.float32)
    else:
        x = gguf.quants.dequantize(data, q)
    return np.asarray(x, dtype=np.float32).reshape(list(reversed(ne)))
