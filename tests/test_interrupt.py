"""Interruption (issue 10): a CPU run of the whole pipeline (Phase 1, refinement by an LLM, Phase 2) is killed with
SIGKILL three times — in the middle of a Phase-1 epoch, between two Phase-2 refinement events, and during a refinement
event while an LLM request is in flight — and resumed each time from its last checkpoint. It ends with the β, θ,
loss history and metrics of an uninterrupted run, bit for bit, and no LLM request was answered twice.

The kills land at chosen points, not wherever a timer falls: the child pauses inside the trainer (a wrapped
`train_step` writes a marker file and sleeps) or the fake LLM server holds the chosen request; the parent then kills.
The LLM is `llmxtm_nb.faults.FakeLLM` served over real HTTP on localhost, reached through the real `openai` SDK."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx2
import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
from reliability_utils import HashEncoder, demo_topics, tiny_demo  # noqa: E402

from llmxtm_nb.faults import FakeLLM, serve_fake_llm  # noqa: E402

P1_EPOCHS, P2 = 2, dict(epochs=4, frequency=2, rounds=2, keep_m=5, top_n=8)
SETUP = dict(backbone="NMTM", show_progress=False, model__num_topics=5, model__batch_size=40, model__checkpoint_every=1)
N_TRAIN = 120

PIPELINE = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    import numpy as np
    from reliability_utils import HashEncoder, tiny_demo
    from llmxtm_nb.api import LLMXTM
    from llmxtm_nb.core import load_settings
    from llmxtm_nb.refiners import OpenAICompatibleRefiner

    def pipeline(url, out, checkpoints):
        import torch
        torch.set_num_threads(1)  # bit-identical float sums need the same thread count in every process
        r = OpenAICompatibleRefiner(base_url=url + '/v1', model='fake-gpt', cache=f"{{out}}/transcript.jsonl",
                                    max_concurrency=1, backoff_base=0, timeout=600)
        m = LLMXTM(tiny_demo({N_TRAIN}), load_settings(), refiner=r, encoder=HashEncoder(), **{SETUP!r})
        ck = (lambda p: f"{{out}}/{{p}}") if checkpoints else (lambda p: None)
        m.fit_phase1(epochs={P1_EPOCHS}, checkpoint_dir=ck('p1'), resume=checkpoints)
        m.fit_phase2(checkpoint_dir=ck('p2'), resume=checkpoints, **{P2!r})
        met = m.evaluate('after', classify=False)['metrics']
        c = m.corpus; b1, b2 = m.model.get_beta()
        return dict(b1=b1, b2=b2, t1=m.model.get_theta(c.l1.train_bow, 0), t2=m.model.get_theta(c.l2.train_bow, 1),
                    loss1=np.array([h['loss'] for h in m.history['phase1']]),
                    loss2=np.array([h['loss'] for h in m.history['phase2']]),
                    metrics=np.array([met[k] for k in sorted(met) if isinstance(met[k], float)]),
                    targets=np.array([str(e.final_sets()) for e in m.record]))
""")

CHILD = PIPELINE + textwrap.dedent("""
    if __name__ == '__main__':
        import os, time
        from llmxtm_nb.trainer import Trainer
        from llmxtm_nb.phase2 import Phase2
        url, out, pause = sys.argv[1:4]
        kind, *at = pause.split(':'); at = [int(a) for a in at]
        step = Trainer.train_step
        def paused_step(self, batch):
            phase = 2 if any(isinstance(c, Phase2) for c in self.callbacks) else 1
            if kind == f'p{phase}' and [self.epoch, self.batch_in_epoch] == at:
                open(os.path.join(out, 'paused'), 'w').write(pause); time.sleep(600)
            return step(self, batch)
        Trainer.train_step = paused_step
        np.savez(os.path.join(out, 'result.npz'), **pipeline(url, out, True))
""")


