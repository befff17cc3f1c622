"""HF DiffusionGemma checkpoint directory -> `diffusion-gemma` GGUF: planning, validation, writing.

    plan = plan_checkpoint(dir, outtype)      # config + tokenizer + checkpoint validated, types chosen
    write_plan(plan, out_path)                # streams every tensor, atomically renamed at the end

A directory with only config.json (no weights, no tokenizer) can still be planned, which is how
the type plan of the real 26B model is checked without its 50 GB of weights.
"""
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from .errors import ConvertError
from .gguf_types import FILE_TYPE, VT, tensor_bytes
from .hf_config import HParams, load_config, load_generation_config
from .metadata import arch_kv, diffusion_kv, general_kv, size_label
from .progress import Progress
from .recipes import normalize_outtype, plan_types, type_counts
from .safetensors import Checkpoint
from .stream import Job, run_jobs
from .tensor_map import TensorSpec, build_tensor_table, is_tied_duplicate, is_vision, rope_freqs
from .tokenizer_meta import load_tokenizer
from .split_writer import GGUFSplitWriter
from .writer import GGUFStreamWriter


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


@dataclass
class Plan:
    hp: HParams
    outtype: str
    specs: List[TensorSpec]
    types: List[str]
    kv: list
    checkpoint: Optional[Checkpoint] = None
    notes: List[str] = field(default_factory=list)

    def output_bytes(self) -> int:
        return sum(tensor_bytes(t, s.ne) for s, t in zip(self.specs, self.types))

    def type_counts(self) -> dict:
        return type_counts(self.types)

    def make_writer(self, out_path: str, split_max_size: int = 0, split_max_tensors: int = 0):
        """A GGUFStreamWriter, or a GGUFSplitWriter when a split limit is set."""
        if split_max_size or split_max_tensors:
            w = GGUFSplitWriter(out_path, split_max_size, split_max_tensors)
        else:
            w = GGUFStreamWriter(out_path)
        for k, vt, v in self.kv:
            w.add_kv(k, vt, v)
        for s, t in zip(self.specs, self.types):
            w.add_tensor(s.name, s.ne, t)
        return w

    def describe(self) -> str:
        """Human-readable plan: one line per tensor, then totals."""
        lines = [f"{'tensor':<40} {'shape (ne)':<22} {'type':<6} {'bytes':>14}"]
        for s, t in zip(self.specs, self.types):
            lines.append(f"{s.name:<40} {str(s.ne):<22} {t:<6} {tensor_bytes(t, s.ne):>14}")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.type_counts().items()))
        lines.append(f"{len(self.specs)} tensors: {counts}")
        lines.append(f"output size: {self.output_bytes()} bytes ({self.output_bytes() / 1e9:.2f} GB) "
                     f"plus metadata")
        return "\n".join(lines)


def plan_from_config(hp: HParams, outtype: str, n_vocab: Optional[int] = None):
    """(specs, types) of the model described by ``hp`` for ``outtype``; no files needed."""
    specs = build_tensor_table(hp, n_vocab or hp.n_vocab)
    return specs, plan_types([(s.name, s.ne) for s in specs], outtype, hp.n_layer)


def _validate_checkpoint(ckpt: Checkpoint, specs: List[TensorSpec], notes: List[str]) -> List[TensorSpec]:
    used, kept, missing = set(), [], []
    for s in specs:
        if s.hf is None:
            kept.append(s)
            continue
        e = ckpt.entries.get(s.hf)
        if e is None:
            if s.optional:
                notes.append(f"checkpoint has no {s.hf}: {s.name} not written")
                continue
            missing.append(s.hf)
            continue
        used.add(s.hf)
        want = s.hf_shape
        if s.trim_rows:
            if len(e.shape) != 2 or e.shape[1] != want[1] or e.shape[0] < want[0]:
                raise ConvertError(f"shape mismatch: {s.hf} is {e.shape}, expected [>={want[0]}, {want[1]}] "
                                   f"(tokenizer size x hidden_size)")
            if e.shape[0] > want[0]:
                notes.append(f"{s.name}: keeping the first {want[0]} of {e.shape[0]} embedding rows (tokenizer size)")
        elif list(e.shape) != want:
            raise ConvertError(f"shape mismatch: {s.hf} is {e.shape} in {os.path.basename(e.file.path)}, "
                               f"expected {want} for {s.name} (from config.json)")
        kept.append(s)
    if missing:
        raise ConvertError(f"checkpoint lacks {len(missing)} expected tensor(s): {', '.join(missing[:5])}"
                           + (" ..." if len(missing) > 5 else ""))
    rest = [n for n in ckpt.entries if n not in used]
    vision = [n for n in rest if is_vision(n)]
    tied = [n for n in rest if not is_vision(n) and is_tied_duplicate(n)]
    unknown = [n for n in rest if not is_vision(n) and not is_tied_duplicate(n)]
    if unknown:
        raise ConvertError(f"checkpoint has {len(unknown)} tensor(s) this converter does not know: "
                           f"{', '.join(sorted(unknown)[:5])}")
    if vision:
        notes.append(f"skipping {len(vision)} vision tensors (text-only conversion)")
    if tied:
        notes.append(f"skipping {len(tied)} tensors tied to decoder weights ({', '.join(sorted(tied)[:3])} ...)")
    return kept


