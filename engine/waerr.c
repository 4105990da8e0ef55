/*
 * waerr.c - the error-code table and response parsing (see waerr.h).
 *
 * The table is the only place that knows what a code means; it follows
 * reference/whatsapp-cloud-api.md §2, with these choices where the
 * reference leaves room:
 *  - 1 ("invalid request or possible server error") is transient with a
 *    budget of 3 tries, then the caller treats it as permanent.
 *  - 4 and 80007 (app / WABA call-rate limits) slow the whole number like
 *    130429: they are throttles of the same sender.
 *  - 131048 (spam rate limit) stops the campaign: hammering makes it worse.
 *  - 131047 (re-engagement, free-form outside the window) fails the
 *    recipient: the sender resends as a template if it wants.
 *  - 3 (capability) and 131045 (certificate) stop the engine like 10/200:
 *    no message can succeed until an operator acts.
 *  - unknown codes fail only their message (see waerr_lookup).
 * Response parsing: see the extractor's comment below.
 */
#include "waerr.h"

#include "bnd.h"

#include <string.h>

static const struct waerr_rule rules[] = {
	{ 0, 0, WA_STOP_ENGINE, 0, "auth exception (token)" },
	{ 1, 1, WA_RETRY_TRANSIENT, 3, "invalid request or server error" },
	{ 2, 2, WA_RETRY_TRANSIENT, 0, "temporary API downtime" },
	{ 3, 3, WA_STOP_ENGINE, 0, "API capability missing" },
	{ 4, 4, WA_RETRY_THROTTLE, 0, "app call-rate limit" },
	{ 10, 10, WA_STOP_ENGINE, 0, "permission denied" },
	{ 100, 100, WA_FAILED_RECIPIENT, 0, "invalid parameter" },
	{ 190, 190, WA_STOP_ENGINE, 0, "access token expired or invalid" },
	{ 200, 299, WA_STOP_ENGINE, 0, "permission missing" },
	{ 368, 368, WA_STOP_ENGINE, 0, "temporarily blocked for policy violations" },
	{ 80007, 80007, WA_RETRY_THROTTLE, 0, "WABA rate limit" },
	{ 130429, 130429, WA_RETRY_THROTTLE, 0, "throughput limit reached" },
	{ 130497, 130497, WA_STOP_ENGINE, 0, "country restricted" },
	{ 131000, 131000, WA_RETRY_TRANSIENT, 0, "unknown server error" },
	{ 131005, 131005, WA_STOP_ENGINE, 0, "access denied" },
	{ 131008, 131009, WA_FAILED_RECIPIENT, 0, "missing or invalid parameter" },
	{ 131016, 131016, WA_RETRY_TRANSIENT, 0, "service unavailable" },
	{ 131021, 131021, WA_FAILED_RECIPIENT, 0, "recipient is the sender" },
	{ 131026, 131026, WA_FAILED_RECIPIENT, 0, "message undeliverable" },
	{ 131030, 131030, WA_FAILED_RECIPIENT, 0, "recipient not in allowed list" },
	{ 131031, 131031, WA_STOP_ENGINE, 0, "account locked" },
	{ 131045, 131045, WA_STOP_ENGINE, 0, "phone number not registered (certificate)" },
	{ 131047, 131047, WA_FAILED_RECIPIENT, 0, "re-engagement: outside 24 h window" },
	{ 131048, 131048, WA_STOP_CAMPAIGN, 0, "spam rate limit" },
	{ 131049, 131050, WA_FAILED_RECIPIENT, 0, "marketing limit or opt-out" },
	{ 131051, 131053, WA_FAILED_RECIPIENT, 0, "unsupported message or media" },
	{ 131056, 131056, WA_RETRY_PAIR, 0, "pair rate limit" },
	{ 131057, 131057, WA_RETRY_TRANSIENT, 0, "account in maintenance" },
	{ 131064, 131064, WA_STOP_ENGINE, 0, "messaging limit: template misclassified" },
	{ 132000, 132000, WA_STOP_CAMPAIGN, 0, "template parameter count mismatch" },
	{ 132001, 132001, WA_STOP_CAMPAIGN, 0, "template does not exist" },
	{ 132005, 132005, WA_STOP_CAMPAIGN, 0, "template text too long" },
	{ 132007, 132007, WA_STOP_CAMPAIGN, 0, "template format policy" },
	{ 132012, 132012, WA_STOP_CAMPAIGN, 0, "template parameter format mismatch" },
	{ 132015, 132015, WA_STOP_CAMPAIGN, 0, "template paused" },
	{ 132016, 132016, WA_STOP_CAMPAIGN, 0, "template disabled" },
	{ 133004, 133004, WA_RETRY_TRANSIENT, 0, "server temporarily unavailable" },
	{ 135000, 135000, WA_FAILED_RECIPIENT, 0, "generic user error" },
};

