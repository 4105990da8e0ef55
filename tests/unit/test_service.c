/*
 * test_service.c - engine/idmap.c, engine/replies.c and engine/service.c
 * without HTTP: the map against a reference model, the reply queue's
 * durability gate and order, and the subscription life cycle driven
 * through service_ingest / service_commit on a real store, with a fake
 * post hook that records every reply and completes it when the test says,
 * and a clock the test moves.
 */
#include "store_testutil.h"

#include <stdatomic.h>

#include "config.h"
#include "idmap.h"
#include "replies.h"
#include "service.h"
#include "webhook.h"

/* ================================================================ idmap */

Test(idmap, matches_a_model_through_inserts_and_deletes)
{
	struct idmap m;
	cr_assert_eq(idmap_init(&m, 0), 0);
	enum { N = 20000 };
	static uint64_t keys[N];
	static int present[N];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		keys[i] = x | 1;
		cr_assert_eq(idmap_put(&m, keys[i], (uint64_t)i), 0);
		present[i] = 1;
	}
	cr_assert_eq(idmap_len(&m), N);
	/* delete every third key, overwrite every fifth */
	for (int i = 0; i < N; i += 3) {
		cr_assert_eq(idmap_del(&m, keys[i]), 1);
		present[i] = 0;
		cr_assert_eq(idmap_del(&m, keys[i]), 0);
	}
	for (int i = 0; i < N; i += 5)
		if (present[i])
			cr_assert_eq(idmap_put(&m, keys[i], 7), 0);
	size_t live = 0;
	for (int i = 0; i < N; i++) {
		uint64_t v = 0;
		int got = idmap_get(&m, keys[i], &v);
		cr_assert_eq(got, present[i], "key %d", i);
		if (got) {
			live++;
			cr_assert_eq(v, i % 5 == 0 ? 7u : (uint64_t)i);
		}
	}
	cr_assert_eq(idmap_len(&m), live);
	cr_assert_eq(idmap_put(&m, 0, 1), BND_E_INVAL);
	cr_assert_eq(idmap_get(&m, 0, NULL), 0);
	idmap_free(&m);
}

Test(idmap, bounded_map_forgets_the_oldest)
{
	struct idmap m;
	cr_assert_eq(idmap_init(&m, 100), 0);
	for (uint64_t k = 1; k <= 250; k++)
		cr_assert_eq(idmap_put(&m, k, k), 0);
	cr_assert_eq(idmap_len(&m), 100);
	for (uint64_t k = 1; k <= 150; k++)
		cr_assert_eq(idmap_get(&m, k, NULL), 0, "key %llu kept", (unsigned long long)k);
	for (uint64_t k = 151; k <= 250; k++)
		cr_assert_eq(idmap_get(&m, k, NULL), 1, "key %llu lost", (unsigned long long)k);
	idmap_free(&m);
}

/* ====================================================== fake API + clock */

#define FAKE_MAX 4096
struct posted {
	struct reply_msg m;
	char text[64];
	char tag[32];
	reply_done_fn done;
	void *cookie;
	int completed;
};

struct fake {
	struct posted p[FAKE_MAX];
	atomic_int n;
	int refuse;              /* post returns this when non-zero */
	_Atomic uint64_t wall_ms;
	_Atomic uint64_t mono_ns;
};

static struct fake F;

static int fake_post(void *ud, const struct reply_msg *m, reply_done_fn done, void *cookie)
{
	struct fake *f = ud;
	if (f->refuse)
		return f->refuse;
	int i = atomic_fetch_add(&f->n, 1);
	cr_assert_lt(i, FAKE_MAX);
	struct posted *p = &f->p[i];
	p->m = *m;
	snprintf(p->text, sizeof p->text, "%.*s", (int)(m->text_len < 60 ? m->text_len : 60),
	         m->text ? (const char *)m->text : "");
	snprintf(p->tag, sizeof p->tag, "%s", m->tag ? m->tag : "");
	p->m.text = NULL;
	p->m.tag = NULL;
	p->done = done;
	p->cookie = cookie;
	return 0;
}

static uint64_t fake_wall(void *ud)
{
	return atomic_load(&((struct fake *)ud)->wall_ms);
}

static uint64_t fake_mono(void *ud)
{
	return atomic_load(&((struct fake *)ud)->mono_ns);
}

/* Complete post i: accepted with a wamid, or failed with code. */
static void complete(int i, int accepted, int64_t code)
{
	struct posted *p = &F.p[i];
	cr_assert_eq(p->completed, 0, "post %d completed twice", i);
	p->completed = 1;
	char wamid[40];
	snprintf(wamid, sizeof wamid, "wamid.reply-%d", i);
	struct reply_result r = { .accepted = accepted, .code = code,
	                          .permanent = !accepted && code == 131026,
	                          .wamid = accepted ? wamid : NULL,
	                          .wamid_len = accepted ? strlen(wamid) : 0 };
	p->done(p->cookie, &r);
}

