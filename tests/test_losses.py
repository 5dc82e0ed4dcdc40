"Tests of llmxtm_nb.losses against direct formulas on small inputs."
import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmxtm_nb.losses import (LossInputError, MMDTarget, Phase2Losses, build_mmd_target, check_finite,
                              check_phase2_weights, cosine_distance, doc_align_loss, doc_topic_targets,
                              gaussian_kernel, median_bandwidth, mmd_loss, ot_loss, raw_weights,
                              sinkhorn_plan_reference, weighted_mmd2)

D64 = torch.float64


def _problem(seed=0, K=4, V1=12, V2=10, d=6, N=4, M=3, empty=()):
    g = torch.Generator().manual_seed(seed)
    E1 = torch.randn(V1, d, generator=g, dtype=D64); E2 = torch.randn(V2, d, generator=g, dtype=D64)
    raw, tg = [], []
    for k in range(K):
        r1 = torch.randperm(V1, generator=g)[:N].tolist(); r2 = torch.randperm(V2, generator=g)[:N - 1].tolist()
        raw.append((r1, r2))
        if k in empty: tg.append(None); continue
        t1 = torch.randperm(V1, generator=g)[:M].tolist(); t2 = torch.randperm(V2, generator=g)[:M].tolist()
        w1 = (torch.randint(1, 6, (M,), generator=g)).double().tolist(); w2 = (torch.randint(1, 6, (M,), generator=g)).double().tolist()
        tg.append(((t1, w1), (t2, w2)))
    b1 = torch.softmax(torch.randn(K, V1, generator=g, dtype=D64), 1)
    b2 = torch.softmax(torch.randn(K, V2, generator=g, dtype=D64), 1)
    return E1, E2, raw, tg, b1, b2


def _direct_topic(E1, E2, r, t, b1k, b2k, sigma, factors=(1.0,)):
    "Weighted MMD^2 of one topic by the three sums, half mass per language on both sides."
    n1, n2 = F.normalize(E1, dim=1), F.normalize(E2, dim=1)
    X = torch.cat([n1[r[0]], n2[r[1]]])
    w = torch.cat([b1k[r[0]] / b1k[r[0]].sum() / 2, b2k[r[1]] / b2k[r[1]].sum() / 2])
    (t1, w1), (t2, w2) = t
    Y = torch.cat([n1[t1], n2[t2]])
    w1, w2 = torch.tensor(w1, dtype=D64), torch.tensor(w2, dtype=D64)
    u = torch.cat([w1 / w1.sum() / 2, w2 / w2.sum() / 2])
    return sum(weighted_mmd2(X, w, Y, u, f * sigma) for f in factors), X, w, Y, u


@pytest.mark.parametrize('kernel,factors', [('median', (1.0,)), ('multi', (0.5, 1.0, 2.0))])
def test_mmd_matches_three_sum_formula(kernel, factors):
    E1, E2, raw, tg, b1, b2 = _problem(1)
    T = build_mmd_target(raw, tg, E1, E2, kernel=kernel, dtype=D64)
    got = mmd_loss(b1, b2, T, reduction='none')
    for k in range(len(raw)):
        ref, *_ = _direct_topic(E1, E2, raw[k], tg[k], b1[k], b2[k], T.sigma[k].item(), factors)
        assert got[k].item() == pytest.approx(ref.item(), abs=1e-12)
        assert got[k].item() >= -1e-12
    assert mmd_loss(b1, b2, T).item() == pytest.approx(got.mean().item(), abs=1e-12)


