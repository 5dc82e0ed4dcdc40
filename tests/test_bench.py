"""`llmxtm bench` (issue 10): runs every tests/bench/bench_*.py, keeps the previous results, writes BENCHMARKS.md with
machine/device/seeds/versions, and flags regressions past a tolerance."""
import argparse
import json
import textwrap
from pathlib import Path

import pytest

from llmxtm_nb.bench import (BenchError, bench_arguments, bench_command, bench_result, compare, discover, figure,
                             load_result, normalise_result, run_benchmarks)

REPO = Path(__file__).resolve().parents[1]


def tree(root: Path, step: float, score: float = 0.5, extra: str = "") -> Path:
    bd = root / "tests" / "bench"; bd.mkdir(parents=True, exist_ok=True)
    (bd / "bench_fast.py").write_text(textwrap.dedent(f"""
        import os
        from pathlib import Path
        from llmxtm_nb.bench import bench_result, figure, write_result, bench_size
        size = bench_size()
        write_result(bench_result('fast', [figure('step time', {step} * (10 if size == 'full' else 1), 's'),
                                           figure('score', {score}, better='higher', tolerance=0.02)],
                                  {{'seed': 3, 'K': 5}}), Path(__file__).parent / 'results')
        {extra}"""))
    (bd / "bench_broken.py").write_text("raise SystemExit('needs a GPU')\n")
    (bd / "bench_silent.py").write_text("print('forgot to write a result')\n")
    return bd


def test_runs_records_and_flags(tmp_path):
    bd = tree(tmp_path, 1.0)
    r1 = run_benchmarks(bench_dir=bd, verbose=False)
    assert {a: r.status for a, r in r1.runs.items()} == {"broken": "failed", "fast": "ok", "silent": "no result"}
    assert (bd / "results" / "logs" / "broken.log").read_text().strip().endswith("needs a GPU")
    assert r1.regressions == [] and r1.failed == ["broken", "silent"]
    md = (tmp_path / "BENCHMARKS.md").read_text()
    for s in ("## fast", "seeds: seed=3", "size=quick", "device: cpu", "torch", "CPUs", "| step time | 1 | s | lower |"):
        assert s in md, s
    # slower and worse: both flagged; the previous result is kept
    tree(tmp_path, 1.3, score=0.48)
    r2 = run_benchmarks(bench_dir=bd, verbose=False)
    assert sorted(n["name"] for _, n in r2.regressions) == ["score", "step time"]
    assert json.loads((bd / "results" / "previous" / "fast.json").read_text())["figures"][0]["value"] == 1.0
    assert "REGRESSED" in (tmp_path / "BENCHMARKS.md").read_text()
    # within tolerance: not flagged
    tree(tmp_path, 1.4, score=0.48)
    assert run_benchmarks(bench_dir=bd, verbose=False).regressions == []
    # --full is not compared with --quick
    r4 = run_benchmarks(bench_dir=bd, size="full", areas=["fast"], verbose=False)
    assert r4.regressions == [] and r4.comparisons["fast"][0]["note"] == "settings changed"


def test_failed_script_keeps_the_recorded_result(tmp_path):
    bd = tree(tmp_path, 1.0)
    run_benchmarks(bench_dir=bd, areas=["fast"], verbose=False)
    before = (bd / "results" / "fast.json").read_bytes()
    tree(tmp_path, 9.0, extra="raise SystemExit(1)")  # writes its figures, then fails: they are not trusted
    r = run_benchmarks(bench_dir=bd, areas=["fast"], verbose=False)
    assert r.runs["fast"].status == "failed" and (bd / "results" / "fast.json").read_bytes() == before
    (bd / "bench_fast.py").write_text("raise SystemExit(1)\n")
    r = run_benchmarks(bench_dir=bd, areas=["fast"], verbose=False)
    assert r.runs["fast"].status == "failed" and (bd / "results" / "fast.json").read_bytes() == before
    assert "fast" in r.results  # still shown from the record


