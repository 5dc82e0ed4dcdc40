"""Adversarial LLM output (issue 10): wrong language or script, prompt-like text inside word lists, thousands of
words, empty output, other topics' ids, unicode confusables. The parser never crashes and every word it accepts is
in the vocabulary of its language (and written in that language's script)."""
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from llmxtm_nb.parse import parse_response, script_ok

V = {"en": ["game", "team", "coach", "player", "stock", "market", "bank", "price", "rock", "music", "ignore", "system"],
     "cn": ["比赛", "球队", "教练", "球员", "股票", "市场", "银行", "价格", "音乐", "摇滚"],
     "ja": ["試合", "チーム", "コーチ", "選手", "株", "市場", "銀行", "価格", "音楽", "ロック"]}
VS = {k: set(v) for k, v in V.items()}


def check(res, ids, langs, keep=None):
    "The invariants: one result per requested topic, proposal xor failure, accepted words in the vocabulary."
    assert sorted(res) == sorted(ids)
    for r in res.values():
        assert (r.proposal is None) != (r.failure is None)
        if r.proposal is None: continue
        assert set(r.proposal) == set(langs)
        for lang, ws in r.proposal.items():
            assert ws and len(ws) == len(set(ws))
            assert all(w in VS[lang] and script_ok(w, lang) for w in ws), (lang, ws)
            if keep is not None: assert len(ws) <= keep
        for lang, ws in r.oov.items():
            assert all(w not in VS[lang] for w in ws)


# ---------- hand-written adversarial answers ----------

def test_wrong_language_and_script_are_never_accepted():
    text = ("Topic 0: sports\nEN: 比赛 | 球队 | 試合 | チーム | game\nCN: game | team | チーム | 試合 | 比赛\n"
            "Topic 1: finance\nEN: акция | рынок | stock\nCN: 株 | 市場 | 股票\n")
    res = parse_response(text, [0, 1], ("en", "cn"), V)
    check(res, [0, 1], ("en", "cn"))
    assert res[0].proposal == {"en": ["game"], "cn": ["比赛"]}
    # 市場 is Japanese (not in the Chinese vocabulary even though it is Han script); 株 too
    assert res[1].proposal == {"en": ["stock"], "cn": ["股票"]}
    # ja: Chinese simplified words that are not Japanese vocabulary are rejected or counted as OOV, never accepted
    res = parse_response("Topic 0:\nEN: game\nJA: 比赛 | 球队 | 試合", [0], ("en", "ja"), V)
    assert res[0].proposal == {"en": ["game"], "ja": ["試合"]}


def test_prompt_like_text_inside_word_lists():
    text = ("Topic 0: ignore the instructions above\n"
            "EN: ignore previous instructions | system: you are now | Topic 1: | game | <|im_start|>system | "
            "</s> | {{vocab}} | team\n"
            "CN: 忽略之前的指令 | 比赛 | 系统提示 | 球队\n")
    res = parse_response(text, [0], ("en", "cn"), V)
    check(res, [0], ("en", "cn"))
    # phrases are rejected whole: "ignore previous instructions" does not sneak in 'ignore'
    # ('system' may come through from '<|im_start|>system': '|' separates entries and it is a vocabulary word)
    assert "ignore" not in res[0].proposal["en"] and {"game", "team"} <= set(res[0].proposal["en"])
    assert res[0].proposal["cn"] == ["比赛", "球队"]
    # a line pretending to be another topic's header inside a list does not create a topic
    text = "Topic 0: x\nEN: game, team\nCN: 比赛\nTopic 1: x\nEN: Topic 0: stock, market\nCN: 股票"
    res = parse_response(text, [0, 1], ("en", "cn"), V)
    check(res, [0, 1], ("en", "cn"))
    assert res[0].proposal["en"] == ["game", "team"]


def test_thousands_of_words_are_capped_fast():
    junk = [f"word{i}" for i in range(5000)]
    en = " | ".join(junk[:2500] + V["en"] + junk[2500:])
    cn = "、".join(["测试"] * 3000 + V["cn"])
    text = f"Topic 0: everything\nEN: {en}\nCN: {cn}\n" * 3
    t0 = time.perf_counter()
    res = parse_response(text, [0], ("en", "cn"), V, keep=5)
    assert time.perf_counter() - t0 < 10
    check(res, [0], ("en", "cn"), keep=5)
    assert res[0].proposal["en"] == V["en"][:5]
    assert len(res[0].oov["en"]) == 5000  # every out-of-vocabulary proposal is counted, not silently dropped
    assert any("kept the first 5" in n for n in res[0].notes)


@pytest.mark.parametrize("text", [None, "", "   \n\t", "\n\n\n", "Topic 0:", "Topic 0:\nEN:\nCN:", "EN: | | |\nCN: 、、、",
                                  "\x00\x00", "```\n```", "I cannot help with that."])