static int posts(void)
{
	return atomic_load(&F.n);
}

static void fake_reset(void)
{
	memset(&F, 0, sizeof F);
	F.wall_ms = 1800000000000ull;   /* 2027-01-15 */
	F.mono_ns = 1000000000ull;
}

/* ============================================================== replies */

static struct replies *open_replies(unsigned max_outstanding)
{
	fake_reset();
	struct replies_config c = {
		.post = fake_post, .post_ud = &F, .wall_ms = fake_wall, .clock_ud = &F,
		.welcome_template = "welcome", .welcome_lang = "it",
		.max_outstanding = max_outstanding,
	};
	for (int k = 0; k < REPLY_KIND_COUNT; k++)
		c.texts[k] = reply_kind_name((enum reply_kind)k);
	struct replies *r = NULL;
	cr_assert_eq(replies_open(&r, &c), 0);
	return r;
}

Test(replies, nothing_leaves_before_its_ticket_is_durable)
{
	struct replies *r = open_replies(8);
	cr_assert_eq(replies_add(r, REPLY_WELCOME, 393330000001ull, F.wall_ms, 5), 0);
	cr_assert_eq(replies_add(r, REPLY_HELP, 393330000002ull, F.wall_ms, 0), 0);
	replies_pump(r);
	cr_assert_eq(posts(), 1, "only the help (ticket 0) may go");
	cr_assert_str_eq(F.p[0].tag, "help");
	replies_release(r, 4);
	cr_assert_eq(posts(), 1, "ticket 5 is not durable at 4");
	replies_release(r, 5);
	cr_assert_eq(posts(), 2);
	cr_assert_str_eq(F.p[1].tag, "welcome");
	cr_assert_eq(F.p[1].m.is_template, 0);
	complete(0, 1, 0);
	complete(1, 1, 0);
	replies_close(&r);
}

Test(replies, urgent_go_first_and_outstanding_is_bounded)
{
	struct replies *r = open_replies(3);
	for (uint64_t i = 0; i < 5; i++)
		cr_assert_eq(replies_add(r, REPLY_WELCOME, 393330000100ull + i, F.wall_ms, 0), 0);
	cr_assert_eq(replies_add(r, REPLY_OPT_OUT_ACK, 393330000200ull, F.wall_ms, 0), 0);
	replies_pump(r);
	cr_assert_eq(posts(), 3);
	cr_assert_str_eq(F.p[0].tag, "opt_out_ack");
	complete(0, 1, 0);
	cr_assert_eq(posts(), 4, "one finished, one more posted");
	for (int i = 1; i < 4; i++)
		complete(i, 1, 0);
	cr_assert_eq(posts(), 6);
	complete(4, 1, 0);
	complete(5, 1, 0);
	struct replies_stats st;
	replies_stats_get(r, &st);
	cr_assert_eq(st.outstanding, 0);
	cr_assert_eq(st.accepted, 6);
	cr_assert_eq(st.pending_welcomes, 0);
	replies_close(&r);
}

Test(replies, a_pending_welcome_is_not_queued_twice)
{
	struct replies *r = open_replies(8);
	uint64_t n = 393330000300ull;
	cr_assert_eq(replies_add(r, REPLY_WELCOME, n, F.wall_ms, 0), 0);
	cr_assert_eq(replies_add(r, REPLY_WELCOME, n, F.wall_ms, 0), BND_E_EXISTS);
	cr_assert_eq(replies_welcome_pending(r, n), 1);
	replies_pump(r);
	cr_assert_eq(replies_add(r, REPLY_WELCOME, n, F.wall_ms, 0), BND_E_EXISTS, "in flight");
	complete(0, 0, 131000);
	cr_assert_eq(replies_welcome_pending(r, n), 0);
	cr_assert_eq(replies_add(r, REPLY_WELCOME, n, F.wall_ms, 0), 0, "owed again");
	replies_pump(r);
	complete(1, 1, 0);
	replies_close(&r);
}

