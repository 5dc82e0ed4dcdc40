"""Phase-1 trainer: identical resume (end of epoch and mid-epoch interrupt), NaN guard keeping the last good
checkpoint, callbacks, settings, scheduler."""
import numpy as np
import pytest
import torch

from llmxtm_nb.core import LLMXTMError, load_settings, load_torch
from llmxtm_nb.trainer import NonFiniteLossError, Trainer, build_backbone

from test_backbones import tiny_corpus


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make(name="NMTM", seed=0, **kw):
    c = tiny_corpus(seed, N1=50, N2=41)
    m = build_backbone(name, c, num_topics=4, hidden=8, seed=seed)
    return c, m


def trainer(m, c, tmp=None, callbacks=(), **kw):
    args = dict(epochs=4, learning_rate=0.01, batch_size=8, seed=3, device="cpu", lr_step=2, lr_gamma=0.5,
                show_progress=False, checkpoint_dir=tmp, checkpoint_every=1)
    args.update(kw)
    return Trainer(m, c, callbacks=list(callbacks), **args)


def same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


class StopAt:
    "Raises KeyboardInterrupt inside the given step (after the forward pass, before the update)."
    def __init__(self, step): self.step, self.calls = step, 0
    def extra_losses(self, trainer, batch, out):
        self.calls += 1
        if self.calls == self.step:
            raise KeyboardInterrupt
        return {}


@pytest.mark.parametrize("name", ["NMTM", "InfoCTM"])
def test_resume_after_interrupt_is_identical(name, tmp_path):
    c, m_full = make(name)
    full = trainer(m_full, c)
    full.fit()
    # same run, interrupted in the middle of epoch 2 (step 10 of 7 batches/epoch), then resumed in a new process-like setup
    c, m1 = make(name)
    t1 = trainer(m1, c, tmp_path, callbacks=[StopAt(10)])
    with pytest.raises(KeyboardInterrupt):
        t1.fit()
    assert (tmp_path / "checkpoint.pt").exists()
    c, m2 = make(name)
    t2 = trainer(m2, c, tmp_path).resume()
    assert t2.epoch == 1 and t2.batch_in_epoch == 2 and t2.step == 9
    t2.fit()
    same_state(m2, m_full)
    assert [h["loss"] for h in t2.history] == pytest.approx([h["loss"] for h in full.history], rel=1e-6)


@pytest.mark.parametrize("params", [{}, {"beta_align_every": 3}], ids=["published", "beta_align_every"])
def test_xtra_resumes_after_interrupt_identically(params, tmp_path):
    """XTRA as published and with `beta_align_every`, whose step counter must survive an interrupt (3 divides neither
    the 7 batches of an epoch nor the 9 steps before it)."""
    from test_backbones import xtra_for
    def build():
        c = tiny_corpus(0, N1=50, N2=41)
        torch.manual_seed(0)   # build_xtra draws the layers' initial weights from torch's generator
        return c, xtra_for(c, **params)
    c, m_full = build()
    full = trainer(m_full, c)
    full.fit()
    c, m1 = build()
    with pytest.raises(KeyboardInterrupt):
        trainer(m1, c, tmp_path, callbacks=[StopAt(10)]).fit()
    c, m2 = build()
    t2 = trainer(m2, c, tmp_path).resume()
    if params: assert int(m2.beta_align_step) == 9 and int(m_full.beta_align_step) == 28
    t2.fit()
    same_state(m2, m_full)
    assert [h["loss"] for h in t2.history] == pytest.approx([h["loss"] for h in full.history], rel=1e-6)


def test_resume_from_epoch_checkpoint_is_identical(tmp_path):
    c, m_full = make("NMTM", 1)
    full = trainer(m_full, c)
    full.fit()
    c, m1 = make("NMTM", 1)
    trainer(m1, c, tmp_path).fit(2)
    c, m2 = make("NMTM", 1)
    t2 = trainer(m2, c, tmp_path).resume()
    assert t2.epoch == 2
    t2.fit()
    same_state(m2, m_full)
    assert [h["lr"] for h in t2.history] == [0.01, 0.01, 0.005, 0.005]   # StepLR(2, 0.5) carried over


