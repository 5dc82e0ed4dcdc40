"CNPMI: hand-computed values, agreement with a direct pair-by-pair count, invariances, malformed input, caching."
import gzip
import math
from itertools import product

import numpy as np
import pytest

from llmxtm_nb.cnpmi import ReferenceCorpus, read_documents, reference_for, reference_paths

DOCS1 = ["a b a", "a c", "b", "d"]
DOCS2 = ["x y", "x", "y z", ""]


@pytest.fixture
def ref():
    return ReferenceCorpus.from_docs(DOCS1, DOCS2, langs=("en", "ja"))


def direct_npmi(docs1, docs2, w1, w2, marginals="count"):
    "Pair-by-pair reference implementation of the published script's conventions (slow, obvious)."
    t1, t2 = [d.split() for d in docs1], [d.split() for d in docs2]
    W = len(t1)
    if marginals == "count":
        c1, c2 = sum(d.count(w1) for d in t1), sum(d.count(w2) for d in t2)
    else:
        c1, c2 = sum(w1 in d for d in t1), sum(w2 in d for d in t2)
    c12 = sum(w1 in a and w2 in b for a, b in zip(t1, t2))
    if c1 == 0 or c2 == 0 or c12 == 0:
        return 0.0
    if c12 == W:
        return 1.0
    return math.log(c12 * W / (c1 * c2)) / -math.log(c12 / W)


def test_hand_computed(ref):
    # a: 3 occurrences (2 docs); x: 2 occurrences (2 docs); together in windows 0 and 1; W = 4
    assert ref.npmi_matrix(["a"], ["x"])[0, 0] == pytest.approx(math.log(2 * 4 / (3 * 2)) / math.log(2))
    assert ref.npmi_matrix(["a"], ["x"], marginals="docfreq")[0, 0] == pytest.approx(1.0)
    # b (docs 0, 2) and y (docs 0, 2): c12 = 2, c1 = 2, c2 = 2 -> log(2*4/4)/log(2) = 1
    assert ref.npmi_matrix(["b"], ["y"])[0, 0] == pytest.approx(1.0)


def test_never_cooccur_and_absent_are_zero(ref):
    m = ref.npmi_matrix(["a", "d", "zzz"], ["z", "y", "x"])
    assert m[0, 0] == 0.0  # a and z never in the same window
    assert m[1, 1] == 0.0  # d and y never together
    assert (m[2] == 0.0).all()  # zzz is not in the corpus
    assert ref.cnpmi([["zzz"]], [["qqq"]]) == 0.0


def test_cnpmi_mean_over_all_pairs(ref):
    # one topic, pairs (a,x)=log(4/3)/log2, (a,q)=0, (d,x)=0, (d,q)=0
    assert ref.cnpmi([["a", "d"]], [["x", "q"]]) == pytest.approx(math.log(4 / 3) / math.log(2) / 4)
    score, per = ref.cnpmi([["a", "d"], ["b"]], [["x", "q"], ["y"]], per_topic=True)
    assert per.tolist() == pytest.approx([math.log(4 / 3) / math.log(2) / 4, 1.0])
    assert score == pytest.approx((per[0] * 4 + per[1] * 1) / 5)


def test_word_in_every_window_is_defined():
    r = ReferenceCorpus.from_docs(["a", "a b"], ["x", "x"])
    assert r.cnpmi([["a"]], [["x"]], marginals="docfreq") == 1.0


@pytest.mark.parametrize("marginals", ["count", "docfreq"])
def test_matches_direct_count_on_random_corpus(marginals):
    rng = np.random.default_rng(1)
    v1, v2 = [f"e{i}" for i in range(25)], [f"j{i}" for i in range(30)]
    docs1 = [" ".join(rng.choice(v1, rng.integers(0, 12))) for _ in range(60)]
    docs2 = [" ".join(rng.choice(v2, rng.integers(0, 12))) for _ in range(60)]
    r = ReferenceCorpus.from_docs(docs1, docs2)
    T1 = [list(rng.choice(v1 + ["nope"], 5, replace=False)) for _ in range(4)]
    T2 = [list(rng.choice(v2, 5, replace=False)) for _ in range(4)]
    expected = np.mean([direct_npmi(docs1, docs2, a, b, marginals) for t1, t2 in zip(T1, T2) for a, b in product(t1, t2)])
    assert r.cnpmi(T1, T2, marginals=marginals) == pytest.approx(expected)


