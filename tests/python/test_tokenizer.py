"""Tokenizer and chat format (cpp/tokenizer) against the HF references.

* A tiny Gemma-4-style tokenizer.json built here (byte-fallback BPE with merges, "▁" spaces,
  special and user-defined added tokens), compared with HF `tokenizers`, from lists and from a
  GGUF written with gguf-py.
* The real Gemma 3 270M vocabulary (262144 tokens), compared with transformers' tokenizer
  loaded from the GGUF itself, through both tokenizer models: "llama" (the file as it is) and
  "gemma4" (the same vocabulary with transformers' merge list written out).
* The chat format: the token ids of the example in docs/algorithm.md §10 on the real
  vocabulary renamed to Gemma 4's special tokens.
"""
import json
import random
import time
from collections import Counter

import pytest

from llama_diffusion.tokenizer import TOKEN_TYPE, Tokenizer

tokenizers = pytest.importorskip("tokenizers")

CORPUS = [
    "Hello world",
    "the quick brown fox jumps over the lazy dog.",
    "  leading spaces",
    "trailing spaces   ",
    " ",
    "",
    "a  b   c    d     e      f",
    "tabs\tand\t\ttabs\t\t\t!",
    "new\nlines\n\nand\n\n\n\nmore\r\nCRLF",
    "mixed \t \n \t\n  whitespace   \n\t",
    "digits 0123456789 3.14159 1,000,000 2024-06-01",
    "Unicode: naïve café résumé Ünïcödé ß œ Ł",
    "CJK: 日本語のテキスト、中文文本，한국어 텍스트",
    "emoji: 🤖🚀✨ 👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈",
    "math ∑∫√∞ ≠ ≤ ≥ ±, arrows → ← ⇒",
    "def f(x):\n    return x ** 2  # square\n\nfor i in range(10):\n\tprint(f(i))\n",
    "if (a && b || !c) { x = y << 2; } // C++ ¯\\_(ツ)_/¯",
    "<bos>special<eos> in <pad> text <mask>",
    "<|turn>user\nhi<turn|>\n<|turn>model\n",
    "<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n",
    "partial <|tur n> <turn| > <bos <<bos>> <0x41> <unused0>",
    "html <table><tr><td>x</td></tr></table> <h1>title</h1>",
    "\u2581 literal marks \u2581\u2581 here",
    "zero\u200bwidth\u00a0nbsp\u3000ideographic space",
    "control chars \x01\x02\x1f end",
    "Ωmega 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚",
    "Why is the sky blue?",
]


def rand_texts(pieces, n, seed):
    rng = random.Random(seed)
    extra = [" ", "  ", "\n", "\t", "\n\n", "é", "🤖", "日本", "<bos>", "<|turn>", "   ", "x"]
    out = []
    for _ in range(n):
        k = rng.randint(1, 12)
        out.append("".join(rng.choice(pieces) if rng.random() < 0.7 else rng.choice(extra) for _ in range(k)))
    return out


# ---------------------------------------------------------------------------------------------
# Tiny Gemma-4-style tokenizer (adapted from shared/reference/make_tiny_tokenizer.py)

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<|turn>", "<turn|>", "<|channel>",
            "<channel|>", "<|think|>", "<|tool_response>"]
USER_DEFINED = ["\n", "\n\n", "\t\t", "<table>"]


