"evaluate / theme recovery / results tables: on the demo corpus, with a duck-typed model and with raw outputs."
import numpy as np
import pytest

from llmxtm_nb.cnpmi import ReferenceCorpus
from llmxtm_nb.evaluate import evaluate, results_table, resolve_reference, theme_recovery, theme_recovery_from_topics, to_frame
from llmxtm_nb.metrics import top_words


class OracleModel:
    "Test double with the fitted-model interface: topics = the demo's planted themes, θ = BoW projected on them."
    def __init__(self, corpus, noise=0.0, seed=0, perm2=None):
        rng, gt = np.random.default_rng(seed), corpus.ground_truth
        T = len(gt["themes"])
        self.beta = []
        for side, wt in ((corpus.l1, gt["word_theme_1"]), (corpus.l2, gt["word_theme_2"])):
            m = np.zeros((T, side.vocab_size))
            for j, w in enumerate(side.vocab):
                if wt.get(w, -1) >= 0:
                    m[wt[w], j] = 1
            m = m / m.sum(1, keepdims=True) + noise * rng.random(m.shape)
            self.beta.append(m / m.sum(1, keepdims=True))
        if perm2 is not None:
            self.beta[1] = self.beta[1][perm2]
        self.calls = []

    def get_beta(self):
        return tuple(self.beta)

    def get_theta(self, bow, lang_index):
        self.calls.append(lang_index)
        b = self.beta[lang_index]
        s = np.asarray(bow @ (b > b.mean(1, keepdims=True)).T, dtype=float) + 1e-3
        return s / s.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def demo():
    from llmxtm_nb.demo import load_demo
    return load_demo()


GT = {"themes": ["a", "b", "c"],
      "word_theme_1": {"a1": 0, "a2": 0, "b1": 1, "b2": 1, "c1": 2, "c2": 2, "n1": -1},
      "word_theme_2": {"α1": 0, "α2": 0, "β1": "b", "β2": "b", "γ1": 2, "ν": -1}}


def test_theme_recovery_hand_computed():
    t1 = [["a1", "a2"], ["b1", "n1"], ["c1", "c2"], ["n1", "a1"]]
    t2 = [["α1", "α2"], ["β1", "β2"], ["ν", "γ1"], ["γ1", "ν"]]
    r = theme_recovery_from_topics(t1, t2, GT, ("en", "ja"))
    # en: a->0 (1.0), b->1 (0.5), c->2 (1.0): all recovered at threshold 0.5; ja: a, b 1.0, c 0.5 -> all
    assert r["theme_recovery_en"] == 1.0 and r["theme_recovery_ja"] == 1.0
    # dominant themes: en [a, b, c, a(0.5)], ja [a, b, c, c] -> topics 0, 1, 2 aligned
    assert r["aligned_topics"] == 3
    assert theme_recovery_from_topics(t1, t2, GT, ("en", "ja"), threshold=0.75)["theme_recovery_en"] == pytest.approx(2 / 3)
    # topic order does not matter
    p = [3, 1, 0, 2]
    r2 = theme_recovery_from_topics([t1[i] for i in p], [t2[i] for i in p], GT, ("en", "ja"))
    assert {k: r2[k] for k in ("theme_recovery_en", "theme_recovery_ja", "aligned_topics")} == \
           {k: r[k] for k in ("theme_recovery_en", "theme_recovery_ja", "aligned_topics")}


def test_theme_recovery_more_themes_than_topics_and_errors():
    r = theme_recovery_from_topics([["a1", "a2"]], [["γ1", "ν"]], GT, ("en", "ja"))
    assert r["theme_recovery_en"] == pytest.approx(1 / 3) and r["aligned_topics"] == 0
    with pytest.raises(ValueError, match="K mismatch"):
        theme_recovery_from_topics([["a1"]], [["α1"], ["β1"]], GT)
    with pytest.raises(ValueError, match="no 'themes'"):
        theme_recovery_from_topics([["a1"]], [["α1"]], {})


def test_demo_oracle_vs_random(demo):
    r = theme_recovery(*OracleModel(demo).get_beta(), demo)
    assert (r["theme_recovery_en"], r["theme_recovery_cn"], r["aligned_topics"], r["themes_aligned"]) == (1.0, 1.0, 10, 1.0)
    rng = np.random.default_rng(0)
    rr = theme_recovery(rng.random((10, demo.l1.vocab_size)), rng.random((10, demo.l2.vocab_size)), demo)
    assert rr["theme_recovery_en"] <= 0.2
    # languages permuted against each other: each language recovers every theme, but no topic is aligned
    m = OracleModel(demo, perm2=np.roll(np.arange(10), 1))
    rp = theme_recovery(*m.get_beta(), demo)
    assert rp["theme_recovery_cn"] == 1.0 and rp["aligned_topics"] == 0


