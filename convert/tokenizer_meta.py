"""tokenizer.json (+ tokenizer_config.json, special_tokens_map.json, chat_template.jinja) ->
tokenizer.ggml.* metadata of the `gemma4` BPE tokenizer (docs/format.md §B).

Tokens are written in id order (holes filled with "[PAD<id>]", type UNUSED). Token types: byte
tokens "<0xXX>" BYTE, special added tokens CONTROL, other added tokens and the Gemma-4 tool/channel
markers USER_DEFINED, the rest NORMAL. Scores are a constant -1000 (BPE ranks come from the merges,
as in the peer's files). Merges are written as "left right" strings.
"""
import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .errors import ConvertError
from .gguf_types import VT, TokenType

FORCED_USER_DEFINED = ("<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|tool_response>",
                       "<tool_response|>", '<|"|>')
_BYTE_RE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass
class TokenizerMeta:
    tokens: List[str]
    types: List[int]
    merges: List[str]
    special: Dict[str, Optional[int]] = field(default_factory=dict)  # bos/eos/unknown/padding/mask
    add_bos: bool = True
    add_eos: bool = False
    chat_template: Optional[str] = None

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def kv(self):
        """[(key, value type, value)] in writing order."""
        out = [
            ("tokenizer.ggml.model", VT.STRING, "gemma4"),
            ("tokenizer.ggml.tokens", VT.ARRAY, (VT.STRING, self.tokens)),
            ("tokenizer.ggml.scores", VT.ARRAY, (VT.FLOAT32, [-1000.0] * len(self.tokens))),
            ("tokenizer.ggml.token_type", VT.ARRAY, (VT.INT32, self.types)),
            ("tokenizer.ggml.merges", VT.ARRAY, (VT.STRING, self.merges)),
        ]
        for k in ("bos", "eos", "unknown", "padding", "mask"):
            if self.special.get(k) is not None:
                out.append((f"tokenizer.ggml.{k}_token_id", VT.UINT32, int(self.special[k])))
        out += [
            ("tokenizer.ggml.add_bos_token", VT.BOOL, self.add_bos),
            ("tokenizer.ggml.add_eos_token", VT.BOOL, self.add_eos),
            ("tokenizer.ggml.add_space_prefix", VT.BOOL, False),
        ]
        if self.chat_template:
            out.append(("tokenizer.chat_template", VT.STRING, self.chat_template))
        return out


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(f"cannot read {path}: {e}") from None


def _token_str(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def load_tokenizer(directory: str, bos_id=None, eos_ids=(), pad_id=None) -> TokenizerMeta:
    path = os.path.join(directory, "tokenizer.json")
    if not os.path.exists(path):
        raise ConvertError(f"{directory}: tokenizer.json not found (the gemma4 BPE vocabulary is read from it)")
    tj = _read_json(path)
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        raise ConvertError(f"{path}: tokenizer model type is {model.get('type')!r}; expected 'BPE' (Gemma 4)")
    vocab = model.get("vocab") or {}
    added = tj.get("added_tokens") or []
    id_to_tok: Dict[int, str] = {}
    for tok, i in vocab.items():
        id_to_tok[int(i)] = tok
    special_ids = set()
    added_ids = set()
    for a in added:
        i = int(a["id"])
        id_to_tok[i] = a["content"]
        added_ids.add(i)
        if a.get("special"):
            special_ids.add(i)
    if not id_to_tok:
        raise ConvertError(f"{path}: empty vocabulary")
    n = max(id_to_tok) + 1
    if n > (1 << 24):
        raise ConvertError(f"{path}: token id {n - 1} is implausibly large")
    tokens, types = [], []
    for i in range(n):
        t = id_to_tok.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
            continue
        tokens.append(t)
        if t in FORCED_USER_DEFINED:
            types.append(TokenType.USER_DEFINED)
        elif i in special_ids:
            types.append(TokenType.CONTROL)
        elif i in added_ids:
            types.append(TokenType.USER_DEFINED)
        elif _BYTE_RE.match(t):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    merges = []
    for m in model.get("merges") or []:
        if isinstance(m, str):
            merges.append(m)
        elif isinstance(m, (list, tuple)) and len(m) == 2:
            merges.append(f"{m[0]} {m[1]}")
        else:
            raise ConvertError(f"{path}: malformed merge entry {m!r}")

    cfg_path = os.path.join(directory, "tokenizer_config.json")
    tc = _read_json(cfg_path) if os.path.exists(cfg_path) else {}
    stm_path = os.path.join(directory, "special_tokens_map.json")
    stm = _read_json(stm_path) if os.path.exists(stm_path) else {}
    tok_to_id = {t: i for i, t in enumerate(tokens)}

    def special(field_name, fallback):
        s = _token_str(tc.get(field_name)) or _token_str(stm.get(field_name))
        if s is not None and s in tok_to_id:
            return tok_to_id[s]
        return fallback

    eos_fb = eos_ids[0] if eos_ids else None
    unk_fb = tok_to_id.get(model.get("unk_token")) if model.get("unk_token") else None
    meta = TokenizerMeta(tokens=tokens, types=types, merges=merges)
    meta.special = {
        "bos": special("bos_token", bos_id),
        "eos": special("eos_token", eos_fb),
        "unknown": special("unk_token", unk_fb),
        "padding": special("pad_token", pad_id),
        "mask": special("mask_token", tok_to_id.get("<mask>")),
    }
    for k, v in meta.special.items():
        if v is not None and not 0 <= int(v) < n:
            raise ConvertError(f"{directory}: {k} token id {v} outside the vocabulary of {n} tokens")
    meta.add_bos = bool(tc.get("add_bos_token", True))
    meta.add_eos = bool(tc.get("add_eos_token", False))
    tmpl = tc.get("chat_template")
    if isinstance(tmpl, list):  # [{"name": ..., "template": ...}]
        named = {d.get("name"): d.get("template") for d in tmpl if isinstance(d, dict)}
        tmpl = named.get("default") or next(iter(named.values()), None)
    jinja = os.path.join(directory, "chat_template.jinja")
    if not tmpl and os.path.exists(jinja):
        with open(jinja, encoding="utf-8") as f:
            tmpl = f.read()
    meta.chat_template = tmpl or None
    return meta
