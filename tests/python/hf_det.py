"""HF transformers DiffusionGemma generate() in the reference-deterministic mode (shared by
test_generate.py and test_demo_model.py): argmax instead of torch.multinomial and the formula noise
instead of random initial canvases / renoising, with the denoising steps of every canvas counted."""
import numpy as np
import torch


def hf_generate_det(model, prompt, max_new_tokens, eos_ids, pad_id=0, **gen_kwargs):
    """HF generate() in the reference-deterministic mode (adapted from the shared reference dump
    script): torch.multinomial -> argmax; every EntropyBoundSampler.initialize_canvas call (each
    block's initial canvas and every renoise) -> (1 + 7919*i + 104729*k + 15485863*b) mod V with k
    counting calls over the whole generate call. Returns (ids after the prompt, steps per canvas)."""
    from transformers.models.diffusion_gemma import generation_diffusion_gemma as gen_mod

    state = {"k": 0, "steps": [], "last": None}

    def formula_noise(sampler, batch_size, device):
        i = torch.arange(sampler.canvas_length, dtype=torch.long)
        b = torch.arange(batch_size, dtype=torch.long)[:, None]
        out = (1 + 7919 * i[None, :] + 104729 * state["k"] + 15485863 * b) % sampler.vocab_size
        state["k"] += 1
        return out.to(device)

    def greedy(probs, num_samples=1, replacement=False, *, generator=None, out=None):
        return probs.argmax(dim=-1, keepdim=True)

    orig_init = gen_mod.EntropyBoundSampler.initialize_canvas
    orig_multinomial = torch.multinomial
    orig_step = model._denoising_step

    def traced_step(**kw):
        cur = kw["cur_step"]
        if state["last"] is None or cur >= state["last"]:
            state["steps"].append(0)
        state["last"] = cur
        state["steps"][-1] += 1
        return orig_step(**kw)

    prompt_t = torch.as_tensor(np.asarray(prompt), dtype=torch.long).reshape(1, -1)
    try:
        gen_mod.EntropyBoundSampler.initialize_canvas = lambda self, batch_size, device: formula_noise(self, batch_size, device)
        torch.multinomial = greedy
        model._denoising_step = traced_step
        with torch.no_grad():
            out = model.generate(prompt_t, max_new_tokens=max_new_tokens, eos_token_id=list(eos_ids),
                                 pad_token_id=pad_id, **gen_kwargs)
    finally:
        gen_mod.EntropyBoundSampler.initialize_canvas = orig_init
        torch.multinomial = orig_multinomial
        del model._denoising_step
    seq = out.sequences if hasattr(out, "sequences") else out
    return [int(t) for t in seq[0, prompt_t.shape[1]:]], state["steps"]
