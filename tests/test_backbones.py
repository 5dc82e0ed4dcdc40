"""Backbones: the fast paths compute the same function (losses AND gradients) as straightforward dense
references; interface, save/load, bad input; theme recovery on the demo corpus."""
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from llmxtm_nb.backbone import CrossLingualTopicModel, SparseInput, csr_matmul, csr_to_torch, LaplacePrior
from llmxtm_nb.core import LLMXTMError
from llmxtm_nb.data import BilingualCorpus, LanguageSide, PairedBatch
from llmxtm_nb.dictionary import BilingualDictionary
from llmxtm_nb.nmtm import NMTM, translation_map_parts, build_nmtm
from llmxtm_nb.infoctm import InfoCTM, tami_loss, positive_masks, neighbour_matrix, build_infoctm
from llmxtm_nb.xtra import XTRA, build_xtra
from llmxtm_nb.trainer import Trainer, build_backbone


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- tiny synthetic inputs
def tiny_corpus(seed=0, V1=40, V2=35, N1=60, N2=50, with_dict=True, word_vectors=True):
    rng = np.random.default_rng(seed)
    v1 = [f"e{i}" for i in range(V1)]
    v2 = [f"c{i}" for i in range(V2)]
    s1 = LanguageSide("en", v1, sp.csr_matrix(rng.poisson(0.3, (N1, V1)).astype(np.float32)),
                      test_bow=sp.csr_matrix(rng.poisson(0.3, (10, V1)).astype(np.float32)),
                      word_vectors=rng.normal(size=(V1, 8)).astype(np.float32) if word_vectors else None)
    s2 = LanguageSide("cn", v2, sp.csr_matrix(rng.poisson(0.3, (N2, V2)).astype(np.float32)),
                      test_bow=sp.csr_matrix(rng.poisson(0.3, (10, V2)).astype(np.float32)),
                      word_vectors=rng.normal(size=(V2, 8)).astype(np.float32) if word_vectors else None)
    pairs = [(v1[i], v2[j]) for i, j in zip(rng.integers(0, V1, 30), rng.integers(0, V2, 30))]
    d = BilingualDictionary(pairs, ("en", "cn")) if with_dict else None
    return BilingualCorpus("tiny", s1, s2, dictionary=d)


def batch_of(corpus, B=12, seed=0):
    rng = np.random.default_rng(seed)
    i1, i2 = rng.integers(0, corpus.l1.train_bow.shape[0], B), rng.integers(0, corpus.l2.train_bow.shape[0], B)
    return PairedBatch(torch.tensor(corpus.l1.train_bow[i1].toarray()), torch.tensor(corpus.l2.train_bow[i2].toarray()),
                       torch.tensor(i1), torch.tensor(i2))


def losses_and_grads(model, batch, seed=0):
    model.train(); model.zero_grad()
    torch.manual_seed(seed)
    out = model(batch)
    total = sum(out["losses"].values())
    total.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: float(v.detach()) for k, v in out["losses"].items()}, grads


def assert_same(a, b, rtol=1e-4, atol=1e-5):
    la, ga = a
    lb, gb = b
    assert la.keys() == lb.keys()
    for k in la:
        assert la[k] == pytest.approx(lb[k], rel=rtol, abs=atol), k
    assert ga.keys() == gb.keys()
    for k in ga:
        assert torch.allclose(ga[k], gb[k], rtol=rtol, atol=atol), (k, (ga[k] - gb[k]).abs().max())


