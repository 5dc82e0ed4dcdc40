"""Data area: benchmark loading, validation of bad input, mini-batches, tokenisation, dictionaries, downloads."""
import functools
import gzip
import hashlib
import http.server
import os
import socket
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from llmxtm_nb.data import (BENCHMARKS, BilingualCorpus, DataError, DataWarning, LanguageSide, PairedBatch,
                            asset_path, find_benchmark, load_benchmark, load_corpus, load_folder, pseudo_texts,
                            read_lines, rows_as_sparse_tensor)
from llmxtm_nb.dictionary import (BilingualDictionary, frequency_weighted_map, nmtm_translation_maps, parse_ch_en_dict,
                                  parse_muse, parse_tsv, read_dictionary)
from llmxtm_nb.tokenize import (build_vocab, bow_matrix, corpus_from_dataframe, corpus_from_texts, looks_pretokenized,
                                tokenize, tokenize_chinese, tokenize_english, tokenize_japanese)
from llmxtm_nb import download as dl

COUNTS = {'ECNews': (37480, 40000, 9370, 10000), 'Amazon_Review': (20000, 20000, 5000, 5000),
          'Rakuten_Amazon': (20000, 20000, 5000, 5000)}


# ---------------------------------------------------------------- benchmarks (need ../shared/data)
@pytest.mark.parametrize('name', list(COUNTS))
def test_benchmark_counts(shared_data, name):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        c = load_benchmark(name, shared_data)
    assert c.langs == BENCHMARKS[name]
    assert (c.l1.n_docs('train'), c.l2.n_docs('train'), c.l1.n_docs('test'), c.l2.n_docs('test')) == COUNTS[name]
    for s in c.sides:
        assert s.vocab_size == 5000 and s.train_bow.shape[1] == 5000 and s.train_bow.dtype == np.float32
        assert sp.isspmatrix_csr(s.train_bow)
        assert len(s.train_texts) == s.n_docs('train') and len(s.train_labels) == s.n_docs('train')
        assert s.word_vectors.shape == (5000, 100)
    assert c.dictionary is not None
    cov = c.coverage()
    assert 0.1 < cov['en'] < 1 and 0.1 < cov[c.l2.lang] < 1 and cov['pairs'] > 1000
    rebuilt = [s.lang for s in c.sides if s.texts_rebuilt]
    if name == 'Amazon_Review':
        assert rebuilt == ['cn'] and c.l2.rebuilt_splits == ('train',)
        assert any('train_texts_cn.txt' in str(x.message) and 'rebuilt' in str(x.message) for x in w)
        # the rebuilt text of a document holds exactly its BoW counts
        row = c.l2.train_bow[7]
        toks = c.l2.train_texts[7].split()
        assert len(toks) == int(row.sum())
        assert sorted(toks) == sorted(w for j, n in zip(row.indices, row.data) for w in [c.l2.vocab[j]] * int(n))
    else:
        assert rebuilt == []
    labels = set(c.l1.label_counts())
    assert labels == ({1, 2, 3, 4, 5, 6} if name == 'ECNews' else {1, 2})


def test_load_corpus_by_name_and_settings(shared_data, monkeypatch):
    c = load_corpus('Rakuten_Amazon', data_dir=shared_data)
    assert c.langs == ('en', 'ja') and 'Rakuten_Amazon' in repr(c)
    monkeypatch.setenv('LLMXTM_DATA', str(shared_data))
    assert find_benchmark('ECNews') == shared_data / 'ECNews'


def test_ecnews_batches_wrap(shared_data):
    c = load_benchmark('ECNews', shared_data, dictionary=False)
    b = c.batches(4096, seed=0)
    assert len(b) == int(np.ceil(40000 / 4096))
    seen1, seen2 = [], []
    for x in b:
        seen1.append(x.idx1.numpy()); seen2.append(x.idx2.numpy())
    s1, s2 = np.concatenate(seen1), np.concatenate(seen2)
    assert len(s2) == 40000 and len(np.unique(s2)) == 40000       # the longer side: every row exactly once
    assert len(np.unique(s1)) == 37480                               # the shorter side wraps: every row at least once