def test_nan_guard_names_step_and_term_and_keeps_last_good_checkpoint(tmp_path):
    class Poison:
        def __init__(self): self.n = 0
        def extra_losses(self, trainer, batch, out):
            self.n += 1
            return {"poison": torch.tensor(float("nan")) if self.n == 10 else torch.zeros(())}

    c, m = make()
    t = trainer(m, c, tmp_path, callbacks=[Poison()])
    with pytest.raises(NonFiniteLossError, match=r"step 10 .*'poison'"):
        t.fit()
    ck = load_torch(tmp_path / "checkpoint.pt")
    assert ck["epoch"] == 1 and ck["batch_in_epoch"] == 0   # the epoch-1 checkpoint, not a poisoned state
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_callbacks_hooks_extra_losses_and_state(tmp_path):
    class Rec:
        def __init__(self): self.events, self.counter = [], 0
        def on_train_start(self, tr): self.events.append("start")
        def on_epoch_start(self, tr, e): self.events.append(f"es{e}")
        def extra_losses(self, tr, batch, out):
            self.counter += 1
            assert set(out) >= {"losses", "theta"}
            return {"extra": 0.1 * out["theta"][0].pow(2).mean()}
        def on_epoch_end(self, tr, e, logs): self.events.append(f"ee{e}:{'extra' in logs}")
        def on_train_end(self, tr): self.events.append("end")
        def state_dict(self): return {"counter": self.counter}
        def load_state_dict(self, d): self.counter = d["counter"]

    c, m = make()
    cb = Rec()
    t = trainer(m, c, tmp_path, callbacks=[cb], epochs=2)
    hist = t.fit()
    assert cb.events == ["start", "es0", "ee0:True", "es1", "ee1:True", "end"]
    assert all("extra" in h and "rec_en" in h and "loss" in h for h in hist)
    c, m2 = make()
    cb2 = Rec()
    trainer(m2, c, tmp_path, callbacks=[cb2], epochs=2).resume()
    assert cb2.counter == cb.counter == 14


def test_settings_drive_the_trainer():
    s = load_settings().replace(nmtm__epochs=1, model__batch_size=16, model__seed=5)
    c, m = make()
    t = Trainer(m, c, settings=s, device="cpu", show_progress=False)
    assert (t.epochs, t.batch_size, t.seed, t.lr_step) == (1, 16, 5, 125)
    assert t.learning_rate == pytest.approx(0.001)
    hist = t.fit()
    assert len(hist) == 1 and np.isfinite(hist[0]["loss"])


def test_single_document_batches_are_skipped_and_clipping_works():
    c, m = make()   # 50 / 41 documents, batch 7 -> last batch has 1 document
    t = trainer(m, c, batch_size=7, epochs=1, clip_norm=1e-3)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    t.fit()
    assert t.step == 7   # ceil(50 / 7) = 8 batches, the 1-document one skipped
    assert any(not torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_loss_decreases_on_tiny_corpus():
    c, m = make("InfoCTM")
    hist = trainer(m, c, epochs=8, lr_step=0).fit()
    assert hist[-1]["loss"] < hist[0]["loss"]


@pytest.mark.parametrize("name", ["NMTM", "InfoCTM"])
def test_recompute_bn_statistics_averages_one_pass_for_the_current_weights(name):
    from llmxtm_nb.trainer import recompute_bn_statistics
    c, m = make(name)
    trainer(m, c, epochs=2).fit()
    params = [p.detach().clone() for p in m.parameters()]
    bns = [b for b in m.modules() if isinstance(b, torch.nn.BatchNorm1d)]
    for b in bns: b.running_mean.fill_(50.0); b.running_var.fill_(1e4)   # stale statistics
    stale = m.get_theta(c.l2.test_bow, 1, raw=True)
    seen = {id(b): [] for b in bns}   # what each layer normalises during the pass
    hooks = [b.register_forward_hook(lambda mod, inp, out: seen[id(mod)].append(inp[0].detach()))
             for b in bns]
    rng, momenta = torch.get_rng_state(), [b.momentum for b in bns]
    assert recompute_bn_statistics(m, c, batch_size=8) is m
    for h in hooks: h.remove()
    assert torch.equal(torch.get_rng_state(), rng)                     # the global random state is untouched
    assert all(torch.equal(a, b) for a, b in zip(params, m.parameters()))
    assert not m.training and [b.momentum for b in bns] == momenta
    for b in bns:   # a shared layer (NMTM's head) sees both languages' batches, as in training
        xs = seen[id(b)]
        assert xs, "every batch-norm layer takes part in the pass"
        torch.testing.assert_close(b.running_mean, torch.stack([x.mean(0) for x in xs]).mean(0))
        torch.testing.assert_close(b.running_var, torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0))
    fresh = m.get_theta(c.l2.test_bow, 1, raw=True)
    assert not np.allclose(fresh, stale)


def test_recompute_bn_statistics_rejects_a_one_document_batch():
    from llmxtm_nb.trainer import recompute_bn_statistics
    c, m = make()
    with pytest.raises(ValueError, match="batch_size=1"):
        recompute_bn_statistics(m, c, batch_size=1)


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    "A checkpoint of a model with other shapes (here K) is refused with its path, before any state is changed."
    from llmxtm_nb.core import LLMXTMError
    c, m = make()
    trainer(m, c, tmp_path, epochs=1).fit()
    other = build_backbone("NMTM", c, num_topics=5, hidden=8, seed=0)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    t = trainer(other, c, tmp_path)
    with pytest.raises(LLMXTMError, match=r"checkpoint\.pt does not fit this NMTM .*K = 5.*has shape \(4, "):
        t.resume()
    assert t.epoch == 0 and all(torch.equal(before[k], v) for k, v in other.state_dict().items())


