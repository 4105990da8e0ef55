/*
 * notice.h - what a notice is and where it lives on disk.
 *
 * A notice is one message the city fans out to every confirmed subscriber:
 * a category (which sets its priority), a text, optionally a WhatsApp
 * template (name, language, body parameters) that carries it, a creation
 * time and an expiry. It lives in DATA_DIR/notices/<id>/:
 *
 *   notice.json      the definition, written once (notice_save/notice_load)
 *   recipients.bin   the immutable recipient list: the store's confirmed
 *                    snapshot at creation, ascending packed numbers; a
 *                    recipient's ordinal is its position (struct notice_rcpt).
 *                    Compaction may replace it with a copy whose erased
 *                    entries read 0, or a count-only stub (notice_purge.h)
 *   journal.log      per-recipient progress (journal.h; format: JOURNAL.md)
 *
 * notice_create writes all three in a hidden directory and renames it into
 * place, so a notice exists completely or not at all.
 *
 * This header also owns the notice id (sortable, unique) and the callback
 * tag sent as biz_opaque_callback_data ("<notice_id>:<ordinal>"), which
 * status webhooks echo so that outcomes can be reconciled after a crash.
 *
 * Threading: everything here is pure or works on caller-owned values, except
 * struct notice_rcpt, which is read-only after open and so may be shared by
 * threads.
 */
#ifndef NOTICE_H
#define NOTICE_H

#include <stddef.h>
#include <stdint.h>

/* ---- categories, priorities, states ------------------------------------ */

/* Values are not stored on disk (notice.json has the names). */
enum notice_category {
	NOTICE_CAT_EMERGENCY = 1,   /* civil protection: pre-empts everything */
	NOTICE_CAT_DISRUPTION = 2,  /* school or road closures */
	NOTICE_CAT_DEADLINE = 3,
	NOTICE_CAT_EVENT = 4,       /* events in town: the lowest priority */
	NOTICE_CAT_INFO = 5,        /* other public information */
};

/*
 * notice_category_parse - "emergency", "disruption", "deadline", "event" or
 * "info" (exact, lower case) to its enum. Returns 0 or BND_E_NOTICE_CATEGORY.
 * Pure; reads at most len bytes.
 */
int notice_category_parse(const uint8_t *p, size_t len, enum notice_category *out);

/* notice_category_name - the name above, or "?" for an unknown value. */
const char *notice_category_name(enum notice_category c);

/*
 * notice_priority - larger is sent first: emergency 4 > disruption 3 >
 * deadline 2 > info 1 > event 0. Unknown categories get -1.
 */
int notice_priority(enum notice_category c);

/*
 * The life cycle. QUEUED -> RUNNING <-> PAUSED; any non-terminal state ->
 * DONE, CANCELLED, EXPIRED or STOPPED; STOPPED -> RUNNING (a stop for a
 * campaign- or engine-wide error can be resumed once the cause is fixed).
 * DONE, CANCELLED and EXPIRED are terminal. Values are part of the journal
 * format: never renumber.
 */
enum notice_state {
	NOTICE_QUEUED = 0,
	NOTICE_RUNNING = 1,
	NOTICE_PAUSED = 2,
	NOTICE_DONE = 3,       /* every recipient has a final outcome */
	NOTICE_CANCELLED = 4,  /* by the operator: nothing more is sent */
	NOTICE_EXPIRED = 5,    /* past its expiry: the rest counted as expired */
	NOTICE_STOPPED = 6,    /* by an error that would fail every send */
};
#define NOTICE_STATE_COUNT 7

/* Why a notice left RUNNING. Part of the journal format: never renumber. */
enum notice_reason {
	NOTICE_REASON_NONE = 0,
	NOTICE_REASON_OPERATOR = 1,   /* pause, cancel or resume by a person */
	NOTICE_REASON_CAMPAIGN = 2,   /* an API error fatal to this notice
	                                 (template missing or paused: 132001...) */
	NOTICE_REASON_ENGINE = 3,     /* an API error fatal to every notice
	                                 (token invalid: 190...) */
	NOTICE_REASON_EXPIRY = 4,
	NOTICE_REASON_LOCAL = 5,      /* a local failure (disk full, no memory) */
	NOTICE_REASON_COMPLETE = 6,   /* DONE: every recipient final */
	NOTICE_REASON_SHUTDOWN = 7,   /* PAUSED by the process stopping (SIGTERM
	                                 or SIGINT): `serve` resumes it at start */
};
#define NOTICE_REASON_COUNT 8