# ---------------------------------------------------------------- a tiny benchmark-format folder
def write_folder(d, n=6, langs=('en', 'cn'), vocab=None):
    d = Path(d); d.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(1)
    vocabs = vocab or {'en': ['apple', 'bank', 'cat', 'dog'], 'cn': ['苹果', '银行', '猫', '狗'], 'ja': ['りんご', '銀行', '猫', '犬']}
    for lang in langs:
        v = vocabs[lang]
        (d / f'vocab_{lang}').write_text('\n'.join(v) + '\n', encoding='utf-8')
        for s in ('train', 'test'):
            m = sp.csr_matrix(r.integers(1, 3, (n, len(v))))
            sp.save_npz(d / f'{s}_bow_matrix_{lang}.npz', m)
            (d / f'{s}_texts_{lang}.txt').write_text(''.join(' '.join(v) + '\n' for _ in range(n)), encoding='utf-8')
            (d / f'{s}_labels_{lang}.txt').write_text('1\n2\n' * (n // 2))
    return d


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / 'Tiny')


def test_folder_loads(folder):
    c = load_folder(folder)
    assert c.name == 'Tiny' and c.langs == ('en', 'cn')
    assert c.l1.train_labels.dtype == np.int64 and c.l1.label_counts() == {1: 3, 2: 3}
    assert 'LanguageSide' in repr(c) and c.summary()['en']['n_train'] == 6
    assert load_corpus(folder).name == 'Tiny'


def test_row_count_mismatch_texts(folder):
    (folder / 'train_texts_cn.txt').write_text('a\n' * 7)
    with pytest.raises(DataError, match=r'train_texts_cn\.txt: 7 texts but .*train_bow_matrix_cn\.npz has 6 rows'):
        load_folder(folder)


def test_row_count_mismatch_labels(folder):
    (folder / 'test_labels_en.txt').write_text('1\n' * 5)
    with pytest.raises(DataError, match=r'test_labels_en\.txt: 5 labels but .*6 rows; expected one line per document'):
        load_folder(folder)


def test_vocab_size_differs_from_bow_width(folder):
    (folder / 'vocab_en').write_text('apple\nbank\ncat\n')
    with pytest.raises(DataError, match=r'train_bow_matrix_en\.npz: BoW has 4 columns but the vocabulary .*vocab_en has 3'):
        load_folder(folder)


def test_duplicate_vocab(folder):
    (folder / 'vocab_cn').write_text('苹果\n银行\n苹果\n狗\n', encoding='utf-8')
    with pytest.raises(DataError, match=r"vocab_cn: duplicate vocabulary entry '苹果' at lines 1 and 3"):
        load_folder(folder)


def test_non_utf8_file(folder):
    (folder / 'train_texts_en.txt').write_bytes(('caf\xe9 bank\n' * 6).encode('latin-1'))
    with pytest.raises(DataError, match=r'train_texts_en\.txt: expected UTF-8 text .*offset 3'):
        load_folder(folder)


def test_non_utf8_dictionary(tmp_path):
    p = tmp_path / 'd.tsv'
    p.write_bytes(b'caf\xe9\tx\n')
    with pytest.raises(DataError, match=r'd\.tsv: expected UTF-8'):
        parse_tsv(p)


def test_bad_label_line(folder):
    (folder / 'train_labels_en.txt').write_text('1\n2\nthree\n1\n2\n1\n')
    with pytest.raises(DataError, match=r"train_labels_en\.txt: line 3 is 'three'; expected one integer"):
        load_folder(folder)


def test_empty_documents_warn_once(folder):
    m = sp.load_npz(folder / 'train_bow_matrix_en.npz').tolil()
    m[1, :] = 0; m[4, :] = 0
    sp.save_npz(folder / 'train_bow_matrix_en.npz', m.tocsr())
    m = sp.load_npz(folder / 'test_bow_matrix_cn.npz').tolil(); m[0, :] = 0
    sp.save_npz(folder / 'test_bow_matrix_cn.npz', m.tocsr())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        c = load_folder(folder)
    msgs = [str(x.message) for x in w if issubclass(x.category, DataWarning)]
    assert len(msgs) == 1 and '3 empty documents' in msgs[0] and 'en train: 2' in msgs[0] and 'cn test: 1' in msgs[0]
    assert c.l1.n_docs('train') == 6 and list(c.l1.empty_docs('train')) == [1, 4]   # kept in place


@pytest.mark.parametrize('missing, pattern', [
    ('vocab_en', r'vocab_en: file not found'),
    ('train_bow_matrix_cn.npz', r'train_bow_matrix_cn\.npz: file not found; expected'),
])
def test_missing_required_files(folder, missing, pattern):
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=pattern):
        load_folder(folder, langs=('en', 'cn'))