def build_tiny_gemma4(vocab_size=640):
    from tokenizers import Tokenizer as HFTokenizer, decoders, normalizers, AddedToken
    from tokenizers.models import BPE

    vocab = {}
    for t in SPECIALS + USER_DEFINED:
        vocab[t] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for c in ["\u2581"] + [chr(c) for c in range(33, 127)] + list("éü日本"):
        vocab.setdefault(c, len(vocab))
    corpus = ("the quick brown fox jumps over the lazy dog . hello world , this is a tiny test of the "
              "diffusion gemma canvas model . write a short poem about the sea and the sky . user model "
              "what is two plus two ? the answer is four . once upon a time there was a small robot "
              "def return print range 0123456789 100 2024 ") * 4
    words = [list("\u2581" + w) for w in corpus.split()]
    words += [list("\u2581\u2581\u2581\u2581")] * 6 + [list("\u2581\u2581")] * 5
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for w in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += 1
        if not pairs:
            break
        (a, b), _ = pairs.most_common(1)[0]
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))
        nw = []
        for w in words:
            i, r = 0, []
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    r.append(a + b)
                    i += 2
                else:
                    r.append(w[i])
                    i += 1
            nw.append(r)
        words = nw
    hf = HFTokenizer(BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    hf.normalizer = normalizers.Replace(" ", "\u2581")
    hf.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    hf.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIALS])
    hf.add_tokens([AddedToken(t, normalized=False, special=False) for t in USER_DEFINED])
    # Round trip through tokenizer.json, as a real checkpoint ships it.
    hf = HFTokenizer.from_str(hf.to_str())

    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    types = []
    for t in tokens:
        if t in SPECIALS:
            types.append(TOKEN_TYPE["control"])
        elif t in USER_DEFINED:
            types.append(TOKEN_TYPE["user_defined"])
        elif t.startswith("<0x") and len(t) == 6:
            types.append(TOKEN_TYPE["byte"])
        else:
            types.append(TOKEN_TYPE["normal"])
    lists = dict(tokens=tokens, token_types=types, merges=[f"{a} {b}" for a, b in merges],
                 bos_id=vocab["<bos>"], eos_id=vocab["<eos>"], unk_id=vocab["<unk>"],
                 pad_id=vocab["<pad>"], mask_id=vocab["<mask>"])
    return hf, lists


@pytest.fixture(scope="module")
def tiny():
    hf, lists = build_tiny_gemma4()
    ours = Tokenizer.from_vocab(model="gemma4", add_bos=True, **lists)
    return hf, lists, ours


def hf_encode(hf, texts, encode_special_tokens=False):
    hf.encode_special_tokens = encode_special_tokens
    try:
        return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    finally:
        hf.encode_special_tokens = False


def test_tiny_gemma4_matches_hf_tokenizers(tiny):
    hf, lists, ours = tiny
    texts = CORPUS + rand_texts(lists["tokens"][:400] + CORPUS, 300, seed=1)
    ref = hf_encode(hf, texts)
    bad = [(t, r, ours.encode(t, False, True)) for t, r in zip(texts, ref) if ours.encode(t, False, True) != r]
    assert not bad, bad[:3]
    # parse_special=False: control-token text is plain text (HF: encode_special_tokens=True)
    ref = hf_encode(hf, texts, encode_special_tokens=True)
    bad = [(t, r) for t, r in zip(texts, ref) if ours.encode(t, False, False) != r]
    assert not bad, bad[:3]
    # the corpus exercises merges, byte fallback, specials and user-defined tokens
    all_ids = {i for r in ref for i in r}
    assert any(lists["token_types"][i] == TOKEN_TYPE["byte"] for i in all_ids)
    assert any(i >= 7 + len(USER_DEFINED) + 256 + 100 for i in all_ids)  # merged tokens


def test_tiny_specials_bos_and_decode(tiny):
    hf, lists, ours = tiny
    bos = lists["bos_id"]
    assert ours.encode("hello", add_special=True)[0] == bos
    assert ours.encode("hello", add_special=False)[0] != bos
    assert ours.encode("<bos>", add_special=False, parse_special=True) == [bos]
    assert ours.encode("<bos>", add_special=False, parse_special=False) != [bos]
    # user-defined tokens are atomic even without parse_special
    nl2 = lists["tokens"].index("\n\n")
    assert ours.encode("a\n\nb", False, False)[1] == nl2
    for text in CORPUS:
        ids = ours.encode(text, False, True)
        if "\u2581" not in text:  # a literal "▁" decodes as a space (in HF too)
            assert ours.decode(ids) == text
        assert ours.decode(ids) == hf.decode(ids, skip_special_tokens=False)
        assert ours.decode(ids, skip_special=True) == hf.decode(ids, skip_special_tokens=True)
    # an invalid byte run decodes to one U+FFFD per byte, as HF's ByteFallback
    b = lists["tokens"].index("<0xE6>"), lists["tokens"].index("<0x97>"), lists["tokens"].index("a")
    assert ours.decode(list(b)) == hf.decode(list(b)) == "\ufffd\ufffda"


