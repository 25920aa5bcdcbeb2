"""Small text models for the tests: random seq2seq models and LMs (seeded), random padded batches,
and a seq2seq model trained here to copy its input (a few seconds on a CPU)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from transduce.asr.text.models import TextLM, TextLMConfig, TextSeq2Seq, TextSeq2SeqConfig
from transduce.asr.tokenizers.text_bpe import BOS_ID, EOS_ID, PAD_ID

V = 13  # ids 0..3 special, 4..12 pieces
FIRST_PIECE = 4
POSITIONS = ["absolute", "rotary"]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def seq2seq(pos: str = "absolute", tie: bool = True, seed: int = 0, dtype: torch.dtype = torch.float64,
            device: str = "cpu", vocab: int = V) -> TextSeq2Seq:
    """A random 2+2-layer model in eval mode; float64 by default, so that comparisons of argmaxes
    between differently batched computations never meet a rounding tie."""
    torch.manual_seed(seed)
    cfg = TextSeq2SeqConfig(vocab, d_model=16, n_heads=2, encoder_layers=2, decoder_layers=2, ff_expansion=2,
                            pos=pos, tie_embeddings=tie)
    return TextSeq2Seq(cfg).to(device=device, dtype=dtype).eval()


def lm(pos: str = "rotary", tie: bool = True, seed: int = 0, dtype: torch.dtype = torch.float64,
       device: str = "cpu") -> TextLM:
    torch.manual_seed(seed)
    cfg = TextLMConfig(V, d_model=16, n_heads=2, n_layers=2, ff_expansion=2, pos=pos, tie_embeddings=tie)
    return TextLM(cfg).to(device=device, dtype=dtype).eval()


def batch(lengths: list[int], seed: int = 0, device: str = "cpu", vocab: int = V) -> tuple[Tensor, Tensor]:
    """Tokens (B, max(lengths)) drawn from the pieces, padding filled with random ids; lengths (B,)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(FIRST_PIECE, vocab, (len(lengths), max(lengths)), generator=g)
    junk = torch.randint(0, vocab, tokens.shape, generator=g)
    lens = torch.tensor(lengths)
    tokens = torch.where(torch.arange(tokens.shape[1])[None] < lens[:, None], tokens, junk)
    return tokens.to(device), lens.to(device)


def teacher_forced_logprob(model: TextSeq2Seq, src: Tensor, src_lens: Tensor, out: list[int],
                           finished: bool, row: int) -> float:
    """log p(out (+ eos if finished) | src[row]) from one teacher-forced forward."""
    if not out and not finished:
        return 0.0
    target = torch.tensor(out + [EOS_ID] * finished, device=src.device)
    tgt_in = torch.cat([target.new_tensor([BOS_ID]), target])[None, : len(target)]
    n = src_lens[row : row + 1]
    with torch.no_grad():
        logits = model(src[row : row + 1, : int(n)], n, tgt_in, n.new_tensor([len(target)]))
    return float(F.log_softmax(logits.double(), dim=-1)[0].gather(1, target[:, None]).sum())


COPY_VOCAB = 12
COPY_LENGTHS = (2, 10)


def copy_batch(n: int, generator: torch.Generator, lo: int = COPY_LENGTHS[0], hi: int = COPY_LENGTHS[1]
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Sources (n, hi) of random pieces with lengths in [lo, hi]; decoder input bos + source and
    target source + eos (n, hi + 1)."""
    lens = torch.randint(lo, hi + 1, (n,), generator=generator)
    valid = torch.arange(hi)[None] < lens[:, None]
    src = torch.randint(FIRST_PIECE, COPY_VOCAB, (n, hi), generator=generator).masked_fill(~valid, PAD_ID)
    tgt_in = torch.cat([torch.full((n, 1), BOS_ID), src], dim=1)
    tgt_out = torch.cat([src, torch.full((n, 1), PAD_ID)], dim=1).scatter(1, lens[:, None], EOS_ID)
    return src, lens, tgt_in, tgt_out


@functools.cache
def copy_model(steps: int = 400, seed: int = 0) -> TextSeq2Seq:
    """A 1+1-layer model trained (Adam, learning rate decaying linearly to 0, batches of 32) to copy
    sources of 2..10 pieces; float32, eval mode."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = TextSeq2SeqConfig(COPY_VOCAB, d_model=32, n_heads=2, encoder_layers=1, decoder_layers=1,
                            ff_expansion=2, dropout=0.0, pos="absolute")
    model = TextSeq2Seq(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            src, lens, tgt_in, tgt_out = copy_batch(32, g)
            logits = model(src, lens, tgt_in, lens + 1)
            mask = torch.arange(tgt_in.shape[1])[None] <= lens[:, None]
            loss = F.cross_entropy(logits[mask], tgt_out[mask])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
