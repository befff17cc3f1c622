"""Per-tensor type plan for each --outtype, following llama-quantize's selection rules
(spec/gguf.md §3.3), so our Q4_K_M of the real model has the published per-type counts
(F32 423, Q4_K 194, Q5_0 33, Q8_0 28, Q6_K 14).

Rules, in order:
  1. kept F32: 1-D tensors, names not ending in "weight" (*.scale), *_norm.weight, the router
     (ffn_gate_inp.weight), rope_freqs, layer scalars;
  2. default type of the outtype (f16 -> F16, q4_k_m -> Q4_K, iq3_s -> IQ3_S, ...; the IQ1/IQ2
     outtypes need an importance matrix and are refused);
  3. bumps: the output tensor (or token_embd when tied) -> Q6_K (Q8_0 stays Q8_0, rows not
     divisible by 256 -> Q8_0); for Q4_K_M/Q5_K_M, attn_v and ffn_down* -> Q6_K where
     use_more_bits(i, n) (attn_v counted over attn_v tensors, ffn_down by layer);
  4. fallback when the row length ne0 is not a multiple of the block size:
     Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ3_* -> IQ4_NL, anything else (or a fallback that still does not
     fit) -> F16.
"""
import re
from collections import Counter
from typing import List, Sequence, Tuple

from .errors import ConvertError
from .gguf_types import block_size

OUTTYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q6_k", "q5_k_m", "q4_k_m", "iq3_s", "iq3_xxs", "auto",
            "iq2_xxs", "iq2_xs", "iq2_s", "iq1_s", "iq1_m")
# Types llama-quantize makes only with an importance matrix, which we do not have: a clear error.
IMATRIX_OUTTYPES = ("iq2_xxs", "iq2_xs", "iq2_s", "iq1_s", "iq1_m")

_DEFAULT = {"f32": "F32", "f16": "F16", "bf16": "BF16", "auto": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0",
            "q5_0": "Q5_0", "q6_k": "Q6_K", "q5_k_m": "Q5_K", "q4_k_m": "Q4_K", "iq3_s": "IQ3_S",
            "iq3_xxs": "IQ3_XXS"}
_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "Q2_K": "Q4_0", "Q3_K": "Q4_0",
             "IQ4_XS": "IQ4_NL", "IQ3_S": "IQ4_NL", "IQ3_XXS": "IQ4_NL"}
_LAYER_RE = re.compile(r"^blk\.(\d+)\.")


def normalize_outtype(outtype: str) -> str:
    o = outtype.lower()
    if o not in OUTTYPES:
        raise ConvertError(f"unknown output type {outtype!r}; choose one of {', '.join(OUTTYPES)}")
    if o in IMATRIX_OUTTYPES:
        raise ConvertError(f"output type {outtype!r} needs an importance matrix (as in llama-quantize), which this "
                           "tool does not support; IQ3_S and IQ3_XXS quantize without one (--outtype iq3_s / iq3_xxs)")
    return "bf16" if o == "auto" else o


def use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def keep_f32(name: str, ne: Sequence[int]) -> bool:
    one_d = all(int(d) == 1 for d in ne[1:])
    return (one_d or not name.endswith("weight") or name.endswith("_norm.weight")
            or name.endswith("ffn_gate_inp.weight") or name == "rope_freqs.weight"
            or name.endswith("layer_output_scale.weight"))


def _fits(t: str, ne0: int) -> bool:
    return ne0 % block_size(t) == 0


def plan_types(tensors: Sequence[Tuple[str, Sequence[int]]], outtype: str, n_layer: int) -> List[str]:
    """Type name of every (gguf_name, ne) tensor for ``outtype``."""
    outtype = normalize_outtype(outtype)
    default = _DEFAULT[outtype]
    names = [n for n, _ in tensors]
    output_name = "output.weight" if "output.weight" in names else "token_embd.weight"
    n_attn_v = sum(1 for n in names if n.endswith("attn_v.weight"))
    i_attn_v = 0
    mixed_k = outtype in ("q4_k_m", "q5_k_m")
    quantized = outtype not in ("f32", "f16", "bf16")
    out = []
    for name, ne in tensors:
        ne0 = int(ne[0])
        if outtype == "f32" or keep_f32(name, ne):
            out.append("F32")
            continue
        t = default
        if quantized:
            if name == output_name:
                t = "Q8_0" if ne0 % 256 else (t if t == "Q8_0" else "Q6_K")
            elif name.endswith("attn_v.weight"):
                if mixed_k and use_more_bits(i_attn_v, n_attn_v):
                    t = "Q6_K"
                i_attn_v += 1
            elif "ffn_down" in name:
                m = _LAYER_RE.match(name)
                if mixed_k and m and use_more_bits(int(m.group(1)), n_layer):
                    t = "Q6_K"
        if not _fits(t, ne0):
            fb = _FALLBACK.get(t)
            t = fb if fb is not None and _fits(fb, ne0) else "F16"
        out.append(t)
    return out


def type_counts(types: Sequence[str]) -> dict:
    return dict(Counter(types))
