"""Model: a DiffusionGemma (``diffusion-gemma``) or Gemma 3 (``gemma3``) GGUF loaded by the C++ engine.

    m = Model("model.gguf", n_threads=2, kv_type="f32")
    m = Model()                                   # the built-in demo model (llama_diffusion/models/)
    m.encode(prompt_ids)                          # causal prefill, appends to the KV cache
    logits = m.decode_canvas(canvas_ids)          # [C, V] canvas logits (DiffusionGemma only)
    logits = m.decode_canvas(canvas_ids, sc)      # with self-conditioning logits [C, V]
    hidden = m.decode_hidden(canvas_ids, soft)    # [C, H] final-normed states; soft: expected embedding [C, H]
    last = m.ar_logits(ids)                       # encodes ids, returns the last position's logits [V]

The decoder never changes the cache; ``encode`` of a committed canvas continues at the positions the
decoder used (``m.kv_length`` tokens are cached, the next position is ``m.next_pos``).

``Model`` is a context manager: ``with ld.Model(path) as m: ...`` releases the weights and the cache at
the end (``m.close()`` does the same; a closed model raises ValueError when used).
"""
from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type, Union

import numpy as np

from . import _core
from . import demo as _demo
from . import generate as _gen
from . import gguf as _gguf
from .events import Event, Result
from .generate import Message, Prompt
from .params import SamplingParams
from .threads import check_threads

ArrayLike = Any  # anything numpy.asarray takes

__all__ = ["Model"]