def test_timeout_stops_the_script_and_its_children(tmp_path):
    import os, time
    bd = tree(tmp_path, 1.0)
    pidfile = tmp_path / "grandchild.pid"
    (bd / "bench_slow.py").write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        open({str(pidfile)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)"""))
    t0 = time.time()
    r = run_benchmarks(bench_dir=bd, areas=["slow"], timeout=3, verbose=False)
    assert r.runs["slow"].status == "timeout" and time.time() - t0 < 30
    assert "started" in r.runs["slow"].log_tail and "stopped after 3" in r.runs["slow"].log_tail
    pid = int(pidfile.read_text())
    for _ in range(50):  # the grandchild was killed with its process group (give the kernel a moment to reap it)
        try: os.kill(pid, 0)
        except ProcessLookupError: break
        if open(f"/proc/{pid}/stat").read().split()[2] == "Z": break
        time.sleep(0.1)
    else: raise AssertionError("the benchmark's child process outlived the timeout")


def test_command_line_exit_codes(tmp_path, capsys):
    bd = tree(tmp_path, 1.0)
    p = argparse.ArgumentParser(); bench_arguments(p)
    assert bench_command(p.parse_args(["--bench-dir", str(bd), "--area", "fast"])) == 0
    tree(tmp_path, 3.0)
    assert bench_command(p.parse_args(["--bench-dir", str(bd), "--area", "fast", "--fail-on-regression"])) == 3
    assert bench_command(p.parse_args(["--bench-dir", str(bd), "--area", "broken", "--strict"])) == 4
    assert "regressed: fast / step time" in capsys.readouterr().out
    with pytest.raises(BenchError, match="no benchmark script"):
        bench_command(p.parse_args(["--bench-dir", str(bd), "--area", "nope"]))


def test_result_shape_checks():
    with pytest.raises(BenchError, match="better"): figure("x", 1, better="faster")
    r = bench_result("a", [figure("t", 2.0, "s")], {"seed": 1}, device="cpu")
    assert set(r) >= {"area", "machine", "device", "date", "versions", "settings", "figures"}
    assert normalise_result({"area": "old", "median_seconds": {"x": 1.0}})["figures"][0]["unit"] == "s"
    assert compare(r, None)[0]["note"] == "no previous result"


def test_every_recorded_result_in_the_repo_is_readable():
    "The results the other areas committed are in a shape `llmxtm bench` can read (or an older flat one)."
    for p in sorted((REPO / "tests" / "bench" / "results").glob("*.json")):
        load_result(p)
    assert {p.stem[len("bench_"):] for p in discover(REPO / "tests" / "bench")} >= {"reliability"}


def test_step_ab_exports_a_revision_that_imports_beside_this_checkout(tmp_path):
    """diag_step_ab.py compares two versions in one process: the exported one must import under its own name, with
    every self-import renamed (else it would silently run this checkout's code) and its own settings found."""
    import importlib.util, subprocess, sys
    if not (REPO / ".git").exists(): pytest.skip("not a git checkout (the diagnostic exports a git revision)")
    spec = importlib.util.spec_from_file_location("diag_step_ab", REPO / "tests" / "bench" / "diag_step_ab.py")
    ab = importlib.util.module_from_spec(spec); spec.loader.exec_module(ab)
    commit = ab.export_revision("HEAD", tmp_path)
    assert len(commit) == 40
    pkg = tmp_path / ab.OLD_NAME
    leftovers = [f.name for f in pkg.rglob("*.py")
                 if "from llmxtm_nb." in f.read_text() or "import llmxtm_nb\n" in f.read_text()]
    assert leftovers == []
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import {ab.OLD_NAME}.trainer as t, {ab.OLD_NAME}.core as c; "
            "print(t.__file__); print(c.load_settings().model.batch_size)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split()
    assert out[0].startswith(str(pkg)) and int(out[1]) > 0


def _bench_script(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_quality_tagged_run_continues_a_copy_of_another_runs_checkpoint(tmp_path, monkeypatch):
    "quality.py --tag T --start-from RUN: the tagged run gets its own folder and a copy of RUN's checkpoint, once."
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(tmp_path))
    q = _bench_script("quality")
    src = tmp_path / "quality" / "InfoCTM-ECNews-K50-seed0" / "phase1-ckpt"; src.mkdir(parents=True)
    (src / "checkpoint.pt").write_bytes(b"epoch-100")
    a = argparse.Namespace(backbone="InfoCTM", dataset="ECNews", topics=50, seed=0, tag="e530",
                           start_from="InfoCTM-ECNews-K50-seed0")
    wd = q._work_dir(a)
    assert wd.name == "InfoCTM-ECNews-K50-seed0-e530" and q._row_key(a) == "InfoCTM/ECNews/K50/seed0@e530"
    q._seed_checkpoint(a, wd)
    assert (wd / "phase1-ckpt" / "checkpoint.pt").read_bytes() == b"epoch-100"
    (wd / "phase1-ckpt" / "checkpoint.pt").write_bytes(b"epoch-110")   # the run went on: never copied over again
    q._seed_checkpoint(a, wd)
    assert (wd / "phase1-ckpt" / "checkpoint.pt").read_bytes() == b"epoch-110"
    with pytest.raises(SystemExit, match="no trainer checkpoint"):
        q._seed_checkpoint(argparse.Namespace(**{**vars(a), "tag": "other", "start_from": "missing"}),
                           q._work_dir(argparse.Namespace(**{**vars(a), "tag": "other"})))
    with pytest.raises(SystemExit, match="needs --tag"):
        q._seed_checkpoint(argparse.Namespace(**{**vars(a), "tag": ""}), tmp_path / "untagged")


def test_xtra_floor_diagnostic_reports_its_formula(tmp_path):
    "diag_xtra_floor.py on the demo corpus: every part timed, the floor computed from the medians it reports."
    import os, subprocess, sys
    out = tmp_path / "floor.json"
    # its own cache: the demo's document embeddings must not land in the session's cache other tests count
    env = {**os.environ, "LLMXTM_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, str(REPO / "tests" / "bench" / "diag_xtra_floor.py"), "--dataset", "demo",
                    "--threads", "1", "--groups", "2", "--group", "1", "--results", str(out), "--relaxations",
                    "--epochs", "1"],
                   check=True, cwd=tmp_path, capture_output=True, env=env)
    r = json.loads(out.read_text())
    run = r["runs"]["demo t1"]
    m = run["median_ms"]
    relaxed = {"xtra_beta_every4", "xtra_share300", "xtra_input_frozen", "xtra_relaxed_all"}
    assert set(m) == {"nmtm_step", "xtra_step", "nmtm_maps", "xtra_beta_proj", "adam_nmtm", "adam_xtra"} | relaxed
    assert all(v > 0 for v in m.values())
    assert run["relaxed_over_nmtm_step"] == pytest.approx({k: m[k] / m["nmtm_step"] for k in relaxed})
    e = run["epoch_s"]
    assert set(e) == {"NMTM", "XTRA"} | relaxed and all(v > 0 for v in e.values())
    assert run["epoch_over_nmtm_epoch"] == pytest.approx({k: e[k] / e["NMTM"] for k in e if k != "NMTM"})
    assert run["floor_ms"] == pytest.approx(m["nmtm_step"] - m["nmtm_maps"] + m["xtra_beta_proj"] + m["adam_xtra"] - m["adam_nmtm"])
    assert run["parameters"]["XTRA"] > run["parameters"]["NMTM"]
    load_result(out)


def test_xtra_floor_relaxations_are_xtras_own_options(tmp_path, monkeypatch):
    "diag_xtra_floor.py --relaxations times XTRA's own options (XTRA-lite's two among them) and frozen input layers."
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(tmp_path / "cache"))   # the demo's embeddings stay out of the session's cache
    import inspect
    import torch
    from llmxtm_nb.data import load_corpus
    from llmxtm_nb.xtra import XTRA, XTRA_LITE
    diag = _bench_script("diag_xtra_floor")
    relax = diag.RELAXATIONS
    assert {k: v for k, v in relax["xtra_relaxed_all"].items() if k != "freeze_input"} == XTRA_LITE
    options = set(inspect.signature(XTRA).parameters) | {"freeze_input"}
    assert all(set(change) <= options for change in relax.values())
    m = diag.changed_xtra(load_corpus("demo"), **relax["xtra_relaxed_all"])
    assert m.beta_align_every == 4 and m.inp[0].weight.shape[1] == 300
    assert not any(p.requires_grad for p in m.inp.parameters()) and m.fc1.weight.requires_grad


