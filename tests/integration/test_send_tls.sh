#!/usr/bin/env bash
# test_send_tls.sh - banditore send over https, as in production (the Graph
# API is TLS only): nginx terminates TLS on 127.0.0.1 with a certificate made
# here and passes the requests to wa-mock. Both HTTP clients (native h1 and
# libcurl) reach every subscriber once, trusting the certificate through
# SSL_CERT_FILE; without it (the system's CAs) the handshake is refused,
# nothing reaches wa-mock, and the recipients end failed, not skipped.
source "$(dirname "$0")/sender/lib.sh"
command -v nginx >/dev/null || fail "nginx is not installed (tools/deps.sh installs it)"
command -v openssl >/dev/null || fail "openssl is not installed"

D=$TMP/data
people "$D" 2000 11
start_mock m --rate 0 --record "$TMP/rec.jsonl"
MOCK_PORT=${MOCK_URL##*:}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=banditore test" -addext "subjectAltName=IP:127.0.0.1" \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.err" ||
	fail "openssl req: $(cat "$TMP/openssl.err")"

start_tls_proxy() {
	local try
	mkdir -p "$TMP/nginx"
	for try in 1 2 3 4 5; do
		TLS_PORT=$(free_port)
		cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $TMP/nginx/error.log warn;
pid $TMP/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$TLS_PORT ssl;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
		nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx/start.err" &
		NGINX_PID=$!
		PIDS+=("$NGINX_PID")
		local i
		for ((i = 0; i < 50; i++)); do
			if curl -s --max-time 1 --cacert "$TMP/cert.pem" -o /dev/null \
				"https://127.0.0.1:$TLS_PORT/mock/stats"; then
				return 0
			fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$NGINX_PID" TERM 5 || true
	done
	fail "nginx (TLS) did not start: $(cat "$TMP/nginx/start.err" "$TMP/nginx/error.log" 2>/dev/null | tail -3)"
}
start_tls_proxy
API=https://127.0.0.1:$TLS_PORT
note "nginx TLS on $API in front of wa-mock on $MOCK_URL"

for http in native curl; do
	before=$(wc -l <"$TMP/rec.jsonl")
	SSL_CERT_FILE=$TMP/cert.pem bnd --data "$D" send --api-base "$API" --http "$http" \
		--category info --text "Prova TLS $http" --rate 0 --json \
		>"$TMP/$http.json" 2>"$TMP/$http.err" || fail "send --http $http over TLS: $(tail -3 "$TMP/$http.err")"
	after=$(wc -l <"$TMP/rec.jsonl")
	[ "$(jget "$TMP/$http.json" "j['accepted']")" = 2000 ] || fail "$http: accepted $(jget "$TMP/$http.json" "j['accepted']")"
	[ $((after - before)) = 2000 ] || fail "$http: wa-mock recorded $((after - before)) of 2000"
	check_record "$TMP/rec.jsonl" "$TMP/$http.json" --people "$TMP/people.2000.txt" >&2
done

# Not trusted: the system's CAs do not know our certificate. Nothing may
# reach wa-mock; every recipient ends failed (after the retry budget), none
# is skipped or reported accepted.
people "$TMP/d2" 5 12
for http in native curl; do
	before=$(wc -l <"$TMP/rec.jsonl")
	rc=0
	env -u SSL_CERT_FILE "$BANDITORE_BIN" --data "$TMP/d2" send --api-base "$API" --http "$http" \
		--category info --text "non fidato" --rate 0 --retry-base 100ms --retry-cap 200ms \
		--retry-budget 1s --json >"$TMP/untrusted.$http.json" 2>"$TMP/untrusted.$http.err" || rc=$?
	after=$(wc -l <"$TMP/rec.jsonl")
	[ "$after" = "$before" ] || fail "$http: an untrusted server received $((after - before)) messages"
	[ "$(jget "$TMP/untrusted.$http.json" "j['failed']")" = 5 ] ||
		fail "$http: untrusted: $(cat "$TMP/untrusted.$http.json") (exit $rc)"
	[ "$(jget "$TMP/untrusted.$http.json" "j['accepted']")" = 0 ] || fail "$http: accepted"
	note "$http untrusted: exit $rc, $(jget "$TMP/untrusted.$http.json" "j['failed_by_code']")"
done
echo "ok: send over TLS, native and curl, 2000 each; an untrusted certificate reaches no one"
