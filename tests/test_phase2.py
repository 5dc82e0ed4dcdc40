"Phase 2 (Algorithm 1) on the Phase-1 Trainer: targets, review/replay, ablations, resume."
import copy

import numpy as np
import pytest
import torch

from llmxtm_nb.losses import Logits, LossInputError
from llmxtm_nb.phase2 import (Phase2, Phase2Config, TargetSets, accept_all, fit_phase2, targets_from_event,
                              topic_texts)
from llmxtm_nb.record import RefinementEvent, RefinementRecord, RoundResult, TopicPool, TopicRefinement
from llmxtm_nb.trainer import Trainer, build_backbone

from phase2_helpers import setup


@pytest.fixture(scope='module')
def base():
    "A small corpus and a briefly trained Phase-1 NMTM (state dict), shared by the tests."
    c, s, enc, E, H, ref = setup(K=5)
    m = build_backbone('NMTM', c, s)
    Trainer(m, c, s, epochs=2, show_progress=False).fit()
    return c, s, enc, E, H, copy.deepcopy(m.state_dict())


def _model(base):
    c, s, *_ , state = base
    m = build_backbone('NMTM', c, s)
    m.load_state_dict(state)
    return m


def _refiner(base):
    from phase2_helpers import CountingRefiner
    from llmxtm_nb.refiners import OfflineEmbeddingRefiner
    c, s, enc, E, H, _ = base
    return CountingRefiner(OfflineEmbeddingRefiner(encoder=enc, embeddings={c.langs[0]: E[0], c.langs[1]: E[1]}))


def _run(base, epochs=4, **kw):
    c, s, enc, E, H, _ = base
    m = _model(base)
    ref = kw.pop('refiner', None) or _refiner(base)
    tr, cb = fit_phase2(m, c, s, refiner=ref, encoder=enc, word_emb=E, doc_emb=H, epochs=epochs,
                        show_progress=False, **{'frequency': 2, 'rounds': 2, **kw})
    return m, tr, cb, ref


def _event(epoch=0):
    def pool(k, en, cn): return TopicPool(k, {'en': [(w, 0.2) for w in en], 'cn': [(w, 0.1) for w in cn]})
    ok = lambda en, cn: RoundResult('x', {'en': en, 'cn': cn})
    t0 = TopicRefinement(0, pool(0, ['a', 'b'], ['甲']), rounds=[ok(['a', 'c'], ['甲'])] * 3,
                         votes={'en': {'a': 3, 'c': 2}, 'cn': {'甲': 3}}, refined={'en': ['a', 'c'], 'cn': ['甲']})
    t1 = TopicRefinement(1, pool(1, ['d'], ['乙']), rounds=[RoundResult(None, None, 'timeout')] * 3)
    t2 = TopicRefinement(2, pool(2, ['b', 'd'], ['乙']), rounds=[ok(['zzz'], ['丁'])] * 3,
                         votes={'en': {'zzz': 3}, 'cn': {'丁': 3}}, refined={'en': ['zzz'], 'cn': ['丁']})
    return RefinementEvent(epoch, {'name': 'hand'}, 3, 15, ('en', 'cn'), [t0, t1, t2])


VOCAB = {'en': {'a': 0, 'b': 1, 'c': 2, 'd': 3}, 'cn': {'甲': 0, '乙': 1}}


def test_targets_rules_accept_fail_oov_reject_edit():
    ev = _event()
    ts = targets_from_event(ev, VOCAB, 3)
    assert ts.sets[0] == {'en': {'a': 3.0, 'c': 2.0}, 'cn': {'甲': 3.0}}
    assert ts.sets[1] is None and ts.kept_previous == [1]           # all rounds failed, nothing before
    assert ts.sets[2] == {'en': {}, 'cn': {}} and ts.oov == 2         # every refined word out of vocabulary
    assert ts.no_target == [1, 2]
    prev = TargetSets([None, {'en': {'d': 1.0}, 'cn': {}}, None], [{}] * 3)
    assert targets_from_event(_event(10), VOCAB, 3, previous=prev).sets[1] == {'en': {'d': 1.0}, 'cn': {}}
    ev.reject(0); ev.edit(2, {'en': ['b', 'd'], 'cn': ['乙']})
    ts = targets_from_event(ev, VOCAB, 3)
    assert ts.sets[0] == {'en': {'a': 0.2, 'b': 0.2}, 'cn': {'甲': 0.1}}  # rejected: the pool with its β weights
    assert ts.sets[2] == {'en': {'b': 1.0, 'd': 1.0}, 'cn': {'乙': 1.0}}
    assert topic_texts(ts, ('en', 'cn'))[1] == 'd 乙'                    # no target: current top words


