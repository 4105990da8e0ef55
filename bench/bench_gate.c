/*
 * bench_gate.c - the deterministic workloads of the CI performance gate
 * (bench/gate.sh, docs/BENCH-GATE.md). Not a throughput benchmark: each run
 * does one fixed amount of work on seeded data, with no clock anywhere, so
 * that callgrind's instruction count of the measured region is the same
 * on every run of the same build.
 *
 *   bench_gate WORKLOAD [--n N] [--seed S] [--dir DIR]
 *
 * WORKLOAD (one hot path each; "op" is the unit the gate divides by):
 *   store_append    N store_append(CONFIRMED, 40-byte source id) into a
 *                   fresh store whose index was sized first (store_reserve):
 *                   record encoding, checksum, buffering, index insert, the
 *                   source-id window. op = one append.
 *   store_get       N store_get on a store of N numbers, shuffled, 3 of 4
 *                   hits and 1 of 4 misses. op = one lookup.
 *   store_scan      store_confirmed_snapshot of a store of N numbers (90%
 *                   confirmed, 5% requested, 5% unsubscribed) and one pass
 *                   over it. op = one confirmed number.
 *   cmd_parse       N messages of a seeded mix of commands in many spellings
 *                   and Italian chat through cmd_parse. op = one message.
 *   webhook_msg     N signed single-message bodies (one "JESI ON"-like text
 *                   each, as WhatsApp posts them): webhook_verify_signature
 *                   + webhook_parse walking the event. op = one body.
 *   webhook_status  N/10 signed bodies of 10 status updates each: verify +
 *                   parse. op = one status event.
 *   wareq           N template request bodies (wareq_build) for distinct
 *                   recipients with their notice tag and an Italian text
 *                   parameter. op = one request body.
 *   waerr           N API responses (94% success with wamid, the rest
 *                   130429, 131026, 131049, 131000 errors): waerr_parse +
 *                   the outcome (waerr_lookup). op = one response.
 *   h1resp          N HTTP/1.1 responses as wa-mock and the Graph API send
 *                   them (status line, 6 headers, a 190-byte JSON body; one
 *                   in 8 chunked), framed by the native client's parser
 *                   (h1_parse_response: http_parser + the header and body
 *                   callbacks), cut in two reads at a seeded point. op = one
 *                   response.
 * The fan-out (banditore send) is measured by gate.sh itself; for it,
 *   bench_gate numbers --n N [--seed S]
 * prints N distinct Italian mobile numbers (digits, one a line, seeded) to
 * import as its subscribers.
 *
 * Measured region: setup (generating numbers and bodies, opening and
 * filling stores) runs uninstrumented; only the loop over the operations is
 * counted, between
 *   CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT;
 * and the same in reverse. gate.sh runs this under
 *   valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no
 * (outside valgrind the macros do nothing). Checking the results happens
 * after the region. Each workload checks its own result counts and exits 3
 * on a mismatch (bh_check), so a broken fast path cannot give a figure.
 *
 * Output: one line on stdout, "workload NAME ops N" (gate.sh divides the
 * instruction total by N).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <valgrind/callgrind.h>

#include "bnd.h"
#include "cmd.h"
#include "harness.h"
#include "notice.h"
#include "phone.h"
#include "store.h"
#include "h1.h"
#include "waerr.h"
#include "wareq.h"
#include "webhook.h"

/* Start and stop of the measured region (see the top comment). Kept as
 * macros so that nothing but the client requests sits at the edges. */
#define REGION_BEGIN()                        \
	do {                                      \
		CALLGRIND_START_INSTRUMENTATION;      \
		CALLGRIND_TOGGLE_COLLECT;             \
	} while (0)
#define REGION_END()                          \
	do {                                      \
		CALLGRIND_TOGGLE_COLLECT;             \
		CALLGRIND_STOP_INSTRUMENTATION;       \
	} while (0)

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_gate: %s: %s\n", what, bnd_strerror(rc));
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("malloc", BND_E_NOMEM);
	return p;
}

struct params {
	size_t n;
	uint64_t seed;
	const char *dir;
};

/* ------------------------------------------------------------------ store */

/* A message id shaped like a wamid, SRC_LEN bytes, distinct per i, into
 * buf (64 bytes; NUL-terminated). Returns its length. */
#define SRC_LEN 40
static size_t make_src(uint8_t *buf, uint64_t seed, uint64_t i)
{
	int k = snprintf((char *)buf, 64, "wamid.HBgM%014" PRIx64 "%016" PRIx64, (uint64_t)(seed & 0xffffffffffffull), i);
	return (size_t)k;
}