class Model:
    """A loaded model. ``n_threads=None`` uses the process-wide pool; ``kv_type`` is
    ``"f32"`` (default), ``"f16"`` or ``"q8_0"``. Generation (``generate``, ``stream``, chat) runs
    on this same C++ model: it shares the weights and the KV cache (``kv_length`` after ``generate``
    counts the prompt and the committed canvases). ``path=None`` loads the built-in demo model (a
    small DiffusionGemma trained on Python code, see ``llama_diffusion.demo``) and says so on stderr;
    ``is_demo`` is then True and prompt strings are used as raw text by default.
    ``check_tensors=True`` first validates every tensor's data (``GGUFFile.check_tensors``: NaN/Inf
    values and scales; reads the whole file) and raises ``GGUFError`` on the first bad value.

    Placement (llama.cpp's meanings): ``device="auto"`` (a usable GPU, else the CPU), ``"cpu"``,
    ``"cuda"`` / ``"cuda:N"``; ``n_gpu_layers=N`` puts the first N layers on the GPU (``None``: all of
    them and the head); ``cpu_moe=True`` keeps the routed experts on the CPU. ``ld.backends()`` lists
    what this build and machine have; ``placement`` describes where this model runs.
    ``repack=True`` (or the environment variable ``LD_REPACK=1``) repacks the matmul weights on their
    first use into the CPU kernels' panel form where the ISA in effect has one within 7% of their bytes
    (``_core.prepared_weight_supported``; e.g. Q4_K / Q5_0 / Q8_0 on AVX-512; same results), replacing
    their mapped pages and dropping them from the page cache, and keeps the self-conditioning product's
    transposed embedding across steps (about 0.8 GB for the full-size model; ``repacked_bytes`` tells how
    much in all)."""

    def __init__(self, path: Union[str, "os.PathLike[str]", None] = None, n_threads: Optional[int] = None,
                 kv_type: str = "f32", check_tensors: bool = False, device: str = "auto",
                 n_gpu_layers: Optional[int] = None, cpu_moe: bool = False, repack: bool = False) -> None:
        # is_demo: no path given and the default is the demo (not $LLAMA_DIFFUSION_MODEL)
        self.is_demo: bool = path is None and _demo.is_demo_path(_demo.default_model_path())
        if path is None:
            path = _demo.default_model_path()
        threads = check_threads(n_threads)
        if check_tensors:
            with _gguf.GGUFFile(path) as f:
                f.check_tensors(threads)
        self._core: Optional[_core.Model] = _core.Model(os.fspath(path), threads, str(kv_type), str(device),
                                                        -1 if n_gpu_layers is None else int(n_gpu_layers),
                                                        bool(cpu_moe), bool(repack))
        self._ld_engine: Optional[_core.Engine] = None
        self._ld_pending: List[int] = []
        self.path: str = os.fspath(path)
        if self.is_demo:
            _demo.announce(self.path)

    @classmethod
    def from_pretrained(cls, repo_id: str, filename: Optional[str] = None, *, revision: Optional[str] = None,
                        cache_dir: Optional[str] = None, n_threads: Optional[int] = None, kv_type: str = "f32",
                        check_tensors: bool = False) -> "Model":
        """Downloads (or finds in the Hugging Face cache) a GGUF of a Hub repository and loads it, as
        llama-cpp-python's ``Llama.from_pretrained``: ``filename`` is a glob (``"*Q4_K_M*.gguf"``) or
        None (the repository's only GGUF, else its Q4_K_M one); a split model downloads every shard.
        Needs ``huggingface_hub`` (``pip install llama-diffusion[hub]``); ``HF_HUB_OFFLINE=1`` uses
        the cache only. See ``llama_diffusion.hub``."""
        from . import hub
        path = hub.download(repo_id, filename=filename, revision=revision, cache_dir=cache_dir)
        return cls(path, n_threads=n_threads, kv_type=kv_type, check_tensors=check_tensors)

    # ---- lifetime ----------------------------------------------------------------------------
    @property
    def _m(self) -> _core.Model:
        if self._core is None:
            raise ValueError(f"the model {self.path} is closed")
        return self._core

    def close(self) -> None:
        """Releases the weights (the file mapping) and the KV cache; the model cannot be used after."""
        self._ld_engine = None
        self._core = None
        self._ld_pending = []

    @property
    def closed(self) -> bool:
        return self._core is None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    # ---- properties ----------------------------------------------------------------------
    @property
    def hparams(self) -> Dict[str, Any]:
        return self._m.hparams

    @property
    def architecture(self) -> str:
        return str(self._m.hparams["architecture"])

    @property
    def n_vocab(self) -> int:
        return int(self._m.hparams["n_vocab"])

    @property
    def kv_length(self) -> int:
        """Tokens currently held by the encoder cache (prompt + committed canvases)."""
        return self._m.kv_length

    @property
    def next_pos(self) -> int:
        """Position of the next encoded token / the first canvas position."""
        return self._m.next_pos

    @property
    def kv_bytes(self) -> int:
        """Bytes allocated by the KV cache."""
        return self._m.kv_bytes

    @property
    def kv_type(self) -> str:
        return self._m.kv_type

    @property
    def device(self) -> str:
        """The device the model runs on ("cpu", "cuda:0", ...)."""
        return self._m.device

    @property
    def repacked_bytes(self) -> int:
        """Bytes of the CPU weights repacked so far (``repack``; 0 when off or nothing applies)."""
        return int(self._m.repacked_bytes)

    @property
    def placement(self) -> str:
        """Where the layers, the head and the experts run, and the device memory their weights hold."""
        return self._m.placement

    @property
    def chunk_size(self) -> int:
        """Encoder chunk length (tokens per block pass)."""
        return self._m.chunk_size

    @chunk_size.setter
    def chunk_size(self, n: int) -> None:
        self._m.chunk_size = int(n)

    @property
    def capture_layers(self) -> bool:
        """When True, every pass records its input stream and each layer's output (``layer_outputs``)."""
        return self._m.capture_layers

    @capture_layers.setter
    def capture_layers(self, on: bool) -> None:
        self._m.capture_layers = bool(on)

    @property
    def layer_outputs(self) -> List[np.ndarray]:
        """After a pass with ``capture_layers`` on: [input [S, H], layer 0 out, ..., layer L-1 out]."""
        if not self._m.capture_layers:
            raise ValueError("layer_outputs: set capture_layers = True before the pass")
        return self._m.layer_outputs

    # ---- passes --------------------------------------------------------------------------
    def encode(self, ids: ArrayLike, pos0: Optional[int] = None) -> None:
        """Encodes token ids at positions pos0.. (default: after the cache) into the KV cache."""
        self._ld_pending = []
        self._m.encode(np.asarray(ids, dtype=np.int32).reshape(-1), pos0, False)

    def ar_logits(self, ids: ArrayLike, pos0: Optional[int] = None) -> np.ndarray:
        """Encodes ids (appending to the cache) and returns the last position's logits [V]."""
        self._ld_pending = []
        return np.asarray(self._m.encode(np.asarray(ids, dtype=np.int32).reshape(-1), pos0, True))

    def decode_canvas(self, canvas_ids: ArrayLike, sc_logits: Optional[ArrayLike] = None) -> np.ndarray:
        """Canvas logits [C, V] for canvas_ids at positions next_pos..next_pos+C-1 (cache unchanged).
        sc_logits: the previous step's processed logits [C, V] (self-conditioning) or None."""
        if sc_logits is not None:
            sc_logits = np.ascontiguousarray(sc_logits, dtype=np.float32)
        return self._m.decode_canvas(np.asarray(canvas_ids, dtype=np.int32).reshape(-1), sc_logits)

    def decode_hidden(self, canvas_ids: ArrayLike, soft: Optional[ArrayLike] = None) -> np.ndarray:
        """The decoder pass of ``decode_canvas`` up to the final norm: hidden states [C, H] (logits =
        softcap(hidden · Eᵀ)). soft: the self-conditioning input as the expected embedding
        softmax(sc_logits) · E [C, H] (what the fused vocab head computes), or None."""
        if soft is not None:
            soft = np.ascontiguousarray(soft, dtype=np.float32)
        return self._m.decode_hidden(np.asarray(canvas_ids, dtype=np.int32).reshape(-1), soft)

    def kv_cache(self, layer: int) -> Tuple[np.ndarray, np.ndarray]:
        """(k, v) of one layer, f32 [T, n_kv_head, head_dim] (T: all tokens in full layers, the
        last W-1 in sliding layers)."""
        k, v, _ = self._m.kv_cache(int(layer))
        return k, v

    def kv_positions(self, layer: int) -> np.ndarray:
        return self._m.kv_cache(int(layer))[2]

    def reset(self) -> None:
        """Empties the KV cache."""
        self._ld_pending = []
        self._m.reset()

    # ---- text and generation (llama_diffusion.generate) ------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]:
        """Token ids of ``text`` with this model's tokenizer."""
        return _gen.tokenize(self, text, add_special, parse_special)

    def detokenize(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """Text of token ids (byte-fallback sequences decoded to valid UTF-8)."""
        return _gen.detokenize(self, ids, skip_special)

    def generate(self, prompt: Prompt = None, params: Optional[SamplingParams] = None, *,
                 messages: Optional[Sequence[Message]] = None, max_tokens: Optional[int] = None,
                 mode: Optional[str] = None, seed: Optional[int] = None, max_steps: Optional[int] = None,
                 t_min: Optional[float] = None, t_max: Optional[float] = None,
                 entropy_bound: Optional[float] = None, stability: Optional[int] = None,
                 confidence: Optional[float] = None, temperature: Optional[float] = None,
                 eos_ids: Optional[Sequence[int]] = None, stop: Union[str, Sequence[str], None] = None,
                 deterministic: Optional[bool] = None, head: Optional[str] = None,
                 max_canvases: Optional[int] = None, n_ctx: Optional[int] = None,
                 soft_drop_mass: Optional[float] = None, thinking: bool = False,
                 raw: Optional[bool] = None, keep_cache: bool = False) -> Result:
        """Generates a reply to ``prompt`` (text or token ids) or ``messages`` and returns the Result.

        Block diffusion for a DiffusionGemma, autoregressive for a model with no diffusion head
        (Gemma 3) unless ``mode`` says otherwise. ``params`` (an ld.SamplingParams) holds the settings;
        the keywords of the same names override its fields: max_tokens, mode ("diffusion" / "ar"),
        seed, the entropy-bound sampler (max_steps, t_min, t_max, entropy_bound, stability,
        confidence; None: the GGUF's defaults), temperature (AR), eos_ids, stop (strings that end the
        text), deterministic (the HF-reference mode), head ("fused" / "plain"), max_canvases, n_ctx,
        soft_drop_mass (sparse self-conditioning; 0: exact).
        thinking: thinking in the chat format; raw: a text prompt used as is, no chat template (None:
        raw for the demo model only); keep_cache: continue from this model's KV cache instead of
        starting fresh. Ctrl-C raises KeyboardInterrupt within a prefill chunk or a step."""
        return _gen.generate(self, prompt, params, messages=messages, max_tokens=max_tokens, mode=mode, seed=seed,
                             max_steps=max_steps, t_min=t_min, t_max=t_max, entropy_bound=entropy_bound,
                             stability=stability, confidence=confidence, temperature=temperature,
                             eos_ids=eos_ids, stop=stop, deterministic=deterministic, head=head,
                             max_canvases=max_canvases, n_ctx=n_ctx, soft_drop_mass=soft_drop_mass,
                             thinking=thinking, raw=raw,
                             keep_cache=keep_cache)

    def stream(self, prompt: Prompt = None, params: Optional[SamplingParams] = None, *,
               messages: Optional[Sequence[Message]] = None, max_tokens: Optional[int] = None,
               mode: Optional[str] = None, seed: Optional[int] = None, max_steps: Optional[int] = None,
               t_min: Optional[float] = None, t_max: Optional[float] = None,
               entropy_bound: Optional[float] = None, stability: Optional[int] = None,
               confidence: Optional[float] = None, temperature: Optional[float] = None,
               eos_ids: Optional[Sequence[int]] = None, stop: Union[str, Sequence[str], None] = None,
               deterministic: Optional[bool] = None, head: Optional[str] = None,
               max_canvases: Optional[int] = None, n_ctx: Optional[int] = None,
               soft_drop_mass: Optional[float] = None, thinking: bool = False,
               raw: Optional[bool] = None, keep_cache: bool = False) -> Iterator[Event]:
        """Like ``generate`` (same parameters) but yields ``Step`` (each denoising step's argmax draft),
        ``Commit`` (each committed canvas's new text) and finally ``Done`` (the Result). Closing the
        iterator early cancels the generation."""
        return _gen.stream(self, prompt, params, messages=messages, max_tokens=max_tokens, mode=mode, seed=seed,
                           max_steps=max_steps, t_min=t_min, t_max=t_max, entropy_bound=entropy_bound,
                           stability=stability, confidence=confidence, temperature=temperature, eos_ids=eos_ids,
                           stop=stop, deterministic=deterministic, head=head, max_canvases=max_canvases,
                           n_ctx=n_ctx, soft_drop_mass=soft_drop_mass, thinking=thinking, raw=raw,
                           keep_cache=keep_cache)

    def __repr__(self) -> str:
        hp = self.hparams
        return (f"Model({self.path!r}, arch={hp['architecture']}, layers={hp['n_layer']}, "
                f"H={hp['n_embd']}, V={hp['n_vocab']}, kv={self.kv_type})")
