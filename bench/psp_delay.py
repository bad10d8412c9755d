"""The benchmark's PSP stand-in: the sandbox PSP behind a fixed delay.

    python -m bench.psp_delay --upstream http://127.0.0.1:8001 [--port 0]

Every request is held for the current delay, then passed to the sandbox on a pooled keep-alive
connection, and the sandbox's answer is passed back as it is. `PUT /_delay` with a number of
milliseconds as the body sets the delay (0 at start), so one run can measure with a PSP that
answers at once and with one that takes 50 ms. It runs on asyncio (aiohttp, a dev dependency):
a held request costs a timer, not a thread, so 16 or 160 waiting calls are all held at once.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import ClientSession, TCPConnector, web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def build(upstream: str) -> web.Application:
    state = {"delay": 0.0}
    app = web.Application()

    async def set_delay(request: web.Request) -> web.Response:
        state["delay"] = float(await request.text()) / 1000
        return web.Response(text=f"{state['delay'] * 1000:g}\n")

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(state["delay"])
        session: ClientSession = app["upstream"]
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        async with session.request(request.method, upstream + request.path_qs, data=body, headers=headers) as answer:
            payload = await answer.read()
            kept = {name: value for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=payload, headers=kept)

    async def open_pool(app: web.Application) -> None:
        app["upstream"] = ClientSession(connector=TCPConnector(limit=256, keepalive_timeout=60))

    async def close_pool(app: web.Application) -> None:
        await app["upstream"].close()

    app.on_startup.append(open_pool)
    app.on_cleanup.append(close_pool)
    app.router.add_put("/_delay", set_delay)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()

    async def serve() -> None:
        runner = web.AppRunner(build(options.upstream.rstrip("/")), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", options.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"psp_delay listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
