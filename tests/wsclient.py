"""A websockets client for tests: it keeps what it received and waits for messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, ClassVar

import websockets

from svgx_sync.daemon.server import Daemon


class WsClient:
    """Remembers every message; :meth:`expect` claims the oldest one that matches."""

    timeout: ClassVar[float] = 10.0

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.unclaimed: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, daemon: Daemon) -> Any:
        return cls(await websockets.connect(f"ws://127.0.0.1:{daemon.port}", compression=None))

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def expect(
        self, kind: str, check: Callable[[dict[str, Any]], bool] = lambda m: True
    ) -> dict[str, Any]:
        """The oldest unclaimed message of this type that passes ``check``."""

        async def wait() -> dict[str, Any]:
            while True:
                for message in self.unclaimed:
                    if message["type"] == kind and check(message):
                        self.unclaimed.remove(message)
                        return message
                message = json.loads(await self.ws.recv())
                self.seen.append(message)
                self.unclaimed.append(message)

        try:
            return await asyncio.wait_for(wait(), self.timeout)
        except TimeoutError:
            raise AssertionError(f"no {kind} message; received {self.seen[-10:]}") from None

    async def close(self) -> None:
        await self.ws.close()