class HoldingFake(FakeLLM):
    "Holds its n-th request (1-based) unanswered until released, then drops the connection."
    def __init__(self, *a, hold_at=None, **kw):
        super().__init__(*a, **kw)
        self.hold_at, self.held, self.release = hold_at, threading.Event(), threading.Event()

    def __call__(self, request):
        with self._lock: n = self.requests + 1
        if self.hold_at == n:
            self.hold_at = None
            with self._lock: self.requests += 1
            self.held.set(); self.release.wait(600)
            raise httpx2.ReadTimeout("held by the test and never answered", request=request)
        return super().__call__(request)


def run_child(script, url, out, pause, kill_when):
    "Start the child; SIGKILL it once `kill_when()` is true (None: let it finish)."
    (out / "paused").unlink(missing_ok=True)
    p = subprocess.Popen([sys.executable, str(script), url, str(out), pause], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env={**os.environ, "LLMXTM_PROGRESS": "0"})
    t0 = time.time()
    try:
        while kill_when is not None and not kill_when():
            if p.poll() is not None:
                raise AssertionError(f"child ended before {pause}: {p.stdout.read().decode()[-3000:]}")
            assert time.time() - t0 < 400, f"child did not reach {pause}"
            time.sleep(0.05)
        if kill_when is not None:
            os.kill(p.pid, signal.SIGKILL); p.wait(60)
            assert p.returncode == -signal.SIGKILL
        else:
            p.wait(600)
            assert p.returncode == 0, p.stdout.read().decode()[-3000:]
    finally:
        if p.poll() is None: p.kill(); p.wait()


@pytest.mark.slow
def test_kill9_in_phase1_and_phase2_resumes_exactly(tmp_path):
    _, _, themes = demo_topics()
    ns = {}
    exec(compile(PIPELINE, "pipeline", "exec"), ns)
    # the uninterrupted run
    import torch
    threads = torch.get_num_threads()
    try:
        with serve_fake_llm(FakeLLM(themes)) as srv:
            ref = ns["pipeline"](srv.url, str(tmp_path / "ref"), False)
            n_answers = sum(srv.fake.answered.values())
    finally:
        torch.set_num_threads(threads)
    assert n_answers == 2 * P2["rounds"]  # two refinement events (Phase-2 epochs 0 and 2), one request per round
    script = tmp_path / "child.py"; script.write_text(CHILD)
    out = tmp_path / "run"; out.mkdir()
    paused = lambda: (out / "paused").exists()
    fake = HoldingFake(themes, hold_at=P2["rounds"] + 1)  # the first request of the second event
    with serve_fake_llm(fake) as srv:
        # 1) Phase 1, in the middle of epoch 2 (batch 2 of 3): the checkpoint of epoch 1 is the last one
        run_child(script, srv.url, out, "p1:1:1", paused)
        assert (out / "p1" / "checkpoint.pt").exists() and not (out / "p2").exists()
        assert fake.requests == 0
        # 2) Phase 2, between the refinement events of epochs 0 and 2 (start of epoch 1, after its checkpoint)
        run_child(script, srv.url, out, "p2:1:0", paused)
        assert fake.requests == P2["rounds"] and (out / "p2" / "checkpoint.pt").exists()
        # 3) Phase 2, during the event of epoch 2, while its first request is in flight
        run_child(script, srv.url, out, "none", fake.held.is_set)
        fake.release.set()
        # 4) to the end
        run_child(script, srv.url, out, "none", None)
        answered = sum(fake.answered.values())
    assert answered == n_answers, f"{answered} answers for {n_answers} distinct requests: an LLM request was repeated"
    assert not list(out.rglob("*.tmp*")), "a half-written file was left behind"
    got = dict(np.load(out / "result.npz"))
    for k in ref:
        ref_k = np.asarray(ref[k])
        assert got[k].shape == ref_k.shape, k
        assert np.array_equal(got[k], ref_k), f"{k} differs from the uninterrupted run"
