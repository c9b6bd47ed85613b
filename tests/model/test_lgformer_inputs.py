"""Bad inputs to ``LGFormer.forward`` fail early with an error naming the argument;
the model runs in the dtype it is cast to."""

import copy

import pytest
import torch

from tests.conftest import make_tiny_model


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return make_tiny_model()


def _inputs(batch: int = 2, size: int = 48, words: int = 20):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 100, (batch, words), generator=g)
    mask = torch.ones(batch, words, dtype=torch.long)
    mask[0, 5:] = 0
    return torch.randn(batch, 3, size, size, generator=g), ids, mask


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            lambda i, t, m: (i[0], t[:1], m[:1]),
            ValueError,
            r"image must be \(B, 3, H, W\).*\[None\]",
        ),
        (lambda i, t, m: (i[:, :2], t, m), ValueError, r"image must be \(B, 3, H, W\)"),
        (lambda i, t, m: (i[:0], t[:0], m[:0]), ValueError, r"B, H, W >= 1.*\(0, 3, 48, 48\)"),
        (lambda i, t, m: (i[..., :0], t, m), ValueError, r"B, H, W >= 1"),
        (lambda i, t, m: ((i * 50).to(torch.uint8), t, m), TypeError, "image must be a floating"),
        (lambda i, t, m: (i.double(), t, m), TypeError, "image is torch.float64 but the model"),
        (lambda i, t, m: (i, t.float(), m), TypeError, "token_ids must be torch.long"),
        (lambda i, t, m: (i, t[0], m[0]), ValueError, r"token_ids must be \(B, L\)"),
        (lambda i, t, m: (i, t[:, :19], m), ValueError, "attention_mask .* shape of token_ids"),
        (lambda i, t, m: (i[:1], t, m), ValueError, "image's batch B = 1"),
        (lambda i, t, m: (i, t.repeat(1, 2), m.repeat(1, 2)), ValueError, "max_words = 20"),
        (lambda i, t, m: (i, t + 10**6, m), ValueError, r"token_ids must lie in \[0, 30522\)"),
        (lambda i, t, m: (i, -t, m), ValueError, r"token_ids must lie in \[0, 30522\)"),
        (lambda i, t, m: (i, t, m * 2), ValueError, "attention_mask must hold only 0"),
        (lambda i, t, m: (i.numpy(), t, m), TypeError, "image must be a torch.Tensor"),
        (lambda i, t, m: (i, t.tolist(), m), TypeError, "token_ids must be a torch.Tensor"),
    ],
)
def test_bad_inputs_name_the_argument(model, change, error, match):
    with pytest.raises(error, match=match):
        model(*change(*_inputs()))


def test_inputs_on_another_device_are_reported(model):
    image, ids, mask = _inputs()
    with pytest.raises(ValueError, match="token_ids is on meta but the model is on cpu"):
        model(image, ids.to("meta"), mask)


def test_accepted_variants_give_the_same_logits(model):
    image, ids, mask = _inputs()
    ref = model(image, ids, mask).pred_logits
    for variant in (
        (image, ids.int(), mask),
        (image, ids, mask.bool()),
        (image, ids, mask.float()),
        (image.contiguous(memory_format=torch.channels_last), ids, mask),
    ):
        torch.testing.assert_close(model(*variant).pred_logits, ref, rtol=0, atol=0)
    # Fewer word slots than max_words: the padding slots were ignored anyway.
    short = model(image[:1], ids[:1, :5], mask[:1, :5]).pred_logits
    torch.testing.assert_close(short, ref[:1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_model_cast_to_another_dtype_runs_in_it(model, dtype):
    """``model.to(dtype)`` with an image of that dtype used to fail in the fusion
    pooling and the pixel decoder, which forced float32 inputs on other weights."""
    image, ids, mask = _inputs()
    with torch.no_grad():
        ref = model(image, ids, mask).pred_logits
    cast = copy.deepcopy(model).to(dtype)
    with torch.no_grad():
        out = cast(image.to(dtype), ids, mask)
    assert all(o.dtype == dtype for o in out.mask_logits)
    tol = 1e-5 if dtype == torch.float64 else 0.1
    rel = (out.pred_logits.double() - ref.double()).norm() / ref.double().norm()
    assert rel < tol, rel


def test_cpu_bf16_autocast_accepts_float32_and_bf16_images(model):
    image, ids, mask = _inputs()
    with torch.no_grad():
        ref = model(image, ids, mask).pred_logits
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = model(image, ids, mask).pred_logits
        b = model(image.bfloat16(), ids, mask).pred_logits
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    rel = (a.double() - ref.double()).norm() / ref.double().norm()
    assert rel < 0.1, rel


def test_train_and_eval_modes_agree_without_dropout():
    """Eval is deterministic; train differs only by BERT dropout (drop path is 0 here)."""
    model = make_tiny_model()
    image, ids, mask = _inputs()
    first = model(image, ids, mask).pred_logits
    torch.testing.assert_close(model(image, ids, mask).pred_logits, first, rtol=0, atol=0)
    model.train()
    model.text_encoder.eval()
    torch.testing.assert_close(model(image, ids, mask).pred_logits, first, rtol=1e-5, atol=1e-5)
    assert model.training and not model.text_encoder.training


def test_id_range_follows_the_text_encoders_own_vocabulary():
    model = make_tiny_model()
    model.text_encoder.resize_token_embeddings(64)
    image, ids, mask = _inputs()
    with pytest.raises(ValueError, match=r"token_ids must lie in \[0, 64\)"):
        model(image, ids, mask)
    model(image, ids % 64, mask)


def test_training_steps_skip_the_value_check_and_its_device_sync(monkeypatch):
    """The id-range check reads tensors back to the host; in training mode (tokenizer ids)
    it is skipped, shapes and dtypes are still checked."""
    import lgformer.model.lgformer as lgformer_module

    model = make_tiny_model()
    image, ids, mask = _inputs()
    calls = []
    real = lgformer_module._check_word_values
    monkeypatch.setattr(
        lgformer_module, "_check_word_values", lambda *a: calls.append(1) or real(*a)
    )
    model.eval()
    model(image, ids, mask)
    assert calls == [1]
    model.train()
    model(image, ids, mask)
    assert calls == [1]
    with pytest.raises(ValueError, match="max_words = 20"):
        model(image, ids.repeat(1, 2), mask.repeat(1, 2))
