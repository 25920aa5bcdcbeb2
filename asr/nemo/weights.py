"""NeMo state dicts renamed and reordered into ours.

Names: our modules were named after NeMo's, so most keys only lose or change a prefix; the
subsampling convolutions are numbered differently (NeMo's flat Sequential counts its activations,
ours groups each stage). Order: NeMo's blank is the last output (after the V-1 pieces), ours is 0;
every layer over the vocabulary (CTC, the predictor's embedding, the joint's output) is permuted so
that our id k is NeMo's id k - 1 and our 0 is NeMo's blank; TDT duration outputs stay after them.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor
from transduce.asr.models.asr_model import ASRModelConfig
from transduce.asr.nemo.archive import NemoImportError

__all__ = ["map_weights"]

_SKIPPED = re.compile(r"^preprocessor\.|\.num_batches_tracked$")  # our front end computes its own filterbank


def _vocab_order(vocab: int, extra: int = 0) -> Tensor:
    """Rows of ours from NeMo's: our 0 = NeMo's blank (vocab - 1), our k = NeMo's k - 1, then `extra`."""
    blank = vocab - 1
    return torch.tensor([blank, *range(blank), *range(vocab, vocab + extra)])


def _pre_encode(name: str, subsampling: str) -> str:
    """NeMo's flat conv index -> our (stage, layer) index."""
    m = re.fullmatch(r"encoder\.pre_encode\.conv\.(\d+)\.(weight|bias)", name)
    if m is None:
        raise NemoImportError(f"weights: unexpected subsampling parameter {name!r}")
    i, what = int(m.group(1)), m.group(2)
    if subsampling == "striding":  # conv, act, conv, act, ...
        stage, layer, ok = i // 2, 0, i % 2 == 0
    elif i == 0:  # dw_striding: conv, act, then (depthwise, pointwise, act) per later stage
        stage, layer, ok = 0, 0, True
    else:
        stage, layer, ok = (i - 2) // 3 + 1, (i - 2) % 3, (i - 2) % 3 < 2
    if not ok:
        raise NemoImportError(f"weights: unexpected subsampling parameter {name!r}")
    return f"encoder.pre_encode.conv.{stage}.{layer}.{what}"


def _rename(name: str, cfg: ASRModelConfig, ctc_prefix: str) -> str | None:
    if name.startswith("encoder.pre_encode.conv."):
        return _pre_encode(name, cfg.encoder.subsampling)
    if name.startswith("encoder."):
        return name
    if name.startswith(f"{ctc_prefix}.decoder_layers.0."):
        return "ctc_head.linear." + name.rsplit(".", 1)[-1]
    if name.startswith("decoder.prediction.embed."):
        return "predictor.embedding." + name.rsplit(".", 1)[-1]
    if name.startswith("decoder.prediction.dec_rnn.lstm."):
        return "predictor.lstm." + name.rsplit(".", 1)[-1]
    if name.startswith("joint.enc."):
        return "joiner.enc_proj." + name.rsplit(".", 1)[-1]
    if name.startswith("joint.pred."):
        return "joiner.pred_proj." + name.rsplit(".", 1)[-1]
    if re.fullmatch(r"joint\.joint_net\.\d+\.(weight|bias)", name):
        return "joiner.out." + name.rsplit(".", 1)[-1]
    return None


def map_weights(nemo: dict[str, Tensor], cfg: ASRModelConfig, ours: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our state dict (every key of `ours`, the model's own) from a NeMo model's state dict."""
    ctc_prefix = "decoder" if cfg.transducer == "none" else "ctc_decoder"
    durations = len(cfg.joiner.durations) if cfg.joiner is not None else 0
    out: dict[str, Tensor] = {}
    for name, value in nemo.items():
        if _SKIPPED.search(name):
            continue
        target = _rename(name, cfg, ctc_prefix)
        if target is None:
            raise NemoImportError(f"weights: parameter {name!r} has no place in the imported model")
        if target.startswith("ctc_head.linear.weight"):
            value = value.squeeze(-1)  # Conv1d (V, D, 1) -> Linear (V, D)
        if target.startswith(("ctc_head.", "predictor.embedding.")):
            value = value[_vocab_order(cfg.vocab_size)]
        elif target.startswith("joiner.out."):
            value = value[_vocab_order(cfg.vocab_size, durations)]
        out[target] = value
    for name, value in ours.items():  # buffers NeMo does not store: identity normalizer, BN counters
        if name not in out:
            shared = re.fullmatch(r"encoder\.(pos_bias_[uv])", name)  # untie_biases=False: one pair
            if shared and f"encoder.layers.0.self_attn.{shared.group(1)}" in out:
                out[name] = out[f"encoder.layers.0.self_attn.{shared.group(1)}"]
            elif name == "normalizer.mean":
                out[name] = torch.zeros_like(value)
            elif name == "normalizer.std":
                out[name] = torch.ones_like(value)
            elif name.endswith("num_batches_tracked"):
                out[name] = torch.zeros_like(value)
    missing = sorted(set(ours) - set(out))
    if missing:
        raise NemoImportError(f"weights: the checkpoint lacks {missing[0]!r} ({len(missing)} missing)")
    wrong = [(k, tuple(out[k].shape), tuple(v.shape)) for k, v in ours.items() if out[k].shape != v.shape]
    if wrong:
        k, got, want = wrong[0]
        raise NemoImportError(f"weights: {k} has shape {got} in the checkpoint, the config gives {want}")
    return {k: out[k] for k in ours}
