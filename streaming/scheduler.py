"""Dynamic batching of many streams under asyncio: one model step serves every stream that is ready.

Each stream is a `StreamHandle` (a Session plus its asyncio plumbing). When a stream has a chunk
of features ready it joins the ready queue; the loop takes the first waiting stream, gathers more
until it has `max_batch` or `max_wait_ms` has passed, and runs the batched step (`run_step`) in
ONE worker thread (torch.inference_mode), so the event loop stays free for I/O. All work that
touches sessions (feature computation in `feed`, model steps) runs in that thread, in order.

Backpressure and memory, bounded everywhere:
  * `feed` hands audio to the session in pieces of at most `feed_piece_s` seconds and waits
    before each while the stream holds more than `max_pending_frames` feature frames that the
    model has not taken yet (a producer faster than the model awaits; one large message does not
    turn into a large block of features);
  * unread results: while a stream holds fewer than `result_queue_size` of them every result is
    kept; past that, a new result replaces the unread partials of its utterance (a reader that
    does not keep up gets the latest hypothesis, not a backlog), and a stream holding
    `result_queue_size` unread finals is not stepped until the consumer reads, so its pending
    frames grow and `feed` waits in turn. Finals are never dropped.
A stream appears in the ready queue at most once and in one step at most once, so its chunks go
through the model in order. `close()` drops the session's state at once; a stream whose step fails
gets the error on its results queue and is closed, and the other streams of the batch go on. When
streams end, freed heap memory is given back to the operating system (`streaming.heap`): a second
after, and once more, after a garbage collection, when the scheduler has been idle for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.batch import run_step
from transduce.streaming.config import SessionConfig
from transduce.streaming.errors import SessionClosedError, SessionConfigError, SessionFailedError
from transduce.streaming.heap import HeapTrimmer
from transduce.streaming.results import StreamResult
from transduce.streaming.session import Session

__all__ = ["SchedulerConfig", "SchedulerStats", "Scheduler", "StreamHandle"]

_END = object()  # results-queue marker: the stream has ended
_SETTLE_S = 3.0  # after a trim, one more when the scheduler is idle this much later (Scheduler._settle)


@dataclass(frozen=True)
class SchedulerConfig:
    """max_batch: streams per model step; max_wait_ms: how long the first ready stream waits for
    others; max_pending_frames: feature frames a stream may hold before feed() waits (100 = 1 s at
    a 10 ms shift); result_queue_size: unread results per stream before partials are coalesced and
    unread finals hold the stream back; feed_piece_s: the longest piece of audio feed() hands to the
    session at once (larger inputs are split)."""

    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_pending_frames: int = 200
    result_queue_size: int = 32
    feed_piece_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_pending_frames", "result_queue_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SessionConfigError(f"SchedulerConfig.{name} must be an integer >= 1, got {value!r}")
        if not self.max_wait_ms >= 0:
            raise SessionConfigError(f"SchedulerConfig.max_wait_ms must be >= 0, got {self.max_wait_ms!r}")
        if not self.feed_piece_s > 0:
            raise SessionConfigError(f"SchedulerConfig.feed_piece_s must be > 0, got {self.feed_piece_s!r}")


@dataclass
class SchedulerStats:
    """Counters for metrics and tests: model steps, stream-chunks stepped, largest batch, failures,
    busy_s: seconds the worker thread spent on sessions (features and model steps), and coalesced:
    unread partials replaced by newer ones (readers that did not keep up)."""

    steps: int = 0
    chunks: int = 0
    max_batch_seen: int = 0
    failures: int = 0
    batch_sizes: list[int] = field(default_factory=list)  # the last 1000 steps
    busy_s: float = 0.0
    coalesced: int = 0


class StreamHandle:
    """One stream of a Scheduler: `await feed(audio)`, `await finish()`, results by `async for`."""

    def __init__(self, scheduler: Scheduler, session: Session) -> None:
        self._scheduler, self.session = scheduler, session
        self._results: deque = deque()  # unread results, then maybe an error and the end marker
        self._arrived = asyncio.Event()  # set while _results is not empty
        self._room = asyncio.Event()  # set while the stream may accept more audio (backpressure)
        self._room.set()
        self.failure: BaseException | None = None  # the error that ended the stream, if any
        self.queued = self.in_flight = self.closed = self._ended = False

    async def feed(self, audio: np.ndarray | bytes) -> None:
        """Add audio (float32 samples or PCM16 bytes); waits while the stream is too far ahead.

        Raises asr.audio.AudioError for bad audio, StreamTooLongError, SessionClosedError (or the
        error of the failed step that closed the stream). Audio longer than feed_piece_s goes in
        pieces; a piece that is rejected is dropped and the stream stays usable.
        """
        for piece in _pieces(audio, self.session, self._scheduler.cfg.feed_piece_s):
            while not self._room.is_set():
                await self._room.wait()
                self._update_room()
            if self.closed:
                raise self.failure or SessionClosedError("the stream is closed")
            await self._scheduler._in_worker(self.session.accept, piece)
            self._update_room()
            self._scheduler._schedule(self)

    async def finish(self) -> None:
        """End of audio: the tail is decoded, the final result and then the end of results follow."""
        if self.closed:
            raise self.failure or SessionClosedError("the stream is closed")
        if not self.session.input_finished:
            await self._scheduler._in_worker(self.session.finish)
        self._scheduler._schedule(self)

    async def result(self) -> StreamResult | None:
        """The next result, or None once the stream has ended; raises the error of a failed step."""
        if self._ended:
            return None
        while not self._results:
            self._arrived.clear()
            await self._arrived.wait()
        item = self._results.popleft()
        self._scheduler._schedule(self)  # room freed: the stream may be stepped again
        if item is _END:
            self._ended = True
            return None
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        return item

    def __aiter__(self) -> StreamHandle:
        return self

    async def __anext__(self) -> StreamResult:
        item = await self.result()
        if item is None:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        """Stop the stream now: its state and unread results are dropped; waiting feeders and
        readers are released (readers see the end of the stream). A stream that has already ended
        keeps its results."""
        if self.closed:
            return
        self._results.clear()
        self._shut(_END)

    def _shut(self, *items: object) -> None:
        """Close the session and the stream, then queue `items` (the end marker, maybe an error first)."""
        if self.closed:
            return
        self.closed = True
        self.session.close()
        self._scheduler._forget(self)
        self._room.set()
        for item in items:
            self._put(item)

    # ------------------------------------------------------------------------------ scheduler side
    @property
    def _results_room(self) -> bool:
        """Fewer than result_queue_size unread finals: the stream may be stepped."""
        finals = sum(1 for r in self._results if not (isinstance(r, StreamResult) and not r.is_final))
        return finals < self._scheduler.cfg.result_queue_size

    def _update_room(self) -> None:
        # a session that cannot be stepped yet needs more audio, whatever it holds
        session = self.session
        if self.closed or session.pending_frames <= self._scheduler.cfg.max_pending_frames \
                or not session.is_ready():
            self._room.set()
        else:
            self._room.clear()

    def _put(self, item: object) -> None:
        """Queue `item`; past result_queue_size unread, it replaces the unread partials of its utterance."""
        results = self._results
        if len(results) >= self._scheduler.cfg.result_queue_size and isinstance(item, StreamResult):
            while (results and isinstance(results[-1], StreamResult) and not results[-1].is_final
                   and results[-1].utterance_index == item.utterance_index):
                results.pop()  # superseded: the reader gets the newer result of the same utterance
                self._scheduler.stats.coalesced += 1
        results.append(item)
        self._arrived.set()

    def _deliver(self, error: BaseException | None) -> None:
        """After a step: hand the session's results (or its error) to the queue."""
        for r in self.session.pop_results():
            self._put(r)
        if error is not None:
            self.failure = error
            self._shut(error, _END)  # results made before the failure stay readable
        elif self.session.done:
            self._put(_END)
            self.closed = True
            self._scheduler._forget(self)
        self._update_room()


