"""Bad files (issue 10): a corrupted checkpoint, record, transcript cache, embedding cache or benchmark result is
detected, reported with its path, and never silently used."""
import json
import sqlite3
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reliability_utils import FAKE_KEY, demo_topics, tiny_demo  # noqa: E402

from llmxtm_nb.bench import BenchError, load_result  # noqa: E402
from llmxtm_nb.encoders import EmbeddingCache, EmbeddingCacheWarning, _text_key  # noqa: E402
from llmxtm_nb.faults import FakeLLM, fake_refiner  # noqa: E402
from llmxtm_nb.record import RecordError, RefinementRecord  # noqa: E402
from llmxtm_nb.refine import refine  # noqa: E402
from llmxtm_nb.refiners import TranscriptCache, cache_key  # noqa: E402


# ---------- refinement record (checksummed JSON) ----------

@pytest.fixture(scope="module")
def record_file(tmp_path_factory):
    pools, vocab, themes = demo_topics(k=3, n=6)
    d = tmp_path_factory.mktemp("rec")
    ev = refine(pools, fake_refiner("openai", fake=FakeLLM(themes), cache=d / "t.jsonl", backoff_base=0.0), rounds=2, keep=5,
                vocab=vocab, verbose=False)
    rec = RefinementRecord(); rec.append(ev)
    return rec.save(d / "record.json")


def _corruptions(good: str):
    d = json.loads(good)
    edited = json.loads(good); edited["payload"]["events"][0]["topics"][0]["refined"]["en"][0] = "poison"
    old = json.loads(good); old["schema_version"] = 99
    other = json.loads(good); other["schema"] = "something.else"
    nopayload = dict(d); nopayload.pop("payload")
    return {"truncated": good[: len(good) // 2], "empty": "", "edited word": json.dumps(edited),
            "future version": json.dumps(old), "other schema": json.dumps(other), "no payload": json.dumps(nopayload),
            "not json": "<html>502</html>", "a list": "[1, 2]"}


@pytest.mark.parametrize("case", ["truncated", "empty", "edited word", "future version", "other schema", "no payload",
                                  "not json", "a list"])
def test_corrupted_record_is_refused_with_its_path(record_file, case, tmp_path):
    bad = tmp_path / "record.json"
    bad.write_text(_corruptions(record_file.read_text())[case], encoding="utf-8")
    with pytest.raises((RecordError, ValueError)) as e:
        RefinementRecord.load(bad)
    assert str(bad) in str(e.value), str(e.value)
    assert RefinementRecord.load(record_file)  # the good one still loads


# ---------- transcript cache (JSON lines) ----------

def test_cut_transcript_line_is_reported_and_never_used(tmp_path):
    pools, vocab, themes = demo_topics(k=2, n=5)
    path = tmp_path / "transcript.jsonl"
    fake = FakeLLM(themes)
    r = fake_refiner("openai", fake=fake, cache=path, backoff_base=0.0, prompt_mode="single")
    refine(pools, r, rounds=1, keep=5, vocab=vocab, verbose=False)
    assert fake.requests == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2], encoding="utf-8")  # a write cut short by a kill
    with pytest.warns(UserWarning, match=str(path).replace("\\", "\\\\")):
        c = TranscriptCache(path)
    assert len(c) == 1 and c.bad_lines == 1
    r2 = fake_refiner("openai", fake=fake, cache=c, backoff_base=0.0, prompt_mode="single")
    ev = refine(pools, r2, rounds=1, keep=5, vocab=vocab, verbose=False)
    assert r2.stats.cache_hits == 1 and fake.requests == 3  # the cut entry was asked again, not replayed
    assert ev.summary()["rounds_failed"] == 0


# ---------- embedding cache (SQLite with per-row CRC) ----------

def test_garbage_embedding_cache_is_moved_aside_with_a_warning(tmp_path):
    p = tmp_path / "enc.sqlite"
    p.write_bytes(b"this is not a database" * 100)
    c = EmbeddingCache(p)
    with pytest.warns(EmbeddingCacheWarning, match="corrupt") as w:
        assert len(c) == 0
    assert str(p) in str(w[0].message)
    assert list(tmp_path.glob("enc.sqlite.corrupt-*")), "the bad file is kept aside for inspection, not deleted"
    c.close()