def test_gpu_check_runs_its_comparison_on_the_cpu(tmp_path):
    "gpu_check.py --device cpu checks the script itself: the model against its own copy (no difference), epoch timed."
    import os, subprocess, sys
    env = {**os.environ, "LLMXTM_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, str(REPO / "tests" / "bench" / "gpu_check.py"), "--dataset", "demo",
                        "--device", "cpu", "--backbones", "NMTM,InfoCTM"], check=True, cwd=tmp_path,
                       capture_output=True, text=True, env=env)
    rows = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in p.stdout.splitlines()
            if line.startswith(("NMTM ", "InfoCTM "))}
    assert set(rows) == {"NMTM", "InfoCTM"}
    for r in rows.values():
        assert r["loss_rel_max"] == 0 and r["grad_rel_max"] == 0 and r["s_per_epoch"] > 0 and r["steps"] > 0
    assert not (tmp_path / "gpu.json").exists() and not list(tmp_path.glob("**/gpu.json"))   # a dry run writes nothing


def test_gpu_step_diagnostic_counts_operator_reads_on_the_cpu(tmp_path):
    "diag_gpu_step.py --device cpu: the profiled steps run; no CUDA events there, but the reads of values are counted."
    import os, subprocess, sys
    env = {**os.environ, "LLMXTM_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, str(REPO / "tests" / "bench" / "diag_gpu_step.py"), "--dataset", "demo",
                        "--device", "cpu", "--backbones", "NMTM", "--steps", "3", "--results", str(tmp_path)],
                       check=True, cwd=tmp_path, capture_output=True, text=True, env=env)
    line = next(l for l in p.stdout.splitlines() if l.startswith("NMTM "))
    r = json.loads(line.split(" ", 1)[1])
    assert r["steps"] == 3 and r["wall_ms"] > 0 and r["launches"] == 0 and r["gpu_busy_ms"] == 0
    assert r["reads"].get("aten::_local_scalar_dense", 0) >= 1      # the per-step read of the loss values at least
    assert not (tmp_path / "diag_gpu_step.json").exists()