Test(replies, welcome_outside_the_window_is_the_template)
{
	struct replies *r = open_replies(8);
	uint64_t t_req = F.wall_ms - REPLIES_WINDOW_MS;   /* exactly 24 h ago */
	cr_assert_eq(replies_add(r, REPLY_WELCOME, 393330000400ull, t_req, 0), 0);
	cr_assert_eq(replies_add(r, REPLY_WELCOME, 393330000401ull, t_req + 1, 0), 0);
	replies_pump(r);
	cr_assert_eq(posts(), 2);
	cr_assert_eq(F.p[0].m.is_template, 1);
	cr_assert_str_eq(F.p[0].m.tmpl_name, "welcome");
	cr_assert_str_eq(F.p[0].tag, "welcome_template");
	cr_assert_eq(F.p[1].m.is_template, 0, "1 ms inside the window: text");
	complete(0, 1, 0);
	complete(1, 1, 0);
	replies_close(&r);
}

Test(replies, a_refused_post_frees_the_pending_mark)
{
	struct replies *r = open_replies(8);
	F.refuse = BND_E_RANGE;
	cr_assert_eq(replies_add(r, REPLY_WELCOME, 393330000500ull, F.wall_ms, 0), 0);
	replies_pump(r);
	struct replies_stats st;
	replies_stats_get(r, &st);
	cr_assert_eq(st.dropped, 1);
	cr_assert_eq(st.outstanding, 0);
	cr_assert_eq(replies_welcome_pending(r, 393330000500ull), 0);
	replies_close(&r);
}

/* ============================================================== service */

static const char *SECRET = "unit-secret";
#define PNID "110000000000001"

struct env {
	char dir[512];
	struct store *st;
	struct config cfg;
	struct service *svc;
	struct service_config sc;
	/* notice-status hook */
	int hook_calls;
	char hook_id[NOTICE_ID_SIZE];
	uint32_t hook_ordinal;
	enum journal_status hook_st;
};

static int hook(void *ud, const char *id, uint32_t ordinal, enum journal_status st,
                int32_t code, uint64_t t_ms)
{
	(void)code;
	(void)t_ms;
	struct env *e = ud;
	e->hook_calls++;
	snprintf(e->hook_id, sizeof e->hook_id, "%s", id);
	e->hook_ordinal = ordinal;
	e->hook_st = st;
	return 0;
}

static void env_open_store(struct env *e, unsigned flags)
{
	e->st = tu_open(e->dir, flags, NULL);
}

static void env_open_service(struct env *e)
{
	e->sc = (struct service_config){
		.store = e->st, .cfg = &e->cfg, .post = fake_post, .post_ud = &F,
		.notice_status = hook, .status_ud = e,
		.wall_ms = fake_wall, .mono_ns = fake_mono, .clock_ud = &F,
	};
	cr_assert_eq(service_open(&e->svc, &e->sc), 0);
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof *e);
	fake_reset();
	tu_tmpdir(e->dir, sizeof e->dir);
	env_open_store(e, STORE_CREATE);
	cr_assert_eq(config_defaults(&e->cfg), 0);
	setenv("BANDITORE_APP_SECRET", SECRET, 1);
	cr_assert_eq(config_load_env(&e->cfg), 0);
	env_open_service(e);
}

static void env_fini(struct env *e)
{
	service_close(&e->svc);
	store_close(&e->st);
	config_free(&e->cfg);
	tu_rmtree(e->dir);
}

/* A message body (one text message) in Meta's shape. */
static size_t body_msg(char *buf, size_t cap, uint64_t from, const char *id, const char *type,
                       const char *text, uint64_t ts, const char *pnid)
{
	char inner[256] = "";
	if (!strcmp(type, "text"))
		snprintf(inner, sizeof inner, ",\"text\":{\"body\":\"%s\"}", text);
	else if (!strcmp(type, "image"))
		snprintf(inner, sizeof inner, ",\"image\":{\"id\":\"1\",\"mime_type\":\"image/jpeg\"}");
	else if (!strcmp(type, "reaction"))
		snprintf(inner, sizeof inner, ",\"reaction\":{\"message_id\":\"x\",\"emoji\":\"+\"}");
	return (size_t)snprintf(buf, cap,
		"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"220000000000002\","
		"\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":"
		"{\"display_phone_number\":\"390731000000\",\"phone_number_id\":\"%s\"},"
		"\"contacts\":[{\"profile\":{\"name\":\"X\"},\"wa_id\":\"%llu\"}],"
		"\"messages\":[{\"from\":\"%llu\",\"id\":\"%s\",\"timestamp\":\"%llu\",\"type\":\"%s\"%s}]"
		"},\"field\":\"messages\"}]}]}",
		pnid, (unsigned long long)from, (unsigned long long)from, id, (unsigned long long)ts,
		type, inner);
}

