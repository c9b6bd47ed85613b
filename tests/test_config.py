"""LGFormerConfig: presets, the dict round trip and the errors for bad values."""

import json

import pytest
import yaml

from lgformer.config import PRESETS, LGFormerConfig, build_config
from lgformer.errors import LGFormerError


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_round_trips_through_json_and_yaml(preset):
    cfg = build_config(preset)
    assert LGFormerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert LGFormerConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg
    assert build_config(preset) is not build_config(preset)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(LGFormerError, match="choose from .*swin_base_w12.*test_tiny"):
        build_config("swin_b")


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ((), r"unknown model config key\(s\) \['typo'\]; valid keys: \['swin', 'text'"),
        (("swin",), r"unknown swin key\(s\) \['typo'\]; valid keys: \['embed_dim'.*'window_size'"),
        (("text",), r"unknown text key\(s\) \['typo'\]; valid keys: \['vocab_size'"),
        (("decoder",), r"unknown decoder key\(s\) \['typo'\]; valid keys: \['hidden_dim'"),
    ],
)
def test_unknown_keys_list_the_valid_ones(path, match):
    data = build_config("test_tiny").to_dict()
    section = data
    for key in path:
        section = section[key]
    section["typo"] = 1
    with pytest.raises(ValueError, match=match):
        LGFormerConfig.from_dict(data)


def test_a_section_that_is_not_a_mapping_is_a_value_error():
    data = build_config("test_tiny").to_dict()
    data["swin"] = 7
    with pytest.raises(ValueError, match="swin must be a mapping, got int"):
        LGFormerConfig.from_dict(data)
    with pytest.raises(ValueError, match="model config must be a mapping, got list"):
        LGFormerConfig.from_dict([("swin", {})])


@pytest.mark.parametrize(
    ("section", "key", "value", "match"),
    [
        ("swin", "window_size", 0, r"swin.window_size must be >= 1, got 0"),
        ("swin", "embed_dim", 0, r"swin.embed_dim must be >= 1"),
        ("swin", "num_heads", [3, 1, 2, 2], r"swin.num_heads\[0\]=3 must divide stage width 16"),
        ("decoder", "num_heads", 3, r"decoder.num_heads=3 must divide decoder.hidden_dim 32"),
        ("decoder", "hidden_dim", 0, r"decoder.hidden_dim must be >= 1"),
        (None, "max_words", 40, r"max_words=40 exceeds text.max_position_embeddings=32"),
        (None, "max_words", 0, r"max_words must be >= 1"),
        (None, "fusion_heads", [0, 1, 1, 1], r"fusion_heads\[0\]=0"),
    ],
)
def test_values_the_model_cannot_build_or_run_are_rejected(section, key, value, match):
    """These used to pass and fail later: ZeroDivisionError, an assert inside
    nn.MultiheadAttention, or a reshape error in the first forward."""
    data = build_config("test_tiny").to_dict()
    (data[section] if section else data)[key] = value
    with pytest.raises(ValueError, match=match):
        LGFormerConfig.from_dict(data)
