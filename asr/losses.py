"""Training losses as thin nn.Modules over the fused kernels: CTC, RNN-T, TDT and pruned RNN-T.

Shapes: see NOTATION.md (B, T' encoder frames, U target length, V vocabulary incl. blank, K number
of TDT durations, S prune range); T'_b, U_b: the frames and targets of row b.

Each module takes its settings as constructor arguments (torchaudio's `RNNTLoss` style), keeps them
as one frozen dataclass in `.cfg` (`from_config` builds a module from one) and validates them at
construction. `forward` takes raw logits (the log-softmax is fused inside the kernels) and returns
the loss: reduction "mean" averages the per-utterance losses over the batch (it does not divide by
target lengths), "sum" adds them, "none" returns (B,). Devices and autograd are the kernels': CPU
(torch + numba), CUDA (Triton), and `kernels.use_backend("reference")` for the float64 oracle.
Target entries beyond each utterance's target length take no part in the loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from transduce import kernels

__all__ = [
    "CTCLossConfig",
    "CTCLoss",
    "RNNTLossConfig",
    "RNNTLoss",
    "TDTLossConfig",
    "TDTLoss",
    "PrunedRNNTLossConfig",
    "PrunedRNNTLoss",
    "PrunedRNNTLosses",
]

Reduction = Literal["mean", "sum", "none"]
RNNTType = Literal["regular", "modified"]
_REDUCTIONS = ("mean", "sum", "none")
_RNNT_TYPES = ("regular", "modified")
_M = TypeVar("_M", bound=nn.Module)


def _check_common(blank: int, reduction: str) -> None:
    if not isinstance(blank, int) or isinstance(blank, bool) or blank < 0:
        raise ValueError(f"blank must be an int >= 0, got {blank!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_rnnt_type(rnnt_type: str) -> None:
    if rnnt_type not in _RNNT_TYPES:
        raise ValueError(f"rnnt_type must be one of {_RNNT_TYPES}, got {rnnt_type!r}")


class _ConfiguredLoss(nn.Module):
    """Shared plumbing: the frozen settings live in `.cfg`; `from_config` rebuilds a module from them."""

    cfg: object

    @classmethod
    def from_config(cls: type[_M], cfg: object) -> _M:
        """The module with the settings of `cfg` (a config dataclass of this loss)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})

    def extra_repr(self) -> str:
        return ", ".join(f"{f.name}={getattr(self.cfg, f.name)!r}" for f in dataclasses.fields(self.cfg))


# ---------------------------------------------------------------------------------------------- CTC


@dataclass(frozen=True)
class CTCLossConfig:
    """Settings of CTCLoss; delay_penalty > 0 rewards earlier non-blank emissions (0 = plain CTC)."""

    blank: int = 0
    reduction: Reduction = "mean"
    delay_penalty: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.blank, self.reduction)


