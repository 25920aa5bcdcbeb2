"""Typed errors of the streaming layer, so callers (Python API, gRPC service) can map each to a status.

Bad audio raises the `asr.audio` errors (`PCMFormatError` for byte counts that do not fit PCM16,
`NonFiniteAudioError` for NaN/inf samples), which are `AudioError`s; everything here is a
`SessionError`. All are `ValueError`s.
"""

from __future__ import annotations

__all__ = [
    "SessionError",
    "SessionConfigError",
    "SessionClosedError",
    "StreamTooLongError",
    "SessionFailedError",
]


class SessionError(ValueError):
    """Base class of the streaming layer's errors."""


class SessionConfigError(SessionError):
    """A SessionConfig / SchedulerConfig value, or the model it is used with, does not fit."""


class SessionClosedError(SessionError):
    """Audio fed to a session after finish() or close()."""


class StreamTooLongError(SessionError):
    """The stream ran past SessionConfig.max_duration_s; the audio that would pass it is rejected."""


class SessionFailedError(SessionError):
    """The model step of this session failed (the cause is chained); the session is closed."""