static struct store *store_fresh(const struct params *p, size_t reserve)
{
	struct store_opts o = { .flags = STORE_CREATE, .holder = "bench_gate" };
	struct store *s = NULL;
	int rc = store_open(&s, p->dir, &o, NULL);
	if (rc)
		die("store_open (the directory must be new or empty)", rc);
	if (reserve && (rc = store_reserve(s, reserve)))
		die("store_reserve", rc);
	return s;
}

static const uint64_t T0_MS = 1760263200000ull;   /* 2025-10-12, fixed */

static enum sub_state state_of(size_t i)
{
	/* 90% confirmed, 5% requested, 5% unsubscribed, by position */
	size_t r = i % 20;
	return r == 0 ? SUB_REQUESTED : r == 1 ? SUB_UNSUBSCRIBED : SUB_CONFIRMED;
}

static size_t fill(struct store *s, const struct params *p, const uint64_t *num, size_t n,
                   int mixed)
{
	uint8_t src[64];
	size_t confirmed = 0;
	for (size_t i = 0; i < n; i++) {
		size_t sl = make_src(src, p->seed, i);
		enum sub_state st = mixed ? state_of(i) : SUB_CONFIRMED;
		int rc = store_append(s, num[i], st, T0_MS + i, src, sl, NULL);
		if (rc)
			die("store_append", rc);
		confirmed += st == SUB_CONFIRMED;
	}
	return confirmed;
}

static size_t wl_store_append(const struct params *p)
{
	uint64_t *num;
	/* one extra number, appended before the region: the source-id window
	 * (6 MiB) is allocated with the first source id, once per store */
	if (bh_gen_it_mobiles(p->seed, p->n + 1, &num, 0, NULL))
		die("generating numbers", BND_E_NOMEM);
	/* the source ids, 40 bytes each, back to back (no NULs) */
	uint8_t *src = xmalloc(p->n * SRC_LEN);
	for (size_t i = 0; i < p->n; i++) {
		uint8_t one[64];
		if (make_src(one, p->seed, i + 1) != SRC_LEN)
			die("make_src", BND_E_RANGE);
		memcpy(src + i * SRC_LEN, one, SRC_LEN);
	}
	struct store *s = store_fresh(p, p->n + 1);
	uint8_t first[64];
	size_t fl = make_src(first, p->seed, 0);
	int rc = store_append(s, num[p->n], SUB_CONFIRMED, T0_MS, first, fl, NULL);
	if (rc)
		die("store_append", rc);
	int bad = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < p->n; i++)
		bad |= store_append(s, num[i], SUB_CONFIRMED, T0_MS + i, src + i * SRC_LEN, SRC_LEN,
		                    NULL);
	REGION_END();
	bh_check(bad == 0, "store_append failures", bad, 0);
	struct store_counts c;
	store_count(s, &c);
	bh_check(c.by_state[SUB_CONFIRMED] == p->n + 1, "confirmed after appends",
	         (long long)c.by_state[SUB_CONFIRMED], (long long)p->n + 1);
	if ((rc = store_close(&s)))
		die("store_close", rc);
	free(num);
	free(src);
	return p->n;
}

static size_t wl_store_get(const struct params *p)
{
	size_t n_miss = p->n / 4, n_hit = p->n - n_miss;
	uint64_t *num, *miss;
	if (bh_gen_it_mobiles(p->seed, p->n, &num, n_miss, &miss))
		die("generating numbers", BND_E_NOMEM);
	struct store *s = store_fresh(p, p->n);
	fill(s, p, num, p->n, 0);
	/* the queries: the first n_hit stored numbers and n_miss others,
	 * shuffled together with a fixed seed */
	uint64_t *q = xmalloc(p->n * sizeof *q);
	memcpy(q, num, n_hit * sizeof *q);
	memcpy(q + n_hit, miss, n_miss * sizeof *q);
	struct bh_rng r;
	bh_rng_seed(&r, p->seed ^ 0x5eed);
	bh_shuffle(&r, q, p->n);
	enum sub_state *st = xmalloc(p->n * sizeof *st);
	int bad = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < p->n; i++)
		bad |= store_get(s, q[i], &st[i], NULL);
	REGION_END();
	bh_check(bad == 0, "store_get failures", bad, 0);
	size_t hits = 0;
	for (size_t i = 0; i < p->n; i++)
		hits += st[i] == SUB_CONFIRMED;
	bh_check(hits == n_hit, "store_get hits", (long long)hits, (long long)n_hit);
	int rc = store_close(&s);
	if (rc)
		die("store_close", rc);
	free(num);
	free(miss);
	free(q);
	free(st);
	return p->n;
}

