"""A webhook receiver: verifies each event's signature and prints it. Standard library only.

    WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py [PORT]

The engine signs ``f"{t}.{body}"`` with HMAC-SHA256 and the endpoint's secret and sends
``Payout-Signature: t=<unix seconds>,v1=<hex digest>``. Answer 2xx quickly; anything
else (or no answer within the timeout) is retried. Delivery is at least once: the same
event may come twice, with the same ``id``, so remember the ids already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("WEBHOOK_SECRET", "")
TOLERANCE_S = 300  # refuse signatures older than this: a captured request replayed later
seen: set[str] = set()
printing = threading.Lock()  # one whole line per event, whichever thread prints


def verified(header: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > TOLERANCE_S:
        return False
    expected = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verified(self.headers.get("Payout-Signature", ""), body):
            print("refused: bad signature", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        event = json.loads(body)
        data = event["data"]
        what = " ".join(f"{k}={v}" for k, v in data.items() if v is not None)
        with printing:
            again = " (again)" if event["id"] in seen else ""
            seen.add(event["id"])
            print(f"verified {event['id']} {event['type']}{again}: {what}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per event is printed above


if __name__ == "__main__":
    if not SECRET:
        sys.exit("set WEBHOOK_SECRET to the secret createWebhookEndpoint returned")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
