"Test doubles shared by tests/test_phase2.py and tests/test_api.py (Phase-2 area): a small demo corpus and a toy encoder."
import dataclasses

import numpy as np

from llmxtm_nb.phase2 import ToyDictionaryEncoder


def head(corpus, n_train, n_test=None):
    "`corpus` cut to its first n_train training (and n_test test, None: all) documents per side; absent texts/labels stay None."
    take = lambda x, n: x[:n] if x is not None and n is not None else x
    def cut(side):
        return dataclasses.replace(side, train_bow=take(side.train_bow, n_train), test_bow=take(side.test_bow, n_test),
                                   train_texts=take(side.train_texts, n_train), test_texts=take(side.test_texts, n_test),
                                   train_labels=take(side.train_labels, n_train), test_labels=take(side.test_labels, n_test))
    return dataclasses.replace(corpus, l1=cut(corpus.l1), l2=cut(corpus.l2))


def small_demo(n_train=256, n_test=64):
    "The demo corpus cut to its first n_train / n_test documents per side (fast Phase-2 tests)."
    from llmxtm_nb.demo import load_demo
    return head(load_demo(), n_train, n_test)


class ToyDictEncoder(ToyDictionaryEncoder):
    "The exported toy encoder, counting its calls."
    def __init__(self, corpus, d=32, seed=0):
        super().__init__(corpus, d, seed); self.calls = 0

    def _encode_batch(self, texts, kind):
        self.calls += 1
        return super()._encode_batch(texts, kind)


class CountingRefiner:
    "Wraps a refiner and counts refine_rounds calls (to prove that replayed events never call it)."
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, k): return getattr(self.inner, k)

    def refine_rounds(self, *a, **k):
        self.calls += 1
        return self.inner.refine_rounds(*a, **k)


def setup(K=5, n_train=256, seed=0):
    "(corpus, settings, toy encoder, word embeddings, doc embeddings, counting offline refiner)."
    from llmxtm_nb.core import load_settings
    from llmxtm_nb.refiners import OfflineEmbeddingRefiner
    c = small_demo(n_train)
    s = load_settings(model__num_topics=K, model__seed=seed, model__batch_size=64)
    enc = ToyDictEncoder(c)
    E = (enc.encode(c.l1.vocab, show_progress=False), enc.encode(c.l2.vocab, show_progress=False))
    H = (enc.encode(c.l1.train_texts, show_progress=False), enc.encode(c.l2.train_texts, show_progress=False))
    ref = CountingRefiner(OfflineEmbeddingRefiner(encoder=enc, embeddings={c.langs[0]: E[0], c.langs[1]: E[1]}))
    return c, s, enc, E, H, ref