static size_t body_status(char *buf, size_t cap, const char *id, const char *st, uint64_t rcpt,
                          const char *tag, int code)
{
	char err[160] = "";
	if (code)
		snprintf(err, sizeof err, ",\"errors\":[{\"code\":%d,\"title\":\"t\"}]", code);
	return (size_t)snprintf(buf, cap,
		"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"220000000000002\","
		"\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":"
		"{\"display_phone_number\":\"390731000000\",\"phone_number_id\":\"" PNID "\"},"
		"\"statuses\":[{\"id\":\"%s\",\"status\":\"%s\",\"timestamp\":\"1800000000\","
		"\"recipient_id\":\"%llu\",\"biz_opaque_callback_data\":\"%s\"%s}]"
		"},\"field\":\"messages\"}]}]}",
		id, st, (unsigned long long)rcpt, tag, err);
}

static struct service_ingest ingest_sig(struct env *e, const char *body, size_t len, int forge)
{
	char sig[WEBHOOK_SIG_LEN + 1];
	const char *key = forge ? "wrong" : SECRET;
	cr_assert_eq(webhook_sign((const uint8_t *)key, strlen(key), (const uint8_t *)body, len, sig),
	             0);
	struct service_ingest in;
	service_ingest(e->svc, (const uint8_t *)body, len, sig, &in);
	return in;
}

/* Send one text message; returns the ingest result. */
static struct service_ingest say(struct env *e, uint64_t from, const char *id, const char *text)
{
	char b[2048];
	size_t n = body_msg(b, sizeof b, from, id, "text", text, F.wall_ms / 1000, PNID);
	return ingest_sig(e, b, n, 0);
}

static enum sub_state state_of(struct env *e, uint64_t n)
{
	enum sub_state st = SUB_NONE;
	cr_assert_eq(store_get(e->st, n, &st, NULL), 0);
	return st;
}

static const uint64_t N1 = 393351234567ull, N2 = 393351234568ull;

Test(service, jesi_on_is_durable_before_the_welcome_and_confirmed_by_its_acceptance)
{
	struct env e;
	env_init(&e);
	struct service_ingest in = say(&e, N1, "wamid.on1", "JESI ON");
	cr_assert_eq(in.status, 0, "the answer waits for the commit");
	cr_assert_eq(in.need_commit, 1);
	cr_assert_eq(in.changes, 1);
	cr_assert_eq(state_of(&e, N1), SUB_REQUESTED);
	cr_assert_eq(posts(), 0, "no welcome before the record is durable");
	cr_assert_eq(service_commit(e.svc), 0);
	cr_assert_eq(posts(), 1);
	cr_assert_str_eq(F.p[0].tag, "welcome");
	cr_assert_eq(F.p[0].m.number, N1);
	cr_assert(strstr(F.p[0].text, "Benvenuto") != NULL, "the configured welcome: %s",
	          F.p[0].text);
	complete(0, 1, 0);
	cr_assert_eq(state_of(&e, N1), SUB_CONFIRMED);
	struct store_record rec;
	cr_assert_eq(store_get_record(e.st, N1, &rec), 0);
	cr_assert_eq(rec.src_len, strlen("wamid.reply-0"), "src = the welcome's wamid");
	cr_assert_eq(memcmp(rec.src, "wamid.reply-0", rec.src_len), 0);
	env_fini(&e);
}

Test(service, a_redelivery_changes_nothing_and_waits_for_the_commit)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.dup", "JESI ON");
	struct service_ingest in = say(&e, N1, "wamid.dup", "JESI ON");
	cr_assert_eq(in.duplicates, 1);
	cr_assert_eq(in.changes, 0);
	cr_assert_eq(in.need_commit, 1, "the first delivery may not be durable yet");
	service_commit(e.svc);
	cr_assert_eq(posts(), 1, "one welcome");
	struct store_stats ss;
	store_get_stats(e.st, &ss);
	cr_assert_eq(ss.appends, 1);
	complete(0, 1, 0);
	/* After the commit, and after the restart of the process, still a dup. */
	service_close(&e.svc);
	store_close(&e.st);
	env_open_store(&e, 0);
	env_open_service(&e);
	in = say(&e, N1, "wamid.dup", "JESI ON");
	cr_assert_eq(in.duplicates, 1);
	store_get_stats(e.st, &ss);
	cr_assert_eq(ss.appends, 0);
	env_fini(&e);
}

Test(service, forged_or_missing_signature_is_401_and_records_nothing)
{
	struct env e;
	env_init(&e);
	char b[2048];
	size_t n = body_msg(b, sizeof b, N1, "wamid.f", "text", "JESI ON", F.wall_ms / 1000, PNID);
	struct service_ingest in = ingest_sig(&e, b, n, 1);
	cr_assert_eq(in.status, 401);
	service_ingest(e.svc, (const uint8_t *)b, n, NULL, &in);
	cr_assert_eq(in.status, 401);
	cr_assert_eq(state_of(&e, N1), SUB_NONE);
	struct store_stats ss;
	store_get_stats(e.st, &ss);
	cr_assert_eq(ss.appends, 0);
	/* And the genuine one afterwards is not taken for a duplicate. */
	in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.changes, 1);
	env_fini(&e);
}

