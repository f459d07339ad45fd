"""Config: one source of defaults, validated, with CLI > env > default precedence."""

from pathlib import Path

import pytest

from config import Config, field_help
from errors import ConfigError


def test_defaults_match_the_design():
    c = Config()
    assert (c.chunk_duration_s, c.frame_skip, c.top_n, c.min_gap_s) == (30.0, 5, 10, 10.0)
    assert (c.clip_length_s, c.pre_roll_s, c.chunk_overlap_s) == (30.0, 8.0, 5.0)
    assert c.heuristic_weight == 0.6 and c.min_training_samples == 10


def test_env_beats_default_and_override_beats_env():
    env = {"KCG_TOP_N": "3", "KCG_OUTPUT_DIR": "/x", "KICK_TOKEN": "secret",
           "KCG_MAKE_CLIPS": "false"}
    c = Config.from_env(env)
    assert c.top_n == 3 and c.output_dir == Path("/x") and c.kick_token == "secret"
    assert c.make_clips is False
    assert Config.from_env(env, top_n=7, min_gap_s=None).top_n == 7


def test_bad_values_raise_readable_errors():
    with pytest.raises(ConfigError, match="top_n"):
        Config(top_n=0)
    with pytest.raises(ConfigError, match="pre_roll_s"):
        Config(pre_roll_s=40)
    with pytest.raises(ConfigError, match="KCG_TOP_N"):
        Config.from_env({"KCG_TOP_N": "many"})


def test_secrets_stay_out_of_the_saved_config():
    assert "kick_token" not in Config(kick_token="abc").to_dict()


def test_help_text_comes_from_the_fields():
    assert "highlights" in field_help("top_n")
