"""Every backbone trains through the one Phase-1 trainer on each of the three benchmarks (shared data folder).

The full vocabularies, dictionaries and hyper-parameters of each benchmark are used; only the training documents are
cut to the first 256 of each language so that the test takes seconds. XTRA gets random unit document embeddings of the
encoder's dimension (its k-means and β initialisation run on them as on real ones; encoding is tested elsewhere)."""
import numpy as np
import pytest

from llmxtm_nb.data import load_corpus
from llmxtm_nb.trainer import Trainer, build_backbone
from phase2_helpers import head

N_DOCS = 256


@pytest.fixture(scope="module", params=["ECNews", "Amazon_Review", "Rakuten_Amazon"])
def benchmark(request, shared_data):
    return head(load_corpus(request.param, data_dir=shared_data), N_DOCS)


@pytest.mark.parametrize("backbone", ["NMTM", "InfoCTM", "XTRA"])
def test_backbone_trains_on_benchmark(benchmark, backbone, one_torch_thread, tmp_path):
    kw = {}
    if backbone == "XTRA":
        rng = np.random.default_rng(0)
        H = [rng.normal(size=(s.n_docs("train"), 384)).astype(np.float32) for s in benchmark.sides]
        kw["doc_embeddings"] = tuple(h / np.linalg.norm(h, axis=1, keepdims=True) for h in H)
    model = build_backbone(backbone, benchmark, num_topics=50, seed=0, **kw)
    tr = Trainer(model, benchmark, epochs=2, batch_size=64, device="cpu", show_progress=False,
                 checkpoint_dir=tmp_path, checkpoint_every=1)
    hist = tr.fit()
    assert len(hist) == 2 and all(np.isfinite(h["loss"]) for h in hist)
    assert hist[1]["loss"] < hist[0]["loss"], f"{backbone} on {benchmark.name}: loss did not fall: {hist}"
    b1, b2 = model.get_beta()
    assert b1.shape == (50, benchmark.l1.vocab_size) and b2.shape == (50, benchmark.l2.vocab_size)
    assert np.allclose(np.asarray(b1).sum(1), 1, atol=1e-4) and np.allclose(np.asarray(b2).sum(1), 1, atol=1e-4)
    th = model.get_theta(benchmark.l2.test_bow[:10], 1)
    assert th.shape == (10, 50) and np.allclose(np.asarray(th).sum(1), 1, atol=1e-5)
    assert (tmp_path / "checkpoint.pt").exists()