/* Names for reports: "queued", "running", ...; "?" when unknown. */
const char *notice_state_name(enum notice_state st);
const char *notice_reason_name(enum notice_reason r);

/* notice_state_terminal - 1 for DONE, CANCELLED and EXPIRED, else 0. */
int notice_state_terminal(enum notice_state st);

/*
 * notice_state_allowed - 1 when the life cycle above allows from -> to.
 * Staying in the same state is not a transition (0).
 */
int notice_state_allowed(enum notice_state from, enum notice_state to);

/* ---- ids and callback tags --------------------------------------------- */

/*
 * A notice id is "n-YYYYmmddTHHMMSS-xxxx": the UTC creation second and four
 * lower-case hex digits of randomness. Ids sort by creation time as plain
 * strings; two notices created in the same second differ by the random
 * part (notice_create refuses a duplicate with BND_E_EXISTS, so the caller
 * draws again).
 */
#define NOTICE_ID_LEN 22     /* strlen("n-20251012T101500-a3f9") */
#define NOTICE_ID_SIZE 24    /* buffer: the id, a NUL, one byte of padding */

/*
 * notice_id_make - write the id for wall-clock time wall_ms (milliseconds
 * since the epoch, UTC) and the low 16 bits of rnd into out (NUL-terminated).
 * Returns 0, or BND_E_INVAL when the year is outside 1970..9999.
 */
int notice_id_make(uint64_t wall_ms, uint32_t rnd, char out[NOTICE_ID_SIZE]);

/* notice_id_valid - 1 when p[0..len) is exactly a well-formed id. Pure. */
int notice_id_valid(const uint8_t *p, size_t len);

/*
 * The callback tag sent as biz_opaque_callback_data: "<notice_id>:<ordinal>",
 * the ordinal in decimal without leading zeros ("n-20251012T101500-a3f9:98231").
 */
#define NOTICE_TAG_MAX 34    /* 22 + ':' + 10 digits + NUL */

/*
 * notice_tag_format - write the tag of (id, ordinal) into buf (at least
 * NOTICE_TAG_MAX bytes), NUL-terminated. Returns its length (> 0), or
 * BND_E_NOTICE_ID when id is not a valid id.
 */
int notice_tag_format(const char *id, uint32_t ordinal, char buf[NOTICE_TAG_MAX]);

/*
 * notice_tag_parse - parse a tag echoed by a status webhook (outside input).
 * On success copies the id (NUL-terminated) into id_out and the ordinal
 * into *ordinal (either may be NULL) and returns 0. Returns BND_E_NOTICE_TAG
 * for anything else: wrong length, bad id, missing ':', non-digits, leading
 * zeros, a value above UINT32_MAX. Pure; reads at most len bytes; outputs
 * untouched on error.
 */
int notice_tag_parse(const uint8_t *p, size_t len, char id_out[NOTICE_ID_SIZE],
                     uint32_t *ordinal);

/* ---- the definition ---------------------------------------------------- */

#define NOTICE_TEXT_MAX_CHARS 4096   /* WhatsApp's text body limit (code points) */
#define NOTICE_TEXT_MAX 16384        /* bytes: 4096 code points of up to 4 bytes */
#define NOTICE_TEMPLATE_MAX 512      /* template name: [a-z0-9_], 1..512 */
#define NOTICE_LANG_MAX 15           /* language code: [A-Za-z_], 2..15 ("it", "en_US") */
#define NOTICE_PARAMS_MAX 10         /* body parameters of a template */
#define NOTICE_PARAM_MAX 1024        /* bytes per parameter (UTF-8) */
#define NOTICE_JSON_MAX (256 * 1024) /* notice.json larger than this is refused */
#define NOTICE_MAX_RECIPIENTS 0xFFFFFFF0u  /* ordinals are 32-bit in the journal */

/*
 * One notice definition. A plain value (about 27 KiB: allocate it or make it
 * static, it is too big for small stacks); the strings are NUL-terminated
 * copies. Fill it with notice_init and the setters, which validate; a
 * struct filled by hand must pass notice_validate before it is saved.
 */