def test_invariances():
    rng = np.random.default_rng(2)
    v1, v2 = [f"e{i}" for i in range(20)], [f"j{i}" for i in range(20)]
    docs1 = [" ".join(rng.choice(v1, 8)) for _ in range(40)]
    docs2 = [" ".join(rng.choice(v2, 8)) for _ in range(40)]
    r = ReferenceCorpus.from_docs(docs1, docs2, langs=("en", "ja"))
    T1 = [list(rng.choice(v1, 4, replace=False)) for _ in range(6)]
    T2 = [list(rng.choice(v2, 4, replace=False)) for _ in range(6)]
    s = r.cnpmi(T1, T2)
    perm = rng.permutation(6)
    assert r.cnpmi([T1[i] for i in perm], [T2[i] for i in perm]) == pytest.approx(s)
    assert r.swapped().cnpmi(T2, T1) == pytest.approx(s)
    assert ReferenceCorpus.from_docs(docs2, docs1).cnpmi(T2, T1) == pytest.approx(s)
    assert r.swapped().langs == ("ja", "en")


def test_token_lists_and_strings_agree(ref):
    r2 = ReferenceCorpus.from_docs([d.split() for d in DOCS1], [d.split() for d in DOCS2])
    T1, T2 = [["a", "b"], ["c", "d"]], [["x", "y"], ["z", "x"]]
    assert r2.cnpmi(T1, T2) == pytest.approx(ref.cnpmi(T1, T2))


def test_malformed_inputs(ref, tmp_path):
    with pytest.raises(ValueError, match="K mismatch"):
        ref.cnpmi([["a"], ["b"]], [["x"]])
    with pytest.raises(ValueError, match=r"topics2\[0\]: empty topic"):
        ref.cnpmi([["a"]], [[]])
    with pytest.raises(ValueError, match="no topics"):
        ref.cnpmi([], [])
    with pytest.raises(ValueError, match="'count' or 'docfreq'"):
        ref.cnpmi([["a"]], [["x"]], marginals="tfidf")
    with pytest.raises(ValueError, match="differ in length"):
        ReferenceCorpus.from_docs(["a"], ["x", "y"])
    (tmp_path / "a.txt").write_text("a b\nc\n")
    (tmp_path / "b.txt").write_text("x\n")
    with pytest.raises(ValueError, match=r"a\.txt has 2 lines, .*b\.txt has 1"):
        ReferenceCorpus.from_files(tmp_path / "a.txt", tmp_path / "b.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        ReferenceCorpus.from_files(tmp_path / "a.txt", tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00a\n")
    with pytest.raises(ValueError, match="UTF-8"):
        read_documents(tmp_path / "bad.txt")