Test(service, bad_bodies_are_400_or_413)
{
	struct env e;
	env_init(&e);
	const char *bad = "{\"object\":\"whatsapp_business_account\",\"entry\":[";
	struct service_ingest in = ingest_sig(&e, bad, strlen(bad), 0);
	cr_assert_eq(in.status, 400);
	in = ingest_sig(&e, "[1,2]", 5, 0);
	cr_assert_eq(in.status, 400);
	size_t big = (size_t)e.cfg.webhook_max_body_bytes + 1;
	char *b = calloc(1, big);
	memset(b, ' ', big);
	in = ingest_sig(&e, b, big, 0);
	cr_assert_eq(in.status, 413);
	free(b);
	env_fini(&e);
}

Test(service, jesi_off_unsubscribes_at_once_and_acknowledges)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.a", "JESI ON");
	service_commit(&*e.svc);
	complete(0, 1, 0);
	cr_assert_eq(state_of(&e, N1), SUB_CONFIRMED);
	struct service_ingest in = say(&e, N1, "wamid.b", "jesi off");
	cr_assert_eq(in.changes, 1);
	cr_assert_eq(state_of(&e, N1), SUB_UNSUBSCRIBED, "visible at once to the sender's check");
	service_commit(e.svc);
	cr_assert_eq(posts(), 2);
	cr_assert_str_eq(F.p[1].tag, "opt_out_ack");
	complete(1, 1, 0);
	/* OFF from a number never subscribed: the ack, no state. */
	in = say(&e, N2, "wamid.c", "STOP");
	cr_assert_eq(in.changes, 0);
	cr_assert_eq(in.status, 200);
	cr_assert_eq(state_of(&e, N2), SUB_NONE);
	cr_assert_eq(posts(), 3);
	cr_assert_str_eq(F.p[2].tag, "opt_out_ack");
	/* its redelivery is not acknowledged twice */
	in = say(&e, N2, "wamid.c", "STOP");
	cr_assert_eq(in.duplicates, 1);
	cr_assert_eq(posts(), 3);
	complete(2, 1, 0);
	env_fini(&e);
}

Test(service, opt_out_while_the_welcome_waits_drops_it)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.on", "JESI ON");
	say(&e, N1, "wamid.off", "JESI OFF");   /* before any commit */
	service_commit(e.svc);
	/* The ack goes (urgent first); the welcome is dropped as unwanted. */
	cr_assert_eq(posts(), 1);
	cr_assert_str_eq(F.p[0].tag, "opt_out_ack");
	struct service_stats st;
	service_stats_get(e.svc, &st);
	cr_assert_eq(st.replies.unwanted, 1);
	cr_assert_eq(state_of(&e, N1), SUB_UNSUBSCRIBED);
	complete(0, 1, 0);
	env_fini(&e);
}

Test(service, welcome_accepted_after_an_opt_out_does_not_confirm)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.on", "JESI ON");
	service_commit(e.svc);
	cr_assert_eq(posts(), 1);
	say(&e, N1, "wamid.off", "JESI OFF");
	complete(0, 1, 0);   /* the welcome was on the wire already */
	cr_assert_eq(state_of(&e, N1), SUB_UNSUBSCRIBED);
	env_fini(&e);
}

Test(service, already_subscribed_help_and_chat)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.1", "JESI ON");
	service_commit(e.svc);
	complete(0, 1, 0);
	struct service_ingest in = say(&e, N1, "wamid.2", "\xe2\x80\x9cJesi  on!\xe2\x80\x9d");
	cr_assert_eq(in.changes, 0);
	cr_assert_eq(in.status, 200);
	cr_assert_eq(posts(), 1, "\"already subscribed\" waits for the confirmation's commit");
	service_commit(e.svc);   /* the committer's job, kicked by the confirmation */
	cr_assert_eq(posts(), 2);
	cr_assert_str_eq(F.p[1].tag, "already_subscribed");
	in = say(&e, N2, "wamid.3", "aiuto");
	cr_assert_eq(posts(), 3);
	cr_assert_str_eq(F.p[2].tag, "help");
	in = say(&e, N2, "wamid.4", "ciao, a che ora apre il comune?");
	cr_assert_eq(in.status, 200);
	cr_assert_eq(posts(), 3, "chat gets no reply by default");
	in = say(&e, N2, "wamid.5", "JESI ON JESI OFF");
	cr_assert_eq(in.changes, 0, "conflict changes nothing");
	cr_assert_eq(state_of(&e, N2), SUB_NONE);
	cr_assert_eq(posts(), 3);
	for (int i = 1; i < 3; i++)
		complete(i, 1, 0);
	env_fini(&e);
}