def test_tiny_streaming_never_splits_a_character(tiny):
    hf, lists, ours = tiny
    n_split = 0
    for text in CORPUS:
        ids = ours.encode(text, False, True)
        dec = ours.stream_decoder()
        pieces = []
        for i in ids:
            p = dec.push(i)
            assert "\ufffd" not in p
            pieces.append(p)
            n_split += p == ""
        pieces.append(dec.flush())
        assert "".join(pieces) == ours.decode(ids)
        assert "\u2581" in text or ours.decode(ids) == text
    assert n_split > 0  # some characters really were spread over several byte tokens
    # a truncated character is flushed as U+FFFD
    dec = ours.stream_decoder()
    assert dec.push(lists["tokens"].index("<0xE6>")) == ""
    assert dec.flush() == "\ufffd"


def test_tiny_from_gguf(tiny, tmp_path):
    gguf = pytest.importorskip("gguf")
    hf, lists, ours = tiny
    path = tmp_path / "tok.gguf"
    w = gguf.GGUFWriter(str(path), "diffusion-gemma")
    w.add_tokenizer_model("gemma4")
    w.add_token_list(lists["tokens"])
    w.add_token_scores([0.0] * len(lists["tokens"]))
    w.add_token_types(lists["token_types"])
    w.add_token_merges(lists["merges"])
    w.add_bos_token_id(lists["bos_id"])
    w.add_eos_token_id(lists["eos_id"])
    w.add_unk_token_id(lists["unk_id"])
    w.add_pad_token_id(lists["pad_id"])
    w.add_uint32("tokenizer.ggml.mask_token_id", lists["mask_id"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    t = Tokenizer.from_gguf(path)
    assert t.model == "gemma4" and t.n_tokens == len(lists["tokens"])
    assert (t.bos_id, t.eos_id, t.pad_id, t.mask_id) == (lists["bos_id"], lists["eos_id"], lists["pad_id"],
                                                         lists["mask_id"])
    for text in CORPUS:
        assert t.encode(text, True, True) == ours.encode(text, True, True)


def test_bad_input_gives_clear_errors(tiny):
    hf, lists, ours = tiny
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ours.decode([len(lists["tokens"])])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ours.decode([-1])
    with pytest.raises(ValueError, match="unsupported tokenizer.ggml.model"):
        Tokenizer.from_vocab(["a"], model="wordpiece")
    with pytest.raises(ValueError, match="scores"):
        Tokenizer.from_vocab(["a", "b"], model="llama", scores=[0.0])
    # a BPE vocabulary with no merges is valid (character level), as in HF tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE
    hf_chars = HFTokenizer(BPE({"a": 0, "b": 1, "ab": 2}, []))
    chars = Tokenizer.from_vocab(["a", "b", "ab"], model="gemma4")
    assert chars.encode("abba", False) == hf_chars.encode("abba").ids == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="merge 0"):
        Tokenizer.from_vocab(["a", "b"], model="gemma4", merges=["a b"])
    with pytest.raises(ValueError, match="bos token id 5"):
        Tokenizer.from_vocab(["a", "b", "ab"], model="gemma4", merges=["a b"], bos_id=5)
    with pytest.raises(ValueError, match="empty"):
        Tokenizer.from_vocab(["a", ""], model="llama")
    with pytest.raises(ValueError, match="token type"):
        Tokenizer.from_vocab(["a", "b"], model="llama", token_types=[1, 9])
    # no byte tokens and no unk: a character outside the vocabulary is an error, not a crash
    t = Tokenizer.from_vocab(["a", "b", "ab"], model="gemma4", merges=["a b"])
    assert t.encode("abab", False) == [2, 2]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        t.encode("abc", False)
    with pytest.raises(ValueError, match="chat"):
        t.format_chat([{"role": "user", "content": "x"}])


# ---------------------------------------------------------------------------------------------
# The real Gemma 3 vocabulary against transformers loaded from the GGUF

@pytest.fixture(scope="module")
def gemma3(gemma3_gguf, gemma3_hf_tokenizer):
    pytest.importorskip("gguf")
    hf = gemma3_hf_tokenizer
    t0 = time.perf_counter()
    ours = Tokenizer.from_gguf(gemma3_gguf)
    load_s = time.perf_counter() - t0
    return hf, ours, load_s


def vocab_pieces(ours, n, seed):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        i = rng.randrange(ours.n_tokens)
        if not ours.is_control(i):
            out.append(ours.decode([i]))
    return out


def test_gemma3_matches_transformers(gemma3):
    hf, ours, _ = gemma3
    assert ours.model == "llama" and ours.n_tokens == 262144
    bt = hf.backend_tokenizer
    texts = CORPUS + rand_texts(vocab_pieces(ours, 2000, seed=2) + CORPUS, 400, seed=3)
    ref = [e.ids for e in bt.encode_batch(texts, add_special_tokens=False)]
    bad = [(t, r, ours.encode(t, False, True)) for t, r in zip(texts, ref) if ours.encode(t, False, True) != r]
    assert not bad, bad[:3]
    # with BOS, through the transformers API
    for t in CORPUS:
        assert ours.encode(t, True, True) == hf.encode(t), t
    bt.encode_special_tokens = True
    try:
        ref = [e.ids for e in bt.encode_batch(texts, add_special_tokens=False)]
    finally:
        bt.encode_special_tokens = False
    bad = [(t, r) for t, r in zip(texts, ref) if ours.encode(t, False, False) != r]
    assert not bad, bad[:3]


def test_gemma3_decode_and_stream(gemma3):
    hf, ours, _ = gemma3
    for text in CORPUS + rand_texts(vocab_pieces(ours, 500, seed=4), 100, seed=5):
        ids = ours.encode(text, False, True)
        assert "\u2581" in text or ours.decode(ids) == text
        assert ours.decode(ids) == hf.decode(ids)
        assert "".join(ours.decode_stream(ids)) == ours.decode(ids)
    # every piece of a byte-fallback character sequence is whole
    ids = ours.encode("\U0001F9EC\U0001FAE8 \U00010348", False)  # rare characters -> byte tokens
    assert any(ours.token_text(i).startswith("<0x") for i in ids)
    pieces = list(ours.decode_stream(ids))
    assert all("\ufffd" not in p for p in pieces) and "".join(pieces) == "\U0001F9EC\U0001FAE8 \U00010348"


def test_gemma3_is_fast(gemma3):
    hf, ours, load_s = gemma3
    assert load_s < 10.0, load_s
    text = "\n".join(CORPUS) * 40  # ~60 KB
    t0 = time.perf_counter()
    ids = ours.encode(text, False, True)
    dt = time.perf_counter() - t0
    assert ids == hf.backend_tokenizer.encode(text, add_special_tokens=False).ids
    assert dt < 2.0, dt


def test_gemma3_chat_format(gemma3):
    hf, ours, _ = gemma3
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Why?"}]
    text = ours.format_chat(msgs)
    assert text == ("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!"
                    "<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n")
    assert ours.apply_chat_template(msgs) == hf.encode(text, add_special_tokens=False)


# ---------------------------------------------------------------------------------------------
# Gemma 4: the real vocabulary with Gemma 4's special tokens, both tokenizer models

GEMMA4_SPECIALS = {46: "<|tool>", 47: "<tool|>", 48: "<|tool_call>", 49: "<tool_call|>",
                   50: "<|tool_response>", 51: "<tool_response|>", 52: '<|"|>', 98: "<|think|>",
                   100: "<|channel>", 101: "<channel|>", 105: "<|turn>", 106: "<turn|>"}
SKY_IDS = [2, 105, 2364, 107, 11355, 563, 506, 7217, 3730, 236881, 106, 107, 105, 4368, 107, 100, 45518,
           107, 101]


@pytest.fixture(scope="module")
def gemma4_like(gemma3):
    """(llama-model tokenizer, gemma4-model tokenizer) on the real vocabulary with Gemma 4 names."""
    hf, ours, _ = gemma3
    v = ours.vocab()
    tokens, types, scores = v["tokens"], v["token_types"], v["scores"]
    assert len(tokens) == len(types) == len(scores) == 262144
    for i, t in GEMMA4_SPECIALS.items():
        tokens[i] = t
        types[i] = TOKEN_TYPE["control"]
    ids = dict(bos_id=2, eos_id=1, unk_id=3, pad_id=0, mask_id=4)
    spm = Tokenizer.from_vocab(tokens, model="llama", scores=scores, token_types=types, add_bos=True, **ids)
    # gemma4 (BPE) form: transformers' merge list for this vocabulary written out, spaces as "▁"
    j = json.loads(hf.backend_tokenizer.to_str())
    merges = [f"{a} {b}" for a, b in j["model"]["merges"]]
    tokens4 = ["\u2581" * len(t) if " " in t and not t.strip() else t for t in tokens]
    types4 = [TOKEN_TYPE["normal"] if t4 != t else ty for t, t4, ty in zip(tokens, tokens4, types)]
    t0 = time.perf_counter()
    bpe = Tokenizer.from_vocab(tokens4, model="gemma4", scores=scores, token_types=types4, merges=merges,
                               add_bos=True, **ids)
    build_s = time.perf_counter() - t0
    return spm, bpe, build_s


def test_gemma4_chat_example_ids(gemma4_like):
    """docs/algorithm.md §10: user "Why is the sky blue?", thinking off."""
    msgs = [{"role": "user", "content": "Why is the sky blue?"}]
    for tok in gemma4_like[:2]:
        assert tok.apply_chat_template(msgs) == SKY_IDS
        text = tok.format_chat(msgs)
        assert text == "<bos><|turn>user\nWhy is the sky blue?<turn|>\n<|turn>model\n<|channel>thought\n<channel|>"
        assert tok.decode(SKY_IDS) == text


def test_gemma4_chat_variants(gemma4_like):
    tok = gemma4_like[1]
    msgs = [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "<|channel>thought\nhmm<channel|>Hello!"},
            {"role": "user", "content": "Why?"}]
    assert tok.format_chat(msgs, thinking=True) == (
        "<bos><|turn>system\n<|think|>\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n"
        "<|turn>model\nHello!<turn|>\n<|turn>user\nWhy?<turn|>\n<|turn>model\n")
    assert tok.format_chat(msgs[1:2], thinking=True) == (
        "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n")
    assert tok.format_chat(msgs[1:2], add_generation_prompt=False) == "<bos><|turn>user\nHi<turn|>\n"
    ids = tok.apply_chat_template(msgs)
    system = tok.encode("system", False)
    assert len(system) == 1 and ids[:4] == [2, 105, system[0], 107]
    assert ids[-7:] == [105, 4368, 107, 100, 45518, 107, 101]
    assert tok.decode(ids) == tok.format_chat(msgs)
    with pytest.raises(ValueError, match="role 'tool'"):
        tok.format_chat([{"role": "tool", "content": "x"}])
    with pytest.raises(ValueError, match="only the first"):
        tok.format_chat([{"role": "user", "content": "x"}, {"role": "system", "content": "y"}])


def test_gemma4_bpe_matches_transformers(gemma3, gemma4_like):
    hf, _, _ = gemma3
    spm, bpe, build_s = gemma4_like
    assert build_s < 15.0, build_s
    texts = CORPUS + rand_texts(vocab_pieces(spm, 1000, seed=6) + CORPUS, 200, seed=7)
    # the two models agree with each other, and (special tokens aside) with transformers
    plain = [t for t in texts if "<" not in t]
    ref = [e.ids for e in hf.backend_tokenizer.encode_batch(plain, add_special_tokens=False)]
    for t, r in zip(plain, ref):
        assert bpe.encode(t, False, True) == r, t
    for t in texts:
        assert bpe.encode(t, True, True) == spm.encode(t, True, True), t
        assert bpe.encode(t, False, False) == spm.encode(t, False, False), t
