"""streaming layer of transduce (see ARCHITECTURE.md), the one inference path: per-stream sessions,
the batched step and scheduler, offline transcription, the Python API (`Recognizer`: transcribe()
whole recordings, stream() live audio; also `transduce.Recognizer`), look-aheads in ms (lookahead),
evaluation and the model card, and the commands that run models (cli); heap returns freed memory to
the system after streams end (a long-running server's RSS stays flat).

    session = Session(model, SessionConfig(sample_rate=8000, decoding="beam"))
    session.accept(samples); decode_sessions(model, [session]); session.pop_results()

or, for many streams under asyncio (grpc.aio):

    async with Scheduler(model) as scheduler:
        stream = scheduler.open(SessionConfig())
        await stream.feed(pcm16_bytes); await stream.finish()
        async for result in stream: ...
"""

from transduce.streaming.batch import decode_sessions, run_step
from transduce.streaming.config import EndpointConfig, SessionConfig
from transduce.streaming.endpoint import END_OF_STREAM, RULE_AFTER_SPEECH, RULE_MAX_UTTERANCE, RULE_NO_SPEECH
from transduce.streaming.errors import (
    SessionClosedError,
    SessionConfigError,
    SessionError,
    SessionFailedError,
    StreamTooLongError,
)
from transduce.streaming.lookahead import lookahead_index, lookaheads_ms
from transduce.streaming.recognizer import Recognizer, RecognizerConfig
from transduce.streaming.results import StreamResult
from transduce.streaming.scheduler import Scheduler, SchedulerConfig, StreamHandle
from transduce.streaming.session import FeatureChunk, Session, cannot_stream
from transduce.streaming.stream import Stream
from transduce.streaming.transcripts import Transcript

__all__ = [
    "cannot_stream",
    "lookahead_index",
    "lookaheads_ms",
    "END_OF_STREAM",
    "RULE_AFTER_SPEECH",
    "RULE_MAX_UTTERANCE",
    "RULE_NO_SPEECH",
    "EndpointConfig",
    "FeatureChunk",
    "Recognizer",
    "RecognizerConfig",
    "Scheduler",
    "SchedulerConfig",
    "Session",
    "SessionClosedError",
    "SessionConfig",
    "SessionConfigError",
    "SessionError",
    "SessionFailedError",
    "StreamHandle",
    "Stream",
    "StreamResult",
    "StreamTooLongError",
    "Transcript",
    "decode_sessions",
    "run_step",
]
