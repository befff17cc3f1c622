"""``python -m llama_diffusion.server``: the same as ``llama-diffusion-server``."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
