#!/usr/bin/env bash
# test_openapi.sh - docs/openapi.json is a valid description of what
# `banditore serve` really does:
#   1. structure (python3 only, always): OpenAPI 3.0 fields, every $ref
#      resolves, path parameters declared, unique operationIds, a 2xx and a
#      description on every operation, `required` names only declared
#      properties, the /v1/ operations carry the bearer scheme and a 401;
#      plus openapi-spec-validator when it is installed (said either way);
#   2. routes: against a real serve (with wa-mock), every documented
#      path + method is routed (its answer is not 404/405) and every other
#      method on those paths is not (405), and paths outside the document
#      get 404;
#   3. answers: a scripted session (subscribe through signed webhooks, post,
#      list, read, cancel notices, handshake, health, metrics, every error
#      the document promises) is checked call by call: the status is one
#      the operation documents, the Content-Type matches, and a JSON body
#      validates against the documented schema (required fields, types,
#      enums, nullability, patterns, additionalProperties).
source "$(dirname "$0")/ops/lib.sh"
DOC=$SRC_DIR/docs/openapi.json
CHECK=$TMP/check.py

cat >"$CHECK" <<'PY'
import json, re, sys

doc = json.load(open(sys.argv[2]))
errors = []

def err(msg):
    errors.append(msg)

def resolve(ref):
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node

METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

def structure():
    if not str(doc.get("openapi", "")).startswith("3.0."):
        err("openapi must be 3.0.x")
    for k in ("title", "version"):
        if not doc.get("info", {}).get(k):
            err("info.%s missing" % k)
    if not doc.get("paths"):
        err("no paths")
    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(node["$ref"])
                except (KeyError, TypeError):
                    err("%s: $ref %s does not resolve" % (where, node["$ref"]))
            props = node.get("properties")
            req = node.get("required")
            if isinstance(req, list) and isinstance(props, dict):
                for r in req:
                    if r not in props:
                        err("%s: required %r is not a property" % (where, r))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s[%d]" % (where, i))
    walk(doc, "#")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    ops = set()
    for path, item in doc["paths"].items():
        if not path.startswith("/"):
            err("path %s does not start with /" % path)
        tparams = set(re.findall(r"{([^}]+)}", path))
        for m in METHODS:
            op = item.get(m)
            if op is None:
                continue
            oid = op.get("operationId")
            if not oid or oid in ops:
                err("%s %s: missing or duplicate operationId" % (m, path))
            ops.add(oid)
            params = [resolve(p["$ref"]) if "$ref" in p else p
                      for p in item.get("parameters", []) + op.get("parameters", [])]
            declared = {p["name"] for p in params if p.get("in") == "path"}
            if declared != tparams:
                err("%s %s: path parameters %s declared %s" % (m, path, sorted(tparams), sorted(declared)))
            for p in params:
                if p.get("in") == "path" and p.get("required") is not True:
                    err("%s %s: path parameter %s must be required" % (m, path, p["name"]))
            resps = op.get("responses", {})
            if not any(str(c).startswith("2") for c in resps):
                err("%s %s: no 2xx response" % (m, path))
            for code, r in resps.items():
                r = resolve(r["$ref"]) if "$ref" in r else r
                if not r.get("description"):
                    err("%s %s %s: no description" % (m, path, code))
            if path.startswith("/v1/"):
                sec = op.get("security", doc.get("security"))
                if not sec or not all(k in schemes for s in sec for k in s):
                    err("%s %s: no bearer security" % (m, path))
                if "401" not in resps:
                    err("%s %s: no 401 documented" % (m, path))
    return len(ops)

