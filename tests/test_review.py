"""The refinement reviewer: methods and widget clicks write the same decisions into the record."""
import json

import pytest

from llmxtm_nb.record import RefinementRecord, RecordError
from llmxtm_nb.review import (RefinementReviewer, ReviewError, example_event, effective_words, topic_order,
                              word_rows, copy_decisions)

VOCAB = {"en": ["game", "team", "season", "bank", "market", "stock", "price", "trade", "film", "movie", "star",
                "player"],
         "cn": ["比赛", "球队", "银行", "赛季", "市场", "股票", "价格", "电影", "明星", "导演", "球员", "交易"]}


@pytest.fixture
def rv(tmp_path):
    return RefinementReviewer(example_event(), vocab=VOCAB, who="ann", autosave=tmp_path / "review.json")


def test_accept_reject_edit_write_who_and_when(rv):
    rv.accept(0, note="fine")
    rv.reject(1)
    d0, d1 = rv.event.topic(0).decision, rv.event.topic(1).decision
    assert (d0.status, d0.who, d0.note) == ("accepted", "ann", "fine") and d0.when
    assert d1.status == "rejected" and d1.who == "ann"
    rv.edit({"cn": ["电影", "导演"]}, topic_id=2)
    d2 = rv.event.topic(2).decision
    assert d2.status == "edited" and d2.words == {"en": ["film", "movie", "star", "bank"], "cn": ["电影", "导演"]}


def test_toggle_add_word_and_vocabulary_check(rv):
    assert rv.toggle("en", "season", topic_id=0) is False  # was kept, now removed
    assert rv.toggle("en", "bank", topic_id=0) is True  # was removed by the refiner, now back
    assert effective_words(rv.event.topic(0), "en") == ["game", "team", "bank"]
    rv.add_word("cn", "球员", topic_id=0)
    assert rv.event.topic(0).decision.words["cn"] == ["比赛", "球队", "赛季", "球员"]
    rows = {r["word"]: r for r in word_rows(rv.event.topic(0), "cn", 4)}
    assert rows["球员"]["mark"] == "yours" and rows["球员"]["selected"]
    with pytest.raises(ReviewError, match="not in the Chinese vocabulary"):
        rv.add_word("cn", "足球", topic_id=0)
    with pytest.raises(ReviewError, match="unknown language"):
        rv.toggle("ja", "x", topic_id=0)
    with pytest.raises(ReviewError, match="not in the English vocabulary"):
        rv.edit({"en": ["game", "footy"]}, topic_id=0)


def test_cannot_remove_the_last_word(tmp_path):
    rv = RefinementReviewer(example_event())
    rv.edit({"en": ["game"]}, topic_id=0)
    with pytest.raises(ReviewError, match="last word"):
        rv.toggle("en", "game", topic_id=0)
    assert rv.event.topic(0).decision.words["en"] == ["game"]


def test_undo_restores_each_step_exactly(rv):
    rv.accept(0)
    first = rv.event.topic(0).decision
    rv.reject(0)
    rv.toggle("en", "team", 1)
    rv.undo()
    assert rv.event.topic(1).decision.status == "pending"
    rv.undo()
    assert rv.event.topic(0).decision == first  # same who/when as before
    rv.undo()
    assert rv.event.topic(0).decision.status == "pending"
    assert rv.undo() is None and rv.message == "nothing to undo"


def test_accept_all_remaining_and_summary(rv):
    rv.reject(1)
    assert rv.accept_all_remaining() == 2
    s = rv.summary()
    assert s["decisions"] == {"pending": 0, "accepted": 2, "rejected": 1, "edited": 0}
    assert s["statuses"] == {0: "accepted", 1: "rejected", 2: "accepted"}
    for _ in range(2):
        rv.undo()
    assert rv.summary()["decisions"]["pending"] == 2