def test_missing_folder_and_benchmark(tmp_path):
    with pytest.raises(FileNotFoundError, match='folder not found'):
        load_folder(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match=r"benchmark 'ECNews' not found in: .*download_benchmark"):
        load_benchmark('ECNews', tmp_path)


def test_missing_texts_are_rebuilt(folder):
    (folder / 'test_texts_cn.txt').unlink()
    with pytest.warns(DataWarning, match=r'test_texts_cn\.txt; rebuilt pseudo-texts'):
        c = load_folder(folder)
    assert c.l2.texts_rebuilt and c.l2.rebuilt_splits == ('test',) and not c.l1.texts_rebuilt
    assert len(c.l2.test_texts) == 6 and c.l2.train_texts[0] == '苹果 银行 猫 狗'


def test_pseudo_texts_order():
    m = sp.csr_matrix(np.array([[1, 3, 0, 1], [0, 0, 0, 0]]))
    assert pseudo_texts(m, list('abcd')) == ['b b b a d', '']
    assert pseudo_texts(m, list('abcd'), max_repeat=1) == ['b a d', '']


def test_gz_and_lines(tmp_path):
    with gzip.open(tmp_path / 'x.txt.gz', 'wt', encoding='utf-8') as f:
        f.write('一\n二\n')
    assert read_lines(tmp_path / 'x.txt.gz') == ['一', '二']
    (tmp_path / 'y.txt').write_text('a\u2028b\nc')     # only \n separates lines
    assert read_lines(tmp_path / 'y.txt') == ['a\u2028b', 'c']


def test_same_language_twice_rejected(folder):
    with pytest.raises(DataError, match='both sides have language'):
        load_folder(folder, langs=('en', 'en'))


def test_asset_path_fallback(monkeypatch):
    """Without an installed llmxtm_nb.assets package (plain source checkout) the repository's data/ is used."""
    import importlib.resources
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")
    monkeypatch.setattr(importlib.resources, 'files', missing)
    p = asset_path('demo')
    assert p == Path(__file__).resolve().parents[1] / 'data' / 'demo' and (p / 'vocab_en').exists()


# ---------------------------------------------------------------- mini-batches
def tiny_corpus(n1=5, n2=3, V1=4, V2=3):
    r = np.random.default_rng(0)
    s1 = LanguageSide('en', [f'w{i}' for i in range(V1)], sp.csr_matrix(r.integers(0, 3, (n1, V1))))
    s2 = LanguageSide('ja', [f'語{i}' for i in range(V2)], sp.csr_matrix(r.integers(0, 3, (n2, V2))))
    return BilingualCorpus('tiny', s1, s2)


def test_batches_pairing_and_wrap():
    c = tiny_corpus()
    bs = c.batches(2, seed=0, shuffle=False)
    assert len(bs) == 3
    got = [(b.idx1.tolist(), b.idx2.tolist()) for b in bs]
    assert got == [([0, 1], [0, 1]), ([2, 3], [2, 0]), ([4], [1])]
    for b in bs:
        assert isinstance(b, PairedBatch) and b.x1.dtype == torch.float32 and b.x2.shape[1] == 3
        assert np.array_equal(b.x1.numpy(), c.l1.train_bow[b.idx1.numpy()].toarray())
        assert np.array_equal(b.x2.numpy(), c.l2.train_bow[b.idx2.numpy()].toarray())


def test_sparse_batches_hold_the_same_counts_in_the_same_order():
    c = tiny_corpus(9, 7)
    dense, sparse = list(c.batches(4, seed=3)), list(c.batches(4, seed=3, sparse=True))
    assert len(dense) == len(sparse) == 3
    for d, s in zip(dense, sparse):
        assert s.x1.layout == torch.sparse_coo and s.x1.is_coalesced() and len(s) == len(d)
        assert torch.equal(s.idx1, d.idx1) and torch.equal(s.idx2, d.idx2)
        assert torch.equal(s.x1.to_dense(), d.x1) and torch.equal(s.x2.to_dense(), d.x2)


