"""NVIDIA NeMo ASR checkpoints (`.nemo`) run as our own models, with no NeMo at run time.

    model = load_nemo("stt_en_fastconformer_hybrid_large_streaming_multi.nemo")   # an ASRModel
    import_nemo("model.nemo", "models/fastconformer")   # once: config.json, safetensors, tokenizer

`transduce.load_model(path)` and everything built on it (Recognizer, transcribe, serve) take a
.nemo path directly. archive reads the file, config maps NeMo's config onto ours (refusing what it
cannot map, naming the key and value), weights renames and reorders the state dict, and the
tokenizer is NeMo's SentencePiece model as it is (tokenizers.NemoBpeTokenizer).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transduce.asr.nemo.archive import NemoImportError, read_nemo
from transduce.asr.nemo.config import model_config, model_kind
from transduce.asr.nemo.weights import map_weights

__all__ = ["NemoImportError", "import_nemo", "load_nemo"]


def _tokenizer(archive):  # -> NemoBpeTokenizer
    from transduce.asr.tokenizers import NemoBpeTokenizer, TokenizerError

    tok = archive.config.get("tokenizer") or {}
    if tok.get("type", "bpe") != "bpe":
        raise NemoImportError(f"tokenizer.type = {tok.get('type')!r} is not supported (bpe is)")
    packed = next((n for n in archive.files if n.endswith("tokenizer.model")), None)
    ref = tok.get("model_path") or tok.get("model") or packed
    if ref is None:
        raise NemoImportError("tokenizer.model is not set and the archive holds no *tokenizer.model")
    try:
        return NemoBpeTokenizer(archive.file(ref, "tokenizer.model"))
    except TokenizerError as e:
        raise NemoImportError(f"tokenizer.model {ref!r}: {e}") from None


def load_nemo(path: str | Path):  # -> ASRModel (imported lazily: asr.models pulls in torch modules)
    """The model of a .nemo file as an ASRModel in eval mode with `.tokenizer`; NemoImportError (a
    CheckpointError) naming the first thing that cannot be imported."""
    from transduce.asr.models.asr_model import ASRModel

    archive = read_nemo(path)
    model_kind(archive.config)
    tokenizer = _tokenizer(archive)
    try:
        cfg = model_config(archive.config, tokenizer.vocab_size)
        with torch.random.fork_rng(devices=[]):
            model = ASRModel(cfg)
    except NemoImportError:
        raise
    except (ValueError, TypeError, KeyError) as e:  # a value of the wrong type or sizes that do not agree
        raise NemoImportError(f"{archive.path}: the config cannot be mapped "
                              f"({type(e).__name__}: {e})") from None
    model.load_state_dict(map_weights(archive.weights, cfg, model.state_dict()), strict=True)
    model.tokenizer = tokenizer
    return model.eval()


def import_nemo(path: str | Path, out_dir: str | Path) -> Path:
    """Convert a .nemo file once into our model directory (config.json, weights, tokenizer)."""
    from transduce.asr.checkpoint import save_model

    model = load_nemo(path)
    return save_model(model, out_dir, model.tokenizer)