Test(service, auto_reply_at_most_once_per_interval_when_enabled)
{
	struct env e;
	env_init(&e);
	char err[CONFIG_ERR_MAX];
	cr_assert_eq(config_set(&e.cfg, "auto-reply", "on", err, sizeof err), 0);
	service_close(&e.svc);
	env_open_service(&e);
	say(&e, N2, "wamid.c1", "buongiorno");
	cr_assert_eq(posts(), 1);
	cr_assert_str_eq(F.p[0].tag, "auto_reply");
	say(&e, N2, "wamid.c2", "c'e' qualcuno?");
	cr_assert_eq(posts(), 1, "once per interval");
	char b[2048];
	size_t n = body_msg(b, sizeof b, N2, "wamid.r", "reaction", "", F.wall_ms / 1000, PNID);
	ingest_sig(&e, b, n, 0);
	F.wall_ms += e.cfg.auto_reply_interval_ns / 1000000u;
	n = body_msg(b, sizeof b, N2, "wamid.img", "image", "", F.wall_ms / 1000, PNID);
	ingest_sig(&e, b, n, 0);
	cr_assert_eq(posts(), 2, "after the interval, an image gets it again");
	complete(0, 1, 0);
	complete(1, 1, 0);
	env_fini(&e);
}

Test(service, requested_without_pending_welcome_gets_it_again)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.1", "JESI ON");
	service_commit(e.svc);
	say(&e, N1, "wamid.2", "JESI ON");          /* welcome in flight: nothing */
	cr_assert_eq(posts(), 1);
	complete(0, 0, 131000);                     /* it failed */
	cr_assert_eq(state_of(&e, N1), SUB_REQUESTED);
	struct service_ingest in = say(&e, N1, "wamid.3", "JESI ON");
	cr_assert_eq(in.changes, 0);
	cr_assert_eq(posts(), 2, "retried");
	cr_assert_str_eq(F.p[1].tag, "welcome");
	complete(1, 1, 0);
	cr_assert_eq(state_of(&e, N1), SUB_CONFIRMED);
	env_fini(&e);
}

Test(service, restart_scan_resends_owed_welcomes_and_counts_overdue)
{
	struct env e;
	env_init(&e);
	/* Two requests; one 3 days old. */
	uint64_t now_s = F.wall_ms / 1000;
	char b[2048];
	size_t n = body_msg(b, sizeof b, N1, "wamid.old", "text", "JESI ON", now_s - 3 * 86400, PNID);
	ingest_sig(&e, b, n, 0);
	say(&e, N2, "wamid.new", "JESI ON");
	/* crash before any commit: nothing was posted */
	cr_assert_eq(posts(), 0);
	service_close(&e.svc);
	store_close(&e.st);
	env_open_store(&e, 0);
	fake_reset();
	env_open_service(&e);
	cr_assert_eq(service_start(e.svc), 0);
	struct service_stats st;
	service_stats_get(e.svc, &st);
	cr_assert_eq(st.overdue, 1, "older than 48 h");
	cr_assert_eq(posts(), 2);
	int tmpl = F.p[0].m.number == N1 ? 0 : 1;
	cr_assert_eq(F.p[tmpl].m.is_template, 1, "3 days: outside the window");
	cr_assert_eq(F.p[1 - tmpl].m.is_template, 0);
	complete(0, 1, 0);
	complete(1, 1, 0);
	cr_assert_eq(state_of(&e, N1), SUB_CONFIRMED);
	cr_assert_eq(state_of(&e, N2), SUB_CONFIRMED);
	cr_assert_eq(service_scan(e.svc), 0);
	env_fini(&e);
}

Test(service, a_status_of_the_welcome_confirms_a_lost_confirmation)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.1", "JESI ON");
	service_commit(e.svc);
	cr_assert_eq(posts(), 1);
	/* the acceptance is never reported (crash); a status comes instead */
	char b[2048];
	size_t n = body_status(b, sizeof b, "wamid.welcome1", "delivered", N1, "welcome", 0);
	struct service_ingest in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.changes, 1);
	cr_assert_eq(in.need_commit, 1);
	cr_assert_eq(state_of(&e, N1), SUB_CONFIRMED);
	/* the same status again: deduplicated */
	in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.duplicates, 1);
	complete(0, 1, 0);
	env_fini(&e);
}

