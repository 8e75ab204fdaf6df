"""A black-box router service on 127.0.0.1 for tests/test_service_arm.py: it picks, forwards, answers.

Like vLLM Semantic Router, it takes a chat request addressed to ``auto``, picks a model by a rule
of its own (keywords here), forwards the request with that model's name to the real model server
behind it (``routetrial serve``), and returns that server's reply with the pick in a response
header (``x-vsr-selected-model``) and in the body's ``model`` field. Requests whose text says
"haiku" are routed to a model the plan does not know (``mystery-llm``), which must become the
trial status ``unknown_model``. It runs an aiohttp server in a thread of its own, with its own
event loop; every pick is kept, by ``x-request-id``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

__all__ = ["HEADER", "RouterService", "pick"]

HEADER = "x-vsr-selected-model"


def pick(text: str) -> str:
    """The service's own routing rule: code and maths to the small model, haiku to an unknown one."""
    t = text.lower()
    if "haiku" in t:
        return "mystery-llm"
    if any(w in t for w in ("python", "sql", "function", "code", "solve", "how many")):
        return "small-llm"
    return "large-llm"


class RouterService:
    """The service in front of ``upstream`` (an OpenAI-style base URL), as a context manager."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.picks: dict[str, str] = {}
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the router service did not start")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        chosen = pick(text)
        self.picks[request.headers.get("x-request-id", "")] = chosen
        # The unknown model is served by the large one: the service answers, but names a model
        # the plan cannot price or route-grade.
        forward = {**body, "model": "large-llm" if chosen == "mystery-llm" else chosen}
        assert self._session is not None
        async with self._session.post(
            f"{self.upstream}/chat/completions",
            data=json.dumps(forward),
            headers={
                "content-type": "application/json",
                "x-request-id": request.headers.get("x-request-id", ""),
            },
        ) as reply:
            raw = await reply.read()
            status = reply.status
        if status == 200 and not forward.get("stream"):
            answer = json.loads(raw)
            answer["model"] = chosen
            raw = json.dumps(answer).encode()
        return web.Response(
            body=raw, status=status, headers={HEADER: chosen, "content-type": "application/json"}
        )
