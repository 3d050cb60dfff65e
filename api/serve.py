"""Serving the API with uvicorn inside our own event loop, and learning the port it bound.

``api_port = 0`` asks the OS for a free port (the demo never assumes 8000 is free), so the URL
is only known once uvicorn has bound its socket; :func:`start_api` waits for that.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

__all__ = ["RunningApi", "freeze_startup_heap", "start_api"]


@dataclass
class RunningApi:
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


def freeze_startup_heap() -> None:
    """Move what start-up allocated (modules, numba, templates) out of the collector's reach.

    After ``create_app`` the process tracks ~150,000 objects and a full collection of them takes
    ~50 ms here, a pause that lands inside whichever request triggers it: the consumption bench's
    p99 is 110-130 ms without this and 60-67 ms with it (bench/consumption_bench.py measures both).
    Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


async def start_api(app: FastAPI, host: str, port: int, *, log_level: str = "warning") -> RunningApi:
    """Serve ``app`` in the running loop; return once it accepts connections."""
    # Our own log lines say where we listen; uvicorn's startup banner and access log add noise.
    uvicorn_level = "debug" if log_level.upper() == "DEBUG" else "warning"
    config = uvicorn.Config(
        app, host=host, port=port, log_level=uvicorn_level, access_log=uvicorn_level == "debug", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # bind failed: surface uvicorn's error instead of waiting forever
            await task
            raise OSError(f"the API could not listen on {host}:{port}")
        await asyncio.sleep(0.02)
    live = getattr(app.state, "live", None)
    if live is not None:  # lifespan is off: the live feed (api.live.LiveFeed) starts here, in this loop
        await live.start()
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 (a comparison, not a bind)
    return RunningApi(server, task, f"http://{shown_host}:{bound_port}")