# ---------------------------------------------------------------- NMTM: sparse + rank-one map
def dense_public_map(T, f_src):
    "The public construction, written densely: rownorm(diag(f_src) T + 1)."
    M = np.asarray(T.todense(), np.float64) * np.asarray(f_src, np.float64)[:, None] + 1
    return M / M.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translation_map_parts_equal_dense_map(seed):
    rng = np.random.default_rng(seed)
    T = sp.random(20, 15, density=0.1, random_state=seed, format="csr")
    f = rng.integers(0, 30, 20)
    R, d = translation_map_parts(T, f)
    assert np.allclose(R.toarray() + d[:, None], dense_public_map(T, f), atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nmtm_fast_equals_reference(seed):
    c = tiny_corpus(seed)
    torch.manual_seed(seed)
    fast = build_nmtm(c, 5, hidden=16)
    ref = build_nmtm(c, 5, hidden=16, reference=True)
    ref.load_state_dict(fast.state_dict())
    # the reference's dense maps are the public construction
    T = c.dictionary.translation_matrix(c.l1.vocab, c.l2.vocab)
    M21 = dense_public_map(T.T, c.l2.word_frequencies())
    assert np.allclose(ref.map21.M.numpy(), M21, atol=1e-6)
    b = batch_of(c, seed=seed)
    assert_same(losses_and_grads(fast, b, seed), losses_and_grads(ref, b, seed))
    # and β through the independent dense map
    w1 = 0.8 * fast.phi2.detach().numpy() @ M21 + 0.2 * fast.phi1.detach().numpy()
    assert np.allclose(fast.decoder_weights()[0].detach().numpy(), w1, atol=1e-5)


def test_nmtm_target_frequency_style_matches_dictionary_helper():
    from llmxtm_nb.dictionary import frequency_weighted_map
    c = tiny_corpus(3)
    T = c.dictionary.translation_matrix(c.l1.vocab, c.l2.vocab)
    R, d = translation_map_parts(T, None, c.l2.word_frequencies(), style="target_frequency")
    assert np.allclose(R.toarray(), frequency_weighted_map(T, c.l2.word_frequencies()).toarray(), atol=1e-6)
    assert not d.any()


# ---------------------------------------------------------------- InfoCTM: sparse TAMI
def tami_dense_reference(F1, F2, P12, P21, tau):
    "Independent dense TAMI: explicit negatives mask, per-direction similarity matrices, log-softmax form."
    loss = 0.0
    for A, B, P in ((F1, F2, P12), (F2, F1, P21)):
        logits = A @ B.T / tau
        neg = (P <= 0).to(logits.dtype)
        denom = (torch.exp(logits) * neg).sum(1, keepdim=True) + torch.exp(logits)
        loss = loss - (P * (logits - torch.log(denom))).sum()
    return loss


@pytest.mark.parametrize("block_rows", [None, 3])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tami_fast_equals_dense_loss_and_grads(seed, block_rows, monkeypatch):
    "block_rows=3: E is processed three rows at a time, so blocks end inside and at the edge of both parts of E."
    import llmxtm_nb.infoctm as infoctm
    if block_rows: monkeypatch.setattr(infoctm, "TAMI_BLOCK_BYTES", block_rows * 4 * 40)
    rng = np.random.default_rng(seed)
    V1, V2, K = 50, 40, 6
    P12 = sp.random(V1, V2, density=0.06, random_state=seed, format="csr")
    P12.data[:] = rng.integers(1, 4, P12.nnz)
    P21 = sp.random(V2, V1, density=0.08, random_state=seed + 10, format="csr")
    P21.data[:] = rng.integers(1, 3, P21.nnz)
    g = torch.Generator().manual_seed(seed)
    phi1 = torch.randn(K, V1, generator=g, dtype=torch.float64, requires_grad=True)
    phi2 = torch.randn(K, V2, generator=g, dtype=torch.float64, requires_grad=True)

    def feats():
        return F.normalize(phi1.t(), dim=1), F.normalize(phi2.t(), dim=1)

    ref = tami_dense_reference(*feats(), torch.tensor(P12.toarray()), torch.tensor(P21.toarray()), 0.2)
    gref = torch.autograd.grad(ref, (phi1, phi2))
    to64 = lambda P: tuple(t.double() if t.is_floating_point() else t for t in
                           (torch.tensor(P.tocoo().row, dtype=torch.long), torch.tensor(P.tocoo().col, dtype=torch.long),
                            torch.tensor(P.tocoo().data)))
    fast = tami_loss(*feats(), to64(P12), to64(P21), 0.2)
    gfast = torch.autograd.grad(fast, (phi1, phi2))
    assert float(fast.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)
    for a, b in zip(gfast, gref):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)
    # float32 scipy-mask entry point
    fast32 = tami_loss(*(f.float() for f in feats()), P12, P21, 0.2)
    assert float(fast32.detach()) == pytest.approx(float(ref.detach()), rel=1e-4)


