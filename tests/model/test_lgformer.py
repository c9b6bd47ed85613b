"""Forward/backward behaviour of the model on small inputs."""

import pytest
import torch

from lgformer.config import build_config
from lgformer.model import build_lgformer
from lgformer.tokenizer import SentenceTokenizer
from tests.conftest import make_tiny_model


def _inputs(batch: int, h: int, w: int, lengths: list[int], vocab: int = 30522):
    g = torch.Generator().manual_seed(0)
    ids = torch.zeros(batch, 20, dtype=torch.long)
    mask = torch.zeros(batch, 20, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(1, vocab, (n,), generator=g)
        mask[i, :n] = 1
    return torch.randn(batch, 3, h, w, generator=g), ids, mask


def test_odd_image_size_and_mixed_sentence_lengths(tiny_model):
    image, ids, mask = _inputs(3, 97, 131, [3, 20, 9])
    out = tiny_model(image, ids, mask)
    assert len(out.mask_logits) == tiny_model.config.decoder.mask_decoder_layers + 1
    for logits in out.mask_logits:
        assert logits.shape == (3, 1, 97, 131)
        assert torch.isfinite(logits).all()
    assert out.pred_logits is out.mask_logits[-1]


def test_padded_upsampling_aligns_odd_sizes_with_the_internally_padded_image(tiny_model):
    """The model pads right/bottom with zeros, so with ``mask_upsampling="padded"`` an
    odd-sized image gives the same logits as that image zero-padded by hand, cropped
    back. (The released "input" resize stretches the stride-4 grid instead.)"""
    tiny_model.classifier.mask_upsampling = "padded"
    image, ids, mask = _inputs(1, 97, 131, [6])
    padded = torch.nn.functional.pad(image, (0, 1, 0, 3))  # (1, 3, 100, 132)
    odd = tiny_model(image, ids, mask).pred_logits
    even = tiny_model(padded, ids, mask).pred_logits
    torch.testing.assert_close(odd, even[..., :97, :131], rtol=1e-4, atol=1e-5)


def test_padding_and_batch_mates_do_not_change_a_sample(tiny_model):
    image, ids, mask = _inputs(2, 64, 80, [4, 15])
    together = tiny_model(image, ids, mask).pred_logits
    alone = tiny_model(image[:1], ids[:1], mask[:1]).pred_logits
    torch.testing.assert_close(together[:1], alone, rtol=1e-4, atol=1e-4)
    # Garbage ids in padded slots are ignored.
    ids2 = ids.clone()
    ids2[0, 4:] = 7
    again = tiny_model(image, ids2, mask).pred_logits
    torch.testing.assert_close(again, together, rtol=1e-4, atol=1e-4)


def test_sentences_change_the_prediction(tiny_model):
    image, ids, mask = _inputs(2, 64, 64, [5, 5])
    image[1] = image[0]
    logits = tiny_model(image, ids, mask).pred_logits
    assert not torch.allclose(logits[0], logits[1])


def test_backward_reaches_every_trained_part():
    model = make_tiny_model().train()
    image, ids, mask = _inputs(2, 48, 40, [6, 11], vocab=100)
    out = model(image, ids, mask)
    sum(o.mean() for o in out.mask_logits).backward()
    for prefix in (
        "backbone.patch_embed",
        "classifier.pix_dec",
        "classifier.dynamic_conv_gen",
        "text_encoder.encoder",
    ):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), prefix


def test_gradient_checkpointing_changes_nothing():
    image, ids, mask = _inputs(2, 48, 48, [6, 11], vocab=100)
    grads = []
    for enabled in (False, True):
        model = make_tiny_model(seed=3).train()
        model.set_grad_checkpointing(enabled)
        model(image, ids, mask).pred_logits.sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


def test_other_text_widths_work():
    cfg = build_config("test_tiny")
    cfg.text.hidden_size = 48
    cfg.text.num_attention_heads = 3
    model = build_lgformer(cfg).eval()
    image, ids, mask = _inputs(1, 64, 48, [5], vocab=100)
    assert model(image, ids, mask).pred_logits.shape == (1, 1, 64, 48)


def test_gates_start_closed_and_fusion_heads_validate():
    model = make_tiny_model()
    for stage in model.backbone.layers:
        assert stage.res_gate[0].weight.abs().sum() == 0
        assert stage.sym_res_gate[2].weight.abs().sum() == 0
    cfg = build_config("test_tiny").to_dict()
    cfg["fusion_heads"] = [3, 1, 1, 1]
    with pytest.raises(ValueError, match="fusion_heads"):
        type(build_config("test_tiny")).from_dict(cfg)


def test_bad_input_shapes_are_reported(tiny_model):
    image, ids, mask = _inputs(2, 32, 32, [3, 3])
    with pytest.raises(ValueError, match="token_ids"):
        tiny_model(image, ids[:1], mask[:1])
    with pytest.raises(ValueError, match="image"):
        tiny_model(image[:, :1], ids, mask)


def test_real_tokenizer_feeds_the_model(tiny_model):
    ids, mask = SentenceTokenizer()(["the man on the left", "a dog"])
    cfg = build_config("test_tiny")
    cfg.text.vocab_size = 30522
    model = build_lgformer(cfg).eval()
    out = model(torch.randn(2, 3, 40, 40), ids, mask)
    assert out.pred_logits.shape == (2, 1, 40, 40)
