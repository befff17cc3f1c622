"""HF DiffusionGemma tensor names -> the `diffusion-gemma` GGUF tensor table (docs/format.md §B).

The expected table is derived from the config alone (so the type plan of the real model can be
computed without weights); the checkpoint is then validated against it. Shapes are GGUF dims
`ne` (ne[0] fastest). HF stores every matrix as numpy [out, in] and the experts as
[X, out, in], which is exactly GGUF {in, out(, X)} read backwards: no transposes are needed, and
`experts.gate_up_proj` is already the fused {E, 2*Fe, X} (gate rows first) the schema wants.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .hf_config import HParams

DEC = "model.decoder."
ENC_LAYERS = "model.encoder.language_model.layers."


@dataclass
class TensorSpec:
    name: str                  # GGUF name
    ne: List[int]              # GGUF dims, ne[0] fastest
    hf: Optional[str] = None   # source tensor name (None: generated)
    trim_rows: bool = False    # token_embd: take the first ne[1] rows of a possibly larger matrix
    optional: bool = False     # dropped (with a log line) when the checkpoint lacks it

    @property
    def hf_shape(self) -> List[int]:
        return list(reversed(self.ne))

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.ne, dtype=np.int64))


def rope_freqs(hp: HParams) -> np.ndarray:
    """{Hg/2} frequency factors of the proportional RoPE on full layers: 1.0 for the rotated pairs,
    1e30 (angle ~ 0: no rotation) for the rest."""
    n = hp.head_dim // 2
    n_rot = int(hp.head_dim * hp.partial_rotary) // 2
    out = np.full(n, 1e30, dtype=np.float32)
    out[:n_rot] = 1.0
    return out


def build_tensor_table(hp: HParams, n_vocab: int) -> List[TensorSpec]:
    """Every GGUF tensor of the model, in file order. ``n_vocab`` = tokenizer size (embedding rows kept)."""
    E, F, Fe, X = hp.n_embd, hp.n_ff, hp.n_ff_exp, hp.n_expert
    t = [
        TensorSpec("token_embd.weight", [E, n_vocab], DEC + "embed_tokens.weight", trim_rows=True),
        TensorSpec("rope_freqs.weight", [hp.head_dim // 2]),
        TensorSpec("output_norm.weight", [E], DEC + "norm.weight"),
        TensorSpec("self_cond_pre_norm.weight", [E], DEC + "self_conditioning.pre_norm.weight", optional=True),
        TensorSpec("self_cond_gate.weight", [E, F], DEC + "self_conditioning.gate_proj.weight", optional=True),
        TensorSpec("self_cond_up.weight", [E, F], DEC + "self_conditioning.up_proj.weight", optional=True),
        TensorSpec("self_cond_down.weight", [F, E], DEC + "self_conditioning.down_proj.weight", optional=True),
    ]
    for i in range(hp.n_layer):
        H, K = hp.head_dim_of(i), hp.n_kv_of(i)
        p, b = f"{DEC}layers.{i}.", f"blk.{i}."
        t += [
            TensorSpec(b + "attn_norm.weight", [E], p + "input_layernorm.weight"),
            TensorSpec(b + "attn_q.weight", [E, hp.n_head * H], p + "self_attn.q_proj.weight"),
            TensorSpec(b + "attn_k.weight", [E, K * H], p + "self_attn.k_proj.weight"),
        ]
        if hp.sliding[i]:  # full layers have no v_proj (values = raw k_proj output)
            t.append(TensorSpec(b + "attn_v.weight", [E, K * H], p + "self_attn.v_proj.weight"))
        t += [
            TensorSpec(b + "attn_output.weight", [hp.n_head * H, E], p + "self_attn.o_proj.weight"),
            TensorSpec(b + "attn_q_norm.weight", [H], p + "self_attn.q_norm.weight"),
            TensorSpec(b + "attn_k_norm.weight", [H], p + "self_attn.k_norm.weight"),
            TensorSpec(b + "post_attention_norm.weight", [E], p + "post_attention_layernorm.weight"),
            TensorSpec(b + "ffn_norm.weight", [E], p + "pre_feedforward_layernorm.weight"),
            TensorSpec(b + "ffn_gate.weight", [E, F], p + "mlp.gate_proj.weight"),
            TensorSpec(b + "ffn_up.weight", [E, F], p + "mlp.up_proj.weight"),
            TensorSpec(b + "ffn_down.weight", [F, E], p + "mlp.down_proj.weight"),
            TensorSpec(b + "post_ffw_norm_1.weight", [E], p + "post_feedforward_layernorm_1.weight"),
            TensorSpec(b + "pre_ffw_norm_2.weight", [E], p + "pre_feedforward_layernorm_2.weight"),
            TensorSpec(b + "post_ffw_norm_2.weight", [E], p + "post_feedforward_layernorm_2.weight"),
            TensorSpec(b + "post_ffw_norm.weight", [E], p + "post_feedforward_layernorm.weight"),
            TensorSpec(b + "ffn_gate_inp.weight", [E, X], p + "router.proj.weight"),
            TensorSpec(b + "ffn_gate_inp.scale", [E], p + "router.scale"),
            TensorSpec(b + "ffn_gate_up_exps.weight", [E, 2 * Fe, X], p + "experts.gate_up_proj"),
            TensorSpec(b + "ffn_down_exps.weight", [Fe, E, X], p + "experts.down_proj"),
            TensorSpec(b + "ffn_down_exps.scale", [X], p + "router.per_expert_scale"),
            TensorSpec(b + "layer_output_scale.weight", [1], p + "layer_scalar"),
            TensorSpec(b + "enc_layer_output_scale.weight", [1], f"{ENC_LAYERS}{i}.layer_scalar"),
        ]
    return t


def is_vision(hf_name: str) -> bool:
    return "vision" in hf_name


def is_tied_duplicate(hf_name: str) -> bool:
    """Tensors tied to decoder weights (absent from HF saves, harmless if present)."""
    if hf_name == "lm_head.weight":
        return True
    return hf_name.startswith("model.encoder.language_model.") and not hf_name.endswith("layer_scalar")