def test_accept_all_records_decisions():
    ev = accept_all(_event())
    assert [t.decision.status for t in ev.topics] == ['accepted', 'pending', 'accepted']
    assert ev.topics[0].decision.who == 'auto'


def test_config_validation():
    from llmxtm_nb.core import load_settings
    s = load_settings()
    for bad in (dict(lambda_mmd=-1), dict(lambda_qa=float('nan')), dict(tau=0), dict(discrepancy='w'),
                dict(kl_direction='sideways'), dict(frequency=0), dict(lr_factor=0)):
        with pytest.raises(LossInputError):
            Phase2Config.from_settings(s, **bad)


def test_phase2_run_logs_terms_lr_and_refines_every_F(base):
    c, s, *_ = base
    m, tr, cb, ref = _run(base, epochs=4)
    assert ref.calls == 2 and [e.epoch for e in cb.record] == [0, 2]
    h = tr.history
    assert len(h) == 4
    for row in h:
        for k in ('loss', 'mmd', 'doc_align', 'L_mmd', 'L_doc', 'mmd_topics_skipped'):
            assert k in row and np.isfinite(row[k])
        assert row['mmd'] == pytest.approx(20000 * row['L_mmd']) and row['doc_align'] == pytest.approx(100 * row['L_doc'])
    base_lr = s.backbone_params('NMTM')['learning_rate']
    assert h[0]['lr'] == pytest.approx(0.3 * base_lr) and tr.clip_norm == 1.0
    assert all(t.decision.status == 'accepted' for t in cb.record[0].topics)
    assert [e['source'] for e in cb.event_log] == ['refiner', 'refiner']
    # the MMD term decreases while the targets are fixed (epochs 0 -> 1 share the first event's targets)
    assert h[1]['L_mmd'] < h[0]['L_mmd']


def test_tau_auto_calibrates_one_temperature_per_event_from_the_embeddings(base):
    "tau='auto' (settings word or argument): the event log records the temperature, and the targets use it."
    from llmxtm_nb.losses import auto_tau, doc_topic_cosines, doc_topic_targets
    from llmxtm_nb.phase2 import topic_texts
    c, s, enc, E, H, _ = base
    assert Phase2Config.from_settings(s.replace(phase2__tau='AUTO')).tau == 'auto'
    m, tr, cb, ref = _run(base, epochs=2, tau='auto')
    taus = [e['tau'] for e in cb.event_log]
    assert len(taus) == 1 and 0 < taus[0] < 1
    T = enc.encode(topic_texts(cb.targets, c.langs), kind='query', show_progress=False)
    cos = [doc_topic_cosines(h, T) for h in H]
    assert taus[0] == pytest.approx(auto_tau(torch.cat([x for x, _ in cos])), rel=1e-6)
    assert torch.allclose(cb.losses.theta_hat1.cpu(), doc_topic_targets(H[0], T, taus[0]), atol=1e-6)
    # a fixed temperature is recorded as given
    _, _, cb2, _ = _run(base, epochs=1, tau=0.25)
    assert cb2.event_log[0]['tau'] == 0.25
    # target_centering='language': each language's cosines lose their per-topic mean before tau and the softmax
    from llmxtm_nb.losses import center_cosines
    _, _, cb3, _ = _run(base, epochs=1, tau='auto', target_centering='language')
    T3 = enc.encode(topic_texts(cb3.targets, c.langs), kind='query', show_progress=False)
    cc = [center_cosines(*doc_topic_cosines(h, T3)) for h in H]
    assert cb3.event_log[0]['tau'] == pytest.approx(auto_tau(torch.cat(cc)), rel=1e-6)
    want = torch.softmax(cc[1] / cb3.event_log[0]['tau'], dim=1)
    assert torch.allclose(cb3.losses.theta_hat2.cpu(), want, atol=1e-6)
    with pytest.raises(LossInputError, match='target_centering'):
        Phase2Config(target_centering='topic')


