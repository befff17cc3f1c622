"""config.json / generation_config.json of a DiffusionGemma checkpoint -> HParams.

Accepts both spellings of the full-attention layer geometry (docs/algorithm.md §2):
transformers 5.x writes `text_config.per_layer_config = {"5": {"head_dim": 512,
"num_key_value_heads": 2}, ...}`; the Google config.json (5.8.0.dev0) writes
`text_config.global_head_dim` / `num_global_key_value_heads`. The GGUF schema has one head dim and
KV-head count per layer kind, so full layers must agree with each other.
"""
import json
import os
from dataclasses import dataclass, field
from typing import List, Optional

from .errors import ConvertError

ARCH = "diffusion-gemma"
MODEL_TYPES = ("diffusion_gemma", "diffusiongemma", "diffusion_gemma4")
ARCHITECTURES = ("DiffusionGemmaForBlockDiffusion", "DiffusionGemma4ModelForBlockDiffusion")


@dataclass
class HParams:
    n_layer: int
    n_embd: int
    n_vocab: int                 # config vocab_size (embedding rows)
    n_head: int
    n_ff: int                    # dense / self-conditioning MLP width
    n_expert: int
    n_expert_used: int
    n_ff_exp: int                # per-expert width
    sliding: List[bool]          # per layer: True = sliding-window layer
    head_dim_swa: int
    head_dim: int                # full (global) layers
    n_kv_swa: int
    n_kv: int                    # full layers
    sliding_window: int
    rope_theta: float            # full layers
    rope_theta_swa: float
    partial_rotary: float        # full layers (fraction of head_dim rotated)
    partial_rotary_swa: float
    rms_eps: float
    softcap: Optional[float]
    context_length: int
    canvas_length: int
    tie_embeddings: bool
    eos_ids: List[int] = field(default_factory=list)
    bos_id: Optional[int] = None
    pad_id: Optional[int] = None
    name: str = ""

    def head_dim_of(self, i: int) -> int:
        return self.head_dim_swa if self.sliding[i] else self.head_dim

    def n_kv_of(self, i: int) -> int:
        return self.n_kv_swa if self.sliding[i] else self.n_kv


def _load_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except FileNotFoundError:
        raise ConvertError(f"{what} not found: {path}") from None
    except (OSError, ValueError) as e:
        raise ConvertError(f"cannot read {path}: {e}") from None
    if not isinstance(d, dict):
        raise ConvertError(f"{path}: expected a JSON object")
    return d


def _req(cfg: dict, key: str, where: str):
    v = cfg.get(key)
    if v is None:
        raise ConvertError(f"config.json: {where}.{key} is missing")
    return v


def _as_list(v) -> List[int]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v if x is not None]
    return [int(v)]


