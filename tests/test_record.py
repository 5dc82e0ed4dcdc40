"""Refinement record: pools, final_sets semantics, decisions, JSON save/load with schema version and checksum."""
import json

import numpy as np
import pytest

from llmxtm_nb.record import (Decision, RecordError, RefinementEvent, RefinementRecord, RoundResult, TopicPool,
                              TopicRefinement, pools_from_beta, RECORD_VERSION)


def make_event():
    p0 = TopicPool(0, {'en': [('game', .3), ('team', .2), ('weather', .1)], 'cn': [('比赛', .4), ('天气', .1)]})
    p1 = TopicPool(1, {'en': [('stock', .5), ('cat', .1)], 'cn': [('股票', .5)]})
    p2 = TopicPool(2, {'en': [('rain', .5)], 'cn': [('雨', .5)]})
    r0 = [RoundResult('Topic 0: sports\nEN: game | team | coach', {'en': ['game', 'team', 'coach'], 'cn': ['比赛', '球队']}, theme='sports'),
          RoundResult('...', {'en': ['game', 'coach', 'player'], 'cn': ['比赛', '球员']}, oov={'en': ['footballer']}, theme='Sports'),
          RoundResult('???', None, 'no topic block found in the response')]
    t0 = TopicRefinement(0, p0, 'sports', r0, {'en': {'game': 2, 'coach': 2, 'team': 1, 'player': 1}, 'cn': {'比赛': 2, '球队': 1, '球员': 1}},
                         {'en': ['game', 'coach', 'team'], 'cn': ['比赛', '球队']})
    t1 = TopicRefinement(1, p1, 'finance', [RoundResult('x', {'en': ['stock', 'market'], 'cn': ['股票', '市场']})],
                         {'en': {'stock': 1, 'market': 1}, 'cn': {'股票': 1, '市场': 1}}, {'en': ['stock', 'market'], 'cn': ['股票', '市场']})
    t2 = TopicRefinement(2, p2, None, [RoundResult(None, None, 'request failed: budget exhausted')] * 3)
    for t in (t0, t1, t2):
        t.compute_diff()
    return RefinementEvent(20, {'name': 'test', 'model': 'm', 'provider': 'none', 'is_llm': True}, 3, 3, ('en', 'cn'), [t0, t1, t2])


def test_pools_from_beta_top_n_and_checks():
    rng = np.random.default_rng(0)
    b1, b2 = rng.dirichlet(np.ones(30), 4), rng.dirichlet(np.ones(20), 4)
    v1, v2 = [f'w{i}' for i in range(30)], [f'字{i}' for i in range(20)]
    pools = pools_from_beta(b1, b2, v1, v2, ('en', 'cn'), n=15)
    assert [p.topic_id for p in pools] == [0, 1, 2, 3]
    for k, p in enumerate(pools):
        assert len(p.words['en']) == 15 and len(p.words['cn']) == 15
        assert p.word_list('en')[0] == v1[int(np.argmax(b1[k]))]
        ws = [w for _, w in p.words['cn']]
        assert ws == sorted(ws, reverse=True)
        assert all(type(w) is str and type(x) is float for w, x in p.words['en'])
    with pytest.raises(ValueError, match='topics'):
        pools_from_beta(b1, b2[:3], v1, v2, ('en', 'cn'))
    with pytest.raises(ValueError, match='vocabulary'):
        pools_from_beta(b1, b2, v1[:-1], v2, ('en', 'cn'))


def test_diff_kept_removed_added():
    t = make_event().topic(0)
    assert t.diff['en'] == {'kept': ['game', 'team'], 'removed': ['weather'], 'added': ['coach']}
    assert t.diff['cn'] == {'kept': ['比赛'], 'removed': ['天气'], 'added': ['球队']}


