"""GGUF metadata of a `diffusion-gemma` file: general.*, architecture hyperparameters and the
diffusion.* sampler defaults, keys and value types exactly as in docs/format.md §B."""
from typing import List, Tuple

from .errors import ConvertError
from .gguf_types import VT
from .hf_config import ARCH, HParams

KV = Tuple[str, int, object]


def size_label(n_total: int, n_active: int = 0) -> str:
    def fmt(n):
        for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
            if n >= div:
                v = n / div
                return f"{v:.0f}{suf}" if v >= 10 else f"{v:.1f}{suf}".replace(".0" + suf, suf)
        return str(n)
    return fmt(n_total) + (f"-A{fmt(n_active)}" if n_active else "")


def general_kv(name: str, file_type: int, label: str) -> List[KV]:
    kv = [("general.architecture", VT.STRING, ARCH)]
    if name:
        kv.append(("general.name", VT.STRING, name))
    if label:
        kv.append(("general.size_label", VT.STRING, label))
    kv += [("general.file_type", VT.UINT32, file_type), ("general.quantization_version", VT.UINT32, 2)]
    return kv


def arch_kv(hp: HParams) -> List[KV]:
    a = ARCH + "."
    kv = [
        (a + "block_count", VT.UINT32, hp.n_layer),
        (a + "context_length", VT.UINT32, hp.context_length),
        (a + "embedding_length", VT.UINT32, hp.n_embd),
        (a + "feed_forward_length", VT.UINT32, hp.n_ff),
        (a + "attention.head_count", VT.UINT32, hp.n_head),
        (a + "attention.head_count_kv", VT.ARRAY, (VT.INT32, [hp.n_kv_of(i) for i in range(hp.n_layer)])),
        (a + "rope.freq_base", VT.FLOAT32, hp.rope_theta),
        (a + "rope.freq_base_swa", VT.FLOAT32, hp.rope_theta_swa),
        (a + "attention.layer_norm_rms_epsilon", VT.FLOAT32, hp.rms_eps),
        (a + "expert_count", VT.UINT32, hp.n_expert),
        (a + "expert_used_count", VT.UINT32, hp.n_expert_used),
        (a + "expert_feed_forward_length", VT.UINT32, hp.n_ff_exp),
        (a + "attention.key_length", VT.UINT32, hp.head_dim),
        (a + "attention.value_length", VT.UINT32, hp.head_dim),
        (a + "attention.key_length_swa", VT.UINT32, hp.head_dim_swa),
        (a + "attention.value_length_swa", VT.UINT32, hp.head_dim_swa),
        (a + "rope.dimension_count", VT.UINT32, hp.head_dim),
        (a + "rope.dimension_count_swa", VT.UINT32, int(hp.head_dim_swa * hp.partial_rotary_swa)),
        (a + "attention.sliding_window", VT.UINT32, hp.sliding_window),
        (a + "attention.sliding_window_pattern", VT.ARRAY, (VT.BOOL, list(hp.sliding))),
    ]
    if hp.softcap is not None:
        kv.append((a + "final_logit_softcapping", VT.FLOAT32, hp.softcap))
    kv += [
        (a + "attention.shared_kv_layers", VT.UINT32, 0),
        (a + "embedding_length_per_layer_input", VT.UINT32, 0),
        (a + "attention.causal", VT.BOOL, False),
    ]
    return kv


def _num(v, kind, key):
    if v is None:
        return None
    try:
        return kind(v)
    except (TypeError, ValueError):
        raise ConvertError(f"generation_config.json: {key} = {v!r} is not a number") from None


def diffusion_kv(hp: HParams, gen: dict) -> List[KV]:
    """diffusion.* keys; optional sampler defaults are skipped when missing or null."""
    kv = [("diffusion.canvas_length", VT.UINT32, hp.canvas_length)]
    sampler = gen.get("sampler_config") or {}
    if not isinstance(sampler, dict):
        sampler = {}
    for key, src, kind, vt in (
        ("diffusion.eb_max_steps", gen.get("max_denoising_steps"), int, VT.UINT32),
        ("diffusion.eb_t_min", gen.get("t_min"), float, VT.FLOAT32),
        ("diffusion.eb_t_max", gen.get("t_max"), float, VT.FLOAT32),
        ("diffusion.eb_entropy_bound", sampler.get("entropy_bound", gen.get("entropy_bound")), float, VT.FLOAT32),
        ("diffusion.eb_stability_threshold", gen.get("stability_threshold"), int, VT.UINT32),
        ("diffusion.eb_confidence_threshold", gen.get("confidence_threshold"), float, VT.FLOAT32),
    ):
        v = _num(src, kind, key)
        if v is None:
            continue
        if vt == VT.UINT32 and v < 0:
            raise ConvertError(f"generation_config.json: {key} = {v} must be >= 0")
        kv.append((key, vt, v))
    eos = gen.get("eos_token_id")
    eos = [eos] if isinstance(eos, int) else [int(e) for e in (eos or []) if e is not None]
    if not eos:
        eos = list(hp.eos_ids)
    if eos:
        kv.append(("diffusion.eos_token_ids", VT.ARRAY, (VT.INT32, eos)))
    return kv