def test_decoder_sync_ab_times_both_ways_and_restores_the_setting(monkeypatch):
    "diag_decoder_sync_ab.py on the CPU: both ways timed on one trainer; the module's setting is put back afterwards."
    monkeypatch.syspath_prepend(str(REPO / "tests" / "bench"))
    import llmxtm_nb.backbone as bb
    from llmxtm_nb.data import load_corpus
    ab = _bench_script("diag_decoder_sync_ab")
    before = bb._ROW_MAX_DEVICES
    r = ab.ab("NMTM", load_corpus("demo"), "cpu", groups=2, group=2)
    assert set(r) == {"bound", "row max"} and all(v > 0 for v in r.values())
    assert bb._ROW_MAX_DEVICES == before


def test_quality_checkpoint_rows_and_a_continued_run_on_the_demo_corpus(tmp_path, monkeypatch):
    """quality.py end to end on the demo corpus: a 2-epoch run; its checkpoint evaluated through a tagged copy (a
    'partial' row equal to the finished run's, kept out of the means); the tagged run continued to 4 epochs."""
    import torch
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LLMXTM_PROGRESS", "0")
    q = _bench_script("quality")
    monkeypatch.setattr(q, "RESULTS", tmp_path / "quality.json")
    threads = torch.get_num_threads()
    try:
        base = dict(dataset="demo", backbone="NMTM", seed=0, topics=8, threads=1, quiet=True, variants="", tag="",
                    start_from="", device="cpu", train_only=False, note="", set=[])
        q.phase1(argparse.Namespace(**{**base, "train_only": True}, epochs=2))    # trains and saves, no row yet
        assert not (tmp_path / "quality.json").exists()
        assert (tmp_path / "cache" / "quality" / "NMTM-demo-K8-seed0" / "phase1.pt").exists()
        q.phase1(argparse.Namespace(**{**base, "note": "trained above"}, epochs=2))   # evaluates the saved model
        tagged = argparse.Namespace(**{**base, "tag": "e4", "start_from": "NMTM-demo-K8-seed0"}, epochs=4)
        q.checkpoint(tagged)
        q.phase1(tagged)
        changed = argparse.Namespace(**{**base, "tag": "h16", "set": ["nmtm.hidden=16"]}, epochs=1)
        q.phase1(changed)
        for bad in (["nmtm.hidden"], ["hidden=16"]):   # --set must be SECTION.KEY=VALUE
            with pytest.raises(SystemExit, match="SECTION.KEY=VALUE"): q._overrides(argparse.Namespace(set=bad, tag="x"))
        with pytest.raises(SystemExit, match="needs --tag"): q._overrides(argparse.Namespace(set=["nmtm.hidden=16"], tag=""))
    finally:
        torch.set_num_threads(threads)
    from llmxtm_nb.backbone import CrossLingualTopicModel
    assert CrossLingualTopicModel.load(tmp_path / "cache" / "quality" / "NMTM-demo-K8-seed0-h16" / "phase1.pt").init_args["hidden"] == 16
    rows = json.loads((tmp_path / "quality.json").read_text())["phase1"]
    assert rows.pop("NMTM/demo/K8/seed0@h16")["settings_changed"] == ["nmtm.hidden=16"]
    assert q._label({"backbone": "NMTM", "settings_changed": ["nmtm.hidden=16"]}) == "NMTM with nmtm.hidden=16"
    assert set(rows) == {"NMTM/demo/K8/seed0", "NMTM/demo/K8/seed0@e4/epoch2", "NMTM/demo/K8/seed0@e4"}
    done, part, longer = rows["NMTM/demo/K8/seed0"], rows["NMTM/demo/K8/seed0@e4/epoch2"], rows["NMTM/demo/K8/seed0@e4"]
    assert part["partial"] and part["epochs"] == 2 and part["run_epochs"] == 4 and not done.get("partial")
    assert part["metrics"] == done["metrics"]          # the checkpoint holds the finished run's weights and statistics
    assert longer["epochs"] == 4 and longer["metrics"] != done["metrics"]
    assert [h["epoch"] for h in longer["history"]] == [1, 2, 3, 4]   # the copied run's epochs, then its own
    assert longer["history"][:2] == done["history"]
    assert done["device"] == "cpu" and done["note"] == "trained above" and "note" not in longer


