"""CPU neural-network ops of the Gemma-4 block (thin numpy wrappers over ``_core``).

Every function takes float32-convertible numpy arrays and returns new arrays. The switches shared by
all of them, for tests and benchmarks:

* ``reference=True``: the plain scalar reference op instead of the optimized kernels;
* ``isa="generic" | "avx2" | "avx2_vnni" | "avx512" | ...``: force a kernel ISA (default: ``ld.cpu_isa()``;
  avx2_vnni and amx run the avx2 / avx512 tables here: they differ in the quantized matmul only);
* ``n_threads=N``: run on a private pool of N threads (default: the global pool).

    attention(q, k, v, q_pos, k_pos, mask="causal" | "sliding" | "canvas", window=, canvas_begin=, ...)
    rms_norm(x, weight=None, eps=1e-6)       rope(x, pos, theta_base, n_rot=0, freq_factors=None)
    gelu_tanh(x)   geglu(gate, up=None)   softcap(x, cap)   softmax(x)   router_topk(logits, k, scale)
"""
import numpy as np

from . import _core

__all__ = ["attention", "rms_norm", "rope", "gelu_tanh", "geglu", "softcap", "softmax", "router_topk",
           "proportional_freq_factors"]


def _f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def _i32(x):
    return np.ascontiguousarray(x, dtype=np.int32)


def attention(q, k, v, q_pos=None, k_pos=None, mask="causal", window=0, canvas_begin=0, scale=1.0,
              kv_type="F32", reference=False, isa=None, n_threads=None, repeats=1):
    """Attention of q [n_q, n_head, d] over k, v [n_kv, n_kv_head, d] -> [n_q, n_head, d].

    Query head h uses KV head h // (n_head // n_kv_head). Positions (int32) default to
    k_pos = 0..n_kv-1 and q_pos = the last n_q of them. Masks (qp, kp: query / key positions):
    ``causal`` kp <= qp; ``sliding`` qp - window < kp <= qp; ``canvas`` every key at
    kp >= canvas_begin plus the prefix (all of it when window == 0, else kp > canvas_begin - window).
    Negative key positions are empty slots. ``kv_type`` (F32, F16, Q8_0) is how K/V are stored: the
    given f32 values are converted with the reference quantizer first. ``repeats > 1`` returns
    (out, wall seconds per run, process CPU seconds per run) with only the op timed.
    """
    q, k, v = _f32(q), _f32(k), _f32(v)
    if k_pos is None:
        k_pos = np.arange(k.shape[0], dtype=np.int32)
    if q_pos is None:
        q_pos = np.arange(k.shape[0] - q.shape[0], k.shape[0], dtype=np.int32)
    return _core.nn_attention(q, k, v, _i32(q_pos), _i32(k_pos), mask, int(window), int(canvas_begin),
                              float(scale), kv_type.upper(), bool(reference), isa, n_threads, int(repeats))


def rms_norm(x, weight=None, eps=1e-6, reference=False, isa=None, n_threads=None):
    """x * (mean(x^2, last axis) + eps)^-1/2 * weight (Gemma 4: no 1 + weight); weight None = weightless."""
    return _core.nn_rms_norm(_f32(x), None if weight is None else _f32(weight), float(eps), bool(reference), isa,
                             n_threads)


def rope(x, pos, theta_base, n_rot=0, freq_factors=None, reference=False, n_threads=None, inv_freq=None):
    """Rotate-half RoPE of x [n_tok, n_head, head_dim] at int32 positions pos [n_tok].

    Pairs (i, i + n_rot/2) of the first n_rot dims (0 = head_dim) rotate by
    pos * theta_base^(-2i/n_rot) / freq_factors[i]; a factor of 1e30 leaves a pair unrotated.
    ``inv_freq`` [n_rot/2] replaces theta_base^(-2i/n_rot) by an explicit f32 table.
    """
    return _core.nn_rope(_f32(x), _i32(pos), float(theta_base), int(n_rot),
                         None if freq_factors is None else _f32(freq_factors), bool(reference), n_threads,
                         None if inv_freq is None else _f32(inv_freq))


def proportional_freq_factors(head_dim, partial_rotary_factor):
    """Frequency factors of Gemma 4's proportional RoPE: 1 for the first int(f * head_dim // 2) pairs,
    1e30 (not rotated) for the others; use with n_rot = head_dim."""
    n = int(partial_rotary_factor * head_dim // 2)
    ff = np.full(head_dim // 2, 1e30, dtype=np.float32)
    ff[:n] = 1.0
    return ff


def gelu_tanh(x, reference=False, isa=None, n_threads=None):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), exact (no tables)."""
    return _core.nn_gelu_tanh(_f32(x), bool(reference), isa, n_threads)


def geglu(gate, up=None, reference=False, isa=None, n_threads=None):
    """gelu_tanh(gate) * up for [rows, n] arrays; up=None: gate is the fused [rows, 2n] gate_up (gate first)."""
    return _core.nn_geglu(_f32(gate), None if up is None else _f32(up), bool(reference), isa, n_threads)


def softcap(x, cap, reference=False, n_threads=None):
    """cap * tanh(x / cap)."""
    return _core.nn_softcap(_f32(x), float(cap), bool(reference), n_threads)


def softmax(x, reference=False, isa=None, n_threads=None):
    """Softmax over the last axis (max subtracted; a row of -inf gives zeros)."""
    return _core.nn_softmax(_f32(x), bool(reference), isa, n_threads)


def router_topk(logits, k, per_expert_scale=None, reference=False, n_threads=None):
    """MoE router on logits [n_tok, n_expert]: softmax, top-k descending (ties: lower id first),
    renormalise to sum 1, then multiply by per_expert_scale[id]. Returns (ids int32, weights f32), [n_tok, k]."""
    return _core.nn_router_topk(_f32(logits), int(k), None if per_expert_scale is None else _f32(per_expert_scale),
                                bool(reference), n_threads)
