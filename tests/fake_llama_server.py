"""A stand-in for llama-server, for the supervisor and routing tests: a tiny HTTP server speaking the OpenAI SSE
format. It takes llama-server's connection arguments (``--host``, ``--port``, ``--api-key-file``; others ignored),
answers ``GET /health``, ``GET /v1/models`` and ``POST /v1/chat/completions`` (streamed or not), and checks the
bearer key. Each reply says which server answered (``port=N``) and whether a JSON schema came with the request.

    python tests/fake_llama_server.py --host 127.0.0.1 --port 8080 [--api-key-file F] [--delay 0.05]
        [--fail 500]      # every chat request answers HTTP 500 (an engine in trouble)
        [--cut-after 1]   # a stream stops after N pieces, with no finish reason (an engine that died mid-reply)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-key-file")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds between streamed pieces")
    ap.add_argument("--fail", type=int, default=0, help="answer every chat request with this HTTP status")
    ap.add_argument("--cut-after", type=int, default=-1, help="end a stream after N pieces, without finishing")
    args, _ = ap.parse_known_args(argv)
    key = open(args.api_key_file).read().strip() if args.api_key_file else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            if key is None or self.headers.get("Authorization") == f"Bearer {key}":
                return True
            self._send(401, b'{"error": {"message": "Invalid API Key", "type": "authentication_error"}}')
            return False

        def do_GET(self):
            if self.path in ("/health", "/v1/health"):
                return self._send(200, b'{"status": "ok"}')
            if self.path == "/v1/models" and self._authorized():
                return self._send(
                    200,
                    json.dumps(
                        {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "test"}]}
                    ).encode(),
                )
            self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if self.path != "/v1/chat/completions":
                return self._send(404, b'{"error": {"message": "not found"}}')
            if not self._authorized():
                return
            if args.fail:
                return self._send(args.fail, b'{"error": {"message": "engine failure (test)", "type": "server_error"}}')
            schema = (body.get("response_format") or {}).get("type") == "json_schema"
            pieces = [f"port={args.port}", " schema=" + ("yes" if schema else "no"), " ok"]
            usage = {"prompt_tokens": 7, "completion_tokens": len(pieces), "total_tokens": 7 + len(pieces)}
            if not body.get("stream"):
                return self._send(
                    200,
                    json.dumps(
                        {
                            "id": "c1",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body.get("model"),
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "".join(pieces)},
                                }
                            ],
                            "usage": usage,
                        }
                    ).encode(),
                )
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()

            def event(obj: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                self.wfile.flush()

            base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model")}
            for i, p in enumerate(pieces):
                if i == args.cut_after:
                    self.close_connection = True
                    return  # the connection closes with no finish reason and no [DONE]
                time.sleep(args.delay)
                event(base | {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
            event(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            event(base | {"choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
