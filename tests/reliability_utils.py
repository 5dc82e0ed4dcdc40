"""Small shared helpers of the reliability tests (issue 10): a tiny demo corpus and noisy demo topics."""
from dataclasses import replace

import numpy as np

from llmxtm_nb.demo import load_demo
from llmxtm_nb.record import pools_from_beta

FAKE_KEY = "sk-ant-test-FAKEKEY-1234567890"


def tiny_demo(n_train: int = 160, n_test: int = 40):
    "The demo corpus cut to its first documents (fast enough for kill-and-resume tests on 2 busy cores)."
    c = load_demo()

    def cut(s):
        kw = dict(train_bow=s.train_bow[:n_train], test_bow=None if s.test_bow is None else s.test_bow[:n_test])
        for split, n in (("train", n_train), ("test", n_test)):
            for f in (f"{split}_texts", f"{split}_labels"):
                v = getattr(s, f)
                if v is not None: kw[f] = v[:n]
        return replace(s, **kw)

    return replace(c, l1=cut(c.l1), l2=cut(c.l2))


def demo_topics(k: int = 6, n: int = 8, seed: int = 0, intruders: int = 2):
    "Pools of k noisy demo topics: each topic mixes one theme's words with random intruders (what a half-trained model gives)."
    c = load_demo()
    rng = np.random.default_rng(seed)
    gt = c.ground_truth
    betas = []
    for side, key in ((c.l1, "word_theme_1"), (c.l2, "word_theme_2")):
        wt = np.array([gt[key].get(w, -1) for w in side.vocab])
        B = rng.random((k, len(side.vocab))) * 0.1
        for t in range(k):
            B[t, wt == t] += rng.random((wt == t).sum()) + 0.3
            B[t, rng.choice(np.flatnonzero(wt != t), intruders, replace=False)] = 1.2 + rng.random(intruders)
        betas.append(B / B.sum(1, keepdims=True))
    pools = pools_from_beta(betas[0], betas[1], c.l1.vocab, c.l2.vocab, c.langs, n=n)
    vocab = {c.l1.lang: c.l1.vocab, c.l2.lang: c.l2.vocab}
    themes = {c.l1.lang: gt["word_theme_1"], c.l2.lang: gt["word_theme_2"]}
    return pools, vocab, themes



from llmxtm_nb.encoders import Encoder  # noqa: E402


class HashEncoder(Encoder):
    "Test double of an encoder: deterministic unit vectors from hashed tokens (fast, offline, no model)."
    name, version, uses_kind, long_text, batch_size = "hash-test", "1", False, "truncate", 256

    def __init__(self, dim: int = 32):
        self._dim = dim

    @property
    def dim(self): return self._dim

    def _vec(self, tok: str):
        import hashlib
        seed = int.from_bytes(hashlib.sha256(tok.encode("utf-8")).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self._dim)

    def _encode_batch(self, texts, kind):
        out = np.zeros((len(texts), self._dim), np.float32)
        for i, t in enumerate(texts):
            v = sum(self._vec(x) for x in (t.split() or [t]))
            out[i] = v / (np.linalg.norm(v) + 1e-12)
        return out
