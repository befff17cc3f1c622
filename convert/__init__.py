"""HF DiffusionGemma checkpoint -> GGUF converter and GGUF requantizer (placeholder)."""
