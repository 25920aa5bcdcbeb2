"""NeMo model configs mapped onto ours, key by key; anything else is refused, naming the key and value.

Covered (NeMo 1.x-3.x ASR models): EncDecCTCModelBPE, EncDecRNNTBPEModel (RNN-T or TDT by the loss
config), EncDecHybridRNNTCTCBPEModel (RNN-T or TDT + auxiliary CTC); the AudioToMelSpectrogram
preprocessor (`features.nemo_mel`); ConformerEncoder (striding / dw_striding subsampling, rel_pos
attention, every context setting); RNNTDecoder (LSTM, blank as pad), RNNTJoint, ConvASRDecoder;
SentencePiece BPE tokenizers. Settings that only shape training (dropouts, stochastic depth, loss
weights, augmentation, data) are read and not needed for inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transduce.asr.encoders import ConformerConfig
from transduce.asr.features.nemo_mel import NemoMelConfig
from transduce.asr.heads import JoinerConfig, PredictorConfig
from transduce.asr.losses import TDTLossConfig
from transduce.asr.models.asr_model import ASRModelConfig, LossConfig
from transduce.asr.nemo.archive import NemoImportError

__all__ = ["model_config", "model_kind"]

MODELS = {
    "EncDecCTCModelBPE": "ctc",
    "EncDecRNNTBPEModel": "transducer",
    "EncDecHybridRNNTCTCBPEModel": "hybrid",
}

# encoder keys that matter only in training or for speed, with no effect on the function computed
_ENCODER_TRAINING_ONLY = {"dropout", "dropout_pre_encoder", "dropout_emb", "dropout_att", "att_context_probs",
                          "stochastic_depth_drop_prob", "stochastic_depth_mode",
                          "stochastic_depth_start_layer",
                          "pos_emb_max_len", "subsampling_conv_chunking_factor", "use_pytorch_sdpa",
                          "use_pytorch_sdpa_backends", "sync_max_audio_length", "_target_"}
_ENCODER_FIXED = {"feat_out": -1, "self_attention_model": "rel_pos", "reduction": None,
                  "reduction_position": None,
                  "reduction_factor": 1, "att_chunk_context_size": None, "conv_context_style": "regular",
                  "use_bias": True, "global_tokens": 0, "global_tokens_spacing": 1,
                  "global_attn_separate": False}


def _class_name(section: Mapping[str, Any] | None) -> str:
    target = (section or {}).get("_target_") or (section or {}).get("target") or ""
    return str(target).rsplit(".", 1)[-1]


def _refuse(where: str, key: str, value: Any, why: str = "is not supported") -> NemoImportError:
    return NemoImportError(f"{where}.{key} = {value!r} {why}")


def _need(section: Mapping[str, Any], key: str, where: str) -> Any:
    """section[key], or a NemoImportError naming the missing key."""
    if section.get(key) is None:
        raise NemoImportError(f"{where}.{key} is missing from the config")
    return section[key]


def _check_keys(section: Mapping[str, Any], where: str, known: set[str]) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise NemoImportError(f"{where}: unsupported key {unknown[0]!r} = {section[unknown[0]]!r}")


def model_kind(cfg: Mapping[str, Any]) -> str:
    """"ctc", "transducer" or "hybrid" from the config's target class; refused otherwise."""
    name = _class_name(cfg)
    if name not in MODELS:
        raise NemoImportError(f"model class {name or '(none)'!r} is not supported "
                              f"(supported: {sorted(MODELS)})")
    return MODELS[name]


def _features(pre: Mapping[str, Any]) -> NemoMelConfig:
    name = _class_name(pre)
    if name != "AudioToMelSpectrogramPreprocessor":
        raise _refuse("preprocessor", "_target_", name,
                      "is not supported (AudioToMelSpectrogramPreprocessor is)")
    renamed = {"preemph": "preemphasis"}
    dropped = {"_target_", "rng", "nb_max_freq"}  # randomness and augmentation: training only
    for key in ("stft_exact_pad", "stft_conv", "use_grads", "nb_augmentation_prob"):
        if pre.get(key):
            raise _refuse("preprocessor", key, pre[key])
        dropped.add(key)
    values = {renamed.get(k, k): v for k, v in pre.items() if k not in dropped}
    try:
        return NemoMelConfig(**values)
    except (TypeError, ValueError) as e:  # an unknown key, or a value NemoMelConfig refuses
        raise NemoImportError(f"preprocessor: {e}") from None