def test_phase2_changes_beta_towards_targets(base):
    "With only the MMD term, the model's mass on the refined words grows."
    c, s, *_ = base
    m0 = _model(base)
    m, tr, cb, ref = _run(base, epochs=3, use_doc_align=False, frequency=10)
    ts = cb.targets
    widx = [{w: i for i, w in enumerate(c.l1.vocab)}, {w: i for i, w in enumerate(c.l2.vocab)}]
    def mass(model):
        b1, b2 = model.get_beta()
        return np.mean([sum(b1[k, widx[0][w]] for w in (ts.sets[k] or {}).get(c.langs[0], {})) for k in range(5)])
    assert mass(m) > mass(m0)
    assert 'doc_align' not in tr.history[0]


@pytest.mark.parametrize('kw,present,absent', [
    (dict(use_mmd=False), ['doc_align'], ['mmd', 'ot']),
    (dict(use_doc_align=False), ['mmd'], ['doc_align']),
    (dict(discrepancy='ot'), ['ot', 'doc_align', 'L_ot'], ['mmd']),
    (dict(discrepancy='ot', mmd_support='union'), ['ot', 'doc_align', 'L_ot'], ['mmd']),
    (dict(rounds=1, kl_direction='reverse', mmd_kernel='multi'), ['mmd', 'doc_align'], []),
])
def test_ablations_are_settings(base, kw, present, absent):
    m, tr, cb, ref = _run(base, epochs=2, **kw)
    row = tr.history[-1]
    assert all(k in row and np.isfinite(row[k]) for k in present)
    assert not any(k in row for k in absent)
    if kw.get('rounds') == 1: assert cb.record[0].rounds == 1


def test_reviewed_record_is_replayed_not_refined(base, tmp_path):
    c, s, enc, E, H, _ = base
    m, tr, cb, ref = _run(base, epochs=1, frequency=5)
    ev = cb.record[0]
    ev.reject(0, who='tester'); ev.edit(1, {c.langs[0]: [c.l1.vocab[3], c.l1.vocab[4]]}, who='tester')
    path = RefinementRecord([ev]).save(tmp_path / 'reviewed.json')
    m2, tr2, cb2, ref2 = _run(base, epochs=2, frequency=5, reviewed_record=path)
    assert ref2.calls == 0 and cb2.event_log[0]['source'] == 'record'
    assert cb2.record[0].topic(0).decision.status == 'rejected' and cb2.record[0].topic(1).decision.who == 'tester'
    assert set(cb2.targets.sets[1][c.langs[0]]) == {c.l1.vocab[3], c.l1.vocab[4]}


def test_oov_only_topic_is_skipped_and_counted(base):
    c, s, enc, E, H, _ = base
    m, tr, cb, ref = _run(base, epochs=1, frequency=5)
    ev = cb.record[0]
    for t in ev.topics[:2]:     # two topics whose refined words are all outside the vocabulary
        t.votes = {l: {'notaword1': 2, 'notaword2': 1} for l in ev.langs}
        t.refined = {l: ['notaword1', 'notaword2'] for l in ev.langs}
        t.decision.status = 'accepted'
    m2, tr2, cb2, _ = _run(base, epochs=1, frequency=5, reviewed_record=RefinementRecord([ev]))
    assert tr2.history[0]['mmd_topics_skipped'] == 2 and np.isfinite(tr2.history[0]['mmd'])
    assert cb2.event_log[0]['oov_dropped'] == 8


