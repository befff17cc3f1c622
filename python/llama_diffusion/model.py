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
"""
from typing import List, Optional, Tuple

import numpy as np

from . import _core
from . import demo as _demo
from . import generate as _gen
from . import gguf as _gguf

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
    what this build and machine have; ``placement`` describes where this model runs."""

    def __init__(self, path=None, n_threads: Optional[int] = None, kv_type: str = "f32",
                 check_tensors: bool = False, device: str = "auto", n_gpu_layers: Optional[int] = None,
                 cpu_moe: bool = False):
        self.is_demo = path is None
        if path is None:
            path = _demo.demo_model_path()
        if check_tensors:
            with _gguf.GGUFFile(path) as f:
                f.check_tensors(int(n_threads or 0))
        self._m = _core.Model(str(path), int(n_threads or 0), str(kv_type), str(device),
                              -1 if n_gpu_layers is None else int(n_gpu_layers), bool(cpu_moe))
        self.path = str(path)
        if self.is_demo:
            _demo.announce(self.path)

    # ---- properties ----------------------------------------------------------------------
    @property
    def hparams(self) -> dict:
        return self._m.hparams

    @property
    def architecture(self) -> str:
        return self._m.hparams["architecture"]

    @property
    def n_vocab(self) -> int:
        return self._m.hparams["n_vocab"]

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
    def encode(self, ids, pos0: Optional[int] = None) -> None:
        """Encodes token ids at positions pos0.. (default: after the cache) into the KV cache."""
        self._m.encode(np.asarray(ids, dtype=np.int32).reshape(-1), pos0, False)

    def ar_logits(self, ids, pos0: Optional[int] = None) -> np.ndarray:
        """Encodes ids (appending to the cache) and returns the last position's logits [V]."""
        return self._m.encode(np.asarray(ids, dtype=np.int32).reshape(-1), pos0, True)

    def decode_canvas(self, canvas_ids, sc_logits=None) -> np.ndarray:
        """Canvas logits [C, V] for canvas_ids at positions next_pos..next_pos+C-1 (cache unchanged).
        sc_logits: the previous step's processed logits [C, V] (self-conditioning) or None."""
        if sc_logits is not None:
            sc_logits = np.ascontiguousarray(sc_logits, dtype=np.float32)
        return self._m.decode_canvas(np.asarray(canvas_ids, dtype=np.int32).reshape(-1), sc_logits)

    def decode_hidden(self, canvas_ids, soft=None) -> np.ndarray:
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
        self._m.reset()

    # ---- text and generation (llama_diffusion.generate) ------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]:
        """Token ids of ``text`` with this model's tokenizer."""
        return _gen.tokenize(self, text, add_special, parse_special)

    def detokenize(self, ids, skip_special: bool = False) -> str:
        """Text of token ids (byte-fallback sequences decoded to valid UTF-8)."""
        return _gen.detokenize(self, ids, skip_special)

    def generate(self, prompt=None, **kwargs) -> "_gen.Result":
        """Block-diffusion (or ``mode="ar"``) generation; see ``llama_diffusion.generate.generate``."""
        return _gen.generate(self, prompt, **kwargs)

    def stream(self, prompt=None, **kwargs):
        """Like ``generate`` but yields ``Step`` / ``Commit`` / ``Done`` events as the canvas denoises."""
        return _gen.stream(self, prompt, **kwargs)

    def __repr__(self) -> str:
        hp = self.hparams
        return (f"Model({self.path!r}, arch={hp['architecture']}, layers={hp['n_layer']}, "
                f"H={hp['n_embd']}, V={hp['n_vocab']}, kv={self.kv_type})")