def test_rows_as_sparse_tensor_equals_scipy_row_indexing():
    """Empty rows, repeated rows, explicit zeros, unsorted input (made canonical by the batches): the tensor holds
    exactly `m[rows]`'s entries, coalesced."""
    from llmxtm_nb.backbone import csr_to_torch
    rng = np.random.default_rng(0)
    m = sp.random(12, 9, density=0.3, random_state=0, format="lil", dtype=np.float32)
    m[3] = 0
    m = sp.csr_matrix(m); m.eliminate_zeros(); m.data[0] = 0.0     # an empty row and one explicit zero
    for rows in (rng.integers(0, 12, 20), np.array([3, 3, 3]), np.arange(12)[::-1], np.array([], np.int64)):
        got = rows_as_sparse_tensor(m, rows)
        want = csr_to_torch(m[rows])
        assert got.is_coalesced() and got.dtype == torch.float32 and got.shape == (len(rows), 9)
        assert torch.equal(got.indices(), want.indices()) and torch.equal(got.values(), want.values())
    unsorted = sp.csr_matrix((np.array([2., 1.], np.float32), np.array([4, 1]), np.array([0, 2, 2])), shape=(2, 5))
    direct = rows_as_sparse_tensor(unsorted, np.array([0, 1, 0]))
    assert torch.equal(direct.indices(), torch.tensor([[0, 0, 2, 2], [1, 4, 1, 4]]))
    assert torch.equal(direct.values(), torch.tensor([1., 2., 1., 2.]))
    c = tiny_corpus(9, 7)
    c.l1.train_bow = sp.vstack([unsorted] * 5, format="csr")[:9]
    assert not c.l1.train_bow.has_canonical_format
    for b in c.batches(4, seed=0, sparse=True):
        truly = torch.sparse_coo_tensor(b.x1.indices(), b.x1.values(), b.x1.shape, check_invariants=True).coalesce()
        assert b.x1.is_coalesced() and torch.equal(b.x1.indices(), truly.indices())
        assert np.array_equal(b.x1.to_dense().numpy(), c.l1.train_bow[b.idx1.numpy()].toarray())


def test_batches_seeded_and_per_epoch():
    c = tiny_corpus(50, 20)
    order = lambda it: [b.idx1.tolist() for b in it]
    assert order(c.batches(8, seed=1)) == order(c.batches(8, seed=1))
    assert order(c.batches(8, seed=1)) != order(c.batches(8, seed=2))
    it = c.batches(8, seed=1)
    e0, e1 = order(it), order(it)                      # the iterator counts its passes: new order per epoch
    assert e0 != e1 and sorted(sum(e0, [])) == sorted(sum(e1, [])) == list(range(50))
    assert order(c.batches(8, seed=1, epoch=1)) == e1   # explicit epoch reproduces it
    assert len(c.batches(8, seed=0)) == 7


def test_batches_test_split_device_and_settings():
    c = tiny_corpus()
    c.l1.test_bow = sp.csr_matrix(np.ones((2, 4))); c.l2.test_bow = sp.csr_matrix(np.ones((3, 3)))
    b = list(c.batches(10, seed=0, split='test', device='cpu'))
    assert len(b) == 1 and b[0].idx1.tolist() != [] and b[0].x2.device.type == 'cpu' and len(b[0]) == 3
    assert len(c.batches()) == 1        # batch size and seed from settings (128, 0)
    with pytest.raises(ValueError, match='batch_size'):
        c.batches(0, seed=0)
    with pytest.raises(ValueError, match='split'):
        c.batches(2, seed=0, split='valid')


def test_side_lookup():
    c = tiny_corpus()
    assert c.side(0) is c.l1 and c.side('ja') is c.l2
    with pytest.raises(KeyError, match='languages'):
        c.side('fr')
    assert c.l1.word_index['w2'] == 2


# ---------------------------------------------------------------- tokenisation and corpora from texts
def test_tokenizers():
    assert tokenize_english('The Market RALLIED, 3 times in 2024!') == ['market', 'rallied', 'times']
    assert tokenize_chinese('股票市场今天大涨。') and all('。' not in t for t in tokenize_chinese('股票市场今天大涨。'))
    ja = tokenize_japanese('東京で美味しいラーメンを食べました。')
    assert 'ラーメン' in ja and '食べる' in ja and 'を' not in ja
    assert looks_pretokenized(['股票 市场 今天 大涨']) and not looks_pretokenized(['股票市场今天大涨'])
    assert tokenize(['股票 市场'], 'cn') == [['股票', '市场']]
    assert tokenize(['ABC def'], 'en', pretokenized=True) == [['ABC', 'def']]