def _pieces(audio: np.ndarray | bytes, session: Session, piece_s: float) -> list:
    """`audio` cut into pieces of at most piece_s seconds at the session's rate (whole when it does not
    fit the session's format: the session then refuses it as one chunk)."""
    samples = max(1, int(piece_s * session.cfg.sample_rate))
    if isinstance(audio, (bytes, bytearray, memoryview)):
        frame = 2 * session.cfg.channels
        if len(audio) <= samples * frame or len(audio) % frame:
            return [audio]
        view = memoryview(audio)
        return [view[i:i + samples * frame] for i in range(0, len(audio), samples * frame)]
    if not isinstance(audio, np.ndarray) or audio.ndim not in (1, 2) or len(audio) <= samples:
        return [audio]
    return [audio[i:i + samples] for i in range(0, len(audio), samples)]


class Scheduler:
    """Batches the chunks of all open streams of `model`; see the module docstring."""

    def __init__(self, model: ASRModel, cfg: SchedulerConfig | None = None) -> None:
        self.model, self.cfg = model, cfg or SchedulerConfig()
        self.stats = SchedulerStats()
        self._streams: set[StreamHandle] = set()
        self._ready: asyncio.Queue[StreamHandle] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self.heap = HeapTrimmer()
        self._trim_pending = self._settle_pending = False

    @property
    def active_streams(self) -> int:
        """Streams opened and not yet ended or closed."""
        return len(self._streams)

    async def start(self) -> None:
        """Start the batching loop and its worker thread (on the running event loop)."""
        if self._task is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transduce-model")
        self._event_loop = asyncio.get_running_loop()
        self._ready = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="transduce-scheduler")

    async def stop(self) -> None:
        """Close every stream and stop the loop and the worker thread."""
        for handle in list(self._streams):
            handle.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def open(self, cfg: SessionConfig | None = None) -> StreamHandle:
        """A new stream with settings `cfg` (raises SessionConfigError for settings that do not fit)."""
        if self._task is None:
            raise SessionConfigError("the scheduler is not running: `async with Scheduler(...)` or start()")
        handle = StreamHandle(self, Session(self.model, cfg))
        self._streams.add(handle)
        return handle

    # ---------------------------------------------------------------------------------- internals
    async def _in_worker(self, fn, *args):  # noqa: ANN001, ANN202 - a thin executor hop
        if self._executor is None:
            raise SessionClosedError("the scheduler has stopped")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, fn, *args)

    def _timed(self, fn, *args):  # noqa: ANN001, ANN202 - worker thread: run fn, add its time to busy_s
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.stats.busy_s += time.perf_counter() - start

    def _forget(self, handle: StreamHandle) -> None:
        self._streams.discard(handle)
        if not self._trim_pending and self._event_loop is not None:  # a stream ended: free its memory
            self._trim_pending = True
            self._event_loop.call_later(self.heap.delay_s(), self._trim)

    def _trim(self) -> None:
        self._trim_pending = False
        if self._executor is not None:
            self._executor.submit(self.heap.trim)
            if not self._settle_pending:
                self._settle_pending = True
                self._event_loop.call_later(_SETTLE_S, self._settle)

    def _settle(self) -> None:
        """Some seconds after streams ended: if the scheduler is idle, collect garbage and trim again
        (gRPC and Python free some of a call's memory after its handler has returned)."""
        self._settle_pending = False
        if self._executor is not None and not self._streams:
            gc.collect()
            self._executor.submit(self.heap.trim)

    def _schedule(self, handle: StreamHandle) -> None:
        """Queue `handle` for a step if it has a chunk ready, room for results and is not queued."""
        if handle.closed or handle.queued or handle.in_flight or self._ready is None:
            return
        if handle._results_room and handle.session.is_ready():
            handle.queued = True
            self._ready.put_nowait(handle)

    async def _gather(self) -> list[StreamHandle]:
        """The first ready stream and those that arrive within max_wait_ms, up to max_batch."""
        loop = asyncio.get_running_loop()
        batch = [await self._ready.get()]
        deadline = loop.time() + self.cfg.max_wait_ms / 1000.0
        while len(batch) < self.cfg.max_batch:
            if not self._ready.empty():
                batch.append(self._ready.get_nowait())
                continue
            timeout = deadline - loop.time()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._ready.get(), timeout))
            except asyncio.TimeoutError:
                break
        for h in batch:
            h.queued = False
        return [h for h in batch if not h.closed]

    async def _loop(self) -> None:
        while True:
            batch = await self._gather()
            if not batch:
                continue
            for h in batch:
                h.in_flight = True
            try:
                errors = await self._in_worker(self._step, [h.session for h in batch])
            except Exception as e:  # noqa: BLE001 - the loop must survive; the batch gets the error
                errors = {id(h.session): SessionFailedError(f"the model step failed: {e}") for h in batch}
            finally:
                for h in batch:
                    h.in_flight = False
            for h in batch:
                if not h.closed:
                    h._deliver(errors.get(id(h.session)))
                self._schedule(h)

    def _step(self, sessions: list[Session]) -> dict[int, BaseException]:
        """Worker thread: take each session's chunk and run one batched step."""
        work = [(s, c) for s in sessions if (c := s.ready_chunk()) is not None]
        errors = run_step(self.model, work)
        stats = self.stats
        stats.steps, stats.chunks = stats.steps + 1, stats.chunks + len(work)
        stats.max_batch_seen = max(stats.max_batch_seen, len(work))
        stats.batch_sizes = stats.batch_sizes[-999:] + [len(work)]
        failed = {id(s): e for (s, _), e in zip(work, errors) if e is not None}
        stats.failures += len(failed)
        return failed
