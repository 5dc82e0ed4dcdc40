"""Fault injection (issue 10): a demo refinement with 30% injected HTTP faults completes, every failure is retried or
recorded per topic, and once the same answers have arrived the results equal the fault-free run."""
import json
import sys
from pathlib import Path

import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reliability_utils import FAKE_KEY, demo_topics  # noqa: E402

from llmxtm_nb.faults import (FAULT_KINDS, RETRYABLE_KINDS, FakeLLM, FaultsError, FaultyTransport, fake_refiner,  # noqa: E402
                              read_prompt, serve_fake_llm, with_faults)
from llmxtm_nb.record import RefinementRecord  # noqa: E402
from llmxtm_nb.refine import refine  # noqa: E402
from llmxtm_nb.refiners import AnthropicRefiner, OfflineEmbeddingRefiner, OpenAICompatibleRefiner  # noqa: E402

R, M = 3, 6


@pytest.fixture
def topics():
    return demo_topics(k=6, n=8)


def _refiner(provider, tmp, name, themes, **kw):
    kw.setdefault("backoff_base", 0.0)
    kw.setdefault("prompt_mode", "chunk")
    kw.setdefault("chunk_size", 2)
    return fake_refiner(provider, fake=FakeLLM(themes), cache=tmp / f"{name}.jsonl", **kw)


