"The LLMXTM object, run directories, the main job and its report (small demo corpus, toy encoder, offline refiner)."
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from llmxtm_nb.api import LLMXTM, RunError, main_job_settings, run_main_job
from llmxtm_nb.record import RefinementRecord
from llmxtm_nb.report import build_report

from phase2_helpers import ToyDictEncoder, small_demo


@pytest.fixture(scope='module')
def corpus():
    return small_demo(256, 64)


@pytest.fixture(scope='module')
def run(corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp('run') / 'demo-run'
    out = run_main_job(out_dir=d, corpus=corpus, encoder=ToyDictEncoder(corpus), quick=True, show_progress=False,
                       log=None, model__num_topics=5, model__batch_size=64)
    return out


def test_main_job_writes_the_run_directory(run):
    for f in ('results.json', 'topics_before.csv', 'topics_after.csv', 'records/refinement_record.json', 'report.html',
              'model.pt', 'model_phase1.pt', 'settings.json', 'vocab_en.txt', 'vocab_cn.txt', 'history.json'):
        assert (run / f).exists(), f
    r = json.loads((run / 'results.json').read_text())
    assert r['num_topics'] == 5 and r['epochs'] == {'phase1': 3, 'phase2': 2}
    for st in ('before', 'after'):
        m = r['metrics'][st]
        for k in ('TU', 'CNPMI', 'TQ'): assert np.isfinite(m[k])
    assert set(r['delta']) >= {'TU', 'CNPMI'}
    assert r['refiner']['name'] == 'offline-embedding' and r['llm_cache']
    rec = RefinementRecord.load(run / 'records' / 'refinement_record.json')
    assert [e.epoch for e in rec] == [0, 1] and rec[0].rounds == 2     # quick: refine every epoch, R = 2
    assert all(t.decision.status == 'accepted' for t in rec[0].topics)
    h = json.loads((run / 'history.json').read_text())
    assert len(h['phase1']) == 3 and 'mmd' in h['phase2'][0] and 'doc_align' in h['phase2'][0]
    tb = pd.read_csv(run / 'topics_before.csv')
    assert list(tb.columns) == ['topic', 'en', 'cn'] and len(tb) == 5


def test_report_is_self_contained(run):
    page = (run / 'report.html').read_text(encoding='utf-8')
    assert page.startswith('<!DOCTYPE html>') and '</html>' in page
    assert '<script src=' not in page and '<link ' not in page     # opens offline: plotly.js inline
    assert 'Plotly' in page and len(page) > 1_000_000
    assert 'offline-embedding' in page and 'not an LLM' in page
    assert build_report(run) == page or 'written' in page


def test_load_run_directory_topics_and_transform(run, corpus):
    m = LLMXTM.load(run, corpus=corpus, encoder=ToyDictEncoder(corpus), show_progress=False)
    after = pd.read_csv(run / 'topics_after.csv')
    pd.testing.assert_frame_equal(m.topics('after'), after)
    pd.testing.assert_frame_equal(m.topics('before'), pd.read_csv(run / 'topics_before.csv'))
    assert len(m.record) == 2 and 'after' in m.results
    th = m.transform(corpus.l1.test_texts[:7], 'en')
    assert th.shape == (7, 5) and np.allclose(th.sum(1), 1, atol=1e-5)
    th_bow = m.transform(corpus.l1.test_bow[:7], 0)
    assert th_bow.shape == (7, 5)
    X = m.bow(corpus.l2.test_texts[:3], 'cn')
    assert sp.issparse(X) and X.shape == (3, len(corpus.l2.vocab)) and X.sum() > 0
    with pytest.raises(ValueError, match='unknown language'):
        m.transform(['x'], 'fr')
    with pytest.raises(TypeError, match='list of documents'):
        m.bow('one string', 'en')


def test_load_errors(tmp_path, corpus):
    with pytest.raises(RunError, match='model.pt'):
        LLMXTM.load(tmp_path, corpus=corpus)


def test_object_workflow_refine_review_phase2(corpus, tmp_path):
    m = LLMXTM(corpus, encoder=ToyDictEncoder(corpus), show_progress=False, model__num_topics=5, model__batch_size=64,
               model__epochs=2, phase2__epochs=2, refine__frequency=5, refine__rounds=2)
    with pytest.raises(RunError, match='fit_phase1'):
        m.fit_phase2()
    m.fit_phase1()
    ev = m.refine()
    assert len(ev.topics) == 5 and ev.epoch == 0
    ev.reject(0, who='me')
    m.review()                                          # accept the rest
    assert [t.decision.status for t in ev.topics][:2] == ['rejected', 'accepted']
    calls_before = m.refiner.stats.requests if hasattr(m.refiner, 'stats') else None
    m.fit_phase2()
    assert m.record[0].topic(0).decision.status == 'rejected'      # the reviewed event was replayed
    assert m.event_log[0]['source'] == 'record'
    res = m.evaluate('after', classify=False)
    assert 'TU' in res['metrics']
    d = m.save(tmp_path / 'r')
    assert (d / 'records' / 'reviewed_first_event.json').exists()


def test_demo_defaults_and_quick():
    s = main_job_settings(dataset='demo')
    assert (s.model.num_topics, s.model.backbone, s.phase2.epochs, s.refine.frequency) == (10, 'NMTM', 20, 10)
    s = main_job_settings(dataset='demo', backbone='InfoCTM', quick=True)
    assert s.model.backbone == 'InfoCTM' and s.model.epochs == 3 and s.phase2.epochs == 2


def test_report_training_curve_puts_phase2_after_phase1():
    from llmxtm_nb.report import loss_figure_html
    hist = {"phase1": [{"epoch": i, "loss": 10.0 - i} for i in range(3)],
            "phase2": [{"epoch": i, "loss": 5.0, "L_mmd": 0.1} for i in range(2)]}
    import base64, re
    html = loss_figure_html(hist, include_plotlyjs=False)
    xs = re.findall(r'"x":\{"dtype":"i1","bdata":"([^"]+)"\}', html)  # plotly writes int arrays base64-encoded
    assert xs and list(base64.b64decode(xs[0])) == [1, 2, 3, 4, 5]  # phase-2 epochs continue after phase 1's
