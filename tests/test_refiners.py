"""LLM refiners through the real anthropic / openai SDKs with a mocked HTTP transport (never the network):
request shape, usage and cost accounting, retries, budget stop, cache and replay, concurrency, parsing."""
import json
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent / 'fixtures'))
from fake_llm import FakeLLM, NoNetwork, client  # noqa: E402

from llmxtm_nb.core import load_settings  # noqa: E402
from llmxtm_nb.record import TopicPool  # noqa: E402
from llmxtm_nb.refiners import (AnthropicRefiner, OfflineEmbeddingRefiner, OpenAICompatibleRefiner, RefinerError,  # noqa: E402
                                TranscriptCache, cache_key, get_refiner, is_retryable, price_for)
from llmxtm_nb.refine import refine  # noqa: E402

WT = {'en': {'game': 0, 'team': 0, 'coach': 0, 'player': 0, 'match': 0, 'stock': 1, 'market': 1, 'bank': 1, 'price': 1,
             'investor': 1, 'banana': 2, 'umbrella': 3},
      'cn': {'比赛': 0, '球队': 0, '教练': 0, '球员': 0, '冠军': 0, '股票': 1, '市场': 1, '银行': 1, '价格': 1, '投资': 1,
             '香蕉': 2, '雨伞': 3}}
THEMES = ['sports', 'finance', 'fruit', 'rain']
VOCAB = {l: list(d) for l, d in WT.items()}
POOLS = [TopicPool(0, {'en': [('game', .3), ('team', .2), ('coach', .2), ('banana', .1)], 'cn': [('比赛', .4), ('球队', .3), ('香蕉', .1)]}),
         TopicPool(1, {'en': [('stock', .3), ('market', .2), ('umbrella', .1)], 'cn': [('股票', .4), ('市场', .3), ('雨伞', .1)]})]
LANGS = ('en', 'cn')


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv('ANTHROPIC_API_KEY', 'sk-ant-SECRET-test-key')
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-oai-SECRET-test-key')


def anthropic(tmp_path, fake, **kw):
    return AnthropicRefiner(model='claude-test', cache=tmp_path / 't.jsonl', http_client=client(fake), backoff_base=0.001, **kw)


def openai_(tmp_path, fake, **kw):
    kw.setdefault('base_url', 'https://llm.example.test/v1')
    return OpenAICompatibleRefiner(model='gpt-test', cache=tmp_path / 't.jsonl', http_client=client(fake), backoff_base=0.001, **kw)


def test_anthropic_request_shape_usage_and_parse(tmp_path, keys):
    fake = FakeLLM(WT, THEMES, drift=True)
    ref = anthropic(tmp_path, fake, temperature=0.7, price=(3.0, 15.0))
    rounds = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=2)
    assert fake.calls == 2 and ref.stats.requests == 2
    body = fake.bodies[0]
    assert body['url'] == 'https://api.anthropic.com/v1/messages'
    assert body['model'] == 'claude-test' and body['temperature'] == 0.7 and body['max_tokens'] > 100
    assert [m['role'] for m in body['messages']] == ['user'] and 'Topic 1:' in body['messages'][0]['content']
    assert 'English' in body['messages'][0]['content'] and 'Chinese' in body['messages'][0]['content']
    assert isinstance(body['system'], str)
    # usage accounting from the response's usage fields
    tin = sum(len(b['messages'][-1]['content']) // 4 + 20 for b in fake.bodies)
    assert ref.stats.input_tokens == tin and ref.stats.output_tokens > 0
    assert ref.stats.cost_usd == pytest.approx((tin * 3.0 + ref.stats.output_tokens * 15.0) / 1e6)
    # realistic answer parsed: noise dropped, theme words kept/added
    for r in rounds:
        assert 'banana' not in r[0].proposal['en'] and 'game' in r[0].proposal['en'] and r[0].theme.lower() == 'sports'
        assert '雨伞' not in r[1].proposal['cn'] and r[1].proposal['cn'][0] == '股票'
    # the key never reaches the transcript
    assert 'SECRET' not in (tmp_path / 't.jsonl').read_text(encoding='utf-8')
    assert 'SECRET' not in json.dumps(ref.describe())


def test_anthropic_sends_key_header(tmp_path, keys):
    seen = {}
    fake = FakeLLM(WT, THEMES)

    def handler(request):
        seen['key'] = request.headers.get('x-api-key') or request.headers.get('authorization', '').removeprefix('Bearer ')
        return fake(request)
    anthropic(tmp_path, handler).complete('sys', 'Topics to refine:\nTopic 0:\nEN: game\nCN: 比赛', sample=0)
    assert seen['key'] == 'sk-ant-SECRET-test-key'


def test_openai_compatible_request_shape(tmp_path, keys):
    fake = FakeLLM(WT, THEMES)
    ref = openai_(tmp_path, fake, temperature=1.3, prompt_mode='single')
    rounds = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=2)
    assert fake.calls == 4  # single mode: one request per topic and round
    b = fake.bodies[0]
    assert b['url'] == 'https://llm.example.test/v1/chat/completions'
    assert b['model'] == 'gpt-test' and b['temperature'] == 1.3
    assert [m['role'] for m in b['messages']] == ['system', 'user'] and 'for contrast only' in b['messages'][1]['content']
    assert ref.stats.input_tokens > 0 and ref.stats.output_tokens > 0 and ref.stats.cost_usd is None  # unknown price
    assert all(r[t].ok for r in rounds for t in (0, 1))