def plan_checkpoint(directory: str, outtype: str, allow_no_weights: bool = False) -> Plan:
    if not os.path.isdir(directory):
        raise ConvertError(f"checkpoint directory not found: {directory}")
    outtype = normalize_outtype(outtype)
    hp = load_config(directory)
    gen = load_generation_config(directory)
    notes = []
    has_weights = any(f.endswith(".safetensors") or f == "model.safetensors.index.json" for f in os.listdir(directory))
    has_tok = os.path.exists(os.path.join(directory, "tokenizer.json"))
    if not allow_no_weights or has_tok:
        tok = load_tokenizer(directory, bos_id=hp.bos_id, eos_ids=hp.eos_ids, pad_id=hp.pad_id)
        if tok.n_tokens > hp.n_vocab:
            raise ConvertError(f"tokenizer has {tok.n_tokens} tokens but the model's vocab_size is {hp.n_vocab}")
        n_vocab = tok.n_tokens
    else:
        tok, n_vocab = None, hp.n_vocab
        notes.append("no tokenizer.json: planning with config vocab_size")
    specs = build_tensor_table(hp, n_vocab)
    ckpt = None
    if has_weights or not allow_no_weights:
        ckpt = Checkpoint(directory)
        specs = _validate_checkpoint(ckpt, specs, notes)
    else:
        notes.append("no weights: plan only")
    types = plan_types([(s.name, s.ne) for s in specs], outtype, hp.n_layer)

    n_total = sum(s.n_elements for s in specs)
    n_exp = sum(s.n_elements for s in specs if "_exps.weight" in s.name)
    n_active = n_total - n_exp + n_exp * hp.n_expert_used // hp.n_expert
    kv = general_kv(hp.name, FILE_TYPE[outtype], size_label(n_total, n_active if n_exp else 0))
    kv += arch_kv(hp) + diffusion_kv(hp, gen)
    if tok is not None:
        kv += tok.kv()
    return Plan(hp=hp, outtype=outtype, specs=specs, types=types, kv=kv, checkpoint=ckpt, notes=notes)


def _jobs(plan: Plan) -> List[Job]:
    jobs = []
    for s, t in zip(plan.specs, plan.types):
        ne0 = int(s.ne[0])
        n_rows = int(np.prod(s.ne[1:], dtype=np.int64)) if len(s.ne) > 1 else 1
        if s.hf is None:  # generated: rope_freqs
            data = rope_freqs(plan.hp).reshape(1, -1)
            jobs.append(Job(s.name, t, ne0, n_rows, ne0 * 4, rows=lambda r0, r1, d=data: d[r0:r1]))
            continue
        e = plan.checkpoint.entries[s.hf]
        src_row = e.nbytes // max(1, e.n_rows)
        jobs.append(Job(s.name, t, ne0, n_rows, src_row,
                        rows=lambda r0, r1, e=e: e.file.read_rows(e, r0, r1)))
    return jobs


def check_output_path(out_path: str, force: bool) -> None:
    d = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(d):
        raise ConvertError(f"output directory does not exist: {d}")
    if os.path.exists(out_path) and not force:
        raise ConvertError(f"output file exists: {out_path} (use --force to overwrite)")


def check_output_paths(w, force: bool) -> None:
    """check_output_path for every file a (split) writer will create."""
    for p in (w.paths() if hasattr(w, "paths") else [w.path]):
        check_output_path(p, force)


def write_plan(plan: Plan, out_path: str, force: bool = False, threads: int = 0, progress: bool = True,
               split_max_size: int = 0, split_max_tensors: int = 0) -> dict:
    """Stream the planned tensors into ``out_path`` (or its shards); returns {seconds, bytes_in,
    bytes_out, paths}."""
    if plan.checkpoint is None:
        raise ConvertError("no weights in the checkpoint directory: nothing to write (use --dry-run)")
    check_output_path(out_path, force)
    w = plan.make_writer(out_path, split_max_size, split_max_tensors)
    check_output_paths(w, force)
    total = w.total_size()
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(out_path))).free
    if free < total:
        raise ConvertError(f"not enough disk space for {out_path}: needs {total / 1e9:.2f} GB, "
                           f"{free / 1e9:.2f} GB free")
    jobs = _jobs(plan)
    bytes_in = sum(j.n_rows * j.src_row_bytes for j in jobs)
    prog = Progress(len(jobs), bytes_in, enabled=progress)
    run_jobs(w, jobs, prog, threads=threads)
    paths = w.paths() if hasattr(w, "paths") else [out_path]
    return {"seconds": prog.elapsed(), "bytes_in": bytes_in, "bytes_out": total, "paths": paths}


def convert(directory: str, out_path: str, outtype: str = "bf16", force: bool = False,
            threads: int = 0, progress: bool = True, log=_log, split_max_size: int = 0,
            split_max_tensors: int = 0) -> dict:
    """Convert a checkpoint directory to a GGUF file; returns write statistics."""
    check_output_path(out_path, force)
    plan = plan_checkpoint(directory, outtype)
    for n in plan.notes:
        log(n)
    try:
        return write_plan(plan, out_path, force=force, threads=threads, progress=progress,
                          split_max_size=split_max_size, split_max_tensors=split_max_tensors)
    finally:
        plan.checkpoint.close()