struct notice {
	char id[NOTICE_ID_SIZE];
	enum notice_category category;
	uint64_t created_ms;          /* wall clock, ms since the epoch */
	uint64_t expires_ms;          /* wall clock; 0 = never */
	size_t text_len;
	char text[NOTICE_TEXT_MAX + 1];
	char template_name[NOTICE_TEMPLATE_MAX + 1];  /* "" = plain text message */
	char lang[NOTICE_LANG_MAX + 1];               /* "" unless a template */
	unsigned nparams;             /* 0: the sender passes the text as the one
	                                 body parameter */
	size_t param_len[NOTICE_PARAMS_MAX];
	char params[NOTICE_PARAMS_MAX][NOTICE_PARAM_MAX + 1];
	uint32_t recipients;          /* set by notice_load (the list's size);
	                                 ignored by notice_create */
};

/*
 * notice_init - zero n, set its category, times and a fresh id made from
 * created_ms and rnd. expires_ms is an absolute wall-clock time (0 = never).
 * Returns 0, BND_E_NOTICE_CATEGORY, or BND_E_INVAL (expiry not after
 * creation, or a year outside 1970..9999).
 */
int notice_init(struct notice *n, enum notice_category cat, uint64_t created_ms,
                uint64_t expires_ms, uint32_t rnd);

/*
 * notice_set_text - copy the text: valid UTF-8 without NUL bytes, 1 to
 * NOTICE_TEXT_MAX_CHARS code points. Returns 0 or BND_E_NOTICE_TEXT (n
 * unchanged).
 */
int notice_set_text(struct notice *n, const uint8_t *p, size_t len);

/*
 * notice_set_template - send through the approved template name in
 * language lang (both NUL-terminated; rules above). Returns 0 or
 * BND_E_NOTICE_TEMPLATE (n unchanged).
 */
int notice_set_template(struct notice *n, const char *name, const char *lang);

/*
 * notice_add_param - append one body parameter (valid UTF-8 without NUL,
 * 1..NOTICE_PARAM_MAX bytes). Needs a template. Returns 0,
 * BND_E_NOTICE_TEMPLATE (no template, bad text) or BND_E_RANGE (full).
 */
int notice_add_param(struct notice *n, const uint8_t *p, size_t len);

/*
 * notice_validate - check every field as the setters do. Returns 0 or the
 * first failing code: BND_E_NOTICE_ID, _CATEGORY, _TEXT, _TEMPLATE,
 * BND_E_INVAL (times), BND_E_RANGE (nparams).
 */
int notice_validate(const struct notice *n);

/*
 * notice_expired - 1 when the notice has an expiry and now_ms is at or past
 * it. Nothing may be dispatched then.
 */
int notice_expired(const struct notice *n, uint64_t now_ms);

/* ---- on disk ------------------------------------------------------------ */

/*
 * notice_path - write "<data_dir>/notices[/<id>[/<file>]]" into buf (cap
 * bytes); id and file may be NULL. Returns the length, or BND_E_RANGE when
 * it does not fit.
 */
int notice_path(char *buf, size_t cap, const char *data_dir, const char *id,
                const char *file);

/*
 * notice_create - create DATA_DIR/notices/<n->id>/ holding notice.json,
 * recipients.bin (numbers[0..count): strictly ascending valid packed
 * numbers, as store_confirmed_snapshot returns them) and an empty
 * journal.log whose tracking window spans `span` ordinals (0: the default,
 * JOURNAL_SPAN_DEFAULT). Directories are created 0700 and files 0600.
 * Everything is written and synced in DATA_DIR/notices/.tmp-<id>/, then
 * renamed into place (never over an existing notice) and the parent synced.
 * The caller holds the data directory's writer lock.
 * count may be 0 (numbers may then be NULL): such a notice is done at once.
 * Returns 0; BND_E_EXISTS (the id is taken: draw another); BND_E_INVAL
 * (n fails notice_validate, numbers not ascending or invalid, bad span);
 * BND_E_RANGE (count above NOTICE_MAX_RECIPIENTS, path too long);
 * BND_E_NOMEM; -errno. On failure nothing is left under notices/.
 */
int notice_create(const char *data_dir, const struct notice *n, const uint64_t *numbers,
                  size_t count, uint32_t span);

/*
 * notice_create_from - notice_create with the recipients pulled from a
 * source instead of an array: src(ud, sink, sink_ud) must call
 * sink(sink_ud, chunk, k) with consecutive chunks of the strictly ascending
 * list and return 0 (or its own error, returned as is). recipients.bin is
 * written as the chunks arrive (64 KiB at a time), so no copy of the list is
 * ever held: `send` passes store_confirmed_stream, which hands out the
 * store's kept view. *count (may be NULL) gets the number of recipients.
 * Same files, syncs, atomicity and codes as notice_create.
 */
