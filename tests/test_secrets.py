"""Secrets (issue 10): a run made with a fake API key, through mocked transports that fail now and then, leaves the
key in no artifact: not in the record, the transcript cache, the exported transcript, logs (DEBUG included), printed
output, exception messages, the refiner's description, nor in the committed notebooks."""
import json
import logging
import os
import sys
from pathlib import Path

import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reliability_utils import FAKE_KEY, demo_topics  # noqa: E402

from llmxtm_nb.core import cache_dir, load_settings  # noqa: E402
from llmxtm_nb.faults import FAULT_KINDS, FakeLLM, fake_refiner  # noqa: E402
from llmxtm_nb.record import RefinementRecord  # noqa: E402
from llmxtm_nb.refine import refine  # noqa: E402
from llmxtm_nb.refiners import AnthropicRefiner, OpenAICompatibleRefiner  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NEEDLES = (FAKE_KEY, FAKE_KEY[len("sk-ant-"):], "FAKEKEY-1234567890")


def leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def scan_tree(root: Path) -> dict[str, list[str]]:
    "Every file under root whose bytes (as UTF-8, or as latin-1 for binaries) contain the key."
    found = {}
    for p in root.rglob("*"):
        if p.is_file():
            b = p.read_bytes()
            hits = [n for n in NEEDLES if n.encode() in b or n.encode("utf-16-le") in b]
            if hits: found[str(p)] = hits
    return found


