"""Plotly views: correctness on small inputs, real refinement events, and build time on ECNews-sized inputs."""
import time

import numpy as np
import plotly.graph_objects as go
import pytest

from llmxtm_nb import plots
from llmxtm_nb.record import RefinementRecord
from llmxtm_nb.review import example_event


def _beta(rng, K, V):
    return rng.dirichlet(np.full(V, 0.05), size=K)


def test_topic_words_figure_orders_and_mirrors():
    rng = np.random.default_rng(1)
    b1, b2 = _beta(rng, 5, 40), _beta(rng, 5, 30)
    v1, v2 = [f"e{i}" for i in range(40)], [f"c{i}" for i in range(30)]
    fig = plots.topic_words_figure(b1, b2, v1, v2, topics=[4], n=7, langs=("en", "cn"))
    assert isinstance(fig, go.Figure) and len(fig.data) == 2
    en = fig.data[0]
    assert list(en.y)[::-1] == [w for w, _ in plots.top_word_weights(b1, v1, 4, 7)]
    assert np.all(np.diff(np.asarray(en.x)) >= 0)  # drawn lightest to heaviest (heaviest on top)
    assert fig.layout.xaxis.autorange == "reversed"  # the first language points left
    with pytest.raises(ValueError, match="topics \\[9\\] out of range"):
        plots.topic_words_figure(b1, b2, v1, v2, topics=[9])


def test_alignment_identity_and_errors():
    rng = np.random.default_rng(2)
    b = _beta(rng, 6, 50)
    E = rng.normal(size=(50, 8))
    S = plots.topic_alignment(b, b, E, E, n=5)
    assert np.allclose(np.diag(S), 1.0)
    fig = plots.alignment_heatmap(S)
    assert "mean diagonal 1.000" in fig.layout.title.text
    with pytest.raises(ValueError, match="word_emb has 49 rows"):
        plots.topic_embeddings(b, E[:49])


def test_agreement_on_real_events():
    ev = example_event()
    agr = plots.vote_agreement(ev)
    # topic 0: en game 3, team 3, season 2; topic 1: 4 x 3 words; topic 2 failed (no refined words)
    assert sorted(agr["en"].tolist()) == sorted([3 / 4, 3 / 4, 2 / 4] + [1.0] * 3)
    ev2 = example_event(); ev2.epoch = 20
    fig = plots.agreement_figure(RefinementRecord([ev, ev2]))
    assert len(fig.data) == 4  # 2 events x 2 languages
    counts = np.asarray(fig.data[0].y)
    assert counts.sum() == 6 and counts[4] == 3 and counts[3] == 2 and counts[2] == 1
    assert np.isnan(plots.topic_agreement(ev.topic(2), ev.rounds))
    with pytest.raises(ValueError, match="words must be"):
        plots.vote_agreement(ev, "some")


def test_training_curves_marks_events_from_record():
    hist = [{"epoch": e, "loss": 1 / e, "mmd": 0.1} for e in range(1, 21)]
    ev = example_event()
    fig = plots.training_curves(hist, events=RefinementRecord([ev]))
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].x0 == 10
    with pytest.raises(ValueError, match="history is empty"):
        plots.training_curves([])


def test_theta_figure_kl_in_title():
    th = np.array([[0.5, 0.5], [0.9, 0.1]])
    fig = plots.theta_figure(th, th, docs=[1])
    assert "KL(θ‖θ̂) = 0.000" in fig.layout.annotations[0].text


def test_judge_heatmaps_shapes():
    sc = {"cross": {"base": [1, 2, 3], "ours": [2, 2, 3]}}
    fig = plots.judge_heatmaps(sc, topics=[0, 2])
    assert np.asarray(fig.data[0].z).tolist() == [[1, 3], [2, 3]]
    with pytest.raises(ValueError, match="scores is empty"):
        plots.judge_heatmaps({})


def test_document_map_subsamples_large_inputs_quickly():
    rng = np.random.default_rng(3)
    t1 = rng.dirichlet(np.full(50, 0.1), size=60000)
    t2 = rng.dirichlet(np.full(50, 0.1), size=40000)
    t0 = time.process_time()  # CPU time of this process: other jobs on a shared machine do not count
    fig = plots.document_map(t1, t2, max_points=5000)
    dt = time.process_time() - t0
    assert [len(d.x) for d in fig.data] == [3000, 2000]
    assert all(isinstance(d, go.Scattergl) for d in fig.data)
    assert dt < 10, f"document_map took {dt:.1f} s of CPU on 100k documents"
    # seeded: the same call gives the same map
    fig2 = plots.document_map(t1, t2, max_points=5000)
    assert np.allclose(fig.data[0].x, fig2.data[0].x)


def test_every_figure_builds_on_ecnews_sized_inputs():
    "K=50, V=5000, 37,480 + 40,000 documents: each figure builds within seconds of CPU time."
    t = plots.figure_timings(clock="cpu")
    assert set(t) == {"topic_words_figure", "alignment_heatmap", "judge_heatmaps", "theta_figure",
                      "training_curves", "document_map"}
    slow = {k: v for k, v in t.items() if v > 15}
    assert not slow, f"figures taking more than 15 s of CPU on ECNews-sized inputs: {slow}"


def test_document_map_on_ecnews_bow(shared_data):
    "Real ECNews sizes and sparsity: θ-like mixtures from the training BoW (77k documents), plus a sparse-feature map."
    import scipy.sparse as sp
    f1 = sp.load_npz(shared_data / "ECNews" / "train_bow_matrix_en.npz").astype(np.float32)
    f2 = sp.load_npz(shared_data / "ECNews" / "train_bow_matrix_cn.npz").astype(np.float32)
    rng = np.random.default_rng(0)
    def pseudo_theta(bow):
        z = np.asarray(bow @ rng.random((bow.shape[1], 50), dtype=np.float32)) + 1e-6
        return z / z.sum(1, keepdims=True)
    th1, th2 = pseudo_theta(f1), pseudo_theta(f2)
    t0 = time.process_time()
    fig = plots.document_map(th1, th2, max_points=6000)
    assert time.process_time() - t0 < 15
    assert sum(len(d.x) for d in fig.data) == 6000 and f"6000 of {f1.shape[0] + f2.shape[0]} shown" in fig.layout.title.text
    # sparse features in one shared column space (here: the English BoW for both sides) go through TruncatedSVD
    fig = plots.document_map(th1, th1, features1=f1, features2=f1, max_points=2000)
    assert "SVD" in fig.layout.title.text
