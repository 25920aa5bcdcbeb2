"""Output heads on top of an encoder: CTC, and the transducer predictor + joiner (RNN-T and TDT).

Blank convention (see asr.tokenizers): id 0 is the blank for every head; `vocab_size` counts it.
A TDT joiner emits `vocab_size` token logits followed by one logit per allowed duration.
"""

from transduce.asr.heads.ctc import CTCHead, CTCHeadConfig
from transduce.asr.heads.joiner import Joiner, JoinerConfig
from transduce.asr.heads.predictor import Predictor, PredictorConfig, PredictorState

__all__ = [
    "CTCHead",
    "CTCHeadConfig",
    "Joiner",
    "JoinerConfig",
    "Predictor",
    "PredictorConfig",
    "PredictorState",
]