def test_tami_gradcheck():
    V1, V2, K = 7, 6, 3
    P12 = sp.csr_matrix(np.eye(V1, V2)); P21 = sp.csr_matrix(np.eye(V2, V1) * 2)
    g = torch.Generator().manual_seed(0)
    F1 = F.normalize(torch.randn(V1, K, generator=g, dtype=torch.float64), dim=1).requires_grad_()
    F2 = F.normalize(torch.randn(V2, K, generator=g, dtype=torch.float64), dim=1).requires_grad_()
    m = lambda P: (torch.tensor(P.tocoo().row, dtype=torch.long), torch.tensor(P.tocoo().col, dtype=torch.long),
                   torch.tensor(P.tocoo().data, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda a, b: tami_loss(a, b, m(P12), m(P21), 0.2), (F1, F2))


def test_positive_masks_follow_neighbours_then_dictionary():
    T = sp.csr_matrix(np.array([[1, 0], [0, 0], [0, 1]]))
    N1 = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]]))
    P12, P21 = positive_masks(T, N1, None)
    assert P12.toarray().tolist() == [[1, 0], [1, 0], [0, 1]]   # word 1 has no translation: linked via neighbour 0
    assert P21.toarray().tolist() == [[1, 0, 0], [0, 0, 1]]


@pytest.mark.parametrize("seed", [0, 1])
def test_infoctm_fast_equals_reference(seed):
    c = tiny_corpus(seed)
    torch.manual_seed(seed)
    fast = build_infoctm(c, 5, hidden=16, weight_mi=30, neighbour_threshold=0.3)
    ref = build_infoctm(c, 5, hidden=16, weight_mi=30, neighbour_threshold=0.3, reference=True)
    ref.load_state_dict(fast.state_dict())
    b = batch_of(c, seed=seed)
    assert_same(losses_and_grads(fast, b, seed), losses_and_grads(ref, b, seed))


def test_neighbour_matrix_matches_dense_threshold():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5)); X[3] = 0
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    want = (Xn @ Xn.T >= 0.4)
    assert (neighbour_matrix(X, 0.4, chunk=7).toarray() == want).all()


# ---------------------------------------------------------------- shared parts
def test_sparse_input_same_values_and_grads():
    rng = np.random.default_rng(0)
    X = sp.random(9, 20, density=0.2, random_state=0, format="csr", dtype=np.float32)
    lin = SparseInput(20, 4)
    yd = lin(torch.tensor(X.toarray()))
    gd = torch.autograd.grad(yd.square().sum(), lin.weight)[0]
    ys = lin(csr_to_torch(X))
    gs = torch.autograd.grad(ys.square().sum(), lin.weight)[0]
    assert torch.allclose(yd, ys, atol=1e-6) and torch.allclose(gd, gs, atol=1e-6)


def test_csr_matmul_equals_dense_product_with_empty_rows():
    rng = np.random.default_rng(1)
    A = sp.random(7, 11, density=0.3, random_state=1, format="csr", dtype=np.float32)
    A = sp.csr_matrix(A.multiply(np.array([[1], [0], [1], [1], [0], [1], [0]], np.float32)))  # empty rows, incl. the last
    D = rng.normal(size=(11, 5)).astype(np.float32)
    parts = [torch.from_numpy(a.astype(np.int64)) for a in (A.indptr, A.indices)] + [torch.from_numpy(A.data)]
    got = csr_matmul(*parts, torch.from_numpy(D))
    assert got.shape == (7, 5)
    assert torch.allclose(got, torch.from_numpy(A.toarray() @ D), atol=1e-5)
    assert (got[[1, 4, 6]] == 0).all()
    empty = sp.csr_matrix((3, 11), dtype=np.float32)
    parts = [torch.from_numpy(a.astype(np.int64)) for a in (empty.indptr, empty.indices)] + [torch.from_numpy(empty.data)]
    assert (csr_matmul(*parts, torch.from_numpy(D)) == 0).all()


