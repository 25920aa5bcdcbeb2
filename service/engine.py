"""The models a server runs, each with its own streaming Scheduler (started and stopped with the server)."""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from asr.models.asr_model import ASRModel
from service.errors import RequestError, echo
from streaming import Scheduler, SchedulerConfig

__all__ = ["Engine"]


class Engine:
    """name -> (model, scheduler); the first name is the default model."""

    def __init__(self, models: Mapping[str, ASRModel], cfg: SchedulerConfig | None = None) -> None:
        if not models:
            raise ValueError("Engine needs at least one model")
        self.models = dict(models)
        self.default = next(iter(self.models))
        self.schedulers = {name: Scheduler(model, cfg) for name, model in self.models.items()}

    async def start(self) -> None:
        """Start every scheduler on the running event loop."""
        for scheduler in self.schedulers.values():
            await scheduler.start()

    async def stop(self) -> None:
        """Close every stream and stop the schedulers."""
        for scheduler in self.schedulers.values():
            await scheduler.stop()

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
