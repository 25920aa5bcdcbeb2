"""streaming layer of transduce (see DESIGN.md): per-stream sessions and the batching scheduler.

    session = Session(model, SessionConfig(sample_rate=8000, decoding="beam"))
    session.accept(samples); decode_sessions(model, [session]); session.pop_results()

or, for many streams under asyncio (grpc.aio):

    async with Scheduler(model) as scheduler:
        stream = scheduler.open(SessionConfig())
        await stream.feed(pcm16_bytes); await stream.finish()
        async for result in stream: ...
"""

from streaming.batch import decode_sessions, run_step
from streaming.config import EndpointConfig, SessionConfig
from streaming.endpoint import END_OF_STREAM, RULE_AFTER_SPEECH, RULE_MAX_UTTERANCE, RULE_NO_SPEECH
from streaming.errors import (
    SessionClosedError,
    SessionConfigError,
    SessionError,
    SessionFailedError,
    StreamTooLongError,
)
from streaming.results import StreamResult
from streaming.scheduler import Scheduler, SchedulerConfig, StreamHandle
from streaming.session import FeatureChunk, Session

__all__ = [
    "END_OF_STREAM",
    "RULE_AFTER_SPEECH",
    "RULE_MAX_UTTERANCE",
    "RULE_NO_SPEECH",
    "EndpointConfig",
    "FeatureChunk",
    "Scheduler",
    "SchedulerConfig",
    "Session",
    "SessionClosedError",
    "SessionConfig",
    "SessionConfigError",
    "SessionError",
    "SessionFailedError",
    "StreamHandle",
    "StreamResult",
    "StreamTooLongError",
    "decode_sessions",
    "run_step",
]
