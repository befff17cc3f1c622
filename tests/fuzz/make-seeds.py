"""Writes the seed corpus for fuzz-gguf-reader: small valid GGUF files covering every value
type, string and nested arrays, custom alignment, F32/F16/quantized tensors and several tensor
layouts, plus a libFuzzer dictionary of GGUF tokens.

    python tests/fuzz/make-seeds.py CORPUS_DIR [DICT_FILE]

Uses the gguf package (gguf.GGUFWriter) when it is installed and a hand-packed file always."""
import os
import struct
import sys
import tempfile


def s(b) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<Q", len(b)) + b


def hand_packed() -> bytes:
    """A compact file with one KV of every type and three tensors (F32, Q8_0, Q4_K), alignment 32."""
    kvs = [
        s("general.architecture") + struct.pack("<I", 8) + s("fuzz"),
        s("a.u8") + struct.pack("<IB", 0, 7),
        s("a.i8") + struct.pack("<Ib", 1, -7),
        s("a.u16") + struct.pack("<IH", 2, 700),
        s("a.i16") + struct.pack("<Ih", 3, -700),
        s("a.u32") + struct.pack("<II", 4, 70000),
        s("a.i32") + struct.pack("<Ii", 5, -70000),
        s("a.f32") + struct.pack("<If", 6, 0.5),
        s("a.bool") + struct.pack("<IB", 7, 1),
        s("a.u64") + struct.pack("<IQ", 10, 1 << 40),
        s("a.i64") + struct.pack("<Iq", 11, -(1 << 40)),
        s("a.f64") + struct.pack("<Id", 12, 0.25),
        s("a.strs") + struct.pack("<IIQ", 9, 8, 3) + s("x") + s("") + s("zz"),
        s("a.nested") + struct.pack("<IIQ", 9, 9, 2) + struct.pack("<IQ", 5, 1) + struct.pack("<i", 1)
        + struct.pack("<IQ", 5, 2) + struct.pack("<ii", 2, 3),
    ]
    tensors = [("t.f32", [4, 2], 0, 32), ("t.q8", [32], 8, 34), ("t.q4k", [256], 12, 144)]
    infos, off, offsets = b"", 0, []
    for name, dims, ttype, nbytes in tensors:
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, off)
        offsets.append(off)
        off = (off + nbytes + 31) // 32 * 32
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * ((-len(head)) % 32)
    data = bytearray(off)
    for i in range(len(data)):
        data[i] = (i * 37) & 0xFF
    return head + bytes(data[:offsets[-1] + 144])


def writer_seeds(out_dir):
    try:
        import numpy as np
        import gguf
    except ImportError:
        return
    rng = np.random.default_rng(0)
    specs = {
        "writer-basic": dict(alignment=None, n=3),
        "writer-align64": dict(alignment=64, n=2),
        "writer-align8": dict(alignment=8, n=4),
    }
    for name, spec in specs.items():
        fd, tmp = tempfile.mkstemp(suffix=".gguf")
        os.close(fd)
        w = gguf.GGUFWriter(tmp, arch="fuzz")
        if spec["alignment"]:
            w.add_custom_alignment(spec["alignment"])
        w.add_uint32("fuzz.count", 3)
        w.add_float32("fuzz.eps", 1e-6)
        w.add_bool("fuzz.flag", True)
        w.add_string("fuzz.name", "seed ✓")
        w.add_array("fuzz.tokens", ["<pad>", "a", "bb"])
        w.add_array("fuzz.scores", [0.5, -1.0])
        w.add_array("fuzz.types", [1, 2, 3])
        for i in range(spec["n"]):
            w.add_tensor(f"blk.{i}.w", rng.standard_normal((2, 8)).astype(np.float32))
        w.add_tensor("h.f16", rng.standard_normal(16).astype(np.float16))
        q = gguf.quants.quantize(rng.standard_normal((1, 32)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor("q.q8_0", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with open(tmp, "rb") as f:
            data = f.read()
        os.unlink(tmp)
        with open(os.path.join(out_dir, name + ".gguf"), "wb") as f:
            f.write(data)


DICT_TOKENS = [b"GGUF", b"general.alignment", b"general.architecture", b"general.file_type",
               b"tokenizer.ggml.tokens", b"\x03\x00\x00\x00", b"\x02\x00\x00\x00",
               b"\x20\x00\x00\x00", b"\xff\xff\xff\xff\xff\xff\xff\x7f", b"\x00\x00\x00\x00\x00\x00\x00\x80"]


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = argv[1]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "hand-packed.gguf"), "wb") as f:
        f.write(hand_packed())
    writer_seeds(out_dir)
    if len(argv) > 2:
        with open(argv[2], "w") as f:
            for tok in DICT_TOKENS:
                f.write('"' + "".join(f"\\x{c:02x}" for c in tok) + '"\n')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
