"""The float64 spec reference reproduces the authors' fixture, so its odd-size outputs
(``tests/model/fixtures``) can stand for the released behaviour."""

import json

from safetensors.torch import load_file

from lgformer.parity import relative_error
from tests.model.spec_reference import (
    FIXTURE_DIR,
    ODD_FIXTURES,
    formula_state_dict,
    reference_forward,
)


def test_spec_reference_reproduces_the_released_code(shared_parity_dir):
    meta = json.loads((shared_parity_dir / "lgformer_small.json").read_text())
    tensors = load_file(str(shared_parity_dir / "lgformer_small.safetensors"))
    ours = reference_forward(
        formula_state_dict(meta["manifest"]),
        meta["config"],
        tensors["input.image"],
        tensors["input.token_ids"],
        tensors["input.attention_mask"],
    )
    errors = {k: relative_error(v, tensors[k]) for k, v in ours.items()}
    assert len(errors) == 16
    # The fixture is float32: ~1e-6 is its own rounding, far below the model's 1e-4.
    assert max(errors.values()) < 1e-5, errors


def test_odd_fixtures_are_odd_and_complete():
    for name, (batch, h, w) in ODD_FIXTURES.items():
        tensors = load_file(str(FIXTURE_DIR / f"{name}.safetensors"))
        assert tensors["input.image"].shape == (batch, 3, h, w)
        assert h % 4 and w % 4
        assert tensors["output.mask_logits.6"].shape == (batch, 1, h, w)
        assert len([k for k in tensors if not k.startswith("input.")]) == 16
