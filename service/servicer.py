"""The Recognizer servicer: translate requests (service.convert), run them on the engine's schedulers.

StreamingRecognize: the first request carries the config, later ones audio bytes; results stream
back as the scheduler makes them; at the client's half-close the stream is finished and its last
finals are sent. An error ends only its own stream, with the status `convert.error_status` gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import numpy as np

from asr.audio import decode_pcm16, load_audio
from service import convert
from service._drain import drain
from service.convert import RequestError, StreamSettings
from service.engine import Engine
from service.limits import IdleTimeoutError, StreamLimits, StreamSlots
from service.observe import ServiceMetrics, StreamRecord
from service.protos import asr_pb2, asr_pb2_grpc
from streaming import SessionError, StreamHandle

__all__ = ["RecognizerServicer"]

_FEED_SECONDS = 0.5  # Recognize feeds whole recordings in pieces of this length (backpressure applies)


class RecognizerServicer(asr_pb2_grpc.RecognizerServicer):
    """transduce.asr.v1.Recognizer over an Engine; `slots` bounds the concurrent streams, `limits` each;
    `metrics` counts and logs the streams (service.observe)."""

    def __init__(self, engine: Engine, slots: StreamSlots | None = None,
                 limits: StreamLimits | None = None, metrics: ServiceMetrics | None = None) -> None:
        self.engine, self.slots, self.limits = engine, slots or StreamSlots(None), limits or StreamLimits()
        self.metrics = metrics or ServiceMetrics(lambda: engine.active_streams, lambda: engine.busy_s)

    async def StreamingRecognize(self, request_iterator: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
                                 context: grpc.aio.ServicerContext,
                                 ) -> AsyncIterator[asr_pb2.StreamingRecognizeResponse]:
        """Config first, then audio; partial and final results back (see the module docstring)."""
        with self.metrics.stream(context) as record:
            async for response in self._streaming(request_iterator, context, record):
                record.answered(len(response.results))
                yield response

    async def _streaming(self, request_iterator: AsyncIterator, context: grpc.aio.ServicerContext,
                         record: StreamRecord) -> AsyncIterator:
        try:
            self.slots.take()
        except RequestError as e:
            await drain(request_iterator)
            await context.abort(e.code, str(e))
        try:
            try:
                name, settings = await self._streaming_settings(request_iterator)
                record.model = name
                handle = self.engine.schedulers[name].open(settings.session)
            except (RequestError, SessionError) as e:
                await drain(request_iterator)
                await context.abort(*convert.error_status(e))
            async for response in self._run_stream(handle, settings, request_iterator, context, record):
                yield response
        finally:
            self.slots.give()

    async def Recognize(self, request: asr_pb2.RecognizeRequest,
                        context: grpc.aio.ServicerContext) -> asr_pb2.RecognizeResponse:
        """A whole recording (LINEAR16, or a WAV/FLAC container) -> one final result per utterance."""
        with self.metrics.stream(context, unary=True) as record:
            return await self._recognize(request, context, record)

    async def _recognize(self, request: asr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext,
                         record: StreamRecord) -> asr_pb2.RecognizeResponse:
        handle = None
        try:
            name = record.model = self.engine.resolve(request.config.model)
            audio, rate = _whole_audio(request, self.engine.models[name].cfg.features.sample_rate)
            record.add_audio(len(audio) / rate)
            settings = convert.session_config(self.engine.models[name], request.config, interim=False,
                                              sample_rate=rate, channels=1)
            handle = self.engine.schedulers[name].open(settings.session)
            step = max(1, int(_FEED_SECONDS * rate))
            for start in range(0, len(audio), step):
                await handle.feed(audio[start:start + step])
            await handle.finish()
            results = [convert.to_proto_result(r, settings) async for r in handle if r.is_final]
            record.results = len(results)
        except Exception as e:  # noqa: BLE001 - every failure becomes a status for this call only
            code, message = convert.error_status(e)
            await context.abort(code, message)
        finally:
            if handle is not None:
                handle.close()
        duration_ms = int(round(len(audio) / rate * 1000))
        return asr_pb2.RecognizeResponse(results=results, audio_duration_ms=duration_ms)

    async def ListModels(self, request: asr_pb2.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> asr_pb2.ListModelsResponse:
        """The models served and their settings."""
        models = [convert.model_info(name, model) for name, model in self.engine.models.items()]
        return asr_pb2.ListModelsResponse(models=models, default_model=self.engine.default)

    # ---------------------------------------------------------------------------------- internals
    async def _streaming_settings(self, requests: AsyncIterator) -> tuple[str, StreamSettings]:
        first = await _next(requests, self.limits)
        if first is None or not first.HasField("streaming_config"):
            raise RequestError("first message must carry streaming_config")
        sc = first.streaming_config
        name = self.engine.resolve(sc.config.model)
        if sc.config.encoding not in (asr_pb2.LINEAR16, asr_pb2.AUDIO_ENCODING_UNSPECIFIED):
            raise RequestError("StreamingRecognize takes LINEAR16 audio (containers go to Recognize)")
        lookahead_ms = sc.lookahead_ms if sc.HasField("lookahead_ms") else None
        settings = convert.session_config(self.engine.models[name], sc.config, interim=sc.interim_results,
                                          lookahead_ms=lookahead_ms, single_utterance=sc.single_utterance,
                                          max_duration_s=self.limits.max_stream_s)
        return name, settings

    async def _run_stream(self, handle: StreamHandle, settings: StreamSettings, requests: AsyncIterator,
                          context: grpc.aio.ServicerContext, record: StreamRecord) -> AsyncIterator:
        feed = _feed(handle, settings, requests, self.limits, record)
        feeder = asyncio.get_running_loop().create_task(feed)
        try:
            async for result in handle:
                yield convert.to_response(result, settings)
                if result.is_final and settings.single_utterance:
                    return
            error = await feeder
        except Exception as e:  # noqa: BLE001 - a failed model step ends this stream only
            error = e
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
            handle.close()
        if error is not None:
            code, message = convert.error_status(error)
            await context.abort(code, message)


async def _next(requests: AsyncIterator, limits: StreamLimits) -> object | None:
    """The next request, None at half-close; the idle error when none comes within the idle timeout."""
    if limits.idle_timeout_s is None:
        return await anext(requests, None)
    try:
        return await asyncio.wait_for(anext(requests, None), limits.idle_timeout_s)
    except asyncio.TimeoutError:
        raise limits.idle_error() from None


async def _feed(handle: StreamHandle, settings: StreamSettings, requests: AsyncIterator,
                limits: StreamLimits, record: StreamRecord) -> Exception | None:
    """Read audio requests into the stream until half-close; on bad input close it and return the error."""
    session = settings.session
    try:
        first = True
        while (request := await _next(requests, limits)) is not None:
            if request.HasField("streaming_config"):
                raise RequestError("streaming_config may only be sent in the first message")
            audio = request.audio_content
            if first and audio:
                audio = convert.split_wav_header(audio, session.sample_rate, session.channels)
                first = False
            arrived = time.monotonic()
            await handle.feed(audio)
            record.fed(len(audio) / (2 * session.channels * session.sample_rate), arrived)
        await handle.finish()
    except Exception as e:  # noqa: BLE001 - handed to the response side, which maps it to a status
        handle.close()
        if not isinstance(e, IdleTimeoutError):  # an idle client is not writing: nothing to drain
            await drain(requests)
        return e
    return None


def _whole_audio(request: asr_pb2.RecognizeRequest, model_rate: int) -> tuple[np.ndarray, int]:
    """(mono float32 samples (N,), their rate): PCM16 at the config's rate, or a container at the model's."""
    cfg, data = request.config, request.audio_content
    if cfg.encoding in (asr_pb2.FLAC, asr_pb2.WAV):
        rate = convert.container_rate(data)
        if cfg.sample_rate_hertz and cfg.sample_rate_hertz != rate:
            raise RequestError(f"the audio is {rate} Hz but the config says sample_rate_hertz="
                               f"{cfg.sample_rate_hertz}")
        return load_audio(data, model_rate), model_rate
    if cfg.encoding not in (asr_pb2.LINEAR16, asr_pb2.AUDIO_ENCODING_UNSPECIFIED):
        raise RequestError(f"encoding {asr_pb2.AudioEncoding.Name(cfg.encoding)} is not supported")
    rate, channels = cfg.sample_rate_hertz, cfg.audio_channel_count or 1
    if rate <= 0:
        raise RequestError(f"sample_rate_hertz must be given and positive for LINEAR16, got {rate}")
    pcm = convert.split_wav_header(data, rate, channels)
    return decode_pcm16(pcm, rate, channels, target_rate=rate), rate
