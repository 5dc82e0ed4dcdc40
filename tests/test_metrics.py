"Top words, topic uniqueness and TQ: hand-computed values, invariances, malformed input."
import numpy as np
import pytest

from llmxtm_nb.metrics import top_words, top_word_indices, top_words_frame, topic_uniqueness, topic_uniqueness_per_topic, tu_scores, tq


def test_top_words_order_and_ties():
    beta = np.array([[0.1, 0.5, 0.2, 0.2], [0.4, 0.0, 0.3, 0.3]])
    assert top_words(beta, ["a", "b", "c", "d"], n=3) == [["b", "c", "d"], ["a", "c", "d"]]
    assert top_word_indices(beta, 1).tolist() == [[1], [0]]


def test_top_words_frame():
    b1 = np.eye(3)[:2]
    df = top_words_frame([b1, b1[:, ::-1]], [list("abc"), list("xyz")], ["en", "ja"], n=1)
    assert df.to_dict("list") == {"en": ["a", "b"], "ja": ["z", "y"]}
    with pytest.raises(ValueError, match="K mismatch"):
        top_words_frame([b1, np.eye(3)], [list("abc"), list("xyz")], ["en", "ja"], n=1)


@pytest.mark.parametrize("beta,vocab,n,msg", [
    (np.ones((2, 3)), list("ab"), 1, "vocabulary has 2"),
    (np.ones(3), list("abc"), 1, "2-D"),
    (np.ones((2, 3)), list("abc"), 4, "n=4"),
    (np.array([[1.0, np.nan, 0.0]]), list("abc"), 1, "NaN"),
    (np.ones((0, 3)), list("abc"), 1, "no topics"),
])
def test_top_words_malformed(beta, vocab, n, msg):
    with pytest.raises(ValueError, match=msg):
        top_words(beta, vocab, n)


def test_tu_hand_computed():
    # 'c' shared by topics 0 and 1; 'a' by topics 0 and 2:
    # topic0 = (1/2 + 1 + 1/2)/3, topic1 = (1/2 + 1 + 1)/3, topic2 = (1/2 + 1 + 1)/3
    topics = [["a", "b", "c"], ["c", "d", "e"], ["a", "f", "g"]]
    expected = [2 / 3, 2.5 / 3, 2.5 / 3]
    assert np.allclose(topic_uniqueness_per_topic(topics), expected)
    assert topic_uniqueness(topics) == pytest.approx(np.mean(expected))


def test_tu_bounds():
    assert topic_uniqueness([["a", "b"], ["c", "d"]]) == 1.0
    assert topic_uniqueness([["a", "b"]] * 5) == pytest.approx(1 / 5)


def test_tu_topic_order_invariance():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    topics = [list(rng.choice(words, 10, replace=False)) for _ in range(12)]
    perm = rng.permutation(12)
    assert topic_uniqueness([topics[i] for i in perm]) == pytest.approx(topic_uniqueness(topics))
    assert topic_uniqueness([t[::-1] for t in topics]) == pytest.approx(topic_uniqueness(topics))


def test_tu_scores_per_language():
    s = tu_scores({"en": [["a", "b"], ["a", "c"]], "cn": [["x"], ["y"]]})
    assert s == pytest.approx({"TU_en": 0.75, "TU_cn": 1.0, "TU": 0.875})
    with pytest.raises(ValueError, match="K mismatch"):
        tu_scores({"en": [["a"]], "cn": [["x"], ["y"]]})


@pytest.mark.parametrize("topics,msg", [
    ([], "no topics"),
    ([["a"], []], r"topics\[1\]: empty topic"),
    ("abc", "expected a list of topics"),
    (["abc"], "got the string"),
    ([["a", 3]], "non-empty strings"),
    ([["a", ""]], "non-empty strings"),
])
def test_tu_malformed(topics, msg):
    with pytest.raises(ValueError, match=msg):
        topic_uniqueness(topics)


def test_tq():
    assert tq(0.04, 0.5) == pytest.approx(0.02)
    assert tq(-0.1, 0.9) == 0.0
    with pytest.raises(ValueError, match="finite"):
        tq(float("nan"), 0.5)
