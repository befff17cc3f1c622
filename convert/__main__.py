"""`llama-diffusion-convert` / `python -m llama_diffusion.convert`: HF DiffusionGemma checkpoint -> GGUF.

    llama-diffusion-convert CHECKPOINT_DIR -o OUT.gguf --outtype q4_k_m
    llama-diffusion-convert CHECKPOINT_DIR --outtype q8_0 --dry-run     # print the plan only
    llama-diffusion-convert CHECKPOINT_DIR -o OUT.gguf --split-max-size 48G   # OUT-00001-of-0000N.gguf, ...
"""
import argparse
import os
import sys

from .convert import convert, plan_checkpoint
from .errors import ConvertError
from .recipes import OUTTYPES
from .split_writer import add_split_args, split_limits

PROG = "llama-diffusion-convert"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="Convert a Hugging Face DiffusionGemma checkpoint "
                                 "(config.json, *.safetensors, tokenizer.json) to a diffusion-gemma GGUF file.")
    ap.add_argument("checkpoint", help="checkpoint directory")
    ap.add_argument("-o", "--outfile", help="output GGUF path (default: CHECKPOINT/<name>-<TYPE>.gguf)")
    ap.add_argument("--outtype", default="auto", type=str.lower, choices=OUTTYPES,
                    help="tensor types: f32, f16, bf16 (auto), q8_0, q4_0, q5_0, or the llama-quantize "
                         "mixes q6_k, q5_k_m, q4_k_m (default: auto = bf16)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing output file")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the plan (tensor names, shapes, types, output size) and write nothing")
    ap.add_argument("--threads", type=int, default=0, help="encoding threads (default: min(8, CPUs))")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_split_args(ap)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.dry_run:
            plan = plan_checkpoint(args.checkpoint, args.outtype, allow_no_weights=True)
            for n in plan.notes:
                print(n, file=sys.stderr)
            print(plan.describe())
            if plan.checkpoint is not None:
                plan.checkpoint.close()
            return 0
        out = args.outfile
        if not out:
            name = os.path.basename(os.path.normpath(args.checkpoint))
            tname = "BF16" if args.outtype == "auto" else args.outtype.upper()
            out = os.path.join(args.checkpoint, f"{name}-{tname}.gguf")
        max_size, max_tensors = split_limits(args)
        stats = convert(args.checkpoint, out, args.outtype, force=args.force, threads=args.threads,
                        progress=not args.no_progress, split_max_size=max_size, split_max_tensors=max_tensors)
        s = max(stats["seconds"], 1e-9)
        paths = stats["paths"]
        shown = out if len(paths) == 1 else f"{len(paths)} shards {paths[0]} ... {os.path.basename(paths[-1])}"
        print(f"wrote {shown}: {stats['bytes_out'] / 1e6:.1f} MB in {s:.1f} s "
              f"({stats['bytes_in'] / 1e6 / s:.1f} MB/s of checkpoint data)", file=sys.stderr)
        return 0
    except ConvertError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (no output written)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
