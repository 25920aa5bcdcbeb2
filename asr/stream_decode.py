"""Decoding an ASRModel the way it is served (cache-aware streaming) and the offline oracle.

Streaming: raw log-mels are normalised, fed to `encoder.stream_step` in the chunks of the chosen
look-ahead (`encoder.chunk_frames`), and each chunk's newly final encoder frames go to a resumable
decoder (greedy or beam; the transducer head when the model has one, else the CTC head). Offline:
one forward over whole utterances under the same look-ahead's attention mask, then the same
decoder over all frames. The encoders stream exactly, so both give the same hypotheses.
B: batch (streams), T: feature frames, F: mel bins, T': encoder frames, D: model width, V: vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from transduce.asr.decoding import (
    CTCBeamConfig,
    CTCGreedyDecoder,
    CTCPrefixBeamSearch,
    Decoder,
    Hypothesis,
    ModifiedBeamConfig,
    ModifiedBeamSearch,
    RNNTGreedyDecoder,
    TDTBeamConfig,
    TDTBeamSearch,
    TDTGreedyDecoder,
)
from transduce.asr.features import OnlineFbank
from transduce.asr.models.asr_model import ASRModel

__all__ = ["greedy_decoder", "make_decoder", "StreamDecoder", "stream_hypotheses", "stream_decode",
           "offline_hypotheses", "Streamed", "stream_waveform"]


def greedy_decoder(model: ASRModel) -> Decoder:
    """The greedy decoder of the model's transducer head (TDT or RNN-T), else of its CTC head."""
    return make_decoder(model, "greedy")


def make_decoder(model: ASRModel, decoding: Literal["greedy", "beam"] = "greedy",
                 beam_size: int = 4) -> Decoder:
    """A greedy or beam decoder for the model's transducer head (TDT or RNN-T), else its CTC head."""
    if decoding not in ("greedy", "beam"):
        raise ValueError(f"decoding must be 'greedy' or 'beam', got {decoding!r}")
    beam = decoding == "beam"
    if model.joiner is not None and model.joiner.durations:
        return TDTBeamSearch(model.predictor, model.joiner, TDTBeamConfig(beam=beam_size)) if beam else \
            TDTGreedyDecoder(model.predictor, model.joiner)
    if model.joiner is not None:
        return ModifiedBeamSearch(model.predictor, model.joiner, ModifiedBeamConfig(beam=beam_size)) if beam \
            else RNNTGreedyDecoder(model.predictor, model.joiner)
    return CTCPrefixBeamSearch(CTCBeamConfig(beam=beam_size)) if beam else CTCGreedyDecoder(blank=0)


def _head_input(model: ASRModel, decoder: Decoder, enc: Tensor) -> Tensor:
    """What `decoder` reads: CTC logits (B, T', V) for CTC decoders, else the encoder output (B, T', D)."""
    ctc = isinstance(decoder, (CTCGreedyDecoder, CTCPrefixBeamSearch))
    return model.ctc_head(enc) if ctc else enc


class StreamDecoder:
    """A batch of streams through one model: `feed` feature chunks, read `best()` at any time.

    Each call to `feed` runs one `encoder.stream_step` on the chunk and hands its new encoder
    frames to the decoder; chunks may have any size (`chunk_frames` gives the natural ones).
    The model must be in eval mode (no dropout).
    """

    def __init__(self, model: ASRModel, batch_size: int, lookahead: int = 0,
                 decoder: Decoder | None = None) -> None:
        self.model, self.lookahead = model, lookahead
        self.decoder = decoder if decoder is not None else greedy_decoder(model)
        device = next(model.parameters()).device
        self.state = model.encoder.init_state(batch_size, lookahead)
        self.dec_state = self.decoder.init_state(batch_size, device)
        self.frames = torch.zeros(batch_size, dtype=torch.long)  # (B,) encoder frames emitted so far

    @property
    def chunk_frames(self) -> tuple[int, int]:
        """Feature frames (first, later) of the look-ahead's chunks."""
        return self.model.encoder.chunk_frames(self.lookahead)

    @torch.no_grad()
    def feed(self, feats: Tensor, lens: Tensor, final: bool | Tensor = False) -> int:
        """Feed raw log-mels `feats` (B, T, F) with `lens` (B,) valid frames; returns new encoder frames.

        `final` (bool or (B,) bool) marks each stream's last chunk (frames waiting for look-ahead finish).
        """
        model = self.model
        x = model.normalizer(feats, lens)
        out, out_lens, self.state = model.encoder.stream_step(x, lens, self.state, final=final)
        self.dec_state = self.decoder.decode_chunk(_head_input(model, self.decoder, out), out_lens,
                                                   self.dec_state)
        self.frames += out_lens.cpu()
        return int(out_lens.max()) if len(out_lens) else 0

    def best(self) -> list[Hypothesis]:
        """The best hypothesis so far of each stream."""
        return self.decoder.best(self.dec_state)


