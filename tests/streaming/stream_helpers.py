"""Tiny random-weight streaming models, test audio and independent offline oracles for tests/streaming."""

from __future__ import annotations

import numpy as np
import torch
from transduce.asr.decoding import (
    CTCBeamConfig,
    CTCGreedyDecoder,
    CTCPrefixBeamSearch,
    Hypothesis,
    ModifiedBeamConfig,
    ModifiedBeamSearch,
    RNNTGreedyDecoder,
    TDTBeamConfig,
    TDTBeamSearch,
    TDTGreedyDecoder,
)
from transduce.asr.encoders import ConformerConfig
from transduce.asr.features import compute_fbank
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig, transducer_heads
from transduce.asr.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer(list("abcd "))


def tiny_model(transducer: str = "tdt", ctc: bool = True, contexts=((6, 2), (6, 0), (3, 1)),
               seed: int = 0, scale: float = 3.0, causal: bool = True) -> ASRModel:
    """A ~30k-parameter causal chunked-limited Conformer in float64, eval mode, char tokenizer.

    Weights are scaled up so that an untrained model emits plenty of tokens (a disagreement shows).
    """
    v = TOKENIZER.vocab_size
    enc = ConformerConfig(feat_in=80, n_layers=2, d_model=32, n_heads=2, ff_expansion_factor=2,
                          conv_kernel_size=5, subsampling="striding", subsampling_factor=4,
                          subsampling_conv_channels=8, causal_downsampling=causal, conv_context_size="causal",
                          att_context_size=tuple(contexts), att_context_style="chunked_limited",
                          dropout=0.0, dropout_pre_encoder=0.0, dropout_att=0.0)
    pred = joiner = None
    if transducer != "none":
        pred, joiner = transducer_heads(v, 32, transducer, pred_dim=16, joint_dim=24)
    cfg = ASRModelConfig(vocab_size=v, encoder=enc, ctc=ctc, transducer=transducer, predictor=pred,
                         joiner=joiner)
    torch.manual_seed(seed)
    model = ASRModel(cfg).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
        model.normalizer.mean.fill_(-8.0)
        model.normalizer.std.fill_(4.0)
    model.tokenizer = TOKENIZER
    return model


def speechlike(seconds: float, seed: int = 0, rate: int = 16000) -> np.ndarray:
    """Float32 audio (N,) of noise bursts and tones whose loudness changes every ~0.1 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    env = np.repeat(rng.uniform(0.0, 0.5, n // 1600 + 1), 1600)[:n]
    x = env * (0.5 * rng.standard_normal(n) + np.sin(2 * np.pi * rng.uniform(100, 900) * t))
    return np.clip(x, -1, 1).astype(np.float32)


def feed_sizes(n: int, seed: int, largest: int = 4000) -> list[int]:
    """Random chunk sizes covering n samples, tiny ones (1..10 samples) included."""
    rng = np.random.default_rng(seed)
    sizes, total = [], 0
    while total < n:
        size = int(rng.integers(1, 11)) if rng.random() < 0.3 else int(rng.integers(1, largest))
        sizes.append(min(size, n - total))
        total += sizes[-1]
    return sizes


def oracle_decoder(model: ASRModel, method: str = "greedy", beam: int = 4):
    """The decoder of the model's head (transducer if any, else CTC), built directly from asr.decoding."""
    if model.joiner is None:
        return CTCGreedyDecoder(0) if method == "greedy" else CTCPrefixBeamSearch(CTCBeamConfig(beam))
    if model.joiner.durations:
        if method == "greedy":
            return TDTGreedyDecoder(model.predictor, model.joiner)
        return TDTBeamSearch(model.predictor, model.joiner, TDTBeamConfig(beam))
    if method == "greedy":
        return RNNTGreedyDecoder(model.predictor, model.joiner)
    return ModifiedBeamSearch(model.predictor, model.joiner, ModifiedBeamConfig(beam))