def test_navigation_and_filters(rv):
    assert rv.topic_id == 0
    assert rv.next() == 1 and rv.next() == 2 and rv.next() == 2
    assert rv.prev() == 1
    assert rv.set_filter("low_agreement") == [2, 0, 1] and rv.topic_id == 1
    assert rv.jump(2) == 2
    with pytest.raises(KeyError):
        rv.jump(7)
    with pytest.raises(ReviewError):
        rv.set_filter("bogus")
    assert rv.show_round(0)["failure"] == "timeout"  # topic 2's rounds all timed out
    with pytest.raises(ReviewError, match="out of range"):
        rv.show_round(4)
    rv.accept()  # moves on in the current order: 2 -> 0
    assert rv.topic_id == 0
    rv.jump(1); rv.accept()  # the last topic in this order: stays
    assert rv.topic_id == 1


def test_filter_changed_hides_untouched_topics():
    ev = example_event()
    t = ev.topic(1)
    t.refined = {l: t.pool.word_list(l) for l in ev.langs}  # refinement left the pool as it was
    t.compute_diff()
    assert topic_order(ev, "changed") == [0, 2]


def test_autosave_resume_after_restart_and_foreign_file(tmp_path):
    path = tmp_path / "review.json"
    rv = RefinementReviewer(example_event(), who="ann", autosave=path)
    rv.accept(0); rv.edit({"en": ["market", "trade"]}, topic_id=1)
    # "kernel restart": a new reviewer over a freshly built event, same autosave path
    again = example_event(); again.created = "another time"; again.stats = {"cache_hits": 12}
    rv2 = RefinementReviewer(again, autosave=path)
    assert rv2.resumed == 2
    assert rv2.event.topic(1).decision.words["en"] == ["market", "trade"]
    assert rv2.event.topic(1).decision.who == "ann"
    other = example_event(); other.topic(0).refined["en"] = ["game"]
    with pytest.raises(ReviewError, match="different refinement event"):
        RefinementReviewer(other, autosave=path, resume=True)
    fresh = RefinementReviewer(other, autosave=path, resume=False)
    assert fresh.summary()["decisions"]["pending"] == 3
    assert RefinementRecord.load(path).latest.topic(0).decision.status == "accepted"  # untouched until a decision


def test_autosave_auto_keeps_foreign_file_aside(tmp_path):
    path = tmp_path / "review.json"
    RefinementReviewer(example_event(), autosave=path).accept(0)
    other = example_event(); other.epoch = 99
    with pytest.warns(UserWarning, match="Kept the old file"):
        rv = RefinementReviewer(other, autosave=path)
    stale = tmp_path / "review.stale-1.json"
    assert not path.exists() and RefinementRecord.load(stale).latest.topic(0).decision.status == "accepted"
    assert rv.resumed == 0 and rv.summary()["decisions"]["pending"] == 3
    rv.reject(1)
    assert RefinementRecord.load(path).latest.epoch == 99
    with pytest.raises(ReviewError, match="resume must be"):
        RefinementReviewer(other, autosave=path, resume="yes")


def test_save_load_round_trip(tmp_path, rv):
    rv.accept(0); rv.reject(2)
    p = rv.save(tmp_path / "copy.json")
    data = json.loads(p.read_text())
    assert data["schema"] == "llmxtm.refinement_record"
    rec = RefinementRecord.load(p)
    assert [t.decision.status for t in rec.latest.topics] == ["accepted", "pending", "rejected"]
    rv3 = RefinementReviewer.from_file(p)
    assert rv3.summary()["statuses"] == {0: "accepted", 1: "pending", 2: "rejected"}
    rv4 = RefinementReviewer(example_event())
    assert rv4.load_decisions(p) == 2 and rv4.event.topic(2).decision.status == "rejected"
    p.write_text(p.read_text().replace('"accepted"', '"rejected"'))
    with pytest.raises(RecordError, match="checksum"):
        RefinementRecord.load(p)


def test_copy_decisions_strict():
    a, b = example_event(), example_event()
    a.accept(0, who="x")
    assert copy_decisions(a, b) == 1 and b.topic(0).decision.who == "x"
    b.epoch = 99
    with pytest.raises(ReviewError):
        copy_decisions(a, b)


