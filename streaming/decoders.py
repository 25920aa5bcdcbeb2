"""The decoding strategy a session uses, shared by every session of one model with the same settings.

Sessions that share a decoder object can be decoded in one batched `decode_chunk` call, so decoders
(and hotword graphs) are built once per (model, method, beam size) and cached on the model (weakly:
they go when the model goes). Hotword graphs are cached per set of hotwords, the `_GRAPHS` most
recently used per model (clients choose hotwords freely: an unbounded cache would grow forever).
The head: the transducer (TDT or RNN-T) when the model has one, else
CTC, as in `asr.training.validation`.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

import torch
from transduce.asr.decoding import (
    ContextGraph,
    CTCBeamConfig,
    CTCGreedyDecoder,
    CTCPrefixBeamSearch,
    Decoder,
    DecoderState,
    ModifiedBeamConfig,
    ModifiedBeamSearch,
    RNNTGreedyDecoder,
    TDTBeamConfig,
    TDTBeamSearch,
    TDTGreedyDecoder,
)
from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.config import SessionConfig

__all__ = ["decoder_for", "hotword_graph", "uses_ctc_head", "init_decoder_state"]

_CACHE: weakref.WeakKeyDictionary[ASRModel, OrderedDict[Any, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_GRAPHS = 64


def _cached(model: ASRModel, key: Any, build: Any) -> Any:
    with _LOCK:
        per_model = _CACHE.setdefault(model, OrderedDict())
        if key not in per_model:
            per_model[key] = build()
            graphs = [k for k in per_model if k[0] == "hotwords"]
            for old in graphs[:-_GRAPHS]:  # least recently used first
                del per_model[old]
        per_model.move_to_end(key)
        return per_model[key]


def uses_ctc_head(model: ASRModel) -> bool:
    """True when sessions decode the CTC head (the model has no transducer head)."""
    return model.joiner is None


def _build(model: ASRModel, method: str, beam: int) -> Decoder:
    if uses_ctc_head(model):
        return CTCGreedyDecoder(blank=0) if method == "greedy" else CTCPrefixBeamSearch(CTCBeamConfig(beam))
    tdt = bool(model.joiner.durations)
    if method == "greedy":
        cls = TDTGreedyDecoder if tdt else RNNTGreedyDecoder
        return cls(model.predictor, model.joiner)
    if tdt:
        return TDTBeamSearch(model.predictor, model.joiner, TDTBeamConfig(beam))
    return ModifiedBeamSearch(model.predictor, model.joiner, ModifiedBeamConfig(beam))


def decoder_for(model: ASRModel, cfg: SessionConfig) -> Decoder:
    """The shared decoder of `model` for cfg.decoding / cfg.beam_size."""
    beam = cfg.beam_size if cfg.decoding == "beam" else 1
    return _cached(model, ("decoder", cfg.decoding, beam), lambda: _build(model, cfg.decoding, beam))


def hotword_graph(model: ASRModel, cfg: SessionConfig) -> ContextGraph | None:
    """The shared hotword graph of cfg.hotwords / cfg.hotword_boost (None without hotwords)."""
    if not cfg.hotwords:
        return None
    key = ("hotwords", cfg.hotwords, cfg.hotword_boost)
    tokenizer = model.tokenizer
    return _cached(model, key, lambda: ContextGraph.from_texts(cfg.hotwords, tokenizer, cfg.hotword_boost))


@torch.inference_mode()
def init_decoder_state(decoder: Decoder, graph: ContextGraph | None, device: torch.device) -> DecoderState:
    """The state of one stream that has decoded nothing, with its hotword graph (beam search only)."""
    if isinstance(decoder, (CTCPrefixBeamSearch, ModifiedBeamSearch, TDTBeamSearch)):
        return decoder.init_state(1, device, contexts=[graph])
    return decoder.init_state(1, device)
