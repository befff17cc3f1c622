"""HF DiffusionGemma checkpoint -> GGUF converter and GGUF requantizer (numpy only at run time).

    from llama_diffusion.convert import convert, requantize
    convert("diffusiongemma-26B-A4B-it", "dg-Q4_K_M.gguf", "q4_k_m")
    requantize("dg-BF16.gguf", "dg-Q8_0.gguf", "q8_0")

Modules: safetensors (streaming reader), hf_config (config.json), tensor_map (HF -> GGUF names),
recipes (per-tensor type plan), tokenizer_meta, metadata, writer/split_writer (GGUF output; input is read with ld.GGUFFile),
stream (the chunked encode loop), convert / quantize (the two tools).
"""
from .convert import Plan, convert, plan_checkpoint, plan_from_config
from .errors import ConvertError
from .recipes import OUTTYPES, plan_types



def requantize(*args, **kwargs):
    """GGUF -> GGUF with a new type recipe; see llama_diffusion.convert.quantize.requantize."""
    from .quantize import requantize as impl  # lazy: keeps `python -m ...convert.quantize` clean
    return impl(*args, **kwargs)


__all__ = ["ConvertError", "OUTTYPES", "Plan", "convert", "plan_checkpoint", "plan_from_config", "plan_types",
           "requantize"]