static const struct waerr_rule unknown_rule = {
	0, 0, WA_FAILED_RECIPIENT, 0, "unknown error code",
};

const struct waerr_rule *waerr_lookup(int64_t code)
{
	size_t lo = 0, hi = sizeof rules / sizeof rules[0];
	while (lo < hi) {  /* rules are sorted and disjoint */
		size_t mid = (lo + hi) / 2;
		if (code < rules[mid].lo)
			hi = mid;
		else if (code > rules[mid].hi)
			lo = mid + 1;
		else
			return &rules[mid];
	}
	return &unknown_rule;
}

enum wa_outcome waerr_classify_http(long status)
{
	if (status >= 200 && status < 300)
		return WA_UNCERTAIN;
	if (status == 401 || status == 403)
		return WA_STOP_ENGINE;
	if (status == 408)
		return WA_RETRY_TRANSIENT;
	if (status == 429)
		return WA_RETRY_THROTTLE;
	if (status >= 400 && status < 500)
		return WA_STOP_CAMPAIGN;
	return WA_RETRY_TRANSIENT;
}

enum wa_outcome waerr_classify_transport(int64_t request_bytes_sent)
{
	return request_bytes_sent > 0 ? WA_UNCERTAIN : WA_RETRY_TRANSIENT;
}

/*
 * The response extractor. Responses are small, but there is one per message
 * and a general parser (jansson: a tree, a hash table and a malloc per node)
 * cost ~34,000 instructions per success body, a third of what libcurl
 * itself spends on the whole request (bench/bench_loop.c under callgrind).
 * This walker validates the JSON grammar in one bounded pass (every read
 * checks the end; nesting at most SCAN_MAX_DEPTH) and copies out only the
 * five fields it knows, following the path it is on:
 *   root.error.{code, error_subcode, message, error_data.details}
 *   root.messages[0].{id, message_status}
 * Same answers as jansson wherever jansson accepts the document (duplicate
 * keys: the last one wins; keys compared after unescaping; a non-integer
 * code is absent); tests/unit/test_waerr.c checks that differentially.
 * Differences, all on documents jansson rejects: invalid UTF-8 inside
 * strings is not checked (captured bytes are copied as they are), integers
 * beyond int64 are "absent" rather than an error.
 */
#define SCAN_MAX_DEPTH 64

enum path { P_SKIP, P_ROOT, P_ERROR, P_ERRDATA, P_MSGS, P_MSG0 };

enum field { F_NONE, F_CODE, F_SUBCODE, F_MESSAGE, F_DETAILS, F_ID, F_STATUS, F_NFIELDS };

struct scan {
	const uint8_t *p, *end;
	int depth;
	char *store;               /* WAERR_STORE_MIN bytes, regions at field_off */
	int64_t num[F_NFIELDS];
	int has_num[F_NFIELDS];
	size_t len[F_NFIELDS];
	int has_str[F_NFIELDS];
};

static const size_t field_max[F_NFIELDS] = {
	0, 0, 0, WA_DETAIL_MAX - 1, WA_DETAIL_MAX - 1, WA_WAMID_MAX - 1, 31,
};
static const size_t field_off[F_NFIELDS] = {
	0, 0, 0, 0, WA_DETAIL_MAX, 2 * WA_DETAIL_MAX, 2 * WA_DETAIL_MAX + WA_WAMID_MAX,
};