Test(service, notice_statuses_go_to_the_hook)
{
	struct env e;
	env_init(&e);
	char b[2048];
	size_t n = body_status(b, sizeof b, "wamid.n1", "read", N1, "n-20261128T101500-a3f9:98231", 0);
	struct service_ingest in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.status, 200);
	cr_assert_eq(e.hook_calls, 1);
	cr_assert_str_eq(e.hook_id, "n-20261128T101500-a3f9");
	cr_assert_eq(e.hook_ordinal, 98231);
	cr_assert_eq(e.hook_st, JSTATUS_READ);
	n = body_status(b, sizeof b, "wamid.n2", "read", N1, "n-20261128T101500-a3f9:01", 0);
	ingest_sig(&e, b, n, 0);
	cr_assert_eq(e.hook_calls, 1, "a malformed tag is not a notice's");
	env_fini(&e);
}

Test(service, events_of_another_number_are_ignored)
{
	struct env e;
	env_init(&e);
	char b[2048];
	size_t n = body_msg(b, sizeof b, N1, "wamid.x", "text", "JESI ON", F.wall_ms / 1000,
	                    "999999999999999");
	struct service_ingest in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.ignored, 1);
	cr_assert_eq(in.status, 200);
	cr_assert_eq(state_of(&e, N1), SUB_NONE);
	env_fini(&e);
}

Test(service, not_on_whatsapp_marks_invalid_and_a_new_on_starts_over)
{
	struct env e;
	env_init(&e);
	say(&e, N1, "wamid.1", "JESI ON");
	service_commit(e.svc);
	complete(0, 0, 131026);
	cr_assert_eq(state_of(&e, N1), SUB_INVALID);
	say(&e, N1, "wamid.2", "JESI ON");
	cr_assert_eq(state_of(&e, N1), SUB_REQUESTED);
	service_commit(e.svc);
	cr_assert_eq(posts(), 2);
	complete(1, 1, 0);
	cr_assert_eq(state_of(&e, N1), SUB_CONFIRMED);
	env_fini(&e);
}

Test(service, no_app_secret_refuses_to_open)
{
	struct config c;
	cr_assert_eq(config_defaults(&c), 0);
	fake_reset();
	struct service_config sc = { .store = (struct store *)&c, .cfg = &c, .post = fake_post,
	                             .wall_ms = fake_wall, .mono_ns = fake_mono };
	struct service *svc = NULL;
	cr_assert_eq(service_open(&svc, &sc), BND_E_SERVE_NO_SECRET);
	cr_assert_null(svc);
	config_free(&c);
}

/* ---- statuses of notices not running here (journals.c) ---- */

#include "notice.h"

static void make_notice(struct env *e, const char *id, enum notice_state st)
{
	struct notice *n = calloc(1, sizeof *n);
	cr_assert_eq(notice_init(n, NOTICE_CAT_INFO, F.wall_ms - 60000, 0, 1), 0);
	snprintf(n->id, sizeof n->id, "%s", id);
	cr_assert_eq(notice_set_text(n, (const uint8_t *)"Avviso", 6), 0);
	uint64_t nums[2] = { N1, N2 };
	cr_assert_eq(notice_create(e->dir, n, nums, 2, 0), 0);
	free(n);
	if (st != NOTICE_QUEUED) {
		struct journal *j = NULL;
		cr_assert_eq(journal_open_notice(&j, e->dir, id, NULL, NULL, NULL), 0);
		cr_assert_eq(journal_set_state(j, st, NOTICE_REASON_OPERATOR, 0, F.wall_ms, NULL), 0);
		cr_assert_eq(journal_close(&j), 0);
	}
}

static struct journal_report notice_report(struct env *e, const char *id)
{
	struct journal *j = NULL;
	struct journal_opts o = { .flags = JOURNAL_RDONLY };
	cr_assert_eq(journal_open_notice(&j, e->dir, id, NULL, &o, NULL), 0);
	struct journal_report r;
	journal_report(j, F.wall_ms, &r);
	journal_close(&j);
	return r;
}

