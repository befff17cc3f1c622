"""Human-readable dump of a GGUF file: architecture, every metadata key with its type and value
(long arrays summarised), the tensor table and a histogram of tensor types.

    python -m llama_diffusion.inspect FILE.gguf [--no-tensors] [--json] [--max-items N]
    llama-diffusion-inspect FILE.gguf

A split model (``NAME-00001-of-0000N.gguf``) is shown as one model: its shards are listed under
``file:`` and the tensor table spans all of them (a ``shard`` column says where each one is).

A malformed or unreadable file prints one line "error: ..." on stderr and exits with status 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .gguf import GGUFFile, TensorInfo

__all__ = ["main", "render_text", "render_json"]


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024.0
    return str(n)


def _histogram(tensors: List[TensorInfo]):
    """type -> (count, bytes, elements), ordered by bytes descending."""
    hist = {}
    for t in tensors:
        c, b, e = hist.get(t.type, (0, 0, 0))
        hist[t.type] = (c + 1, b + t.nbytes, e + t.n_elements)
    return dict(sorted(hist.items(), key=lambda kv: -kv[1][1]))


def render_text(f: GGUFFile, show_tensors: bool = True, max_items: int = 8) -> str:
    lines = []
    total_bytes = sum(t.nbytes for t in f.tensors)
    total_elems = sum(t.n_elements for t in f.tensors)
    n_shards = len(f.shard_paths)
    if n_shards == 1:
        lines.append(f"file:          {f.path} ({_human_bytes(f.size)})")
    else:
        lines.append(f"file:          split model, {n_shards} shards, {_human_bytes(f.total_size)} in all")
        for i, p in enumerate(f.shard_paths):
            n = sum(1 for t in f.tensors if t.shard == i)
            lines.append(f"  shard {i + 1}: {p} ({n} tensors)")
    lines.append(f"architecture:  {f.architecture or '(none)'}")
    lines.append(f"GGUF version:  {f.version}")
    lines.append(f"alignment:     {f.alignment}, data section at offset {f.data_start}")
    lines.append("")
    types = f.metadata_types
    lines.append(f"metadata ({len(types)} keys):")
    width = max((len(k) for k in types), default=0)
    twidth = max((len(t) for t in types.values()), default=0)
    for key, vtype in types.items():
        lines.append(f"  {key:<{width}}  {vtype:<{twidth}}  {f.value_string(key, max_items)}")
    lines.append("")
    if show_tensors:
        lines.append(f"tensors ({len(f.tensors)}):")
        nwidth = max((len(t.name) for t in f.tensors), default=4)
        shard_col = f"  {'shard':>5}" if n_shards > 1 else ""
        lines.append(f"  {'name':<{nwidth}}  {'type':<8}  {'shape (ne0 first)':<24}  {'bytes':>12}{shard_col}")
        for t in f.tensors:
            shape = "[" + ", ".join(str(d) for d in t.shape) + "]"
            shard = f"  {t.shard + 1:>5}" if n_shards > 1 else ""
            lines.append(f"  {t.name:<{nwidth}}  {t.type:<8}  {shape:<24}  {t.nbytes:>12}{shard}")
        lines.append("")
    lines.append("tensor types:")
    lines.append(f"  {'type':<8}  {'count':>6}  {'bytes':>14}  {'share':>6}  {'bits/weight':>11}")
    for ttype, (count, nbytes, elems) in _histogram(f.tensors).items():
        share = 100.0 * nbytes / total_bytes if total_bytes else 0.0
        bpw = 8.0 * nbytes / elems if elems else 0.0
        lines.append(f"  {ttype:<8}  {count:>6}  {nbytes:>14}  {share:>5.1f}%  {bpw:>11.3f}")
    bpw = 8.0 * total_bytes / total_elems if total_elems else 0.0
    lines.append(f"total: {len(f.tensors)} tensors, {total_elems} parameters, {total_bytes} bytes "
                 f"({_human_bytes(total_bytes)}), {bpw:.3f} bits/weight")
    return "\n".join(lines)


def _json_value(value, max_items: int):
    if isinstance(value, list) and len(value) > max_items:
        return {"length": len(value), "head": [_json_value(v, max_items) for v in value[:max_items]]}
    if isinstance(value, list):
        return [_json_value(v, max_items) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def render_json(f: GGUFFile, show_tensors: bool = True, max_items: int = 8) -> str:
    meta = f.metadata
    out = {
        "file": f.path,
        "size": f.size,
        "shards": list(f.shard_paths),
        "total_size": f.total_size,
        "version": f.version,
        "architecture": f.architecture,
        "alignment": f.alignment,
        "data_start": f.data_start,
        "metadata": {k: {"type": t, "value": _json_value(meta[k], max_items)} for k, t in f.metadata_types.items()},
        "tensor_types": {k: {"count": c, "bytes": b, "elements": e} for k, (c, b, e) in _histogram(f.tensors).items()},
        "total_bytes": sum(t.nbytes for t in f.tensors),
    }
    if show_tensors:
        out["tensors"] = [{"name": t.name, "type": t.type, "shape": list(t.shape), "offset": t.offset,
                           "nbytes": t.nbytes, "shard": t.shard} for t in f.tensors]
    return json.dumps(out, indent=1, allow_nan=False)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="llama-diffusion-inspect",
                                     description="Show the metadata and tensors of a GGUF file.")
    parser.add_argument("file", help="path to a .gguf file (the first shard of a split model)")
    parser.add_argument("--no-tensors", action="store_true", help="omit the per-tensor table")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--max-items", type=int, default=8, metavar="N",
                        help="array elements shown before summarising (default 8)")
    args = parser.parse_args(argv)
    try:
        with GGUFFile(args.file) as f:
            render = render_json if args.json else render_text
            text = render(f, show_tensors=not args.no_tensors, max_items=max(args.max_items, 0))
    except (OSError, ValueError) as e:  # GGUFError is a ValueError
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