/* Bytes that end a plain run inside a string: '"', '\\', controls. */
static const uint8_t str_stop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(struct scan *s, unsigned *v)
{
	if (s->end - s->p < 4)
		return -1;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = s->p[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
		             (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (unsigned)((c | 0x20) - 'a' + 10) : 99;
		if (d > 15)
			return -1;
		*v = *v * 16 + d;
	}
	s->p += 4;
	return 0;
}

static void put_byte(uint8_t *out, size_t cap, size_t *n, uint8_t c)
{
	if (*n < cap)
		out[*n] = c;
	(*n)++;
}

/* string - parse a string at s->p ('"' expected); decoded bytes go to
 * out[0..cap) (NULL: only validate), *n gets the full decoded length. */
static int string(struct scan *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t k = 0;
	if (s->p >= s->end || *s->p != '"')
		return -1;
	s->p++;
	for (;;) {
		/* Fast path: a run of plain bytes, copied at once. */
		const uint8_t *run = s->p;
		while (s->p < s->end && !str_stop[*s->p])
			s->p++;
		size_t rn = (size_t)(s->p - run);
		if (rn) {
			if (out && k < cap)
				memcpy(out + k, run, rn < cap - k ? rn : cap - k);
			k += rn;
		}
		if (s->p >= s->end)
			return -1;
		uint8_t c = *s->p++;
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			if (out)
				put_byte(out, cap, &k, c);
			else
				k++;
			continue;
		}
		if (s->p >= s->end)
			return -1;
		c = *s->p++;
		unsigned cp;
		switch (c) {
		case '"': case '\\': case '/': cp = c; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (hex4(s, &cp))
				return -1;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
					return -1;
				s->p += 2;
				if (hex4(s, &lo) || lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return -1;
			} else if (cp == 0) {
				return -1;  /* as jansson without JSON_ALLOW_NUL */
			}
			break;
		default:
			return -1;
		}
		uint8_t u[4];
		size_t ul;
		if (cp < 0x80) {
			u[0] = (uint8_t)cp;
			ul = 1;
		} else if (cp < 0x800) {
			u[0] = (uint8_t)(0xC0 | (cp >> 6));
			u[1] = (uint8_t)(0x80 | (cp & 0x3F));
			ul = 2;
		} else if (cp < 0x10000) {
			u[0] = (uint8_t)(0xE0 | (cp >> 12));
			u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			u[2] = (uint8_t)(0x80 | (cp & 0x3F));
			ul = 3;
		} else {
			u[0] = (uint8_t)(0xF0 | (cp >> 18));
			u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
			u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			u[3] = (uint8_t)(0x80 | (cp & 0x3F));
			ul = 4;
		}
		for (size_t i = 0; i < ul; i++) {
			if (out)
				put_byte(out, cap, &k, u[i]);
			else
				k++;
		}
	}
	*n = k;
	return 0;
}