def test_sparse_input_handles_empty_documents_and_an_empty_batch():
    X = sp.random(6, 20, density=0.3, random_state=2, format="csr", dtype=np.float32)
    X = sp.csr_matrix(X.multiply(np.array([[0], [1], [1], [0], [1], [0]], np.float32)))   # first and last rows empty
    lin = SparseInput(20, 3)
    for M in (X, sp.csr_matrix((4, 20), dtype=np.float32)):
        yd = lin(torch.tensor(M.toarray()))
        gd = torch.autograd.grad(yd.square().sum(), [lin.weight, lin.bias])
        ys = lin(csr_to_torch(M))
        gs = torch.autograd.grad(ys.square().sum(), [lin.weight, lin.bias])
        assert torch.allclose(yd, ys, atol=1e-6)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gd, gs))


def test_sparse_input_gradient_buffer_is_reused_and_cleared_between_steps():
    """`prepare_grad` attaches one buffer that the backward pass adds the touched rows into; at the next step it must
    hold exactly that step's gradient again (rows of the previous batch cleared), in the same memory."""
    rng = np.random.default_rng(0)
    lin = SparseInput(30, 4)
    first = None
    for step in range(4):
        X = sp.random(6, 30, density=0.15, random_state=step, format="csr", dtype=np.float32)
        X.data[:] = rng.integers(1, 4, X.nnz)
        want = torch.autograd.grad(lin(torch.tensor(X.toarray())).square().sum(), lin.weight)[0]
        lin.weight.grad = None          # what zero_grad(set_to_none=True) does
        lin.prepare_grad()
        lin(csr_to_torch(X)).square().sum().backward()
        assert lin.weight.grad.layout == torch.strided
        assert torch.allclose(lin.weight.grad, want, atol=1e-6), step
        first = first or lin.weight.grad.data_ptr()
        assert lin.weight.grad.data_ptr() == first      # no new V x H allocation
        with torch.no_grad(): lin.weight.sub_(0.1 * lin.weight.grad)


def test_laplace_prior_matches_formula():
    a = np.array([0.5, 1.0, 2.0, 4.0])
    p = LaplacePrior(4, a)
    K = 4
    mu = np.log(a) - np.log(a).mean()
    var = (1 / a) * (1 - 2 / K) + (1 / K**2) * (1 / a).sum()
    assert np.allclose(p.mu2.numpy(), mu, atol=1e-6) and np.allclose(p.var2.numpy(), var, atol=1e-6)


def xtra_for(c, K=4, **params):
    rng = np.random.default_rng(0)
    H = (rng.normal(size=(c.l1.train_bow.shape[0], 16)), rng.normal(size=(c.l2.train_bow.shape[0], 16)))
    return build_xtra(c, K, doc_embeddings=H, **{'hidden': 8, 'share_dim': 16, 'proj_dim': 8, **params})


@pytest.mark.parametrize("name", ["NMTM", "InfoCTM", "XTRA"])
def test_interface_and_save_load(name, tmp_path):
    c = tiny_corpus(1)
    m = xtra_for(c) if name == "XTRA" else build_backbone(name, c, num_topics=4, hidden=8)
    out = m(batch_of(c))
    assert set(out) >= {"losses", "theta"} and all(v.dim() == 0 for v in out["losses"].values())
    assert out["theta"][0].shape == (12, 4)
    b1, b2 = m.get_beta()
    assert b1.shape == (4, 40) and b2.shape == (4, 35)
    assert np.allclose(b1.sum(1), 1, atol=1e-5) and np.allclose(b2.sum(1), 1, atol=1e-5)
    th = m.get_theta(c.l2.test_bow, 1, batch_size=3)
    assert th.shape == (10, 4) and np.allclose(th.sum(1), 1, atol=1e-5)
    assert np.allclose(th, m.get_theta(c.l2.test_bow.toarray(), 1), atol=1e-5)   # dense == sparse input
    m.settings = {"note": "kept"}
    p = m.save(tmp_path / "m.pt")
    m2 = CrossLingualTopicModel.load(p)
    assert type(m2) is type(m) and m2.settings == {"note": "kept"} and m2.vocab1 == c.l1.vocab
    assert np.allclose(m2.get_beta()[1], b2) and np.allclose(m2.get_theta(c.l2.test_bow, 1), th, atol=1e-6)
    assert m2.top_words(3) == m.top_words(3)


