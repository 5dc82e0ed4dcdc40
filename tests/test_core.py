"""Run settings: precedence, packaged defaults, and the errors for each kind of bad input."""
import os
from pathlib import Path

import pytest
import torch

from llmxtm_nb.core import (SettingsError, atomic_write_text, cache_dir, get_device, load_settings,
                            packaged_settings_path, progress, seed_everything, set_progress, user_settings_path)


def write(tmp_path, text, name="my.ini"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_packaged_defaults_follow_the_paper():
    s = load_settings(env={})
    assert s.model.num_topics == 50
    assert (s.refine.rounds, s.refine.top_n, s.refine.keep_m) == (5, 15, 15)
    assert (s.phase2.epochs, s.phase2.lambda_mmd, s.phase2.lr_factor, s.phase2.clip_norm) == (30, 20000, 0.3, 1.0)
    assert s.backbone_params("NMTM")["epochs"] == 230
    assert s.backbone_params("InfoCTM", "ECNews")["weight_mi"] == 30
    assert s.backbone_params("InfoCTM", "Rakuten_Amazon")["weight_mi"] == 50
    assert s.backbone_params("XTRA", "Amazon_Review")["weight_infonce"] == 95


def test_precedence_argument_over_env_over_file_over_defaults(tmp_path):
    f = write(tmp_path, "[model]\nnum_topics = 20\nseed = 7\n[refine]\nrounds = 3\n")
    env = {"LLMXTM_MODEL_NUM_TOPICS": "30", "LLMXTM_REFINE_ROUNDS": "4"}
    s = load_settings(f, env=env, model__num_topics=40)
    assert s.model.num_topics == 40  # argument
    assert s.refine.rounds == 4  # environment beats the file
    assert s.model.seed == 7  # file beats the defaults
    assert s.model.batch_size == 128  # packaged default
    assert s.sources["model.num_topics"] == "argument"
    assert s.sources["refine.rounds"] == "environment variable LLMXTM_REFINE_ROUNDS"
    assert str(f) in s.sources["model.seed"]


def test_user_file_found_through_environment_variable(tmp_path):
    f = write(tmp_path, "[phase2]\ntau = 0.5\n")
    assert load_settings(env={"LLMXTM_SETTINGS": str(f)}).phase2.tau == 0.5


def test_tau_accepts_auto_in_any_case(tmp_path):
    f = write(tmp_path, "[phase2]\ntau = Auto\n")
    assert load_settings(env={"LLMXTM_SETTINGS": str(f)}).phase2.tau == "auto"
    with pytest.raises(SettingsError, match="or auto"):
        load_settings(env={"LLMXTM_SETTINGS": str(write(tmp_path, "[phase2]\ntau = sharp\n"))})


def test_dotted_dataset_section_from_environment():
    s = load_settings(env={"LLMXTM_INFOCTM__ECNEWS_WEIGHT_MI": "12"})
    assert s.backbone_params("InfoCTM", "ECNews")["weight_mi"] == 12


def test_replace_returns_new_settings_and_keeps_original():
    s = load_settings(env={})
    t = s.replace(model__num_topics=10)
    assert (s.model.num_topics, t.model.num_topics) == (50, 10)


def test_auto_epochs_take_backbone_value_and_explicit_overrides_it():
    s = load_settings(env={}, model__epochs=3)
    assert s.backbone_params("XTRA")["epochs"] == 3


@pytest.mark.parametrize("text,expected", [
    ("num_topics = 20\n", "malformed settings file: File contains no section headers"),
    ("[modle]\nnum_topics = 20\n", "unknown section [modle]"),
    ("[model]\nnum_topic = 20\n", "unknown key 'num_topic' in section [model]"),
    ("[model]\nnum_topics = twenty\n", "[model] num_topics = 'twenty': expected a number"),
    ("[nmtm]\nepochs = -5\n", "[nmtm] epochs = '-5': must be >= 1"),
    ("[refine]\nprovider = openia\n", "[refine] provider = 'openia': expected one of offline, anthropic, openai"),
    ("[model]\nbackbone = LDA\n", "[model] backbone = 'LDA': expected one of NMTM, InfoCTM, XTRA"),
    ("[phase2]\ntau = 0\n", "[phase2] tau = '0': must be > 0"),
    ("[phase2]\nuse_mmd = maybe\n", "expected true/false"),
])
def test_bad_file_errors_name_file_section_key_and_value(tmp_path, text, expected):
    f = write(tmp_path, text)
    with pytest.raises(SettingsError) as e:
        load_settings(f, env={})
    assert expected in str(e.value)
    assert str(f) in str(e.value)


def test_bad_environment_variable_is_named():
    with pytest.raises(SettingsError, match="LLMXTM_MODEL_EPOCHS.*epochs = '-2'"):
        load_settings(env={"LLMXTM_MODEL_EPOCHS": "-2"})
    with pytest.raises(SettingsError, match="LLMXTM_NOPE_X: no settings section"):
        load_settings(env={"LLMXTM_NOPE_X": "1"})


def test_bad_argument_is_named():
    with pytest.raises(SettingsError, match=r"argument: \[model\] num_topics = 'x'"):
        load_settings(env={}, model__num_topics="x")
    with pytest.raises(SettingsError, match="section__key"):
        load_settings(env={}, topics=3)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.ini", env={})
    bad = tmp_path / "latin.ini"
    bad.write_bytes("[data]\ndataset = caf\xe9\n".encode("latin-1"))
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(bad, env={})


def test_packaged_file_is_the_repository_settings():
    repo_ini = Path(__file__).resolve().parents[1] / "settings.ini"
    assert packaged_settings_path().read_text() == repo_ini.read_text()


def test_cache_dir_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMXTM_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir("emb") == tmp_path / "c" / "emb" and (tmp_path / "c" / "emb").is_dir()


def test_cache_dir_default_is_outside_the_repository(monkeypatch):
    monkeypatch.delenv("LLMXTM_CACHE_DIR")
    repo = Path(__file__).resolve().parents[1]
    assert repo not in cache_dir(create=False).parents


def test_device_and_seeding():
    assert get_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="CUDA is not available"):
            get_device("cuda")
    seed_everything(5); a = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    seed_everything(5); b = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    with pytest.raises(SettingsError):
        seed_everything(-1)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "hello")
    atomic_write_text(tmp_path / "f.txt", "again")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    assert (tmp_path / "f.txt").read_text() == "again"


def test_progress_can_be_silenced(capsys):
    set_progress(False)
    try:
        assert list(progress(range(3), desc="x")) == [0, 1, 2]
    finally:
        set_progress(None)
    assert "x" not in capsys.readouterr().err
