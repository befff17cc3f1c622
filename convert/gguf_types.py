"""GGUF constants used by the converter: metadata value types, the writer's constants, and the
tensor type table, which is the engine's own (read from the C++ traits through ld.quants, not a
second copy). Facts from the GGUF v3 format (spec/gguf.md Part A).
"""

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

def _type_table():
    """name -> (ggml type id, values per block, bytes per block), from the engine's C++ table
    (ld.quants.type_info; ggml/ types.h is the one authority)."""
    from .. import quants
    table = {}
    for name in quants.type_names():
        info = quants.type_info(name)
        table[name] = (int(info["id"]), int(info["block_size"]), int(info["type_size"]))
    return table


TYPES = _type_table()
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

# GGUF type string (as ld.GGUFFile.metadata_types spells it) -> value type
VT_BY_NAME = {n: i for i, n in enumerate(("UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL",
                                          "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"))}


# Token types written to tokenizer.ggml.token_type
class TokenType:
    NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


# llama_ftype written to general.file_type, per --outtype
FILE_TYPE = {
    "f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q5_0": 8, "q4_k_m": 15, "q5_k_m": 17,
    "q6_k": 18, "iq3_xxs": 23, "iq3_s": 26, "bf16": 32,
}