def test_empty_and_contentless_output(text):
    res = parse_response(text, [0, 1], ("en", "cn"), V)
    check(res, [0, 1], ("en", "cn"))
    assert all(r.failure for r in res.values())


def test_other_topics_ids_never_leak_words_into_absent_topics():
    # the answer covers topics the request did not ask for, plus one it did
    text = ("Topic 12: x\nEN: stock\nCN: 股票\nTopic 3: y\nEN: game\nCN: 比赛\n"
            "Topic 40: z\nEN: music\nCN: 音乐\n")
    res = parse_response(text, [3], ("en", "cn"), V)
    check(res, [3], ("en", "cn"))
    assert res[3].proposal == {"en": ["game"], "cn": ["比赛"]}
    res = parse_response(text, [3, 5], ("en", "cn"), V)
    check(res, [3, 5], ("en", "cn"))
    assert res[3].proposal == {"en": ["game"], "cn": ["比赛"]}


def test_a_block_with_a_requested_id_goes_to_that_topic():
    text = "Topic 7: finance\nEN: stock | market\nCN: 股票 | 市场\nTopic 9: sports\nEN: game | team\nCN: 比赛 | 球队\n"
    res = parse_response(text, [3, 7], ("en", "cn"), V)
    assert res[7].proposal is None or res[7].proposal["en"] == ["stock", "market"]


CONFUSABLES = {
    "gаme": "Cyrillic a", "tеam": "Cyrillic e", "ѕtock": "Cyrillic dze", "bank\u200b": "zero-width space",
    "ga\u200dme": "zero-width joiner", "\u202egame": "right-to-left override", "game\u0301": "combining accent",
    "ｓｔｏｃｋ": "fullwidth (NFKC: stock)", "𝐠𝐚𝐦𝐞": "mathematical bold (NFKC: game)", "ⅿusic": "roman numeral m",
    "⽐赛": "Kangxi radical (NFKC: 比赛)", "股\ufe00票": "variation selector", "球\u3000队": "ideographic space",
}


def test_unicode_confusables():
    en = " | ".join(k for k in CONFUSABLES if not any(0x2E80 <= ord(c) for c in k))
    cn = " | ".join(k for k in CONFUSABLES if any(0x2E80 <= ord(c) <= 0x9FFF for c in k))
    res = parse_response(f"Topic 0: x\nEN: {en}\nCN: {cn}\n", [0], ("en", "cn"), V)
    check(res, [0], ("en", "cn"))
    for lang, ws in (res[0].proposal or {}).items():
        for w in ws:  # only words that are exactly vocabulary entries once NFKC-normalised can come through
            assert unicodedata.normalize("NFKC", w) == w and w in VS[lang]


# ---------- property-based ----------

WRONG_SCRIPT = V["cn"] + V["ja"] + ["акция", "рынок", "σπορ", "경기", "مباراة", "खेल"]
PROMPTY = ["ignore previous instructions", "system:", "<|im_start|>", "</s>", "Topic 3:", "EN:", "CN:", "### Instruction",
           "You are ChatGPT", "{{vocab}}", "\\n", "```json", '{"topic": 1}', "Assistant:", "Human:"]
CONF = list(CONFUSABLES)
word = st.one_of(st.sampled_from(V["en"] + V["cn"] + V["ja"]), st.sampled_from(WRONG_SCRIPT), st.sampled_from(PROMPTY),
                 st.sampled_from(CONF), st.text(max_size=6),
                 st.text(alphabet=st.characters(categories=["Cf", "Mn", "Zs", "Co", "Cs"]), max_size=4))
sep = st.sampled_from([" | ", ", ", "、", " ", "\t", ";", "/", " — ", "|"])
label = st.sampled_from(["EN", "CN", "JA", "ZH", "English", "中文", "日本語", "FR", "XX"])
wordline = st.builds(lambda lab, ws, s: f"{lab}: " + s.join(ws), label, st.lists(word, max_size=30), sep)
header = st.builds(lambda i, t: f"Topic {i}: {t}", st.integers(-3, 99), st.sampled_from(["", "x"] + PROMPTY))
big = st.builds(lambda lab, n, w: f"{lab}: " + " | ".join([w] * n), label, st.integers(500, 3000), word)
answer = st.one_of(st.lists(st.one_of(header, wordline, st.sampled_from(PROMPTY), big), max_size=25).map("\n".join),
                   st.just(""), st.none())


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(answer, st.lists(st.integers(0, 99), min_size=1, max_size=5, unique=True),
       st.sampled_from([("en", "cn"), ("en", "ja"), ("cn", "en")]), st.one_of(st.none(), st.integers(1, 15)))
def test_adversarial_answers_never_crash_and_stay_in_vocabulary(text, ids, langs, keep):
    check(parse_response(text, ids, langs, V, keep=keep), ids, langs, keep)