static size_t wl_store_scan(const struct params *p)
{
	uint64_t *num;
	if (bh_gen_it_mobiles(p->seed, p->n, &num, 0, NULL))
		die("generating numbers", BND_E_NOMEM);
	struct store *s = store_fresh(p, p->n);
	size_t want = fill(s, p, num, p->n, 1);
	uint64_t *snap = NULL;
	size_t n = 0, ascending = 0;
	uint64_t sum = 0;
	REGION_BEGIN();
	int rc = store_confirmed_snapshot(s, &snap, &n);
	for (size_t i = 0; i < n; i++) {
		sum += snap[i];
		ascending += i == 0 || snap[i] > snap[i - 1];
	}
	REGION_END();
	if (rc)
		die("store_confirmed_snapshot", rc);
	bh_check(n == want, "confirmed in the snapshot", (long long)n, (long long)want);
	bh_check(ascending == n, "ascending numbers", (long long)ascending, (long long)n);
	uint64_t want_sum = 0;
	for (size_t i = 0; i < p->n; i++)
		if (state_of(i) == SUB_CONFIRMED)
			want_sum += num[i];
	bh_check(sum == want_sum, "sum of the snapshot", (long long)(sum % 1000000007),
	         (long long)(want_sum % 1000000007));
	bnd_free(snap);
	if ((rc = store_close(&s)))
		die("store_close", rc);
	free(num);
	return n;
}

/* ------------------------------------------------------------------ cmd */

struct cmd_tmpl {
	const char *s;
	enum cmd_verb v;
};

/* What a city number receives: commands in the spellings citizens use and
 * ordinary chat, some of it starting with vocabulary words. The labels are
 * the verbs docs/COMMANDS.md gives them (tests/unit/test_cmd.c checks the
 * same cases). */
static const struct cmd_tmpl cmd_mix[] = {
	{ "JESI ON", CMD_ON },
	{ "Jesi on", CMD_ON },
	{ "jesi on!", CMD_ON },
	{ "JESION", CMD_ON },
	{ "Jesi s\xc3\xac", CMD_ON },
	{ "JESI ISCRIVIMI", CMD_ON },
	{ "Buongiorno, JESI ON grazie", CMD_ON },
	{ "\xe2\x80\x9cJESI ON\xe2\x80\x9d", CMD_ON },
	{ "\xef\xbc\xaa\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa9\xe3\x80\x80\xef\xbc\xaf\xef\xbc\xae", CMD_ON },
	{ "Buongiorno vorrei iscrivermi al servizio JESI ON grazie", CMD_ON },
	{ "JESI OFF", CMD_OFF },
	{ "STOP", CMD_OFF },
	{ "Basta messaggi", CMD_OFF },
	{ "Cancellami dalla lista, grazie", CMD_OFF },
	{ "unsubscribe", CMD_OFF },
	{ "HELP", CMD_HELP },
	{ "Info", CMD_HELP },
	{ "JESI", CMD_HELP },
	{ "JESI ON JESI OFF", CMD_CONFLICT },
	{ "Ok grazie", CMD_NONE },
	{ "\xf0\x9f\x91\x8d", CMD_NONE },
	{ "Buongiorno, volevo sapere se domani le scuole sono chiuse per l'allerta meteo. Grazie",
	  CMD_NONE },
	{ "Stop al traffico in via Roma da quando?", CMD_NONE },
	{ "Grazie per l'avviso, ma la strada \xc3\xa8 ancora chiusa?", CMD_NONE },
	{ "Info sulla raccolta differenziata: il marted\xc3\xac passa la plastica?", CMD_NONE },
	{ "\xf0\x9f\x98\xa1\xf0\x9f\x98\xa1 basta con questi avvisi alle 7 di mattina", CMD_NONE },
	{ "Sono di Jesi ma abito fuori, posso iscrivermi lo stesso?", CMD_NONE },
	{ "Non voglio pi\xc3\xb9 messaggi", CMD_NONE },
	{ "Ciao Jesi! \xf0\x9f\x8e\x89 Bellissima festa ieri sera", CMD_NONE },
	{ "Vorrei segnalare un lampione spento in via Mazzini angolo via Cavour, \xc3\xa8 buio "
	  "da giorni e di sera \xc3\xa8 pericoloso per chi passa a piedi.", CMD_NONE },
};
#define CMD_MIX_N (sizeof cmd_mix / sizeof cmd_mix[0])