def test_files_plain_gzip_shards_and_cache(ref, tmp_path):
    (tmp_path / "en.txt").write_text("\n".join(DOCS1) + "\n")
    with gzip.open(tmp_path / "ja.gz", "wt", encoding="utf-8") as f:  # gzip detected by content, not name
        f.write("\n".join(DOCS2) + "\n")
    T1, T2 = [["a", "b"], ["c", "d"]], [["x", "y"], ["z", "x"]]
    r = ReferenceCorpus.from_files(tmp_path / "en.txt", tmp_path / "ja.gz")
    assert r.n_docs == 4 and r.cnpmi(T1, T2) == pytest.approx(ref.cnpmi(T1, T2))
    assert ReferenceCorpus.from_files(tmp_path / "en.txt", tmp_path / "ja.gz") is r  # in-process cache
    # shards: counting over two halves = counting over the whole
    (tmp_path / "en1").write_text("\n".join(DOCS1[:2]) + "\n"); (tmp_path / "en2").write_text("\n".join(DOCS1[2:]) + "\n")
    (tmp_path / "ja1").write_text("\n".join(DOCS2[:2]) + "\n"); (tmp_path / "ja2").write_text("\n".join(DOCS2[2:]) + "\n")
    rs = ReferenceCorpus.from_files([tmp_path / "en1", tmp_path / "en2"], [tmp_path / "ja1", tmp_path / "ja2"])
    assert rs.cnpmi(T1, T2) == pytest.approx(ref.cnpmi(T1, T2))
    # the on-disk index gives the same numbers in a fresh in-process cache
    import llmxtm_nb.cnpmi as cn
    cn._CACHE.clear()
    r3 = ReferenceCorpus.from_files(tmp_path / "en.txt", tmp_path / "ja.gz")
    assert r3 is not r and r3.cnpmi(T1, T2) == pytest.approx(ref.cnpmi(T1, T2))
    assert r.substitute and "not with the paper" in r.describe()["note"]


def test_reference_paths_absent_dir(tmp_path):
    assert reference_paths(("en", "ja"), data_dir=tmp_path) is None
    assert reference_for(("en", "ja"), data_dir=tmp_path) is None


def test_shared_reference_corpus(shared_data):
    files = reference_paths(("en", "cn"), data_dir=shared_data, variant="page")
    if files is None:
        pytest.skip("enzh_docsub reference corpus absent")
    r = ReferenceCorpus.from_files(*files, langs=("en", "cn"))
    assert r.n_docs == 819 and r.substitute
    # frequent English words and their translations should co-occur positively
    m = r.npmi_matrix(["china", "emperor"], ["中国", "皇帝"], marginals="docfreq")
    assert np.diag(m).min() > 0


def test_cached_index_relabelled_not_rebuilt(tmp_path):
    (tmp_path / "en.txt").write_text("a b\nc\n")
    (tmp_path / "ja.txt").write_text("x\ny\n")
    r1 = ReferenceCorpus.from_files(tmp_path / "en.txt", tmp_path / "ja.txt")
    r2 = ReferenceCorpus.from_files(tmp_path / "en.txt", tmp_path / "ja.txt", langs=("en", "ja"))
    assert r1.langs is None and r2.langs == ("en", "ja")
    assert r2.counts[0] is r1.counts[0]  # the index is shared
    r3 = ReferenceCorpus.from_docs(["a"], ["x"], note="synthetic")
    assert r3.note == "synthetic" and r3.swapped().note == "synthetic"


try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    _doc = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=5).map(" ".join)
    _doc2 = st.lists(st.sampled_from(["w", "x", "y", "z"]), max_size=5).map(" ".join)

    @settings(max_examples=60, deadline=None)
    @given(pairs=st.lists(st.tuples(_doc, _doc2), min_size=1, max_size=12),
           marginals=st.sampled_from(["count", "docfreq"]))
    def test_property_matches_direct_count(pairs, marginals):
        docs1, docs2 = [p[0] for p in pairs], [p[1] for p in pairs]
        r = ReferenceCorpus.from_docs(docs1, docs2)
        T1, T2 = [["a", "b"], ["c", "d", "a"]], [["w", "x", "y"], ["z", "q"]]
        pairs_ = [(a, b) for t1, t2 in zip(T1, T2) for a, b in product(t1, t2)]
        expected = np.mean([direct_npmi(docs1, docs2, a, b, marginals) for a, b in pairs_])
        got = r.cnpmi(T1, T2, marginals=marginals)
        assert got == pytest.approx(expected, abs=1e-12)
        # NPMI <= 1 always (c12 <= c1, c2); >= -1 is guaranteed only with document-frequency marginals
        assert got <= 1 + 1e-12 and (marginals == "count" or got >= -1 - 1e-12)