class CTCLoss(_ConfiguredLoss):
    """CTC loss of raw logits, optionally delay-penalised (kernels.ctc_loss).

    Paper: Graves et al., "Connectionist Temporal Classification" (ICML 2006); delay penalty: Kang et
    al., "Delay-penalized CTC implemented based on Finite State Transducer" (2023): non-blank
    log-probs at frame t get delay_penalty * ((T'_b - 1) / 2 - t). Utterances too short for their
    targets get an infinite loss and a zero gradient.
    """

    def __init__(self, blank: int = 0, reduction: Reduction = "mean", delay_penalty: float = 0.0) -> None:
        super().__init__()
        self.cfg = CTCLossConfig(blank, reduction, float(delay_penalty))

    def forward(
        self, logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        """logits (B, T', V); targets (B, U) int; logit_lengths (B,) in [1, T']; target_lengths (B,) in
        [0, U]. Returns a scalar, or (B,) with reduction "none"."""
        c = self.cfg
        return kernels.ctc_loss(logits, targets, logit_lengths, target_lengths, c.blank, c.reduction,
                                c.delay_penalty)


# -------------------------------------------------------------------------------------------- RNN-T


@dataclass(frozen=True)
class RNNTLossConfig:
    """Settings of RNNTLoss (see RNNTLoss for what each one means)."""

    blank: int = 0
    reduction: Reduction = "mean"
    rnnt_type: RNNTType = "regular"
    fastemit_lambda: float = 0.0
    delay_penalty: float = 0.0
    clamp: float = -1.0
    grad_in_logits: bool = False

    def __post_init__(self) -> None:
        _check_common(self.blank, self.reduction)
        _check_rnnt_type(self.rnnt_type)
        if self.fastemit_lambda < 0:
            raise ValueError(f"fastemit_lambda must be >= 0, got {self.fastemit_lambda}")


class RNNTLoss(_ConfiguredLoss):
    """RNN-T loss of raw joint logits (kernels.rnnt_loss).

    rnnt_type "regular" (any number of labels per frame) or "modified" (at most one, each label
    arc also advances a frame); fastemit_lambda scales the gradient of label arcs by (1 + lambda),
    leaving the value unchanged (Yu et al., "FastEmit", 2021); delay_penalty adds
    delay_penalty * ((T'_b - 1) / 2 - t) to label-arc log-probs (Kang et al., "Delay-penalized
    transducer", 2023); clamp > 0 clips the logits gradient to [-clamp, clamp]; grad_in_logits
    writes d loss / d logits into the logits' own buffer during forward (their values are lost; no
    second (B, T', U+1, V) tensor). Paper: Graves, "Sequence Transduction with Recurrent Neural
    Networks" (2012).
    """

    def __init__(
        self,
        blank: int = 0,
        reduction: Reduction = "mean",
        rnnt_type: RNNTType = "regular",
        fastemit_lambda: float = 0.0,
        delay_penalty: float = 0.0,
        clamp: float = -1.0,
        grad_in_logits: bool = False,
    ) -> None:
        super().__init__()
        self.cfg = RNNTLossConfig(blank, reduction, rnnt_type, float(fastemit_lambda), float(delay_penalty),
                                  float(clamp), bool(grad_in_logits))

    def forward(
        self, logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        """logits (B, T', U+1, V); targets (B, U) int; logit_lengths (B,) in [1, T']; target_lengths
        (B,) in [0, U]. Returns a scalar, or (B,) with reduction "none"."""
        c = self.cfg
        return kernels.rnnt_loss(logits, targets, logit_lengths, target_lengths, c.blank, c.reduction,
                                 c.rnnt_type, c.fastemit_lambda, c.delay_penalty, c.clamp,
                                 grad_in_logits=c.grad_in_logits)


# ---------------------------------------------------------------------------------------------- TDT


@dataclass(frozen=True)
class TDTLossConfig:
    """Settings of TDTLoss (see TDTLoss for what each one means)."""

    blank: int = 0
    durations: tuple[int, ...] = (0, 1, 2, 3, 4)
    sigma: float = 0.0
    omega: float = 0.0
    reduction: Reduction = "mean"
    grad_in_logits: bool = False

    def __post_init__(self) -> None:
        _check_common(self.blank, self.reduction)
        durations = self.durations
        if not isinstance(durations, (list, tuple)) or not durations or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in durations
        ):
            raise ValueError(f"durations must be a non-empty sequence of ints >= 0, got {durations!r}")
        if len(set(durations)) != len(durations) or max(durations) == 0:
            raise ValueError(f"durations must be distinct and hold a positive value (blank arcs must "
                             f"advance), got {tuple(durations)}")
        object.__setattr__(self, "durations", tuple(durations))
        if self.sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma}")
        if not 0.0 <= self.omega <= 1.0:
            raise ValueError(f"omega must be a probability in [0, 1], got {self.omega}")


