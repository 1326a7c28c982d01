"""A real HTTP server on loopback that replays provider wire bytes and records each request.

The SDK clients under test talk to it through ``base_url``: nothing of theirs is patched, so a test proves
both what our adapter parsed and what the SDK actually put on the wire.

    server.queue("openai_chat_stream.sse")            # next response: that fixture, streamed
    server.queue(status=401, body=b'{"error": ...}')   # or raw bytes
    ... call the provider ...
    server.requests[-1].json["messages"]               # what was sent
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WIRE = Path(__file__).parent / "wire"
TYPES = {".json": "application/json", ".sse": "text/event-stream", ".ndjson": "application/x-ndjson"}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0  # before the first byte (to test timeouts)
    chunk_delay_s: float = 0.0  # between chunks of a stream
    cut_after: int | None = None  # close the connection after this many chunks (a stream that breaks)


@dataclass
class Request:
    method: str
    path: str
    headers: dict  # names lower-cased
    body: bytes

    @property
    def json(self):
        return json.loads(self.body or b"null")


class WireServer:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # keep test output clean
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                reply = (
                    server.replies.popleft()
                    if server.replies
                    else Reply(500, b'{"error": {"message": "no reply queued"}}')
                )
                time.sleep(reply.delay_s)
                streaming = reply.content_type != "application/json"
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if streaming:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    pieces = reply.body.split(b"\n\n" if reply.content_type == "text/event-stream" else b"\n")
                    sep = b"\n\n" if reply.content_type == "text/event-stream" else b"\n"
                    for i, piece in enumerate(p for p in pieces if p.strip()):
                        if reply.cut_after is not None and i >= reply.cut_after:
                            self.wfile.flush()
                            self.close_connection = True
                            return  # connection drops mid-stream: no terminating chunk
                        data = piece + sep
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        time.sleep(reply.chunk_delay_s)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def queue(
        self,
        fixture: str | None = None,
        *,
        status: int = 200,
        body: bytes | None = None,
        content_type: str | None = None,
        **kw,
    ) -> "WireServer":
        if fixture:
            path = WIRE / fixture
            body = path.read_bytes()
            content_type = content_type or TYPES[path.suffix]
        self.replies.append(Reply(status, body or b"", content_type or "application/json", **kw))
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
