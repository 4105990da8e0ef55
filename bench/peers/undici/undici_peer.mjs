// undici_peer.mjs - the Node.js peer of bench/scenario_fanout.sh: what a team
// would otherwise pick to push one request per recipient. An undici Pool of
// CONNS keep-alive HTTP/1.1 connections (no pipelining) to the same nginx,
// CONNS requests in flight (each worker awaits its answer and sends the
// next), COUNT requests in all, each the same POST bench_curl_bare.c sends
// (same body and headers); the answer's body is read and dropped, as the
// bare loop does.
//
//   node undici_peer.mjs --url URL --conns N --count M [--ca PEM]
//
// URL is the full endpoint (origin + path); for https:// the server's
// certificate is verified against PEM (the scenario's own CA). Prints one JSON object with the
// bare loop's fields (prog, conns, count, ok, bad, secs, msgs_per_s,
// cpu_us_per_msg from process.cpuUsage() over the run, maxrss_kb from
// process.resourceUsage().maxRSS) and exits 1 unless every one of the M
// requests got a 200.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const BODY = Buffer.from(
  '{"messaging_product":"whatsapp","recipient_type":"individual",' +
  '"to":"+393350000001","type":"template","template":{"name":"allerta_meteo",' +
  '"language":{"code":"it"},"components":[{"type":"body","parameters":' +
  '[{"type":"text","text":"Allerta meteo arancione: domenica 12 ottobre"}]}]},' +
  '"biz_opaque_callback_data":"n=1;s=1"}');
const HEADERS = {
  'authorization': 'Bearer bench-token',
  'content-type': 'application/json',
  'accept': 'application/json',
  'user-agent': 'banditore/0.1',
};

function args(argv) {
  const a = { url: null, conns: 64, count: 200000, ca: null };
  for (let i = 2; i + 1 < argv.length; i += 2) {
    if (argv[i] === '--url') a.url = argv[i + 1];
    else if (argv[i] === '--conns') a.conns = parseInt(argv[i + 1], 10);
    else if (argv[i] === '--count') a.count = parseInt(argv[i + 1], 10);
    else if (argv[i] === '--ca') a.ca = readFileSync(argv[i + 1]);
  }
  return a;
}

const a = args(process.argv);
if (!a.url || !(a.conns >= 1) || !(a.count >= 1)) {
  console.error('usage: node undici_peer.mjs --url URL --conns N --count M');
  process.exit(2);
}
const u = new URL(a.url);
const path = u.pathname + u.search;
const pool = new Pool(u.origin, {
  connections: a.conns,
  pipelining: 1,
  keepAliveTimeout: 300e3,
  headersTimeout: 15e3,
  bodyTimeout: 15e3,
  ...(a.ca ? { connect: { ca: a.ca } } : {}),
});

let started = 0, ok = 0, bad = 0;
let firstError = null;

async function worker() {
  while (started < a.count) {
    started++;
    try {
      const { statusCode, body } = await pool.request({
        path, method: 'POST', headers: HEADERS, body: BODY,
      });
      await body.dump();
      if (statusCode === 200) ok++;
      else bad++;
    } catch (e) {
      bad++;
      if (!firstError) firstError = String(e);
    }
  }
}

const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: a.conns }, worker));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const maxrss = process.resourceUsage().maxRSS;
await pool.close();
const out = {
  prog: 'undici', conns: a.conns, count: a.count, ok, bad,
  secs: +secs.toFixed(4),
  msgs_per_s: +(a.count / secs).toFixed(1),
  cpu_us_per_msg: +((cpu.user + cpu.system) / a.count).toFixed(3),
  maxrss_kb: maxrss,
};
if (firstError) out.first_error = firstError;
console.log(JSON.stringify(out));
process.exit(ok === a.count ? 0 : 1);