def test_evaluate_model_on_demo(demo):
    model = OracleModel(demo)
    res = evaluate(model, demo, name="oracle")
    m = res["metrics"]
    for key in ("CNPMI", "TU", "TQ", "TU_en", "TU_cn", "EN-I", "EN-C", "CN-I", "CN-C", "EN-I F1",
                "theme_recovery_en", "theme_recovery_cn", "aligned_topics"):
        assert key in m, key
    assert m["TU"] == 1.0 and m["TQ"] == pytest.approx(m["CNPMI"]) and m["CNPMI"] > 0.05
    assert m["EN-C"] > 0.5 and m["CN-C"] > 0.5
    assert sorted(set(model.calls)) == [0, 1]
    assert res["reference"]["n_docs"] == len(demo.reference[0]) and res["reference"]["substitute"]
    assert res["settings"]["top_n"] == 15 and res["settings"]["marginals"] == "count"
    assert res["settings"]["train_sizes"] == {"train_size_en": demo.l1.train_bow.shape[0], "train_size_cn": demo.l2.train_bow.shape[0]}
    assert any("not with the paper" in n for n in res["notes"])
    df = to_frame(res)
    assert set(df.columns) == {"run", "metric", "value"} and (df.metric == "CNPMI").sum() == 1


def test_evaluate_outputs_directly_equals_model(demo):
    model = OracleModel(demo, noise=0.5, seed=3)
    b1, b2 = model.get_beta()
    outs = {"topics1": top_words(b1, demo.l1.vocab), "topics2": top_words(b2, demo.l2.vocab)}
    for i, side in enumerate((demo.l1, demo.l2)):
        for s in ("train", "test"):
            outs[f"theta_{s}{i + 1}"] = model.get_theta(getattr(side, f"{s}_bow"), i)
    a = evaluate(model, demo, max_train=500, seed=1)["metrics"]
    b = evaluate(outs, demo, max_train=500, seed=1)["metrics"]
    c = evaluate({"beta1": b1, "beta2": b2, **{k: v for k, v in outs.items() if k.startswith("theta")}}, demo, max_train=500, seed=1)["metrics"]
    assert a == pytest.approx(b) and a == pytest.approx(c)


def test_evaluate_without_corpus_labels_and_reference(demo):
    outs = {"topics1": [["a", "b"], ["c", "d"]], "topics2": [["x", "y"], ["z", "w"]], "langs": ("en", "ja")}
    ref = ReferenceCorpus.from_docs(["a x", "c d"], ["x y", "z"], langs=("ja", "en"))  # reversed sides: swapped
    res = evaluate(outs, reference=ReferenceCorpus.from_docs(["a b", "c d"], ["x y", "z w"], langs=("en", "ja")))
    assert res["metrics"]["TU"] == 1.0 and res["metrics"]["CNPMI"] == pytest.approx(1.0)
    assert "EN-I" not in res["metrics"] and any("classification not computed" in n for n in res["notes"])
    r2 = evaluate(outs, reference=False)
    assert "CNPMI" not in r2["metrics"] and "TQ" not in r2["metrics"]
    assert resolve_reference(ref, langs=("en", "ja")).langs == ("en", "ja")
    with pytest.raises(ValueError, match="do not match"):
        resolve_reference(ref, langs=("en", "cn"))


def test_evaluate_malformed(demo):
    model = OracleModel(demo)
    b1, b2 = model.get_beta()
    with pytest.raises(ValueError, match="K mismatch"):
        evaluate({"beta1": b1, "beta2": b2[:5]}, demo)
    with pytest.raises(ValueError, match="empty topic"):
        evaluate({"topics1": [["a"], []], "topics2": [["x"], ["y"]]}, reference=False)
    with pytest.raises(ValueError, match="columns but the vocabulary"):
        evaluate({"beta1": b1[:, :-1], "beta2": b2}, demo)
    with pytest.raises(ValueError, match="labels test 2 missing"):
        evaluate({"topics1": [["a"]], "topics2": [["x"]], "theta_train1": np.ones((3, 1)), "theta_test1": np.ones((3, 1)),
                  "theta_train2": np.ones((3, 1)), "theta_test2": np.ones((3, 1)), "y_train1": [0, 1, 0],
                  "y_test1": [0, 1, 0], "y_train2": [0, 1, 0], "y_test2": None}, reference=False)  # noqa
    with pytest.raises(ValueError, match="needs the corpus"):
        evaluate(model)
    with pytest.raises(ValueError, match="fitted model"):
        evaluate(42, demo)


