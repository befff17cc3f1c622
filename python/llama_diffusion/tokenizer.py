"""The Gemma tokenizers (C++, cpp/tokenizer) and the Gemma 4 chat format.

    tok = Tokenizer.from_gguf("model.gguf")
    ids = tok.encode("Hello world")                 # BOS added when the vocabulary asks for it
    text = tok.decode(ids)
    ids = tok.apply_chat_template([{"role": "user", "content": "Why is the sky blue?"}])

Both GGUF tokenizer models are supported: ``gemma4`` (BPE with merges) and ``llama``
(Gemma 3's SentencePiece vocabulary). Results equal HF ``tokenizers`` / transformers on the same
vocabulary. ``parse_special=True`` turns control-token text such as ``"<|turn>"`` into the
token; user-defined tokens (``"\\n\\n"``, ``"<table>"``) are always matched whole.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _core

__all__ = ["Tokenizer", "StreamDecoder", "TOKEN_TYPE"]

# llama.cpp token types (tokenizer.ggml.token_type).
TOKEN_TYPE = {"undefined": 0, "normal": 1, "unknown": 2, "control": 3, "user_defined": 4,
              "unused": 5, "byte": 6}

Message = Dict[str, str]


class StreamDecoder:
    """Turns tokens into text one at a time, never emitting half a UTF-8 character."""

    def __init__(self, tokenizer: "Tokenizer", skip_special: bool = False):
        self._dec = _core.StreamDecoder(tokenizer._core, skip_special)

    def push(self, token_id: int) -> str:
        """The text completed by this token (may be empty)."""
        return self._dec.push(int(token_id))

    def flush(self) -> str:
        """Pending bytes of an unfinished character, as U+FFFD each; resets the decoder."""
        return self._dec.flush()

    def reset(self) -> None:
        self._dec.reset()


class Tokenizer:
    """A tokenizer built once (hash maps and merge tables) and cheap to call."""

    def __init__(self, core):
        self._core = core

    @classmethod
    def from_gguf(cls, path: Union[str, os.PathLike]) -> "Tokenizer":
        """The tokenizer described by a GGUF file's ``tokenizer.ggml.*`` metadata."""
        return cls(_core.Tokenizer.from_gguf(os.fspath(path)))

    @classmethod
    def from_vocab(cls, tokens: Sequence[str], *, model: str = "gemma4",
                   scores: Optional[Sequence[float]] = None,
                   token_types: Optional[Sequence[int]] = None,
                   merges: Optional[Iterable[Union[str, Tuple[str, str]]]] = None,
                   bos_id: int = -1, eos_id: int = -1, unk_id: int = -1, pad_id: int = -1,
                   mask_id: int = -1, add_bos: bool = False, add_eos: bool = False,
                   add_space_prefix: bool = False) -> "Tokenizer":
        """A tokenizer from vocabulary lists, with GGUF semantics (``model`` is
        ``tokenizer.ggml.model``; merges are ``"left right"`` strings or pairs, best first)."""
        merge_strs = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in (merges or [])]
        return cls(_core.Tokenizer.from_vocab(
            model, list(tokens), list(scores or []), [int(t) for t in (token_types or [])], merge_strs,
            bos_id, eos_id, unk_id, pad_id, mask_id, add_bos, add_eos, add_space_prefix))

    # ---- encoding / decoding ----
    def encode(self, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]:
        """Token ids of ``text``. ``add_special`` adds BOS/EOS as the vocabulary says;
        ``parse_special`` matches control-token text (``"<bos>"``, ``"<|turn>"``) as the tokens."""
        return self._core.encode(text, add_special, parse_special)

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        """Text of ``ids``; control tokens are written out unless ``skip_special``."""
        return self._core.decode([int(i) for i in ids], skip_special)

    def token_to_piece(self, token_id: int, special: bool = True) -> bytes:
        """The bytes one token stands for (a byte token gives one raw byte)."""
        return self._core.token_to_piece(int(token_id), special)

    def token_id(self, text: str) -> int:
        """Id of the token spelled exactly ``text`` in the vocabulary, or -1."""
        return self._core.token_id(text)

    def token_text(self, token_id: int) -> str:
        """The vocabulary's spelling of a token (``"▁"`` for spaces)."""
        return self._core.token_text(int(token_id))

    def vocab(self) -> dict:
        """The vocabulary as lists: the keyword arguments of :meth:`from_vocab` plus ``model``."""
        return self._core.vocab()

    def is_control(self, token_id: int) -> bool:
        return self._core.is_control(int(token_id))

    def stream_decoder(self, skip_special: bool = False) -> StreamDecoder:
        return StreamDecoder(self, skip_special)

    def decode_stream(self, ids: Iterable[int], skip_special: bool = False) -> Iterator[str]:
        """Yields the text pieces of ``ids`` as they become complete characters."""
        dec = self.stream_decoder(skip_special)
        for i in ids:
            piece = dec.push(i)
            if piece:
                yield piece
        tail = dec.flush()
        if tail:
            yield tail

    # ---- chat ----
    def format_chat(self, messages: Sequence[Message], thinking: bool = False,
                    add_generation_prompt: bool = True, add_bos: bool = True) -> str:
        """The Gemma 4 chat prompt (Gemma 3 format for a Gemma 3 vocabulary) as text.
        Roles: system (first only), user, model/assistant."""
        return self._core.format_chat(list(messages), thinking, add_generation_prompt, add_bos)

    def apply_chat_template(self, messages: Sequence[Message], thinking: bool = False,
                            add_generation_prompt: bool = True, add_bos: bool = True,
                            tokenize: bool = True) -> Union[List[int], str]:
        """Like transformers' ``apply_chat_template``: token ids (or the text with ``tokenize=False``)."""
        if not tokenize:
            return self.format_chat(messages, thinking, add_generation_prompt, add_bos)
        return self._core.chat_tokenize(list(messages), thinking, add_generation_prompt, add_bos)

    # ---- properties ----
    @property
    def model(self) -> str:
        return self._core.model

    @property
    def n_tokens(self) -> int:
        return self._core.n_tokens

    def __len__(self) -> int:
        return self._core.n_tokens

    @property
    def bos_id(self) -> int:
        return self._core.bos_id

    @property
    def eos_id(self) -> int:
        return self._core.eos_id

    @property
    def pad_id(self) -> int:
        return self._core.pad_id

    @property
    def unk_id(self) -> int:
        return self._core.unk_id

    @property
    def mask_id(self) -> int:
        return self._core.mask_id

    @property
    def add_bos(self) -> bool:
        return self._core.add_bos

    @property
    def chat_template(self) -> str:
        return self._core.chat_template

    def __repr__(self) -> str:
        return f"Tokenizer(model={self.model!r}, n_tokens={self.n_tokens})"
