"""One live stream of the Python API: a `Session` driven synchronously, a step after every feed.

N: samples, C: channels.

    with recognizer.stream(sample_rate=16000) as s:
        for chunk in chunks:
            for result in s.feed(chunk):      # partial (is_final=False) and final StreamResults
                ...
        results = s.finish()                  # the last final(s)

This is the service's engine, not a copy of it: feed() is `Session.accept` + `decode_sessions`
(the batched step the Scheduler runs) + `Session.pop_results`. To step many streams in one
batched forward, use `Recognizer.decode_streams` with `feed(chunk, decode=False)` and
`finish(decode=False)`.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.batch import decode_sessions
from transduce.streaming.config import SessionConfig
from transduce.streaming.formatting import format_results
from transduce.streaming.results import StreamResult
from transduce.streaming.session import Session

if TYPE_CHECKING:
    from transduce.asr.text.rewriter import TextRewriter
    from transduce.streaming.lm import LMRescorer

__all__ = ["Stream"]


class Stream:
    """One stream's audio in, partial and final results out; see the module docstring. rescorer:
    re-ranks finals with a language model (`streaming.lm`; None: off); formatter: writes finals in
    written form (`streaming.formatting`; None: off)."""

    def __init__(self, model: ASRModel, cfg: SessionConfig, formatter: TextRewriter | None = None,
                 rescorer: LMRescorer | None = None) -> None:
        self.model, self.formatter, self.rescorer = model, formatter, rescorer
        self.session = Session(model, cfg)

    def feed(self, audio: np.ndarray | bytes, decode: bool = True) -> list[StreamResult]:
        """Accept float samples (N,) / (N, C) or PCM16 bytes at the stream's rate; with `decode`, run
        the model on every complete chunk and return the results made (else [] and nothing runs).

        Raises asr.audio.AudioError subclasses for bad audio (the stream goes on without it).
        """
        self.session.accept(audio)
        return self.decode() if decode else []

    def finish(self, decode: bool = True) -> list[StreamResult]:
        """End of audio: with `decode`, decode what is left and return the remaining results (the
        last final); else [] and the rest waits for `Recognizer.decode_streams`."""
        self.session.finish()
        return self.decode() if decode else []

    def decode(self) -> list[StreamResult]:
        """Run the model on the chunks that are ready and return the results made since the last call."""
        decode_sessions(self.model, [self.session])
        return self.finished_results()

    def finished_results(self) -> list[StreamResult]:
        """The session's new results, finals rescored and formatted when the stream does either."""
        results = self.session.pop_results()
        if self.rescorer is not None:
            results = self.rescorer.results(results)
        return format_results(self.formatter, results)

    @property
    def done(self) -> bool:
        """The stream has ended and its last result has been made."""
        return self.session.done

    def close(self) -> None:
        """Drop the stream's state (caches, decoder state, audio) at once."""
        self.session.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