def test_local_endpoint_needs_no_key(tmp_path, monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    fake = FakeLLM(WT, THEMES)
    ref = openai_(tmp_path, fake, base_url='http://localhost:11434/v1')
    assert ref.price == (0.0, 0.0)
    c = ref.complete('s', 'Topics to refine:\nTopic 0:\nEN: game\nCN: 比赛')
    assert c.error is None and fake.calls == 1


def test_missing_key_is_a_clear_failure_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.delenv('ANTHROPIC_API_KEY', raising=False)
    fake = FakeLLM(WT, THEMES)
    ref = anthropic(tmp_path, fake)
    rounds = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=1)
    assert fake.calls == 0 and 'ANTHROPIC_API_KEY' in rounds[0][0].failure


@pytest.mark.parametrize('failures', [[429], [500], [0], [429, 503, 0], [529]])
def test_retries_on_rate_limit_server_error_timeout(tmp_path, keys, failures):
    for make in (anthropic, openai_):
        fake = FakeLLM(WT, THEMES, failures=list(failures))
        ref = make(tmp_path / make.__name__, fake, max_retries=5)
        c = ref.complete('s', 'Topics to refine:\nTopic 0:\nEN: game\nCN: 比赛')
        assert c.error is None and c.text
        assert ref.stats.retries == len(failures) and ref.stats.requests == len(failures) + 1 and fake.calls == len(failures) + 1


def test_no_retry_on_client_error_and_retry_limit(tmp_path, keys):
    fake = FakeLLM(WT, THEMES, failures=[400])
    ref = anthropic(tmp_path, fake)
    c = ref.complete('s', 'x')
    assert c.error and 'BadRequest' in c.error and fake.calls == 1 and ref.stats.retries == 0
    fake = FakeLLM(WT, THEMES, failures=[500] * 10)
    ref = openai_(tmp_path, fake, max_retries=2)
    rounds = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=1)
    assert fake.calls == 3 and ref.stats.failures == 1
    assert all(rounds[0][t].failure.startswith('request failed') for t in (0, 1))


def test_backoff_grows_exponentially_with_jitter(tmp_path, keys, monkeypatch):
    sleeps = []
    monkeypatch.setattr(time, 'sleep', lambda s: sleeps.append(s))
    fake = FakeLLM(WT, THEMES, failures=[500, 500, 500, 500])
    ref = openai_(tmp_path, fake, max_retries=4)
    ref.backoff_base = 1.0
    assert ref.complete('s', 'Topics to refine:\nTopic 0:\nEN: game\nCN: 比赛').error is None
    assert len(sleeps) == 4 and all(0 <= s <= 2 ** i for i, s in enumerate(sleeps))
    assert len(set(sleeps)) == 4  # jitter