def test_tampered_embedding_row_is_dropped_not_used(tmp_path):
    p = tmp_path / "enc.sqlite"
    c = EmbeddingCache(p)
    keys = [_text_key("query", w) for w in ("game", "team")]
    c.put(keys, np.ones((2, 4), np.float32))
    c.close()
    con = sqlite3.connect(p)
    con.execute("UPDATE vec SET v=? WHERE key=?", (np.full(4, 7, np.float32).tobytes(), keys[0]))
    con.commit(); con.close()
    c = EmbeddingCache(p)
    with pytest.warns(EmbeddingCacheWarning, match=p.name):
        got = c.get(keys, dim=4)
    assert list(got) == [keys[1]]  # the tampered row is not returned (and will be recomputed)
    c.close()


# ---------- benchmark results ----------

def test_bad_benchmark_result_names_its_file(tmp_path):
    p = tmp_path / "x.json"
    for text in ("{", '{"figures": [{"name": "t", "value": "fast"}]}', "[]"):
        p.write_text(text)
        with pytest.raises(BenchError, match=str(p)):
            load_result(p)


# ---------- trainer checkpoint ----------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from llmxtm_nb.core import load_settings
    from llmxtm_nb.trainer import Trainer, build_backbone
    c = tiny_demo(); s = load_settings()
    d = tmp_path_factory.mktemp("ck")

    def trainer():
        return Trainer(build_backbone("NMTM", c, s, num_topics=5), c, s, epochs=1, batch_size=40, show_progress=False,
                       checkpoint_dir=d)
    trainer().save_checkpoint()
    return d / "checkpoint.pt", trainer


def _bad_checkpoints(good: bytes):
    return {"empty": b"", "garbage": bytes(range(256)) * 20, "truncated": good[: len(good) // 2]}


@pytest.mark.parametrize("case", ["empty", "garbage", "truncated"])
def test_corrupted_checkpoint_is_refused(checkpoint, case):
    path, trainer = checkpoint
    good = path.read_bytes()
    try:
        path.write_bytes(_bad_checkpoints(good)[case])
        with pytest.raises(Exception):
            trainer().resume()
    finally:
        path.write_bytes(good)


@pytest.mark.parametrize("case", ["empty", "garbage", "truncated"])
def test_corrupted_checkpoint_error_names_its_path(checkpoint, case):
    path, trainer = checkpoint
    good = path.read_bytes()
    try:
        path.write_bytes(_bad_checkpoints(good)[case])
        with pytest.raises(Exception, match=str(path)):
            trainer().resume()
    finally:
        path.write_bytes(good)


def test_bit_flip_in_checkpoint_is_detected(checkpoint):
    path, trainer = checkpoint
    good = path.read_bytes()
    i = len(good) // 2
    try:
        path.write_bytes(good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1:])
        with pytest.raises(Exception, match=str(path)):
            trainer().resume()
    finally:
        path.write_bytes(good)


# ---------- run directory (LLMXTM.save / LLMXTM.load) ----------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from llmxtm_nb.api import LLMXTM
    from llmxtm_nb.core import load_settings
    from reliability_utils import HashEncoder
    m = LLMXTM(tiny_demo(120), load_settings(), encoder=HashEncoder(), show_progress=False, model__num_topics=5,
               model__batch_size=40, model__backbone="NMTM")
    m.fit_phase1(epochs=1)
    return m.save(tmp_path_factory.mktemp("run") / "run")


def _load(d):
    from llmxtm_nb.api import LLMXTM
    from reliability_utils import HashEncoder
    return LLMXTM.load(d, corpus=tiny_demo(120), encoder=HashEncoder(), show_progress=False)


RUN_FILES = ["model.pt", "settings.json", "history.json", "results.json", "records/refinement_record.json"]


@pytest.mark.parametrize("name", RUN_FILES)
def test_truncated_run_file_is_refused(run_dir, name):
    p = run_dir / name
    good = p.read_bytes()
    try:
        p.write_bytes(good[: len(good) // 2])
        with pytest.raises(Exception):
            _load(run_dir)
    finally:
        p.write_bytes(good)
    _load(run_dir)  # intact again


@pytest.mark.parametrize("name", RUN_FILES)
def test_truncated_run_file_error_names_it(run_dir, name):
    p = run_dir / name
    good = p.read_bytes()
    try:
        p.write_bytes(good[: len(good) // 2])
        with pytest.raises(Exception, match=str(p)):
            _load(run_dir)
    finally:
        p.write_bytes(good)
