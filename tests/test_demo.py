"""The built-in demo corpus: offline, fast, consistent ground truth, reproducible, themes recoverable."""
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from llmxtm_nb.data import load_corpus
from llmxtm_nb.demo import AMBIGUOUS, build_demo, demo_dir, demo_lexicon, load_demo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def demo():
    return load_demo()


def test_loads_fast_and_offline():
    t = time.perf_counter(); c = load_demo(); dt = time.perf_counter() - t
    assert dt < 1.0, f'demo took {dt:.2f} s to load'
    assert c.name == 'demo' and c.langs == ('en', 'cn')
    assert load_corpus('demo').l1.n_docs() == c.l1.n_docs()
    assert load_corpus().name == 'demo'        # settings default: data.dataset = demo


def test_sizes(demo):
    for s in demo.sides:
        assert s.n_docs('train') == 2000 and s.n_docs('test') == 500
        assert 250 <= s.vocab_size <= 400
        lengths = np.asarray(s.train_bow.sum(1)).ravel()
        assert lengths.min() >= 40 and lengths.max() <= 80
        assert len(s.empty_docs('train')) == 0 and not s.texts_rebuilt
    assert len(demo.reference[0]) == len(demo.reference[1]) == 1000
    files = sum(p.stat().st_size for p in demo_dir().iterdir())
    assert files < 2_000_000


def test_texts_are_the_bow(demo):
    for s in demo.sides:
        for i in (0, 17, 1999):
            toks = s.train_texts[i].split()
            row = s.train_bow[i]
            assert len(toks) == row.sum()
            ix = s.word_index
            counts = np.bincount([ix[t] for t in toks], minlength=s.vocab_size)
            assert np.array_equal(counts, row.toarray().ravel())


def test_ground_truth(demo):
    gt = demo.ground_truth
    assert len(gt['themes']) == 10
    assert np.array_equal(gt['doc_theme_1'], demo.l1.train_labels)
    assert set(demo.l1.label_counts()) == set(range(10))
    assert min(demo.l2.label_counts().values()) > 100          # every theme is well represented
    for k, s in ((1, demo.l1), (2, demo.l2)):
        wt = gt[f'word_theme_{k}']
        assert set(wt) == set(s.vocab)
        assert all(-1 <= v < 10 for v in wt.values())
    assert all(gt['word_theme_1'][w] == -1 for w in AMBIGUOUS if w in gt['word_theme_1'])
    assert gt['word_theme_2']['音高'] == gt['themes'].index('music') and gt['word_theme_2']['球场'] == gt['themes'].index('football')


def test_dictionary_is_partial_and_consistent(demo):
    cov = demo.coverage()
    assert 0.75 < cov['en'] < 0.95 and 0.75 < cov['cn'] < 0.95
    gt = demo.ground_truth
    for en, cn in demo.dictionary.pairs:     # a dictionary pair never links two different themes
        t1, t2 = gt['word_theme_1'][en], gt['word_theme_2'][cn]
        assert t1 == -1 or t2 == -1 or t1 == t2


def test_reference_is_aligned(demo):
    """Aligned pairs share themes: translations co-occur far more often in aligned pairs than in shuffled ones."""
    r1 = [set(d.split()) for d in demo.reference[0]]; r2 = [set(d.split()) for d in demo.reference[1]]
    pairs = [(a, b) for a, b in demo.dictionary.pairs if demo.ground_truth['word_theme_1'][a] >= 0][:80]
    aligned = sum(a in x and b in y for x, y in zip(r1, r2) for a, b in pairs)
    shuffled = sum(a in x and b in y for x, y in zip(r1, r2[1:] + r2[:1]) for a, b in pairs)
    assert aligned > 2 * shuffled


def test_lexicon_checks():
    lex = demo_lexicon()
    assert len(lex['themes']) == 10 and all(28 <= len(v) <= 32 for v in lex['theme_pairs'].values())
    zh = [z for v in lex['theme_pairs'].values() for _, z in v if z != '病毒']
    assert len(zh) == len(set(zh))


def test_rebuild_is_reproducible(tmp_path):
    build_demo(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in demo_dir().iterdir() if p.name != '__pycache__')
    for n in names:
        a, b = tmp_path / n, demo_dir() / n
        if n.endswith('.npz'):
            assert (sp.load_npz(a) != sp.load_npz(b)).nnz == 0, n
        else:
            assert a.read_bytes() == b.read_bytes(), n


def test_themes_recoverable_by_a_simple_model(demo):
    """NMF with K=10 on tf-idf is a weak stand-in for a topic model; it must still find most planted themes."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfTransformer
    for k, s in ((1, demo.l1), (2, demo.l2)):
        X = TfidfTransformer().fit_transform(s.train_bow)
        H = NMF(10, init='nndsvd', random_state=0, max_iter=300).fit(X).components_
        wt = demo.ground_truth[f'word_theme_{k}']
        found = set()
        for row in H:
            top = [wt[s.vocab[j]] for j in np.argsort(-row)[:10]]
            vals, cnt = np.unique(top, return_counts=True)
            if vals[cnt.argmax()] >= 0 and cnt.max() >= 7:
                found.add(int(vals[cnt.argmax()]))
        assert len(found) >= 7, (s.lang, sorted(found))


def test_batches_on_demo(demo):
    b = demo.batches(128, seed=0)
    assert len(b) == 16
    x = next(iter(b))
    assert tuple(x.x1.shape) == (128, demo.l1.vocab_size) and float(x.x1.sum(1).min()) >= 40


@pytest.mark.slow
def test_demo_loads_from_installed_wheel(installed_wheel, tmp_path):
    whl, target = installed_wheel
    names = zipfile.ZipFile(whl).namelist()
    assert 'llmxtm_nb/assets/demo/train_texts_en.txt.gz' in names and 'llmxtm_nb/assets/manifest.json' in names
    code = ("import llmxtm_nb.demo as d; c = d.load_demo(); print(d.demo_dir()); "
            "print(c.l1.n_docs(), c.l2.n_docs(), len(c.reference[0]))")
    r = subprocess.run([sys.executable, '-I', '-c', f'import sys; sys.path.insert(0, {str(target)!r}); ' + code],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, counts = r.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(target)) and counts == '2000 2000 1000'
