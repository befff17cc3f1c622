"""The sampler pieces against numpy re-statements of docs/algorithm.md §8.3-§8.4: temperature schedule, entropy-bound
acceptance, stable-and-confident stopping, canvas noise (formula and counter RNG), and the vocab head
(plain and fused) against a numpy softmax: argmax, entropy, expected embedding, and the categorical
draws' distribution."""
import numpy as np
import pytest

from llama_diffusion import _core


def test_temperature_schedule():
    assert _core.gen_temperature(0.4, 0.8, 48, 48) == pytest.approx(0.8)
    assert _core.gen_temperature(0.4, 0.8, 48, 1) == pytest.approx(0.4 + 0.4 / 48, rel=1e-6)
    assert _core.gen_temperature(0.4, 0.8, 48, 24) == pytest.approx(0.6, rel=1e-6)
    for bad in [(0.9, 0.5, 48, 1), (-0.1, 0.8, 48, 1), (0.4, 0.8, 0, 1), (0.4, 0.8, 48, 49)]:
        with pytest.raises(ValueError):
            _core.gen_temperature(*bad)


def accept_ref(ent, bound):
    order = np.argsort(ent, kind="stable")
    s = ent[order].astype(np.float32)
    cs = np.cumsum(s, dtype=np.float32)
    acc = np.zeros(len(ent), bool)
    acc[order] = (cs - s) <= np.float32(bound)
    return acc


def test_entropy_bound_accept():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ent = rng.exponential(0.05, 64).astype(np.float32)
        got = np.array(_core.gen_accept(ent, 0.1))
        assert (got == accept_ref(ent, 0.1)).all()
        assert got[np.argmin(ent)]  # the lowest entropy is always accepted
    big = np.full(8, 5.0, np.float32)
    assert sum(_core.gen_accept(big, 0.1)) == 1
    assert all(_core.gen_accept(np.zeros(8, np.float32), 0.1))


def test_stop_criterion():
    a = [[1, 2, 3]] * 4
    low = [[0.001] * 3] * 4
    high = [[1.0] * 3] * 4
    assert _core.gen_stop(a, low, 1, 0.005) == 2   # history starts at -1: earliest stop at step 2
    assert _core.gen_stop(a, low, 2, 0.005) == 3
    assert _core.gen_stop(a, low, 0, 0.005) == 1   # stability 0: always stable
    assert _core.gen_stop(a, high, 1, 0.005) == 0  # never confident
    changing = [[1, 2, 3], [1, 2, 4], [1, 2, 4], [1, 2, 4]]
    assert _core.gen_stop(changing, low, 1, 0.005) == 3


def test_formula_noise():
    V, C = 512, 32
    out = np.array(_core.gen_noise(True, 0, V, C, 3, 0))
    i = np.arange(C)
    for k in range(3):
        assert (out[k] == (1 + 7919 * i + 104729 * k) % V).all()


def test_seeded_noise_is_counter_based():
    a = np.array(_core.gen_noise(False, 5, 1000, 64, 4, 100))
    b = np.array(_core.gen_noise(False, 5, 1000, 64, 4, 100))
    c = np.array(_core.gen_noise(False, 6, 1000, 64, 4, 100))
    d = np.array(_core.gen_noise(False, 5, 1000, 64, 4, 164))
    assert (a == b).all() and (a != c).any() and (a != d).any()
    assert a.min() >= 0 and a.max() < 1000 and len(np.unique(a)) > 200