static size_t wl_cmd_parse(const struct params *p)
{
	struct cmd_grammar g;
	int rc = cmd_grammar_init(&g, (const uint8_t *)"JESI", 4);
	if (rc)
		die("cmd_grammar_init", rc);
	/* the sequence: a seeded uniform draw from the mix (19 commands, 11
	 * chat or not-a-command texts) */
	const struct cmd_tmpl **seq = xmalloc(p->n * sizeof *seq);
	size_t *len = xmalloc(p->n * sizeof *len);
	uint64_t want[5] = { 0 }, got[5] = { 0 };
	struct bh_rng r;
	bh_rng_seed(&r, p->seed);
	for (size_t i = 0; i < p->n; i++) {
		seq[i] = &cmd_mix[bh_rng_below(&r, CMD_MIX_N)];
		len[i] = strlen(seq[i]->s);
		want[seq[i]->v]++;
	}
	struct cmd_result *res = xmalloc(p->n * sizeof *res);
	int bad = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < p->n; i++)
		bad |= cmd_parse(&g, (const uint8_t *)seq[i]->s, len[i], &res[i]);
	REGION_END();
	bh_check(bad == 0, "cmd_parse failures", bad, 0);
	for (size_t i = 0; i < p->n; i++)
		got[res[i].verb]++;
	for (int v = 0; v < 5; v++)
		bh_check(got[v] == want[v], cmd_verb_name((enum cmd_verb)v), (long long)got[v],
		         (long long)want[v]);
	free(seq);
	free(len);
	free(res);
	return p->n;
}

/* ------------------------------------------------------------------ webhook */