class TDTLoss(_ConfiguredLoss):
    """Token-and-duration transducer loss of raw joint logits (kernels.tdt_loss), with omega sampling.

    The last dim of the logits holds V token logits then one logit per entry of `durations` (frames
    advanced by an arc; 0 lets a frame emit several labels, blank arcs need a duration > 0). sigma
    under-normalises the token log-probs (log_softmax - sigma; NeMo recommends 0.05). With
    probability omega, drawn once per call from torch's default CPU generator (so torch.manual_seed
    reproduces it; nothing is drawn when omega is 0 or 1), the call returns instead the plain RNN-T
    loss of the token logits (no sigma; the duration logits get a zero gradient), as NeMo's TDT loss
    does. grad_in_logits as in RNNTLoss (TDT branch only). Paper: Xu et al., "Efficient Sequence
    Transduction by Jointly Predicting Tokens and Durations" (ICML 2023).
    """

    def __init__(
        self,
        blank: int = 0,
        durations: tuple[int, ...] | list[int] = (0, 1, 2, 3, 4),
        sigma: float = 0.0,
        omega: float = 0.0,
        reduction: Reduction = "mean",
        grad_in_logits: bool = False,
    ) -> None:
        super().__init__()
        self.cfg = TDTLossConfig(blank, durations, float(sigma), float(omega), reduction,
                                 bool(grad_in_logits))

    def forward(
        self, logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        """logits (B, T', U+1, V+K); targets (B, U) int; logit_lengths (B,) in [1, T']; target_lengths
        (B,) in [0, U]. Returns a scalar, or (B,) with reduction "none"."""
        c = self.cfg
        if self._sample_rnnt():
            if not isinstance(logits, Tensor) or logits.dim() != 4 or logits.shape[-1] <= len(c.durations):
                raise ValueError(f"logits must be (B, T', U+1, V+K) with V > 0 and K = {len(c.durations)} "
                                 f"durations, got {getattr(logits, 'shape', type(logits))}")
            tokens = logits[..., : logits.shape[-1] - len(c.durations)]
            return kernels.rnnt_loss(tokens, targets, logit_lengths, target_lengths, c.blank, c.reduction)
        return kernels.tdt_loss(logits, targets, logit_lengths, target_lengths, c.blank, list(c.durations),
                                c.sigma, c.reduction, grad_in_logits=c.grad_in_logits)

    def _sample_rnnt(self) -> bool:
        """True with probability omega: this call uses the plain RNN-T loss."""
        omega = self.cfg.omega
        if omega <= 0.0 or omega >= 1.0:
            return omega >= 1.0
        return bool(torch.rand(()) < omega)


# -------------------------------------------------------------------------------------- pruned RNN-T


@dataclass(frozen=True)
class PrunedRNNTLossConfig:
    """Settings of PrunedRNNTLoss; defaults follow icefall's pruned-transducer recipes."""

    blank: int = 0
    s_range: int = 5
    lm_only_scale: float = 0.25
    am_only_scale: float = 0.0
    simple_loss_scale: float = 0.5
    rnnt_type: RNNTType = "regular"
    delay_penalty: float = 0.0
    reduction: Reduction = "mean"

    def __post_init__(self) -> None:
        _check_common(self.blank, self.reduction)
        _check_rnnt_type(self.rnnt_type)
        least = 2 if self.rnnt_type == "regular" else 1
        if not isinstance(self.s_range, int) or isinstance(self.s_range, bool) or self.s_range < least:
            raise ValueError(f"s_range must be an int >= {least} for the {self.rnnt_type} lattice, "
                             f"got {self.s_range!r}")
        lm, am = self.lm_only_scale, self.am_only_scale
        if lm < 0 or am < 0 or lm + am > 1:
            raise ValueError(f"lm_only_scale and am_only_scale must be >= 0 with a sum <= 1, got {lm}, {am}")
        if self.simple_loss_scale < 0:
            raise ValueError(f"simple_loss_scale must be >= 0, got {self.simple_loss_scale}")


class PrunedRNNTLosses(NamedTuple):
    """The two losses of a pruned RNN-T step: scalars, or (B,) each with reduction "none"."""

    simple_loss: Tensor
    pruned_loss: Tensor


_JoinerFn = Callable[[Tensor, Tensor], Tensor]  # (B, T', S, d_am), (B, T', S, d_lm) -> (B, T', S, V)


class PrunedRNNTLoss(_ConfiguredLoss):
    """Pruned RNN-T loss (k2 semantics, icefall's recipe): returns (simple_loss, pruned_loss).

    1. simple (smoothed) loss on am (B, T', V) + lm (B, U+1, V), the joiner's cheap additive
       stand-in: log-linear mix of the joint lattice with weights 1 - lm_only_scale - am_only_scale,
       an lm-only lattice (lm_only_scale) and an am-only one (am_only_scale); its arc occupations
       pick, per frame, the S = min(s_range, U+1) symbol positions that carry the alignment;
    2. the joiner inputs are gathered onto that (B, T', S) grid and the real joiner runs there only;
    3. pruned loss: the RNN-T loss of those (B, T', S, V) logits, arcs outside the ranges excluded.
    rnnt_type and delay_penalty apply to both losses. Train on `combine(...)` =
    simple_loss_scale * simple_loss + pruned_loss_scale * pruned_loss (icefall ramps the two
    scales during warm-up). Half-precision inputs are computed in float32. With s_range >= U+1 the
    pruned loss is the full RNN-T loss of the joiner. Paper: Kuang et al., "Pruned RNN-T for fast,
    memory-efficient ASR training" (Interspeech 2022).
    """

    def __init__(
        self,
        blank: int = 0,
        s_range: int = 5,
        lm_only_scale: float = 0.25,
        am_only_scale: float = 0.0,
        simple_loss_scale: float = 0.5,
        rnnt_type: RNNTType = "regular",
        delay_penalty: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.cfg = PrunedRNNTLossConfig(blank, s_range, float(lm_only_scale), float(am_only_scale),
                                        float(simple_loss_scale), rnnt_type, float(delay_penalty), reduction)

    def forward(
        self,
        am: Tensor,
        lm: Tensor,
        targets: Tensor,
        logit_lengths: Tensor,
        target_lengths: Tensor,
        joiner: _JoinerFn,
        joiner_am: Tensor | None = None,
        joiner_lm: Tensor | None = None,
    ) -> PrunedRNNTLosses:
        """Both losses of one batch.

        am (B, T', V) encoder-side and lm (B, U+1, V) predictor-side projections to the V classes
        (lm row 0 is the start-of-sequence context); targets (B, U) int; logit_lengths (B,) in [1, T'];
        target_lengths (B,) in [0, U]. joiner(am_pruned (B, T', S, d_am), lm_pruned (B, T', S, d_lm))
        -> logits (B, T', S, V), applied to joiner_am (B, T', d_am) and joiner_lm (B, U+1, d_lm)
        gathered onto the ranges (default: am and lm themselves; icefall passes the joiner's own input
        projections here, e.g. asr.heads.Joiner's enc_proj / pred_proj outputs with
        joiner=Joiner.joint).
        """
        c = self.cfg
        _check_pruned_inputs(am, lm, targets, logit_lengths, target_lengths, c.blank)
        valid = torch.arange(targets.shape[1], device=targets.device) < target_lengths[:, None]
        targets = torch.where(valid, targets, torch.zeros_like(targets))  # the kernels check every entry
        boundary = torch.zeros(am.shape[0], 4, dtype=torch.int64, device=am.device)
        boundary[:, 2], boundary[:, 3] = target_lengths, logit_lengths
        simple, (px_grad, py_grad) = kernels.rnnt_loss_smoothed(
            _full(lm), _full(am), targets, c.blank, c.lm_only_scale, c.am_only_scale, boundary, c.rnnt_type,
            c.delay_penalty, c.reduction, return_grad=True)
        ranges = kernels.get_prune_ranges(px_grad, py_grad, boundary, c.s_range)
        am_pruned, lm_pruned = kernels.do_rnnt_pruning(am if joiner_am is None else joiner_am,
                                                       lm if joiner_lm is None else joiner_lm, ranges)
        logits = joiner(am_pruned, lm_pruned)
        want = (*ranges.shape, am.shape[-1])
        if not isinstance(logits, Tensor) or tuple(logits.shape) != want:
            raise ValueError(f"joiner must return logits (B, T', S, V) = {want}, "
                             f"got {getattr(logits, 'shape', type(logits))}")
        pruned = kernels.rnnt_loss_pruned(_full(logits), targets, ranges, c.blank, boundary, c.rnnt_type,
                                          c.delay_penalty, c.reduction)
        return PrunedRNNTLosses(simple, pruned)

    def combine(self, losses: PrunedRNNTLosses, pruned_loss_scale: float = 1.0) -> Tensor:
        """The training loss simple_loss_scale * simple_loss + pruned_loss_scale * pruned_loss."""
        return self.cfg.simple_loss_scale * losses.simple_loss + pruned_loss_scale * losses.pruned_loss


def _full(x: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 (the lattice sums need the range); other dtypes unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_pruned_inputs(
    am: Tensor, lm: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor, blank: int
) -> None:
    """ValueError naming the argument unless shapes, dtypes and lengths of a pruned RNN-T call fit."""
    for name, x in (("am", am), ("lm", lm)):
        if not isinstance(x, Tensor) or x.dim() != 3 or not x.is_floating_point():
            raise ValueError(f"{name} must be a floating 3-dim tensor, got {getattr(x, 'shape', type(x))}")
    n_b, n_t, n_c = am.shape
    if lm.shape[0] != n_b or lm.shape[2] != n_c:
        raise ValueError(f"lm must be (B, U+1, V) with B = {n_b}, V = {n_c} of am, got {tuple(lm.shape)}")
    n_u = lm.shape[1] - 1
    for name, x, shape in (("targets", targets, (n_b, n_u)), ("logit_lengths", logit_lengths, (n_b,)),
                           ("target_lengths", target_lengths, (n_b,))):
        if not isinstance(x, Tensor) or x.dtype not in (torch.int32, torch.int64) or tuple(x.shape) != shape:
            raise ValueError(f"{name} must be an int32/int64 tensor of shape {shape}, "
                             f"got {getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
    if bool((logit_lengths < 1).any() | (logit_lengths > n_t).any()):
        raise ValueError(f"logit_lengths must lie in [1, {n_t}] (T of am), got {logit_lengths.tolist()}")
    if bool((target_lengths < 0).any() | (target_lengths > n_u).any()):
        raise ValueError(f"target_lengths must lie in [0, {n_u}] (U of lm), got {target_lengths.tolist()}")
    if not 0 <= blank < n_c:
        raise ValueError(f"blank must lie in [0, {n_c}) (C of am), got {blank}")
    used = targets[torch.arange(n_u, device=targets.device) < target_lengths[:, None]]
    if bool(((used < 0) | (used >= n_c)).any()):
        raise ValueError(f"targets must lie in [0, {n_c}) (C of am) within target_lengths")
    if bool((used == blank).any()):
        raise ValueError(f"targets must not contain the blank id {blank} within target_lengths")