def test_build_vocab_limits():
    docs = [['a', 'b', 'a'], ['b', 'c'], ['b', 'd'], ['b', 'c']]
    assert build_vocab(docs) == ['a', 'b', 'c', 'd']
    assert build_vocab(docs, min_df=2) == ['b', 'c']
    assert build_vocab(docs, max_df=0.5) == ['a', 'c', 'd']
    assert build_vocab(docs, max_df=3) == ['a', 'c', 'd']
    assert build_vocab(docs, vocab_size=2) == ['a', 'b']     # most frequent: b (4), then a and c (2): ties by name
    with pytest.raises(ValueError, match='min_df'):
        build_vocab(docs, min_df=-1)
    m = bow_matrix(docs, ['b', 'c'])
    assert m.dtype == np.float32 and m.toarray().tolist() == [[1, 0], [1, 1], [1, 0], [1, 1]]


EN = ["The striker scored a late goal in the football match.", "Stock prices fell as investors sold shares.",
      "The team won the league after a penalty.", "The central bank raised interest rates again."] * 5
CN = ["球队在比赛最后时刻打进一球。", "投资者抛售股票，股价下跌。", "这支球队点球获胜，赢得联赛冠军。", "央行再次提高利率。"] * 5


def test_corpus_from_lists_split_and_dictionary(tmp_path):
    d = tmp_path / 'd.tsv'; d.write_text('goal\t进球\nbank\t央行\n', encoding='utf-8')
    c = corpus_from_texts(EN, CN, ('en', 'cn'), labels1=[0, 1, 0, 1] * 5, labels2=[0, 1, 0, 1] * 5,
                          test_size=0.2, seed=3, dictionary=d)
    assert (c.l1.n_docs('train'), c.l1.n_docs('test')) == (16, 4)
    assert 'goal' in c.l1.vocab and '股票' in c.l2.vocab and c.l1.train_texts[0] in EN
    assert c.dictionary.coverage(c.l1.vocab, c.l2.vocab)['pairs'] >= 1
    c2 = corpus_from_texts(EN, CN, ('en', 'cn'), test_size=0.2, seed=3)
    assert c2.l1.train_texts == c.l1.train_texts          # seeded split
    c3 = corpus_from_texts(EN, CN, store='tokens')
    assert c3.l2.train_texts[0].split() == tokenize_chinese(CN[0])


def test_corpus_from_files_and_dataframe(tmp_path):
    import pandas as pd
    (tmp_path / 'en.txt').write_text('\n'.join(EN) + '\n'); (tmp_path / 'ja.txt').write_text(
        '\n'.join(['東京で試合を見た。', '株価が下がった。'] * 10) + '\n', encoding='utf-8')
    c = corpus_from_texts(tmp_path / 'en.txt', tmp_path / 'ja.txt', ('en', 'ja'))
    assert c.langs == ('en', 'ja') and c.l2.n_docs() == 20 and '株価' in c.l2.vocab
    df = pd.DataFrame({'text': EN + CN, 'language': ['en'] * 20 + ['cn'] * 20,
                       'label': ['sport', 'money'] * 20, 'split': (['train'] * 15 + ['test'] * 5) * 2})
    c = corpus_from_dataframe(df, split_col='split')
    assert corpus_from_texts(df.drop(columns='split')).l1.n_docs() == 20
    assert c.langs == ('en', 'cn') and c.l1.n_docs('test') == 5 and c.l2.label_counts() == {0: 7, 1: 8} and c.label_names == ['money', 'sport']
    with pytest.raises(DataError, match="no column 'txt'"):
        corpus_from_dataframe(df, text_col='txt')


def test_named_labels_share_codes_across_languages():
    c = corpus_from_texts(EN[:4], CN[:4], labels1=['sport', 'money', 'sport', 'money'], labels2=['weather'] * 2 + ['sport'] * 2)
    assert c.label_names == ['money', 'sport', 'weather']
    assert c.l1.train_labels.tolist() == [1, 0, 1, 0] and c.l2.train_labels.tolist() == [2, 2, 1, 1]