def test_temperature_refused_falls_back(tmp_path, keys):
    fake = FakeLLM(WT, THEMES)

    def handler(request):
        if 'temperature' in json.loads(request.content):
            return httpx2.Response(400, json={'type': 'error', 'error': {'type': 'invalid_request_error',
                                                                          'message': 'temperature is not supported for this model'}})
        return fake(request)
    ref = anthropic(tmp_path, handler)
    c = ref.complete('s', 'Topics to refine:\nTopic 0:\nEN: game\nCN: 比赛')
    assert c.error is None and not ref.send_temperature and 'temperature' in ref.stats.notes[0]


def test_budget_stops_cleanly(tmp_path, keys):
    fake = FakeLLM(WT, THEMES)
    ref = openai_(tmp_path, fake, prompt_mode='single', max_requests=3, max_concurrency=1)
    ev = refine(POOLS, ref, rounds=3, keep=4, vocab=VOCAB, verbose=False)
    assert fake.calls == 3 and ev.stats['requests'] == 3 and ev.stats['budget_stopped']
    fails = [r.failure for t in ev.topics for r in t.rounds if not r.ok]
    assert len(fails) == 3 and all('budget exhausted' in f for f in fails)
    assert all(not t.all_failed for t in ev.topics)  # the rounds that ran still vote
    # token budget
    fake = FakeLLM(WT, THEMES)
    ref = openai_(tmp_path / 'b', fake, prompt_mode='single', max_tokens=1, max_concurrency=1)
    ev = refine(POOLS, ref, rounds=2, keep=4, vocab=VOCAB, verbose=False)
    assert fake.calls == 1 and ev.stats['budget_stopped']


def test_cache_hits_and_replay_make_zero_requests(tmp_path, keys):
    fake = FakeLLM(WT, THEMES)
    ref = anthropic(tmp_path, fake)
    first = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=3)
    assert fake.calls == 3 and ref.stats.cache_hits == 0
    ref.reset()
    again = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=3)
    assert fake.calls == 3 and ref.stats.cache_hits == 3 and ref.stats.requests == 0
    assert [r[0].proposal for r in again] == [r[0].proposal for r in first] and again[0][0].cached
    # replay only, through a transport that refuses everything; a 4th round is not in the transcript
    nonet = NoNetwork()
    rep = AnthropicRefiner(model='claude-test', cache=tmp_path / 't.jsonl', replay=True, http_client=client(nonet))
    rr = rep.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=4)
    assert nonet.calls == 0 and rep.stats.cache_hits == 3 and rep.stats.requests == 0
    assert 'replay mode' in rr[3][0].failure
    # estimate sees the cached rounds
    est = rep.estimate(POOLS, LANGS, 4, rounds=4)
    assert est['requests'] == 4 and est['cached'] == 3
    # export a run's transcript
    p = rep.save_transcript(tmp_path / 'ship.jsonl')
    assert len(TranscriptCache(p)) == 3


def test_cache_key_covers_provider_model_prompt_temperature_sample():
    base = ('anthropic', 'm', 's', 'p', 1.0, 0)
    k = cache_key(*base)
    for i, alt in enumerate(['openai', 'm2', 's2', 'p2', 0.5, 1]):
        changed = list(base); changed[i] = alt
        assert cache_key(*changed) != k
    assert cache_key(*base) == k


def test_transcript_tolerates_a_cut_line(tmp_path):
    p = tmp_path / 't.jsonl'
    c = TranscriptCache(p)
    c.put({'key': 'a', 'response': 'x'})
    with open(p, 'a', encoding='utf-8') as f:
        f.write('{"key": "b", "respo')  # a write cut short
    with pytest.warns(UserWarning, match='unreadable'):
        c2 = TranscriptCache(p)
    assert 'a' in c2 and 'b' not in c2 and c2.bad_lines == 1


def test_bounded_concurrency(tmp_path, keys):
    fake = FakeLLM(WT, THEMES)
    state = {'now': 0, 'max': 0}
    lock = threading.Lock()

    def handler(request):
        with lock:
            state['now'] += 1; state['max'] = max(state['max'], state['now'])
        time.sleep(0.05)
        try:
            with lock:
                return fake(request)
        finally:
            with lock:
                state['now'] -= 1
    ref = openai_(tmp_path, handler, prompt_mode='single', max_concurrency=2)
    ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=4)
    assert fake.calls == 8 and state['max'] == 2


