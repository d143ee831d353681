#!/usr/bin/env python3
"""A TCP proxy on loopback that delays each direction by a fixed time, keeping order.

    delay-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_MS

For the streaming benchmark (scripts/bench-streaming, BENCHMARKS.md "Streaming"): netem is
not available on these machines, so a round trip of 2 x DELAY_MS is made here. Every chunk
read from one side is written to the other DELAY_MS after it arrived, in arrival order (one
writer per direction, sleeping until each chunk's due time), so the proxy adds latency, never
reordering, and its throughput is not a limit at these rates. Both sockets have TCP_NODELAY.
Listens on 127.0.0.1 only; prints "listening PORT" once ready; runs until killed.
"""

import asyncio
import socket
import sys


async def pump(reader, writer, delay):
    """Copy reader to writer, each chunk delay seconds after it was read, in order."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read_side():
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def write_side():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read_side(), write_side())
    except (ConnectionError, OSError):
        pass


async def handle(client_reader, client_writer, upstream, delay):
    host, port = upstream
    try:
        server_reader, server_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    for w in (client_writer, server_writer):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.gather(
        pump(client_reader, server_writer, delay),
        pump(server_reader, client_writer, delay),
    )
    for w in (client_writer, server_writer):
        w.close()


async def main():
    if len(sys.argv) != 4:
        sys.exit("usage: delay-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_MS")
    listen = int(sys.argv[1])
    host, port = sys.argv[2].rsplit(":", 1)
    delay = float(sys.argv[3]) / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (host, int(port)), delay), "127.0.0.1", listen
    )
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
