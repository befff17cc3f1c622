"""The Hugging Face Hub (llama_diffusion.hub, ld.Model.from_pretrained, llama-diffusion-cli -hf), with no
network: a Hugging Face cache laid out in the test (models--OWNER--REPO/refs/main and
snapshots/<commit>/..., the layout huggingface_hub reads) used with HF_HUB_OFFLINE=1, and a stubbed
file listing and download for the online path. Checked: the quant tag or glob picks the file, a split
model brings every shard (and loads as one model, generating what the unsplit file generates), clear
errors for unknown tags, ambiguous globs, missing shards and repositories not in the cache."""
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("gguf")

import llama_diffusion as ld  # noqa: E402
from llama_diffusion import hub  # noqa: E402
from llama_diffusion.convert import requantize  # noqa: E402
from cli_helpers import find_cli  # noqa: E402

REPO = "someone/diffusiongemma-demo-GGUF"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
GEN = dict(max_tokens=32, deterministic=True, raw=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An HF cache holding REPO: a Q8_0 file, an F32 model in 3 shards under F32/, and a projector."""
    root = tmp_path_factory.mktemp("hf") / "hub"
    snap = root / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    (snap / "F32").mkdir(parents=True)
    (root / f"models--{REPO.replace('/', '--')}" / "refs").mkdir()
    (root / f"models--{REPO.replace('/', '--')}" / "refs" / "main").write_text(COMMIT)
    shutil.copy(ld.DEMO_MODEL, snap / "dg-demo-Q8_0.gguf")
    shutil.copy(ld.DEMO_MODEL, snap / "mmproj-dg-demo-Q8_0.gguf")
    requantize(ld.DEMO_MODEL, str(snap / "F32" / "dg-demo-F32.gguf"), "f32", progress=False,
               split_max_tensors=40, log=lambda m: None)
    (snap / "README.md").write_text("demo")
    return root


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def shards(cache):
    return sorted((cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT / "F32").iterdir())


def test_select_files():
    fs = ["README.md", "dg-UD-IQ2_XXS.gguf", "dg-Q4_K_M.gguf", "BF16/dg-BF16-00001-of-00002.gguf",
          "BF16/dg-BF16-00002-of-00002.gguf", "mmproj-F16.gguf", "dg-Q4_K_M_L.gguf"]
    assert hub.select_files(fs) == ["dg-Q4_K_M.gguf"]  # the default quant
    assert hub.select_files(fs, quant="bf16") == fs[3:5]
    assert hub.select_files(fs, quant="IQ2_XXS") == ["dg-UD-IQ2_XXS.gguf"]
    assert hub.select_files(fs, pattern="*Q4_K_M_L*") == ["dg-Q4_K_M_L.gguf"]
    assert hub.select_files(["only-F16.gguf", "x.txt"]) == ["only-F16.gguf"]
    with pytest.raises(hub.HubError, match=r"no GGUF matches quant 'Q5_K_M'.*available: BF16, Q4_K_M, Q4_K_M_L, UD-IQ2_XXS"):
        hub.select_files(fs, quant="Q5_K_M")
    with pytest.raises(hub.HubError, match="matches 4 models"):
        hub.select_files(fs, pattern="*.gguf")
    with pytest.raises(hub.HubError, match="lacks shard"):
        hub.select_files(fs[:4], quant="BF16")
    with pytest.raises(hub.HubError, match="no GGUF files"):
        hub.select_files(["README.md"])
    assert hub.parse_spec("a/b:Q8_0") == ("a/b", "Q8_0") and hub.parse_spec("a/b") == ("a/b", None)
    with pytest.raises(hub.HubError, match="not a Hub repository"):
        hub.parse_spec("just-a-name")


def test_stubbed_listing_fetches_every_shard(cache):
    snap = shards(cache)[0].parent.parent
    listing = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file())
    fetched = []

    def fetch(repo, filename, revision, cache_dir):
        fetched.append((repo, filename, revision))
        return str(snap / filename)

    path = hub.download(f"{REPO}:f32", lister=lambda r, rev, c: listing, fetch=fetch, revision="v1")
    assert [f for _, f, _ in fetched] == [f"F32/{p.name}" for p in shards(cache)]
    assert all(r == REPO and rev == "v1" for r, _, rev in fetched)
    assert path == str(shards(cache)[0])


def test_from_pretrained_offline(cache, offline):
    direct = ld.Model(ld.DEMO_MODEL).generate("def f(x):", **GEN)
    m = ld.Model.from_pretrained(REPO, filename="*Q8_0*.gguf", cache_dir=str(cache))
    assert m.path.endswith("dg-demo-Q8_0.gguf") and str(cache) in m.path
    assert m.generate("def f(x):", **GEN).tokens == direct.tokens
    m = ld.Model.from_pretrained(f"{REPO}:F32", cache_dir=str(cache))
    assert m.path == str(shards(cache)[0])
    with ld.GGUFFile(m.path) as f:
        assert len(f.shard_paths) == len(shards(cache)) >= 3
    f32 = m.generate("def f(x):", **GEN)
    assert len(f32.tokens) == 32 and f32.text


def test_offline_errors(cache, offline, tmp_path):
    with pytest.raises(hub.HubError, match="not in the Hugging Face cache"):
        hub.download("someone/absent-GGUF", cache_dir=str(cache))
    with pytest.raises(hub.HubError, match="available: F32, Q8_0"):
        hub.download(f"{REPO}:Q4_K_M", cache_dir=str(cache))
    # a shard missing from the cache is named
    broken = tmp_path / "hub"
    shutil.copytree(cache, broken, symlinks=True)
    victim = sorted((broken / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT / "F32").iterdir())[1]
    victim.unlink()
    with pytest.raises(hub.HubError, match=f"lacks shard.*{victim.name}"):
        hub.download(f"{REPO}:F32", cache_dir=str(broken))


def _env(cache):
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), LLAMA_DIFFUSION_PYTHON=sys.executable)


def test_resolver_command(cache):
    r = subprocess.run([sys.executable, "-m", "llama_diffusion.hub", "resolve", f"{REPO}:Q8_0"],
                       capture_output=True, text=True, env=_env(cache), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(f"{COMMIT}/dg-demo-Q8_0.gguf")
    r = subprocess.run([sys.executable, "-m", "llama_diffusion.hub", "resolve", f"{REPO}:Q2_K"],
                       capture_output=True, text=True, env=_env(cache), timeout=120)
    assert r.returncode == 1 and "no GGUF matches quant 'Q2_K'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(find_cli() is None, reason="llama-diffusion-cli not built")
def test_cli_hf(cache):
    cli = find_cli()
    args = ["-p", "def f(x):", "--raw", "-n", "32", "--deterministic", "--verbose"]
    r = subprocess.run([cli, "-hf", f"{REPO}:F32", *args], capture_output=True, text=True, env=_env(cache),
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"model: {shards(cache)[0]}" in r.stderr
    r = subprocess.run([cli, "-hf", f"{REPO}:Q5_K_M", *args], capture_output=True, text=True, env=_env(cache),
                       timeout=300)
    assert r.returncode == 1
    assert "no GGUF matches quant 'Q5_K_M'" in r.stderr and "-hf: could not resolve" in r.stderr
    r = subprocess.run([cli, "-hf", "nonsense", *args], capture_output=True, text=True, env=_env(cache))
    assert r.returncode == 1 and "is not a Hub repository" in r.stderr
