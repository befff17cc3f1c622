"""CPU matmul kernels: dense and grouped-expert (MoE) products of f32 activations with GGUF weights.

    y = matmul(x, w_raw, "Q4_K", M)                 # x [N, K] f32, w_raw: M rows of K Q4_K values
    y = moe_matmul(x, w_raw, "Q4_K", M, E, ids)     # per-slot outputs [N, top_k, M]
    y = moe_matmul(h, w_raw, "Q5_0", M, E, ids, weights)  # h [N, top_k, K] -> weighted sum [N, M]

Weights are the raw bytes of the GGUF tensor (uint8); expert tensors are {K, M, E}. ``isa`` forces
a kernel family ("generic", "avx2", "avx2_vnni": AVX2 plus 256-bit VNNI, "avx512", "amx": AVX-512 plus AMX
tiles, "neon", "neon_i8mm": NEON plus SMMLA); ``n_threads`` uses a pool of that size (results are bit-identical for any thread count). The ``*_ref`` functions are the scalar references.
"""
import numpy as np

from . import _core

__all__ = ["matmul", "matmul_ref", "moe_matmul", "moe_matmul_ref", "vec_dot", "set_num_threads",
           "num_threads", "cpu_peak_gops"]


def _raw(w):
    return np.ascontiguousarray(w).view(np.uint8).reshape(-1)


def matmul(x, w_raw, wtype: str, M: int, isa=None, n_threads=None) -> np.ndarray:
    """y[N, M] = x[N, K] . W[M, K]^T (activations quantized once to the weight's partner type)."""
    return _core.matmul(np.ascontiguousarray(x, dtype=np.float32), _raw(w_raw), wtype, int(M), isa, n_threads)


def matmul_ref(x, w_raw, wtype: str, M: int) -> np.ndarray:
    """Reference of matmul: reference activation quantizer, generic dot per output element."""
    return _core.matmul_ref(np.ascontiguousarray(x, dtype=np.float32), _raw(w_raw), wtype, int(M))


def moe_matmul(x, w_raw, wtype: str, M: int, E: int, ids, weights=None, isa=None, n_threads=None) -> np.ndarray:
    """Grouped expert matmul over E experts of M rows (weight {K, M, E}).

    x: [N, K] (same input for every slot) or [N, top_k, K] (one input per slot); ids: int [N, top_k].
    Without ``weights``: returns [N, top_k, M] (each slot's expert output). With ``weights``
    [N, top_k]: returns [N, M], the routing-weighted sum over slots.
    """
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    return _core.moe_matmul(np.ascontiguousarray(x, dtype=np.float32), _raw(w_raw), wtype, int(M), int(E),
                            np.ascontiguousarray(ids, dtype=np.int32), w, isa, n_threads)


def moe_matmul_ref(x, w_raw, wtype: str, M: int, E: int, ids, weights=None) -> np.ndarray:
    """Reference of moe_matmul (a loop over tokens and slots with the generic dot products)."""
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    return _core.moe_matmul_ref(np.ascontiguousarray(x, dtype=np.float32), _raw(w_raw), wtype, int(M), int(E),
                                np.ascontiguousarray(ids, dtype=np.int32), w)


def vec_dot(w_row_raw, a, wtype: str) -> float:
    """Generic dot product of one weight row with f32 activations a[K] (quantized by the reference rule)."""
    return _core.vec_dot(_raw(w_row_raw), np.ascontiguousarray(a, dtype=np.float32).reshape(-1), wtype)


def set_num_threads(n: int) -> None:
    """Resize the global thread pool used when n_threads is not given."""
    _core.set_num_threads(int(n))


def num_threads() -> int:
    return _core.num_threads()


def cpu_peak_gops(what: str, seconds: float = 0.3) -> float:
    """Peak G ops/s of one core: 'vnni' (512-bit int8 vpdpbusd), 'fma' (f32), 'bf16' (0 without AVX-512),
    'avx_vnni' (256-bit int8 vpdpbusd; 0 without AVX-VNNI), 'avx2_int8' (256-bit vpmaddubsw + vpmaddwd + vpaddd;
    0 without AVX2), 'amx_int8' (AMX tdpbssd; 0 where the amx ISA is not available), 'amx_bf16' (AMX tdpbf16ps FLOPs; 0
    where the amx ISA or AMX-BF16 is not available)."""
    return _core.cpu_peak_gops(what, float(seconds))
