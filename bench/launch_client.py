"""The launch-day visitors (bench/launch_day.py): a small HTTP/1.1 client on asyncio
streams (no aiohttp or httpx in the requirements, and a raw client costs the shared
CPU least), and one visitor's journey:

  arrive at its moment -> GET the waiting page (303 with a pass, or 200 with a ticket)
  -> hold the page's live stream, reading every `admit` event (when it came, its data)
  -> when "admitting up to N" reaches its number: GET the page again (303 + the pass)
  -> POST the claim at once (JSON) -> leave. A "stock 0" event ends the wait: sold out.

`run_slice` runs a slice of visitors in a process of its own (spawned: the open-file
limit is per process) and returns what they saw as plain data.
"""
import asyncio
import json
import re
import time

NUMBER = re.compile(rb'"number": (\d+)')
SOLD_OUT = re.compile(rb'"stock": 0[,}]')  # the page's settings when it opened on a sold-out drop


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


class Connection:
    """One keep-alive connection to a node; reconnects if the node closed it."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def send(self, method: str, path: str, cookies: dict, extra: str = "", body: bytes = b""):
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept-Language: en\r\n"
                f"User-Agent: launch-day\r\nCookie: {cookie}\r\nContent-Length: {len(body)}\r\n{extra}\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()

    async def head(self) -> tuple[int, list[tuple[str, str]]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        return status, headers

    async def request(self, method: str, path: str, cookies: dict, extra: str = "", body: bytes = b"") -> Response:
        for attempt in (0, 1):
            try:
                if self.writer is None:
                    await self.open()
                await self.send(method, path, cookies, extra, body)
                status, headers = await self.head()
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        response = Response(status, headers, b"")
        length = int(response.header("content-length") or 0)
        response.body = await self.reader.readexactly(length) if length else b""
        if (response.header("connection") or "").lower() == "close":
            self.close()
        for value in (v for k, v in headers if k.lower() == "set-cookie"):
            name, _, rest = value.partition("=")
            cookie_value = rest.split(";", 1)[0]
            if "Max-Age=0" in value or "expires=Thu, 01 Jan 1970" in value or not cookie_value:
                cookies.pop(name, None)
            else:
                cookies[name] = cookie_value
        return response


async def events(conn: Connection):
    """(receive time, event name, data) of an SSE response's events (chunked body)."""
    buffer = b""
    while True:
        size_line = await conn.reader.readuntil(b"\r\n")
        size = int(size_line.strip() or b"0", 16)
        if size == 0:
            return
        buffer += await conn.reader.readexactly(size + 2)
        buffer = buffer[:-2] if buffer.endswith(b"\r\n") else buffer
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            name, data = None, []
            for line in block.split(b"\n"):
                if line.startswith(b"event: "):
                    name = line[7:].decode()
                elif line.startswith(b"data: "):
                    data.append(line[6:].decode())
            if name:
                yield time.time(), name, "\n".join(data)


async def enter(conn: Connection, room: int, event: int, cookies: dict, out: dict) -> Response:
    """GET the waiting page until it answers with a place (200 with a number, or "sold
    out") or a pass (303). A busy node's page (200, no number, Retry-After) is asked
    again after that many seconds, as its refresh does; the ticket cookie is kept."""
    while True:
        page = await conn.request("GET", f"/waiting/{room}?next=/coupons/{event}", cookies)
        out["statuses"].append(page.status)
        if page.status != 200 or NUMBER.search(page.body):
            return page
        out["busy"] += 1
        await asyncio.sleep(float(page.header("retry-after") or 3))


async def visitor(spec: dict, plan: dict, seen: dict):
    room, event = plan["room"], plan["event"]
    port = plan["ports"][spec["n"] % len(plan["ports"])]
    cookies = {plan["session_cookie"]: spec["cookie"]}
    out = {"user": spec["id"], "number": None, "statuses": [], "got": [], "sold_out_at": None,
           "outcome": None, "claimed_at": None, "error": None, "busy": 0,
           "opened_at": None, "left_at": None}
    seen[spec["id"]] = out
    await asyncio.sleep(max(plan["t0"] + spec["arrive"] - time.time(), 0))
    conn = Connection(port)
    try:
        page = await enter(conn, room, event, cookies, out)
        if page.status == 200:
            out["number"] = number = int(NUMBER.search(page.body).group(1))
            conn.close()  # only the stream stays open while waiting
            stream = Connection(port)
            await stream.open()
            await stream.send("GET", f"/waiting/{room}/stream", cookies, "Accept: text/event-stream\r\n")
            status, _ = await stream.head()
            out["statuses"].append(status)
            out["opened_at"] = time.time()
            admitted = False
            async for at, name, data in events(stream):
                if name != "admit":
                    continue
                out["got"].append((at, data))
                news = json.loads(data)
                if news["stock"] == 0:
                    out["sold_out_at"] = at
                    break
                if news["through"] >= number:
                    admitted = True
                    break
            stream.close()
            out["left_at"] = time.time()
            if not admitted:
                return out
            page = await enter(conn, room, event, cookies, out)
        if page.status == 200 and SOLD_OUT.search(page.body):  # sold out before its pass was picked up
            out["sold_out_at"] = time.time()
            return out
        if page.status != 303:
            out["error"] = f"no pass: {page.status}"
            return out
        body = f"csrf_token={spec['csrf']}".encode()
        while True:  # a busy node answers 429 + Retry-After: press again then, as a person would
            claim = await conn.request("POST", f"/coupons/{event}/claim", cookies,
                                       "Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n",
                                       body)
            out["statuses"].append(claim.status)
            if claim.status != 429:
                break
            out["busy"] += 1
            await asyncio.sleep(float(claim.header("retry-after") or 2))
        out["claimed_at"] = time.time()
        out["outcome"] = json.loads(claim.body).get("outcome") if claim.body.startswith(b"{") else None
    except Exception as exc:  # noqa: BLE001 - recorded, counted, shown
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return out


async def _run(specs, plan):
    seen: dict = {}
    try:
        await asyncio.wait_for(asyncio.gather(*(visitor(s, plan, seen) for s in specs)), plan["deadline"])
    except asyncio.TimeoutError:
        for out in seen.values():
            if out["outcome"] is None and out["sold_out_at"] is None and out["error"] is None:
                out["error"] = "still waiting at the deadline"
    return list(seen.values())


def run_slice(specs: list[dict], plan: dict) -> list[dict]:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return asyncio.run(_run(specs, plan))


async def timed_get(port: int, path: str) -> tuple[float, int]:
    conn = Connection(port)
    started = time.perf_counter()
    try:
        res = await conn.request("GET", path, {})
        return time.perf_counter() - started, res.status
    finally:
        conn.close()
