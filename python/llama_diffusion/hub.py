"""GGUF files from the Hugging Face Hub, with llama.cpp's and llama-cpp-python's spellings:

    ld.Model.from_pretrained("unsloth/diffusiongemma-26B-A4B-it-GGUF", filename="*Q4_K_M*.gguf")
    llama-diffusion-cli -hf unsloth/diffusiongemma-26B-A4B-it-GGUF:Q4_K_M
    python -m llama_diffusion.hub resolve OWNER/REPO[:QUANT]      # prints the local path (what -hf runs)

The quant tag (``:Q4_K_M``, any case) or the ``filename`` glob picks the file; with neither, the
repository's only GGUF, else its Q4_K_M one (llama.cpp's default). A split model (``...-00001-of-0000N.gguf``)
downloads every shard; the path returned is the first shard, which opens the whole model.
Downloads go through ``huggingface_hub`` (the optional extra ``hub``) into the standard HF cache
(``$HF_HUB_CACHE``, ``$HF_HOME``), with its progress bars on stderr, its login token for gated
repositories, and ``HF_HUB_OFFLINE=1`` to work from the cache alone (the file list then comes from
the cached snapshot). Projector files (``mmproj*``) are never picked.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["HubError", "parse_spec", "select_files", "download", "main"]

DEFAULT_QUANT = "Q4_K_M"
_SHARD = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


class HubError(ValueError):
    """A repository, tag or file that cannot be resolved (the message says what is available)."""


def _hf():  # type: ignore[no-untyped-def]
    try:
        import huggingface_hub
    except ImportError:
        raise HubError("the Hugging Face Hub needs the huggingface_hub package: pip install 'llama-diffusion[hub]' "
                       "(or pip install huggingface_hub)") from None
    return huggingface_hub


def parse_spec(spec: str) -> Tuple[str, Optional[str]]:
    """'owner/repo:Q4_K_M' -> ('owner/repo', 'Q4_K_M'); 'owner/repo' -> ('owner/repo', None)."""
    repo, _, quant = spec.strip().partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise HubError(f"'{spec}' is not a Hub repository (expected OWNER/REPO or OWNER/REPO:QUANT)")
    return repo, (quant or None)


def offline() -> bool:
    """HF_HUB_OFFLINE set (as huggingface_hub reads it: 1, ON, YES, TRUE)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _has_tag(name: str, quant: str) -> bool:
    """The quant tag appears in the file name as a whole word (Q4_K_M matches '-Q4_K_M-' and
    '.Q4_K_M.' but not Q4_K_M_L); case-insensitive."""
    base = os.path.basename(name)
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(quant)}(?![A-Za-z0-9_])", base, re.IGNORECASE) is not None


def _quants(ggufs: Sequence[str]) -> List[str]:
    """The quant tags of the files (for error messages): Q4_K_M, UD-IQ2_XXS, BF16, ..."""
    tags = set()
    for f in ggufs:
        base = os.path.basename(f)
        m = _SHARD.match(base)
        stem = m.group("prefix") if m else base[:-len(".gguf")]
        hits = re.findall(r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q\d[A-Za-z0-9_]*|BF16|F16|F32))(?=$|[-.])", stem, re.IGNORECASE)
        tags.add(hits[-1] if hits else stem)
    return sorted(tags)


def _group(files: Sequence[str]) -> Dict[str, List[str]]:
    """Files -> models: a shard set is one model (key: its prefix), any other file is its own."""
    models: Dict[str, List[str]] = {}
    for f in files:
        m = _SHARD.match(f)
        key = f"{m.group('prefix')}-of-{m.group('count')}" if m else f
        models.setdefault(key, []).append(f)
    return models