def test_repeated_rounds_keep_the_median_epoch_and_every_measurement():
    bb = _bench_script("bench_backbones")
    def row(backbone, s, rss):
        return {"backbone": backbone, "dataset": "ECNews", "variant": "fast", "s_per_epoch": s, "s_per_step": s / 10,
                "cpu_s_per_epoch": 2 * s, "cpu_s_per_step": s / 5, "peak_rss_mb": rss, "threads": 2, "loadavg_end": [1.0]}
    failed = {"error": "boom", "cmd": "--one XTRA ECNews fast"}
    rounds = [[row("NMTM", 6.5, 500), row("InfoCTM", 31.0, 600)], [row("NMTM", 4.6, 520), failed],
              [row("NMTM", 4.8, 510), row("InfoCTM", 33.0, 640)]]
    merged = bb.merge_repeats(rounds)
    nmtm, infoctm, err = merged
    assert nmtm["s_per_epoch"] == 4.8 and nmtm["repeats_s_per_epoch"] == [6.5, 4.6, 4.8] and nmtm["repeats"] == 3
    assert nmtm["cpu_s_per_epoch"] == 9.6 and nmtm["peak_rss_mb"] == 520
    assert infoctm["s_per_epoch"] == 32.0 and infoctm["repeats"] == 2 and err is failed
    assert bb.merge_repeats([[row("NMTM", 5.0, 500)]])[0]["s_per_epoch"] == 5.0