#define ENV_HEAD                                                                     \
	"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"220000000000002\"," \
	"\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":"          \
	"{\"display_phone_number\":\"390731000000\",\"phone_number_id\":\"110000000000001\"},"
#define ENV_TAIL "},\"field\":\"messages\"}]}]}"

static const uint8_t SECRET[] = "gate-app-secret-0123456789abcdef";

struct bodies {
	char *text;          /* all bodies, back to back */
	size_t *off, *len;
	char (*sig)[WEBHOOK_SIG_LEN + 1];
	size_t n;
};

static void bodies_alloc(struct bodies *b, size_t n, size_t each)
{
	b->text = xmalloc(n * each);
	b->off = xmalloc(n * sizeof *b->off);
	b->len = xmalloc(n * sizeof *b->len);
	b->sig = xmalloc(n * sizeof *b->sig);
	b->n = n;
}

static void bodies_free(struct bodies *b)
{
	free(b->text);
	free(b->off);
	free(b->len);
	free(b->sig);
}

static void bodies_sign(struct bodies *b)
{
	for (size_t i = 0; i < b->n; i++) {
		int rc = webhook_sign(SECRET, sizeof SECRET - 1, (const uint8_t *)b->text + b->off[i],
		                      b->len[i], b->sig[i]);
		if (rc)
			die("webhook_sign", rc);
	}
}

struct ev_tally {
	uint64_t messages, statuses, text_bytes, sum;
};

static int on_event(const struct webhook_event *ev, void *ud)
{
	struct ev_tally *t = ud;
	if (ev->kind == WEBHOOK_EV_MESSAGE) {
		t->messages++;
		t->text_bytes += ev->msg.text_len;
		t->sum += ev->msg.from;
	} else if (ev->kind == WEBHOOK_EV_STATUS) {
		t->statuses++;
		t->sum += ev->st.recipient + (uint64_t)ev->st.status;
	}
	return 0;
}

static const char *msg_texts[] = { "JESI ON", "Jesi off", "STOP", "Buongiorno, JESI ON grazie",
	"A che ora riapre il ponte?", "Grazie per l'avviso, ma la strada \\u00e8 ancora chiusa?" };

static size_t wl_webhook(const struct params *p, int statuses)
{
	const size_t per = statuses ? 10 : 1;
	size_t nb = statuses ? p->n / 10 : p->n;
	if (nb == 0)
		nb = 1;
	const size_t each = statuses ? 4096 : 1024;
	struct bodies b;
	bodies_alloc(&b, nb, each);
	uint64_t want_sum = 0, want_text = 0;
	static const char *stn[] = { "sent", "delivered", "read" };
	for (size_t i = 0; i < nb; i++) {
		char *o = b.text + i * each;
		size_t k = 0;
		if (!statuses) {
			uint64_t from = 393350000000ull + (i * 7919u) % 10000000u;
			const char *t = msg_texts[i % (sizeof msg_texts / sizeof msg_texts[0])];
			k = (size_t)snprintf(o, each, ENV_HEAD
				"\"contacts\":[{\"profile\":{\"name\":\"Citizen %zu\"},\"wa_id\":\"%" PRIu64 "\"}],"
				"\"messages\":[{\"from\":\"%" PRIu64 "\",\"id\":\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAEhgU%016"
				PRIx64 "%016zx\",\"timestamp\":\"%" PRIu64 "\",\"type\":\"text\",\"text\":{\"body\":\"%s\"}}]"
				ENV_TAIL, i, from, from, p->seed, i, (uint64_t)1760263200 + i, t);
			want_sum += from;
			/* the parsed text: \u00e8 unescapes to 2 bytes from 6 */
			want_text += strlen(t) - (strstr(t, "\\u00e8") ? 4 : 0);
		} else {
			k = (size_t)snprintf(o, each, "%s\"statuses\":[", ENV_HEAD);
			for (size_t j = 0; j < per; j++) {
				uint64_t id = i * per + j;
				uint64_t rcpt = 393350000000ull + id % 10000000u;
				k += (size_t)snprintf(o + k, each - k,
					"%s{\"id\":\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgS%016" PRIx64 "%016" PRIx64
					"\",\"status\":\"%s\",\"timestamp\":\"%" PRIu64 "\",\"recipient_id\":\"%"
					PRIu64 "\",\"biz_opaque_callback_data\":\"n-20251012T100000-%04x:%" PRIu64
					"\",\"pricing\":{\"billable\":true,\"pricing_model\":\"PMP\",\"type\":"
					"\"regular\",\"category\":\"utility\"}}",
					j ? "," : "", p->seed, id, stn[id % 3], (uint64_t)1760263200 + id, rcpt,
					(unsigned)(p->seed & 0xffff), id);
				want_sum += rcpt + (uint64_t)(id % 3 + WEBHOOK_ST_SENT);
			}
			k += (size_t)snprintf(o + k, each - k, "]%s", ENV_TAIL);
		}
		if (k >= each)
			die("body buffer too small", BND_E_RANGE);
		b.off[i] = i * each;
		b.len[i] = k;
	}
	bodies_sign(&b);
	struct ev_tally t = { 0 };
	int bad_sig = 0, bad_parse = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < nb; i++) {
		const uint8_t *body = (const uint8_t *)b.text + b.off[i];
		if (webhook_verify_signature(SECRET, sizeof SECRET - 1, body, b.len[i], b.sig[i])) {
			bad_sig++;
			continue;
		}
		bad_parse |= webhook_parse(body, b.len[i], NULL, on_event, &t, NULL);
	}
	REGION_END();
	bh_check(bad_sig == 0, "signatures refused", bad_sig, 0);
	bh_check(bad_parse == 0, "webhook_parse failures", bad_parse, 0);
	bh_check(t.messages == (statuses ? 0 : nb), "messages", (long long)t.messages,
	         (long long)(statuses ? 0 : nb));
	bh_check(t.statuses == (statuses ? nb * per : 0), "statuses", (long long)t.statuses,
	         (long long)(statuses ? nb * per : 0));
	bh_check(t.sum == want_sum, "sum of numbers", (long long)(t.sum % 1000000007),
	         (long long)(want_sum % 1000000007));
	if (!statuses)
		bh_check(t.text_bytes == want_text, "text bytes", (long long)t.text_bytes,
		         (long long)want_text);
	/* and a forged one is refused (the verify in the region is not a no-op) */
	b.sig[0][10] = b.sig[0][10] == '0' ? '1' : '0';
	bh_check(webhook_verify_signature(SECRET, sizeof SECRET - 1, (const uint8_t *)b.text,
	                                  b.len[0], b.sig[0]) == BND_E_WEBHOOK_SIG_MISMATCH,
	         "a forged signature is refused", 0, 1);
	bodies_free(&b);
	return statuses ? nb * per : nb;
}

/* ------------------------------------------------------------------ wareq */

/* A disruption notice as operators write them: accents, quotes, a newline
 * (escaped as \n), an emoji; about 200 bytes. */
static const char NOTICE_TEXT[] =
	"\xe2\x9a\xa0\xef\xb8\x8f Chiusura scuole: domani, marted\xc3\xac 14, le scuole di ogni "
	"ordine e grado resteranno chiuse per l'allerta meteo \"arancione\".\n"
	"Aggiornamenti su comune.jesi.an.it. Il Sindaco.";

