"""A back office whose one page answers slowly and counts how many of its requests are in
flight at once: each run of the pool tests holds one request open, so the site sees how many
sessions run concurrently (a thread per request)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_S = 0.6


class SlowSite:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/slow"):
                    with site.lock:
                        site.in_flight += 1
                        site.max_in_flight = max(site.max_in_flight, site.in_flight)
                    try:
                        time.sleep(SLOW_S)
                    finally:
                        with site.lock:
                            site.in_flight -= 1
                            site.served += 1
                body = b"<html><title>Order</title><body><p id=status>shipped</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> SlowSite:
        self.thread.start()
        return self

    def reset(self) -> None:
        with self.lock:
            self.in_flight = self.max_in_flight = self.served = 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
