"""Parser of refiner answers: tolerant of format drift, strict on content, never raises."""
from hypothesis import HealthCheck, given, settings, strategies as st

from llmxtm_nb.parse import NearestVocabMapper, check_words, parse_response, script_ok, split_words

V = {'en': ['game', 'team', 'coach', 'player', 'stock', 'market', 'bank', 'price', 'rock', 'music'],
     'cn': ['比赛', '球队', '教练', '球员', '股票', '市场', '银行', '价格', '音乐', '摇滚'],
     'ja': ['試合', 'チーム', 'コーチ', '選手', '株', '市場', '銀行', '価格', '音楽', 'ロック']}
VS = {l: set(v) for l, v in V.items()}


def check_result(res, topic_ids, langs, keep=None):
    assert sorted(res) == sorted(topic_ids)
    for r in res.values():
        assert (r.proposal is None) != (r.failure is None)
        if r.proposal is not None:
            assert set(r.proposal) == set(langs)
            for lang, ws in r.proposal.items():
                assert ws, 'a successful proposal has words in every language'
                assert len(ws) == len(set(ws))
                assert all(w in VS[lang] and script_ok(w, lang) for w in ws), (lang, ws)
                if keep is not None:
                    assert len(ws) <= keep
        for lang, ws in r.oov.items():
            assert all(w not in VS[lang] for w in ws)


def test_clean_answer_and_realistic_drift():
    text = """Okay, here is my answer.

1. **Topic 1: Sports**
   - EN：Game, team , coach, footballer, "player"
   - CN：比赛、球队、教练、足球员、football
2. **Topic 2 — Finance**
   * English: stock - market - real estate - bank_account - bank
   * Chinese: 股票｜市场｜银行 (bank)｜价格
"""
    res = parse_response(text, [0, 1], ('en', 'cn'), V, keep=4)
    check_result(res, [0, 1], ('en', 'cn'), keep=4)
    a, b = res[0], res[1]
    assert a.proposal == {'en': ['game', 'team', 'coach', 'player'], 'cn': ['比赛', '球队', '教练']}
    assert a.oov == {'en': ['footballer'], 'cn': ['足球员']} and a.rejected['cn'] == [['football', 'script']]
    assert a.theme == 'Sports' and any('renumbered' in n for n in a.notes)
    assert b.proposal == {'en': ['stock', 'market', 'bank'], 'cn': ['股票', '市场', '银行', '价格']}
    assert ['real estate', 'phrase'] in b.rejected['en'] and ['bank_account', 'compound'] in b.rejected['en']


def test_missing_renumbered_and_local_numbering():
    # chunk of topics 10..12 numbered 1..3 by the model, topic 2 of 3 missing
    text = "Topic 1: a\nEN: game\nCN: 比赛\n\nTopic 3: c\nEN: stock\nCN: 股票"
    res = parse_response(text, [10, 11, 12], ('en', 'cn'), V)
    assert res[10].proposal == {'en': ['game'], 'cn': ['比赛']} and res[12].proposal == {'en': ['stock'], 'cn': ['股票']}
    assert res[11].failure and 'missing' in res[11].failure
    # a block with a requested number goes to that topic; other numbers are not guessed by order
    res = parse_response("Topic 7: a\nEN: stock\nCN: 股票\nTopic 9: b\nEN: game\nCN: 比赛", [3, 7], ('en', 'cn'), V)
    assert res[7].proposal['en'] == ['stock'] and res[3].failure == 'topic 3 missing from the response'
    # numbered from 1 for ids from 0: a constant shift, one topic missing
    res = parse_response("Topic 1: a\nEN: game\nCN: 比赛\nTopic 3: c\nEN: stock\nCN: 股票", [0, 1, 2], ('en', 'cn'), V)
    assert res[0].proposal['en'] == ['game'] and res[2].proposal['en'] == ['stock'] and res[1].failure
    # ids match: by id, order ignored
    res = parse_response("Topic 5: x\nEN: stock\nCN: 股票\nTopic 4: y\nEN: game\nCN: 比赛", [4, 5], ('en', 'cn'), V)
    assert res[4].proposal['en'] == ['game'] and res[5].proposal['en'] == ['stock']
    # a single topic without any header (single mode)
    res = parse_response("EN: game team\nCN: 比赛 球队", [7], ('en', 'cn'), V)
    assert res[7].proposal == {'en': ['game', 'team'], 'cn': ['比赛', '球队']}
    # a language with only invalid words fails the topic for this round
    res = parse_response("Topic 0: x\nEN: game\nCN: football, 足球员", [0], ('en', 'cn'), V)
    assert res[0].proposal is None and 'no valid CN words' in res[0].failure and res[0].oov == {'cn': ['足球员']}


def test_too_many_words_are_noted_and_capped():
    res = parse_response("Topic 0: x\nEN: " + ' | '.join(V['en']) + "\nCN: " + ' | '.join(V['cn']), [0], ('en', 'cn'), V, keep=3)
    assert res[0].proposal['en'] == V['en'][:3] and any('kept the first 3' in n for n in res[0].notes)


def test_japanese_script_and_labels():
    text = "トピック 0：スポーツ\n英語: game, team\n日本語：試合、チーム、コーチ、サッカー、baseball"
    res = parse_response(text, [0], ('en', 'ja'), V)
    assert res[0].proposal == {'en': ['game', 'team'], 'ja': ['試合', 'チーム', 'コーチ']}
    assert res[0].oov == {'ja': ['サッカー']} and res[0].rejected['ja'] == [['baseball', 'script']]