def test_median_bandwidth_is_median_of_pooled_distances():
    E1, E2, raw, tg, b1, b2 = _problem(2)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    _, X, _, Y, _ = _direct_topic(E1, E2, raw[0], tg[0], b1[0], b2[0], 1.0)
    Z = torch.cat([X, Y]); D = cosine_distance(Z, Z)
    iu = torch.triu_indices(len(Z), len(Z), 1)
    vals = D[iu[0], iu[1]]
    # torch.nanmedian returns the lower median; the off-diagonal matrix holds each distance twice
    both = torch.cat([vals, vals]).sort().values
    assert T.sigma[0].item() == pytest.approx(both[(len(both) - 1) // 2].item(), abs=1e-12)
    # distance is sqrt(2 - 2 cos) = euclidean distance of unit vectors
    assert D[0, 1].item() == pytest.approx((Z[0] - Z[1]).norm().item(), abs=1e-10)


def test_mmd_gradient_wrt_weights_closed_form():
    "d MMD^2 / d p = 2 K (p - q) on the model slots; chained through the half-per-language normalisation."
    E1, E2, raw, tg, b1, b2 = _problem(3, K=1)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    p = raw_weights(b1, b2, T)[0]
    n = p.shape[0]
    q = T.q[0]
    diff = torch.cat([p, torch.zeros(q.shape[0] - n, dtype=D64)]) - q
    grad_p = (2 * T.kmat[0] @ diff)[:n]
    # closed-form Jacobian of the normalisation p_i = 0.5 * beta_i / s_lang
    N = T.raw_idx.shape[2]
    B1 = b1.clone().requires_grad_(True)
    loss = mmd_loss(B1, b2, T)
    loss.backward()
    expected = torch.zeros_like(b1[0])
    idx1 = T.raw_idx[0, 0][T.raw_mask[0, 0]]
    s = b1[0, idx1].sum()
    g1 = grad_p[:N][T.raw_mask[0, 0]]
    for a, va in enumerate(idx1.tolist()):
        for c, vc in enumerate(idx1.tolist()):
            dpa_dbc = 0.5 * ((a == c) / s - b1[0, va] / s ** 2)
            expected[vc] += g1[a] * dpa_dbc
    assert torch.allclose(B1.grad[0], expected, atol=1e-12)
    # words outside the fixed top set get no gradient
    out = torch.ones(b1.shape[1], dtype=torch.bool); out[idx1] = False
    assert torch.all(B1.grad[0][out] == 0)


def test_mmd_gradcheck_float64():
    E1, E2, raw, tg, b1, b2 = _problem(4, K=3)
    T = build_mmd_target(raw, tg, E1, E2, kernel='multi', dtype=D64)
    z1 = torch.randn(b1.shape, dtype=D64, requires_grad=True)
    z2 = torch.randn(b2.shape, dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: mmd_loss(torch.softmax(a, 1), torch.softmax(b, 1), T), (z1, z2))


def test_mmd_zero_when_distributions_match():
    E1, E2, raw, tg, b1, b2 = _problem(5, K=1)
    # target = the model's own words with the model's own weights
    r = raw[0]
    tg = [((r[0], b1[0, r[0]].tolist()), (r[1], b2[0, r[1]].tolist()))]
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    assert mmd_loss(b1, b2, T).item() == pytest.approx(0.0, abs=1e-12)


def test_empty_and_oov_topics_are_skipped_and_counted():
    E1, E2, raw, tg, b1, b2 = _problem(6, K=4, empty=(1,))
    tg[2] = (([], []), ([], []))         # every refined word out of vocabulary -> nothing left
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    assert T.n_skipped == 2 and T.skipped == [1, 2]
    per = mmd_loss(b1, b2, T, reduction='none')
    assert per[1].item() == 0 and per[2].item() == 0
    assert mmd_loss(b1, b2, T).item() == pytest.approx(per[[0, 3]].mean().item(), abs=1e-12)
    z = torch.randn(b1.shape, dtype=D64, requires_grad=True)
    for fn in (mmd_loss, ot_loss):
        z.grad = None
        out = fn(torch.softmax(z, 1), b2, T)
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(z.grad).all()
    # all topics empty: loss 0, never NaN
    T0 = build_mmd_target(raw, [None] * 4, E1, E2, dtype=D64)
    assert T0.n_skipped == 4
    assert mmd_loss(b1, b2, T0).item() == 0 and ot_loss(b1, b2, T0).item() == 0


def test_one_language_missing_gets_all_mass():
    E1, E2, raw, tg, b1, b2 = _problem(7, K=1)
    tg = [((tg[0][0][0], tg[0][0][1]), ([], []))]
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    M = T.tgt_mask.shape[1] // 2
    q = T.q[0, -2 * M:]
    assert q[:M].sum().item() == pytest.approx(1.0) and q[M:].sum().item() == 0


def test_build_target_errors():
    E1, E2, raw, tg, b1, b2 = _problem(8, K=2)
    with pytest.raises(LossInputError, match='out of range'):
        build_mmd_target([([0, 99], [1])] + raw[1:], tg, E1, E2)
    E1z = E1.clone(); E1z[raw[0][0][0]] = 0
    with pytest.raises(LossInputError, match='zero or non-finite norm'):
        build_mmd_target(raw, tg, E1z, E2)
    with pytest.raises(LossInputError, match='topics'):
        build_mmd_target(raw, tg[:1], E1, E2)
    with pytest.raises(LossInputError, match='mmd_kernel'):
        build_mmd_target(raw, tg, E1, E2, kernel='laplace')


def _ot_reference(T, b1, b2, k, epsilon):
    p = raw_weights(b1, b2, T)[k]; pm = T.raw_mask[k].flatten(); qm = T.tgt_mask[k]
    n = p.shape[0]
    pp, qq = p[pm].numpy(), T.q[k, n:][qm].numpy(); C = T.cost[k][pm][:, qm].numpy()
    eps = epsilon * C.mean()
    P = sinkhorn_plan_reference(pp, qq, C, eps, iters=5000)
    return (P * C).sum() + eps * (P * np.log(P / np.outer(pp, qq))).sum(), P, C


def test_ot_matches_dense_sinkhorn_and_cost_is_squared_distance():
    E1, E2, raw, tg, b1, b2 = _problem(9)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    got = ot_loss(b1, b2, T, epsilon=0.3, iters=1000, reduction='none')
    for k in range(len(raw)):
        ref, P, C = _ot_reference(T, b1, b2, k, 0.3)
        assert got[k].item() == pytest.approx(ref, abs=1e-8)
        # transport cost <P, C> is below the regularised value and above 0
        assert 0 <= (P * C).sum() <= ref + 1e-9
    _, X, _, Y, _ = _direct_topic(E1, E2, raw[0], tg[0], b1[0], b2[0], 1.0)
    assert T.cost[0, 0, 0].item() == pytest.approx(((X[0] - Y[0]) ** 2).sum().item(), abs=1e-10)


def test_ot_gradient_is_envelope_gradient():
    "Gradient of the detached-potential OT loss equals the numerical gradient of the converged OT value."
    E1, E2, raw, tg, b1, b2 = _problem(10, K=2)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    z = torch.randn(b1.shape, dtype=D64, requires_grad=True)
    f = lambda a: ot_loss(torch.softmax(a, 1), b2, T, epsilon=0.5, iters=2000)
    assert torch.autograd.gradcheck(f, (z,), eps=1e-6, atol=1e-6)


def test_doc_align_forward_reverse_direct():
    g = torch.Generator().manual_seed(0)
    th = torch.softmax(torch.randn(5, 4, generator=g, dtype=D64), 1)
    H = torch.randn(5, 8, generator=g, dtype=D64); Tt = torch.randn(4, 8, generator=g, dtype=D64)
    tau = 0.2
    that = doc_topic_targets(H, Tt, tau, dtype=D64)
    s = F.normalize(H, dim=1) @ F.normalize(Tt, dim=1).T
    ref_hat = torch.exp(s / tau) / torch.exp(s / tau).sum(1, keepdim=True)
    assert torch.allclose(that, ref_hat, atol=1e-12)
    fwd = sum((th[d] * (th[d] / ref_hat[d]).log()).sum() for d in range(5)) / 5
    rev = sum((ref_hat[d] * (ref_hat[d] / th[d]).log()).sum() for d in range(5)) / 5
    assert doc_align_loss(th, that).item() == pytest.approx(fwd.item(), abs=1e-12)
    assert doc_align_loss(th, that, 'reverse').item() == pytest.approx(rev.item(), abs=1e-12)
    assert doc_align_loss(th, that, reduction='sum').item() == pytest.approx(5 * fwd.item(), abs=1e-10)
    # gradient of the forward KL wrt theta: log(theta/theta_hat) + 1 (per document, / B)
    th2 = th.clone().requires_grad_(True)
    doc_align_loss(th2, that).backward()
    assert torch.allclose(th2.grad, ((th / that).log() + 1) / 5, atol=1e-12)


def test_doc_align_zero_probabilities_and_errors():
    th = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
    that = torch.tensor([[0.5, 0.25, 0.25]])
    out = doc_align_loss(th, that)
    out.backward()
    assert out.item() == pytest.approx(math.log(2)) and torch.isfinite(th.grad).all()
    assert torch.isfinite(doc_align_loss(th, that, 'reverse'))
    with pytest.raises(LossInputError, match='kl_direction'):
        doc_align_loss(th, that, 'both')
    with pytest.raises(LossInputError, match='shape'):
        doc_align_loss(th, that[:, :2])
    H = torch.randn(4, 3); H[2] = 0
    with pytest.raises(LossInputError, match=r'document embeddings.*\[2\]'):
        doc_topic_targets(H, torch.randn(2, 3), 0.1)
    with pytest.raises(LossInputError, match='topic embeddings'):
        doc_topic_targets(torch.randn(4, 3), torch.zeros(2, 3), 0.1)
    for tau in (0, -1, float('inf'), 'x'):
        with pytest.raises(LossInputError, match='phase2.tau'):
            doc_topic_targets(torch.randn(4, 3), torch.randn(2, 3), tau)


@pytest.mark.parametrize('lm,lq', [(-1, 1), (1, -0.1), (float('nan'), 1), (1, float('inf')), ('a', 1)])
def test_lambda_out_of_range(lm, lq):
    with pytest.raises(LossInputError, match='lambda'):
        check_phase2_weights(lm, lq, 0.1)


def test_check_finite_names_term():
    with pytest.raises(FloatingPointError, match="'doc_align'"):
        check_finite('doc_align', torch.tensor([1.0, float('nan')]))


def test_phase2losses_batch_indexing_and_options():
    E1, E2, raw, tg, b1, b2 = _problem(11, K=3)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    g = torch.Generator().manual_seed(1)
    th1 = torch.softmax(torch.randn(7, 3, generator=g, dtype=D64), 1); th2 = torch.softmax(torch.randn(5, 3, generator=g, dtype=D64), 1)
    L = Phase2Losses(T, th1, th2)
    t1 = torch.softmax(torch.randn(2, 3, generator=g, dtype=D64), 1); t2 = torch.softmax(torch.randn(3, 3, generator=g, dtype=D64), 1)
    i1, i2 = torch.tensor([6, 0]), torch.tensor([4, 4, 1])
    ref = torch.cat([doc_align_loss(t1, th1[i1], reduction='none'), doc_align_loss(t2, th2[i2], reduction='none')]).mean()
    assert L.doc_term(t1, t2, i1, i2).item() == pytest.approx(ref.item(), abs=1e-12)
    assert L.word_term(b1, b2).item() == pytest.approx(mmd_loss(b1, b2, T).item())
    Lo = Phase2Losses(T, None, None, discrepancy='ot')
    assert Lo.doc_term(t1, t2, i1, i2) is None
    assert Lo.word_term(b1, b2).item() == pytest.approx(ot_loss(b1, b2, T).item())
    with pytest.raises(LossInputError, match='discrepancy'):
        Phase2Losses(T, discrepancy='wasserstein')


def test_doc_targets_skip_rows_and_doc_term_ignores_them():
    H = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]); T = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    th = doc_topic_targets(H, T, 0.5, skip=[False, True, False])
    assert th[1].sum() == 0 and torch.allclose(th[[0, 2]].sum(1), torch.ones(2))
    with pytest.raises(LossInputError, match=r'\[1\]'):
        doc_topic_targets(H, T, 0.5)
    L = Phase2Losses(None, th, th)
    t = torch.softmax(torch.randn(3, 2), 1)
    i = torch.tensor([0, 1, 2])
    ref = torch.cat([doc_align_loss(t[[0, 2]], th[[0, 2]], reduction='none')] * 2).mean()
    assert L.doc_term(t, t, i, i).item() == pytest.approx(ref.item(), rel=1e-6)


