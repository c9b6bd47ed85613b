"""A straightforward LGFormer forward written from the spec alone, in float64.

``../shared/spec/lgformer.md`` read line by line, with no code shared with
``lgformer.model``: plain tensor ops on a state dict, loops where the spec
speaks of loops, no cleverness. It is the trusted "released behaviour" for
inputs the authors' fixture does not cover (odd sizes): its agreement with that
fixture is tested (``test_spec_reference.py``), and the odd-size fixtures in
``tests/model/fixtures/`` are its outputs.

Regenerate those fixtures (deterministic) with ``python -m tests.model.spec_reference``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

FIXTURE_DIR = Path(__file__).parent / "fixtures"
ODD_FIXTURES = {  # name -> (batch, H, W): H, W not multiples of 4 (nor of 8, 16, 32)
    "odd_66x99": (2, 66, 99),
    "odd_58x45": (1, 58, 45),
}
NEG = -1e4


class _Weights:
    """Prefix-scoped, float64 access to a state dict: ``w("norm1.weight")``."""

    def __init__(self, sd: dict[str, torch.Tensor], prefix: str = "") -> None:
        self.sd, self.prefix = sd, prefix

    def __call__(self, name: str) -> torch.Tensor:
        return self.sd[self.prefix + name].double()

    def sub(self, name: str) -> _Weights:
        return _Weights(self.sd, f"{self.prefix}{name}.")


def _ln(x: torch.Tensor, w: _Weights, name: str, eps: float = 1e-5) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], w(f"{name}.weight"), w(f"{name}.bias"), eps)


def _linear(x: torch.Tensor, w: _Weights, name: str, bias: bool = True) -> torch.Tensor:
    return F.linear(x, w(f"{name}.weight"), w(f"{name}.bias") if bias else None)


def _conv1x1(x: torch.Tensor, w: _Weights, name: str) -> torch.Tensor:
    """Conv1d(k=1) on (B, C, N)."""
    return F.conv1d(x, w(f"{name}.weight"), w(f"{name}.bias"))


def _instance_norm(x: torch.Tensor) -> torch.Tensor:
    """(B, C, N), each channel over N, biased variance, eps 1e-5."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


# ---------------------------------------------------------------- Swin (spec 3)


def _rel_index(window: int) -> torch.Tensor:
    idx = torch.empty(window * window, window * window, dtype=torch.long)
    for a in range(window * window):
        for b in range(window * window):
            dy = a // window - b // window + window - 1
            dx = a % window - b % window + window - 1
            idx[a, b] = dy * (2 * window - 1) + dx
    return idx


def _region_ids(hp: int, wp: int, window: int, shift: int) -> torch.Tensor:
    """(hp, wp) labels of the 9 shift regions on the padded map."""

    def band(n: int) -> torch.Tensor:
        r = torch.arange(n)
        return (r >= n - window).long() + (r >= n - shift).long()

    return band(hp)[:, None] * 3 + band(wp)[None, :]


def _swin_block(x, h, w, wt: _Weights, heads: int, window: int, shift: int):
    """x (B, H, W, C) -> (B, H, W, C)."""
    b, _, _, c = x.shape
    y = _ln(x, wt, "norm1")
    pb, pr = (-h) % window, (-w) % window
    y = F.pad(y, (0, 0, 0, pr, 0, pb))
    hp, wp = h + pb, w + pr
    if shift:
        y = torch.roll(y, (-shift, -shift), (1, 2))
        regions = _region_ids(hp, wp, window, shift)
    table = wt("attn.relative_position_bias_table")  # ((2w-1)^2, heads)
    bias = table[_rel_index(window)].permute(2, 0, 1)  # (heads, N, N)
    out = torch.zeros_like(y)
    hd = c // heads
    for i in range(0, hp, window):
        for j in range(0, wp, window):
            tokens = y[:, i : i + window, j : j + window].reshape(b, -1, c)  # (B, N, C)
            qkv = _linear(tokens, wt, "attn.qkv").view(b, -1, 3, heads, hd)
            q, k, v = (qkv[:, :, n].transpose(1, 2) for n in range(3))  # (B, h, N, hd)
            s = (q * hd**-0.5) @ k.transpose(-1, -2) + bias
            if shift:
                ids = regions[i : i + window, j : j + window].reshape(-1)
                s = s + (ids[:, None] != ids[None, :]).double() * -100.0
            a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, -1, c)
            out[:, i : i + window, j : j + window] = _linear(a, wt, "attn.proj").view(
                b, window, window, c
            )
    if shift:
        out = torch.roll(out, (shift, shift), (1, 2))
    x = x + out[:, :h, :w]
    hidden = F.gelu(_linear(_ln(x, wt, "norm2"), wt, "mlp.fc1"))
    return x + _linear(hidden, wt, "mlp.fc2")


