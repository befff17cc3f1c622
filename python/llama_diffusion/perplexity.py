"""`llama-diffusion-perplexity -m FILE -f TEXT`: quantization quality measured the way llama.cpp's
llama-perplexity measures it, plus the block-diffusion objective.

1. AR perplexity over the text, in sliding windows: the text's tokens are cut into windows of
   ``--ctx`` tokens (the first replaced by <bos>) that advance by ctx/2, and each window scores the
   tokens of its second half (each predicted from at least ctx/2 tokens of context), so every
   token after the first half-window is scored exactly once. One encoder pass per scored token
   (the engine's AR head returns the last position's logits).
2. Diffusion denoising loss: per window, the canvas block after a prefix of ctx - C tokens is noised
   as in training (each token replaced by a uniform random token with probability ``rate``, numpy
   generator seeded with ``--seed`` and the window index, so every file sees the same canvases); a
   decoder pass, then a second pass self-conditioned on the first one's logits (the training
   recipe's pair); the loss is the cross-entropy of the second pass against the clean block over
   every canvas position, the accuracy its argmax agreement with the clean block (also over the
   noised positions only). Reported per noise rate and as the mean over the rates.
3. ``--kl-divergence-base BASE.bin`` saves every scored row's logits (AR and denoising) with the
   tokens; ``--kl-divergence`` (with the same BASE.bin) then reads them back and reports, for this
   file against the base, the mean KL(base || this) per row, its 99th percentile, and the top-1
   agreement (same argmax), for the AR rows and the denoising rows.

BASE.bin layout (little-endian): magic b"LDKLD001", u32 n_vocab, u32 ctx, u32 n_ar, u32 n_dn,
u32 n_tokens, i32 tokens[n_tokens], i32 ar_targets[n_ar], i32 dn_targets[n_dn], f32 ar_logits[n_ar,
n_vocab], f32 dn_logits[n_dn, n_vocab]. Output: a human-readable report, or one JSON object with --json.
"""
import argparse
import json
import math
import struct
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

