"""Models that checkpoints can name, and the registry that maps names to classes.

Importing this package registers every built-in model, so `asr.load_model` finds them:
    "conformer_encoder"   asr.encoders.ConformerEncoder(ConformerConfig)
    "transformer_encoder" asr.encoders.TransformerEncoder(TransformerConfig)
    "asr"                 asr.models.asr_model.ASRModel(ASRModelConfig): encoder + CTC/RNN-T/TDT heads
Model modules added here register themselves with `@register_model(name)` and are imported below.
"""

from transduce.asr.encoders import ConformerConfig, ConformerEncoder, TransformerConfig, TransformerEncoder
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig, LossConfig, ModelLosses, transducer_heads
from transduce.asr.models.registry import (
    ModelEntry,
    model_entry,
    model_name,
    register_model,
    registered_models,
)
from transduce.asr.text import models as _text_models  # noqa: F401 (registers "text_seq2seq", "text_lm")

__all__ = [
    "ASRModel",
    "ASRModelConfig",
    "LossConfig",
    "ModelLosses",
    "transducer_heads",
    "ModelEntry",
    "register_model",
    "model_entry",
    "model_name",
    "registered_models",
]

register_model("conformer_encoder", ConformerConfig)(ConformerEncoder)
register_model("transformer_encoder", TransformerConfig)(TransformerEncoder)
