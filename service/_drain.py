"""Read and drop what a client still sends before a streaming call is ended with an error status.

Works around grpc/grpc#36066: when a server ends a client-streaming call while the asyncio client is
still writing, the client's failed write overwrites the server's status with INTERNAL "Internal
error from Core". Reading the rest of the requests (up to the client's half-close, bounded in time)
before aborting lets the client see the real status and message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["DRAIN_S", "drain"]

DRAIN_S = 2.0


async def drain(requests: AsyncIterator, seconds: float = DRAIN_S) -> None:
    """Consume `requests` until the client half-closes or `seconds` pass; errors end it quietly."""

    async def consume() -> None:
        async for _ in requests:
            pass

    with contextlib.suppress(Exception):
        await asyncio.wait_for(consume(), seconds)