def parse_config(cfg: dict, name: str = "") -> HParams:
    """HParams from a parsed config.json (top level with text_config, or a bare text config)."""
    mt = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if mt not in MODEL_TYPES and not any(a in ARCHITECTURES for a in archs):
        raise ConvertError(f"not a DiffusionGemma checkpoint: config.json has model_type {mt!r}"
                           f" (architectures {archs}); expected model_type 'diffusion_gemma'")
    tc = cfg.get("text_config")
    if not isinstance(tc, dict):
        raise ConvertError("config.json: text_config is missing")
    n_layer = int(_req(tc, "num_hidden_layers", "text_config"))
    layer_types = tc.get("layer_types")
    if layer_types is None:  # HF default: 5 sliding : 1 full, last layer full
        layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layer)]
        layer_types[-1] = "full_attention"
    if len(layer_types) != n_layer:
        raise ConvertError(f"config.json: layer_types has {len(layer_types)} entries for {n_layer} layers")
    for t in layer_types:
        if t not in ("sliding_attention", "full_attention"):
            raise ConvertError(f"config.json: unknown layer type {t!r}")
    sliding = [t == "sliding_attention" for t in layer_types]

    head_dim_swa = int(_req(tc, "head_dim", "text_config"))
    n_kv_swa = int(_req(tc, "num_key_value_heads", "text_config"))
    # full-layer geometry: per_layer_config (transformers 5.x) or global_* keys (older configs)
    plc = tc.get("per_layer_config") or {}
    full_geo = set()
    for i in range(n_layer):
        if sliding[i]:
            continue
        p = plc.get(str(i)) or plc.get(i) or {}
        hd = p.get("head_dim", tc.get("global_head_dim"))
        kv = p.get("num_key_value_heads", tc.get("num_global_key_value_heads"))
        if hd is None:
            raise ConvertError(f"config.json: full-attention layer {i} has no head dim "
                               "(neither text_config.per_layer_config nor text_config.global_head_dim)")
        if kv is None:
            kv = n_kv_swa
        full_geo.add((int(hd), int(kv)))
    for k, p in plc.items():
        if sliding[int(k)] and any(p.get(f) not in (None, v) for f, v in
                                   (("head_dim", head_dim_swa), ("num_key_value_heads", n_kv_swa))):
            raise ConvertError(f"config.json: per_layer_config overrides sliding layer {k}; not supported")
    if len(full_geo) > 1:
        raise ConvertError(f"config.json: full-attention layers disagree on (head_dim, kv_heads): {sorted(full_geo)}")
    head_dim, n_kv = full_geo.pop() if full_geo else (int(tc.get("global_head_dim") or head_dim_swa), n_kv_swa)

    rp = tc.get("rope_parameters") or {}
    rp_full, rp_swa = rp.get("full_attention") or {}, rp.get("sliding_attention") or {}
    rope_theta = float(rp_full.get("rope_theta", tc.get("rope_theta", 1e6)))
    rope_theta_swa = float(rp_swa.get("rope_theta", tc.get("rope_local_base_freq", 1e4)))
    partial = float(rp_full.get("partial_rotary_factor", tc.get("global_partial_rotary_factor", 0.25)))
    partial_swa = float(rp_swa.get("partial_rotary_factor", 1.0))

    canvas = cfg.get("canvas_length", tc.get("canvas_length"))
    if canvas is None or int(canvas) <= 0:
        raise ConvertError(f"config.json: canvas_length must be a positive integer (got {canvas!r})")
    n_expert = int(_req(tc, "num_experts", "text_config"))
    top_k = int(_req(tc, "top_k_experts", "text_config"))
    if not 0 < top_k <= n_expert:
        raise ConvertError(f"config.json: top_k_experts {top_k} not in 1..num_experts {n_expert}")
    softcap = tc.get("final_logit_softcapping")
    tie = cfg.get("tie_word_embeddings", tc.get("tie_word_embeddings", True))
    eos = _as_list(cfg.get("eos_token_id")) or _as_list(tc.get("eos_token_id"))
    hp = HParams(
        n_layer=n_layer,
        n_embd=int(_req(tc, "hidden_size", "text_config")),
        n_vocab=int(_req(tc, "vocab_size", "text_config")),
        n_head=int(_req(tc, "num_attention_heads", "text_config")),
        n_ff=int(_req(tc, "intermediate_size", "text_config")),
        n_expert=n_expert, n_expert_used=top_k,
        n_ff_exp=int(_req(tc, "moe_intermediate_size", "text_config")),
        sliding=sliding, head_dim_swa=head_dim_swa, head_dim=head_dim, n_kv_swa=n_kv_swa, n_kv=n_kv,
        sliding_window=int(_req(tc, "sliding_window", "text_config")),
        rope_theta=rope_theta, rope_theta_swa=rope_theta_swa,
        partial_rotary=partial, partial_rotary_swa=partial_swa,
        rms_eps=float(tc.get("rms_norm_eps", 1e-6)),
        softcap=None if softcap is None else float(softcap),
        context_length=int(tc.get("max_position_embeddings", 131072)),
        canvas_length=int(canvas), tie_embeddings=bool(tie), eos_ids=eos,
        bos_id=tc.get("bos_token_id", cfg.get("bos_token_id")),
        pad_id=tc.get("pad_token_id", cfg.get("pad_token_id")),
        name=name,
    )
    for k in ("n_layer", "n_embd", "n_vocab", "n_head", "n_ff", "n_expert", "n_ff_exp", "head_dim",
              "head_dim_swa", "n_kv", "n_kv_swa", "sliding_window"):
        if getattr(hp, k) <= 0:
            raise ConvertError(f"config.json: {k} must be positive (got {getattr(hp, k)})")
    if not hp.tie_embeddings:
        raise ConvertError("config.json: tie_word_embeddings is false; only tied DiffusionGemma checkpoints are supported")
    return hp


def load_config(directory: str) -> HParams:
    cfg = _load_json(os.path.join(directory, "config.json"), "config.json")
    return parse_config(cfg, name=os.path.basename(os.path.normpath(directory)))


def load_generation_config(directory: str) -> dict:
    """generation_config.json as a dict ({} when absent); null values are kept as None."""
    path = os.path.join(directory, "generation_config.json")
    if not os.path.exists(path):
        return {}
    return _load_json(path, "generation_config.json")