def test_union_support_matches_three_sums_over_the_union():
    """mmd_support='union': the model side is β renormalised over its top words plus the refined words it lacks
    (half the mass per language); the value equals the three-sum formula on that support and gradients pass
    gradcheck."""
    E1, E2, raw, tg, b1, b2 = _problem(3)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64, support='union')
    per = mmd_loss(b1, b2, T, reduction='none')
    n1, n2 = F.normalize(E1, dim=1), F.normalize(E2, dim=1)
    for k, ((r1, r2), ((t1, w1), (t2, w2))) in enumerate(zip(raw, tg)):
        s1 = list(dict.fromkeys(r1 + t1)); s2 = list(dict.fromkeys(r2 + t2))     # union, each word once
        X = torch.cat([n1[s1], n2[s2]])
        w = torch.cat([b1[k, s1] / b1[k, s1].sum() / 2, b2[k, s2] / b2[k, s2].sum() / 2])
        Y = torch.cat([n1[t1], n2[t2]])
        wt1, wt2 = torch.tensor(w1, dtype=D64), torch.tensor(w2, dtype=D64)
        u = torch.cat([wt1 / wt1.sum() / 2, wt2 / wt2.sum() / 2])
        want = weighted_mmd2(X, w, Y, u, T.sigma[k])
        assert per[k].item() == pytest.approx(want.item(), rel=1e-9, abs=1e-12), k
    z1 = torch.randn_like(b1).requires_grad_(); z2 = torch.randn_like(b2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: mmd_loss(torch.softmax(a, 1), torch.softmax(b, 1), T), (z1, z2))
    from llmxtm_nb.phase2 import Phase2Config
    with pytest.raises(LossInputError, match="mmd_support"):
        Phase2Config(mmd_support='both')
    assert Phase2Config(mmd_support='union', discrepancy='ot').discrepancy == 'ot'
    assert Phase2Config.from_settings().mmd_support == 'union' == Phase2Config().mmd_support   # the default since 2026-11-29


