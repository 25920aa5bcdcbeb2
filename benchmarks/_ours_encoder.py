"""Worker: transduce's ConformerEncoder (FastConformer settings) streamed by _stream_driver.

B: batch, T: feature frames, F: features, D: model width. The NeMo-named config dict of
encoder_streaming.py maps one to one onto ConformerConfig.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _stream_driver import driver_main  # noqa: E402
from transduce.asr.encoders import ConformerConfig, ConformerEncoder, EncoderState  # noqa: E402


class OursAdapter:
    """init / step / offline / clone over ConformerEncoder.stream_step and forward."""

    name = "transduce ConformerEncoder"

    def __init__(self, config: dict, lookahead: int) -> None:
        fields = {f.name for f in dataclasses.fields(ConformerConfig)}
        kw = {k: v for k, v in config.items() if k in fields}
        kw["att_context_size"] = tuple(tuple(c) for c in kw["att_context_size"])
        self.enc = ConformerEncoder(ConformerConfig(**kw)).eval()
        self.lookahead = lookahead
        self.first, self.later = self.enc.chunk_frames(lookahead)
        self.n_params = sum(p.numel() for p in self.enc.parameters())

    def init(self, batch: int) -> EncoderState:
        return self.enc.init_state(batch, lookahead=self.lookahead)

    def step(self, feats: torch.Tensor, pos: int, n: int, k: int, state: EncoderState, final: bool):
        chunk = feats[:, pos: pos + n]
        lens = torch.full((feats.shape[0],), chunk.shape[1], dtype=torch.long)
        return self.enc.stream_step(chunk, lens, state, final=final)

    def offline(self, feats: torch.Tensor) -> torch.Tensor:
        lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
        return self.enc(feats, lens, lookahead=self.lookahead)[0]

    def clone(self, state: EncoderState) -> EncoderState:
        return EncoderState(**{f.name: getattr(state, f.name).clone() for f in dataclasses.fields(state)})


if __name__ == "__main__":
    driver_main(OursAdapter)
