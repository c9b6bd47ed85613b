import pytest
import torch
from safetensors.torch import load_file

from lgformer.checkpoints.bert import load_bert_weights, resolve_bert_dir
from lgformer.config import build_config, minilm_text_config
from lgformer.errors import LGFormerError
from lgformer.model.text_encoder import build_text_encoder


def test_minilm_package_loads_into_a_matching_encoder():
    encoder = build_text_encoder(minilm_text_config())
    report = load_bert_weights(encoder, "minilm")
    ref = load_file(str(resolve_bert_dir("minilm") / "model.safetensors"))
    sd = encoder.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.weight"):
        assert torch.equal(sd[key], ref[key])
    assert not report.missing and not report.unexpected
    assert "pooler.dense.weight" not in report.loaded


def test_width_mismatch_is_a_clear_error():
    encoder = build_text_encoder(build_config("test_tiny").text)  # 32 wide
    with pytest.raises(LGFormerError, match=r"hidden_size=384 .* has 32"):
        load_bert_weights(encoder, "minilm")


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(LGFormerError, match="no BERT"):
        resolve_bert_dir(tmp_path / "nothing")


def test_pretraining_checkpoint_keys_are_normalised(tmp_path):
    cfg = build_config("test_tiny").text
    source = build_text_encoder(cfg)
    raw = {f"bert.{k}": v for k, v in source.state_dict().items()}
    raw = {k.replace("LayerNorm.weight", "LayerNorm.gamma"): v for k, v in raw.items()}
    raw["cls.predictions.bias"] = torch.zeros(cfg.vocab_size)
    torch.save(raw, tmp_path / "pytorch_model.bin")
    source.config.to_json_file(str(tmp_path / "config.json"))
    target = build_text_encoder(cfg)
    load_bert_weights(target, tmp_path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
