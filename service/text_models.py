"""The text models a server runs (FormatText, the written form of finals, language models that re-rank
finals), on a thread of their own.

Every call is queued for one worker thread, apart from the schedulers' audio threads, so formatting
and rescoring never hold up a model step or a partial. Formatting calls that arrive while the worker
is busy are coalesced: the next run formats all their texts in one batched call per model
(asr.text.TextRewriter sorts them by length), then hands each call its own outputs. A failure in a
run fails the calls of that run only. A speech model may have a language model (TextLM): with beam
decoding each final's n-best is re-ranked by it (streaming.lm) before it is formatted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc
from transduce.asr.decoding.lm_rescoring import LMRescoringConfig
from transduce.asr.text.models import TextLM, TextSeq2Seq
from transduce.asr.text.rewriter import TextRewriter
from transduce.service.errors import RequestError, echo
from transduce.streaming import StreamResult
from transduce.streaming.formatting import spoken_texts, with_written
from transduce.streaming.lm import LMRescorer

if TYPE_CHECKING:
    from transduce.service.convert import StreamSettings

__all__ = ["TASK_SPEECH", "TASK_TEXT", "TextModels"]

TASK_SPEECH, TASK_TEXT = "speech_to_text", "text_to_text"
_Call = tuple[list[str], asyncio.Future, asyncio.AbstractEventLoop]


class TextModels:
    """name -> TextRewriter; the first name is the formatting model (none when `models` is empty).
    lms: speech model name -> its language model; lm_weight: the weight of requests that set none."""

    def __init__(self, models: Mapping[str, TextSeq2Seq], max_chars: int = 4000,
                 lms: Mapping[str, TextLM] | None = None, lm_weight: float = 0.3) -> None:
        self.rewriters = {name: TextRewriter(model, max_chars=max_chars) for name, model in models.items()}
        self.default = next(iter(self.rewriters), None)
        self.lms = {name: lm.eval() for name, lm in (lms or {}).items()}
        self.lm_weight = lm_weight  # checked by ServerConfig
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="transduce-text")
        self._lock = threading.Lock()
        self._pending: dict[str, list[_Call]] = {name: [] for name in self.rewriters}

    def resolve(self, name: str) -> str:
        """`name` (empty: the formatting model), or RequestError NOT_FOUND naming the text models."""
        name = name or self.default or ""
        if name not in self.rewriters:
            served = ", ".join(self.rewriters) or "none"
            what = f"unknown text model {echo(name)}" if name else "this server runs no text model"
            raise RequestError(f"{what}; its text models: {served}", grpc.StatusCode.NOT_FOUND)
        return name

    async def rewrite(self, name: str, texts: Sequence[str]) -> list[str]:
        """The outputs of model `name` for `texts` (checked by the caller), computed on the worker."""
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with self._lock:
            self._pending[name].append((list(texts), done, loop))
            first = len(self._pending[name]) == 1
        if first:  # later calls join this run until the worker takes the queue
            loop.run_in_executor(self._executor, self._run, name)
        return await done

    def _run(self, name: str) -> None:
        with self._lock:
            calls, self._pending[name] = self._pending[name], []
        try:
            outputs = self.rewriters[name]([text for texts, _, _ in calls for text in texts])
        except Exception as e:  # noqa: BLE001 - handed to every call of this run
            for _, done, loop in calls:
                loop.call_soon_threadsafe(_settle, done, None, e)
            return
        start = 0
        for texts, done, loop in calls:
            loop.call_soon_threadsafe(_settle, done, outputs[start: start + len(texts)], None)
            start += len(texts)

    def check(self, model: str, settings: StreamSettings) -> None:
        """RequestError (FAILED_PRECONDITION) for formatting or an LM weight this server cannot give."""
        if settings.formatting and self.default is None:
            raise RequestError("enable_formatting: this server runs no formatting model",
                               grpc.StatusCode.FAILED_PRECONDITION)
        if settings.lm_weight and model not in self.lms:
            raise RequestError(f"lm_weight: model {echo(model)} is served without a language model",
                               grpc.StatusCode.FAILED_PRECONDITION)

    def rescorer(self, model: str, settings: StreamSettings) -> LMRescorer | None:
        """The LM rescoring of a request's finals, or None (no LM, weight 0, or greedy decoding)."""
        weight = self.lm_weight if settings.lm_weight is None else settings.lm_weight
        if model not in self.lms or not weight or settings.session.decoding != "beam":
            return None
        return LMRescorer(self.lms[model], LMRescoringConfig(weight))

    def transforms(self, model: str, settings: StreamSettings) -> bool:
        """Whether finals of this request are rescored or formatted (else they go out as they come)."""
        return settings.formatting or self.rescorer(model, settings) is not None

    async def finished(self, finals: list[StreamResult], model: str,
                       settings: StreamSettings) -> list[StreamResult]:
        """`finals` re-ranked by the model's LM (on the worker) and formatted, as the request asks."""
        rescorer = self.rescorer(model, settings)
        if rescorer is not None and finals:
            loop = asyncio.get_running_loop()
            finals = await loop.run_in_executor(self._executor, rescorer.results, finals)
        return await self.written(finals) if settings.formatting else finals

    async def written(self, finals: Sequence[StreamResult]) -> list[StreamResult]:
        """`finals` carrying the formatting model's written form of each alternative (one batched call)."""
        spoken = [spoken_texts(r) for r in finals]
        texts = [t for alternatives in spoken for t in alternatives]
        written = iter(await self.rewrite(self.resolve(""), texts))
        return [with_written(r, [next(written) for _ in s]) for r, s in zip(finals, spoken)]

    async def finished_stream(self, results: AsyncIterator[StreamResult], model: str,
                              settings: StreamSettings) -> AsyncIterator[StreamResult]:
        """`results` with finals rescored and formatted (`finished`): partials as they come, each final
        once it is ready, finals in their order (a final may come after partials of the next utterance)."""
        queue: asyncio.Queue = asyncio.Queue()
        end = object()

        async def write(final: StreamResult, before: asyncio.Future | None) -> None:
            formatted = (await self.finished([final], model, settings))[0]
            if before is not None:
                await before
            queue.put_nowait(formatted)

        async def pump() -> None:
            last: asyncio.Future | None = None
            try:
                async for result in results:
                    if result.is_final:
                        last = asyncio.ensure_future(write(result, last))
                    else:
                        queue.put_nowait(result)
                if last is not None:
                    await last
                queue.put_nowait(end)
            except Exception as e:  # noqa: BLE001 - raised again on the consuming side
                queue.put_nowait(e)

        pumping = asyncio.get_running_loop().create_task(pump())
        try:
            while (item := await queue.get()) is not end:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pumping

    def close(self) -> None:
        """Stop the worker after the runs already queued."""
        self._executor.shutdown(wait=True)


def _settle(done: asyncio.Future, result: list[str] | None, error: BaseException | None) -> None:
    if done.cancelled():  # the call went away (client cancelled)
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