def head_ref(hidden, emb, softcap, T):
    lg = hidden.astype(np.float64) @ emb.T.astype(np.float64)
    if softcap > 0:
        lg = softcap * np.tanh(lg / softcap)
    pl = lg / T
    p = np.exp(pl - pl.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ent = -(p * np.log(np.maximum(p, 1e-300))).sum(1)
    return pl.argmax(1), ent, p, p @ emb


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("tile", [0, 7, 64])
def test_vocab_head_against_numpy(fused, tile):
    rng = np.random.default_rng(1)
    C, H, V = 12, 32, 300
    hidden = rng.normal(0, 1, (C, H)).astype(np.float32)
    emb = rng.normal(0, 0.5, (V, H)).astype(np.float32)
    am, ent, p, soft = head_ref(hidden, emb, 30.0, 0.6)
    d = _core.gen_vocab_head(hidden, emb, 30.0, 0.6, False, 0, tile, fused)
    assert d["argmax"] == list(am) and d["draw"] == list(am)  # deterministic: draw = argmax
    assert np.abs(d["entropy"] - ent).max() < 1e-4
    assert np.abs(d["soft"] - soft).max() < 1e-4


def test_vocab_head_draws_follow_softmax():
    # 4000 positions with the same hidden row: the draws' histogram matches softmax(logits / T)
    rng = np.random.default_rng(2)
    H, V, C = 16, 12, 4000
    row = rng.normal(0, 1, (1, H)).astype(np.float32)
    emb = rng.normal(0, 0.6, (V, H)).astype(np.float32)
    hidden = np.repeat(row, C, axis=0)
    _, _, p, _ = head_ref(row, emb, 0.0, 0.8)
    for fused in (False, True):
        d = _core.gen_vocab_head(hidden, emb, 0.0, 0.8, True, 99, 5, fused)
        freq = np.bincount(d["draw"], minlength=V) / C
        assert np.abs(freq - p[0]).max() < 0.03, (freq, p[0])
    a = _core.gen_vocab_head(hidden, emb, 0.0, 0.8, True, 99, 5, True)["draw"]
    b = _core.gen_vocab_head(hidden, emb, 0.0, 0.8, True, 99, 3, False)["draw"]
    assert a == b  # same counter-based draws whatever the tiling or path


def test_vocab_head_bad_temperature():
    h = np.zeros((2, 4), np.float32)
    e = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="temperature"):
        _core.gen_vocab_head(h, e, 0.0, 0.0)


@pytest.mark.parametrize("tile", [1, 5, 7, 36, 37, 0])
def test_vocab_head_ties_across_tiles(tile):
    # Copies of the best row at 4, 17 and 30 (different tiles for most tile sizes): the argmax (and
    # the deterministic draw) is the first copy, as numpy's argmax; entropy and soft as numpy.
    rng = np.random.default_rng(3)
    C, H, V = 6, 8, 37
    emb = rng.normal(0, 0.3, (V, H)).astype(np.float32)
    best = rng.normal(0, 1, H).astype(np.float32)
    best *= 2.0 / np.linalg.norm(best)
    for v in (4, 17, 30):
        emb[v] = best
    hidden = (best[None, :] * rng.uniform(0.5, 2.0, (C, 1))).astype(np.float32)
    am, ent, p, soft = head_ref(hidden, emb, 30.0, 0.7)
    assert list(am) == [4] * C
    for fused in (False, True):
        d = _core.gen_vocab_head(hidden, emb, 30.0, 0.7, False, 0, tile, fused)
        assert d["argmax"] == [4] * C and d["draw"] == [4] * C
        assert np.abs(d["entropy"] - ent).max() < 1e-4
        assert np.abs(d["soft"] - soft).max() < 1e-4


def test_vocab_head_fused_any_tile_matches_plain():
    # A prime vocabulary, so no tile size divides it: every tiling gives the plain head's argmax and
    # (counter-based) draws, and the numpy soft / entropy. Tile 1 rescales the running sums at
    # every new maximum.
    rng = np.random.default_rng(4)
    C, H, V = 40, 24, 101
    hidden = rng.normal(0, 1, (C, H)).astype(np.float32)
    emb = rng.normal(0, 0.4, (V, H)).astype(np.float32)
    am, ent, p, soft = head_ref(hidden, emb, 30.0, 0.9)
    plain = _core.gen_vocab_head(hidden, emb, 30.0, 0.9, True, 7, 0, False)
    assert plain["argmax"] == list(am)
    for tile in (1, 2, 32, 33, 100, 101, 0):
        d = _core.gen_vocab_head(hidden, emb, 30.0, 0.9, True, 7, tile, True)
        assert d["argmax"] == list(am)
        assert d["draw"] == plain["draw"], tile
        assert np.abs(d["entropy"] - ent).max() < 1e-4
        assert np.abs(d["soft"] - soft).max() < 1e-4
