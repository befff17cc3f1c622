"""``llama-diffusion-server``: an OpenAI-compatible HTTP server for DiffusionGemma that batches
concurrent requests (install with ``pip install "llama-diffusion[server]"``).

    llama-diffusion-server -m model.gguf --host 127.0.0.1 --port 8080 [--api-key KEY] [--max-batch N]
    llama-diffusion-server                     # the built-in demo model

Then point any OpenAI client at ``http://127.0.0.1:8080/v1``. Modules: ``protocol`` (request
validation, the temperature mapping), ``scheduler`` (the batch loop), ``app`` (routes, SSE),
``metrics`` (Prometheus text), ``cli`` (the command).
"""
from .protocol import APIError, Limits  # noqa: F401

__all__ = ["APIError", "Limits", "create_app", "ServerConfig", "main"]


def __getattr__(name):
    # The HTTP stack (starlette, uvicorn) is an optional extra: import it only when used.
    if name in ("create_app", "ServerConfig", "Server"):
        from . import app
        return getattr(app, name)
    if name == "main":
        from .cli import main
        return main
    raise AttributeError(name)
