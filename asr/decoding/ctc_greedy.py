"""Batched greedy CTC decoding: per-frame argmax, repeats collapsed, blanks dropped; resumable.

Shapes: see NOTATION.md (B streams, T' encoder frames of this chunk, V vocabulary incl. blank).

The state keeps each stream's previous-frame argmax, so a token whose run of frames crosses a chunk
border is collapsed exactly as in whole decoding. A token's frame is the first frame of its run;
its confidence is the largest probability it gets over the frames of its run; the score is the sum
of the per-frame best log-probabilities (the log-probability of the best CTC path, blanks
included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transduce.asr.decoding.base import Decoder, DecodingError, check_chunk, select_list
from transduce.asr.decoding.results import Hypothesis

__all__ = ["CTCGreedyConfig", "CTCGreedyState", "CTCGreedyDecoder"]


@dataclass(frozen=True)
class CTCGreedyConfig:
    """Settings of greedy CTC decoding."""

    blank: int = 0


@dataclass(frozen=True)
class CTCGreedyState:
    """offset (B,) global frame index of the next chunk's first frame; last (B,) argmax of the
    previous frame (blank before the first); hyps: the hypothesis so far of each stream."""

    offset: Tensor
    last: Tensor
    hyps: list[Hypothesis]

    @property
    def batch_size(self) -> int:
        return self.offset.shape[0]

    def select(self, indices: Tensor | Sequence[int]) -> CTCGreedyState:
        """The states of streams `indices`, in that order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.offset.device)
        return CTCGreedyState(self.offset[idx], self.last[idx], select_list(self.hyps, indices))

    @classmethod
    def stack(cls, states: Sequence[CTCGreedyState]) -> CTCGreedyState:
        """One batch of the streams of `states`, concatenated in order."""
        if not states:
            raise DecodingError("cannot stack an empty list of CTC greedy states")
        return cls(torch.cat([s.offset for s in states]), torch.cat([s.last for s in states]),
                   [h for s in states for h in s.hyps])


class CTCGreedyDecoder(Decoder[CTCGreedyState]):
    """Greedy (best-path) CTC decoding of logits (B, T', V), batched and resumable."""

    def __init__(self, blank: int = 0) -> None:
        if blank < 0:
            raise DecodingError(f"blank must be a token id >= 0, got {blank}")
        self.cfg = CTCGreedyConfig(blank)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> CTCGreedyState:
        """Nothing decoded: offset 0, previous frame blank, empty hypotheses."""
        zeros = torch.zeros(batch_size, dtype=torch.long, device=device)
        return CTCGreedyState(zeros, torch.full_like(zeros, self.cfg.blank),
                              [Hypothesis() for _ in range(batch_size)])

    @torch.no_grad()
    def decode_chunk(self, x: Tensor, x_lens: Tensor | None, state: CTCGreedyState) -> CTCGreedyState:
        """Decode logits `x` (B, T', V) (or log-probs), `x_lens` (B,) valid frames; the new state."""
        lens = check_chunk(x, x_lens, state.batch_size, what="CTC logits")
        if x.shape[2] <= self.cfg.blank:
            raise DecodingError(f"CTC logits have V={x.shape[2]}, too small for blank id {self.cfg.blank}")
        b, t, _ = x.shape
        if t == 0:
            return state
        logp = torch.log_softmax(x.float(), dim=-1)
        best_lp, ids = logp.max(dim=-1)                                     # (B, T')
        valid = torch.arange(t, device=x.device) < lens[:, None]
        last = state.last.to(x.device)
        prev = torch.cat([last[:, None], ids[:, :-1]], dim=1)
        labels = valid & (ids != self.cfg.blank)
        starts = labels & (ids != prev)                                     # first frame of a new token
        run = torch.cumsum(starts.long(), dim=1)                            # 0: continues the carried token
        conf = torch.full((b, t + 1), -1.0, device=x.device)
        conf.scatter_reduce_(1, torch.where(labels, run, 0), torch.where(labels, best_lp.exp(), -1.0), "amax")
        score = torch.where(valid, best_lp.double(), 0.0).sum(dim=1)
        end = (lens - 1).clamp(min=0)
        new_last = torch.where(lens > 0, ids.gather(1, end[:, None])[:, 0], last)
        hyps = _extend(state.hyps, ids, starts, conf, score, state.offset.to(x.device))
        return CTCGreedyState(state.offset + lens.to(state.offset.device), new_last.to(state.last.device),
                              hyps)

    def best(self, state: CTCGreedyState) -> list[Hypothesis]:
        """The greedy hypothesis so far of each stream."""
        return list(state.hyps)


def _extend(hyps: list[Hypothesis], ids: Tensor, starts: Tensor, conf: Tensor, score: Tensor,
            offset: Tensor) -> list[Hypothesis]:
    """Append each stream's new tokens (B, T') at `starts`; raise the carried token's confidence."""
    ids_l, starts_l, conf_l = ids.tolist(), starts.tolist(), conf.tolist()
    score_l, offset_l = score.tolist(), offset.tolist()
    out = []
    for b, hyp in enumerate(hyps):
        frames = [f for f, s in enumerate(starts_l[b]) if s]
        carried = conf_l[b][0]
        if carried >= 0 and hyp.tokens:
            confs = hyp.confidences[:-1] + [max(hyp.confidences[-1], carried)]
            hyp = Hypothesis(hyp.tokens, hyp.frames, confs, hyp.score, hyp.durations)
        out.append(hyp.extend([ids_l[b][f] for f in frames], [offset_l[b] + f for f in frames],
                              conf_l[b][1:len(frames) + 1], score_l[b]))
    return out
