"""The HTTP handler: routes, body reading and error bodies; the request line and status are all it logs."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from distill.serve.openai_requests import RequestError, parse_body

if TYPE_CHECKING:
    from distill.serve.server import Server

log = logging.getLogger("distill.serve")

MAX_BODY_BYTES = 16 * 2**20


def make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to `server` (`ThreadingHTTPServer` instantiates it per connection)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "distill-serve"

        def log_message(self, format: str, *args: Any) -> None:
            # The request line and status only: headers (Authorization) and bodies are never logged.
            log.info("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: RequestError) -> None:
            self._send(error.status, error.body())

        def _route(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/") or "/"

        def _body(self) -> dict:
            length = self.headers.get("Content-Length")
            if length is None or not length.strip().isdigit():
                self.close_connection = True
                raise RequestError("A Content-Length header with the JSON body's size is required.", status=411)
            size = int(length)
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                raise RequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.", status=413)
            return parse_body(self.rfile.read(size))

        def _handle(self, method: str) -> None:
            route = self._route()
            try:
                if method == "GET" and route == "/v1/models":
                    self._send(200, server.models())
                elif method == "GET" and route.startswith("/v1/models/"):
                    name = route[len("/v1/models/") :]
                    if name != server.config.model_name:
                        raise RequestError(f"The model '{name}' does not exist.", "model", 404, "model_not_found")
                    self._send(200, server.model_card())
                elif method == "GET" and route == "/health":
                    self._send(200, {"status": "ok"})
                elif method == "GET" and route == "/metrics":
                    self._send(200, server.metrics())
                elif method == "POST" and route in ("/v1/completions", "/v1/chat/completions"):
                    self._send(200, server.generate(self._body(), chat=route == "/v1/chat/completions"))
                elif route in ("/v1/models", "/v1/completions", "/v1/chat/completions", "/health", "/metrics"):
                    raise RequestError(f"Method {method} is not allowed for {route}.", status=405)
                else:
                    raise RequestError(f"Unknown route: {method} {route}.", status=404, code="not_found")
            except RequestError as error:
                self._error(error)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception:  # A server error must not kill the handler.
                log.exception("error serving %s %s", method, route)
                self._error(RequestError("The server failed to process the request.", status=500))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler
