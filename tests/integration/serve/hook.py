#!/usr/bin/env python3
"""hook.py - signed WhatsApp webhooks for the `banditore serve` integration
tests, shaped like reference/whatsapp-cloud-api.md section 4 (the object,
entry, changes, value, metadata, contacts, messages / statuses layout,
timestamps as strings, non-ASCII escaped as \\u00e8 like Meta's bytes).

The signature is HMAC-SHA256 of the exact bytes sent, with the secret in
BANDITORE_APP_SECRET (the same variable serve reads).

Usage (every command prints one line; exit 0 unless said otherwise):
  hook.py PORT msg FROM ID TEXT [--type T] [--ts S] [--sig good|forged|none]
        (--ts: the message's unix time; default now)
        one text message (or --type image/reaction/... with no text);
        prints the HTTP status
  hook.py PORT batch FILE [--sig ...]
        POST the JSON body in FILE as is (bytes) -> the status
  hook.py PORT raw FILE [--sig ...] [--truncate N]
        POST FILE's bytes, signed, optionally cut to N bytes AFTER signing
  hook.py PORT on-many N FIRST_NUMBER PREFIX OUT [--conns C] [--per-body K]
        [--text T]
        N messages "JESI ON" (or --text) from N numbers FIRST_NUMBER.., ids
        PREFIX-<i>, K per body, over C keep-alive connections; appends one
        line "<status> <first_index> <count>" per request to OUT as soon as
        its answer arrives (flushed), so a test that kills serve knows
        which bodies were acknowledged. Connection errors are written as
        status 0 and the sender stops.
  hook.py PORT get QUERY        GET /webhook?QUERY -> "<status> <body>"
Bodies can also be built by other tests: `import hook` and use envelope(),
message(), status().
"""
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time

PNID = "110000000000001"


def secret():
    return os.environ.get("BANDITORE_APP_SECRET", "").encode()


def sign(body, how="good"):
    if how == "none":
        return {}
    key = secret() if how == "good" else b"not-the-secret"
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()}


def message(frm, mid, text=None, ts=None, mtype="text"):
    ts = int(time.time()) if ts is None else ts
    m = {"from": str(frm), "id": mid, "timestamp": str(ts), "type": mtype}
    if mtype == "text":
        m["text"] = {"body": text}
    elif mtype == "image":
        m["image"] = {"mime_type": "image/jpeg", "sha256": "abc", "id": "1234"}
    elif mtype == "reaction":
        m["reaction"] = {"message_id": "wamid.x", "emoji": "\U0001f44d"}
    elif mtype == "button":
        m["button"] = {"text": text, "payload": text}
    return m


def status(sid, st, recipient, tag=None, ts=None, code=None):
    ts = int(time.time()) if ts is None else ts
    s = {"id": sid, "status": st, "timestamp": str(ts), "recipient_id": str(recipient)}
    if tag is not None:
        s["biz_opaque_callback_data"] = tag
    if st == "delivered":
        s["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular",
                        "category": "utility"}
    if code is not None:
        s["errors"] = [{"code": code, "title": "Message undeliverable",
                        "message": "Message undeliverable",
                        "error_data": {"details": "Recipient cannot receive this message."}}]
    return s


def envelope(messages=(), statuses=(), contacts=True, pnid=PNID, unknown=True):
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "390731000000", "phone_number_id": pnid}}
    if messages:
        if contacts:
            value["contacts"] = [{"profile": {"name": "Citt\u00e0dino"}, "wa_id": m["from"]}
                                 for m in messages]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "220000000000002",
                       "changes": [{"value": value, "field": "messages"}]}]}
    if unknown:
        body["entry"][0]["future_field"] = {"x": [1, 2]}   # unknown fields are ignored
    # Meta's bytes: non-ASCII as \u00e8 (ensure_ascii), compact separators.
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode()


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, body, how="good", cut=None):
        hdr = {"Content-Type": "application/json"}
        hdr.update(sign(body, how))
        if cut is not None:
            body = body[:cut]
        self.c.request("POST", "/webhook", body=body, headers=hdr)
        r = self.c.getresponse()
        data = r.read()
        return r.status, data

    def get(self, path):
        self.c.request("GET", path)
        r = self.c.getresponse()
        return r.status, r.read()


def opt(args, name, default=None):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return v
    return default


def on_many(port, n, first, prefix, out, conns, per, text):
    lock = threading.Lock()
    bodies = []
    for i in range(0, n, per):
        k = min(per, n - i)
        msgs = [message(first + j, "%s-%d" % (prefix, j), text) for j in range(i, i + k)]
        bodies.append((i, k, envelope(msgs)))
    nxt = [0]
    stop = [False]
    f = open(out, "a", buffering=1)

    def worker():
        c = Conn(port)
        while True:
            with lock:
                if stop[0] or nxt[0] >= len(bodies):
                    return
                i, k, body = bodies[nxt[0]]
                nxt[0] += 1
            try:
                st, _ = c.post(body)
            except Exception:
                with lock:
                    stop[0] = True
                    f.write("0 %d %d\n" % (i, k))
                return
            with lock:
                f.write("%d %d %d\n" % (st, i, k))
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    f.close()


def main():
    a = sys.argv[1:]
    port = int(a.pop(0))
    cmd = a.pop(0)
    how = opt(a, "--sig", "good")
    c = Conn(port)
    if cmd == "msg":
        mtype = opt(a, "--type", "text")
        ts = opt(a, "--ts")
        ts = int(ts) if ts is not None else None
        frm, mid, text = a[0], a[1], (a[2] if len(a) > 2 else None)
        st, _ = c.post(envelope([message(frm, mid, text, ts, mtype)]), how)
        print(st)
    elif cmd in ("batch", "raw"):
        cut = opt(a, "--truncate")
        body = open(a[0], "rb").read()
        st, _ = c.post(body, how, int(cut) if cut is not None else None)
        print(st)
    elif cmd == "on-many":
        conns = int(opt(a, "--conns", "4"))
        per = int(opt(a, "--per-body", "1"))
        text = opt(a, "--text", "JESI ON")
        on_many(port, int(a[0]), int(a[1]), a[2], a[3], conns, per, text)
    elif cmd == "get":
        st, body = c.get("/webhook?" + a[0])
        print(st, body.decode(errors="replace"))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
