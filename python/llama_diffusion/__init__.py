"""llama-diffusion: inference for block-diffusion language models (DiffusionGemma) from GGUF files.

The heavy lifting is in the C++ extension ``llama_diffusion._core``; this package re-exports it.
``Model()`` with no path loads ``$LLAMA_DIFFUSION_MODEL`` when set, else the built-in demo model (``DEMO_MODEL``, a small DiffusionGemma trained
on Python code, shipped in ``llama_diffusion/models/``).
"""
from ._core import GGUFError, cpu_features, cpu_isa, set_cpu_isa
from .demo import DEMO_MODEL, demo_model_path
from .gguf import GGUFFile
from .model import Model
from .generate import ChatSession, Commit, Done, Result, Step
from .params import SamplingParams
from .tokenizer import StreamDecoder, Tokenizer
from . import nn, ops, quants

__version__ = "0.1.0"

__all__ = ["Model", "SamplingParams", "DEMO_MODEL", "demo_model_path", "ChatSession", "Result", "Step", "Commit", "Done", "GGUFFile", "GGUFError", "Tokenizer", "StreamDecoder", "cpu_features", "cpu_isa", "set_cpu_isa", "nn", "ops", "quants", "__version__"]