def test_ot_on_the_union_support_equals_ot_with_the_union_as_top_words():
    """OT with mmd_support='union' is the paper's OT run as if each topic's top words were its top words plus the
    refined words it lacks: same values and the same gradients (a topic without target stays at 0)."""
    E1, E2, raw, tg, b1, b2 = _problem(4, empty=(2,))
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64, support='union')
    merged = [(list(dict.fromkeys(r1 + (t[0][0] if t else []))), list(dict.fromkeys(r2 + (t[1][0] if t else []))))
              for (r1, r2), t in zip(raw, tg)]
    R = build_mmd_target(merged, tg, E1, E2, dtype=D64)
    z1 = torch.log(b1).requires_grad_(); z2 = torch.log(b2).requires_grad_()
    got = ot_loss(torch.softmax(z1, 1), torch.softmax(z2, 1), T, epsilon=0.3, iters=300, reduction='none')
    g_got = torch.autograd.grad(got.sum(), (z1, z2))
    want = ot_loss(torch.softmax(z1, 1), torch.softmax(z2, 1), R, epsilon=0.3, iters=300, reduction='none')
    g_want = torch.autograd.grad(want.sum(), (z1, z2))
    assert got[2].item() == 0.0 and bool((got[[0, 1, 3]] > 0).all())
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    for a, b in zip(g_got, g_want): torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)
    assert not torch.allclose(got, ot_loss(b1, b2, build_mmd_target(raw, tg, E1, E2, dtype=D64), epsilon=0.3,
                                           iters=300, reduction='none'))   # the support matters