def test_scripts():
    assert script_ok('rock', 'en') and not script_ok('摇滚', 'en') and not script_ok('rock n', 'en')
    assert script_ok('摇滚', 'cn') and script_ok('摇滚', 'zh') and not script_ok('ロック', 'cn')
    assert script_ok('ロック', 'ja') and script_ok('試合', 'ja') and script_ok('すごい', 'ja') and not script_ok('rock', 'ja')


def test_split_words_separators():
    for s in ['a | b | c', 'a, b, c', 'a - b - c', 'a、b、c', 'a；b；c', 'a / b / c', 'a b c']:
        assert [p.strip() for p in split_words(s)[0]] == ['a', 'b', 'c'], s


def test_nearest_mapping_is_flagged():
    class Enc:  # deterministic toy encoder: one-hot of the first letter
        def encode(self, texts, kind='query', show_progress=False):
            import numpy as np
            X = np.zeros((len(texts), 26), dtype=np.float32)
            for i, t in enumerate(texts):
                X[i, (ord(t[0].lower()) - 97) % 26] = 1
            return X
    m = NearestVocabMapper(Enc(), {'en': ['game', 'stock']}, min_similarity=0.9)
    ws, oov, mapped, rej = check_words(['goalkeeper', 'zebra', 'stock'], 'en', VS['en'], mapper=m)
    assert ws == ['game', 'stock'] and oov == ['goalkeeper', 'zebra'] and mapped == [['goalkeeper', 'game', 1.0]]


# ---------- property-based: thousands of malformed answers never crash and never leak OOV words ----------

ALL_WORDS = V['en'] + V['cn'] + V['ja'] + ['footballer', '足球员', 'real estate', 'bank_account', 'well-known', '', '123',
                                           'ＧＡＭＥ', 'Game.', '"team"', '**coach**', '(比赛)', 'rock!', 'e\u0301', '\x00', '🙂']
SEPS = [' | ', ', ', ' - ', '、', '，', ' ', '\t', ';', '/', '|', ' — ', '']
HEADERS = ['Topic {i}: {t}', '**Topic {i}:** {t}', '### Topic {i} — {t}', 'topic #{i}', 'Topic{i}', '{i}. Topic {i}: {t}',
           '"topic": {i},', 'トピック{i}：{t}', '主题 {i}:', 'Topic {i}', 'TOPIC -{i}-', 'Topic {i}: EN: game']
LABELS = ['EN', 'en', 'English', 'CN', 'ZH', 'Chinese', '中文', 'JA', '日本語', 'Japanese', 'FR', 'EN words', '"EN"', '- **EN**']
COLONS = [':', '：', ' :', '=', ' - ', '']

word = st.sampled_from(ALL_WORDS) | st.text(max_size=8)
line = st.one_of(
    st.builds(lambda h, i, t: h.format(i=i, t=t), st.sampled_from(HEADERS), st.integers(-2, 30), st.text(max_size=10)),
    st.builds(lambda lab, c, ws, sep: f"{lab}{c} " + sep.join(ws), st.sampled_from(LABELS), st.sampled_from(COLONS),
              st.lists(word, max_size=20), st.sampled_from(SEPS)),
    st.text(max_size=40),
    st.sampled_from(['```', '---', '', 'Here are the refined topics:', '{"topics": [', ']}', '> note', '* * *']),
)
answer = st.one_of(st.lists(line, max_size=40).map('\n'.join), st.text(max_size=300), st.none())
topic_ids = st.lists(st.integers(0, 25), min_size=1, max_size=6, unique=True)
langs = st.sampled_from([('en', 'cn'), ('en', 'ja'), ('cn', 'en')])


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(answer, topic_ids, langs, st.one_of(st.none(), st.integers(1, 15)))
def test_parser_never_raises_and_only_returns_vocabulary_words(text, ids, lg, keep):
    res = parse_response(text, ids, lg, V, keep=keep)
    check_result(res, ids, lg, keep)


def test_half_width_katakana_vocabulary():
    # the Rakuten vocabulary has half-width katakana; answers are NFKC-normalised (full-width) before lookup
    res = parse_response("Topic 0: size\nEN: game\nJA: インチ、ｾﾝﾁ、試合", [0], ('en', 'ja'), {'en': ['game'], 'ja': ['ｲﾝﾁ', 'ｾﾝﾁ', '試合']})
    assert res[0].proposal == {'en': ['game'], 'ja': ['ｲﾝﾁ', 'ｾﾝﾁ', '試合']}
    assert script_ok('ｲﾝﾁ', 'ja')


def test_benchmark_vocabularies_pass_their_script_check(shared_data):
    "Every word of the real vocabularies passes its language's script check, so no valid proposal is rejected for its script."
    import pytest
    seen = 0
    for ds, langs in [('ECNews', ('en', 'cn')), ('Amazon_Review', ('en', 'cn')), ('Rakuten_Amazon', ('en', 'ja'))]:
        for lang in langs:
            p = shared_data / ds / f'vocab_{lang}'
            if not p.exists():
                continue
            words = p.read_text(encoding='utf-8').split()
            bad = [w for w in words if not script_ok(w, lang)]
            assert not bad, f'{ds} {lang}: {bad[:10]}'
            other, ow = ('cn', '比赛') if lang == 'en' else ('en', 'game')
            res = parse_response(f"Topic 0: x\n{other.upper()}: {ow}\n{lang.upper()}: " + ' | '.join(words[:15]), [0],
                                 (other, lang), {other: [ow], lang: words}, keep=15)
            assert res[0].proposal[lang] == words[:15]
            seen += 1
    if not seen:
        pytest.skip('no benchmark vocabulary files found')