def test_load_refuses_a_file_that_does_not_fit_the_model(tmp_path):
    "A saved model with a missing, extra or reshaped entry is refused with the file and every mismatch named."
    from llmxtm_nb.core import load_torch, save_torch
    c = tiny_corpus(0)
    m = build_backbone("NMTM", c, num_topics=4, hidden=8)
    ck = load_torch(m.save(tmp_path / "m.pt"))
    sd = ck["state_dict"]
    dropped = next(k for k in sd if "weight" in k)
    del sd[dropped]
    sd["extra.weight"] = torch.zeros(2)
    sd["phi1"] = torch.zeros(5, 40)
    save_torch(tmp_path / "bad.pt", ck)
    with pytest.raises(LLMXTMError) as e:
        CrossLingualTopicModel.load(tmp_path / "bad.pt")
    msg = str(e.value)
    assert "bad.pt" in msg and f"missing {dropped}" in msg and "unexpected extra.weight" in msg
    assert "phi1 has shape (5, 40), this model's is (4, 40)" in msg
    with pytest.raises(LLMXTMError, match="missing phi2"):
        build_backbone("NMTM", c, num_topics=4, hidden=8).load_weights({"phi1": sd["phi1"]})
    assert torch.equal(CrossLingualTopicModel.load(tmp_path / "m.pt").phi1, m.phi1)   # the intact file loads


def test_bad_inputs():
    c = tiny_corpus(0)
    with pytest.raises(ValueError, match="larger than the en vocabulary"):
        build_backbone("NMTM", c, num_topics=41)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("LDA", c)
    m = build_backbone("InfoCTM", c, num_topics=4, hidden=8)
    with pytest.raises(ValueError, match="columns"):
        m.get_theta(c.l1.test_bow, 1)
    x = XTRA(c.l1.vocab, c.l2.vocab, num_topics=4, hidden=8, share_dim=16, proj_dim=8, doc_dim=16)
    with pytest.raises(LLMXTMError, match="attach"):
        x(batch_of(c))


def test_missing_dictionary_gives_clear_error(monkeypatch):
    c = tiny_corpus(0, with_dict=False)
    monkeypatch.setitem(sys.modules, "llmxtm_nb.pairs", None)   # as if the encoders helper were not installed
    for name in ("NMTM", "InfoCTM"):
        with pytest.raises(LLMXTMError, match="no bilingual dictionary"):
            build_backbone(name, c, num_topics=4)


# ---------------------------------------------------------------- demo corpus: planted themes
@pytest.mark.slow
@pytest.mark.parametrize("name", ["NMTM", "InfoCTM", "XTRA"])
def test_demo_theme_recovery(name):
    demo_mod = pytest.importorskip("llmxtm_nb.demo")
    ev = pytest.importorskip("llmxtm_nb.evaluate")
    from llmxtm_nb.trainer import Trainer
    c = demo_mod.load_demo()
    K = len(c.ground_truth["themes"])
    kw = {}
    if name == "XTRA":
        kw["doc_embeddings"] = demo_embeddings(c)
    m = build_backbone(name, c, num_topics=K, seed=0, **kw)
    Trainer(m, c, epochs=DEMO_EPOCHS[name], learning_rate=0.01, lr_step=0, device="cpu", show_progress=False).fit()
    r = ev.theme_recovery(*m.get_beta(), c)
    l1, l2 = c.langs
    assert r[f"theme_recovery_{l1}"] >= 0.6 and r[f"theme_recovery_{l2}"] >= 0.6, r


DEMO_EPOCHS = {"NMTM": 20, "InfoCTM": 20, "XTRA": 6}