def test_final_sets_semantics():
    ev = make_event()
    fs = ev.final_sets()  # pending -> accept
    assert fs[0] == {'en': {'game': 2.0, 'coach': 2.0, 'team': 1.0}, 'cn': {'比赛': 2.0, '球队': 1.0}}
    assert fs[2] is None  # every round failed: keep the previous target
    assert ev.final_sets(pending='skip') == {0: None, 1: None, 2: None}
    assert ev.final_sets(pending='reject')[0] == {'en': {'game': .3, 'team': .2, 'weather': .1}, 'cn': {'比赛': .4, '天气': .1}}
    ev.reject(1, who='ana')
    assert ev.final_sets()[1] == {'en': {'stock': .5, 'cat': .1}, 'cn': {'股票': .5}}
    ev.edit(0, {'en': ['game', 'referee', 'game']}, who='bo')  # duplicates removed; cn keeps refined words
    assert ev.final_sets()[0] == {'en': {'game': 2.0, 'referee': 1.0}, 'cn': {'比赛': 2.0, '球队': 1.0}}
    ev.reject(2)  # explicit rejection applies even when every round failed
    assert ev.final_sets()[2] == {'en': {'rain': .5}, 'cn': {'雨': .5}}
    ev.accept(2)
    assert ev.final_sets()[2] is None
    ev.reset(0)
    assert ev.topic(0).decision == Decision()
    with pytest.raises(ValueError):
        ev.final_sets(pending='maybe')


def test_decisions_who_when_and_validation():
    ev = make_event()
    d = ev.accept(0, who='ana', note='fine')
    assert (d.status, d.who, d.note) == ('accepted', 'ana', 'fine') and d.when and d.when.endswith('+00:00')
    assert ev.reject(1).who  # defaults to the OS user
    with pytest.raises(RecordError, match='unknown language'):
        ev.edit(0, {'ja': ['x']})
    with pytest.raises(RecordError, match='empty'):
        ev.edit(0, {'en': []})
    with pytest.raises(RecordError, match='not in the vocabulary'):
        ev.edit(0, {'en': ['zzz']}, vocab={'en': {'game'}, 'cn': {'比赛'}})
    with pytest.raises(RecordError, match='not a string'):
        ev.edit(0, {'en': 'game team'})
    with pytest.raises(KeyError):
        ev.accept(99)
    with pytest.raises(RecordError):
        Decision(status='maybe')


def test_summary_counts():
    s = make_event().summary()
    assert s['topics'] == 3 and s['topics_all_failed'] == 1 and s['rounds_failed'] == 4 and s['oov_proposals'] == 1
    assert s['decisions']['pending'] == 3 and s['removed'] >= 2


def test_save_load_roundtrip_and_checksum(tmp_path):
    ev = make_event()
    ev.edit(0, {'cn': ['比赛', '冠军']}, who='ana', note='add champion')
    rec = RefinementRecord([ev], {'dataset': 'demo', 'seed': 0})
    p = rec.save(tmp_path / 'sub' / 'record.json')
    raw = json.loads(p.read_text(encoding='utf-8'))
    assert raw['schema'] == 'llmxtm.refinement_record' and raw['schema_version'] == RECORD_VERSION and len(raw['checksum']) == 64
    back = RefinementRecord.load(p)
    assert back.to_dict() == rec.to_dict()
    assert back[0].final_sets() == ev.final_sets() and back[0].topic(0).decision.who == 'ana'
    assert back[0].topic(0).rounds[1].oov == {'en': ['footballer']}
    assert not list(p.parent.glob('*.tmp'))  # atomic write leaves no temporary file
    # tampering is detected
    raw['payload']['events'][0]['topics'][0]['refined']['en'] = ['banana']
    p.write_text(json.dumps(raw), encoding='utf-8')
    with pytest.raises(RecordError, match='checksum'):
        RefinementRecord.load(p)
    raw2 = rec.to_dict(); raw2['schema_version'] = 99
    p.write_text(json.dumps(raw2), encoding='utf-8')
    with pytest.raises(RecordError, match='schema_version 99'):
        RefinementRecord.load(p)
    p.write_text('{"not": "a record"}', encoding='utf-8')
    with pytest.raises(RecordError, match='not a refinement record'):
        RefinementRecord.load(p)
    p.write_text('{broken', encoding='utf-8')
    with pytest.raises(RecordError, match='not valid JSON'):
        RefinementRecord.load(p)
    with pytest.raises(FileNotFoundError):
        RefinementRecord.load(tmp_path / 'missing.json')
