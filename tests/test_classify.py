"SVM classification on θ: the four paper numbers, macro-F1, seeding, subsampling, malformed input."
import numpy as np
import pytest

from llmxtm_nb.classify import classification_scores, subsample


def make(rng, n, k=6, classes=3, perm=None, noise=0.2):
    y = rng.integers(0, classes, n)
    th = rng.dirichlet(np.ones(k) * 0.3, n) * noise
    th[np.arange(n), y] += 1 - noise
    return (th[:, perm] if perm is not None else th), y


def test_aligned_topics_transfer_across_languages():
    rng = np.random.default_rng(0)
    r = classification_scores(*make(rng, 200), *make(rng, 80), *make(rng, 200), *make(rng, 80), langs=("en", "cn"))
    assert list(r)[:4] == ["EN-I", "EN-C", "CN-I", "CN-C"]
    assert all(r[k] == 1.0 for k in ("EN-I", "EN-C", "CN-I", "CN-C"))
    assert all(r[f"{k} F1"] == 1.0 for k in ("EN-I", "EN-C", "CN-I", "CN-C"))
    assert r["train_size_en"] == 200 and r["train_size_cn"] == 200


def test_misaligned_topics_fail_cross_lingually():
    rng = np.random.default_rng(1)
    p = [3, 4, 5, 0, 1, 2]
    r = classification_scores(*make(rng, 200), *make(rng, 80), *make(rng, 200, perm=p), *make(rng, 80, perm=p), langs=("en", "ja"))
    assert r["EN-I"] == 1.0 and r["JA-I"] == 1.0
    assert r["EN-C"] < 0.6 and r["JA-C"] < 0.6


def test_hand_checked_accuracy_and_f1():
    # one-dimensional features, clearly separable training data; test labels chosen so that
    # exactly one of four test documents is misclassified in each direction
    Xtr = np.array([[0.0], [0.1], [0.2], [0.9], [1.0], [1.1]]); ytr = np.array([0, 0, 0, 1, 1, 1])
    Xte = np.array([[0.05], [0.15], [1.05], [0.95]]); yte = np.array([0, 1, 1, 1])
    r = classification_scores(Xtr, ytr, Xte, yte, Xtr, ytr, Xte, yte)
    assert r["EN-I"] == pytest.approx(0.75) and r["L2-C"] == pytest.approx(0.75)
    # macro-F1: class 0: P=1, R=1/1... predictions [0,0,1,1] vs truth [0,1,1,1]: F1_0 = 2/3, F1_1 = 0.8
    assert r["EN-I F1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_seeded_subsample():
    rng = np.random.default_rng(2)
    data = [*make(rng, 300), *make(rng, 60), *make(rng, 300), *make(rng, 60)]
    a = classification_scores(*data, max_train=50, seed=7)
    b = classification_scores(*data, max_train=50, seed=7)
    assert a["train_size_en"] == 50 and a["train_size_l2"] == 50
    assert {k: v for k, v in a.items() if k != "classify_seconds"} == {k: v for k, v in b.items() if k != "classify_seconds"}
    assert subsample(10, 20).tolist() == list(range(10))
    assert not np.array_equal(subsample(1000, 10, 1), subsample(1000, 10, 2))


def test_malformed():
    rng = np.random.default_rng(3)
    a, b, c, d = make(rng, 50), make(rng, 20), make(rng, 50), make(rng, 20)
    with pytest.raises(ValueError, match="EN train: labels are missing"):
        classification_scores(a[0], None, *b, *c, *d)
    with pytest.raises(ValueError, match="L2 test: labels are missing"):
        classification_scores(*a, *b, *c, d[0], None)
    with pytest.raises(ValueError, match="50 θ rows but 49 labels"):
        classification_scores(a[0], a[1][:-1], *b, *c, *d)
    with pytest.raises(ValueError, match="K mismatch"):
        classification_scores(*a, *b, c[0][:, :4], c[1], *d)
    with pytest.raises(ValueError, match="NaN"):
        classification_scores(np.full_like(a[0], np.nan), a[1], *b, *c, *d)
    with pytest.raises(ValueError, match="at least 2 classes"):
        classification_scores(a[0], np.zeros(50), *b, *c, *d)