def demo_embeddings(c, dim=32):
    """Cheap bilingual document embeddings for the test: language-2 BoW mapped into language-1 words through the
    demo dictionary, TF-IDF, then a shared truncated SVD (LSA). Stands in for the multilingual encoder, which
    is too slow to run inside a CPU test (XTRA's own code path is unchanged: it only sees [N, d] vectors)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    T = c.dictionary.oriented(c.langs).translation_matrix(c.l1.vocab, c.l2.vocab)
    X1 = c.l1.train_bow
    X2 = c.l2.train_bow @ T.T   # counts of the English translations
    tf = TfidfTransformer().fit(sp.vstack([X1, X2]))
    svd = TruncatedSVD(dim, random_state=0).fit(tf.transform(sp.vstack([X1, X2])))
    H = [svd.transform(tf.transform(X)) for X in (X1, X2)]
    return tuple(h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12) for h in H)


def test_knn_neighbours_and_auto_mode_without_word_vectors():
    from llmxtm_nb.infoctm import knn_neighbours, corpus_neighbours
    X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    N = knn_neighbours(X, 1).toarray()
    assert N.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    c = tiny_corpus(0, word_vectors=False)
    assert corpus_neighbours(c, "auto") == (None, None)
    with pytest.raises(LLMXTMError, match="word2vec"):
        corpus_neighbours(c, "word2vec")


def test_tami_workspace_reuse_across_steps_and_overlapping_graphs():
    c = tiny_corpus(4)
    fast = build_infoctm(c, 5, hidden=8, neighbour_threshold=0.3)
    ref = build_infoctm(c, 5, hidden=8, neighbour_threshold=0.3, reference=True)
    ref.load_state_dict(fast.state_dict())
    for step in range(3):   # consecutive steps reuse the buffer; parameters change in between
        gf = torch.autograd.grad(fast.tami(), fast.phi1)[0]
        gr = torch.autograd.grad(ref.tami(), ref.phi1)[0]
        # float32, sums of thousands of terms in another order: differences of ~1e-6 of the largest entry
        assert torch.allclose(gf, gr, rtol=1e-4, atol=1e-5), (step, (gf - gr).abs().max(), gr.abs().max())
        with torch.no_grad():
            for m in (fast, ref):
                m.phi1.add_(0.5 * gr); m.phi2.mul_(0.9)
    a, b = fast.tami(), fast.tami() * 2          # two graphs alive at once: the second gets its own buffer
    ga = torch.autograd.grad(a, fast.phi2, retain_graph=True)[0]
    gb = torch.autograd.grad(b, fast.phi2)[0]
    assert torch.allclose(2 * ga, gb, rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        assert float(fast.tami()) == pytest.approx(float(ref.tami()), rel=1e-5)


# ---------------------------------------------------------------- the fused decoder loss
def _plain_and_fused(B, V, K, seed, scale=None, word=False, density=0.3):
    from llmxtm_nb.backbone import decoder_nll, recon_nll, word_major
    g = torch.Generator().manual_seed(seed)
    theta = torch.softmax(torch.randn(B, K, generator=g) * 2, 1).requires_grad_()
    w0 = torch.randn(K, V, generator=g)
    w = (word_major(w0) if word else w0.clone()).requires_grad_()
    x = torch.poisson(torch.full((B, V), density), generator=g)
    x[0] = 0   # an empty document
    bns = [torch.nn.BatchNorm1d(V, eps=1e-3, momentum=0.05) for _ in range(2)]
    with torch.no_grad():
        bns[0].weight.copy_(torch.rand(V, generator=g) + 0.5 if scale is None else scale)
        bns[0].bias.normal_(generator=g)
        bns[0].running_var.uniform_(0.5, 2, generator=g)
    bns[1].load_state_dict(bns[0].state_dict())
    plain = recon_nll(bns[0](theta @ w), x).mean()
    fused = decoder_nll(theta, w, bns[1], x.to_sparse())
    gp = torch.autograd.grad(plain, (theta, w, bns[0].bias, bns[0].weight))
    gf = torch.autograd.grad(fused, (theta, w, bns[1].bias, bns[1].weight))
    return (plain, gp, bns[0]), (fused, gf, bns[1]), w


@pytest.mark.parametrize("B,V,K,seed,word", [(7, 30, 4, 0, False), (32, 200, 10, 1, True), (2, 9, 3, 2, False),
                                             (64, 500, 50, 3, True)])
def test_fused_decoder_loss_equals_plain_formulation(B, V, K, seed, word):
    (lp, gp, bp), (lf, gf, bf), w = _plain_and_fused(B, V, K, seed, word=word)
    assert float(lf.detach()) == pytest.approx(float(lp.detach()), rel=1e-5)
    for name, a, b in zip(("theta", "W", "shift", "scale"), gp, gf):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (name, (a - b).abs().max())
    assert gf[1].stride() == w.stride()   # the weight gradient comes back in the weight's own layout
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(bp, k).float(), getattr(bf, k).float(), rtol=1e-5, atol=1e-6), k


@pytest.mark.parametrize("B,V,K,seed,word", [(7, 30, 4, 0, False), (64, 500, 50, 3, True)])
def test_fused_decoder_loss_shifting_by_row_maxima_is_the_same_function(B, V, K, seed, word, monkeypatch):
    "The path a GPU takes (each row shifted by its own maximum, nothing read back), forced on the CPU: same loss and gradients."
    import llmxtm_nb.backbone as bb
    monkeypatch.setattr(bb, "_ROW_MAX_DEVICES", ("cuda", "cpu"))
    calls, real = [], bb._exp_by_row_max
    monkeypatch.setattr(bb, "_exp_by_row_max", lambda *a: calls.append(1) or real(*a))
    test_fused_decoder_loss_equals_plain_formulation(B, V, K, seed, word)
    assert calls   # the path under test ran


def test_fused_decoder_loss_is_as_accurate_as_float32_allows():
    """Against the plain formulation in float64: the fused float32 loss (base-2 exponentials, batch-norm backward in
    closed form) must be within a few float32 roundings of the exact value and gradients, at ECNews-like sizes."""
    from llmxtm_nb.backbone import decoder_nll, recon_nll, word_major
    g = torch.Generator().manual_seed(11)
    B, K, V = 128, 50, 2000
    theta = torch.softmax(torch.randn(B, K, generator=g, dtype=torch.float64) * 2, 1)
    w = torch.randn(K, V, generator=g, dtype=torch.float64) * 0.3
    x = torch.poisson(torch.full((B, V), 0.02, dtype=torch.float64), generator=g)
    bn64, bn32 = torch.nn.BatchNorm1d(V, eps=1e-3).double(), torch.nn.BatchNorm1d(V, eps=1e-3)
    with torch.no_grad():
        bn64.bias.normal_(generator=g); bn32.bias.copy_(bn64.bias)
    t64, w64 = theta.clone().requires_grad_(), w.clone().requires_grad_()
    exact = recon_nll(bn64(t64 @ w64), x).mean()
    g64 = torch.autograd.grad(exact, (t64, w64, bn64.bias))
    t32, w32 = theta.float().requires_grad_(), word_major(w.float()).requires_grad_()
    fused = decoder_nll(t32, w32, bn32, x.float().to_sparse())
    g32 = torch.autograd.grad(fused, (t32, w32, bn32.bias))
    assert abs(fused.item() - exact.item()) <= 1e-6 * abs(exact.item())
    for name, a, b in zip(("theta", "W", "shift"), g32, g64):
        err = float((a.double() - b).abs().max() / b.abs().max())
        assert err < 1e-5, (name, err)


def test_fused_decoder_loss_falls_back_when_rows_would_underflow():
    """A very large BN scale on one word makes the global bound c useless for rows where that word scores low:
    exp(y - c) underflows for the whole row, and the per-row maximum path must give the same answer."""
    scale = torch.ones(40); scale[3] = 80.0
    (lp, gp, _), (lf, gf, _), _ = _plain_and_fused(6, 40, 5, 7, scale=scale)
    assert torch.isfinite(lf) and float(lf.detach()) == pytest.approx(float(lp.detach()), rel=1e-5)
    for a, b in zip(gp, gf):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fused_decoder_loss_refuses_a_second_backward():
    from llmxtm_nb.backbone import decoder_nll
    theta = torch.softmax(torch.randn(5, 3), 1).requires_grad_()
    w = torch.randn(3, 12, requires_grad=True)
    loss = decoder_nll(theta, w, torch.nn.BatchNorm1d(12), torch.poisson(torch.full((5, 12), 0.5)).to_sparse())
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()


def test_fast_dropout_keeps_the_distribution_and_passes_gradients_through_the_mask():
    from llmxtm_nb.backbone import FastDropout
    torch.manual_seed(0)
    d = FastDropout(0.3)
    x = (torch.rand(400, 500) + 0.5).requires_grad_()
    y = d(x)
    kept = y.detach() != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005          # 200,000 draws: sd of the rate ~0.001
    assert torch.allclose(y.detach()[kept], x.detach()[kept] / 0.7)
    g = torch.randn_like(x)
    (y * g).sum().backward()
    assert torch.allclose(x.grad, g * kept / 0.7)
    d.eval()
    assert d(x) is x
    assert FastDropout(0.0)(x) is x
    assert (FastDropout(1.0)(x) == 0).all()


@pytest.mark.parametrize("name", ["NMTM", "InfoCTM"])
def test_fast_training_follows_the_reference_for_several_steps(name):
    """Through the trainer: sparse batches, the reused gradient buffers of the input layers (row-sparse gradients
    added into them, zeroed between steps) and the fused decoder move the parameters as the dense reference does.
    Plain SGD: Adam would turn float rounding in gradients that are zero in exact arithmetic (a bias followed by
    batch normalisation) into full-size steps of either sign. Two epochs of SGD amplify float32 rounding (both
    formulations are within ~1e-6 of float64 per step, see the test above): for InfoCTM the two runs drift apart by
    up to ~3e-5, so the absolute tolerance is 5e-5 — a missing or wrong gradient term moves parameters by far more."""
    from llmxtm_nb.trainer import Trainer
    c = tiny_corpus(5)
    models = [build_backbone(name, c, num_topics=5, hidden=8, seed=0, reference=r) for r in (False, True)]
    models[1].load_state_dict(models[0].state_dict())
    trainers = [Trainer(m, c, batch_size=16, seed=0, show_progress=False, learning_rate=0.05,
                        optimizer=torch.optim.SGD) for m in models]
    assert next(iter(trainers[0].batches(0))).x1.layout == torch.sparse_coo
    assert next(iter(trainers[1].batches(0))).x1.layout == torch.strided
    for t in trainers:
        torch.manual_seed(1)
        t.fit(2)
    fast, ref = (dict(m.named_parameters()) for m in models)
    for k in fast:
        assert torch.allclose(fast[k], ref[k], rtol=1e-4, atol=5e-5), (k, (fast[k] - ref[k]).abs().max())
    for k, v in models[1].state_dict().items():   # batch-norm running statistics too
        if 'running' in k: assert torch.allclose(models[0].state_dict()[k], v, rtol=1e-3, atol=1e-4), (k, (models[0].state_dict()[k] - v).abs().max())


def test_xtra_lite_changes_only_what_it_says(tmp_path, monkeypatch):
    "XTRA-lite on the demo corpus: β alignment on one step in four, narrower input layers, everything trains."
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.xtra import XTRA_LITE
    # its own cache: the demo's document embeddings must not land in the session's cache other tests count
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(tmp_path / "cache"))
    corpus = load_corpus("demo")
    m = build_backbone("XTRA", corpus, **XTRA_LITE)
    assert all(layer.weight.shape[1] == 300 for layer in m.inp)
    projections = []
    m.prj_beta[0].register_forward_hook(lambda *_: projections.append(1))
    tr = Trainer(m, corpus, show_progress=False, seed=0)
    start = [p.detach().clone() for p in (m.inp[0].weight, m.inp[1].bias, m.fc1.weight, m.prj_beta[0].weight)]
    batches = list(tr.batches(0))
    terms = [tr.train_step(batches[i % len(batches)])["beta_align"] for i in range(8)]
    assert len(projections) == 2 and [t != 0 for t in terms] == [True, False, False, False] * 2   # steps 1 and 5 of 8
    now = (m.inp[0].weight, m.inp[1].bias, m.fc1.weight, m.prj_beta[0].weight)
    assert not any(torch.equal(p, q) for p, q in zip(now, start))
    published = build_backbone("XTRA", corpus)
    assert published.inp[0].weight.shape[1] == 1000 and published.inp[0].weight.requires_grad
    assert not hasattr(published, "beta_align_step") and published.beta_align_every == 1
