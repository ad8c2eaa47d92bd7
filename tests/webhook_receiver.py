"""A real HTTP server on localhost that records what a webhook sends, answering as told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str = ""
    status: int = 200  # what to answer next; set by the test
    received: list[tuple[dict[str, str], dict[str, Any], bytes]] = field(default_factory=list)
    refused: int = 0

    def bodies(self) -> list[dict[str, Any]]:
        return [b for _, b, _ in self.received]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if rec.status >= 300:
                rec.refused += 1
            else:
                rec.received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(raw), raw))
            self.send_response(rec.status)
            self.end_headers()
            self.wfile.write(b"busy" if rec.status >= 300 else b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
