"""`llama-diffusion-quantize IN.gguf OUT.gguf TYPE`: requantize a GGUF (e.g. BF16 -> Q4_K_M) with the
same llama-quantize recipes as the converter, streaming tensor by tensor.

Metadata is copied unchanged except general.file_type (set to TYPE), general.quantization_version
and general.alignment (the output uses the default 32). Tensors whose planned type equals their
current type are copied byte for byte; the others are decoded to float32 chunk by chunk
(dequantized with the reference kernels if needed) and re-encoded.

The input is read with the package's own validating reader (ld.GGUFFile, the C++ reader), so a
split input is opened from its first shard; --split-max-size / --split-max-tensors write shards.
"""
import argparse
import os
import sys

import numpy as np

from .convert import check_output_path
from .errors import ConvertError
from .gguf_types import FILE_TYPE, FLOAT_TYPES, VT, VT_BY_NAME, row_bytes, tensor_bytes
from .progress import Progress
from .recipes import OUTTYPES, normalize_outtype, plan_types, type_counts
from .split_writer import GGUFSplitWriter, add_split_args, split_limits
from .stream import Job, run_jobs

PROG = "llama-diffusion-quantize"


class _Tensor:
    """One input tensor as the plan and the streaming loop see it (GGUF dims, ne0 first)."""
    __slots__ = ("name", "ne", "type_name")

    def __init__(self, info):
        self.name, self.ne, self.type_name = info.name, [int(d) for d in info.shape] or [1], info.type

    @property
    def n_rows(self) -> int:
        return int(np.prod(self.ne[1:], dtype=np.int64)) if len(self.ne) > 1 else 1


class _Input:
    """The input GGUF through ld.GGUFFile: typed metadata (to write back unchanged) and row chunks."""

    def __init__(self, path: str):
        from ..gguf import GGUFFile
        try:
            self.f = GGUFFile(path)
        except OSError as e:
            raise ConvertError(f"cannot open {path}: {e.strerror or e}") from None
        except ValueError as e:  # GGUFError
            raise ConvertError(str(e)) from None
        self.tensors = [_Tensor(t) for t in self.f.tensors]
        self.kv = {}
        meta = self.f.metadata
        for k, tname in self.f.metadata_types.items():
            if k.startswith("split."):
                continue  # the input's shard layout; the writer sets the output's own
            if tname.startswith("ARRAY["):
                inner = tname[len("ARRAY["):-1]
                if inner not in VT_BY_NAME or inner == "ARRAY":
                    raise ConvertError(f"{path}: key {k} has type {tname}, which the writer cannot copy")
                self.kv[k] = (VT.ARRAY, (VT_BY_NAME[inner], meta[k]))
            else:
                self.kv[k] = (VT_BY_NAME[tname], meta[k])

    def raw_rows(self, t: _Tensor, r0: int, r1: int) -> np.ndarray:
        rb = row_bytes(t.type_name, t.ne[0])
        return self.f.raw(t.name)[r0 * rb:r1 * rb].copy()

    def rows_f32(self, t: _Tensor, r0: int, r1: int) -> np.ndarray:
        raw = self.raw_rows(t, r0, r1)
        if t.type_name == "F32":
            x = raw.view(np.float32)
        elif t.type_name == "F16":
            x = raw.view(np.float16).astype(np.float32)
        elif t.type_name == "BF16":
            x = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            from .. import quants
            x = quants.dequantize(raw, t.type_name, (r1 - r0) * t.ne[0])
        return x.reshape(r1 - r0, t.ne[0])

    def close(self) -> None:
        self.f.close()


def _plan(r: _Input, outtype: str):
    arch = r.kv.get("general.architecture", (None, ""))[1]
    n_layer = r.kv.get(f"{arch}.block_count", (None, 0))[1]
    if not n_layer:
        n_layer = 1 + max([int(t.name.split(".")[1]) for t in r.tensors if t.name.startswith("blk.")] or [-1])
    return plan_types([(t.name, t.ne) for t in r.tensors], outtype, int(n_layer))


