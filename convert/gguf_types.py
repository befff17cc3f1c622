"""GGUF constants used by the converter: tensor type ids/block sizes and metadata value types.

Facts from the GGUF v3 format (docs/format.md §1-§2). Only what the writer, the reader of the
requantize tool and the type recipes need; the engine's C++ table (types.h) is the authority.
"""

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# name -> (ggml type id, values per block, bytes per block)
TYPES = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34),
    "Q2_K": (10, 256, 84),
    "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176),
    "Q6_K": (14, 256, 210),
    "IQ2_XXS": (16, 256, 66),
    "IQ2_XS": (17, 256, 74),
    "IQ3_XXS": (18, 256, 98),
    "IQ1_S": (19, 256, 50),
    "IQ4_NL": (20, 32, 18),
    "IQ3_S": (21, 256, 110),
    "IQ2_S": (22, 256, 82),
    "IQ4_XS": (23, 256, 136),
    "IQ1_M": (29, 256, 56),
    "BF16": (30, 1, 2),
    "MXFP4": (39, 32, 17),
    "NVFP4": (40, 64, 36),
}
TYPE_BY_ID = {v[0]: k for k, v in TYPES.items()}
FLOAT_TYPES = ("F32", "F16", "BF16")


def type_id(name: str) -> int:
    return TYPES[name][0]


def block_size(name: str) -> int:
    return TYPES[name][1]


def row_bytes(name: str, ne0: int) -> int:
    """Bytes of one row of ``ne0`` values; ne0 must be a whole number of blocks."""
    _, blk, size = TYPES[name]
    if ne0 % blk:
        raise ValueError(f"row length {ne0} is not a multiple of the {name} block size {blk}")
    return ne0 // blk * size


def tensor_bytes(name: str, ne) -> int:
    """Bytes of a tensor with GGUF dims ``ne`` (ne[0] fastest) stored as type ``name``."""
    n_rows = 1
    for d in ne[1:]:
        n_rows *= int(d)
    return row_bytes(name, int(ne[0])) * n_rows


# Metadata value types (gguf_type)
class VT:
    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)


# struct format of each fixed-size value type
VT_STRUCT = {
    VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I",
    VT.INT32: "<i", VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q",
    VT.FLOAT64: "<d",
}

# Token types written to tokenizer.ggml.token_type
class TokenType:
    NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


# llama_ftype written to general.file_type, per --outtype
FILE_TYPE = {
    "f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q5_0": 8, "q4_k_m": 15, "q5_k_m": 17,
    "q6_k": 18, "bf16": 32,
}
