"""The benchmark's receiver: an aiohttp server on several 127.0.0.1 ports (several destinations).

Run as its own process (so it never competes for the driver's GIL):
``python bench/receiver.py --ports 9001,9002 --hang-ports 9003 --delay-ms 200 --out FILE``.
Each POST is recorded as one line ``<receive ms> <port> <id> <path>`` (id = the ``webhook-id``
header, or ``x-bench-id`` for the baseline), then answered 200 after ``--delay-ms``; on a hang
port it is never answered (the caller's read timeout ends it). Prints ``ready`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web

FLUSH_EVERY_S = 0.2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    parser.add_argument("--hang-ports", default="")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args))


async def serve(args: argparse.Namespace) -> None:
    lines: list[str] = []
    delay_s = args.delay_ms / 1000

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        rid = request.headers.get("webhook-id") or request.headers.get("x-bench-id", "-")
        lines.append(f"{time.time_ns() // 1_000_000} {port} {rid} {request.path}\n")
        if port in hang_ports:
            await asyncio.sleep(3600)
        if delay_s:
            await asyncio.sleep(delay_s)
        return web.Response(text="ok")

    hang_ports = {int(p) for p in args.hang_ports.split(",") if p}
    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    ports = [int(p) for p in args.ports.split(",")] + sorted(hang_ports)
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    print("ready", flush=True)
    with open(args.out, "a") as out:
        while True:  # until the driver terminates this process
            await asyncio.sleep(FLUSH_EVERY_S)
            if lines:
                batch, lines[:] = lines[:], []
                out.writelines(batch)
                out.flush()


if __name__ == "__main__":
    main()