def requantize(in_path: str, out_path: str, outtype: str, force: bool = False, threads: int = 0,
               progress: bool = True, dry_run: bool = False, log=None, split_max_size: int = 0,
               split_max_tensors: int = 0) -> dict:
    log = log or (lambda m: print(m, file=sys.stderr))
    outtype = normalize_outtype(outtype)
    if not dry_run:
        if os.path.exists(out_path) and os.path.exists(in_path) and os.path.samefile(in_path, out_path):
            raise ConvertError("input and output are the same file")
        check_output_path(out_path, force)
    r = _Input(in_path)
    try:
        types = _plan(r, outtype)
        if dry_run:
            for t, nt in zip(r.tensors, types):
                print(f"{t.name:<40} {str(t.ne):<22} {t.type_name:<6} -> {nt:<6} {tensor_bytes(nt, t.ne):>14}")
            counts = ", ".join(f"{k} {v}" for k, v in sorted(type_counts(types).items()))
            print(f"{len(types)} tensors: {counts}")
            print(f"output size: {sum(tensor_bytes(nt, t.ne) for t, nt in zip(r.tensors, types))} bytes")
            return {"types": types}
        w = GGUFSplitWriter(out_path, split_max_size, split_max_tensors)
        for k, (vt, v) in r.kv.items():
            if k in ("general.alignment",):
                continue
            w.add_kv(k, vt, v)
        w.add_kv("general.file_type", VT.UINT32, FILE_TYPE[outtype])
        w.add_kv("general.quantization_version", VT.UINT32, 2)
        jobs, requant = [], 0
        for t, nt in zip(r.tensors, types):
            w.add_tensor(t.name, t.ne, nt)
            src_row = row_bytes(t.type_name, t.ne[0])
            if nt == t.type_name:
                jobs.append(Job(t.name, nt, t.ne[0], t.n_rows, src_row, raw=lambda a, b, t=t: r.raw_rows(t, a, b)))
            else:
                requant += t.type_name not in FLOAT_TYPES
                jobs.append(Job(t.name, nt, t.ne[0], t.n_rows, src_row, rows=lambda a, b, t=t: r.rows_f32(t, a, b)))
        if requant:
            log(f"warning: {requant} tensors are already quantized and are requantized (quality loss adds up)")
        for p in w.paths():
            if p != out_path:
                check_output_path(p, force)
            if os.path.exists(p) and any(os.path.exists(q) and os.path.samefile(p, q) for q in r.f.shard_paths):
                raise ConvertError(f"output {p} is one of the input files")
        prog = Progress(len(jobs), sum(j.n_rows * j.src_row_bytes for j in jobs), enabled=progress)
        run_jobs(w, jobs, prog, threads=threads)
        return {"types": types, "seconds": prog.elapsed(), "bytes_out": w.total_size(), "paths": w.paths()}
    finally:
        r.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description="Requantize a GGUF file with the llama-quantize recipes.")
    ap.add_argument("input", help="input GGUF (e.g. a BF16 conversion; the first shard of a split model)")
    ap.add_argument("output", help="output GGUF")
    ap.add_argument("type", type=str.lower, choices=OUTTYPES, help="target type / recipe")
    ap.add_argument("--force", action="store_true", help="overwrite an existing output file")
    ap.add_argument("--dry-run", action="store_true", help="print the per-tensor plan and write nothing")
    ap.add_argument("--threads", type=int, default=0, help="encoding threads (default: min(8, CPUs))")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_split_args(ap)
    args = ap.parse_args(argv)
    try:
        max_size, max_tensors = split_limits(args)
        st = requantize(args.input, args.output, args.type, force=args.force, threads=args.threads,
                        progress=not args.no_progress, dry_run=args.dry_run, split_max_size=max_size,
                        split_max_tensors=max_tensors)
        if not args.dry_run:
            n = len(st["paths"])
            shown = args.output if n == 1 else f"{n} shards {st['paths'][0]} ..."
            print(f"wrote {shown}: {st['bytes_out'] / 1e6:.1f} MB in {st['seconds']:.1f} s", file=sys.stderr)
        return 0
    except ConvertError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (no output written)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
