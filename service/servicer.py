"""The Recognizer servicer: translate requests (service.convert), run them on the engine's schedulers.

StreamingRecognize: the first request carries the config, later ones audio bytes; results stream
back as the scheduler makes them; at the client's half-close the stream is finished and its last
finals are sent. An error ends only its own stream, with the status `convert.error_status` gives;
a stream that passes the duration limit first gets the finals of the audio accepted before it, then
OUT_OF_RANGE. Every config is checked against the documented bounds (service.bounds) before anything
is allocated for it; Recognize also checks its audio's format and duration before decoding it
(service.audio_in). Each call, streaming or unary, holds one of the server's stream slots.

Formatting (service.text_models): with enable_formatting, partials go out as they come and each
final once its written form is ready (finals keep their order; a final may follow the first partials
of the next utterance). FormatText runs a batch of texts through a text model; it holds no stream slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import numpy as np
from transduce.service import convert
from transduce.service._drain import drain
from transduce.service.audio_in import check_not_container, recognize_audio, split_wav_header
from transduce.service.bounds import RequestBounds, check_config, check_format_request
from transduce.service.convert import StreamSettings
from transduce.service.engine import Engine
from transduce.service.errors import RequestError
from transduce.service.limits import IdleTimeoutError, StreamLimits, StreamSlots
from transduce.service.observe import ServiceMetrics, StreamRecord
from transduce.service.protos import asr_pb2
from transduce.service.text_models import TextModels
from transduce.service.wire import CorruptRequest
from transduce.streaming import SessionError, StreamHandle, StreamTooLongError

__all__ = ["RecognizerServicer"]


class RecognizerServicer:
    """transduce.asr.v1.Recognizer over an Engine (speech) and TextModels; `slots` bounds the
    concurrent calls, `limits` each; `bounds` the request fields; `metrics` counts and logs the calls
    (service.observe)."""

    def __init__(self, engine: Engine, slots: StreamSlots | None = None,
                 limits: StreamLimits | None = None, metrics: ServiceMetrics | None = None,
                 bounds: RequestBounds | None = None, default_lookahead_ms: int | None = None,
                 text: TextModels | None = None) -> None:
        self.engine, self.slots, self.limits = engine, slots or StreamSlots(None), limits or StreamLimits()
        self.text = text or TextModels({})
        self.default_lookahead_ms = default_lookahead_ms  # for calls that do not choose one
        self.bounds = bounds or RequestBounds()
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
            async for response in self._run_stream(name, handle, settings, request_iterator, context, record):
                yield response
        finally:
            self.slots.give()

    async def Recognize(self, request: asr_pb2.RecognizeRequest,
                        context: grpc.aio.ServicerContext) -> asr_pb2.RecognizeResponse:
        """A whole recording (LINEAR16, or a WAV/FLAC container) -> one final result per utterance."""
        with self.metrics.stream(context, unary=True) as record:
            try:
                self.slots.take()
            except RequestError as e:
                await context.abort(e.code, str(e))
            try:
                return await self._recognize(request, context, record)
            finally:
                self.slots.give()

    async def _recognize(self, request: asr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext,
                         record: StreamRecord) -> asr_pb2.RecognizeResponse:
        handle, fed = None, 0.0
        try:
            if isinstance(request, CorruptRequest):
                raise RequestError(request.message)
            check_config(request.config, self.bounds, streaming=False)
            name = record.model = self.engine.resolve(request.config.model)
            audio = recognize_audio(request, self.bounds, self.limits.recognize_s)
            settings = convert.session_config(self.engine.models[name], request.config, interim=False,
                                              lookahead_ms=self.default_lookahead_ms,
                                              sample_rate=audio.rate, channels=1,
                                              max_duration_s=self.limits.recognize_s)
            self.text.check(name, settings)
            if name in self.engine.offline_only:
                samples = np.concatenate(list(audio.blocks()) or [np.zeros(0, np.float32)])
                fed = len(samples) / audio.rate
                if fed == 0:
                    raise RequestError("the request holds no audio")
                result = await self.engine.recognize_whole(name, settings.session, samples)
                finals = await self.text.finished([result], name, settings)
                results = [convert.to_proto_result(r, settings) for r in finals]
                record.results = 1
                return asr_pb2.RecognizeResponse(results=results, audio_duration_ms=int(round(fed * 1000)))
            handle = self.engine.schedulers[name].open(settings.session)
            for block in audio.blocks():
                await handle.feed(block)
                fed += len(block) / audio.rate
            if fed == 0:
                raise RequestError("the request holds no audio")
            await handle.finish()
            finals = await self.text.finished([r async for r in handle if r.is_final], name, settings)
            results = [convert.to_proto_result(r, settings) for r in finals]
            record.results = len(results)
        except Exception as e:  # noqa: BLE001 - every failure becomes a status for this call only
            await context.abort(*convert.error_status(e))
        finally:
            record.add_audio(fed)
            if handle is not None:
                handle.close()
        return asr_pb2.RecognizeResponse(results=results, audio_duration_ms=int(round(fed * 1000)))

    async def ListModels(self, request: asr_pb2.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> asr_pb2.ListModelsResponse:
        """The models served and their settings."""
        if isinstance(request, CorruptRequest):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        models = [convert.model_info(name, model, name in self.text.lms)
                  for name, model in self.engine.models.items()]
        models += [convert.text_model_info(name, r) for name, r in self.text.rewriters.items()]
        return asr_pb2.ListModelsResponse(models=models, default_model=self.engine.default,
                                          default_formatting_model=self.text.default or "")

    async def FormatText(self, request: asr_pb2.FormatTextRequest,
                         context: grpc.aio.ServicerContext) -> asr_pb2.FormatTextResponse:
        """A batch of texts through a text model (default: the formatting model), outputs in order."""
        try:
            if isinstance(request, CorruptRequest):
                raise RequestError(request.message)
            check_format_request(request, self.bounds)
            name = self.text.resolve(request.model)
            texts = await self.text.rewrite(name, list(request.texts))
        except Exception as e:  # noqa: BLE001 - every failure becomes a status for this call only
            await context.abort(*convert.error_status(e))
        return asr_pb2.FormatTextResponse(texts=texts)

    # ---------------------------------------------------------------------------------- internals
    async def _streaming_settings(self, requests: AsyncIterator) -> tuple[str, StreamSettings]:
        first = await _next(requests, self.limits)
        if first is None or not first.HasField("streaming_config"):
            raise RequestError("first message must carry streaming_config")
        sc = first.streaming_config
        check_config(sc.config, self.bounds, streaming=True)
        name = self.engine.resolve(sc.config.model)
        lookahead_ms = sc.lookahead_ms if sc.HasField("lookahead_ms") else self.default_lookahead_ms
        settings = convert.session_config(self.engine.models[name], sc.config, interim=sc.interim_results,
                                          lookahead_ms=lookahead_ms, single_utterance=sc.single_utterance,
                                          max_duration_s=self.limits.max_stream_s)
        self.text.check(name, settings)
        return name, settings

    async def _run_stream(self, model: str, handle: StreamHandle, settings: StreamSettings,
                          requests: AsyncIterator, context: grpc.aio.ServicerContext,
                          record: StreamRecord) -> AsyncIterator:
        feed = _feed(handle, settings, requests, self.limits, record)
        feeder = asyncio.get_running_loop().create_task(feed)
        try:
            results = (self.text.finished_stream(handle, model, settings)
                       if self.text.transforms(model, settings) else handle)
            async for result in results:
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
    """The next request, None at half-close; the idle error when none comes within the idle timeout,
    RequestError for bytes that are not a request."""
    if limits.idle_timeout_s is None:
        request = await anext(requests, None)
    else:
        try:
            request = await asyncio.wait_for(anext(requests, None), limits.idle_timeout_s)
        except asyncio.TimeoutError:
            raise limits.idle_error() from None
    if isinstance(request, CorruptRequest):
        raise RequestError(request.message)
    return request


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
                check_not_container(audio)
                audio = split_wav_header(audio, session.sample_rate, session.channels)
                first = False
            arrived = time.monotonic()
            await handle.feed(audio)
            record.fed(len(audio) / (2 * session.channels * session.sample_rate), arrived)
        await handle.finish()
    except StreamTooLongError as e:  # the audio accepted so far is decoded and its finals sent first
        with contextlib.suppress(SessionError):
            await handle.finish()
        await drain(requests)
        return e
    except Exception as e:  # noqa: BLE001 - handed to the response side, which maps it to a status
        handle.close()
        if not isinstance(e, IdleTimeoutError):  # an idle client is not writing: nothing to drain
            await drain(requests)
        return e
    return None