static size_t wl_wareq(const struct params *p)
{
	uint64_t *num;
	if (bh_gen_it_mobiles(p->seed, p->n, &num, 0, NULL))
		die("generating numbers", BND_E_NOMEM);
	const char *id = "n-20251012T100000-6a1f";
	struct wa_bytes param = { (const uint8_t *)NOTICE_TEXT, sizeof NOTICE_TEXT - 1 };
	struct wa_msg m = {
		.kind = WA_MSG_TEMPLATE,
		.tmpl_name = { (const uint8_t *)"notice", 6 },
		.lang = { (const uint8_t *)"it", 2 },
		.params = &param,
		.nparams = 1,
	};
	char (*tags)[NOTICE_TAG_MAX] = xmalloc(p->n * sizeof *tags);
	size_t *tl = xmalloc(p->n * sizeof *tl);
	for (size_t i = 0; i < p->n; i++) {
		int k = notice_tag_format(id, (uint32_t)i, tags[i]);
		if (k <= 0)
			die("notice_tag_format", k);
		tl[i] = (size_t)k;
	}
	struct wareq_buf b = { 0 };
	/* grow the buffer to its working size first, as the sender's reused
	 * buffers are after the first request */
	m.to = num[0];
	m.tag = (struct wa_bytes){ (const uint8_t *)tags[0], tl[0] };
	int rc = wareq_build(&b, &m, 0);
	if (rc)
		die("wareq_build", rc);
	uint64_t total = 0;
	int bad = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < p->n; i++) {
		m.to = num[i];
		m.tag.p = (const uint8_t *)tags[i];
		m.tag.len = tl[i];
		bad |= wareq_build(&b, &m, 0);
		total += b.len;
	}
	REGION_END();
	bh_check(bad == 0, "wareq_build failures or replacements", bad, 0);
	/* the last body must be the JSON of the last message: parse it back */
	json_error_t je;
	json_t *j = json_loadb((const char *)b.p, b.len, 0, &je);
	bh_check(j != NULL, "the request body is JSON", 0, 1);
	const char *to = NULL, *tag = NULL, *txt = NULL;
	int u = json_unpack(j, "{s:s, s:s, s:{s:[{s:[{s:s}]}]}}", "to", &to,
	                    "biz_opaque_callback_data", &tag, "template", "components",
	                    "parameters", "text", &txt);
	bh_check(u == 0, "the request body has to, tag and the text parameter", u, 0);
	char want_to[PHONE_STR_MAX + 1];
	want_to[0] = '+';
	phone_format(num[p->n - 1], want_to + 1);
	bh_check(strcmp(to, want_to) == 0 || strcmp(to, want_to + 1) == 0, "to", 0, 1);
	bh_check(strcmp(tag, tags[p->n - 1]) == 0, "tag", 0, 1);
	bh_check(strcmp(txt, NOTICE_TEXT) == 0, "text parameter", 0, 1);
	json_decref(j);
	bh_check(total > p->n * (sizeof NOTICE_TEXT), "bytes built", (long long)total,
	         (long long)(p->n * sizeof NOTICE_TEXT));
	wareq_buf_free(&b);
	free(num);
	free(tags);
	free(tl);
	return p->n;
}

/* ------------------------------------------------------------------ waerr */

