"""Self-consistent refinement: voting, the offline embedding refiner on the demo corpus, replay of recorded LLM
transcripts with zero requests, and the LLM judge on recorded responses."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

FIX = Path(__file__).parent / 'fixtures'
sys.path.insert(0, str(FIX))
from fake_llm import NoNetwork, client  # noqa: E402

from llmxtm_nb.record import RefinementRecord, RoundResult, TopicPool  # noqa: E402
from llmxtm_nb.refine import refine, vote  # noqa: E402
from llmxtm_nb.refiners import AnthropicRefiner, OfflineEmbeddingRefiner, OpenAICompatibleRefiner, Refiner  # noqa: E402
from llmxtm_nb.judge import judge_topics, parse_rating, topics_from_sets  # noqa: E402


# ---------------- voting ----------------

def test_vote_counts_and_deterministic_ties():
    counts, top = vote([['a', 'b', 'c'], ['b', 'a', 'd'], ['a', 'd', 'e']], keep=3)
    assert counts == {'a': 3, 'b': 2, 'c': 1, 'd': 2, 'e': 1} and top == ['a', 'b', 'd']
    # same votes and mean position -> higher pool weight -> alphabetical
    assert vote([['y', 'x'], ['x', 'y']], 1, {'x': .1, 'y': .2})[1] == ['y']
    assert vote([['y', 'x'], ['x', 'y']], 2)[1] == ['x', 'y']
    # a word listed twice in one round votes once
    assert vote([['a', 'a', 'b']], 5)[0] == {'a': 1, 'b': 1}
    # input order of rounds does not matter
    rs = [['a', 'b', 'c'], ['c', 'b', 'a'], ['b', 'c', 'd']]
    assert vote(rs, 3) == vote(rs[::-1], 3)


class ScriptedRefiner(Refiner):
    "A test double: returns pre-written rounds."
    name = 'scripted'

    def __init__(self, rounds): self.rounds = rounds

    def refine_rounds(self, pools, langs, keep, vocab, rounds, mapper=None, epoch=0):
        return self.rounds[:rounds]


POOL = TopicPool(0, {'en': [('game', .4), ('team', .3), ('banana', .1)], 'cn': [('比赛', .5), ('香蕉', .1)]})
VOC = {'en': ['game', 'team', 'banana', 'coach'], 'cn': ['比赛', '香蕉', '球队']}


def test_refine_votes_topM_and_failed_rounds():
    rounds = [{0: RoundResult('r1', {'en': ['game', 'coach', 'team'], 'cn': ['比赛', '球队']}, theme='Sports')},
              {0: RoundResult('r2', {'en': ['coach', 'game'], 'cn': ['球队', '比赛']}, theme='sports')},
              {0: RoundResult('r3', None, 'topic 0 missing from the response')}]
    ev = refine([POOL], ScriptedRefiner(rounds), rounds=3, keep=2, vocab=VOC, verbose=False)
    t = ev.topics[0]
    assert t.votes['en'] == {'game': 2, 'coach': 2, 'team': 1} and t.refined['en'] == ['game', 'coach']
    assert t.refined['cn'] == ['比赛', '球队'] and t.theme == 'Sports' and len(t.rounds) == 3 and t.n_ok == 2
    assert t.diff['en'] == {'kept': ['game'], 'removed': ['team', 'banana'], 'added': ['coach']}
    assert ev.final_sets()[0] == {'en': {'game': 2.0, 'coach': 2.0}, 'cn': {'比赛': 2.0, '球队': 2.0}}
    # R = 1: the single answer is the refined set
    ev1 = refine([POOL], ScriptedRefiner(rounds), rounds=1, keep=5, vocab=VOC, verbose=False)
    assert ev1.topics[0].refined['en'] == ['game', 'coach', 'team'] and ev1.rounds == 1
    # every round failed -> None (keep the previous target)
    evf = refine([POOL], ScriptedRefiner([{0: RoundResult(None, None, 'x')}] * 2), rounds=2, keep=2, vocab=VOC, verbose=False)
    assert evf.topics[0].all_failed and evf.final_sets()[0] is None


def test_refine_input_validation():
    r = ScriptedRefiner([])
    with pytest.raises(ValueError, match='rounds'):
        refine([POOL], r, rounds=0, keep=2, vocab=VOC)
    with pytest.raises(ValueError, match='vocab'):
        refine([POOL], r, rounds=1, keep=2)
    with pytest.raises(ValueError, match='unique'):
        refine([POOL, POOL], r, rounds=1, keep=2, vocab=VOC)


# ---------------- offline embedding refiner on the demo corpus ----------------

@pytest.fixture(scope='session')
def demo():
    "Demo corpus, planted-theme pools with injected noise, and the vocabulary embeddings (encoded once)."
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.encoders import get_encoder
    from record_transcripts import planted_pools
    c = load_corpus('demo')
    vocab = {'en': list(map(str, c.l1.vocab)), 'cn': list(map(str, c.l2.vocab))}
    enc = get_encoder(cache=False)
    emb = {l: enc.encode(vocab[l], kind='query', show_progress=False) for l in vocab}
    pools, noise = planted_pools(c, seed=3)
    wt = {'en': c.ground_truth['word_theme_1'], 'cn': c.ground_truth['word_theme_2']}
    return {'corpus': c, 'vocab': vocab, 'emb': emb, 'pools': pools, 'noise': noise, 'wt': wt}


@pytest.mark.slow
def test_offline_refiner_drops_injected_noise(demo):
    ref = OfflineEmbeddingRefiner(embeddings=demo['emb'], temperature=1.0, seed=0)
    assert not ref.is_llm and 'not an llm' in OfflineEmbeddingRefiner.__doc__.lower()
    ev = refine(demo['pools'], ref, rounds=5, keep=15, vocab=demo['vocab'], verbose=False)
    dropped, total, on_theme, n = 0, 0, 0, 0
    for t in ev.topics:
        for l in ('en', 'cn'):
            nz = set(demo['noise'][f'{t.topic_id}:{l}'])
            dropped += len(nz - set(t.refined[l])); total += len(nz)
            assert len(t.refined[l]) == 15
            on_theme += sum(demo['wt'][l].get(w, -1) == t.topic_id for w in t.refined[l]); n += len(t.refined[l])
            assert all(len(r.proposal[l]) == 15 for r in t.rounds)  # exactly M words per language per round
    assert dropped / total >= 0.8, f'only {dropped}/{total} noise words dropped'
    assert on_theme / n >= 0.85, f'theme precision {on_theme / n:.2f}'
    # rounds differ (temperature) but the vote is stable; reruns are identical
    t0 = ev.topics[0]
    assert len({tuple(r.proposal['en']) for r in t0.rounds}) > 1
    ev2 = refine(demo['pools'], OfflineEmbeddingRefiner(embeddings=demo['emb'], temperature=1.0, seed=0),
                 rounds=5, keep=15, vocab=demo['vocab'], verbose=False)
    assert [t.refined for t in ev2.topics] == [t.refined for t in ev.topics]
    assert ev.refiner['is_llm'] is False and ev.refiner['name'] == 'offline-embedding'


def test_offline_refiner_r1_and_temperature_zero(demo):
    ref = OfflineEmbeddingRefiner(embeddings=demo['emb'], temperature=0.0)
    ev = refine(demo['pools'][:3], ref, rounds=2, keep=10, vocab=demo['vocab'], verbose=False)
    for t in ev.topics:
        assert t.rounds[0].proposal == t.rounds[1].proposal  # T = 0: deterministic
        assert all(c == 2 for c in t.votes['en'].values())
    ev1 = refine(demo['pools'][:3], OfflineEmbeddingRefiner(embeddings=demo['emb']), rounds=1, keep=10,
                 vocab=demo['vocab'], verbose=False)
    assert all(len(t.refined['cn']) == 10 and set(t.votes['cn'].values()) == {1} for t in ev1.topics)


# ---------------- replay of recorded LLM transcripts ----------------

@pytest.fixture
def recorded(tmp_path):
    d = json.loads((FIX / 'demo_pools.json').read_text(encoding='utf-8'))
    for name in ('transcript_anthropic_demo.jsonl', 'transcript_openai_demo.jsonl', 'transcript_judge_demo.jsonl'):
        shutil.copy(FIX / name, tmp_path / name)
    d['pools'] = [TopicPool.from_dict(p) for p in d['pools']]
    d['dir'] = tmp_path
    return d


def test_replay_anthropic_transcript_zero_requests(recorded, monkeypatch):
    monkeypatch.delenv('ANTHROPIC_API_KEY', raising=False)  # replay needs no key
    nonet = NoNetwork()
    ref = AnthropicRefiner(model='claude-sonnet-4-6', cache=recorded['dir'] / 'transcript_anthropic_demo.jsonl',
                           replay=True, http_client=client(nonet))
    ev = refine(recorded['pools'], ref, rounds=3, keep=15, vocab=recorded['vocab'], verbose=False)
    assert nonet.calls == 0 and ev.stats['requests'] == 0 and ev.stats['cache_hits'] == 3
    assert all(r.cached and r.ok for t in ev.topics for r in t.rounds)
    noise = recorded['noise']
    kept_noise = sum(len(set(noise[f'{t.topic_id}:{l}']) & set(t.refined[l])) for t in ev.topics for l in ('en', 'cn'))
    assert kept_noise == 0
    assert ev.summary()['oov_proposals'] > 0  # the recorded answers contain OOV words: counted, kept in the record
    assert all(w in set(recorded['vocab'][l]) for fs in ev.final_sets().values() for l, ws in fs.items() for w in ws)
    p = RefinementRecord([ev]).save(recorded['dir'] / 'record.json')
    assert RefinementRecord.load(p)[0].final_sets() == ev.final_sets()


def test_replay_openai_chunk_transcript_with_missing_topics(recorded, monkeypatch):
    nonet = NoNetwork()
    ref = OpenAICompatibleRefiner(model='gemini-2.5-flash', base_url='https://generativelanguage.googleapis.com/v1beta/openai/',
                                  prompt_mode='chunk', chunk_size=4, replay=True, http_client=client(nonet),
                                  cache=recorded['dir'] / 'transcript_openai_demo.jsonl')
    ev = refine(recorded['pools'], ref, rounds=3, keep=15, vocab=recorded['vocab'], verbose=False)
    assert nonet.calls == 0 and ev.stats['cache_hits'] == 9
    failed = [t.topic_id for t in ev.topics if t.all_failed]
    assert failed == [2, 6]  # the recorded model skipped the 3rd topic of every chunk
    fs = ev.final_sets()
    assert fs[2] is None and fs[6] is None and fs[0] is not None
    assert all('missing from the response' in r.failure for r in ev.topic(2).rounds)


def test_judge_on_recorded_responses(recorded):
    nonet = NoNetwork()
    j = OpenAICompatibleRefiner(model='gemini-2.5-flash', base_url='https://generativelanguage.googleapis.com/v1beta/openai/',
                                replay=True, http_client=client(nonet), cache=recorded['dir'] / 'transcript_judge_demo.jsonl')
    topics = {l: [[w for w, _ in p.words[l]] for p in recorded['pools']] for l in ('en', 'cn')}
    res = judge_topics(topics, j, runs=2, verbose=False)
    assert nonet.calls == 0 and j.stats.cache_hits == 60 and res.failures == 0
    assert res.coherence.shape == (10, 2) and res.similarity.shape == (10,) and res.coherence_runs.shape == (2, 10, 2)
    assert np.all((res.coherence >= 1) & (res.coherence <= 3))
    s = res.summary()
    assert set(s) == {'coherence_en', 'coherence_cn', 'similarity', 'failures'}
    json.dumps(res.to_dict())


def test_judge_rating_parse_and_topics_from_sets():
    assert [parse_rating(t) for t in ['3', ' 2.', '**1**', 'I would say 2/3', '5', 'three', None]] == [3, 2, 1, 2, None, None, None]
    fs = {1: {'en': {'b': 1.0, 'a': 2.0}, 'cn': {'乙': 1.0}}, 0: None}
    assert topics_from_sets(fs, ('en', 'cn')) == {'en': [[], ['a', 'b']], 'cn': [[], ['乙']]}


@pytest.mark.slow
def test_oov_policy_nearest_maps_and_flags(tmp_path, monkeypatch):
    import httpx2
    from llmxtm_nb.core import load_settings
    monkeypatch.setenv('ANTHROPIC_API_KEY', 'sk-test')
    text = "Topic 0: sports\nEN: game | footballer | xylophone\nCN: 比赛 | 球员们 | 民主"

    def handler(request):
        return httpx2.Response(200, json={'id': 'm', 'type': 'message', 'role': 'assistant', 'model': 'x',
                                          'content': [{'type': 'text', 'text': text}], 'stop_reason': 'end_turn',
                                          'stop_sequence': None, 'usage': {'input_tokens': 10, 'output_tokens': 10}})
    vocab = {'en': ['game', 'team', 'coach', 'player', 'stock', 'market'], 'cn': ['比赛', '球队', '教练', '球员', '股票', '市场']}
    pool = TopicPool(0, {'en': [('game', .5), ('team', .3)], 'cn': [('比赛', .5), ('球队', .3)]})
    ref = AnthropicRefiner(model='m', cache=tmp_path / 't.jsonl', http_client=client(handler))
    s = load_settings(refine__oov_policy='nearest')
    ev = refine([pool], ref, rounds=1, keep=5, vocab=vocab, settings=s, verbose=False)
    r = ev.topics[0].rounds[0]
    assert r.oov == {'en': ['footballer', 'xylophone'], 'cn': ['球员们', '民主']}
    assert [m[:2] for m in r.mapped['en']] == [['footballer', 'player']] and [m[:2] for m in r.mapped['cn']] == [['球员们', '球员']]
    assert r.proposal == {'en': ['game', 'player'], 'cn': ['比赛', '球员']} and ev.stats['oov_policy'] == 'nearest'
    # default policy drops them (but still records them)
    ev = refine([pool], ref, rounds=1, keep=5, vocab=vocab, verbose=False)
    assert ev.topics[0].rounds[0].proposal == {'en': ['game'], 'cn': ['比赛']} and ev.topics[0].rounds[0].oov['en'] == ['footballer', 'xylophone']