@pytest.mark.parametrize('support', ['model', 'union'])
@pytest.mark.parametrize('balance', [True, False])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_fused_mmd_matches_mmd_loss_value_and_gradient(support, balance, seed):
    "The training step's fused MMD against the readable one (softmax, then mmd_loss), skipped topics included."
    from llmxtm_nb.losses import fused_mmd
    E1, E2, raw, tg, _, _ = _problem(seed, empty=(1,))
    raw[2] = (raw[2][0], [])                                   # a topic with no lang-2 words on the model side
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64, support=support, balance=balance)
    g = torch.Generator().manual_seed(seed + 10)
    w1 = (3 * torch.randn(4, 12, generator=g, dtype=D64)).requires_grad_()
    w2 = (3 * torch.randn(4, 10, generator=g, dtype=D64)).requires_grad_()
    ref = mmd_loss(torch.softmax(w1, 1), torch.softmax(w2, 1), T)
    got = fused_mmd(w1, w2, T)
    assert got.item() == pytest.approx(ref.item(), rel=1e-10, abs=1e-14)
    for a, b in zip(torch.autograd.grad(got, (w1, w2)), torch.autograd.grad(ref, (w1, w2))):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-13)
    assert torch.autograd.gradcheck(lambda a, b: fused_mmd(a, b, T), (w1, w2))