/* number - grammar check; *is_int and *v when an integer within int64. */
static int number(struct scan *s, int *is_int, int64_t *v)
{
	const uint8_t *p = s->p;
	int neg = 0, ok = 1;
	uint64_t acc = 0;
	*is_int = 1;
	if (p < s->end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= s->end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0') {
		p++;
	} else {
		while (p < s->end && *p >= '0' && *p <= '9') {
			unsigned d = (unsigned)(*p++ - '0');
			if (acc > (UINT64_MAX - d) / 10)
				ok = 0;
			else
				acc = acc * 10 + d;
		}
	}
	if (p < s->end && *p == '.') {
		*is_int = 0;
		p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		*is_int = 0;
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	s->p = p;
	if (*is_int) {
		if (!ok || acc > (uint64_t)INT64_MAX + (uint64_t)neg)
			*is_int = 0;  /* out of range: "absent" */
		else
			*v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	}
	return 0;
}

static int literal(struct scan *s, const char *w, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
		return -1;
	s->p += n;
	return 0;
}

static int value(struct scan *s, enum path path, enum field f);

static void forget(struct scan *s, enum field f)
{
	s->has_num[f] = 0;
	s->has_str[f] = 0;
}

/* key_route - which path or field a key leads to from `path`. */
static void key_route(enum path path, const uint8_t *k, size_t n, enum path *np, enum field *nf)
{
	*np = P_SKIP;
	*nf = F_NONE;
#define KEY(lit) (n == sizeof(lit) - 1 && !memcmp(k, lit, n))
	switch (path) {
	case P_ROOT:
		if (KEY("error"))
			*np = P_ERROR;
		else if (KEY("messages"))
			*np = P_MSGS;
		break;
	case P_ERROR:
		if (KEY("code"))
			*nf = F_CODE;
		else if (KEY("error_subcode"))
			*nf = F_SUBCODE;
		else if (KEY("message"))
			*nf = F_MESSAGE;
		else if (KEY("error_data"))
			*np = P_ERRDATA;
		break;
	case P_ERRDATA:
		if (KEY("details"))
			*nf = F_DETAILS;
		break;
	case P_MSG0:
		if (KEY("id"))
			*nf = F_ID;
		else if (KEY("message_status"))
			*nf = F_STATUS;
		break;
	default:
		break;
	}
#undef KEY
}

/* A later duplicate key replaces everything captured under the earlier one. */
static void reset_under(struct scan *s, enum path np, enum field nf)
{
	if (nf != F_NONE)
		forget(s, nf);
	if (np == P_ERROR) {
		forget(s, F_CODE);
		forget(s, F_SUBCODE);
		forget(s, F_MESSAGE);
		forget(s, F_DETAILS);
	} else if (np == P_ERRDATA) {
		forget(s, F_DETAILS);
	} else if (np == P_MSGS) {
		forget(s, F_ID);
		forget(s, F_STATUS);
	}
}

static int object(struct scan *s, enum path path)
{
	s->p++;  /* '{' */
	ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		uint8_t key[32];
		size_t kn;
		ws(s);
		if (string(s, key, sizeof key, &kn))
			return -1;
		enum path np = P_SKIP;
		enum field nf = F_NONE;
		if (path != P_SKIP && kn <= sizeof key)
			key_route(path, key, kn, &np, &nf);
		ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -1;
		s->p++;
		reset_under(s, np, nf);
		if (value(s, np, nf))
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

static int array(struct scan *s, enum path path)
{
	s->p++;  /* '[' */
	ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (size_t i = 0;; i++) {
		if (value(s, path == P_MSGS && i == 0 ? P_MSG0 : P_SKIP, F_NONE))
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p == ']') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

static int value(struct scan *s, enum path path, enum field f)
{
	ws(s);
	if (s->p >= s->end)
		return -1;
	uint8_t c = *s->p;
	int rc;
	if (c == '{' || c == '[') {
		if (++s->depth > SCAN_MAX_DEPTH)
			return -1;
		/* a container where a string/number field was expected: absent */
		rc = c == '{' ? object(s, f == F_NONE && path != P_MSGS ? path : P_SKIP)
		              : array(s, f == F_NONE && path == P_MSGS ? P_MSGS : P_SKIP);
		s->depth--;
		return rc;
	}
	if (c == '"') {
		size_t n;
		if (f == F_MESSAGE || f == F_DETAILS || f == F_ID || f == F_STATUS) {
			/* Each field has its own region of the store, so a repeated
			 * key overwrites in place (the last one wins). */
			size_t cap = field_max[f];
			uint8_t *dst = (uint8_t *)s->store + field_off[f];
			if (string(s, dst, cap, &n))
				return -1;
			if (n > cap)
				n = cap;
			dst[n] = 0;
			s->len[f] = n;
			s->has_str[f] = 1;
			return 0;
		}
		return string(s, NULL, 0, &n);
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		int is_int;
		int64_t v = 0;
		if (number(s, &is_int, &v))
			return -1;
		if ((f == F_CODE || f == F_SUBCODE) && is_int) {
			s->num[f] = v;
			s->has_num[f] = 1;
		}
		return 0;
	}
	if (c == 't')
		return literal(s, "true", 4);
	if (c == 'f')
		return literal(s, "false", 5);
	if (c == 'n')
		return literal(s, "null", 4);
	return -1;
}

int waerr_parse(const uint8_t *body, size_t len, struct waerr_parsed *out,
                char *store, size_t store_len)
{
	memset(out, 0, sizeof *out);
	out->code = WA_CODE_NONE;
	out->subcode = WA_CODE_NONE;
	struct scan s = { .p = body, .end = body + len, .store = store };
	if (!store || store_len < WAERR_STORE_MIN)
		return BND_E_INVAL;
	if (!body)
		return 0;
	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return 0;
	s.depth = 1;
	if (object(&s, P_ROOT))
		return 0;
	ws(&s);
	if (s.p != s.end)
		return 0;  /* trailing bytes: not one JSON document */
	out->json_ok = 1;
	if (s.has_num[F_CODE])
		out->code = s.num[F_CODE];
	if (s.has_num[F_SUBCODE])
		out->subcode = s.num[F_SUBCODE];
	enum field d = s.has_str[F_DETAILS] ? F_DETAILS : s.has_str[F_MESSAGE] ? F_MESSAGE : F_NONE;
	if (d != F_NONE) {
		out->detail = store + field_off[d];
		out->detail_len = s.len[d];
	}
	if (s.has_str[F_ID] && s.len[F_ID]) {
		out->wamid = store + field_off[F_ID];
		out->wamid_len = s.len[F_ID];
	}
	if (s.has_str[F_STATUS]) {
		out->msg_status = store + field_off[F_STATUS];
		out->msg_status_len = s.len[F_STATUS];
	}
	return 0;
}

const char *wa_outcome_name(enum wa_outcome o)
{
	static const char *const names[WA_OUTCOME_COUNT] = {
		"accepted", "retry_throttle", "retry_pair", "retry_transient",
		"uncertain", "failed_recipient", "stop_campaign", "stop_engine",
	};
	return (unsigned)o < WA_OUTCOME_COUNT ? names[o] : "unknown";
}