def select_files(files: Sequence[str], quant: Optional[str] = None, pattern: Optional[str] = None,
                 repo: str = "") -> List[str]:
    """The files of one model among a repository's ``files``: by glob ``pattern`` (matched against
    the path and the file name), by ``quant`` tag, or the default. Every shard of a split model, in
    order; HubError when nothing or more than one model matches, or a shard is missing."""
    ggufs = [f for f in files if f.lower().endswith(".gguf") and not os.path.basename(f).lower().startswith("mmproj")]
    where = f" in {repo}" if repo else ""
    if not ggufs:
        raise HubError(f"no GGUF files{where}")
    if pattern is not None:
        picked = [f for f in ggufs if fnmatch.fnmatch(f, pattern) or fnmatch.fnmatch(os.path.basename(f), pattern)]
        what = f"filename '{pattern}'"
    elif quant is not None:
        picked = [f for f in ggufs if _has_tag(f, quant)]
        what = f"quant '{quant}'"
    else:
        models = _group(ggufs)
        picked = ggufs if len(models) == 1 else [f for f in ggufs if _has_tag(f, DEFAULT_QUANT)]
        what = f"the default quant {DEFAULT_QUANT} (the repository has several models; name one with :QUANT)"
    if not picked:
        raise HubError(f"no GGUF matches {what}{where}; available: {', '.join(_quants(ggufs)) or ', '.join(ggufs)}")
    models = _group(picked)
    if len(models) > 1:
        raise HubError(f"{what} matches {len(models)} models{where}: {', '.join(sorted(models))}; be more specific")
    (key, chosen), = models.items()
    m = _SHARD.match(chosen[0])
    if not m:
        return chosen
    count, prefix = int(m.group("count")), m.group("prefix")
    shards = [f"{prefix}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
    missing = [s for s in shards if s not in ggufs]
    if missing:
        raise HubError(f"split model {prefix}{where} lacks shard(s) {', '.join(missing)}")
    return shards


def _snapshot_files(repo_id: str, revision: Optional[str], cache_dir: Optional[str]) -> List[str]:
    """The files of the cached snapshot (offline mode), relative to it."""
    hf = _hf()
    try:
        root = hf.snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True,
                                    allow_patterns=["*.gguf"])
    except Exception as e:  # noqa: BLE001 - huggingface_hub's errors vary across versions
        raise HubError(f"{repo_id} is not in the Hugging Face cache (offline mode: HF_HUB_OFFLINE is set): "
                       f"{type(e).__name__}: {e}") from None
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/"))
    return sorted(out)


def list_files(repo_id: str, revision: Optional[str] = None, cache_dir: Optional[str] = None) -> List[str]:
    """The repository's files: from the Hub, or from the cached snapshot when offline."""
    if offline():
        return _snapshot_files(repo_id, revision, cache_dir)
    hf = _hf()
    try:
        return sorted(hf.HfApi().list_repo_files(repo_id, revision=revision))
    except Exception as e:  # noqa: BLE001
        raise HubError(f"cannot list {repo_id} on the Hugging Face Hub: {type(e).__name__}: {e} "
                       "(HF_HUB_OFFLINE=1 uses the cache only)") from None


def _download_one(repo_id: str, filename: str, revision: Optional[str], cache_dir: Optional[str]) -> str:
    hf = _hf()
    try:
        return str(hf.hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir,
                                      local_files_only=offline()))
    except Exception as e:  # noqa: BLE001
        raise HubError(f"cannot get {filename} of {repo_id}: {type(e).__name__}: {e}") from None


def download(repo_id: str, filename: Optional[str] = None, quant: Optional[str] = None,
             revision: Optional[str] = None, cache_dir: Optional[str] = None,
             lister: Optional[Callable[[str, Optional[str], Optional[str]], List[str]]] = None,
             fetch: Optional[Callable[[str, str, Optional[str], Optional[str]], str]] = None) -> str:
    """Local path of the chosen GGUF (the first shard of a split model), downloading what the cache
    lacks. ``repo_id`` may carry the tag (``owner/repo:Q4_K_M``). ``lister`` / ``fetch`` replace the
    Hub calls (tests)."""
    repo, tag = parse_spec(repo_id)
    if quant is None:
        quant = tag
    files = (lister or list_files)(repo, revision, cache_dir)
    chosen = select_files(files, quant=quant, pattern=filename, repo=repo)
    paths = [(fetch or _download_one)(repo, f, revision, cache_dir) for f in chosen]
    return paths[0]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m llama_diffusion.hub",
                                 description="Resolve (and download into the HF cache) a GGUF of a Hub repository.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("resolve", help="print the local path of OWNER/REPO[:QUANT]")
    r.add_argument("spec", help="OWNER/REPO or OWNER/REPO:QUANT (e.g. unsloth/X-GGUF:Q4_K_M)")
    r.add_argument("--filename", help="a glob instead of the quant tag, e.g. '*Q4_K_M*.gguf'")
    r.add_argument("--revision", help="branch, tag or commit (default: main)")
    args = ap.parse_args(argv)
    try:
        path = download(args.spec, filename=args.filename, revision=args.revision)
    except HubError as e:
        print(f"llama_diffusion.hub: error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