def test_corpus_from_texts_bad_input():
    with pytest.raises(DataError, match='en labels: 3 labels for 20 documents'):
        corpus_from_texts(EN, CN, labels1=[0, 1, 0])
    with pytest.raises(DataError, match='item 1 is int'):
        corpus_from_texts(['a text', 5], CN)
    with pytest.raises(DataError, match='vocabulary is empty'):
        corpus_from_texts(['the and of', 'a the'], CN)
    with pytest.warns(DataWarning, match='empty documents'):
        corpus_from_texts(EN + ['the of and'], CN)


# ---------------------------------------------------------------- dictionaries
def test_dictionary_parsers(tmp_path):
    (tmp_path / 'ch_en_dict.dat').write_text('音乐\tmusic\n歌\tsong\n坏行\n多\t字段\t太多\n', encoding='utf-8')
    with pytest.warns(DataWarning, match=r'ch_en_dict\.dat: skipped 2 line\(s\) .*lines 3, 4'):
        d = parse_ch_en_dict(tmp_path / 'ch_en_dict.dat')
    assert d.langs == ('en', 'cn') and d.pairs == [('music', '音乐'), ('song', '歌')] and d.skipped == 2
    (tmp_path / 'ja-en.txt').write_text('日本 japan\nこの this\n', encoding='utf-8')
    assert parse_muse(tmp_path / 'ja-en.txt').pairs == [('japan', '日本'), ('this', 'この')]
    assert read_dictionary(tmp_path / 'ja-en.txt', ('ja', 'en')).pairs[0] == ('日本', 'japan')
    (tmp_path / 'g.tsv').write_text('# comment\nhello\tbonjour\n', encoding='utf-8')
    assert parse_tsv(tmp_path / 'g.tsv', ('en', 'fr')).pairs == [('hello', 'bonjour')]
    with pytest.raises(DataError, match='the corpus needs'):
        read_dictionary(tmp_path / 'ja-en.txt', ('en', 'cn'))
    with pytest.raises(FileNotFoundError, match='nope.tsv: file not found'):
        parse_tsv(tmp_path / 'nope.tsv')


def test_translation_matrix_coverage_and_nmtm_maps():
    c = tiny_corpus(4, 3, V1=3, V2=2)
    c.l1.vocab, c.l2.vocab = ['a', 'b', 'c'], ['x', 'y']
    c.l1.train_bow = sp.csr_matrix(np.array([[1, 0, 0], [3, 1, 0], [0, 1, 0], [0, 1, 0]], np.float32))
    c.l2.train_bow = sp.csr_matrix(np.array([[1, 0], [1, 3], [0, 0]], np.float32))
    c.dictionary = BilingualDictionary([('a', 'x'), ('a', 'y'), ('b', 'y'), ('zzz', 'x')], ('en', 'ja'))
    T = c.dictionary.translation_matrix(c.l1.vocab, c.l2.vocab)
    assert T.shape == (3, 2) and T.toarray().tolist() == [[1, 1], [0, 1], [0, 0]]
    assert c.coverage() == {'en': 2 / 3, 'ja': 1.0, 'pairs': 3}
    M12, M21 = nmtm_translation_maps(c)
    assert np.allclose(M12.toarray(), [[2 / 5, 3 / 5], [0, 1], [0, 0]])   # f2 = (2, 3)
    assert np.allclose(M21.toarray(), [[1, 0, 0], [4 / 7, 3 / 7, 0]])   # f1 = (4, 3, 0)
    s = np.asarray(M12.sum(1)).ravel()
    assert np.allclose(s[s > 0], 1)
    c.dictionary = None
    with pytest.raises(DataError, match='no bilingual dictionary'):
        nmtm_translation_maps(c)