def test_results_table_marks_best():
    runs = {"base": {"CNPMI": 0.041, "TU": 0.943, "EN-I": 0.781, "EN-C": 0.524},
            "refined": {"CNPMI": 0.062, "TU": 0.898, "EN-I": 0.785, "EN-C": 0.524}}
    md = results_table(runs)
    lines = md.splitlines()
    assert lines[0] == "| run | CNPMI | TU | EN-I | EN-C |"
    assert lines[2] == "| base | 0.041 | **0.943** | 0.781 | **0.524** |"  # ties are all marked
    assert lines[3] == "| refined | **0.062** | 0.898 | **0.785** | **0.524** |"
    html = results_table(runs, fmt="html", columns=["TU"])
    assert "<td><b>0.943</b></td>" in html and "<td>0.898</td>" in html and "CNPMI" not in html
    with pytest.raises(ValueError, match="fmt"):
        results_table(runs, fmt="latex")
    with pytest.raises(ValueError, match="no runs"):
        results_table([])


def test_results_table_carries_substitute_note(demo):
    res = evaluate(OracleModel(demo), demo, name="oracle", classify=False)
    md = results_table([res, {"CNPMI": 0.0, "TU": 0.5}])
    assert "not with the paper's numbers" in md and "| oracle |" in md and "| run 2 |" in md


@pytest.mark.slow
def test_evaluate_trained_nmtm_beats_untrained(demo):
    "evaluate on a real fitted backbone (NMTM, 30 epochs on the demo corpus): training must show in every metric family."
    import torch
    from llmxtm_nb.core import seed_everything
    from llmxtm_nb.trainer import Trainer, build_backbone
    seed_everything(0)
    m = build_backbone("NMTM", demo, num_topics=10)
    res = evaluate(m, demo, max_train=500)
    before = res["metrics"]
    assert res["num_topics"] == 10 and -1 <= before["CNPMI"] <= 1 and 0.1 <= before["TU"] <= 1
    assert res["settings"]["train_sizes"]["train_size_en"] == 500
    Trainer(m, demo).fit(30)
    after = evaluate(m, demo, max_train=500)["metrics"]
    assert after["CNPMI"] > before["CNPMI"] + 0.1
    assert after["theme_recovery_en"] > before["theme_recovery_en"]
    assert after["EN-C"] > before["EN-C"]


def test_evaluate_per_topic_consistent(demo):
    res = evaluate(OracleModel(demo, noise=0.3), demo, classify=False)
    pt = res["per_topic"]
    assert len(pt["CNPMI"]) == 10 and np.mean(pt["CNPMI"]) == pytest.approx(res["metrics"]["CNPMI"])
    assert np.mean(pt["TU_en"]) == pytest.approx(res["metrics"]["TU_en"])
    assert len(res["topics"]["en"]) == 10 and len(res["topics"]["en"][0]) == 15


def test_results_table_flags_different_references(demo):
    m = OracleModel(demo)
    a = evaluate(m, demo, classify=False, name="count")
    b = evaluate(m, demo, classify=False, marginals="docfreq", name="docfreq")
    assert "not comparable" in results_table([a, b]) and "not comparable" not in results_table([a, a])


def test_evaluate_accepts_torch_tensors(demo):
    import torch
    m = OracleModel(demo)
    b1, b2 = m.get_beta()
    outs = {"beta1": torch.tensor(b1, requires_grad=True), "beta2": torch.tensor(b2)}
    a = evaluate(outs, demo, classify=False)["metrics"]
    assert a["TU"] == 1.0 and a["theme_recovery_en"] == 1.0


class RawAwareModel(OracleModel):
    "Same oracle, but with the `raw` keyword of the real backbones: raw θ = log of the proportions (a different input)."
    def get_theta(self, bow, lang_index, raw=False):
        th = super().get_theta(bow, lang_index)
        self.calls.append("raw" if raw else "softmax")
        return np.log(th) if raw else th


def test_classification_theta_kind_follows_settings(demo):
    from llmxtm_nb.core import load_settings
    m = RawAwareModel(demo, noise=0.05)
    r_mean = evaluate(m, demo, reference=False)
    assert "raw" in m.calls and "softmax" not in m.calls
    assert r_mean["settings"]["classify_theta"] == "mean"
    m.calls.clear()
    r_soft = evaluate(m, demo, reference=False, settings=load_settings(eval__classify_theta="softmax"))
    assert "softmax" in m.calls and "raw" not in m.calls
    assert r_soft["settings"]["classify_theta"] == "softmax"
    # a model without the keyword is still evaluated (its θ as given)
    plain = OracleModel(demo, noise=0.05)
    assert "EN-I" in evaluate(plain, demo, reference=False)["metrics"]
    with pytest.raises(ValueError, match="classify_theta"):
        evaluate(m, demo, reference=False, settings=load_settings(eval__classify_theta="logits"))