# ---- a small validator for the schema subset the document uses ----------
def validate(inst, schema, where, out):
    if "$ref" in schema:
        return validate(inst, resolve(schema["$ref"]), where, out)
    for sub in schema.get("allOf", []):
        validate(inst, sub, where, out)
    if inst is None:
        if not schema.get("nullable") and "type" in schema:
            out.append("%s: null but not nullable" % where)
        return
    t = schema.get("type")
    ok = {"object": lambda v: isinstance(v, dict),
          "array": lambda v: isinstance(v, list),
          "string": lambda v: isinstance(v, str),
          "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "boolean": lambda v: isinstance(v, bool)}
    if t and not ok[t](inst):
        out.append("%s: %r is not %s" % (where, inst, t))
        return
    if "enum" in schema and inst not in schema["enum"]:
        out.append("%s: %r not in %s" % (where, inst, schema["enum"]))
    if isinstance(inst, (int, float)) and not isinstance(inst, bool):
        if "minimum" in schema and inst < schema["minimum"]:
            out.append("%s: %r < %r" % (where, inst, schema["minimum"]))
        if "maximum" in schema and inst > schema["maximum"]:
            out.append("%s: %r > %r" % (where, inst, schema["maximum"]))
    if isinstance(inst, str):
        if "pattern" in schema and not re.search(schema["pattern"], inst):
            out.append("%s: %r does not match %s" % (where, inst, schema["pattern"]))
        if len(inst) < schema.get("minLength", 0) or len(inst) > schema.get("maxLength", 1 << 30):
            out.append("%s: length %d" % (where, len(inst)))
    if isinstance(inst, list):
        if len(inst) > schema.get("maxItems", 1 << 30):
            out.append("%s: %d items" % (where, len(inst)))
        for i, v in enumerate(inst):
            if "items" in schema:
                validate(v, schema["items"], "%s[%d]" % (where, i), out)
    if isinstance(inst, dict):
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in inst:
                out.append("%s: required %r missing" % (where, r))
        ap = schema.get("additionalProperties", True)
        for k, v in inst.items():
            if k in props:
                validate(v, props[k], where + "." + k, out)
            elif ap is False and not schema.get("allOf"):
                out.append("%s: unexpected property %r" % (where, k))
            elif isinstance(ap, dict):
                validate(v, ap, where + "." + k, out)
        if len(inst) > schema.get("maxProperties", 1 << 30):
            out.append("%s: too many properties" % where)

def match_path(path):
    for tmpl in doc["paths"]:
        rx = "^" + re.sub(r"{[^}]+}", "[^/]+", re.escape(tmpl).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        if re.match(rx, path):
            return tmpl
    return None

def answers(log):
    n = 0
    for line in open(log):
        c = json.loads(line)
        n += 1
        path = c["path"].split("?")[0]
        tmpl = match_path(path)
        where = "%s %s -> %s" % (c["method"], c["path"], c["status"])
        if tmpl is None:
            err("%s: path not in the document" % where)
            continue
        op = doc["paths"][tmpl].get(c["method"].lower())
        if op is None:
            err("%s: method not in the document" % where)
            continue
        r = op["responses"].get(str(c["status"]))
        if r is None:
            err("%s: status not documented (documented: %s)" % (where, sorted(op["responses"])))
            continue
        if c.get("expect") and str(c["status"]) != c["expect"]:
            err("%s: expected %s" % (where, c["expect"]))
        content = r.get("content")
        if not content:
            continue
        ctype, media = next(iter(content.items()))
        got = c["ctype"].split(";")[0].strip()
        if got != ctype.split(";")[0].strip():
            err("%s: Content-Type %r, documented %r" % (where, c["ctype"], ctype))
            continue
        if got == "application/json":
            try:
                body = json.loads(c["body"])
            except ValueError:
                err("%s: body is not JSON" % where)
                continue
            out = []
            validate(body, media["schema"], "body", out)
            for o in out:
                err("%s: %s" % (where, o))
    return n

def routes(probe_log, id_):
    doc_ops = set()
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item and m != "head":
                doc_ops.add((m.upper(), path))
    routed = set()
    seen = set()
    for line in open(probe_log):
        m, p, status, tmpl = line.split()
        seen.add((m, tmpl))
        if int(status) not in (404, 405, 501):
            routed.add((m, tmpl))
    for op in sorted(doc_ops - routed):
        err("documented but not routed: %s %s" % op)
    for op in sorted(routed - doc_ops):
        err("routed but not documented: %s %s" % op)
    return len(seen)

mode = sys.argv[1]
if mode == "structure":
    n = structure()
    print("structure: %d operations" % n)
elif mode == "answers":
    print("answers: %d calls checked" % answers(sys.argv[3]))
elif mode == "routes":
    print("routes: %d method+path pairs probed" % routes(sys.argv[3], sys.argv[4]))
for e in errors:
    print("ERROR: " + e)
sys.exit(1 if errors else 0)
PY

# ---- 1. structure --------------------------------------------------------
python3 "$CHECK" structure "$DOC" || fail "the document's structure"
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
	python3 -c 'import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))' "$DOC" \
		|| fail "openapi-spec-validator refused the document"
	echo "openapi-spec-validator: valid"
else
	echo "openapi-spec-validator: not installed (only the structural check above ran)"
fi

# ---- a session against the real serve ------------------------------------
start_stack oa -- --rate 1000 --window 64
CALLS=$TMP/calls.jsonl
# rec METHOD PATH [BODY [HEADER [EXPECT]]]: call (token unless TOKEN=""), log it
rec() {
	local m=$1 p=$2 b=${3:-} h=${4:-} e=${5:-} tok=${TOKEN-$BANDITORE_ADMIN_TOKEN}
	local args=(-s -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' -X "$m" --max-time 20)
	case "$p" in /v1/*) [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok") ;; esac
	[ -n "$b" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$b")
	[ -n "$h" ] && args+=(-H "$h")
	HTTP=$(curl "${args[@]}" "$URL$p") || HTTP=000
	BODY=$(cat "$TMP/b")
	python3 - "$m" "$p" "$HTTP" "$TMP/h" "$TMP/b" "$e" >>"$CALLS" <<'PY'
import json, sys
m, p, st, hf, bf, e = sys.argv[1:7]
ct = ""
for l in open(hf, encoding="latin-1"):
    if l.lower().startswith("content-type:"):
        ct = l.split(":", 1)[1].strip()
print(json.dumps({"method": m, "path": p, "status": int(st), "ctype": ct,
                  "body": open(bf, encoding="utf-8", errors="replace").read(), "expect": e}))
PY
	[ -z "$e" ] || [ "$HTTP" = "$e" ] || fail "$m $p: $HTTP, expected $e: $BODY"
}
body() { printf '%s' "$1" >"$TMP/req.json"; echo "$TMP/req.json"; }

subscribe 40 393350000100 --conns 4

rec GET /v1/subscribers "" "" 200
TOKEN="" rec GET /v1/subscribers "" "" 401
TOKEN=wrong rec POST /v1/notices "$(body '{"category":"info","text":"x"}')" "" 401
rec POST /v1/notices "$(body '{"category":"event","text":"Sagra della castagna","expiry":"2h"}')" \
	"Idempotency-Key: oa-1" 202
ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$BODY")
rec POST /v1/notices "$(body '{"category":"event","text":"Sagra della castagna","expiry":"2h"}')" \
	"Idempotency-Key: oa-1" 200
rec POST /v1/notices "$(body '{"category":"emergency","template":"allerta_meteo","parameters":["rossa","oggi"]}')" "" 202
ID2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$BODY")
rec POST /v1/notices "$(body '{"category":"alert","text":"x"}')" "" 400
rec POST /v1/notices "$(body '{"category":')" "" 400
python3 -c 'print("{\"category\":\"info\",\"text\":\"" + "x" * 70000 + "\"}")' >"$TMP/big.json"
rec POST /v1/notices "$TMP/big.json" "" 413
rec GET /v1/notices "" "" 200
rec GET "/v1/notices?state=running&limit=5" "" "" 200
rec GET "/v1/notices?state=nope" "" "" 400
wait_state "$ID2" done 30
rec GET "/v1/notices/$ID2" "" "" 200
rec GET "/v1/notices/n-20200101T000000-0000" "" "" 404
rec GET "/v1/notices/$ID" "" "" 200
api GET "/v1/notices/$ID"
case "$(jq_py "j['state']")" in done) ;; *)
	rec POST "/v1/notices/$ID/cancel" "" "" 200
	rec POST "/v1/notices/$ID/cancel" "$(body '{}')" "" 409 ;;
esac
rec POST "/v1/notices/$ID2/cancel" "" "" 409
rec POST "/v1/notices/n-20200101T000000-0000/cancel" "" "" 404
rec POST "/v1/notices/$ID2/cancel" "$(body '{"why":1}')" "" 400
rec POST "/v1/notices/$ID2/resume" "" "" 409
rec POST "/v1/notices/n-20200101T000000-0000/resume" "" "" 404
rec GET /healthz "" "" 200
rec GET /metrics "" "" 200
rec GET "/webhook?hub.mode=subscribe&hub.verify_token=$BANDITORE_VERIFY_TOKEN&hub.challenge=1158201444" "" "" 200
[ "$BODY" = 1158201444 ] || fail "handshake body: $BODY"
rec GET "/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1" "" "" 403
rec POST /webhook "$(body '{"object":"whatsapp_business_account","entry":[]}')" "" 401
printf 'not json' >"$TMP/nj"
SIG=$(python3 -c 'import hmac,hashlib,sys; print("sha256="+hmac.new(sys.argv[1].encode(),open(sys.argv[2],"rb").read(),hashlib.sha256).hexdigest())' "$BANDITORE_APP_SECRET" "$TMP/nj")
rec POST /webhook "$TMP/nj" "X-Hub-Signature-256: $SIG" 400
printf '{"object":"whatsapp_business_account","entry":[]}' >"$TMP/ok"
SIG=$(python3 -c 'import hmac,hashlib,sys; print("sha256="+hmac.new(sys.argv[1].encode(),open(sys.argv[2],"rb").read(),hashlib.sha256).hexdigest())' "$BANDITORE_APP_SECRET" "$TMP/ok")
rec POST /webhook "$TMP/ok" "X-Hub-Signature-256: $SIG" 200

# ---- 2. routes -------------------------------------------------------------
PROBE=$TMP/probe.txt
# What to probe: every path of the document, and every exact route the
# engine registers (httpd_route string literals in engine/*.c), so that a
# route added without documenting it is caught too.
DOC_PATHS=$(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["paths"]))' "$DOC")
SRC_PATHS=$(grep -ho 'httpd_route([^;]*"/[^"]*"' "$SRC_DIR"/engine/*.c | grep -o '"/[^"]*"' \
	| tr -d '"' | grep -v '/$' | sort -u)
[ -n "$SRC_PATHS" ] || fail "no httpd_route found in engine/*.c"
for tmpl in $(printf '%s\n%s\n' "$DOC_PATHS" "$SRC_PATHS" | sort -u); do
	p=${tmpl//\{id\}/$ID2}
	for m in GET POST PUT DELETE PATCH; do
		st=$(curl -s -o /dev/null -w '%{http_code}' -X "$m" --max-time 10 \
			-H "Authorization: Bearer $BANDITORE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
			--data-binary '{}' "$URL$p")
		echo "$m $p $st $tmpl" >>"$PROBE"
	done
done
python3 "$CHECK" routes "$DOC" "$PROBE" "$ID2" || { cat "$PROBE" >&2; fail "routes and document differ"; }
for p in / /v1 /v1/ /v1/other /v1/notices/$ID2/other /v1/subscribers/x /webhook/x /healthz/x \
	/metricsx /v2/notices; do
	st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BANDITORE_ADMIN_TOKEN" \
		--max-time 10 "$URL$p")
	[ "$st" = 404 ] || fail "GET $p: $st, expected 404 (not in the document)"
done

# ---- the API disabled: 503 -------------------------------------------------
stop_pid "$SERVE_PID" || fail "serve did not stop cleanly"
stop_pid "$MOCK_PID" || true
unset BANDITORE_ADMIN_TOKEN
start_stack oa -- --rate 1000
grep -q 'operator API disabled' "$TMP/oa.err" || fail "no log line saying the API is disabled"
TOKEN=anything rec GET /v1/subscribers "" "" 503
TOKEN=anything rec POST /v1/notices "$(body '{"category":"info","text":"x"}')" "" 503

# ---- 3. every answer against the document ---------------------------------
python3 "$CHECK" answers "$DOC" "$CALLS" || fail "answers differ from the document"
echo "openapi: ok"
