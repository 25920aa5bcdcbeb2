"""The speech recognition model: features normaliser + encoder + CTC and/or transducer heads.

Shapes: see NOTATION.md (B, T feature frames, F mel bins, T' encoder frames, D model width, U target
length, V vocabulary incl. the blank 0).

One class covers CTC, RNN-T (full or pruned loss), TDT and the hybrids NeMo users know
(a transducer head and a CTC head sharing one encoder, total = (1 - w) * transducer + w * ctc).
`forward` computes the training losses; decoding strategies (asr.decoding) read `encode`, the
heads and `frame_shift_s`. Registered as "asr", so `asr.save_model` / `asr.load_model` handle it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from torch import Tensor, nn
from transduce.asr.config import ConfigError, from_dict, to_dict
from transduce.asr.encoders import ConformerConfig, ConformerEncoder, TransformerConfig, TransformerEncoder
from transduce.asr.features import FbankConfig, FeatureNormalizer
from transduce.asr.features.nemo_mel import NemoMelConfig
from transduce.asr.heads import CTCHead, CTCHeadConfig, Joiner, JoinerConfig, Predictor, PredictorConfig
from transduce.asr.losses import (
    CTCLoss,
    CTCLossConfig,
    PrunedRNNTLoss,
    PrunedRNNTLossConfig,
    RNNTLoss,
    RNNTLossConfig,
    TDTLoss,
    TDTLossConfig,
)
from transduce.asr.models.registry import register_model

__all__ = ["LossConfig", "ASRModelConfig", "ModelLosses", "ASRModel", "transducer_heads"]

_ENCODERS = {
    "conformer": (ConformerConfig, ConformerEncoder),
    "transformer": (TransformerConfig, TransformerEncoder),
}


@dataclass(frozen=True)
class LossConfig:
    """How the heads are trained. ctc_weight w mixes (1 - w) * transducer + w * ctc in hybrids."""

    ctc_weight: float = 0.3
    transducer_loss: Literal["full", "pruned"] = "full"
    ctc: CTCLossConfig = field(default_factory=CTCLossConfig)
    rnnt: RNNTLossConfig = field(default_factory=RNNTLossConfig)
    tdt: TDTLossConfig = field(default_factory=TDTLossConfig)
    pruned: PrunedRNNTLossConfig = field(default_factory=PrunedRNNTLossConfig)
    pruned_loss_scale: float = 1.0


@dataclass(frozen=True)
class ASRModelConfig:
    """Settings of an ASRModel; sub-configs must agree on sizes (checked, with messages)."""

    vocab_size: int
    encoder_type: Literal["conformer", "transformer"] = "conformer"
    encoder: ConformerConfig | TransformerConfig = field(default_factory=ConformerConfig)
    features: FbankConfig | NemoMelConfig = field(default_factory=FbankConfig)
    ctc: bool = True
    transducer: Literal["rnnt", "tdt", "none"] = "tdt"
    predictor: PredictorConfig | None = None
    joiner: JoinerConfig | None = None
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        cfg_cls = _ENCODERS[self.encoder_type][0]
        if not isinstance(self.encoder, cfg_cls):  # a dict read back may fit the other encoder first
            try:
                object.__setattr__(self, "encoder", from_dict(cfg_cls, to_dict(self.encoder), "encoder"))
            except ConfigError as e:
                raise ConfigError(f"encoder does not fit encoder_type={self.encoder_type!r}: {e}") from None
        _check_sizes(self)


def _check_sizes(cfg: ASRModelConfig) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"ASRModelConfig: {message}")

    need(cfg.vocab_size >= 2, f"vocab_size must count the blank and one token, got {cfg.vocab_size}")
    need(cfg.ctc or cfg.transducer != "none", "the model needs a CTC head, a transducer head or both")
    need(cfg.encoder.feat_in == cfg.features.num_mel_bins,
         f"encoder.feat_in {cfg.encoder.feat_in} != features.num_mel_bins {cfg.features.num_mel_bins}")
    if cfg.transducer == "none":
        need(cfg.predictor is None and cfg.joiner is None, "predictor/joiner given but transducer='none'")
        return
    p, j = cfg.predictor, cfg.joiner
    need(p is not None and j is not None,
         f"transducer={cfg.transducer!r} needs predictor and joiner settings")
    need(p.vocab_size == cfg.vocab_size == j.vocab_size,
         f"vocab_size differs: model {cfg.vocab_size}, predictor {p.vocab_size}, joiner {j.vocab_size}")
    need(j.enc_dim == cfg.encoder.d_model,
         f"joiner.enc_dim {j.enc_dim} != encoder.d_model {cfg.encoder.d_model}")
    need(j.pred_dim == p.out_dim, f"joiner.pred_dim {j.pred_dim} != predictor output width {p.out_dim}")
    if cfg.transducer == "tdt":
        need(bool(j.durations), "transducer='tdt' needs joiner.durations")
        need(tuple(j.durations) == tuple(cfg.loss.tdt.durations),
             f"joiner.durations {j.durations} != loss.tdt.durations {cfg.loss.tdt.durations}")
        need(cfg.loss.transducer_loss == "full",
             "the pruned loss is for RNN-T; TDT trains with the full loss")
    else:
        need(not j.durations, f"transducer='rnnt' but joiner.durations = {j.durations}")
    need(0.0 <= cfg.loss.ctc_weight <= 1.0, f"loss.ctc_weight must be in [0, 1], got {cfg.loss.ctc_weight}")


class ModelLosses(NamedTuple):
    """Training losses of one batch (scalars; a head the model lacks gives None)."""

    total: Tensor
    ctc: Tensor | None
    transducer: Tensor | None
    simple: Tensor | None  # pruned RNN-T only: the simple (smoothed) loss


@register_model("asr")
class ASRModel(nn.Module):
    """Normaliser + encoder + heads; see the module docstring."""

    config_class = ASRModelConfig

    def __init__(self, cfg: ASRModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = None  # attached by asr.load_model / the trainer
        self.normalizer = FeatureNormalizer(cfg.features.num_mel_bins)
        self.encoder = _ENCODERS[cfg.encoder_type][1](cfg.encoder)
        d_model = cfg.encoder.d_model
        self.ctc_head = CTCHead(CTCHeadConfig(d_model, cfg.vocab_size)) if cfg.ctc else None
        self.predictor = Predictor(cfg.predictor) if cfg.transducer != "none" else None
        self.joiner = Joiner(cfg.joiner) if cfg.transducer != "none" else None
        pruned = cfg.transducer == "rnnt" and cfg.loss.transducer_loss == "pruned"
        self.simple_am_proj = nn.Linear(d_model, cfg.vocab_size) if pruned else None
        self.simple_lm_proj = nn.Linear(cfg.predictor.out_dim, cfg.vocab_size) if pruned else None
        self._losses = _make_losses(cfg)

    @property
    def frame_shift_s(self) -> float:
        """Seconds between encoder frames (feature shift x subsampling factor)."""
        return self.cfg.features.frame_shift_ms * self.cfg.encoder.subsampling_factor / 1000.0

    def encode(self, feats: Tensor, feat_lens: Tensor, lookahead: int | None = None) -> tuple[Tensor, Tensor]:
        """Encoder output (B, T', D) and lengths (B,) of raw log-mel `feats` (B, T, F), normalised here."""
        return self.encoder(self.normalizer(feats, feat_lens), feat_lens, lookahead=lookahead)

    def forward(self, feats: Tensor, feat_lens: Tensor, targets: Tensor, target_lens: Tensor,
                lookahead: int | None = None) -> ModelLosses:
        """Training losses of feats (B, T, F), feat_lens (B,), targets (B, U) ids, target_lens (B,)."""
        enc, enc_lens = self.encode(feats, feat_lens, lookahead)
        ctc = None
        if self.ctc_head is not None:
            ctc = self._losses["ctc"](self.ctc_head(enc), targets, enc_lens, target_lens)
        transducer = simple = None
        if self.predictor is not None:
            transducer, simple = self._transducer_loss(enc, enc_lens, targets, target_lens)
        w = self.cfg.loss.ctc_weight if (ctc is not None and transducer is not None) else None
        if w is None:
            total = ctc if transducer is None else transducer
        else:
            total = (1.0 - w) * transducer + w * ctc
        return ModelLosses(total, ctc, transducer, simple)

    def _transducer_loss(self, enc: Tensor, enc_lens: Tensor, targets: Tensor,
                         target_lens: Tensor) -> tuple[Tensor, Tensor | None]:
        pred = self.predictor(targets)
        if self.simple_am_proj is None:
            logits = self.joiner(enc, pred)
            return self._losses["transducer"](logits, targets, enc_lens, target_lens), None
        loss_fn = self._losses["transducer"]
        parts = loss_fn(self.simple_am_proj(enc), self.simple_lm_proj(pred), targets, enc_lens, target_lens,
                        self.joiner.joint, self.joiner.enc_proj(enc), self.joiner.pred_proj(pred))
        total = loss_fn.combine(parts, self.cfg.loss.pruned_loss_scale)
        return total, parts.simple_loss


def _make_losses(cfg: ASRModelConfig) -> nn.ModuleDict:
    losses = nn.ModuleDict()
    if cfg.ctc:
        losses["ctc"] = CTCLoss.from_config(cfg.loss.ctc)
    if cfg.transducer == "tdt":
        losses["transducer"] = TDTLoss.from_config(cfg.loss.tdt)
    elif cfg.transducer == "rnnt" and cfg.loss.transducer_loss == "pruned":
        losses["transducer"] = PrunedRNNTLoss.from_config(cfg.loss.pruned)
    elif cfg.transducer == "rnnt":
        losses["transducer"] = RNNTLoss.from_config(cfg.loss.rnnt)
    return losses


def transducer_heads(vocab_size: int, enc_dim: int, transducer: str, pred_dim: int = 320,
                             joint_dim: int = 320, durations: tuple[int, ...] = (0, 1, 2, 3, 4),
                             kind: str = "lstm") -> tuple[PredictorConfig, JoinerConfig]:
    """Predictor and joiner settings that agree with each other (NeMo-like LSTM predictor by default)."""
    pred = PredictorConfig(vocab_size, embed_dim=pred_dim, kind=kind, hidden=pred_dim)
    joiner = JoinerConfig(enc_dim, pred.out_dim, vocab_size, joint_dim,
                          durations=durations if transducer == "tdt" else ())
    return pred, joiner