def _chunks(first: int, later: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, size) of the chunks covering frames [0, end): the first of `first`, then `later` each."""
    pos, size = 0, first
    while pos < end:
        yield pos, size
        pos, size = pos + size, later


def stream_hypotheses(model: ASRModel, feats: Tensor, feat_lens: Tensor, lookahead: int = 0,
                      decoder: Decoder | None = None) -> list[Hypothesis]:
    """Hypotheses of raw log-mels `feats` (B, T, F), `feat_lens` (B,) decoded in streaming chunks."""
    stream = StreamDecoder(model, feats.shape[0], lookahead, decoder)
    lens = feat_lens.to(feats.device)
    first, later = stream.chunk_frames
    for pos, size in _chunks(first, later, int(lens.max()) if len(lens) else 0):
        chunk = feats[:, pos:pos + size]
        stream.feed(chunk, (lens - pos).clamp(0, chunk.shape[1]), final=lens <= pos + size)
    return stream.best()


def stream_decode(model: ASRModel, feats: Tensor, feat_lens: Tensor, lookahead: int = 0,
                  decoder: Decoder | None = None) -> list[list[int]]:
    """Token ids per utterance of raw log-mels `feats` (B, T, F), `feat_lens` (B,), decoded in streaming.

    The model must be in eval mode (no dropout); chunks follow `encoder.chunk_frames(lookahead)`.
    """
    return [list(h.tokens) for h in stream_hypotheses(model, feats, feat_lens, lookahead, decoder)]


@torch.no_grad()
def offline_hypotheses(model: ASRModel, feats: Tensor, feat_lens: Tensor, lookahead: int = 0,
                       decoder: Decoder | None = None) -> list[Hypothesis]:
    """Hypotheses of `feats` (B, T, F), `feat_lens` (B,) from one whole-utterance forward (same mask)."""
    decoder = decoder if decoder is not None else greedy_decoder(model)
    enc, enc_lens = model.encode(feats, feat_lens, lookahead)
    return decoder.decode(_head_input(model, decoder, enc), enc_lens)


class Streamed(NamedTuple):
    """The result of `stream_waveform`: the final hypothesis, encoder steps taken, encoder frames emitted."""

    hypothesis: Hypothesis
    steps: int
    encoder_frames: int


@torch.no_grad()
def stream_waveform(model: ASRModel, samples: np.ndarray, lookahead: int = 0, decoder: Decoder | None = None,
                    chunk_samples: int | None = None) -> Streamed:
    """One stream served like a server does it: audio (N,) arrives `chunk_samples` at a time (default:
    one look-ahead chunk), goes through OnlineFbank, and every full encoder chunk of frames is fed.

    """
    stream = StreamDecoder(model, 1, lookahead, decoder)
    fbank = OnlineFbank(model.cfg.features)
    first, later = stream.chunk_frames
    if chunk_samples is None:
        chunk_samples = later * fbank.cfg.frame_shift
    need, steps = first, 0
    for start in range(0, len(samples), chunk_samples):
        fbank.accept_waveform(samples[start:start + chunk_samples])
        while fbank.num_frames_ready >= need:
            stream.feed(fbank.pop_frames(need)[None], torch.tensor([need]))
            need, steps = later, steps + 1
    fbank.input_finished()
    rest = fbank.pop_frames()
    stream.feed(rest[None], torch.tensor([rest.shape[0]]), final=True)
    return Streamed(stream.best()[0], steps + 1, int(stream.frames[0]))