static size_t wl_waerr(const struct params *p)
{
	/* the bodies of reference/whatsapp-cloud-api.md: a success, and errors
	 * of each outcome class the fan-out meets */
	static const struct {
		const char *pre, *post;   /* the body is pre + 16 hex digits + post */
		int64_t code;
		enum wa_outcome outcome;  /* WA_OUTCOME_COUNT: what the table says */
		unsigned weight;          /* of 100 */
	} kinds[] = {
		{ "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+393351234567\","
		  "\"wa_id\":\"393351234567\"}],\"messages\":[{\"id\":\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgS",
		  "\",\"message_status\":\"accepted\"}]}",
		  WA_CODE_NONE, WA_ACCEPTED, 94 },
		{ "{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":\"OAuthException\","
		  "\"code\":130429,\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":"
		  "\"Cloud API message throughput has been reached.\"},\"fbtrace_id\":\"A", "\"}}",
		  130429, WA_RETRY_THROTTLE, 2 },
		{ "{\"error\":{\"message\":\"(#131026) Message undeliverable\",\"type\":\"OAuthException\","
		  "\"code\":131026,\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":"
		  "\"Message Undeliverable.\"},\"fbtrace_id\":\"B", "\"}}",
		  131026, WA_FAILED_RECIPIENT, 2 },
		{ "{\"error\":{\"message\":\"(#131049) This message was not delivered to maintain healthy "
		  "ecosystem engagement.\",\"type\":\"OAuthException\",\"code\":131049,\"error_data\":{"
		  "\"messaging_product\":\"whatsapp\",\"details\":\"In order to maintain a healthy "
		  "ecosystem engagement, the message failed to be delivered.\"},\"fbtrace_id\":\"C", "\"}}",
		  131049, WA_OUTCOME_COUNT, 1 },
		{ "{\"error\":{\"message\":\"(#131000) Something went wrong\",\"type\":\"OAuthException\","
		  "\"code\":131000,\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":"
		  "\"Something went wrong\"},\"fbtrace_id\":\"D", "\"}}",
		  131000, WA_OUTCOME_COUNT, 1 },
	};
	const size_t nk = sizeof kinds / sizeof kinds[0];
	const size_t each = 512;
	char *text = xmalloc(p->n * each);
	size_t *len = xmalloc(p->n * sizeof *len);
	uint8_t *kind = xmalloc(p->n);
	struct bh_rng r;
	bh_rng_seed(&r, p->seed);
	uint64_t want[WA_OUTCOME_COUNT + 1] = { 0 };
	for (size_t i = 0; i < p->n; i++) {
		unsigned x = (unsigned)bh_rng_below(&r, 100), k = 0;
		while (k + 1 < nk && x >= kinds[k].weight) {
			x -= kinds[k].weight;
			k++;
		}
		kind[i] = (uint8_t)k;
		int w = snprintf(text + i * each, each, "%s%016" PRIx64 "%s", kinds[k].pre,
		                 (uint64_t)i * 2654435761u, kinds[k].post);
		if (w <= 0 || (size_t)w >= each)
			die("response buffer too small", BND_E_RANGE);
		len[i] = (size_t)w;
		enum wa_outcome o = kinds[k].outcome;
		if (o == WA_OUTCOME_COUNT)
			o = waerr_lookup(kinds[k].code)->outcome;
		want[o]++;
	}
	uint64_t got[WA_OUTCOME_COUNT + 1] = { 0 };
	uint64_t wamid_bytes = 0;
	char store[WAERR_STORE_MIN];
	int bad = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < p->n; i++) {
		struct waerr_parsed ps;
		bad |= waerr_parse((const uint8_t *)text + i * each, len[i], &ps, store, sizeof store);
		enum wa_outcome o;
		if (ps.code != WA_CODE_NONE)
			o = waerr_lookup(ps.code)->outcome;
		else if (ps.wamid) {
			o = WA_ACCEPTED;
			wamid_bytes += ps.wamid_len;
		} else
			o = waerr_classify_http(200);
		got[o]++;
	}
	REGION_END();
	bh_check(bad == 0, "waerr_parse failures", bad, 0);
	for (int o = 0; o < WA_OUTCOME_COUNT; o++)
		bh_check(got[o] == want[o], wa_outcome_name((enum wa_outcome)o), (long long)got[o],
		         (long long)want[o]);
	/* "wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgS" (34 bytes) + 16 hex digits */
	bh_check(wamid_bytes == want[WA_ACCEPTED] * 50, "wamid bytes", (long long)wamid_bytes,
	         (long long)(want[WA_ACCEPTED] * 50));
	free(text);
	free(len);
	free(kind);
	return p->n;
}

/* ----------------------------------------------------------------- h1resp */

struct h1_seen {
	uint64_t headers, body;
};

static void h1g_header(struct h1_req *r, const char *n, size_t nl, const char *v, size_t vl)
{
	(void)n;
	(void)v;
	((struct h1_seen *)r->ud)->headers += nl + vl;
}

static void h1g_body(struct h1_req *r, const uint8_t *b, size_t n)
{
	(void)b;
	((struct h1_seen *)r->ud)->body += n;
}

static void h1g_done(struct h1_req *r, enum h1_err e, uint64_t now)
{
	(void)r;
	(void)e;
	(void)now;
}

static size_t wl_h1resp(const struct params *p)
{
	static const char body[] =
		"{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+393351234567\","
		"\"wa_id\":\"393351234567\"}],\"messages\":[{\"id\":\"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgS"
		"0123456789abcdef\",\"message_status\":\"accepted\"}]}";
	const size_t each = 1024, blen = sizeof body - 1;
	char *text = xmalloc(p->n * each);
	size_t *len = xmalloc(p->n * sizeof *len), *cut = xmalloc(p->n * sizeof *cut);
	struct bh_rng r;
	bh_rng_seed(&r, p->seed);
	for (size_t i = 0; i < p->n; i++) {
		int w;
		const char *head = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 02:00:00 GMT\r\n"
		                   "Content-Type: application/json\r\nConnection: keep-alive\r\n"
		                   "x-fb-trace-id: AbCdEfGhIjK\r\n";
		if (i % 8 == 7)
			w = snprintf(text + i * each, each, "%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
			             head, blen, body);
		else
			w = snprintf(text + i * each, each, "%sContent-Length: %zu\r\n\r\n%s", head, blen, body);
		if (w <= 0 || (size_t)w >= each)
			die("response buffer too small", BND_E_RANGE);
		len[i] = (size_t)w;
		cut[i] = (size_t)bh_rng_below(&r, (uint64_t)w);
	}
	static const struct h1_callbacks cb = { h1g_header, h1g_body, h1g_done };
	struct h1_seen seen = { 0, 0 };
	size_t ok = 0;
	REGION_BEGIN();
	for (size_t i = 0; i < p->n; i++) {
		struct h1_req q = { .ud = &seen };
		ok += h1_parse_response((const uint8_t *)text + i * each, len[i], cut[i], &cb, &q, 0) ==
		      H1_OK && q.status == 200;
	}
	REGION_END();
	bh_check(ok == p->n, "complete 200 responses", (long long)ok, (long long)p->n);
	bh_check(seen.body == p->n * blen, "body bytes", (long long)seen.body,
	         (long long)(p->n * blen));
	free(text);
	free(len);
	free(cut);
	return p->n;
}