def test_zero_norm_embedding_of_nonempty_document_is_an_error(base):
    c, s, enc, E, H, _ = base
    H2 = (H[0].copy(), H[1]); H2[0][5] = 0
    with pytest.raises(LossInputError, match=r'non-empty document.*\[5\]'):
        fit_phase2(_model(base), c, s, refiner=_refiner(base), encoder=enc, word_emb=E, doc_emb=H2, epochs=1,
                   show_progress=False)


def test_lambda_tau_out_of_range_fail_before_training(base):
    c, s, enc, E, H, _ = base
    ref = _refiner(base)
    for bad in (dict(lambda_mmd=-5), dict(tau=-0.1)):
        with pytest.raises(LossInputError, match='lambda_mmd|tau'):
            fit_phase2(_model(base), c, s, refiner=ref, encoder=enc, word_emb=E, doc_emb=H, epochs=1, show_progress=False, **bad)
    assert ref.calls == 0


class _Interrupt:
    def __init__(self, at): self.at = at
    def on_epoch_start(self, trainer, epoch):
        if epoch == self.at: raise KeyboardInterrupt


def test_resume_gives_the_same_result_and_replays_refinements(base, tmp_path):
    c, s, enc, E, H, _ = base
    kw = dict(encoder=enc, word_emb=E, doc_emb=H, epochs=5, frequency=2, rounds=2, show_progress=False)
    mA = _model(base); refA = _refiner(base)
    trA, cbA = fit_phase2(mA, c, s, refiner=refA, checkpoint_dir=tmp_path / 'a', **kw)
    assert refA.calls == 3                                   # events at Phase-2 epochs 0, 2, 4
    mB = _model(base); refB = _refiner(base)
    with pytest.raises(KeyboardInterrupt):
        fit_phase2(mB, c, s, refiner=refB, checkpoint_dir=tmp_path / 'b', callbacks=[_Interrupt(3)], **kw)
    assert refB.calls == 2
    mC = _model(base); refC = _refiner(base)
    trC, cbC = fit_phase2(mC, c, s, refiner=refC, checkpoint_dir=tmp_path / 'b', resume=True, **kw)
    assert refC.calls == 1                                   # only the event at epoch 4; 0 and 2 replayed
    assert [e.epoch for e in cbC.record] == [0, 2, 4]
    bA, bC = mA.get_beta(), mC.get_beta()
    assert np.allclose(bA[0], bC[0], atol=1e-6) and np.allclose(bA[1], bC[1], atol=1e-6)
    assert [round(h['loss'], 4) for h in trA.history] == [round(h['loss'], 4) for h in trC.history]


def test_decoder_weight_memo_matches_model_beta_and_carries_gradient(base):
    "Phase 2 reuses the forward pass's decoder weights for β (no second translation-map pass); values and gradients match."
    c, s, enc, E, H, _ = base
    m = _model(base); m.train()
    cb = Phase2(c, s, refiner=_refiner(base), encoder=enc, word_emb=E, doc_emb=H)
    cb._memo_decoder(m)
    batch = next(iter(c.batches(64, seed=0)))
    out = m(batch)
    l1, l2 = cb._beta(m, out)                                 # the decoder's logits, marked as such
    assert isinstance(l1, Logits) and l1.w.requires_grad and cb._dw is None   # consumed: never reused in a later step
    r1, r2 = m.beta()
    assert torch.allclose(l1.probs(), r1) and torch.allclose(l2.probs(), r2)
    idx = torch.arange(3).repeat(r1.shape[0], 1)
    assert torch.allclose(l1.gather(1, idx), r1.gather(1, idx)) and torch.allclose(l2.gather(1, idx), r2.gather(1, idx))
    (l1.gather(1, idx).sum() + l2.gather(1, idx).sum()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    cb._dw = None
    m.get_beta()                                                # a no-grad call must not be taken for a training β
    assert cb._dw is not None and cb._beta(m, {})[0].requires_grad   # recomputed β (a tensor), with gradient
    cb.on_train_end(None)
    assert 'decoder_weights' not in vars(m)
