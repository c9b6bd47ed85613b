"""optim.train_text_encoder=false: the whole text encoder is frozen and in no group."""

import torch

from lgformer.config import build_config
from lgformer.engine.config import load_train_config
from lgformer.engine.optimizer import build_optimizer
from lgformer.model import build_lgformer


def _model():
    torch.manual_seed(0)
    return build_lgformer(build_config("test_tiny"))


def test_config_switch_defaults_to_training_the_text_encoder():
    assert load_train_config().optim.train_text_encoder is True
    cfg = load_train_config(overrides=["optim.train_text_encoder=false"])
    assert cfg.optim.train_text_encoder is False


def test_frozen_text_encoder_is_in_no_group():
    model = _model()
    for embeddings in (False, True):  # train_bert_embeddings cannot unfreeze it
        opt = build_optimizer(
            model,
            lr=1e-4,
            weight_decay=1e-2,
            train_bert_embeddings=embeddings,
            train_text_encoder=False,
        )
        grouped = {id(p) for g in opt.param_groups for p in g["params"]}
        text = list(model.text_encoder.parameters())
        assert text and not any(p.requires_grad for p in text)
        assert not any(id(p) in grouped for p in text)
        assert "text_encoder" not in [g["name"] for g in opt.param_groups]
        rest = [p for n, p in model.named_parameters() if not n.startswith("text_encoder.")]
        assert all(p.requires_grad and id(p) in grouped for p in rest)


def test_frozen_text_encoder_gets_no_gradient_and_does_not_move():
    model = _model()
    opt = build_optimizer(model, lr=1e-2, weight_decay=1e-2, train_text_encoder=False)
    before = {k: v.clone() for k, v in model.text_encoder.state_dict().items()}
    image = torch.randn(2, 3, 32, 32)
    ids = torch.randint(1, 100, (2, 20))
    mask = torch.ones(2, 20, dtype=torch.int64)
    model(image, ids, mask).pred_logits.sum().backward()
    opt.step()
    assert all(p.grad is None for p in model.text_encoder.parameters())
    assert any(p.grad is not None for p in model.classifier.parameters())
    for key, value in model.text_encoder.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