MAGIC = b"LDKLD001"
DEFAULT_RATES = (0.25, 0.5, 0.75)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 of logits [n, V]."""
    x = np.asarray(x, np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def windows(n_tokens: int, ctx: int, max_windows: int = 0) -> List[int]:
    """Start offsets (into the text's tokens) of the windows: ctx - 1 text tokens each (after <bos>),
    advancing by ctx // 2."""
    if ctx < 4 or ctx % 2:
        raise ValueError(f"--ctx must be an even number >= 4, got {ctx}")
    starts = list(range(0, max(n_tokens - (ctx - 1), -1) + 1, ctx // 2))
    if max_windows > 0:
        starts = starts[:max_windows]
    return starts


class _BaseWriter:
    """Streams the base logits to BASE.bin: the header and the ints first (the row counts are known
    ahead), then each row at its place in the AR or the denoising section."""

    def __init__(self, path: str, n_vocab: int, ctx: int, n_ar: int, n_dn: int, tokens: np.ndarray,
                 ar_targets: np.ndarray, dn_targets: np.ndarray):
        self.f = open(path, "wb")
        self.f.write(MAGIC + struct.pack("<5I", n_vocab, ctx, n_ar, n_dn, len(tokens)))
        for a in (tokens, ar_targets, dn_targets):
            self.f.write(np.ascontiguousarray(a, "<i4").tobytes())
        self.ar_pos = self.f.tell()
        self.dn_pos = self.ar_pos + 4 * n_vocab * n_ar
        self.end = self.dn_pos + 4 * n_vocab * n_dn

    def _put(self, pos: int, rows: np.ndarray) -> int:
        self.f.seek(pos)
        b = np.ascontiguousarray(rows, "<f4").tobytes()
        self.f.write(b)
        return pos + len(b)

    def add_ar(self, rows: np.ndarray):
        self.ar_pos = self._put(self.ar_pos, rows)

    def add_dn(self, rows: np.ndarray):
        self.dn_pos = self._put(self.dn_pos, rows)

    def close(self):
        self.f.truncate(self.end)
        self.f.close()


def read_base(path: str) -> Dict:
    """The header, tokens, targets and (memory-mapped) logits of a BASE.bin file."""
    with open(path, "rb") as f:
        head = f.read(8 + 20)
    if len(head) < 28 or head[:8] != MAGIC:
        raise ValueError(f"{path}: not a llama-diffusion-perplexity KL-divergence base file (bad magic)")
    V, ctx, n_ar, n_dn, n_tok = struct.unpack("<5I", head[8:])
    off = 28
    need = off + 4 * (n_tok + n_ar + n_dn) + 4 * V * (n_ar + n_dn)
    import os
    if os.path.getsize(path) != need:
        raise ValueError(f"{path}: size {os.path.getsize(path)} bytes, the header says {need} (truncated?)")
    ints = np.memmap(path, "<i4", "r", off, (n_tok + n_ar + n_dn,))
    off += 4 * (n_tok + n_ar + n_dn)
    ar = np.memmap(path, "<f4", "r", off, (n_ar, V)) if n_ar else np.zeros((0, V), np.float32)
    off += 4 * V * n_ar
    dn = np.memmap(path, "<f4", "r", off, (n_dn, V)) if n_dn else np.zeros((0, V), np.float32)
    return dict(n_vocab=V, ctx=ctx, tokens=np.array(ints[:n_tok]), ar_targets=np.array(ints[n_tok:n_tok + n_ar]),
                dn_targets=np.array(ints[n_tok + n_ar:]), ar=ar, dn=dn)


class _KL:
    """Running KL(base || this) and top-1 agreement over rows."""

    def __init__(self):
        self.kl: List[float] = []
        self.same = 0

    def add(self, base_logits: np.ndarray, logits: np.ndarray):
        lb, lt = log_softmax(base_logits), log_softmax(logits)
        self.kl.extend((np.exp(lb) * (lb - lt)).sum(-1).tolist())
        self.same += int((np.argmax(base_logits, -1) == np.argmax(logits, -1)).sum())

    def result(self) -> Dict:
        k = np.asarray(self.kl)
        n = len(k)
        return dict(rows=n, mean_kld=float(k.mean()) if n else float("nan"),
                    kld_p99=float(np.percentile(k, 99)) if n else float("nan"),
                    top1_agreement=self.same / n if n else float("nan"))


def evaluate(model, text: str, ctx: int = 128, max_windows: int = 0, rates: Sequence[float] = DEFAULT_RATES,
             seed: int = 1234, save_base: Optional[str] = None, base: Optional[Dict] = None,
             ar: bool = True, denoise: bool = True, progress=None) -> Dict:
    """Runs the measurements of the module docstring on a loaded ``llama_diffusion.Model`` over
    ``text`` (tokenized without specials; each window starts with the model's <bos>); returns a dict
    (see ``report``). ``save_base``: path of a BASE.bin to write; ``base``: a read_base() dict to
    compare with (KL divergence)."""
    bos = model.tokenize("", add_special=True)
    toks = np.asarray(model.tokenize(text, add_special=False), np.int32)
    return evaluate_tokens(model, toks, bos[0] if bos else None, ctx, max_windows, rates, seed, save_base, base,
                           ar, denoise, progress)


def evaluate_tokens(model, toks, bos_id: Optional[int], ctx: int = 128, max_windows: int = 0,
                    rates: Sequence[float] = DEFAULT_RATES, seed: int = 1234, save_base: Optional[str] = None,
                    base: Optional[Dict] = None, ar: bool = True, denoise: bool = True, progress=None) -> Dict:
    """``evaluate`` on token ids; bos_id None keeps each window's first text token."""
    toks = np.asarray(toks, np.int32).reshape(-1)
    V = model.n_vocab
    C = int(model.hparams.get("canvas_length") or 0)
    if denoise and model.architecture != "diffusion-gemma":
        denoise = False
    if denoise and not (0 < C < ctx):
        raise ValueError(f"--ctx {ctx} leaves no prefix before the {C}-token canvas; use a larger --ctx")
    starts = windows(len(toks), ctx, max_windows)
    if not starts:
        raise ValueError(f"the text has {len(toks)} tokens, fewer than one window of --ctx {ctx}")
    half = ctx // 2
    win = [np.concatenate([[bos_id if bos_id is not None else toks[s]], toks[s:s + ctx - 1]]).astype(np.int32)
           for s in starts]
    ar_targets = np.concatenate([w[half:] for w in win]) if ar else np.zeros(0, np.int32)
    pre = ctx - C
    dn_targets = np.concatenate([w[pre:pre + C] for w in win for _ in rates]) if denoise else np.zeros(0, np.int32)
    if base is not None:
        if base["n_vocab"] != V or base["ctx"] != ctx or not np.array_equal(base["tokens"], toks):
            raise ValueError("--kl-divergence: the base file was made with another text, tokenizer, vocabulary "
                             f"or --ctx (base: V {base['n_vocab']}, ctx {base['ctx']}, {len(base['tokens'])} tokens; "
                             f"now: V {V}, ctx {ctx}, {len(toks)} tokens)")
        if not (np.array_equal(base["ar_targets"], ar_targets) and np.array_equal(base["dn_targets"], dn_targets)):
            raise ValueError("--kl-divergence: the base file scored other rows (different --chunks, --noise-rates, "
                             "or AR / denoising selection)")
    writer = _BaseWriter(save_base, V, ctx, len(ar_targets), len(dn_targets), toks, ar_targets, dn_targets) \
        if save_base else None
    t0 = time.perf_counter()
    nll_ar, n_ar, correct_ar = 0.0, 0, 0
    kl_ar, kl_dn = _KL(), _KL()
    dn_stats = {r: np.zeros(5) for r in rates}  # loss sum, correct, correct on noised, n noised, n
    row_ar = row_dn = 0
    for wi, w in enumerate(win):
        if ar:
            model.reset()
            model.encode(w[:half - 1])
            rows = np.stack([model.ar_logits(w[i - 1:i]) for i in range(half, ctx)])  # [ctx - half, V]
            tgt = w[half:]
            lp = log_softmax(rows)
            nll_ar += float(-lp[np.arange(len(tgt)), tgt].sum())
            correct_ar += int((rows.argmax(-1) == tgt).sum())
            n_ar += len(tgt)
            if writer:
                writer.add_ar(rows)
            if base is not None:
                kl_ar.add(base["ar"][row_ar:row_ar + len(tgt)], rows)
            row_ar += len(tgt)
        if denoise:
            model.reset()
            model.encode(w[:pre])
            block = w[pre:pre + C]
            for ri, rate in enumerate(rates):
                rng = np.random.default_rng([seed, wi, ri])
                hit = rng.random(C) < rate
                noisy = np.where(hit, rng.integers(0, V, C), block).astype(np.int32)
                l1 = model.decode_canvas(noisy)
                l2 = model.decode_canvas(noisy, l1)  # [C, V]
                lp = log_softmax(l2)
                ok = l2.argmax(-1) == block
                dn_stats[rate] += [float(-lp[np.arange(C), block].sum()), ok.sum(), (ok & hit).sum(), hit.sum(), C]
                if writer:
                    writer.add_dn(l2)
                if base is not None:
                    kl_dn.add(base["dn"][row_dn:row_dn + C], l2)
                row_dn += C
        if progress:
            progress(wi + 1, len(win), time.perf_counter() - t0)
    if writer:
        writer.close()
    out: Dict = dict(model=model.path, n_tokens=int(len(toks)), ctx=ctx, windows=len(win),
                     seconds=time.perf_counter() - t0)
    if ar:
        out["ar"] = dict(scored=n_ar, nll=nll_ar / n_ar, ppl=math.exp(nll_ar / n_ar), top1_acc=correct_ar / n_ar)
        if base is not None:
            out["ar"]["kl"] = kl_ar.result()
    if denoise:
        per = {}
        for r, s in dn_stats.items():
            per[f"{r:g}"] = dict(loss=s[0] / s[4], acc=s[1] / s[4], acc_noised=s[2] / max(s[3], 1), noised_frac=s[3] / s[4])
        out["denoise"] = dict(canvas=C, prefix=pre, seed=seed, rates=per,
                              mean_loss=float(np.mean([p["loss"] for p in per.values()])),
                              mean_acc=float(np.mean([p["acc"] for p in per.values()])),
                              mean_acc_noised=float(np.mean([p["acc_noised"] for p in per.values()])))
        if base is not None:
            out["denoise"]["kl"] = kl_dn.result()
    return out


def report(r: Dict) -> str:
    lines = [f"model {r['model']}: {r['n_tokens']} tokens, {r['windows']} windows of {r['ctx']} "
             f"({r['seconds']:.1f} s)"]
    if "ar" in r:
        a = r["ar"]
        lines.append(f"[ar] perplexity {a['ppl']:.4f} (nll {a['nll']:.5f} nats/token over {a['scored']} tokens), "
                     f"top-1 accuracy {a['top1_acc']:.4f}")
        if "kl" in a:
            k = a["kl"]
            lines.append(f"[ar] KL divergence vs base: mean {k['mean_kld']:.6f}, p99 {k['kld_p99']:.6f}, "
                         f"same top-1 {100 * k['top1_agreement']:.3f}% over {k['rows']} rows")
    if "denoise" in r:
        d = r["denoise"]
        lines.append(f"[denoise] canvas {d['canvas']} after {d['prefix']} tokens, seed {d['seed']}: mean loss "
                     f"{d['mean_loss']:.5f}, mean accuracy {d['mean_acc']:.4f} (noised positions {d['mean_acc_noised']:.4f})")
        for rate, p in d["rates"].items():
            lines.append(f"[denoise]   rate {rate}: loss {p['loss']:.5f}, accuracy {p['acc']:.4f}, "
                         f"noised {p['acc_noised']:.4f} ({100 * p['noised_frac']:.1f}% noised)")
        if "kl" in d:
            k = d["kl"]
            lines.append(f"[denoise] KL divergence vs base: mean {k['mean_kld']:.6f}, p99 {k['kld_p99']:.6f}, "
                         f"same top-1 {100 * k['top1_agreement']:.3f}% over {k['rows']} rows")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="llama-diffusion-perplexity",
                                 description="AR perplexity (sliding windows), diffusion denoising loss and KL "
                                             "divergence against a full-precision base run.")
    ap.add_argument("-m", "--model", default=None, help="GGUF file (default: the built-in demo model)")
    ap.add_argument("-f", "--file", required=True, help="text file to score")
    ap.add_argument("-c", "--ctx", type=int, default=128, help="window length in tokens (default 128)")
    ap.add_argument("--chunks", type=int, default=0, help="score at most this many windows (default: all)")
    ap.add_argument("--noise-rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES),
                    help="comma-separated canvas noise rates of the denoising loss (default 0.25,0.5,0.75)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the canvas noise (default 1234)")
    ap.add_argument("--no-ar", action="store_true", help="skip the AR perplexity")
    ap.add_argument("--no-denoise", action="store_true", help="skip the denoising loss")
    ap.add_argument("--kl-divergence-base", metavar="BASE.bin",
                    help="without --kl-divergence: save this run's logits there; with it: the base to compare with")
    ap.add_argument("--kl-divergence", action="store_true",
                    help="compare with the logits saved in --kl-divergence-base (KL divergence, top-1 agreement)")
    ap.add_argument("-t", "--threads", type=int, default=0, help="threads (default: all)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = ap.parse_args(argv)

    def fail(msg):
        print(f"llama-diffusion-perplexity: error: {msg}", file=sys.stderr)
        return 1

    if args.kl_divergence and not args.kl_divergence_base:
        return fail("--kl-divergence needs --kl-divergence-base BASE.bin (made by a run without --kl-divergence)")
    try:
        rates = tuple(float(x) for x in args.noise_rates.split(",") if x.strip())
    except ValueError:
        return fail(f"--noise-rates must be comma-separated numbers, got {args.noise_rates!r}")
    if not rates or any(not 0.0 <= r <= 1.0 for r in rates):
        return fail(f"--noise-rates must be in [0, 1], got {args.noise_rates!r}")
    if args.threads < 0:
        return fail(f"--threads must be >= 0, got {args.threads}")
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        return fail(f"cannot read the text file {args.file!r}: {e}")
    from .model import Model
    try:
        base = read_base(args.kl_divergence_base) if args.kl_divergence else None
        model = Model(args.model, n_threads=args.threads or None)
        tty = sys.stderr.isatty() and not args.json

        def progress(i, n, s):
            if tty:
                print(f"\r[{i}/{n}] {s:.1f} s", end="" if i < n else "\n", file=sys.stderr, flush=True)

        r = evaluate(model, text, ctx=args.ctx, max_windows=args.chunks, rates=rates, seed=args.seed,
                     save_base=None if args.kl_divergence else args.kl_divergence_base, base=base,
                     ar=not args.no_ar, denoise=not args.no_denoise, progress=progress)
    except (ValueError, OSError) as e:
        return fail(str(e))
    if not args.kl_divergence and args.kl_divergence_base:
        r["saved_base"] = args.kl_divergence_base
    print(json.dumps(r) if args.json else report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
