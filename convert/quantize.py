"""`llama-diffusion-quantize IN.gguf OUT.gguf TYPE`: requantize a GGUF (e.g. BF16 -> Q4_K_M) with the
same llama-quantize recipes as the converter, streaming tensor by tensor.

Metadata is copied unchanged except general.file_type (set to TYPE), general.quantization_version
and general.alignment (the output uses the default 32). Tensors whose planned type equals their
current type are copied byte for byte; the others are decoded to float32 chunk by chunk
(dequantized with the reference kernels if needed) and re-encoded.
"""
import argparse
import os
import sys

from .convert import check_output_path
from .errors import ConvertError
from .gguf_types import FILE_TYPE, FLOAT_TYPES, VT, row_bytes, tensor_bytes
from .progress import Progress
from .recipes import OUTTYPES, normalize_outtype, plan_types, type_counts
from .stream import Job, run_jobs
from .gguf_reader import GGUFReader
from .writer import GGUFStreamWriter

PROG = "llama-diffusion-quantize"


def _plan(r: GGUFReader, outtype: str):
    arch = r.kv.get("general.architecture", (None, ""))[1]
    n_layer = r.kv.get(f"{arch}.block_count", (None, 0))[1]
    if not n_layer:
        n_layer = 1 + max([int(t.name.split(".")[1]) for t in r.tensors if t.name.startswith("blk.")] or [-1])
    return plan_types([(t.name, t.ne) for t in r.tensors], outtype, int(n_layer))


def requantize(in_path: str, out_path: str, outtype: str, force: bool = False, threads: int = 0,
               progress: bool = True, dry_run: bool = False, log=None) -> dict:
    log = log or (lambda m: print(m, file=sys.stderr))
    outtype = normalize_outtype(outtype)
    if not dry_run:
        if os.path.exists(out_path) and os.path.exists(in_path) and os.path.samefile(in_path, out_path):
            raise ConvertError("input and output are the same file")
        check_output_path(out_path, force)
    r = GGUFReader(in_path)
    try:
        types = _plan(r, outtype)
        if dry_run:
            for t, nt in zip(r.tensors, types):
                print(f"{t.name:<40} {str(t.ne):<22} {t.type_name:<6} -> {nt:<6} {tensor_bytes(nt, t.ne):>14}")
            counts = ", ".join(f"{k} {v}" for k, v in sorted(type_counts(types).items()))
            print(f"{len(types)} tensors: {counts}")
            print(f"output size: {sum(tensor_bytes(nt, t.ne) for t, nt in zip(r.tensors, types))} bytes")
            return {"types": types}
        w = GGUFStreamWriter(out_path)
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
        prog = Progress(len(jobs), sum(j.n_rows * j.src_row_bytes for j in jobs), enabled=progress)
        run_jobs(w, jobs, prog, threads=threads)
        return {"types": types, "seconds": prog.elapsed(), "bytes_out": w.total_size()}
    finally:
        r.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description="Requantize a GGUF file with the llama-quantize recipes.")
    ap.add_argument("input", help="input GGUF (e.g. a BF16 conversion)")
    ap.add_argument("output", help="output GGUF")
    ap.add_argument("type", type=str.lower, choices=OUTTYPES, help="target type / recipe")
    ap.add_argument("--force", action="store_true", help="overwrite an existing output file")
    ap.add_argument("--dry-run", action="store_true", help="print the per-tensor plan and write nothing")
    ap.add_argument("--threads", type=int, default=0, help="encoding threads (default: min(8, CPUs))")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = ap.parse_args(argv)
    try:
        st = requantize(args.input, args.output, args.type, force=args.force, threads=args.threads,
                        progress=not args.no_progress, dry_run=args.dry_run)
        if not args.dry_run:
            print(f"wrote {args.output}: {st['bytes_out'] / 1e6:.1f} MB in {st['seconds']:.1f} s", file=sys.stderr)
        return 0
    except ConvertError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (no output written)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
