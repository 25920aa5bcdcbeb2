"""The models a server runs, each with its own streaming Scheduler (started and stopped with the server)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import grpc
import numpy as np
from transduce.asr.models.asr_model import ASRModel
from transduce.service.errors import RequestError, echo
from transduce.streaming import Scheduler, SchedulerConfig, SessionConfig, StreamResult, cannot_stream
from transduce.streaming.transcripts import whole_recording_result

__all__ = ["Engine"]


class Engine:
    """name -> (model, scheduler); the first name is the default model."""

    def __init__(self, models: Mapping[str, ASRModel], cfg: SchedulerConfig | None = None) -> None:
        if not models:
            raise ValueError("Engine needs at least one model")
        self.models = dict(models)
        self.default = next(iter(self.models))
        self.schedulers = {name: Scheduler(model, cfg) for name, model in self.models.items()}
        # models that cannot stream (full context, utterance-level normalisation) serve Recognize whole
        self.offline_only = {name: reason for name, model in self.models.items()
                             if (reason := cannot_stream(model)) is not None}

    async def start(self) -> None:
        """Start every scheduler on the running event loop."""
        for scheduler in self.schedulers.values():
            await scheduler.start()

    async def warm_up(self, seconds: float = 1.0) -> None:
        """Run `seconds` of quiet noise through every model, at each look-ahead, greedy and beam, a few
        streams batched: the first requests then find the model's kernels and buffers set up (faster,
        and the server's resident memory at start is what it returns to after serving)."""
        rng = np.random.default_rng(0)
        for name, scheduler in self.schedulers.items():
            rate = self.models[name].cfg.features.sample_rate
            noise = (rng.standard_normal(int(seconds * rate)) * 0.01).astype(np.float32)
            if name in self.offline_only:
                await self.recognize_whole(name, SessionConfig(sample_rate=rate), noise)
                continue
            lookaheads = range(len(self.models[name].encoder.contexts))
            configs = [SessionConfig(sample_rate=rate, lookahead=i, decoding=method)
                       for i in lookaheads for method in ("greedy", "beam")]
            await asyncio.gather(*(_run_once(scheduler, cfg, noise) for cfg in configs))

    async def stop(self) -> None:
        """Close every stream and stop the schedulers."""
        for scheduler in self.schedulers.values():
            await scheduler.stop()

    async def recognize_whole(self, name: str, cfg: SessionConfig, samples: np.ndarray) -> StreamResult:
        """Transcribe one recording whole with model `name` (in a worker thread): Recognize for models
        that cannot stream."""
        model = self.models[name]
        return await asyncio.get_running_loop().run_in_executor(None, whole_recording_result, model, cfg,
                                                                samples)

    def resolve(self, name: str) -> str:
        """`name` (empty: the default), or RequestError NOT_FOUND naming the models served."""
        name = name or self.default
        if name not in self.models:
            raise RequestError(f"unknown model {echo(name)}; this server runs: {', '.join(self.models)}",
                               grpc.StatusCode.NOT_FOUND)
        return name

    @property
    def busy_s(self) -> float:
        """Seconds the schedulers' worker threads have spent on sessions (features and model steps)."""
        return sum(s.stats.busy_s for s in self.schedulers.values())

    @property
    def active_streams(self) -> int:
        """Streams open in all schedulers."""
        return sum(s.active_streams for s in self.schedulers.values())


async def _run_once(scheduler: Scheduler, cfg: SessionConfig, audio: np.ndarray) -> None:
    handle = scheduler.open(cfg)
    try:
        await handle.feed(audio)
        await handle.finish()
        async for _ in handle:
            pass
    finally:
        handle.close()
