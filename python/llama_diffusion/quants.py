"""Reference quantization and dequantization of every GGUF type, backed by the C++ kernels.

    dequantize(raw_uint8, "Q4_K", n_elements) -> float32 array of n_elements
    quantize(float32_array, "Q8_0") -> uint8 array of the blocks
"""
import numpy as np

from . import _core

__all__ = ["dequantize", "quantize", "type_info", "type_names"]


def dequantize(raw, type_name: str, n_elements: int) -> np.ndarray:
    """Dequantize ``n_elements`` values stored as ``type_name`` in the bytes ``raw``."""
    raw = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
    return _core.dequantize(raw, type_name, int(n_elements))


def quantize(x, type_name: str, x86_runtime: bool = False) -> np.ndarray:
    """Quantize float32 values (flattened; length a multiple of the block size) to ``type_name``.

    ``x86_runtime=True`` (Q8_0 only) uses the activation rule of ggml's x86 kernels (127/amax,
    round half to even) instead of the reference rule.
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    return _core.quantize(x, type_name, bool(x86_runtime))


def type_info(type_name: str) -> dict:
    """Block size, bytes per block, capabilities and GGUF id of a type."""
    return _core.type_info(type_name)


def type_names() -> list:
    """Every type name the engine knows."""
    return _core.type_names()
