"""Small encoders and a streaming driver shared by the encoder tests."""

from __future__ import annotations

import torch
from torch import Tensor
from transduce.asr.encoders import ConformerConfig, ConformerEncoder, TransformerConfig, TransformerEncoder

FEAT = 12
CONTEXTS = ((6, 2), (4, 0), (6, 1))


def conformer(style: str = "chunked_limited", **kw) -> ConformerEncoder:
    base = dict(
        feat_in=FEAT,
        n_layers=2,
        d_model=32,
        n_heads=4,
        conv_kernel_size=5,
        conv_context_size="causal",
        subsampling="dw_striding",
        subsampling_factor=4,
        subsampling_conv_channels=8,
        causal_downsampling=True,
        att_context_size=CONTEXTS,
        att_context_style=style,
        dropout=0.0,
        dropout_pre_encoder=0.0,
        dropout_att=0.0,
    )
    base.update(kw)
    return _randomise_norms(ConformerEncoder(ConformerConfig(**base)).eval())


def transformer(style: str = "regular", **kw) -> TransformerEncoder:
    base = dict(
        feat_in=FEAT,
        n_layers=2,
        d_model=32,
        n_heads=4,
        subsampling="striding",
        subsampling_factor=4,
        subsampling_conv_channels=8,
        causal_downsampling=True,
        att_context_size=CONTEXTS,
        att_context_style=style,
        dropout=0.0,
        dropout_pre_encoder=0.0,
        dropout_att=0.0,
    )
    base.update(kw)
    return TransformerEncoder(TransformerConfig(**base)).eval()


def _randomise_norms(enc: ConformerEncoder) -> ConformerEncoder:
    """Non-trivial BatchNorm running statistics, so eval-mode norms are not the identity."""
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return enc


def stream_chunks(enc, feats: Tensor, sizes: list[int], lookahead: int) -> Tensor:
    """Stream one utterance feats (T, F) in chunks of `sizes` (the last flagged final) -> (T', D)."""
    state = enc.init_state(1, lookahead=lookahead)
    outs, pos = [], 0
    for i, n in enumerate(sizes):
        chunk = feats[None, pos : pos + n]
        last = i == len(sizes) - 1
        out, lens, state = enc.stream_step(chunk, torch.tensor([chunk.shape[1]]), state, final=last)
        outs.append(out[0, : lens[0]])
        pos += n
    assert pos >= feats.shape[0]
    return torch.cat(outs)


def nominal_sizes(enc, n_frames: int, lookahead: int) -> list[int]:
    """Chunk sizes from chunk_frames(lookahead): first, then later ones, the last one partial."""
    first, later = enc.chunk_frames(lookahead)
    sizes, total = [first], first
    while total < n_frames:
        sizes.append(later)
        total += later
    return sizes


def offline(enc, feats: Tensor, lookahead: int) -> Tensor:
    """Offline forward of one utterance feats (T, F) -> (T', D)."""
    out, lens = enc(feats[None], torch.tensor([feats.shape[0]]), lookahead=lookahead)
    return out[0, : lens[0]]
