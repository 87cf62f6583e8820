"""A local HTTP server for tests of real SDK clients: answers ``POST`` with what a function returns, on a free port
of 127.0.0.1, in a background thread, until closed (also as a context manager)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from typing_extensions import Self

#: (path, headers, body) of a request -> (content type, body) of the answer (status 200).
Answer = Callable[[str, dict[str, str], bytes], tuple[str, bytes]]


class LocalHTTPServer:
    """Serves ``answer`` at ``url`` (``http://127.0.0.1:<port>``)."""

    def __init__(self, answer: Answer) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                kind, data = answer(self.path, dict(self.headers.items()), body)
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