/* ------------------------------------------------------------------ main */

static const struct {
	const char *name;
	size_t n;   /* default N: see docs/BENCH-GATE.md for the sizing */
} workloads[] = {
	{ "store_append", 100000 }, { "store_get", 100000 },    { "store_scan", 100000 },
	{ "cmd_parse", 20000 },     { "webhook_msg", 5000 },    { "webhook_status", 10000 },
	{ "wareq", 20000 },         { "waerr", 20000 },         { "h1resp", 20000 },
};

/* bench_gate numbers: the fan-out's subscribers, for `subscribers import`. */
static int print_numbers(const struct params *p)
{
	if (p->n == 0 || p->n > 10000000) {
		fprintf(stderr, "bench_gate: numbers needs --n 1..10000000\n");
		return 2;
	}
	uint64_t *num;
	if (bh_gen_it_mobiles(p->seed, p->n, &num, 0, NULL))
		die("generating numbers", BND_E_NOMEM);
	char buf[PHONE_STR_MAX];
	for (size_t i = 0; i < p->n; i++) {
		if (!phone_format(num[i], buf))
			die("phone_format", BND_E_INVAL);
		puts(buf);
	}
	free(num);
	return fflush(stdout) ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_gate WORKLOAD [--n N] [--seed S] [--dir DIR]\n"
	           "       bench_gate numbers --n N [--seed S]\n"
	           "  DIR: a new or empty directory for the store workloads\n"
	           "workloads (default N):\n");
	for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
		fprintf(f, "  %-15s %zu\n", workloads[i].name, workloads[i].n);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	/* jansson seeds its hash function from the OS's entropy at the first
	 * object; a fixed seed makes the webhook parses' hash-table work (and
	 * so their instruction counts) the same on every run. The server keeps
	 * the random seed: it is a defence against hash flooding. */
	json_object_seed(0x9e3779b9u);
	const char *name = argv[1];
	struct params p = { .n = 0, .seed = 20240601, .dir = NULL };
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			p.n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			p.seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			p.dir = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!strcmp(name, "numbers"))
		return print_numbers(&p);
	size_t k = 0, nw = sizeof workloads / sizeof workloads[0];
	while (k < nw && strcmp(workloads[k].name, name))
		k++;
	if (k == nw) {
		fprintf(stderr, "bench_gate: unknown workload '%s'\n", name);
		usage(stderr);
		return 2;
	}
	if (p.n == 0)
		p.n = workloads[k].n;
	if (p.n < 20 || p.n > 10000000) {
		fprintf(stderr, "bench_gate: --n must be 20..10000000\n");
		return 2;
	}
	if (!strncmp(name, "store_", 6) && !p.dir) {
		fprintf(stderr, "bench_gate: %s needs --dir DIR\n", name);
		return 2;
	}
	size_t ops;
	if (!strcmp(name, "store_append"))
		ops = wl_store_append(&p);
	else if (!strcmp(name, "store_get"))
		ops = wl_store_get(&p);
	else if (!strcmp(name, "store_scan"))
		ops = wl_store_scan(&p);
	else if (!strcmp(name, "cmd_parse"))
		ops = wl_cmd_parse(&p);
	else if (!strcmp(name, "webhook_msg"))
		ops = wl_webhook(&p, 0);
	else if (!strcmp(name, "webhook_status"))
		ops = wl_webhook(&p, 1);
	else if (!strcmp(name, "wareq"))
		ops = wl_wareq(&p);
	else if (!strcmp(name, "h1resp"))
		ops = wl_h1resp(&p);
	else
		ops = wl_waerr(&p);
	printf("workload %s ops %zu\n", name, ops);
	return 0;
}
