"""llama-diffusion: inference for block-diffusion language models (DiffusionGemma) from GGUF files.

The heavy lifting is in the C++ extension ``llama_diffusion._core``; this package re-exports it.
"""
from ._core import GGUFError, cpu_features, cpu_isa, set_cpu_isa
from .gguf import GGUFFile
from .model import Model
from .generate import ChatSession, Commit, Done, Result, Step
from .tokenizer import StreamDecoder, Tokenizer
from . import nn, ops, quants

__version__ = "0.1.0"

__all__ = ["Model", "ChatSession", "Result", "Step", "Commit", "Done", "GGUFFile", "GGUFError", "Tokenizer", "StreamDecoder", "cpu_features", "cpu_isa", "set_cpu_isa", "nn", "ops", "quants", "__version__"]
