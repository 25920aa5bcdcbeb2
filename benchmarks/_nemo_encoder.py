"""Peer worker (NeMo's venv; imports only torch, NeMo and torch-only benchmark helpers).

B: batch, T: feature frames, F: features, D: model width. NeMo's ConformerEncoder with the same
config, streamed as NeMo's own CacheAwareStreamingAudioBuffer does it: the first chunk is
streaming_cfg.chunk_size[0] frames with drop_extra_pre_encoded=0; every later chunk is prefixed by
the pre_encode_cache_size[1] frames before it and uses streaming_cfg.drop_extra_pre_encoded.
"""

from __future__ import annotations

import torch
from _stream_driver import driver_main


class NemoAdapter:
    """init / step / offline / clone over cache_aware_stream_step and forward."""

    name = "NeMo ConformerEncoder"

    def __init__(self, config: dict, lookahead: int) -> None:
        from nemo.collections.asr.modules import ConformerEncoder

        self.enc = ConformerEncoder(**config).eval()
        self.ctx = config["att_context_size"][lookahead]
        self.enc.set_default_att_context_size(self.ctx)  # also runs setup_streaming_params()
        cfg = self.enc.streaming_cfg
        self.first, self.later = cfg.chunk_size[0], cfg.chunk_size[1]
        assert cfg.shift_size == cfg.chunk_size, f"expected non-overlapping chunks, got {cfg}"
        self.pre_cache, self.drop = cfg.pre_encode_cache_size[1], cfg.drop_extra_pre_encoded
        self.n_params = sum(p.numel() for p in self.enc.parameters())

    def init(self, batch: int):
        return self.enc.get_initial_cache_state(batch_size=batch)

    def step(self, feats: torch.Tensor, pos: int, n: int, k: int, state, final: bool):
        start = pos if k == 0 else max(0, pos - self.pre_cache)
        chunk = feats[:, start: pos + n].transpose(1, 2)
        lens = torch.full((feats.shape[0],), chunk.shape[2], dtype=torch.long)
        y, y_lens, c_chan, c_time, c_len = self.enc.cache_aware_stream_step(
            processed_signal=chunk, processed_signal_length=lens, cache_last_channel=state[0],
            cache_last_time=state[1], cache_last_channel_len=state[2], keep_all_outputs=final,
            drop_extra_pre_encoded=0 if k == 0 else self.drop)
        return y.transpose(1, 2), y_lens, (c_chan, c_time, c_len)

    def offline(self, feats: torch.Tensor) -> torch.Tensor:
        lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
        return self.enc(audio_signal=feats.transpose(1, 2), length=lens)[0].transpose(1, 2)

    def clone(self, state):
        return tuple(t.clone() for t in state)


if __name__ == "__main__":
    driver_main(NemoAdapter)