@pytest.mark.parametrize("name", ["NMTM", "InfoCTM"])
def test_word_major_weights_are_stepped_through_contiguous_views(name):
    """φ is stored word by word; the optimiser steps its contiguous transpose (no copies inside fused Adam). The
    parameters move exactly as under a plain Adam over the parameters themselves, and the moments are kept [V, K]."""
    from llmxtm_nb.backbone import is_word_major
    c, m = make(name)
    plain_model = build_backbone(name, c, num_topics=4, hidden=8, seed=0)
    plain_model.load_state_dict(m.state_dict())
    viewed, plain = trainer(m, c), trainer(plain_model, c)
    assert viewed._views and all(is_word_major(p) and v.is_contiguous() for p, v in viewed._views)
    plain._views = []   # the optimiser as it was before the views: Adam over the parameters as stored
    plain.optimizer = torch.optim.Adam(plain._trainable, lr=plain.learning_rate, fused=True)
    for t in (viewed, plain):
        torch.manual_seed(5)
        for batch in list(t.batches(0))[:4]: t.train_step(batch)
    same_state(m, plain_model)
    for p, v in viewed._views:
        assert viewed.optimizer.state[v]['exp_avg'].shape == p.shape[::-1]
        assert v.data_ptr() == p.data_ptr()
    p, v = viewed._views[0]
    p.data = p.data.clone()   # new memory, as a move between devices or a replacing load gives
    before = p.detach().clone()
    viewed.train_step(next(iter(viewed.batches(1))))
    assert v.data_ptr() == p.data_ptr() and not torch.equal(before, p.detach())   # the optimiser followed it


def test_a_checkpoint_with_moments_stored_as_the_parameters_resumes_identically(tmp_path):
    "A checkpoint whose word-major moments were saved [K, V] (before the views) continues exactly as one saved [V, K]."
    c, m = make()
    t = trainer(m, c, tmp_path / "a")
    t.fit(1)
    ck = load_torch(tmp_path / "a" / "checkpoint.pt")
    views = {id(v): p for p, v in t._views}
    index = {i: views.get(id(v)) for i, v in enumerate(t.optimizer.param_groups[0]['params'])}
    old = {**ck, 'optimizer': {**ck['optimizer'], 'state': {
        i: {k: (x.t() if index[i] is not None and torch.is_tensor(x) and x.dim() == 2 else x) for k, x in st.items()}
        for i, st in ck['optimizer']['state'].items()}}}
    del old['optimizer_views']
    assert any(index[i] is not None and st['exp_avg'].shape == index[i].shape for i, st in old['optimizer']['state'].items())
    from llmxtm_nb.core import save_torch
    save_torch(tmp_path / "old.pt", old)
    ends = []
    for path in (tmp_path / "a" / "checkpoint.pt", tmp_path / "old.pt"):
        c2, m2 = make()
        t2 = trainer(m2, c2)
        t2.resume(path)
        assert all(t2.optimizer.state[v]['exp_avg'].shape == v.shape for _, v in t2._views)
        t2.fit(3)
        ends.append(m2)
    same_state(*ends)


def test_another_optimiser_is_scheduled_checkpointed_and_resumed(tmp_path):
    """`optimizer=` builds the optimiser the trainer steps: StepLR drives it, it is what moves the weights (SGD with
    momentum gives other weights than Adam), and a run resumed from its checkpoint ends where an uninterrupted one does."""
    import functools, warnings
    sgd = functools.partial(torch.optim.SGD, momentum=0.9)
    c, m = make()
    t = trainer(m, c, tmp_path / "a", optimizer=sgd)
    assert isinstance(t.optimizer, torch.optim.SGD) and t.scheduler.optimizer is t.optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # e.g. torch's "lr_scheduler.step() before optimizer.step()"
        history = t.fit()
    assert [h["lr"] for h in history] == [0.01, 0.01, 0.005, 0.005]
    assert "momentum_buffer" in next(iter(t.optimizer.state.values()))
    c2, adam_model = make()
    trainer(adam_model, c2).fit()
    assert any(not torch.equal(a, b) for a, b in zip(m.parameters(), adam_model.parameters()))
    c3, halfway = make()
    trainer(halfway, c3, tmp_path / "b", optimizer=sgd).fit(2)
    c4, resumed = make()
    t4 = trainer(resumed, c4, optimizer=sgd)
    t4.resume(tmp_path / "b" / "checkpoint.pt")
    t4.fit()
    same_state(m, resumed)
    c5, other = make()
    with pytest.raises(LLMXTMError, match="trained with SGD, this trainer steps Adam"):
        trainer(other, c5).resume(tmp_path / "b" / "checkpoint.pt")


def test_an_optimiser_replaced_after_the_trainer_was_built_is_refused():
    "Assigning trainer.optimizer leaves the schedule on the old optimiser: fit says so instead of training unscheduled."
    c, m = make()
    t = trainer(m, c)
    t.optimizer = torch.optim.SGD(t._trainable, lr=0.01)
    with pytest.raises(LLMXTMError, match="optimizer=factory"):
        t.fit(1)
    with pytest.raises(TypeError, match="not a torch.optim.Optimizer"):
        trainer(m, c, optimizer=lambda params, lr: params)
