"""llama-diffusion: inference for block-diffusion language models (DiffusionGemma) from GGUF files.

The heavy lifting is in the C++ extension ``llama_diffusion._core``; this package re-exports it.
``Model()`` with no path loads ``$LLAMA_DIFFUSION_MODEL`` when set, else the built-in demo model (``DEMO_MODEL``, a small DiffusionGemma trained
on Python code, shipped in ``llama_diffusion/models/``).

Threads: one model object runs one generation at a time (a second generate / stream / encode on it
waits its turn); calls that read or change its state (reset, kv_cache, chat clear, ...) raise
``ModelBusyError`` while a generation runs on it in another thread or from inside its callbacks;
different model objects run concurrently. See README.md, "Threads".
"""
from ._core import GGUFError, ModelBusyError, cpu_features, cpu_isa, set_cpu_isa
from ._core import backends
from .demo import DEMO_MODEL, demo_model_path
from .gguf import GGUFFile
from .model import Model
from .generate import ChatSession, Commit, Done, Result, Step
from .params import SamplingParams
from .tokenizer import StreamDecoder, Tokenizer
from . import nn, ops, quants

__version__ = "0.1.0"

__all__ = ["Model", "SamplingParams", "DEMO_MODEL", "demo_model_path", "ChatSession", "Result", "Step", "Commit", "Done", "GGUFFile", "GGUFError", "ModelBusyError", "Tokenizer", "StreamDecoder", "backends", "cpu_features", "cpu_isa", "set_cpu_isa", "nn", "ops", "quants", "__version__"]