def _outcome(ev):
    "What Phase 2 uses and the reviewer sees: targets, votes and themes."
    return ev.final_sets(), {t.topic_id: (t.votes, t.refined, t.theme) for t in ev.topics}


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_retryable_faults_end_where_a_clean_run_ends(provider, topics, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    pools, vocab, themes = topics
    clean = refine(pools, _refiner(provider, tmp_path, "clean", themes, prompt_mode="single"), rounds=R, keep=M,
                   vocab=vocab, verbose=False)
    assert clean.summary()["rounds_failed"] == 0
    # the fake drops the injected intruders: refinement does something
    assert sum(len(d["removed"]) for t in clean.topics for d in t.diff.values()) > 0
    flaky = _refiner(provider, tmp_path, "flaky", themes, rate=0.3, kinds=RETRYABLE_KINDS, seed=7,
                     max_faults_per_request=4, max_retries=5, prompt_mode="single")
    ev = refine(pools, flaky, rounds=R, keep=M, vocab=vocab, verbose=False)
    counts = flaky.fault_transport.counts()
    assert sum(v for k, v in counts.items() if k != "ok") >= 2, counts
    assert flaky.stats.retries == sum(v for k, v in counts.items() if k != "ok")  # every fault was retried
    assert flaky.stats.failures == 0 and ev.summary()["rounds_failed"] == 0
    assert _outcome(ev) == _outcome(clean)
    # same answers, same transcript entries (keys and texts)
    a = {e["key"]: e["response"] for e in map(json.loads, (tmp_path / "clean.jsonl").read_text().splitlines())}
    b = {e["key"]: e["response"] for e in map(json.loads, (tmp_path / "flaky.jsonl").read_text().splitlines())}
    assert a == b


def test_thirty_percent_of_every_fault_kind(topics, tmp_path, monkeypatch):
    "All fault kinds at 30%: the run completes; non-retryable faults are recorded per topic; later passes heal them."
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    pools, vocab, themes = topics
    clean = refine(pools, _refiner("anthropic", tmp_path, "clean", themes, prompt_mode="single"), rounds=R, keep=M, vocab=vocab, verbose=False)
    fake = FakeLLM(themes)
    cache = tmp_path / "faulty.jsonl"
    ref = fake_refiner("anthropic", fake=fake, rate=0.3, kinds=FAULT_KINDS, seed=1, cache=cache, backoff_base=0.0,
                       prompt_mode="single", max_retries=3)
    ev = refine(pools, ref, rounds=R, keep=M, vocab=vocab, verbose=False)
    counts = ref.fault_transport.counts()
    assert counts.get("truncated", 0) + counts.get("malformed", 0) > 0, counts
    failed = [(t.topic_id, i, r.failure) for t in ev.topics for i, r in enumerate(t.rounds) if not r.ok]
    assert failed, "30% faults with truncated/malformed bodies must leave failed rounds to record"
    for _, _, why in failed:
        assert why.startswith("request failed:"), why
    assert ev.summary()["rounds_failed"] == len(failed)
    # the record keeps the failures per topic and round
    rec = RefinementRecord(); rec.append(ev); rec.save(tmp_path / "record.json")
    back = RefinementRecord.load(tmp_path / "record.json")[0]
    assert [(t.topic_id, i, r.failure) for t in back.topics for i, r in enumerate(t.rounds) if not r.ok] == failed
    # a second pass with the same transcript re-sends only what failed: no successful request is repeated
    n_ok = len(ref.cache)
    answered_before = sum(fake.answered.values())
    for attempt in range(8):
        again = fake_refiner("anthropic", fake=fake, rate=0.3, kinds=FAULT_KINDS, seed=100 + attempt, cache=cache,
                             backoff_base=0.0, prompt_mode="single", max_retries=3)
        ev = refine(pools, again, rounds=R, keep=M, vocab=vocab, verbose=False)
        assert again.stats.cache_hits >= n_ok
        n_ok = len(again.cache)
        if ev.summary()["rounds_failed"] == 0: break
    assert ev.summary()["rounds_failed"] == 0
    assert _outcome(ev) == _outcome(clean)
    # every answer the fake produced was needed once: answers are only repeated for truncated bodies it sent
    assert sum(fake.answered.values()) >= answered_before


def test_faulty_transport_is_seeded_and_validates():
    def statuses(seed):
        t = FaultyTransport(FakeLLM(chatty=False), rate=0.5, seed=seed)
        cl = httpx2.Client(transport=t, base_url="https://x/v1")
        out = []
        for i in range(40):
            try: out.append(cl.post("/chat/completions", json={"messages": [{"role": "user", "content": str(i)}]}).status_code)
            except httpx2.TransportError as e: out.append(type(e).__name__)
        return out, t.counts()
    assert statuses(3) == statuses(3)
    assert statuses(3)[0] != statuses(4)[0]
    with pytest.raises(ValueError, match="rate"): FaultyTransport(rate=1.5)
    with pytest.raises(ValueError, match="unknown fault kinds"): FaultyTransport(kinds=("gremlins",))
    with pytest.raises(FaultsError, match="LLM refiner"): with_faults(OfflineEmbeddingRefiner())


def test_fake_llm_reads_its_prompt_back(topics):
    pools, vocab, themes = topics
    from llmxtm_nb.prompt import make_requests
    from llmxtm_nb.parse import parse_response
    for mode in ("all", "chunk", "single"):
        for req in make_requests(pools, ("en", "cn"), M, mode, 4):
            got, keep = read_prompt(req.prompt)
            assert [t["id"] for t in got] == list(req.topic_ids) and keep == M
            parsed = parse_response(FakeLLM(themes).answer(req.system, req.prompt), list(req.topic_ids), ("en", "cn"), vocab, keep=M)
            for t, r in parsed.items():
                assert r.ok, r.failure
                for lang in ("en", "cn"):  # the fake keeps to the topic's majority theme
                    ths = {themes[lang][w] for w in r.proposal[lang]}
                    assert len(ths) == 1 and -1 not in ths


def test_server_for_other_processes(topics, tmp_path):
    pools, vocab, themes = topics
    with serve_fake_llm(FakeLLM(themes), rate=0.5, kinds=RETRYABLE_KINDS, seed=5, max_faults_per_request=2) as srv:
        r = OpenAICompatibleRefiner(base_url=srv.url + "/v1", model="fake-gpt", cache=tmp_path / "t.jsonl",
                                    backoff_base=0.0, timeout=10, prompt_mode="single")
        ev = refine(pools, r, rounds=2, keep=M, vocab=vocab, verbose=False)
        assert ev.summary()["rounds_failed"] == 0
        assert r.stats.retries == sum(v for k, v in srv.transport.counts().items() if k != "ok") > 0


def test_malformed_body_is_never_cached(topics, tmp_path):
    pools, vocab, themes = topics
    for seed in range(6):  # the malformed body is an HTML page or JSON of the wrong shape, drawn per request
        r = fake_refiner("openai", rate=1.0, kinds=("malformed",), seed=seed, cache=tmp_path / f"c{seed}.jsonl", backoff_base=0.0)
        rs = r.refine_rounds(pools, ("en", "cn"), 4, vocab, rounds=1)
        assert all(not x.ok for x in rs[0].values())
        assert len(r.cache) == 0


def test_truncated_bodies_are_recorded_not_cached(topics, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    pools, vocab, themes = topics
    for provider in ("anthropic", "openai"):
        r = fake_refiner(provider, rate=1.0, kinds=("truncated",), cache=tmp_path / f"{provider}.jsonl", backoff_base=0.0)
        rs = r.refine_rounds(pools[:2], ("en", "cn"), 4, vocab, rounds=2)
        assert all(x.failure.startswith("request failed") for rd in rs for x in rd.values())
        assert len(r.cache) == 0 and r.stats.failures == 2


# ---------- the whole pipeline: Phase 1, refinement events, Phase 2, run directory ----------

from reliability_utils import HashEncoder, tiny_demo  # noqa: E402

SMALL = dict(show_progress=False, model__num_topics=5, model__batch_size=40, model__backbone="NMTM")


@pytest.mark.slow
def test_full_demo_run_with_30_percent_faults_completes_and_records_every_failure(tmp_path, monkeypatch):
    from llmxtm_nb.api import run_main_job
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    _, _, themes = demo_topics()
    ref = fake_refiner("anthropic", fake=FakeLLM(themes), rate=0.3, kinds=FAULT_KINDS, seed=11, cache=tmp_path / "t.jsonl",
                       backoff_base=0.0, prompt_mode="single", max_retries=2)
    d = run_main_job(corpus=tiny_demo(120), refiner=ref, encoder=HashEncoder(), quick=True, out_dir=tmp_path / "run",
                     log=None, **SMALL)
    rec = RefinementRecord.load(d / "records" / "refinement_record.json")
    assert len(rec) >= 2 and (d / "report.html").exists() and (d / "results.json").exists()
    faults = {k: v for k, v in ref.fault_transport.counts().items() if k != "ok"}
    assert sum(faults.values()) >= 3, faults
    retried = failed = 0
    for ev in rec:
        st = ev.stats
        retried += st["retries"]; failed += st["failures"]
        rounds_failed = [r for t in ev.topics for r in t.rounds if not r.ok]
        # single mode: one request per topic and round, so each failed request is exactly one recorded topic-round
        assert len([r for r in rounds_failed if r.failure.startswith("request failed")]) == st["failures"]
    assert retried + failed == sum(faults.values()), "every injected fault was either retried or recorded"


@pytest.mark.slow
def test_phase2_with_retryable_faults_equals_the_clean_run(tmp_path, monkeypatch):
    import copy
    import numpy as np
    from llmxtm_nb.api import LLMXTM
    from llmxtm_nb.core import load_settings
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    _, _, themes = demo_topics()
    m = LLMXTM(tiny_demo(120), load_settings(), encoder=HashEncoder(), **SMALL)
    m.fit_phase1(epochs=2)
    p1 = copy.deepcopy(m.model)
    out = {}
    for name, rate in (("clean", 0.0), ("faulty", 0.3)):
        m.model = copy.deepcopy(p1)
        m.refiner = fake_refiner("anthropic", fake=FakeLLM(themes), rate=rate, kinds=RETRYABLE_KINDS, seed=5,
                                 max_faults_per_request=3, max_retries=5, cache=tmp_path / f"{name}.jsonl", backoff_base=0.0,
                                 prompt_mode="single")
        m.fit_phase2(epochs=2, frequency=1, rounds=2, keep_m=5, top_n=8)
        b1, b2 = m.model.get_beta()
        out[name] = dict(b1=b1, b2=b2, t1=m.model.get_theta(m.corpus.l1.train_bow, 0),
                         loss=[h["loss"] for h in m.history["phase2"]], targets=[e.final_sets() for e in m.record],
                         retries=sum(e.stats["retries"] for e in m.record))
    assert out["faulty"]["retries"] > 0 and out["clean"]["retries"] == 0
    for k in ("b1", "b2", "t1"): assert np.array_equal(out["clean"][k], out["faulty"][k]), k
    assert out["clean"]["loss"] == out["faulty"]["loss"] and out["clean"]["targets"] == out["faulty"]["targets"]