def _vlba(x, lang, mask, wt: _Weights, heads: int):
    """Spec 4. x (B, HW, C), lang (B, D, L), mask (B, L, 1) -> v (B, HW, C), t (B, D, L)."""
    b, hw, c = x.shape
    d, words = lang.shape[1:]
    m = mask.transpose(1, 2)  # (B, 1, L)
    vis = F.gelu(_conv1x1(x.transpose(1, 2), wt, "vis_project.0"))  # (B, C, HW)
    lng = F.gelu(_conv1x1(lang, wt, "lang_project.0")) * m
    at = wt.sub("image_lang_att")
    q = _instance_norm(_conv1x1(x.transpose(1, 2), at, "query.0")).transpose(1, 2)  # (B, HW, C)
    k = _conv1x1(lang, at, "key") * m  # (B, C, L)
    v = _conv1x1(lang, at, "value") * m
    q = q.reshape(b, hw, heads, c // heads).transpose(1, 2)  # (B, h, HW, C/h)
    k = k.reshape(b, heads, c // heads, words)
    v = v.reshape(b, heads, c // heads, words)
    s = (q @ k) * c**-0.5 + (1e4 * m[:, None] - 1e4)  # (B, h, HW, L)
    a_v = (s.softmax(-1) @ v.transpose(-1, -2)).transpose(1, 2).reshape(b, hw, c)
    a_v = _instance_norm(_conv1x1(a_v.transpose(1, 2), at, "W.0")).transpose(1, 2)
    u = _instance_norm(_conv1x1(x.transpose(1, 2), at, "sym_value.0"))  # (B, D, HW)
    u = u.reshape(b, heads, d // heads, hw)
    a_t = s.transpose(-1, -2).softmax(-1) @ u.transpose(-1, -2)  # (B, h, L, D/h)
    a_t = a_t.transpose(1, 2).reshape(b, words, d).transpose(1, 2) * m  # (B, D, L)
    a_t = _conv1x1(a_t, at, "sym_W") * m
    mm = F.gelu(_conv1x1(torch.cat([vis, a_v.transpose(1, 2)], 1), wt, "project_mm.0"))
    out_v = F.gelu(_conv1x1(mm, wt, "project_mm.3")).transpose(1, 2)
    tt = F.gelu(_conv1x1(torch.cat([lng, a_t], 1), wt, "sym_project_mm.0"))
    out_t = F.gelu(_conv1x1(tt, wt, "sym_project_mm.3")) * m
    return out_v, out_t


def _gate(x, wt: _Weights, name: str):
    g = torch.relu(_linear(x, wt, f"{name}.0", bias=False))
    return torch.tanh(_linear(g, wt, f"{name}.2", bias=False))


def _backbone(image, lang, mask, sd, cfg: dict):
    wt = _Weights(sd, "backbone.")
    h, w = image.shape[-2:]
    image = F.pad(image, (0, (-w) % 4, 0, (-h) % 4))
    x = F.conv2d(image, wt("patch_embed.proj.weight"), wt("patch_embed.proj.bias"), stride=4)
    b, c, h, w = x.shape
    x = _ln(x.permute(0, 2, 3, 1), wt, "patch_embed.norm")  # (B, H, W, C)
    window = cfg["window_size"]
    features, t = [], lang
    for i, depth in enumerate(cfg["depths"]):
        st = wt.sub(f"layers.{i}")
        for j in range(depth):
            shift = 0 if j % 2 == 0 else window // 2
            x = _swin_block(x, h, w, st.sub(f"blocks.{j}"), cfg["num_heads"][i], window, shift)
        c = x.shape[-1]
        flat = x.reshape(b, h * w, c)
        v, t = _vlba(flat, lang, mask, st.sub("fusion"), cfg["fusion_heads"][i])
        flat = flat + _gate(v, st, "res_gate") * v
        tw = t.transpose(1, 2)
        lang = (lang + (_gate(tw, st, "sym_res_gate") * tw).transpose(1, 2)) * mask.transpose(1, 2)
        features.append(_ln(v, wt, f"norm{i}").view(b, h, w, c).permute(0, 3, 1, 2))
        x = flat.view(b, h, w, c)
        if i < len(cfg["depths"]) - 1:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
            x = torch.cat(
                [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1
            )
            x = _linear(_ln(x, st, "downsample.norm"), st, "downsample.reduction", bias=False)
            h, w = x.shape[1:3]
    return features, t


# ---------------------------------------------------------------- decoders (spec 5, 6)


def _sine(h: int, w: int, feats: int = 128) -> torch.Tensor:
    """(2*feats, H, W): [y-part, x-part], sin at even, cos at odd features."""
    y = torch.arange(1, h + 1, dtype=torch.float64)
    x = torch.arange(1, w + 1, dtype=torch.float64)
    y = y / (y[-1] + 1e-6) * 2 * math.pi
    x = x / (x[-1] + 1e-6) * 2 * math.pi
    out = torch.empty(2 * feats, h, w, dtype=torch.float64)
    for f in range(feats):
        dim_t = 10000.0 ** (2 * (f // 2) / feats)
        fn = torch.sin if f % 2 == 0 else torch.cos
        out[f] = fn(y / dim_t)[:, None].expand(h, w)
        out[feats + f] = fn(x / dim_t)[None, :].expand(h, w)
    return out


def _mha(q, k, v, wt: _Weights, heads: int, key_padding: torch.Tensor | None = None):
    """nn.MultiheadAttention with separate q/k/v projections: (B, Q, E), (B, S, K) -> (B, Q, E)."""
    e = wt("q_proj_weight").shape[0]
    bq, bk, bv = wt("in_proj_bias").split(e)
    q = F.linear(q, wt("q_proj_weight"), bq)
    k = F.linear(k, wt("k_proj_weight"), bk)
    v = F.linear(v, wt("v_proj_weight"), bv)
    b, nq, _ = q.shape
    hd = e // heads
    q = q.view(b, nq, heads, hd).transpose(1, 2)
    k = k.view(b, -1, heads, hd).transpose(1, 2)
    v = v.view(b, -1, heads, hd).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    if key_padding is not None:
        s = s.masked_fill(key_padding[:, None, None, :], float("-inf"))
    out = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, nq, e)
    return _linear(out, wt, "out_proj")


def _cross_layer(query, pos, key, value, wt: _Weights, heads: int, key_padding=None):
    q = query if pos is None else query + pos
    attn = _mha(q, key, value, wt.sub("cross_attn"), heads, key_padding)
    query = _ln(query + attn, wt, "norm_ca")
    ffn = _linear(torch.relu(_linear(query, wt, "ffn.0")), wt, "ffn.3")
    return _ln(query + ffn, wt, "norm_ffn")


def _msda(query, value, shapes, ref, wt: _Weights, heads=8, levels=3, points=4):
    """Spec 5(a). query, value (B, S, 256); ref (S, 2) as (x, y) -> (B, S, 256)."""
    b, nq, dim = query.shape
    hd = dim // heads
    val = _linear(value, wt, "value_proj").view(b, -1, heads, hd)
    off = _linear(query, wt, "sampling_offsets").view(b, nq, heads, levels, points, 2)
    att = _linear(query, wt, "attention_weights").view(b, nq, heads, levels * points)
    att = att.softmax(-1).view(b, nq, heads, levels, points)
    out = torch.zeros(b, nq, heads, hd, dtype=torch.float64)
    start = 0
    for lvl, (h, w) in enumerate(shapes):
        v_l = val[:, start : start + h * w]  # (B, HW, heads, hd)
        start += h * w
        for m in range(heads):
            img = v_l[:, :, m].transpose(1, 2).reshape(b, hd, h, w)
            loc = ref[None, :, None, :] + off[:, :, m, lvl] / torch.tensor([w, h])  # (B,Q,P,2)
            sampled = F.grid_sample(
                img, 2 * loc - 1, mode="bilinear", padding_mode="zeros", align_corners=False
            )  # (B, hd, Q, P)
            out[:, :, m] += (sampled * att[:, None, :, m, lvl]).sum(-1).transpose(1, 2)
    return _linear(out.reshape(b, nq, dim), wt, "output_proj")


def _group_norm(x, wt: _Weights, name: str):
    return F.group_norm(x, 32, wt(f"{name}.weight"), wt(f"{name}.bias"))


def _pixel_decoder(features, text, mask, sd):
    """Spec 5: features 4 maps; text (B, D, L); mask (B, L) -> mask_features, [s4, s3, s2]."""
    wt = _Weights(sd, "classifier.pix_dec.")
    tr = wt.sub("transformer")
    srcs, poss, shapes, refs = [], [], [], []
    for k, feat in enumerate(features[1:][::-1]):
        h, w = feat.shape[-2:]
        p = wt.sub(f"input_proj.{k}")
        y = _group_norm(F.conv2d(feat, p("0.weight"), p("0.bias")), p, "1")
        srcs.append(y.flatten(2).transpose(1, 2))
        poss.append(_sine(h, w).flatten(1).transpose(0, 1) + tr("level_embed")[k])
        shapes.append((h, w))
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        refs.append(torch.stack([(xs.reshape(-1) + 0.5) / w, (ys.reshape(-1) + 0.5) / h], -1))
    src, pos, ref = torch.cat(srcs, 1), torch.cat(poss, 0)[None], torch.cat(refs).double()
    words = text.transpose(1, 2)  # (B, L, D)
    enc = tr.sub("encoder")
    key = words + enc("key_embed.weight")[: words.shape[1]]
    for i in range(6):
        lw = enc.sub(f"layers.{i}")
        src = _ln(src + _msda(src + pos, src, shapes, ref, lw.sub("self_attn")), lw, "norm1")
        ffn = _linear(torch.relu(_linear(src, lw, "linear1")), lw, "linear2")
        src = _ln(src + ffn, lw, "norm2")
        src = _cross_layer(src, pos, key, words, enc.sub(f"cross_attn_layers.{i}"), 8, mask == 0)
    levels, start = [], 0
    for h, w in shapes:
        levels.append(src[:, start : start + h * w].transpose(1, 2).reshape(src.shape[0], -1, h, w))
        start += h * w
    y = _group_norm(F.conv2d(features[0], wt("adapter_1.0.weight")), wt, "adapter_1.1")
    y = y + F.interpolate(levels[-1], size=y.shape[-2:], mode="bilinear", align_corners=False)
    y = torch.relu(_group_norm(F.conv2d(y, wt("layer_1.0.weight"), padding=1), wt, "layer_1.1"))
    mf = F.conv2d(y, wt("mask_features.weight"), wt("mask_features.bias"))
    return mf, levels


def _mask_decoder(mask_features, levels, text, mask, size, sd):
    """Spec 6 -> 7 logit maps (B, 1, H, W), bilinear straight to the input size."""
    wt = _Weights(sd, "classifier.")
    words = text.transpose(1, 2)
    m = mask.double().unsqueeze(-1)
    sentence = (words * m).sum(1) / torch.clamp(m.sum(1), min=1e-6)
    query = _linear(sentence, wt, "txt_proj")[:, None]  # (B, 1, D)
    body = wt.sub("dynamic_conv_gen_body")
    states = [query]
    for i in range(6):
        level = levels[i % 3]
        emb = body("level_embed.weight")[i % 3]
        flat = level.flatten(2).transpose(1, 2)  # (B, HW, 256)
        pos = _sine(*level.shape[-2:]).flatten(1).transpose(0, 1)
        q_pos = body("query_embed.weight")[None]
        query = _cross_layer(query, q_pos, flat + pos + emb, flat + emb, body.sub(f"layers.{i}"), 8)
        states.append(query)
    head = wt.sub("dynamic_conv_gen_head")
    logits = []
    for state in states:
        k = torch.relu(_linear(state, head, "0"))
        k = _linear(torch.relu(_linear(k, head, "2")), head, "4")  # (B, 1, 257)
        out = torch.einsum("bc,bchw->bhw", k[:, 0, :-1], mask_features) + k[:, 0, -1, None, None]
        out = F.interpolate(out[:, None], size=size, mode="bilinear", align_corners=False)
        logits.append(out)
    return logits


def _bert(token_ids, attention_mask, sd, bert_cfg: dict):
    from transformers import BertConfig, BertModel

    bert = BertModel(BertConfig(**bert_cfg, attn_implementation="eager"), add_pooling_layer=False)
    prefix = "text_encoder."
    own = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    bert.load_state_dict(own, strict=False)
    bert = bert.double().eval()
    return bert(input_ids=token_ids, attention_mask=attention_mask).last_hidden_state


@torch.no_grad()
def reference_forward(
    sd: dict[str, torch.Tensor], cfg: dict, image, token_ids, attention_mask
) -> dict[str, torch.Tensor]:
    """The spec's forward in float64 -> tensors under the parity fixtures' names.

    ``cfg`` is a parity fixture ``config`` (embed_dim, depths, num_heads,
    window_size, fusion_heads, bert); decoder sizes are the published ones.
    """
    image = image.double()
    lang = _bert(token_ids, attention_mask, sd, cfg["bert"]).transpose(1, 2)  # (B, D, L)
    mask = attention_mask.double().unsqueeze(-1)
    features, text = _backbone(image, lang, mask, sd, cfg)
    mf, levels = _pixel_decoder(features, text, attention_mask, sd)
    logits = _mask_decoder(mf, levels, text, attention_mask, tuple(image.shape[-2:]), sd)
    out = {f"output.mask_logits.{i}": t for i, t in enumerate(logits)}
    out.update({f"intermediate.backbone.stage{i}": f for i, f in enumerate(features)})
    out["intermediate.backbone.text"] = text
    out["intermediate.pixel_decoder.mask_features"] = mf
    out.update({f"intermediate.pixel_decoder.level{i}": lv for i, lv in enumerate(levels)})
    return out


def formula_state_dict(manifest: list[dict]) -> dict[str, torch.Tensor]:
    """The fixture README's formula for every parameter of a manifest (buffers omitted)."""
    from lgformer.parity import formula_weight

    return {
        e["key"]: torch.from_numpy(formula_weight(e["key"], tuple(e["shape"])))
        for e in manifest
        if e["kind"] == "parameter"
    }


def fixture_inputs(batch: int, h: int, w: int, vocab: int, seed: int = 0):
    """Normalised-looking image (B, 3, H, W) and (B, 20) ids/mask; sentence lengths 7, 20, ..."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, h, w, generator=g)
    lengths = [7, 20, 3, 12][:batch]
    mask = torch.zeros(batch, 20, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    ids = torch.randint(1, vocab, (batch, 20), generator=g) * mask
    return image, ids, mask


def write_odd_fixtures(shared_json: Path) -> list[Path]:
    """The ODD_FIXTURES, same config and manifest as the authors' small fixture."""
    from safetensors.torch import save_file

    meta = json.loads(shared_json.read_text())
    sd = formula_state_dict(meta["manifest"])
    FIXTURE_DIR.mkdir(exist_ok=True)
    paths = []
    for name, (batch, h, w) in ODD_FIXTURES.items():
        image, ids, mask = fixture_inputs(batch, h, w, meta["config"]["bert"]["vocab_size"])
        out = reference_forward(sd, meta["config"], image, ids, mask)
        tensors = {"input.image": image, "input.token_ids": ids, "input.attention_mask": mask}
        tensors.update({k: v.float().contiguous() for k, v in out.items()})
        path = FIXTURE_DIR / f"{name}.json"
        path.write_text(json.dumps({**meta, "source": "tests/model/spec_reference.py"}) + "\n")
        save_file(tensors, str(path.with_suffix(".safetensors")))
        paths.append(path)
    return paths


if __name__ == "__main__":
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "parity"
    for p in write_odd_fixtures(shared / "lgformer_small.json"):
        print(p)