# ---------------------------------------------------------------- downloads (local server only)
class RangeHandler(http.server.SimpleHTTPRequestHandler):
    ranges = []
    def log_message(self, *a): pass
    def do_GET(self):
        p = Path(self.translate_path(self.path))
        if not p.is_file():
            return self.send_error(404)
        data, start = p.read_bytes(), 0
        rng = self.headers.get('Range')
        RangeHandler.ranges.append(rng)
        if rng:
            start = int(rng.split('=')[1].split('-')[0])
            if start >= len(data):
                return self.send_error(416)
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        self.send_header('Content-Length', str(len(data) - start)); self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tmp_path):
    root = tmp_path / 'srv'; root.mkdir()
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(RangeHandler, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    RangeHandler.ranges = []
    yield root, f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close()


def test_download_resume_and_verify(server, tmp_path):
    root, url = server
    blob = os.urandom(200_000); (root / 'f.bin').write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()
    dst = tmp_path / 'out'; dst.mkdir()
    (dst / 'f.bin.part').write_bytes(blob[:70_000])
    dl.download_file(f'{url}/f.bin', dst / 'f.bin', digest)
    assert (dst / 'f.bin').read_bytes() == blob and RangeHandler.ranges[-1] == 'bytes=70000-'
    with pytest.raises(dl.DownloadError, match=r'g\.bin: SHA-256 .* does not match'):
        dl.download_file(f'{url}/f.bin', dst / 'g.bin', 'f' * 64)
    assert not (dst / 'g.bin').exists() and not (dst / 'g.bin.part').exists()
    with pytest.raises(dl.DownloadError, match='HTTP 404'):
        dl.download_file(f'{url}/missing.bin', dst / 'm.bin')


def test_download_server_without_range_restarts(tmp_path):
    root = tmp_path / 'plain'; root.mkdir(); blob = os.urandom(50_000); (root / 'f.bin').write_bytes(blob)
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(
        type('Quiet', (http.server.SimpleHTTPRequestHandler,), {'log_message': lambda *a: None}), directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        (tmp_path / 'f.bin.part').write_bytes(b'garbage')
        dl.download_file(f'http://127.0.0.1:{srv.server_address[1]}/f.bin', tmp_path / 'f.bin',
                         hashlib.sha256(blob).hexdigest())
        assert (tmp_path / 'f.bin').read_bytes() == blob
    finally:
        srv.shutdown(); srv.server_close()


def test_download_offline_message(tmp_path):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()   # a closed port
    with pytest.raises(dl.DownloadError, match=r'could not download .*offline.*Manual alternative: .*InfoCTM'):
        dl.download_benchmark('ECNews', tmp_path, base_url=f'http://127.0.0.1:{port}', timeout=5)


def test_download_benchmark_from_local_mirror(server, tmp_path):
    import zipfile
    root, url = server
    src = write_folder(root / 'Rakuten_Amazon', langs=('en', 'ja'))
    (root / 'dict').mkdir()
    with zipfile.ZipFile(root / 'dict.zip', 'w') as z:
        z.writestr('dict/MUSE/ja-en.txt', 'りんご apple\n猫 cat\n')
        z.writestr('dict/ch_en_dict.dat', '苹果\tapple\n')
    ref = tmp_path / 'ref'; (ref / 'dict' / 'MUSE').mkdir(parents=True)
    import shutil
    shutil.copytree(src, ref / 'Rakuten_Amazon')
    (ref / 'dict' / 'MUSE' / 'ja-en.txt').write_text('りんご apple\n猫 cat\n', encoding='utf-8')
    (ref / 'dict' / 'ch_en_dict.dat').write_text('苹果\tapple\n', encoding='utf-8')
    for other in ('ECNews', 'Amazon_Review'):
        write_folder(ref / other)
    manifest = dl.build_manifest(ref)
    target = tmp_path / 'userdata'
    out = dl.download_benchmark('Rakuten_Amazon', target, base_url=url, manifest=manifest)
    assert out == target / 'Rakuten_Amazon'
    c = load_benchmark('Rakuten_Amazon', target)
    assert c.langs == ('en', 'ja') and c.dictionary.pairs == [('apple', 'りんご'), ('cat', '猫')]
    n = len(RangeHandler.ranges)
    dl.download_benchmark('Rakuten_Amazon', target, base_url=url, manifest=manifest)   # all verified: no request
    assert len(RangeHandler.ranges) == n
    (root / 'Rakuten_Amazon' / 'vocab_ja').write_text('tampered\n')
    (target / 'Rakuten_Amazon' / 'vocab_ja').unlink()
    with pytest.raises(dl.DownloadError, match='does not match'):
        dl.download_benchmark('Rakuten_Amazon', target, base_url=url, manifest=manifest)


def test_bundled_manifest_matches_shared_data(shared_data):
    m = dl.load_manifest()
    assert m['sources']['benchmarks']['commit'] == 'c3a62c403aa5b318cc5a3200542db06250a76607'
    assert dl.build_manifest(shared_data)['files'] == m['files']