typedef int (*notice_sink_fn)(void *sink_ud, const uint64_t *numbers, size_t k);
typedef int (*notice_source_fn)(void *ud, notice_sink_fn sink, void *sink_ud);
int notice_create_from(const char *data_dir, const struct notice *n, notice_source_fn src,
                       void *ud, uint32_t span, size_t *count);

/*
 * notice_load - read and validate DATA_DIR/notices/<id>/notice.json into
 * *out. Returns 0; BND_E_NOTICE_ID (bad id); BND_E_NOTFOUND (no such
 * notice); BND_E_NOTICE_JSON (unparseable, wrong shape, too big, or its id
 * differs from the directory's); the validation codes of notice_validate;
 * BND_E_NOMEM; -errno. *out is unspecified on failure.
 */
int notice_load(const char *data_dir, const char *id, struct notice *out);

/*
 * notice_list - the ids of every notice under DATA_DIR/notices, sorted
 * (that is, by creation time). *ids is allocated with bnd_malloc and owned
 * by the caller (bnd_free), *n its length; both are NULL/0 when there is
 * none. Entries that are not notice ids (such as .tmp-* leftovers) are
 * ignored. Returns 0, BND_E_NOMEM, BND_E_RANGE (path too long), -errno.
 */
int notice_list(const char *data_dir, char (**ids)[NOTICE_ID_SIZE], size_t *n);

/*
 * notice_cleanup - remove DATA_DIR/notices/.tmp-* directories that an
 * interrupted notice_create left behind. Writers only (the caller holds the
 * data directory's lock). Returns the number removed or -errno.
 */
int notice_cleanup(const char *data_dir);

/* ---- the recipient list ------------------------------------------------- */

/*
 * recipients.bin: a 64-byte header (magic, version, notice id, count, body
 * checksum, header checksum) and count little-endian u64 packed numbers,
 * strictly ascending. Layout and rules: JOURNAL.md, "recipients.bin".
 */
#define RCPT_MAGIC 0x43524e42u    /* "BNRC" read as a little-endian u32 */
#define RCPT_VERSION 1
#define RCPT_HEADER_SIZE 64
#define RCPT_SEED 0x62616e6469726370ULL  /* XXH3 seed, "bandircp" */

struct notice_rcpt;

/*
 * notice_rcpt_open - map DATA_DIR/notices/<id>/recipients.bin read-only and
 * check it whole: header fields and checksum, file size, body checksum,
 * numbers ascending and valid, and that it belongs to notice `id`. A list
 * rewritten by a purge (version 2, notice_purge.h) is accepted: its erased
 * entries read as 0, and notice_rcpt_checksum still gives the identity the
 * journal was created with.
 * Returns 0 and sets *out; BND_E_NOTFOUND; BND_E_RCPT_MAGIC, _VERSION,
 * _CHECKSUM, _TRUNCATED, _CORRUPT, _MISMATCH; BND_E_NOTICE_ID; BND_E_NOMEM;
 * -errno. *out is NULL on failure.
 */
int notice_rcpt_open(struct notice_rcpt **out, const char *data_dir, const char *id);

/* notice_rcpt_close - unmap and free; accepts NULL and *p == NULL; sets *p = NULL. */
void notice_rcpt_close(struct notice_rcpt **p);

/* notice_rcpt_count - the number of recipients (ordinals are 0..count-1). */
uint32_t notice_rcpt_count(const struct notice_rcpt *r);

/* notice_rcpt_checksum - the body checksum, recorded in the journal's header. */
uint64_t notice_rcpt_checksum(const struct notice_rcpt *r);

/*
 * notice_rcpt_get - the packed number of ordinal, or 0 when ordinal is out
 * of range or its number was erased by compaction (notice_purge.h: the
 * sender skips it as unsubscribed; 0 is never a valid number). O(1), no
 * allocation.
 */
uint64_t notice_rcpt_get(const struct notice_rcpt *r, uint32_t ordinal);

/*
 * notice_rcpt_encode_header - the 64-byte header for (id, count, body
 * checksum), as notice_create writes it; for tests and the format's worked
 * example. Returns 0 or BND_E_NOTICE_ID.
 */
int notice_rcpt_encode_header(uint8_t out[RCPT_HEADER_SIZE], const char *id, uint32_t count,
                              uint64_t body_checksum);

#endif
