"""The released preset has exactly the released checkpoints' keys and shapes."""

import json

import torch

from lgformer.config import RELEASED_PRESET, build_config
from lgformer.model import build_lgformer


def test_released_preset_equals_official_manifest(shared_parity_dir):
    manifest = json.loads((shared_parity_dir / "official_manifest_swin_base_w12.json").read_text())
    with torch.device("meta"):
        model = build_lgformer(build_config(RELEASED_PRESET))
    ours = {k: (tuple(v.shape), "parameter") for k, v in model.named_parameters()}
    ours.update(
        {
            k: (tuple(v.shape), "buffer")
            for k, v in model.named_buffers()
            if k in dict(model.state_dict(keep_vars=True))
        }
    )
    theirs = {e["key"]: (tuple(e["shape"]), e["kind"]) for e in manifest}
    assert len(theirs) == 962
    assert ours == theirs
    n_params = sum(v.numel() for v in model.parameters())
    assert 150e6 < n_params < 300e6