def test_fused_mmd_word_major_float32_and_huge_logits():
    "Word-major logits (NMTM's layout) and logits beyond exp's range give the readable loss's numbers."
    from llmxtm_nb.losses import fused_mmd
    E1, E2, raw, tg, _, _ = _problem(3)
    T = build_mmd_target(raw, tg, E1, E2)                       # float32, as in training
    w1 = torch.randn(12, 4).t()                                 # [4, 12], strides (1, 4): word-major
    w2 = torch.randn(4, 10)
    torch.testing.assert_close(fused_mmd(w1, w2, T), mmd_loss(torch.softmax(w1, 1), torch.softmax(w2, 1), T))
    for shift in (120.0, -120.0):                               # exp overflows / underflows without the row shift
        got = fused_mmd(w1 + shift, w2, T)
        assert torch.isfinite(got)
        torch.testing.assert_close(got, mmd_loss(torch.softmax(w1 + shift, 1), torch.softmax(w2, 1), T))


def test_phase2losses_takes_fused_path_for_logits_only():
    "Logits go through fused_mmd, probabilities through mmd_loss; both give the same term."
    from llmxtm_nb.losses import Logits
    E1, E2, raw, tg, _, _ = _problem(4)
    T = build_mmd_target(raw, tg, E1, E2, dtype=D64)
    L = Phase2Losses(T)
    w1, w2 = torch.randn(4, 12, dtype=D64), torch.randn(4, 10, dtype=D64)
    a = L.word_term(Logits(w1), Logits(w2)); b = L.word_term(torch.softmax(w1, 1), torch.softmax(w2, 1))
    assert T.fused is not None                                   # built by the Logits call
    assert a.item() == pytest.approx(b.item(), rel=1e-10)


@pytest.mark.parametrize('direction', ['forward', 'reverse'])
def test_fused_doc_term_matches_direct_formula_with_zero_probabilities(direction):
    "The batch doc term (one autograd node) against doc_align_loss, with θ entries at zero and a skipped document."
    g = torch.Generator().manual_seed(7)
    h1 = torch.softmax(torch.randn(6, 4, generator=g), 1); h2 = torch.softmax(torch.randn(5, 4, generator=g), 1)
    h1[3] = 0                                                     # skipped document
    L = Phase2Losses(None, h1, h2, kl_direction=direction)
    t1 = torch.softmax(torch.randn(4, 4, generator=g, dtype=D64), 1).float()
    t1[0, 1] = 0.0; t1[0] = t1[0] / t1[0].sum()                   # a topic with probability exactly 0
    t1.requires_grad_()
    t2 = torch.softmax(torch.randn(3, 4, generator=g), 1).requires_grad_()
    i1, i2 = torch.tensor([0, 3, 5, 1]), torch.tensor([4, 0, 2])
    got = L.doc_term(t1, t2, i1, i2)
    keep = torch.tensor([0, 2, 3])
    ref = (doc_align_loss(t1[keep], h1[i1][keep], direction, reduction='sum')
           + doc_align_loss(t2, h2[i2], direction, reduction='sum')) / 6
    torch.testing.assert_close(got, ref)
    for a, b in zip(torch.autograd.grad(got, (t1, t2)), torch.autograd.grad(ref, (t1, t2))):
        torch.testing.assert_close(a, b)