@torch.no_grad()
def offline_hypothesis(model: ASRModel, audio16k: np.ndarray, lookahead: int = 0, method: str = "greedy",
                       beam: int = 4) -> Hypothesis:
    """Offline oracle: whole-utterance features, the encoder's offline forward under the same
    chunked context, and the head's decoder over all frames at once."""
    feats = compute_fbank(audio16k, model.cfg.features)[None].to(next(model.parameters()).dtype)
    enc, enc_lens = model.encode(feats, torch.tensor([feats.shape[1]]), lookahead)
    decoder = oracle_decoder(model, method, beam)
    x = model.ctc_head(enc) if model.joiner is None else enc
    return decoder.decode(x, enc_lens)[0]


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    """Digital silence (N,) float32."""
    return np.zeros(int(seconds * rate), dtype=np.float32)


@torch.no_grad()
def forced_blank_model(transducer: str = "none", lookahead_context=((4, 1),)) -> ASRModel:
    """A model that emits "a" on frames of sound and blank on frames of silence.

    Digital silence gives constant features, so deep inside silence the encoder output is one fixed
    vector v (measured here). The head scores blank by the projection of a frame on v: above a
    threshold halfway between silence and the loudest sound, blank wins. CTC: blank logit
    alpha * (x.u - theta), token "a" 0, others -50. TDT: the joiner's first unit is
    relu(alpha * (theta - x.u)) (> 0 only on sound, the predictor is cut off), blank logit
    1 - unit, "a" 0, and every step lasts exactly one frame.
    """
    model = tiny_model(transducer, ctc=transducer == "none", contexts=lookahead_context, scale=1.0)
    rate = 16000
    feats = compute_fbank(silence(2.0))[None].double()
    v = model.encode(feats, torch.tensor([feats.shape[1]]), 0)[0][0, -1]
    u = v / v.norm()
    sound = compute_fbank(speechlike(2.0, seed=11, rate=rate))[None].double()
    loud = (model.encode(sound, torch.tensor([sound.shape[1]]), 0)[0][0] @ u).max()
    theta, alpha, a = float(v.norm() + loud) / 2, 20.0, TOKENIZER.encode("a")[0]
    if transducer == "none":
        lin = model.ctc_head.linear
        lin.weight.zero_()
        lin.bias.fill_(-50.0)
        lin.weight[0] = alpha * u
        lin.bias[0], lin.bias[a] = -alpha * theta, 0.0
        return model
    j = model.joiner
    for layer in (j.enc_proj, j.pred_proj, j.out):
        layer.weight.zero_()
        layer.bias.zero_()
    j.enc_proj.weight[0] = -alpha * u
    j.enc_proj.bias[0] = alpha * theta
    v_size = j.cfg.vocab_size
    j.out.bias[:v_size] = -50.0
    j.out.bias[0], j.out.weight[0, 0], j.out.bias[a] = 1.0, -1.0, 0.0
    if j.durations:
        j.out.bias[v_size + j.durations.index(1)] = 50.0
    return model


def taught_lm(texts: list[str], favourite: str, steps: int = 60):
    """A small TextLM (its own BPE tokenizer over `texts`: any LM fits any model) taught `favourite`,
    so it prefers that text over the others whatever the acoustics say."""
    from transduce.asr.text.models import TextLM, TextLMConfig
    from transduce.asr.tokenizers.text_bpe import TextTokenizer

    pangrams = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs",
                "how vexingly quick daft zebras jump", "sphinx of black quartz judge my vow"]
    tok = TextTokenizer.train(list(texts) * 4 + pangrams, vocab_size=40)
    torch.manual_seed(0)
    lm = TextLM(TextLMConfig(tok.vocab_size, d_model=32, n_heads=2, n_layers=2, ff_expansion=2, dropout=0.0))
    ids = torch.tensor([[tok.bos_id, *tok.encode(favourite)]])
    target = torch.tensor([*tok.encode(favourite), tok.eos_id])
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(lm(ids, torch.tensor([ids.shape[1]]))[0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.tokenizer = tok
    return lm.eval()
