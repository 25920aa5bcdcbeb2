"""Checkpoints: exact round trips, atomic replacement, and refusals whose messages name the mismatch.

The oracle for a round trip is the model that was saved: every tensor of its state dict (dtype
included) and its outputs on random input must come back bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transduce.asr.checkpoint import (
    CheckpointError,
    bundled_model_path,
    bundled_models,
    load_model,
    save_model,
)
from transduce.asr.encoders import ConformerConfig, ConformerEncoder, TransformerConfig, TransformerEncoder
from transduce.asr.features import FeatureNormalizer
from transduce.asr.models import register_model
from transduce.asr.tokenizers import BpeTokenizer, CharTokenizer

from transduce import asr

FEAT = 12
TEXT = ["the quick brown fox jumps over the lazy dog", "a cat sat on the mat, did it?", "hello world"] * 20


def _conformer_cfg(**kw) -> ConformerConfig:
    base = dict(feat_in=FEAT, n_layers=2, d_model=32, n_heads=4, conv_kernel_size=5, subsampling_factor=4,
                subsampling_conv_channels=8, att_context_size=((6, 2), (4, 0)), dropout=0.0,
                dropout_pre_encoder=0.0, dropout_att=0.0)
    return ConformerConfig(**{**base, **kw})


def _transformer_cfg(**kw) -> TransformerConfig:
    base = dict(feat_in=FEAT, n_layers=2, d_model=32, n_heads=4, subsampling_factor=4,
                subsampling_conv_channels=8, pos_emb="relative", dropout=0.0, dropout_pre_encoder=0.0,
                dropout_att=0.0)
    return TransformerConfig(**{**base, **kw})


@dataclass(frozen=True)
class ConformerCtcConfig:
    encoder: ConformerConfig
    vocab_size: int


@dataclass(frozen=True)
class TransformerCtcConfig:
    encoder: TransformerConfig
    vocab_size: int


class _Ctc(nn.Module):
    """A user model: feature normaliser -> encoder -> output layer over the vocabulary."""

    def __init__(self, cfg, encoder: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.normalizer = FeatureNormalizer(FEAT)
        self.encoder = encoder
        self.head = nn.Linear(cfg.encoder.d_model, cfg.vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.encoder(self.normalizer(feats, lengths), lengths, lookahead=0)
        return self.head(out)


@register_model("test_ckpt_conformer_ctc")  # settings class from the class attribute
class ConformerCtc(_Ctc):
    config_class = ConformerCtcConfig

    def __init__(self, cfg: ConformerCtcConfig) -> None:
        super().__init__(cfg, ConformerEncoder(cfg.encoder))


@register_model("test_ckpt_transformer_ctc", config=TransformerCtcConfig)  # settings class as argument
class TransformerCtc(_Ctc):
    def __init__(self, cfg: TransformerCtcConfig) -> None:
        super().__init__(cfg, TransformerEncoder(cfg.encoder))


class _FailingTokenizer(CharTokenizer):
    """A tokenizer whose save dies half-way, like a full disk."""

    def save(self, directory) -> None:
        super().save(directory)
        raise OSError(28, "No space left on device")


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random values in every floating tensor, positive ones in variances/stds, random batch counters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            if t.is_floating_point():
                values = torch.randn(t.shape, generator=g, dtype=torch.float64)
                positive = name.endswith(("running_var", ".std"))
                t.copy_(values.abs() + 0.5 if positive else values * 0.3)
            else:
                t.copy_(torch.randint(1, 1000, t.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    return {"char": CharTokenizer.train(TEXT), "bpe": BpeTokenizer.train(TEXT, 40)}


def _ctc(kind: str, vocab: int, seed: int = 1, **enc) -> nn.Module:
    if kind == "conformer":
        model = ConformerCtc(ConformerCtcConfig(_conformer_cfg(**enc), vocab))
    else:
        model = TransformerCtc(TransformerCtcConfig(_transformer_cfg(**enc), vocab))
    return _randomise(model, seed)


def _inputs(seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 61, FEAT, generator=g) * 2 + 1, torch.tensor([61, 40, 17])


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key


# ----------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", ["conformer", "transformer"])
@pytest.mark.parametrize("tok_kind", ["char", "bpe"])
def test_round_trip_is_exact(tmp_path, tokenizers, kind, tok_kind):
    tok = tokenizers[tok_kind]
    model = _ctc(kind, tok.vocab_size)
    assert model.normalizer.std.min() > 0.5 and model.normalizer.mean.abs().sum() > 0
    save_model(model, tmp_path / "ck", tokenizer=tok)
    rng = torch.get_rng_state()
    loaded = load_model(tmp_path / "ck")
    assert torch.equal(torch.get_rng_state(), rng), "loading must not move torch's RNG"
    assert type(loaded) is type(model) and loaded.cfg == model.cfg and not loaded.training
    _assert_same_state(model, loaded)
    feats, lengths = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(feats, lengths), model(feats, lengths))
    assert loaded.tokenizer.pieces() == tok.pieces()
    for text in ["the lazy cat", "unknown: XYZ é"]:
        assert loaded.tokenizer.encode(text) == tok.encode(text)


@pytest.mark.parametrize("encoder", [lambda: ConformerEncoder(_conformer_cfg(untie_biases=False)),
                                     lambda: TransformerEncoder(_transformer_cfg(pos_emb="rotary"))],
                         ids=["conformer", "transformer"])
def test_registered_encoders_round_trip(tmp_path, encoder):
    model = _randomise(encoder(), 3)
    save_model(model, tmp_path / "enc")
    loaded = load_model(str(tmp_path / "enc"))
    assert not hasattr(loaded, "tokenizer")
    _assert_same_state(model, loaded)
    feats, lengths = _inputs()
    with torch.no_grad():
        a, b = model(feats, lengths), loaded(feats, lengths)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path):
    model = _randomise(ConformerEncoder(_conformer_cfg(untie_biases=False)), 4)
    state = model.state_dict()
    assert state["layers.1.self_attn.pos_bias_u"].data_ptr() == state["pos_bias_u"].data_ptr()
    save_model(model, tmp_path / "enc")
    stored = load_file(tmp_path / "enc" / "model.safetensors")
    assert "pos_bias_u" in stored and "layers.1.self_attn.pos_bias_u" not in stored
    assert len(stored) == len(state) - 2 * model.cfg.n_layers  # u and v of every layer are aliases
    loaded = load_model(tmp_path / "enc")
    assert loaded.layers[1].self_attn.pos_bias_u is loaded.pos_bias_u
    assert torch.equal(loaded.layers[0].self_attn.pos_bias_v, model.pos_bias_v)


def test_overlapping_views_are_copied(tmp_path):
    model = _randomise(ConformerEncoder(_conformer_cfg()), 5)
    with torch.no_grad():  # make one buffer a view of another's memory
        bn = model.layers[0].conv.batch_norm
        both = torch.cat([bn.running_mean, bn.running_var])
        bn.running_mean, bn.running_var = both[: bn.num_features], both[bn.num_features :]
    save_model(model, tmp_path / "enc")
    _assert_same_state(model, load_model(tmp_path / "enc"))


def test_dtypes(tmp_path, tokenizers):
    model = _ctc("transformer", tokenizers["char"].vocab_size)
    save_model(model.to(torch.bfloat16), tmp_path / "bf16", tokenizers["char"])
    loaded = load_model(tmp_path / "bf16")
    assert loaded.head.weight.dtype == torch.bfloat16
    _assert_same_state(model, loaded)
    wide = load_model(tmp_path / "bf16", dtype=torch.float64)
    assert wide.head.weight.dtype == torch.float64
    assert torch.equal(wide.head.weight, model.head.weight.double())


def test_resave_keeps_the_tokenizer(tmp_path, tokenizers):
    model = _ctc("conformer", tokenizers["bpe"].vocab_size)
    save_model(model, tmp_path / "a", tokenizers["bpe"])
    save_model(load_model(tmp_path / "a"), tmp_path / "b")
    assert load_model(tmp_path / "b").tokenizer.pieces() == tokenizers["bpe"].pieces()


def test_import_asr_is_cheap_and_exports_the_api():
    code = "import sys, asr; assert 'torch' not in sys.modules; print(asr.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "load_model" in out and "save_model" in out
    assert asr.load_model is load_model and asr.save_model is save_model


# ---------------------------------------------------------------------------------------- saving
def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_failing_save_leaves_the_old_checkpoint(tmp_path, tokenizers):
    old = _ctc("conformer", tokenizers["char"].vocab_size, seed=1)
    save_model(old, tmp_path / "ck", tokenizers["char"])
    new = _ctc("conformer", tokenizers["char"].vocab_size, seed=2)
    with pytest.raises(OSError, match="No space left"):
        save_model(new, tmp_path / "ck", _FailingTokenizer(tokenizers["char"].chars))
    assert _entries(tmp_path) == ["ck"], "the temporary directory must be removed"
    _assert_same_state(old, load_model(tmp_path / "ck"))

    save_model(new, tmp_path / "ck", tokenizers["char"])  # a complete save does replace it
    assert _entries(tmp_path) == ["ck"]
    _assert_same_state(new, load_model(tmp_path / "ck"))


def test_unsaveable_tensor_writes_nothing(tmp_path):
    model = ConformerEncoder(_conformer_cfg())
    save_model(model, tmp_path / "ck")
    model.register_buffer("sparse", torch.eye(3).to_sparse())
    with pytest.raises(CheckpointError, match="sparse: cannot save a torch.sparse_coo tensor"):
        save_model(model, tmp_path / "ck")
    assert _entries(tmp_path) == ["ck"]
    load_model(tmp_path / "ck")


def test_save_refusals(tmp_path, tokenizers):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="not empty and not a checkpoint"):
        save_model(ConformerEncoder(_conformer_cfg()), other)
    assert _entries(other) == ["holiday.jpg"]
    with pytest.raises(CheckpointError, match="Linear is not a registered model"):
        save_model(nn.Linear(2, 3), tmp_path / "lin")
    model = _ctc("transformer", tokenizers["char"].vocab_size + 1)
    with pytest.raises(CheckpointError, match=f"vocab_size: config {model.cfg.vocab_size} vs the tokenizer"):
        save_model(model, tmp_path / "v", tokenizers["char"])
    assert _entries(tmp_path) == ["photos"]


# ------------------------------------------------------------------------------------- refusals
@pytest.fixture
def saved(tmp_path, tokenizers) -> Path:
    model = _ctc("conformer", tokenizers["char"].vocab_size)
    return save_model(model, tmp_path / "ck", tokenizers["char"])


def _edit_config(directory: Path, **changes) -> None:
    meta = json.loads((directory / "config.json").read_text())
    for dotted, value in changes.items():
        node = meta["config"]
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    (directory / "config.json").write_text(json.dumps(meta))


def _refusal(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    return str(info.value)


def test_changed_d_model_is_named(saved):
    _edit_config(saved, encoder__d_model=64)
    msg = _refusal(saved)
    assert "the weights fit encoder.d_model=32 (config.json says 64)" in msg
    assert "normalizer" not in msg, "only mismatched tensors are listed"
    assert "encoder.layers.0.feed_forward1.linear1.weight: checkpoint (128, 32) vs config (256, 64)" in msg


def test_changed_ff_expansion_is_named(saved):
    _edit_config(saved, encoder__ff_expansion_factor=2)
    msg = _refusal(saved)
    assert "encoder.ff_expansion_factor=4 (config.json says 2)" in msg
    assert ("encoder.layers.0.feed_forward1.linear1.weight: checkpoint (128, 32) vs config (64, 32) — does "
            "encoder.ff_expansion_factor match the weights?") in msg


@pytest.mark.parametrize("n_layers", [1, 3])
def test_changed_n_layers_is_named(saved, n_layers):
    _edit_config(saved, encoder__n_layers=n_layers)
    msg = _refusal(saved)
    assert f"encoder.n_layers=2 (config.json says {n_layers})" in msg
    assert f"encoder.layers: 2 entries in the weights, {n_layers} from the config" in msg
    if n_layers == 1:
        assert "unexpected in the weights" in msg and "encoder.layers.1.*" in msg
    else:
        assert "missing from the weights" in msg and "encoder.layers.2.*" in msg


def test_two_changed_settings_are_both_named(saved):
    _edit_config(saved, encoder__n_layers=3, encoder__d_model=64)
    msg = _refusal(saved)
    assert "encoder.d_model=32 (config.json says 64)" in msg
    assert "encoder.n_layers=2 (config.json says 3)" in msg


def test_changed_vocab_is_named(saved, tokenizers):
    vocab = tokenizers["char"].vocab_size
    _edit_config(saved, vocab_size=vocab + 5)
    msg = _refusal(saved)
    assert f"head.weight: checkpoint ({vocab}, 32) vs config ({vocab + 5}, 32) — does vocab_size match" in msg
    assert f"vocab_size: config {vocab + 5} vs the tokenizer in {saved / 'tokenizer'} {vocab} ids" in msg


def _edit_weights(directory: Path, drop: str | None = None, add: dict | None = None) -> None:
    path = directory / "model.safetensors"
    tensors = load_file(path)
    if drop:
        del tensors[drop]
    tensors.update(add or {})
    save_file(tensors, path, metadata={"format": "pt"})


def test_missing_weight_is_named(saved):
    _edit_weights(saved, drop="encoder.layers.1.conv.batch_norm.running_var")
    msg = _refusal(saved)
    assert "missing from the weights (1 keys): encoder.layers.1.conv.batch_norm.running_var" in msg


def test_extra_weights_are_named(saved):
    _edit_weights(saved, add={"decoder.embed.weight": torch.zeros(3, 4), "decoder.bias": torch.zeros(3)})
    msg = _refusal(saved)
    assert "unexpected in the weights (2 keys): decoder.bias, decoder.embed.weight" in msg


def test_reshaped_weight_is_named(saved):
    _edit_weights(saved, add={"normalizer.mean": torch.zeros(FEAT + 1)})
    msg = _refusal(saved)
    assert f"normalizer.mean: checkpoint ({FEAT + 1},) vs config ({FEAT},)" in msg


@pytest.mark.parametrize("text, expected", [
    ("{not json", "config.json: not valid JSON"),
    ('{"format": 1, "config": {}}', 'expected a JSON object with keys "format", "model", "config"'),
    ('{"format": 2, "model": "conformer_encoder", "config": {}}', "checkpoint format 2 is not supported"),
    ('{"format": 1, "model": "wav2vec9", "config": {}}', "unknown model 'wav2vec9' (registered: ["),
    ('{"format": 1, "model": "conformer_encoder", "config": {"d_modle": 3}}',
     "bad config for model 'conformer_encoder': ConformerConfig: unknown key(s) ['d_modle']"),
    ('{"format": 1, "model": "conformer_encoder", "config": {"d_model": "wide"}}',
     "ConformerConfig.d_model: expected int, got str"),
])
def test_corrupt_config_is_refused(saved, text, expected):
    (saved / "config.json").write_text(text)
    assert expected in _refusal(saved)


def test_unbuildable_config_is_refused(saved):
    _edit_config(saved, encoder__att_context_style="sideways")
    assert "ConformerCtcConfig.encoder.att_context_style: 'sideways' is not one of" in _refusal(saved)


def test_missing_or_corrupt_files_are_refused(tmp_path, saved):
    assert "no such checkpoint directory" in _refusal(tmp_path / "nope")
    assert "not a checkpoint directory" in _refusal(saved / "config.json")
    (saved / "tokenizer" / "tokenizer.json").write_text("[]")
    assert "tokenizer.json: expected a JSON object" in _refusal(saved)
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert "model.safetensors: not a readable safetensors file" in _refusal(saved)
    (saved / "model.safetensors").unlink()
    assert "model.safetensors: no such file" in _refusal(saved)
    (saved / "config.json").unlink()
    assert "config.json: no such file" in _refusal(saved)


def test_bundled_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = bundled_models()
    msg = _refusal("no_such_model")
    assert "neither a checkpoint directory nor a bundled model" in msg
    assert f"bundled models: {', '.join(names) or 'none yet'}" in msg
    with pytest.raises(CheckpointError, match="no bundled model named 'no_such_model'"):
        bundled_model_path("no_such_model")
    (tmp_path / "no_such_model").mkdir()  # a directory of that name is a path, not a bundled name
    assert "config.json: no such file" in _refusal("no_such_model")
    for name in names:
        assert (bundled_model_path(name) / "config.json").is_file()


def test_registry_refuses_clashes_and_unfrozen_settings():
    with pytest.raises(ValueError, match="already registered"):
        register_model("test_ckpt_conformer_ctc", config=TransformerCtcConfig)(TransformerCtc)
    register_model("test_ckpt_conformer_ctc")(ConformerCtc)  # the same class again is fine

    @dataclasses.dataclass
    class Loose:
        x: int = 1

    with pytest.raises(TypeError, match="must be frozen"):
        register_model("test_ckpt_loose", config=Loose)(nn.Identity)
    with pytest.raises(TypeError, match="needs a dataclass of settings"):
        register_model("test_ckpt_none")(nn.Identity)