def test_estimate_by_mode(tmp_path, keys):
    pools = [TopicPool(k, POOLS[k % 2].words) for k in range(5)]
    n = {m: openai_(tmp_path, FakeLLM(WT, THEMES), prompt_mode=m, chunk_size=2).estimate(pools, LANGS, 4, rounds=3)
         for m in ('all', 'chunk', 'single')}
    assert (n['all']['requests'], n['chunk']['requests'], n['single']['requests']) == (3, 9, 15)
    assert n['all']['input_tokens'] < n['single']['input_tokens']


def test_retryable_classification():
    import anthropic as A
    import openai as O
    req = httpx2.Request('POST', 'https://x')
    assert is_retryable(A.APITimeoutError(request=req)) and is_retryable(O.APIConnectionError(request=req))
    for code, exp in [(429, True), (500, True), (503, True), (529, True), (400, False), (401, False), (404, False)]:
        e = O.APIStatusError('m', response=httpx2.Response(code, request=req), body=None)
        assert is_retryable(e) is exp, code
    assert not is_retryable(ValueError('x'))


def test_get_refiner_and_prices():
    assert isinstance(get_refiner(load_settings()), OfflineEmbeddingRefiner)
    r = get_refiner(load_settings(refine__provider='anthropic', refine__temperature=0.5, refine__max_requests=7))
    assert isinstance(r, AnthropicRefiner) and r.temperature == 0.5 and r.max_requests == 7 and r.model
    r = get_refiner(load_settings(refine__provider='openai', refine__model='gemini-2.5-flash',
                                  refine__base_url='https://generativelanguage.googleapis.com/v1beta/openai/'))
    assert isinstance(r, OpenAICompatibleRefiner) and r.api_key_env == 'GEMINI_API_KEY' and r.price == (0.3, 2.5)
    assert price_for('claude-sonnet-4-6') == (3.0, 15.0) and price_for('unknown-model') is None
    with pytest.raises(RefinerError, match='unknown refine.provider'):
        from llmxtm_nb.refiners import PROVIDERS  # noqa: F401
        get_refiner(type('S', (), {'refine': type('R', (), {'provider': 'nope'})()})())


def test_error_text_never_carries_the_key(tmp_path, keys):
    def echo(request):
        auth = request.headers.get('x-api-key') or request.headers.get('authorization')
        return httpx2.Response(401, json={'type': 'error', 'error': {'type': 'authentication_error', 'message': f'invalid key {auth}'}})
    for make in (anthropic, openai_):
        ref = make(tmp_path / make.__name__, echo)
        rs = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=1)
        assert all(r.failure and 'SECRET' not in r.failure and '[REDACTED]' in r.failure for r in rs[0].values())
    from llmxtm_nb.refiners import redact
    assert redact('x sk-abcdefghijkl y Bearer abcdefghij AIza' + 'b' * 30, ['mysecret1']) == 'x [REDACTED] y [REDACTED] [REDACTED]'
    assert redact('key mysecret1 here', ['mysecret1']) == 'key [REDACTED] here'


def test_truncated_answer_is_noted(tmp_path, keys):
    def handler(request):
        text = "Topic 0: sports\nEN: game | team\nCN: 比赛 | 球队\nTopic 1: fin"
        return httpx2.Response(200, json={'id': 'c', 'object': 'chat.completion', 'created': 0, 'model': 'gpt-test',
                                          'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'length'}],
                                          'usage': {'prompt_tokens': 5, 'completion_tokens': 5, 'total_tokens': 10}})
    ref = openai_(tmp_path, handler)
    rs = ref.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=1)
    assert rs[0][0].ok and any('max_tokens' in n for n in rs[0][0].notes) and not rs[0][1].ok
    # the flag survives replay
    rep = openai_(tmp_path, NoNetwork(), replay=True)
    assert any('max_tokens' in n for n in rep.refine_rounds(POOLS, LANGS, 4, VOCAB, rounds=1)[0][0].notes)