@pytest.mark.parametrize("provider,env", [("anthropic", "ANTHROPIC_API_KEY"), ("openai", "OPENAI_API_KEY")])
def test_no_artifact_contains_the_key(provider, env, tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv(env, FAKE_KEY)
    caplog.set_level(logging.DEBUG)  # the SDKs and httpx2 log requests at DEBUG
    pools, vocab, themes = demo_topics(k=4, n=6)
    fake = FakeLLM(themes)
    kw = {} if provider == "anthropic" else {"base_url": "https://api.fake-llm.example/v1"}
    run_dir = tmp_path / "run"
    ref = fake_refiner(provider, fake=fake, rate=0.6, kinds=FAULT_KINDS, seed=3, cache=run_dir / "cache" / "transcript.jsonl",
                       backoff_base=0.0, prompt_mode="single", max_retries=1, **kw)
    ev = refine(pools, ref, rounds=3, keep=5, vocab=vocab, verbose=True)
    assert fake.requests > 0
    # the key did travel, in the auth header only
    assert all(FAKE_KEY in h for h in fake.auth_headers) and fake.auth_headers
    assert ev.summary()["rounds_failed"] > 0, "the faults must produce failure messages to scan"
    rec = RefinementRecord(); rec.append(ev); rec.save(run_dir / "record.json")
    ref.save_transcript(run_dir / "transcript.jsonl")
    (run_dir / "stats.json").write_text(json.dumps(ref.stats.to_dict()))
    texts = {"record": json.dumps(ev.to_dict(), ensure_ascii=False), "describe": json.dumps(ref.describe()),
             "repr": repr(ref) + repr(ev.refiner) + repr(ref.stats),
             "failures": "\n".join(r.failure or "" for t in ev.topics for r in t.rounds),
             "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)}
    out = capsys.readouterr()
    texts["stdout"], texts["stderr"] = out.out, out.err
    assert {k: leaks(v) for k, v in texts.items() if leaks(v)} == {}
    assert scan_tree(tmp_path) == {}
    assert scan_tree(cache_dir()) == {}


def test_exceptions_and_missing_key_messages_hold_no_key(tmp_path, monkeypatch):
    # a client error (401) and a refused connection: their messages end up in the record; the key must not
    def unauthorized(request):
        return httpx2.Response(401, json={"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    pools, vocab, _ = demo_topics(k=2, n=5)
    r = AnthropicRefiner(cache=tmp_path / "t.jsonl", http_client=httpx2.Client(transport=httpx2.MockTransport(unauthorized)),
                         backoff_base=0.0)
    rs = r.refine_rounds(pools, ("en", "cn"), 4, vocab, rounds=1)
    msgs = [x.failure for x in rs[0].values()]
    assert all("401" in m or "authentication" in m.lower() for m in msgs), msgs
    assert not any(leaks(m) for m in msgs)
    # without a key: a clear message that names the variable, never a value
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    o = OpenAICompatibleRefiner(cache=tmp_path / "o.jsonl")
    rs = o.refine_rounds(pools, ("en", "cn"), 4, vocab, rounds=1)
    assert all("OPENAI_API_KEY" in x.failure for x in rs[0].values())


def test_keys_are_not_settings():
    "Keys come from the environment only: no settings key holds one, and LLMXTM_* variables cannot smuggle one in."
    s = load_settings()
    flat = {f"{sec}.{k}" for sec, d in s.to_dict().items() for k in d}
    assert not [k for k in flat if "key" in k.split(".")[1] or "secret" in k or "token" == k.split(".")[1]]
    with pytest.raises(Exception):
        load_settings(env={"LLMXTM_REFINE_API_KEY": FAKE_KEY})


def test_committed_notebooks_and_docs_hold_no_real_looking_key():
    "Notebook sources and any outputs they carry (the whole file is scanned), and the docs, hold nothing shaped like a key."
    import re
    real = re.compile(r"sk-ant-api\d\d-[A-Za-z0-9_\-]{20,}|sk-proj-[A-Za-z0-9_\-]{20,}|sk-[A-Za-z0-9]{40,}|AIza[0-9A-Za-z_\-]{35}")
    bad = {}
    for p in [*REPO.glob("nbs/**/*.ipynb"), *REPO.glob("*.md"), *REPO.glob("nbs/**/*.md")]:
        t = p.read_text(encoding="utf-8", errors="replace")
        m = real.findall(t) + leaks(t)
        if m: bad[str(p)] = m
    assert bad == {}


def test_a_server_that_echoes_the_key_does_not_leak_it(tmp_path, monkeypatch):
    def echo(request):
        return httpx2.Response(401, json={"type": "error", "error": {"type": "authentication_error",
                               "message": f"invalid key {request.headers.get('x-api-key') or request.headers.get('authorization')}"}})
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    pools, vocab, _ = demo_topics(k=2, n=5)
    for cls in (AnthropicRefiner, OpenAICompatibleRefiner):
        r = cls(cache=tmp_path / f"{cls.__name__}.jsonl", http_client=httpx2.Client(transport=httpx2.MockTransport(echo)),
                backoff_base=0.0)
        rs = r.refine_rounds(pools, ("en", "cn"), 4, vocab, rounds=1)
        assert all(x.failure for x in rs[0].values())
        assert not any(leaks(x.failure) for x in rs[0].values()), rs[0][0].failure


@pytest.mark.slow
def test_full_run_directory_holds_no_key(tmp_path, monkeypatch, capfd):
    "run_main_job (Phase 1, refinement with faults, Phase 2, evaluation, report) with a fake key: scan everything."
    from reliability_utils import HashEncoder, tiny_demo
    from llmxtm_nb.api import LLMXTM, run_main_job
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    logging.getLogger().setLevel(logging.DEBUG)
    _, _, themes = demo_topics()
    ref = fake_refiner("anthropic", fake=FakeLLM(themes), rate=0.3, kinds=FAULT_KINDS, seed=2, cache=cache_dir("llm") / "t.jsonl",
                       backoff_base=0.0, prompt_mode="single", max_retries=1)
    d = run_main_job(corpus=tiny_demo(120), refiner=ref, encoder=HashEncoder(), quick=True, out_dir=tmp_path / "run",
                     show_progress=True, model__num_topics=5, model__batch_size=40, model__backbone="NMTM")
    assert (d / "report.html").exists() and ref.fault_transport.counts().get("ok")
    back = LLMXTM.load(d)  # loading the run back must not need (or reveal) the key either
    out = capfd.readouterr()
    assert leaks(out.out + out.err + repr(back)) == []
    assert scan_tree(d) == {} and scan_tree(cache_dir()) == {}