Test(service, statuses_of_finished_and_paused_notices_are_journaled_before_the_200)
{
	struct env e;
	env_init(&e);
	/* the service with a data directory and no sender hook */
	service_close(&e.svc);
	e.sc.notice_status = NULL;
	e.sc.data_dir = e.dir;
	cr_assert_eq(service_open(&e.svc, &e.sc), 0);
	const char *done_id = "n-20261128T101500-a3f9", *queued_id = "n-20261128T101501-b3f9";
	make_notice(&e, done_id, NOTICE_CANCELLED);
	make_notice(&e, queued_id, NOTICE_QUEUED);

	char b[2048], tag[64];
	snprintf(tag, sizeof tag, "%s:1", done_id);
	size_t n = body_status(b, sizeof b, "wamid.d1", "delivered", N2, tag, 0);
	struct service_ingest in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.status, 0, "journaled: the 200 waits for the commit");
	cr_assert_eq(service_commit(e.svc), 0);
	struct journal_report r = notice_report(&e, done_id);
	cr_assert_eq(r.delivered, 1);
	/* a queued (resumable) notice: recorded at once, lock not kept */
	snprintf(tag, sizeof tag, "%s:0", queued_id);
	n = body_status(b, sizeof b, "wamid.q0", "sent", N1, tag, 0);
	in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.status, 200);
	r = notice_report(&e, queued_id);
	cr_assert_eq(r.sent, 1);
	cr_assert_eq(r.reconciled, 1, "a status proves the API accepted the ordinal");
	struct journal *j = NULL;
	cr_assert_eq(journal_open_notice(&j, e.dir, queued_id, NULL, NULL, NULL), 0,
	             "the service does not keep a resumable notice's lock");
	/* ...and while someone else holds it, the status is unrouted */
	n = body_status(b, sizeof b, "wamid.q1", "sent", N2, "n-20261128T101501-b3f9:1", 0);
	in = ingest_sig(&e, b, n, 0);
	cr_assert_eq(in.status, 200);
	journal_close(&j);
	struct service_stats st;
	service_stats_get(e.svc, &st);
	cr_assert_eq(st.journaled_statuses, 2);
	cr_assert_eq(st.unrouted_statuses, 1);
	env_fini(&e);
}

/* serve's periodic compaction purges the notices too (notice_purge.h): a
 * finished notice is reduced to a count, a resumable one loses the numbers
 * the store erased, a notice someone holds is left for the next tick. */
#include "notice_purge.h"

Test(service, the_periodic_compaction_purges_the_notices_and_skips_a_held_one)
{
	struct env e;
	env_init(&e);
	service_close(&e.svc);
	e.sc.notice_status = NULL;
	e.sc.data_dir = e.dir;
	cr_assert_eq(service_open(&e.svc, &e.sc), 0);
	cr_assert_gt(e.cfg.compact_interval_ns, 0);
	cr_assert_eq(store_append(e.st, N1, SUB_CONFIRMED, F.wall_ms - 90000, NULL, 0, NULL), 0);
	cr_assert_eq(store_append(e.st, N2, SUB_CONFIRMED, F.wall_ms - 90000, NULL, 0, NULL), 0);
	const char *fin = "n-20261128T101500-a3f9", *live = "n-20261128T101501-b3f9",
		   *held = "n-20261128T101502-c3f9";
	make_notice(&e, fin, NOTICE_CANCELLED);
	make_notice(&e, live, NOTICE_QUEUED);
	make_notice(&e, held, NOTICE_QUEUED);
	cr_assert_eq(store_append(e.st, N1, SUB_UNSUBSCRIBED, F.wall_ms, NULL, 0, NULL), 0);
	struct journal *j = NULL;   /* a sender fanning `held` out */
	cr_assert_eq(journal_open_notice(&j, e.dir, held, NULL, NULL, NULL), 0);

	service_tick(e.svc);   /* never started: the first tick compacts */

	struct notice_rcpt *r = NULL;
	cr_assert_eq(notice_rcpt_open(&r, e.dir, live), 0);
	cr_assert_eq(notice_rcpt_get(r, 0), 0, "N1 erased");
	cr_assert_eq(notice_rcpt_get(r, 1), N2);
	notice_rcpt_close(&r);
	cr_assert_eq(notice_rcpt_open(&r, e.dir, fin), 0);
	cr_assert_eq(notice_rcpt_count(r), 2);
	cr_assert_eq(notice_rcpt_get(r, 1), 0, "a finished notice keeps only its count");
	notice_rcpt_close(&r);
	cr_assert_eq(notice_rcpt_open(&r, e.dir, held), 0);
	cr_assert_eq(notice_rcpt_get(r, 0), N1, "a held notice is not purged under its sender");
	notice_rcpt_close(&r);

	/* Released; the next compaction (a day later) purges it. */
	journal_close(&j);
	atomic_fetch_add(&F.mono_ns, e.cfg.compact_interval_ns + 1000000000ull);
	service_tick(e.svc);
	cr_assert_eq(notice_rcpt_open(&r, e.dir, held), 0);
	cr_assert_eq(notice_rcpt_get(r, 0), 0);
	cr_assert_eq(notice_rcpt_get(r, 1), N2);
	notice_rcpt_close(&r);
	env_fini(&e);
}