def _contexts(enc: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    raw = enc.get("att_context_size")
    if raw is None:
        return ((-1, -1),)
    if len(raw) == 2 and all(isinstance(x, int) for x in raw):
        raw = [raw]
    try:
        return tuple((int(a), int(b)) for a, b in raw)
    except (TypeError, ValueError):
        raise _refuse("encoder", "att_context_size", raw,
                      "is not a [left, right] pair or a list of them") from None


def _conv_context(enc: Mapping[str, Any]) -> str | tuple[int, int]:
    value = enc.get("conv_context_size")
    if value is None:
        return "symmetric"
    if value == "causal":
        return "causal"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        kernel = int(enc.get("conv_kernel_size", 31))
        if value[0] + value[1] + 1 != kernel:
            raise _refuse("encoder", "conv_context_size", value,
                          f"does not add up to conv_kernel_size {kernel}")
        return (int(value[0]), int(value[1]))
    raise _refuse("encoder", "conv_context_size", value)


def _encoder(enc: Mapping[str, Any]) -> ConformerConfig:
    name = _class_name(enc)
    if name != "ConformerEncoder":
        raise _refuse("encoder", "_target_", name, "is not supported (ConformerEncoder is)")
    known = {"feat_in", "n_layers", "d_model", "causal_downsampling", "subsampling", "subsampling_factor",
             "subsampling_conv_channels", "ff_expansion_factor", "n_heads", "att_context_size",
             "att_context_style", "xscaling", "untie_biases", "conv_kernel_size", "conv_norm_type",
             "conv_context_size"}
    _check_keys(enc, "encoder", known | _ENCODER_TRAINING_ONLY | set(_ENCODER_FIXED))
    for key, fixed in _ENCODER_FIXED.items():
        if key in enc and enc[key] != fixed:
            raise _refuse("encoder", key, enc[key])
    subsampling = str(enc.get("subsampling", "striding")).replace("-", "_")
    if subsampling not in ("striding", "dw_striding"):
        raise _refuse("encoder", "subsampling", enc.get("subsampling"),
                      "is not supported (striding, dw_striding are)")
    style = enc.get("att_context_style", "regular")
    if style not in ("regular", "chunked_limited"):
        raise _refuse("encoder", "att_context_style", style)
    norm = enc.get("conv_norm_type", "batch_norm")
    if norm not in ("batch_norm", "layer_norm"):
        raise _refuse("encoder", "conv_norm_type", norm, "is not supported (batch_norm, layer_norm are)")
    d_model = int(_need(enc, "d_model", "encoder"))
    channels = int(enc.get("subsampling_conv_channels", -1))
    return ConformerConfig(
        feat_in=int(_need(enc, "feat_in", "encoder")), n_layers=int(_need(enc, "n_layers", "encoder")),
        d_model=d_model,
        n_heads=int(enc.get("n_heads", 4)), ff_expansion_factor=int(enc.get("ff_expansion_factor", 4)),
        conv_kernel_size=int(enc.get("conv_kernel_size", 31)), conv_norm_type=norm,
        conv_context_size=_conv_context(enc), subsampling=subsampling,
        subsampling_factor=int(enc.get("subsampling_factor", 4)),
        subsampling_conv_channels=d_model if channels == -1 else channels,
        causal_downsampling=bool(enc.get("causal_downsampling", False)),
        causal_right_pad=bool(enc.get("causal_downsampling", False)), att_context_size=_contexts(enc),
        att_context_style=style, xscaling=bool(enc.get("xscaling", True)),
        untie_biases=bool(enc.get("untie_biases", True)), dropout=0.0, dropout_pre_encoder=0.0,
        dropout_emb=0.0, dropout_att=0.0)


def _durations(cfg: Mapping[str, Any]) -> tuple[int, ...]:
    """TDT durations from the loss config (NeMo's tdt_kwargs), or () for RNN-T."""
    loss = cfg.get("loss") or {}
    name = loss.get("loss_name", "default")
    if name in ("default", "warprnnt", "warprnnt_numba", "pytorch", "graph_rnnt"):
        return ()
    if name != "tdt":
        raise _refuse("loss", "loss_name", name, "is not supported (RNN-T losses and tdt are)")
    durations = (loss.get("tdt_kwargs") or {}).get("durations") or (cfg.get("model_defaults") or {}).get(
        "tdt_durations")
    if not durations:
        raise NemoImportError("loss.loss_name = 'tdt' but no loss.tdt_kwargs.durations")
    return tuple(int(d) for d in durations)


def _transducer(cfg: Mapping[str, Any], vocab: int,
                d_model: int) -> tuple[PredictorConfig, JoinerConfig, tuple[int, ...]]:
    dec, joint = cfg.get("decoder") or {}, cfg.get("joint") or {}
    if _class_name(dec) != "RNNTDecoder":
        raise _refuse("decoder", "_target_", _class_name(dec), "is not supported (RNNTDecoder is)")
    if _class_name(joint) != "RNNTJoint":
        raise _refuse("joint", "_target_", _class_name(joint), "is not supported (RNNTJoint is)")
    if not dec.get("blank_as_pad", True):
        raise _refuse("decoder", "blank_as_pad", dec.get("blank_as_pad"))
    if dec.get("normalization_mode") is not None:
        raise _refuse("decoder", "normalization_mode", dec.get("normalization_mode"))
    net = dec.get("prednet") or {}
    if net.get("rnn_hidden_size", -1) not in (-1, None, net.get("pred_hidden")):
        raise _refuse("decoder.prednet", "rnn_hidden_size", net.get("rnn_hidden_size"))
    hidden = int(_need(net, "pred_hidden", "decoder.prednet"))
    predictor = PredictorConfig(vocab, embed_dim=hidden, kind="lstm", hidden=hidden,
                                num_layers=int(net.get("pred_rnn_layers", 1)), dropout=0.0)
    jnet = joint.get("jointnet") or {}
    activation = jnet.get("activation", "relu")
    if activation not in ("relu", "tanh"):
        raise _refuse("joint.jointnet", "activation", activation, "is not supported (relu, tanh are)")
    durations = _durations(cfg)
    extra = int(joint.get("num_extra_outputs", 0) or 0)
    if extra != len(durations):
        raise _refuse("joint", "num_extra_outputs", extra,
                      f"does not match the {len(durations)} TDT durations")
    if jnet.get("encoder_hidden", d_model) != d_model:
        raise _refuse("joint.jointnet", "encoder_hidden", jnet.get("encoder_hidden"),
                      f"!= encoder d_model {d_model}")
    joint_hidden = int(_need(jnet, "joint_hidden", "joint.jointnet"))
    joiner = JoinerConfig(d_model, hidden, vocab, joint_hidden, activation, durations)
    return predictor, joiner, durations


def _ctc_decoder(section: Mapping[str, Any], where: str, vocab: int, d_model: int) -> None:
    if _class_name(section) != "ConvASRDecoder":
        raise _refuse(where, "_target_", _class_name(section), "is not supported (ConvASRDecoder is)")
    if int(section.get("feat_in", d_model)) != d_model:
        raise _refuse(where, "feat_in", section.get("feat_in"), f"!= encoder d_model {d_model}")
    classes = int(section.get("num_classes", vocab - 1))
    if classes not in (vocab - 1, -1):
        raise _refuse(where, "num_classes", classes, f"!= the tokenizer's {vocab - 1} pieces")


def model_config(cfg: Mapping[str, Any], vocab_size: int) -> ASRModelConfig:
    """Our ASRModelConfig of a NeMo model config; `vocab_size` counts our blank (pieces + 1)."""
    kind = model_kind(cfg)
    encoder = _encoder(cfg.get("encoder") or {})
    features = _features(cfg.get("preprocessor") or {})
    if features.num_mel_bins != encoder.feat_in:
        raise _refuse("preprocessor", "features", features.num_mel_bins,
                      f"!= encoder.feat_in {encoder.feat_in}")
    if kind == "ctc":
        _ctc_decoder(cfg.get("decoder") or {}, "decoder", vocab_size, encoder.d_model)
        return ASRModelConfig(vocab_size, "conformer", encoder, features, ctc=True, transducer="none")
    predictor, joiner, durations = _transducer(cfg, vocab_size, encoder.d_model)
    ctc = kind == "hybrid"
    if ctc:
        _ctc_decoder((cfg.get("aux_ctc") or {}).get("decoder") or {}, "aux_ctc.decoder", vocab_size,
                     encoder.d_model)
    loss = LossConfig(tdt=TDTLossConfig(durations=durations)) if durations else LossConfig()
    return ASRModelConfig(vocab_size, "conformer", encoder, features, ctc=ctc,
                          transducer="tdt" if durations else "rnnt", predictor=predictor, joiner=joiner,
                          loss=loss)