def test_continue_hands_over_exactly_the_reviewed_sets(tmp_path):
    got = []
    rv = RefinementReviewer(example_event(), vocab=VOCAB, who="ann", autosave=tmp_path / "r.json",
                            on_continue=lambda rec: got.append(rec) or "phase2 result")
    rv.edit({"en": ["game", "player"], "cn": ["比赛"]}, topic_id=0)
    rv.reject(1)
    assert rv.continue_to_phase2() == "phase2 result" and rv.result == "phase2 result"
    (rec,) = got
    assert rec is rv.record
    sets = rec.latest.final_sets()
    assert sets[0] == {"en": {"game": 3.0, "player": 1.0}, "cn": {"比赛": 3.0}}  # edited: votes, else 1
    assert sets[1] == {"en": {"market": .1, "stock": .08, "price": .06, "team": .01},
                       "cn": {"市场": .09, "股票": .07, "价格": .05, "球队": .01}}  # rejected: the pool with β
    assert sets[2] is None  # every round failed: previous target kept
    # what was handed over is also on disk
    assert RefinementRecord.load(tmp_path / "r.json").latest.final_sets() == sets
    with pytest.raises(ReviewError, match="no on_continue"):
        RefinementReviewer(example_event()).continue_to_phase2()


def test_widget_buttons_call_the_same_methods(tmp_path):
    rv = RefinementReviewer(example_event(), vocab=VOCAB, who="ann", autosave=tmp_path / "w.json")
    root = rv.widget
    ui = rv._ui
    assert root is rv.widget  # built once
    ui.accept_b.click()
    assert rv.event.topic(0).decision.status == "accepted" and rv.topic_id == 1
    ui.reject_b.click()
    assert rv.event.topic(1).decision.status == "rejected"
    ui.undo_b.click()
    assert rv.event.topic(1).decision.status == "pending"
    # toggle a word button of the English column (first row = first pool word of topic 1)
    en_col = ui.columns.children[0]
    en_col.children[1].children[0].value = False
    assert rv.event.topic(1).decision.words["en"] == ["stock", "price"]
    # add a word with the autocomplete box
    combo, add = rv._ui.columns.children[0].children[-1].children  # the column was redrawn
    combo.value = "trade"; add.click()
    assert rv.event.topic(1).decision.words["en"] == ["stock", "price", "trade"]
    assert list(rv._ui.columns.children[0].children[-1].children[0].options) == VOCAB["en"]  # autocomplete list
    # a bad word shows a message, not an exception
    combo = rv._ui.columns.children[0].children[-1].children[0]
    combo.value = ""; rv._ui.columns.children[0].children[-1].children[1].click()
    assert "no word given" in ui.status.value
    ui.filter.value = "low_agreement"
    assert rv.order == [2, 0, 1]
    ui.jump.value = 2; ui.jump_b.click()
    ui.round_dd.value = 1
    assert "timeout" in ui.round_view.value
    ui.all_b.click()
    assert rv.summary()["decisions"]["pending"] == 0
    ui.save_b.click()
    assert RefinementRecord.load(tmp_path / "w.json").latest.summary()["decisions"]["pending"] == 0
    assert "0 pending of 3 topics" in ui.summary.value
    assert ui.cont_b.disabled  # no callback given


def test_reviewer_needs_events():
    with pytest.raises(ReviewError):
        RefinementReviewer(RefinementRecord([]))


def test_phase2_targets_follow_the_review():
    "Phase 2 builds its MMD targets from exactly the reviewed decisions (llmxtm_nb.phase2.targets_from_event)."
    from llmxtm_nb.phase2 import targets_from_event
    rv = RefinementReviewer(example_event(), vocab=VOCAB)
    rv.edit({"en": ["game", "player"], "cn": ["比赛"]}, topic_id=0)
    rv.reject(1)
    ts = targets_from_event(rv.event, VOCAB, 3)
    assert ts.sets[0] == {"en": {"game": 3.0, "player": 1.0}, "cn": {"比赛": 3.0}}
    assert ts.sets[1] == {"en": {"market": .1, "stock": .08, "price": .06, "team": .01},
                          "cn": {"市场": .09, "股票": .07, "价格": .05, "球队": .01}}
    assert ts.sets[2] is None and ts.kept_previous == [2]
    rv.undo()  # topic 1 back to pending: counted as accepted -> the refined words with vote counts
    ts = targets_from_event(rv.event, VOCAB, 3)
    assert ts.sets[1]["en"] == {"market": 4.0, "stock": 4.0, "price": 4.0}
