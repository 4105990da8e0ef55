#!/usr/bin/env python3
"""receiver.py - a webhook receiver for wa-mock's status webhooks, standing
in for `banditore serve`. It binds 127.0.0.1 on a free port (written to
PORT_FILE), verifies X-Hub-Signature-256 over the raw body with the app
secret (constant-time compare), answers the first FAIL_FIRST POSTs with 500
(to exercise retries), and appends one JSON line per POST to OUT:
  {"sig_ok": bool, "status": answered, "n": statuses, "raw_ascii": bool,
   "ua": user agent, "body": parsed body}
GET requests are the verification handshake: answered with hub.challenge
when hub.verify_token matches VERIFY (else 403), and logged as
  {"get": query dict, "status": answered}
Usage: receiver.py PORT_FILE OUT SECRET FAIL_FIRST [VERIFY]
"""
import hashlib
import hmac
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, out_path, secret, fail_first = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
verify = sys.argv[5] if len(sys.argv) > 5 else None
lock = threading.Lock()
posts = 0


def log(obj):
    with lock:
        with open(out_path, "a") as f:
            f.write(json.dumps(obj) + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
        ok = verify is not None and q.get("hub.mode") == "subscribe" and \
            q.get("hub.verify_token") == verify
        status = 200 if ok else 403
        log({"get": q, "status": status})
        self.answer(status, q.get("hub.challenge", "").encode() if ok else b"")

    def do_POST(self):
        global posts
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        sig = self.headers.get("X-Hub-Signature-256", "")
        want = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
        sig_ok = hmac.compare_digest(sig, want)
        with lock:
            posts += 1
            n = posts
        status = 500 if n <= fail_first else (200 if sig_ok else 401)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        statuses = []
        if body:
            for e in body.get("entry", []):
                for c in e.get("changes", []):
                    statuses += c.get("value", {}).get("statuses", [])
        log({"sig_ok": sig_ok, "status": status, "n": len(statuses),
             "raw_ascii": all(b < 128 for b in raw), "ua": self.headers.get("User-Agent"),
             "raw_has_escapes": b"caf\\u00e9\\/" in raw, "body": body})
        self.answer(status)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