def test_backbone_targets_are_checked_within_one_run():
    "bench_backbones: the issue's targets computed from one run's rows, and the figures taken from the newest complete run."
    bb = _bench_script("bench_backbones")
    def row(backbone, variant, s, rss=500.0, dataset="ECNews"):
        return {"backbone": backbone, "dataset": dataset, "variant": variant, "s_per_epoch": s, "peak_rss_mb": rss,
                "threads": 2, "cpu_s_per_epoch": 2 * s}
    rows = [row("NMTM", "fast", 4.0), row("NMTM", "reference", 30.0), row("InfoCTM", "fast", 46.0, rss=1600.0),
            row("XTRA", "fast", 9.0), row("XTRA", "fast", 1.0, dataset="demo"), row("XTRA", "lite", 7.0)]
    report = bb.target_report(rows)
    def line(start):   # (value, met) of the one line whose name starts with `start`
        found = [(round(value, 3), met) for name, value, _, _, met in report if name.startswith(start)]
        assert len(found) == 1, (start, report)
        return found[0]
    assert line("NMTM ECNews, 2 thread(s): speed-up over the public code") == (5.5, True)       # 22 / 4
    assert line("InfoCTM ECNews, 2 thread(s): speed-up over the public code") == (9.0, False)  # 414 / 46
    assert line("NMTM ECNews: speed-up over our dense reference") == (7.5, None)               # same run, no target
    assert line("XTRA ECNews: epoch / NMTM epoch") == (2.25, False)                           # the demo row is ignored
    assert line("XTRA-lite ECNews (opt-in changed model): epoch / NMTM epoch") == (1.75, None)  # informative, no verdict
    assert line("InfoCTM ECNews: peak RSS") == (1600.0, False)
    assert line("NMTM ECNews: peak RSS") == (500.0, True)
    assert bb.target_report([row("NMTM", "fast", 4.0, dataset="demo")]) == []
    older = {"meta": {"machine": {"date": "2026-01-01"}}, "rows": rows}
    newer = {"meta": {"machine": {"date": "2026-02-01"}},
             "rows": [row("NMTM", "fast", 5.5), row("InfoCTM", "fast", 41.4), row("XTRA", "fast", 11.0)]}
    partial = {"meta": {"machine": {"date": "2026-03-01"}}, "rows": [row("NMTM", "fast", 2.0)]}
    figs = {f["name"]: f for f in bb.shared_figures({"runs": {"a": older, "b": newer, "c": partial}})["figures"]}
    xtra = figs["target: XTRA ECNews: epoch / NMTM epoch (same run) (target <= 2x)"]
    assert xtra["value"] == 2.0 and xtra["better"] == "lower" and xtra["note"] == "run 2026-02-01; target <= 2x: met"
    assert figs["target: InfoCTM ECNews, 2 thread(s): speed-up over the public code (414 s/epoch at 2 threads, "
                "the issue's figure) (target >= 10x)"]["value"] == 10.0
    assert figs["NMTM ECNews fast: wall s/epoch"]["value"] == 2.0     # the newest measurement of the configuration
