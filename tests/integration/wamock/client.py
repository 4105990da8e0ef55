#!/usr/bin/env python3
"""client.py - send template messages to wa-mock over keep-alive HTTP and
print one line per request: "INDEX HTTP CODE WAMID TAG", where HTTP is the
status or RESET / TIMEOUT / ERROR, CODE is error.code (0 for a 200) and
WAMID is "-" unless accepted. Used by tests/integration/test_wamock_*.sh.

Recipients are +39335 followed by the 7-digit index (or --to for all),
tags are PREFIX + index. With --threads K, K connections send interleaved
indices; with one thread the order of requests is the index order, which
the reproducibility test relies on.
"""
import argparse
import http.client
import json
import socket
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--path", default="/v25.0/110000000000001/messages")
    ap.add_argument("--to", default=None, help="one recipient for every request")
    ap.add_argument("--template", default="notice")
    ap.add_argument("--params", type=int, default=1)
    ap.add_argument("--tag-prefix", default="n=1;s=")
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()

    lock = threading.Lock()
    out = []

    def body(i):
        to = a.to or "+39335%07d" % i
        params = [{"type": "text", "text": "p%d" % k} for k in range(a.params)]
        return json.dumps({
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": to, "type": "template",
            "template": {"name": a.template, "language": {"code": "it"},
                         "components": [{"type": "body", "parameters": params}]},
            "biz_opaque_callback_data": a.tag_prefix + str(i),
        })

    def worker(t):
        conn = None
        for i in range(a.start + t, a.start + a.count, a.threads):
            tag = a.tag_prefix + str(i)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
            try:
                conn.request("POST", a.path, body=body(i), headers={
                    "Authorization": "Bearer " + a.token,
                    "Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                j = json.loads(data)
                if r.status == 200:
                    line = "%d 200 0 %s %s" % (i, j["messages"][0]["id"], tag)
                else:
                    line = "%d %d %d - %s" % (i, r.status, j["error"]["code"], tag)
            except (ConnectionResetError, http.client.RemoteDisconnected,
                    BrokenPipeError, ConnectionAbortedError):
                line = "%d RESET 0 - %s" % (i, tag)
                conn.close()
                conn = None
            except (socket.timeout, TimeoutError):
                line = "%d TIMEOUT 0 - %s" % (i, tag)
                conn.close()
                conn = None
            except (OSError, ValueError, KeyError) as e:
                line = "%d ERROR 0 - %s %s" % (i, tag, type(e).__name__)
                if conn:
                    conn.close()
                conn = None
            with lock:
                out.append((i, line))
                print(line, flush=True)
        if conn:
            conn.close()

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


if __name__ == "__main__":
    sys.exit(main())
