"""The ``llama-diffusion-server`` command: parses the flags, loads the model and runs uvicorn.

Binds 127.0.0.1 by default (pass ``--host 0.0.0.0`` deliberately, ideally with ``--api-key``).
Without ``-m`` it serves the built-in demo model (prompts as raw text, no chat template).
"""
import argparse
import os
import sys
from typing import List, Optional

from .protocol import Limits


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="llama-diffusion-server",
                                 description="OpenAI-compatible server for DiffusionGemma (block diffusion) that batches "
                                             "concurrent requests.")
    ap.add_argument("-m", "--model", help="GGUF file (default: the built-in demo model)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--api-key", default=os.environ.get("LLAMA_DIFFUSION_API_KEY"),
                    help="require 'Authorization: Bearer KEY' (default: $LLAMA_DIFFUSION_API_KEY, else none)")
    ap.add_argument("--max-batch", type=int, default=8, help="sequences denoised together (default 8)")
    ap.add_argument("--max-queue", type=int, default=64, help="requests waiting for a slot before 429 (default 64)")
    ap.add_argument("-c", "--ctx-size", type=int, default=0, help="context limit per request, prompt + output (0: none)")
    ap.add_argument("-t", "--threads", type=int, default=0, help="compute threads (0: the process-wide pool)")
    ap.add_argument("--prefill-chunk", type=int, default=512, help="prompt tokens encoded per scheduler step (default 512)")
    ap.add_argument("--max-tokens-limit", type=int, default=4096, help="largest max_tokens a request may ask (default 4096)")
    ap.add_argument("--max-prompt-tokens", type=int, default=8192, help="longest prompt accepted (default 8192)")
    ap.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest request body (default 1 MiB)")
    ap.add_argument("--kv-type", default="f32", choices=["f32", "f16", "q8_0"])
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] (as llama-diffusion-cli)")
    ap.add_argument("-ngl", "--n-gpu-layers", type=int, default=None, help="layers on the GPU (default: all)")
    ap.add_argument("--cpu-moe", action="store_true", help="keep the routed experts on the CPU")
    ap.add_argument("--decode", choices=["batched", "loop"], default="batched",
                    help="batched: one decoder pass over all active canvases per step (default); loop: one per request")
    ap.add_argument("--alias", help="model name reported by /v1/models (default: the file name)")
    raw = ap.add_mutually_exclusive_group()
    raw.add_argument("--raw", dest="raw", action="store_true", default=None,
                     help="chat messages as raw text, no chat template (the demo model's default)")
    raw.add_argument("--chat-template", dest="raw", action="store_false", help="apply the chat template")
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    a = _parser().parse_args(argv)
    for name in ("max_batch", "prefill_chunk", "max_tokens_limit", "max_prompt_tokens", "max_body_bytes"):
        if getattr(a, name) < 1:
            print(f"llama-diffusion-server: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    if a.max_queue < 0 or a.ctx_size < 0 or not 0 < a.port < 65536:
        print("llama-diffusion-server: --max-queue and --ctx-size must be >= 0 and --port in 1..65535", file=sys.stderr)
        return 2
    try:
        import uvicorn
        from .app import Server, ServerConfig
    except ImportError as e:
        print(f"llama-diffusion-server: the HTTP stack is missing ({e}); install it with "
              "pip install 'llama-diffusion[server]'", file=sys.stderr)
        return 2
    limits = Limits(max_body_bytes=a.max_body_bytes, max_tokens=a.max_tokens_limit, max_prompt_tokens=a.max_prompt_tokens)
    cfg = ServerConfig(model=a.model, api_key=a.api_key, max_batch=a.max_batch, max_queue=a.max_queue,
                       ctx_size=a.ctx_size, n_threads=a.threads, prefill_chunk=a.prefill_chunk, model_name=a.alias,
                       raw=a.raw, limits=limits, kv_type=a.kv_type,
                       batched_decode=a.decode == "batched", device=a.device, n_gpu_layers=a.n_gpu_layers,
                       cpu_moe=a.cpu_moe)
    try:
        srv = Server(cfg)
    except (OSError, ValueError) as e:
        print(f"llama-diffusion-server: {e}", file=sys.stderr)
        return 1
    print(f"llama-diffusion-server: serving '{srv.name}' ({srv.model.path}) on http://{a.host}:{a.port}/v1 "
          f"({a.decode} decode, max batch {a.max_batch}, queue {a.max_queue}{', API key required' if a.api_key else ''})",
          file=sys.stderr, flush=True)
    uvicorn.run(srv.app(), host=a.host, port=a.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
