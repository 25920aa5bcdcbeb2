"""ASRModel: losses are the composition of its parts, configs are checked, checkpoints round trip."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transduce.asr import load_model, save_model
from transduce.asr.config import ConfigError, from_dict, to_dict
from transduce.asr.encoders import ConformerConfig, TransformerConfig
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig, LossConfig, transducer_heads
from transduce.asr.tokenizers import CharTokenizer

from transduce import kernels

V = 9
ENC = ConformerConfig(feat_in=80, n_layers=2, d_model=32, n_heads=4, subsampling_conv_channels=8,
                      subsampling_factor=4, subsampling="striding", conv_kernel_size=3,
                      causal_downsampling=True, conv_context_size="causal", att_context_size=((8, 1),),
                      dropout=0.0, dropout_pre_encoder=0.0, dropout_att=0.0)


def _config(transducer: str = "tdt", ctc: bool = True, **loss) -> ASRModelConfig:
    pred = joiner = None
    if transducer != "none":
        pred, joiner = transducer_heads(V, ENC.d_model, transducer, pred_dim=16, joint_dim=24)
    return ASRModelConfig(vocab_size=V, encoder=ENC, ctc=ctc, transducer=transducer, predictor=pred,
                          joiner=joiner, loss=LossConfig(**loss))


def _batch(B: int = 3):
    torch.manual_seed(1)
    feat_lens = torch.tensor([60, 45, 33])[:B]
    feats = torch.randn(B, 60, 80)
    targets = torch.randint(1, V, (B, 5))
    return feats, feat_lens, targets, torch.tensor([5, 3, 0])[:B]


def _model(cfg: ASRModelConfig) -> ASRModel:
    torch.manual_seed(0)
    model = ASRModel(cfg).eval()
    model.normalizer.mean.uniform_(-1, 1)
    model.normalizer.std.uniform_(0.5, 2)
    return model


@pytest.mark.parametrize("transducer,ctc", [("tdt", True), ("rnnt", True), ("rnnt", False), ("none", True)])
def test_losses_are_the_composition_of_the_parts(transducer, ctc):
    cfg = _config(transducer, ctc, ctc_weight=0.4)
    model = _model(cfg)
    feats, feat_lens, targets, target_lens = _batch()
    losses = model(feats, feat_lens, targets, target_lens)
    with torch.no_grad():
        x = (feats - model.normalizer.mean) / model.normalizer.std
        x = x.masked_fill(torch.arange(60)[None, :, None] >= feat_lens[:, None, None], 0.0)
        enc, enc_lens = model.encoder(x, feat_lens)
        expect = {}
        if ctc:
            expect["ctc"] = kernels.ctc_loss(model.ctc_head(enc), targets, enc_lens, target_lens, 0)
        if transducer != "none":
            logits = model.joiner(enc, model.predictor(targets))
            if transducer == "tdt":
                expect["transducer"] = kernels.tdt_loss(logits, targets, enc_lens, target_lens, 0,
                                                        [0, 1, 2, 3, 4])
            else:
                expect["transducer"] = kernels.rnnt_loss(logits, targets, enc_lens, target_lens, 0)
    for name, value in expect.items():
        torch.testing.assert_close(getattr(losses, name), value, rtol=1e-5, atol=1e-5)
    if len(expect) == 2:
        torch.testing.assert_close(losses.total, 0.6 * expect["transducer"] + 0.4 * expect["ctc"])
    else:
        torch.testing.assert_close(losses.total, next(iter(expect.values())))


def test_gradient_reaches_every_parameter():
    model = _model(_config("tdt")).train()
    model(*_batch()).total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_pruned_equals_full_when_nothing_is_pruned():
    """With s_range >= U + 1 the pruned loss is the full RNN-T loss of the same joiner."""
    from transduce.asr.losses import PrunedRNNTLossConfig

    full = _model(_config("rnnt", ctc=False))
    wide = PrunedRNNTLossConfig(s_range=6)
    pruned = _model(_config("rnnt", ctc=False, transducer_loss="pruned", pruned=wide))
    missing, unexpected = pruned.load_state_dict(full.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("simple_") for k in missing)
    batch = _batch()
    with torch.no_grad():
        loss_full = full(*batch).transducer
        parts = pruned(*batch)
    pruned_only = parts.transducer - pruned.cfg.loss.pruned.simple_loss_scale * parts.simple
    torch.testing.assert_close(pruned_only, loss_full, rtol=1e-5, atol=1e-5)


def test_config_mismatches_are_named():
    pred, joiner = transducer_heads(V, ENC.d_model, "tdt")
    with pytest.raises(ConfigError, match="joiner.enc_dim"):
        ASRModelConfig(V, encoder=ENC, predictor=pred, joiner=dataclasses.replace(joiner, enc_dim=7))
    with pytest.raises(ConfigError, match="vocab_size differs"):
        ASRModelConfig(V + 1, encoder=ENC, predictor=pred, joiner=joiner)
    with pytest.raises(ConfigError, match="durations"):
        ASRModelConfig(V, encoder=ENC, predictor=pred,
                       joiner=dataclasses.replace(joiner, durations=(0, 1, 2)))
    with pytest.raises(ConfigError, match="needs predictor"):
        ASRModelConfig(V, encoder=ENC)
    with pytest.raises(ConfigError, match="pruned loss is for RNN-T"):
        ASRModelConfig(V, encoder=ENC, predictor=pred, joiner=joiner,
                       loss=LossConfig(transducer_loss="pruned"))
    with pytest.raises(ConfigError, match="feat_in"):
        ASRModelConfig(V, encoder=dataclasses.replace(ENC, feat_in=40), ctc=True, transducer="none")


def test_config_round_trips_through_json_for_both_encoders():
    cfg = _config("tdt")
    assert from_dict(ASRModelConfig, to_dict(cfg)) == cfg
    tcfg = TransformerConfig(n_layers=1, d_model=16, n_heads=2, subsampling_conv_channels=4)
    tr = ASRModelConfig(V, encoder_type="transformer", encoder=tcfg, transducer="none")
    back = from_dict(ASRModelConfig, to_dict(tr))
    assert back == tr and isinstance(back.encoder, TransformerConfig)
    with pytest.raises(ConfigError, match="encoder_type"):
        ASRModelConfig(V, encoder_type="transformer", encoder=ENC, transducer="none")


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    model = _model(_config("tdt"))
    tok = CharTokenizer(list("abcdefg"))
    save_model(model, tmp_path / "m", tokenizer=tok)
    back = load_model(tmp_path / "m")
    assert isinstance(back, ASRModel) and back.cfg == model.cfg
    assert back.tokenizer.encode("abc") == tok.encode("abc")
    feats, feat_lens, targets, target_lens = _batch()
    with torch.no_grad():
        a, b = model(feats, feat_lens, targets, target_lens), back(feats, feat_lens, targets, target_lens)
        assert torch.equal(a.total, b.total)
        assert torch.equal(model.encode(feats, feat_lens)[0], back.encode(feats, feat_lens)[0])
