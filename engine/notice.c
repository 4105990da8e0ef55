/*
 * notice.c - notice definitions, ids, callback tags, the notice directory
 * and the immutable recipient list.
 *
 * Design. A notice is created once and never edited: its definition
 * (notice.json), its audience (recipients.bin, the store's confirmed
 * snapshot at that moment) and an empty journal are written into a hidden
 * directory DATA_DIR/notices/.tmp-<id>/, each file synced, the directory
 * synced, and then the directory is renamed to DATA_DIR/notices/<id> (which
 * must not exist) and the parent synced. So a crash leaves either no notice
 * or a complete one (plus, at worst, a .tmp-* leftover that notice_cleanup
 * removes and notice_list never reports). This is stronger than writing
 * notice.json alone by temp+rename: the three files can never disagree.
 *
 * recipients.bin is written as the numbers arrive from a source
 * (notice_create_from: `send` streams the store's sorted view; notice_create
 * feeds an array), 64 KiB per write with the body checksum streamed and the
 * header written last: no copy of a million-number list is ever held.
 *
 * The recipient list is a flat array of little-endian u64 packed numbers
 * (phone.h) after a 64-byte header, mapped read-only; an ordinal is an index,
 * so looking a recipient up costs one load and the sender needs no
 * per-recipient memory. The whole file is checked on open (header checksum,
 * body checksum, strictly ascending valid numbers): about a millisecond per
 * million recipients, and it means a damaged list can never send a notice
 * to the wrong people. The checked pages are then dropped from the mapping
 * (MADV_DONTNEED: they stay in the page cache), so the list re-enters the
 * resident set only as the sender walks it. Format: JOURNAL.md,
 * "recipients.bin".
 *
 * notice.json is parsed with jansson, bounded (NOTICE_JSON_MAX) and checked
 * field by field through the same validators as the setters; it is a local
 * file, but a damaged one must give an error, never a crash.
 *
 * Invariants: every struct notice that leaves this file passed
 * notice_validate; files are created 0600 and directories 0700; every
 * create, write, fsync, rename and unlink goes through store/fsio.h, so
 * tests can fail the Nth one or freeze the disk there.
 */
#include "notice.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <utf8proc.h>
#include <xxhash.h>

#include "bnd.h"
#include "le.h"
#include "fsio.h"
#include "journal.h"
#include "notice_int.h"
#include "notice_purge.h"
#include "phone.h"

#define NOTICE_JSON_FILE "notice.json"
#define RCPT_FILE "recipients.bin"
#define TMP_PREFIX ".tmp-"
#define NOTICE_JSON_FORMAT 1

/* ---- categories and states ---------------------------------------------- */

static const char *const cat_names[] = {
	[NOTICE_CAT_EMERGENCY] = "emergency", [NOTICE_CAT_DISRUPTION] = "disruption",
	[NOTICE_CAT_DEADLINE] = "deadline",   [NOTICE_CAT_EVENT] = "event",
	[NOTICE_CAT_INFO] = "info",
};

int notice_category_parse(const uint8_t *p, size_t len, enum notice_category *out)
{
	for (int c = NOTICE_CAT_EMERGENCY; c <= NOTICE_CAT_INFO; c++) {
		size_t n = strlen(cat_names[c]);
		if (p && len == n && memcmp(p, cat_names[c], n) == 0) {
			if (out)
				*out = (enum notice_category)c;
			return 0;
		}
	}
	return BND_E_NOTICE_CATEGORY;
}

const char *notice_category_name(enum notice_category c)
{
	if (c < NOTICE_CAT_EMERGENCY || c > NOTICE_CAT_INFO)
		return "?";
	return cat_names[c];
}

int notice_priority(enum notice_category c)
{
	/* PRODUCT.md: emergency > disruption > deadline > info > event. */
	switch (c) {
	case NOTICE_CAT_EMERGENCY: return 4;
	case NOTICE_CAT_DISRUPTION: return 3;
	case NOTICE_CAT_DEADLINE: return 2;
	case NOTICE_CAT_INFO: return 1;
	case NOTICE_CAT_EVENT: return 0;
	}
	return -1;
}

const char *notice_state_name(enum notice_state st)
{
	static const char *const names[NOTICE_STATE_COUNT] = {
		"queued", "running", "paused", "done", "cancelled", "expired", "stopped",
	};
	if ((unsigned)st >= NOTICE_STATE_COUNT)
		return "?";
	return names[st];
}

const char *notice_reason_name(enum notice_reason r)
{
	static const char *const names[NOTICE_REASON_COUNT] = {
		"none", "operator", "campaign_error", "engine_error", "expiry", "local_error",
		"complete", "shutdown",
	};
	if ((unsigned)r >= NOTICE_REASON_COUNT)
		return "?";
	return names[r];
}

int notice_state_terminal(enum notice_state st)
{
	return st == NOTICE_DONE || st == NOTICE_CANCELLED || st == NOTICE_EXPIRED;
}

int notice_state_allowed(enum notice_state from, enum notice_state to)
{
	if ((unsigned)from >= NOTICE_STATE_COUNT || (unsigned)to >= NOTICE_STATE_COUNT)
		return 0;
	if (from == to || notice_state_terminal(from))
		return 0;
	switch (to) {
	case NOTICE_QUEUED:
		return 0;
	case NOTICE_RUNNING:
		return from == NOTICE_QUEUED || from == NOTICE_PAUSED || from == NOTICE_STOPPED;
	case NOTICE_PAUSED:
		return from == NOTICE_RUNNING;
	default:
		return 1; /* DONE, CANCELLED, EXPIRED, STOPPED from any live state */
	}
}

/* ---- ids and tags -------------------------------------------------------- */

int notice_id_make(uint64_t wall_ms, uint32_t rnd, char out[NOTICE_ID_SIZE])
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999)
		return BND_E_INVAL;
	char tmp[64];  /* roomy: the compiler cannot prove the fields' widths */
	snprintf(tmp, sizeof tmp, "n-%04d%02d%02dT%02d%02d%02d-%04x", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (unsigned)(rnd & 0xffffu));
	memset(out, 0, NOTICE_ID_SIZE);
	memcpy(out, tmp, NOTICE_ID_LEN);
	return 0;
}

static int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int is_lhex(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

int notice_id_valid(const uint8_t *p, size_t len)
{
	/* n-YYYYmmddTHHMMSS-xxxx */
	static const char shape[] = "n-DDDDDDDDTDDDDDD-HHHH";
	if (!p || len != NOTICE_ID_LEN)
		return 0;
	for (size_t i = 0; i < NOTICE_ID_LEN; i++) {
		char s = shape[i];
		if (s == 'D' ? !is_digit(p[i]) : s == 'H' ? !is_lhex(p[i]) : p[i] != (uint8_t)s)
			return 0;
	}
	/* Calendar sanity, so that an id always names a real second. */
	int mon = (p[6] - '0') * 10 + (p[7] - '0');
	int day = (p[8] - '0') * 10 + (p[9] - '0');
	int hh = (p[11] - '0') * 10 + (p[12] - '0');
	int mm = (p[13] - '0') * 10 + (p[14] - '0');
	int ss = (p[15] - '0') * 10 + (p[16] - '0');
	int year = (p[2] - '0') * 1000 + (p[3] - '0') * 100 + (p[4] - '0') * 10 + (p[5] - '0');
	return year >= 1970 && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hh <= 23 &&
	       mm <= 59 && ss <= 60;
}

static int id_ok(const char *id)
{
	return id && notice_id_valid((const uint8_t *)id, strnlen(id, NOTICE_ID_SIZE));
}

int notice_tag_format(const char *id, uint32_t ordinal, char buf[NOTICE_TAG_MAX])
{
	if (!id_ok(id))
		return BND_E_NOTICE_ID;
	return snprintf(buf, NOTICE_TAG_MAX, "%s:%u", id, (unsigned)ordinal);
}

int notice_tag_parse(const uint8_t *p, size_t len, char id_out[NOTICE_ID_SIZE],
                     uint32_t *ordinal)
{
	if (!p || len < NOTICE_ID_LEN + 2 || len > NOTICE_TAG_MAX - 1)
		return BND_E_NOTICE_TAG;
	if (!notice_id_valid(p, NOTICE_ID_LEN) || p[NOTICE_ID_LEN] != ':')
		return BND_E_NOTICE_TAG;
	const uint8_t *d = p + NOTICE_ID_LEN + 1;
	size_t nd = len - NOTICE_ID_LEN - 1;
	if (nd > 10 || (nd > 1 && d[0] == '0'))
		return BND_E_NOTICE_TAG;
	uint64_t v = 0;
	for (size_t i = 0; i < nd; i++) {
		if (!is_digit(d[i]))
			return BND_E_NOTICE_TAG;
		v = v * 10 + (uint64_t)(d[i] - '0');
	}
	if (v > UINT32_MAX)
		return BND_E_NOTICE_TAG;
	if (id_out) {
		memset(id_out, 0, NOTICE_ID_SIZE);
		memcpy(id_out, p, NOTICE_ID_LEN);
	}
	if (ordinal)
		*ordinal = (uint32_t)v;
	return 0;
}

/* ---- the definition ------------------------------------------------------ */

/* Valid UTF-8, no NUL; returns the number of code points or -1. */
static long utf8_chars(const uint8_t *p, size_t len)
{
	long n = 0;
	size_t i = 0;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (k <= 0 || cp == 0)
			return -1;
		i += (size_t)k;
		n++;
	}
	return n;
}

static int text_ok(const uint8_t *p, size_t len)
{
	if (!p || len == 0 || len > NOTICE_TEXT_MAX)
		return 0;
	long n = utf8_chars(p, len);
	return n > 0 && n <= NOTICE_TEXT_MAX_CHARS;
}

static int template_name_ok(const char *s)
{
	size_t n = s ? strnlen(s, NOTICE_TEMPLATE_MAX + 1) : 0;
	if (n == 0 || n > NOTICE_TEMPLATE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int lang_ok(const char *s)
{
	size_t n = s ? strnlen(s, NOTICE_LANG_MAX + 1) : 0;
	if (n < 2 || n > NOTICE_LANG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
			return 0;
	}
	return 1;
}

static int param_ok(const uint8_t *p, size_t len)
{
	return p && len > 0 && len <= NOTICE_PARAM_MAX && utf8_chars(p, len) > 0;
}

int notice_init(struct notice *n, enum notice_category cat, uint64_t created_ms,
                uint64_t expires_ms, uint32_t rnd)
{
	if (notice_priority(cat) < 0)
		return BND_E_NOTICE_CATEGORY;
	if (expires_ms != 0 && expires_ms <= created_ms)
		return BND_E_INVAL;
	memset(n, 0, sizeof *n);
	int rc = notice_id_make(created_ms, rnd, n->id);
	if (rc < 0)
		return rc;
	n->category = cat;
	n->created_ms = created_ms;
	n->expires_ms = expires_ms;
	return 0;
}

int notice_set_text(struct notice *n, const uint8_t *p, size_t len)
{
	if (!text_ok(p, len))
		return BND_E_NOTICE_TEXT;
	memcpy(n->text, p, len);
	n->text[len] = '\0';
	n->text_len = len;
	return 0;
}

int notice_set_template(struct notice *n, const char *name, const char *lang)
{
	if (!template_name_ok(name) || !lang_ok(lang))
		return BND_E_NOTICE_TEMPLATE;
	snprintf(n->template_name, sizeof n->template_name, "%s", name);
	snprintf(n->lang, sizeof n->lang, "%s", lang);
	return 0;
}

int notice_add_param(struct notice *n, const uint8_t *p, size_t len)
{
	if (n->template_name[0] == '\0' || !param_ok(p, len))
		return BND_E_NOTICE_TEMPLATE;
	if (n->nparams >= NOTICE_PARAMS_MAX)
		return BND_E_RANGE;
	memcpy(n->params[n->nparams], p, len);
	n->params[n->nparams][len] = '\0';
	n->param_len[n->nparams] = len;
	n->nparams++;
	return 0;
}

int notice_validate(const struct notice *n)
{
	if (!n)
		return BND_E_INVAL;
	if (!id_ok(n->id))
		return BND_E_NOTICE_ID;
	if (notice_priority(n->category) < 0)
		return BND_E_NOTICE_CATEGORY;
	if (n->expires_ms != 0 && n->expires_ms <= n->created_ms)
		return BND_E_INVAL;
	if (n->text_len > NOTICE_TEXT_MAX || n->text[n->text_len] != '\0' ||
	    !text_ok((const uint8_t *)n->text, n->text_len))
		return BND_E_NOTICE_TEXT;
	if (n->template_name[0] == '\0') {
		if (n->lang[0] != '\0' || n->nparams != 0)
			return BND_E_NOTICE_TEMPLATE;
		return 0;
	}
	if (!template_name_ok(n->template_name) || !lang_ok(n->lang))
		return BND_E_NOTICE_TEMPLATE;
	if (n->nparams > NOTICE_PARAMS_MAX)
		return BND_E_RANGE;
	for (unsigned i = 0; i < n->nparams; i++) {
		if (n->param_len[i] > NOTICE_PARAM_MAX || n->params[i][n->param_len[i]] != '\0' ||
		    !param_ok((const uint8_t *)n->params[i], n->param_len[i]))
			return BND_E_NOTICE_TEMPLATE;
	}
	return 0;
}

int notice_expired(const struct notice *n, uint64_t now_ms)
{
	return n->expires_ms != 0 && now_ms >= n->expires_ms;
}

/* ---- paths and small file helpers ---------------------------------------- */

int notice_path(char *buf, size_t cap, const char *data_dir, const char *id, const char *file)
{
	int len;
	if (!id)
		len = snprintf(buf, cap, "%s/notices", data_dir);
	else if (!file)
		len = snprintf(buf, cap, "%s/notices/%s", data_dir, id);
	else
		len = snprintf(buf, cap, "%s/notices/%s/%s", data_dir, id, file);
	if (len < 0 || (size_t)len >= cap)
		return BND_E_RANGE;
	return len;
}

/* dir + "/" + name into buf; BND_E_RANGE when it does not fit. */
static int join(char *buf, size_t cap, const char *dir, const char *name)
{
	/* By hand: -Wformat-truncation=2 flags snprintf even when checked. */
	size_t a = strlen(dir), b = strlen(name);
	if (a + 1 + b + 1 > cap)
		return BND_E_RANGE;
	memmove(buf, dir, a);
	buf[a] = '/';
	memcpy(buf + a + 1, name, b + 1);
	return 0;
}

/* fsync a directory (after creating or renaming an entry in it); shared
 * with notice_purge.c through notice_int.h. */
int notice__sync_dir(const char *path)
{
	int fd = fsio_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	int rc = fsio_fsync(fd);
	close(fd);
	return rc;
}

/* Create path (0600, must not exist), write p[0..n), fsync, close. */
static int write_new_file(const char *path, const void *p, size_t n)
{
	int fd = fsio_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL);
	if (fd < 0)
		return fd;
	int rc = fsio_pwrite_all(fd, p, n, 0);
	if (rc == 0)
		rc = fsio_fdatasync(fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* mkdir that tolerates an existing directory; syncs parent when it created one. */
static int ensure_dir(const char *path, const char *parent)
{
	int rc = fsio_mkdir(path);
	if (rc == 0)
		return parent ? notice__sync_dir(parent) : 0;
	if (rc != -EEXIST)
		return rc;
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Remove a notice directory's known files and the directory itself. The
 * unlinks go through fsio, so a simulated crash leaves the leftovers a real
 * one would (notice_cleanup's business). */
static int remove_notice_dir(const char *dir)
{
	static const char *const files[] = { NOTICE_JSON_FILE, RCPT_FILE, JOURNAL_FILE };
	char p[4096];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (join(p, sizeof p, dir, files[i]) == 0)
			fsio_unlinkat(AT_FDCWD, p);
	}
	return rmdir(dir) == 0 ? 0 : -errno;
}

/* ---- notice.json ---------------------------------------------------------- */

static json_t *template_to_json(const struct notice *n)
{
	json_t *tpl = json_object();
	json_t *params = json_array();
	if (!tpl || !params)
		goto fail;
	for (unsigned i = 0; i < n->nparams; i++) {
		if (json_array_append_new(params, json_stringn(n->params[i], n->param_len[i])))
			goto fail;
	}
	if (json_object_set_new(tpl, "name", json_string(n->template_name)) ||
	    json_object_set_new(tpl, "lang", json_string(n->lang)))
		goto fail;
	/* set_new takes the reference even when it fails. */
	json_t *p = params;
	params = NULL;
	if (json_object_set_new(tpl, "params", p))
		goto fail;
	return tpl;
fail:
	json_decref(params);
	json_decref(tpl);
	return NULL;
}

static json_t *notice_to_json(const struct notice *n, uint32_t recipients)
{
	json_t *root = json_object();
	json_t *tpl = n->template_name[0] != '\0' ? template_to_json(n) : json_null();
	if (!root || !tpl) {
		json_decref(root);
		json_decref(tpl);
		return NULL;
	}
	/* Each set_new consumes its value, even on failure. */
	if (json_object_set_new(root, "format", json_integer(NOTICE_JSON_FORMAT)) ||
	    json_object_set_new(root, "id", json_string(n->id)) ||
	    json_object_set_new(root, "category", json_string(notice_category_name(n->category))) ||
	    json_object_set_new(root, "priority", json_integer(notice_priority(n->category))) ||
	    json_object_set_new(root, "created_ms", json_integer((json_int_t)n->created_ms)) ||
	    json_object_set_new(root, "expires_ms", json_integer((json_int_t)n->expires_ms)) ||
	    json_object_set_new(root, "text", json_stringn(n->text, n->text_len)) ||
	    json_object_set_new(root, "recipients", json_integer(recipients))) {
		json_decref(tpl);
		json_decref(root);
		return NULL;
	}
	if (json_object_set_new(root, "template", tpl)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static int json_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return BND_E_NOTICE_JSON;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int notice_from_json(json_t *root, struct notice *n)
{
	if (!json_is_object(root))
		return BND_E_NOTICE_JSON;
	uint64_t format, recipients;
	if (json_u64(root, "format", &format) || format != NOTICE_JSON_FORMAT)
		return BND_E_NOTICE_JSON;
	memset(n, 0, sizeof *n);
	json_t *id = json_object_get(root, "id");
	if (!json_is_string(id) ||
	    !notice_id_valid((const uint8_t *)json_string_value(id), json_string_length(id)))
		return BND_E_NOTICE_JSON;
	memcpy(n->id, json_string_value(id), NOTICE_ID_LEN);
	json_t *cat = json_object_get(root, "category");
	if (!json_is_string(cat) ||
	    notice_category_parse((const uint8_t *)json_string_value(cat), json_string_length(cat),
	                          &n->category))
		return BND_E_NOTICE_JSON;
	if (json_u64(root, "created_ms", &n->created_ms) ||
	    json_u64(root, "expires_ms", &n->expires_ms) ||
	    json_u64(root, "recipients", &recipients) || recipients > NOTICE_MAX_RECIPIENTS)
		return BND_E_NOTICE_JSON;
	n->recipients = (uint32_t)recipients;
	json_t *text = json_object_get(root, "text");
	if (!json_is_string(text))
		return BND_E_NOTICE_JSON;
	int rc = notice_set_text(n, (const uint8_t *)json_string_value(text), json_string_length(text));
	if (rc)
		return rc;
	json_t *tpl = json_object_get(root, "template");
	if (tpl && !json_is_null(tpl)) {
		json_t *name = json_object_get(tpl, "name");
		json_t *lang = json_object_get(tpl, "lang");
		json_t *params = json_object_get(tpl, "params");
		if (!json_is_object(tpl) || !json_is_string(name) || !json_is_string(lang) ||
		    !json_is_array(params))
			return BND_E_NOTICE_JSON;
		/* strnlen-based checks would accept "a\0b"; compare lengths too. */
		if (strlen(json_string_value(name)) != json_string_length(name) ||
		    strlen(json_string_value(lang)) != json_string_length(lang))
			return BND_E_NOTICE_TEMPLATE;
		rc = notice_set_template(n, json_string_value(name), json_string_value(lang));
		if (rc)
			return rc;
		if (json_array_size(params) > NOTICE_PARAMS_MAX)
			return BND_E_RANGE;
		size_t i;
		json_t *p;
		json_array_foreach(params, i, p) {
			if (!json_is_string(p))
				return BND_E_NOTICE_JSON;
			rc = notice_add_param(n, (const uint8_t *)json_string_value(p),
			                      json_string_length(p));
			if (rc)
				return rc;
		}
	}
	return notice_validate(n);
}

/* ---- recipients.bin ------------------------------------------------------- */

int notice__rcpt_header(uint8_t out[RCPT_HEADER_SIZE], const char *id, uint16_t version,
                        uint32_t count, uint32_t erased, uint64_t at40, uint64_t at48)
{
	if (!id_ok(id))
		return BND_E_NOTICE_ID;
	memset(out, 0, RCPT_HEADER_SIZE);
	le32_put(out + 0, RCPT_MAGIC);
	le16_put(out + 4, version);
	le16_put(out + 6, RCPT_HEADER_SIZE);
	memcpy(out + 8, id, NOTICE_ID_LEN);
	le32_put(out + 32, count);
	le32_put(out + 36, erased);
	le64_put(out + 40, at40);
	le64_put(out + 48, at48);
	le64_put(out + 56, XXH3_64bits_withSeed(out, 56, RCPT_SEED));
	return 0;
}

int notice_rcpt_encode_header(uint8_t out[RCPT_HEADER_SIZE], const char *id, uint32_t count,
                              uint64_t body_checksum)
{
	return notice__rcpt_header(out, id, RCPT_VERSION, count, 0, body_checksum, 0);
}

struct notice_rcpt {
	const uint8_t *map;     /* the whole file, read-only */
	size_t map_len;
	uint32_t count;
	uint32_t present;       /* entries in the body: count, or 0 for a purged
	                           stub (notice_purge.h) */
	uint64_t checksum;      /* the list's identity (body checksum at creation) */
};

/* Check a mapped recipients.bin; returns 0 or a BND_E_RCPT_* code. */
static int rcpt_check(const uint8_t *p, size_t len, const char *id, uint32_t *count,
                      uint32_t *present, uint64_t *sum)
{
	if (len < RCPT_HEADER_SIZE)
		return BND_E_RCPT_TRUNCATED;
	if (le32_get(p) != RCPT_MAGIC)
		return BND_E_RCPT_MAGIC;
	if (XXH3_64bits_withSeed(p, 56, RCPT_SEED) != le64_get(p + 56))
		return BND_E_RCPT_CHECKSUM;
	if (le16_get(p + 4) == RCPT_VERSION_PURGED)
		return notice__rcpt_check_purged(p, len, id, count, present, sum);
	if (le16_get(p + 4) != RCPT_VERSION)
		return BND_E_RCPT_VERSION;
	if (le16_get(p + 6) != RCPT_HEADER_SIZE || le32_get(p + 36) != 0 || le64_get(p + 48) != 0)
		return BND_E_RCPT_CORRUPT;
	if (!notice_id_valid(p + 8, NOTICE_ID_LEN) || p[8 + NOTICE_ID_LEN] != 0 ||
	    p[8 + NOTICE_ID_LEN + 1] != 0)
		return BND_E_RCPT_CORRUPT;
	if (memcmp(p + 8, id, NOTICE_ID_LEN) != 0)
		return BND_E_RCPT_MISMATCH;
	uint32_t n = le32_get(p + 32);
	if (n > NOTICE_MAX_RECIPIENTS)
		return BND_E_RCPT_CORRUPT;
	uint64_t want = RCPT_HEADER_SIZE + (uint64_t)n * 8;
	if (len < want)
		return BND_E_RCPT_TRUNCATED;
	if (len > want)
		return BND_E_RCPT_CORRUPT;
	uint64_t s = XXH3_64bits_withSeed(p + RCPT_HEADER_SIZE, (size_t)n * 8, RCPT_SEED);
	if (s != le64_get(p + 40))
		return BND_E_RCPT_CHECKSUM;
	/* Strictly ascending, and valid: phone_valid is a range, so in an
	 * ascending list the first and the last number bound all the others. */
	const uint8_t *b = p + RCPT_HEADER_SIZE;
	if (n && (!phone_valid(le64_get(b)) || !phone_valid(le64_get(b + (size_t)(n - 1) * 8))))
		return BND_E_RCPT_CORRUPT;
	int bad = 0;
	for (uint32_t i = 1; i < n; i++)
		bad |= le64_get(b + (size_t)i * 8) <= le64_get(b + (size_t)(i - 1) * 8);
	if (bad)
		return BND_E_RCPT_CORRUPT;
	*count = n;
	*present = n;
	*sum = s;
	return 0;
}

int notice_rcpt_open(struct notice_rcpt **out, const char *data_dir, const char *id)
{
	*out = NULL;
	if (!id_ok(id))
		return BND_E_NOTICE_ID;
	char path[4096];
	if (notice_path(path, sizeof path, data_dir, id, RCPT_FILE) < 0)
		return BND_E_RANGE;
	int rc = 0;
	struct notice_rcpt *r = NULL;
	void *map = MAP_FAILED;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? BND_E_NOTFOUND : -errno;
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size < RCPT_HEADER_SIZE) {
		rc = BND_E_RCPT_TRUNCATED;
		goto out;
	}
	if ((uint64_t)st.st_size > RCPT_HEADER_SIZE + (uint64_t)NOTICE_MAX_RECIPIENTS * 8) {
		rc = BND_E_RCPT_CORRUPT;
		goto out;
	}
	len = (size_t)st.st_size;
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	r = bnd_calloc(1, sizeof *r);
	if (!r) {
		rc = BND_E_NOMEM;
		goto out;
	}
	rc = rcpt_check(map, len, id, &r->count, &r->present, &r->checksum);
	if (rc)
		goto out;
	/* The check touched every page: let them go from this process (they
	 * stay in the page cache) so the 8 bytes per recipient come back into
	 * the resident set only as the sender reaches them, in ascending order. */
	madvise(map, len, MADV_DONTNEED);
	madvise(map, len, MADV_SEQUENTIAL);
	r->map = map;
	r->map_len = len;
	map = MAP_FAILED;
	*out = r;
	r = NULL;
out:
	bnd_free(r);
	if (map != MAP_FAILED)
		munmap(map, len);
	if (fd >= 0)
		close(fd);
	return rc;
}

void notice_rcpt_close(struct notice_rcpt **p)
{
	if (!p || !*p)
		return;
	munmap((void *)(*p)->map, (*p)->map_len);
	bnd_free(*p);
	*p = NULL;
}

uint32_t notice_rcpt_count(const struct notice_rcpt *r)
{
	return r->count;
}

uint64_t notice_rcpt_checksum(const struct notice_rcpt *r)
{
	return r->checksum;
}

uint64_t notice_rcpt_get(const struct notice_rcpt *r, uint32_t ordinal)
{
	if (ordinal >= r->present)  /* out of range, or a purged stub */
		return 0;
	return le64_get(r->map + RCPT_HEADER_SIZE + (size_t)ordinal * 8);
}

/* ---- create, load, list -------------------------------------------------- */

/* The recipients.bin writer: numbers arrive in chunks and leave in
 * RCPT_WBUF-byte writes; the header (count, body checksum) goes in last at
 * offset 0, which the rename makes safe (the file is not visible before). */
#define RCPT_WBUF 65536u

struct rcpt_writer {
	int fd;
	uint8_t *buf;        /* RCPT_WBUF bytes */
	size_t used;
	uint64_t off;        /* file offset of buf[0] */
	uint64_t prev;       /* last number taken (ascending check) */
	uint64_t count;
	XXH3_state_t *xs;    /* body checksum, streamed */
	int checked;         /* the source was validated already (notice_create) */
};

static int rcpt_flush(struct rcpt_writer *w)
{
	if (!w->used)
		return 0;
	if (XXH3_64bits_update(w->xs, w->buf, w->used) != XXH_OK)
		return BND_E_INVAL;
	int rc = fsio_pwrite_all(w->fd, w->buf, w->used, w->off);
	w->off += w->used;
	w->used = 0;
	return rc;
}

static int rcpt_sink(void *ud, const uint64_t *numbers, size_t k)
{
	struct rcpt_writer *w = ud;
	if (k && !numbers)
		return BND_E_INVAL;
	if (k > NOTICE_MAX_RECIPIENTS - w->count)
		return BND_E_RANGE;
	if (!k)
		return 0;
	if (!w->checked) {
		/* Strictly ascending (from the last chunk's end on) and valid:
		 * phone_valid is a range, so the chunk's ends bound the rest. */
		int bad = numbers[0] <= w->prev || !phone_valid(numbers[0]) ||
		          !phone_valid(numbers[k - 1]);
		for (size_t i = 1; i < k; i++)
			bad |= numbers[i] <= numbers[i - 1];
		if (bad)
			return BND_E_INVAL;
	}
	w->prev = numbers[k - 1];
	for (size_t i = 0; i < k;) {
		if (w->used == RCPT_WBUF) {
			int rc = rcpt_flush(w);
			if (rc)
				return rc;
		}
		size_t m = (RCPT_WBUF - w->used) / 8;
		m = m < k - i ? m : k - i;
		for (size_t j = 0; j < m; j++)   /* a copy on little-endian hosts */
			le64_put(w->buf + w->used + j * 8, numbers[i + j]);
		w->used += m * 8;
		i += m;
	}
	w->count += k;
	return 0;
}

/* Write recipients.bin at path from src; *count and *sum out. */
static int rcpt_write(const char *path, const char *id, notice_source_fn src, void *ud,
                      int checked, uint32_t *count, uint64_t *sum)
{
	struct rcpt_writer w = { .fd = -1, .off = RCPT_HEADER_SIZE, .checked = checked };
	uint8_t hdr[RCPT_HEADER_SIZE];
	int rc;
	w.buf = bnd_malloc(RCPT_WBUF);
	w.xs = XXH3_createState();
	if (!w.buf || !w.xs) {
		rc = BND_E_NOMEM;
		goto out;
	}
	XXH3_64bits_reset_withSeed(w.xs, RCPT_SEED);
	w.fd = fsio_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL);
	if (w.fd < 0) {
		rc = w.fd;
		goto out;
	}
	rc = src(ud, rcpt_sink, &w);
	if (!rc)
		rc = rcpt_flush(&w);
	if (rc)
		goto out;
	*count = (uint32_t)w.count;
	*sum = XXH3_64bits_digest(w.xs);
	notice_rcpt_encode_header(hdr, id, *count, *sum);
	rc = fsio_pwrite_all(w.fd, hdr, sizeof hdr, 0);
	if (!rc)
		rc = fsio_fdatasync(w.fd);
out:
	if (w.fd >= 0 && close(w.fd) != 0 && rc == 0)
		rc = -errno;
	XXH3_freeState(w.xs);
	bnd_free(w.buf);
	return rc;
}

static int create_from(const char *data_dir, const struct notice *n, notice_source_fn src,
                       void *ud, uint32_t span, size_t *count_out, int checked);

/* notice_validate's verdict in notice_create's codes. */
static int create_check(const struct notice *n)
{
	int rc = notice_validate(n);
	if (rc)
		return rc == BND_E_NOTICE_ID || rc == BND_E_RANGE ? rc : BND_E_INVAL;
	return 0;
}

struct array_src {
	const uint64_t *numbers;
	size_t count;
};

static int array_source(void *ud, notice_sink_fn sink, void *sink_ud)
{
	const struct array_src *a = ud;
	return a->count ? sink(sink_ud, a->numbers, a->count) : 0;
}

int notice_create(const char *data_dir, const struct notice *n, const uint64_t *numbers,
                  size_t count, uint32_t span)
{
	int rc = create_check(n);
	if (rc)
		return rc;
	if (count > NOTICE_MAX_RECIPIENTS)
		return BND_E_RANGE;
	if (count && !numbers)
		return BND_E_INVAL;
	/* Checked before anything is created: a bad list leaves no trace. */
	uint64_t prev = 0;
	for (size_t i = 0; i < count; i++) {
		if (!phone_valid(numbers[i]) || numbers[i] <= prev)
			return BND_E_INVAL;
		prev = numbers[i];
	}
	struct array_src a = { .numbers = numbers, .count = count };
	return create_from(data_dir, n, array_source, &a, span, NULL, 1);
}

int notice_create_from(const char *data_dir, const struct notice *n, notice_source_fn src,
                       void *ud, uint32_t span, size_t *count_out)
{
	return create_from(data_dir, n, src, ud, span, count_out, 0);
}

static int create_from(const char *data_dir, const struct notice *n, notice_source_fn src,
                       void *ud, uint32_t span, size_t *count_out, int checked)
{
	if (count_out)
		*count_out = 0;
	int rc = create_check(n);
	if (rc)
		return rc;
	if (!src)
		return BND_E_INVAL;
	if (span == 0)
		span = JOURNAL_SPAN_DEFAULT;
	if (span < JOURNAL_SPAN_MIN || span > JOURNAL_SPAN_MAX || (span & (span - 1)))
		return BND_E_INVAL;
	char notices[4096], tmp[4096], final[4096], file[4096];
	char *json = NULL;
	json_t *root = NULL;
	int made_tmp = 0;
	if (notice_path(notices, sizeof notices, data_dir, NULL, NULL) < 0 ||
	    notice_path(final, sizeof final, data_dir, n->id, NULL) < 0 ||
	    snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "%s", notices, n->id) >= (int)sizeof tmp ||
	    join(file, sizeof file, tmp, RCPT_FILE) || join(file, sizeof file, tmp, JOURNAL_FILE) ||
	    join(file, sizeof file, tmp, NOTICE_JSON_FILE))
		return BND_E_RANGE;

	rc = ensure_dir(data_dir, NULL);
	if (rc == 0)
		rc = ensure_dir(notices, data_dir);
	if (rc)
		goto out;
	if (access(final, F_OK) == 0) {
		rc = BND_E_EXISTS;
		goto out;
	}
	/* A leftover of an interrupted create of this very id. */
	remove_notice_dir(tmp);
	rc = fsio_mkdir(tmp);
	if (rc)
		goto out;
	made_tmp = 1;

	/* recipients.bin, streamed from the source. */
	uint32_t count = 0;
	uint64_t sum = 0;
	join(file, sizeof file, tmp, RCPT_FILE);  /* fits: checked above */
	rc = rcpt_write(file, n->id, src, ud, checked, &count, &sum);
	if (rc)
		goto out;

	struct journal_header h = { .recipients = (uint32_t)count, .span = span,
	                            .rcpt_checksum = sum, .created_ms = n->created_ms };
	memcpy(h.notice_id, n->id, NOTICE_ID_SIZE);
	join(file, sizeof file, tmp, JOURNAL_FILE);  /* fits: checked above */
	rc = journal_create(file, &h);
	if (rc)
		goto out;

	root = notice_to_json(n, (uint32_t)count);
	json = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	if (!json) {
		rc = BND_E_NOMEM;
		goto out;
	}
	join(file, sizeof file, tmp, NOTICE_JSON_FILE);  /* fits: checked above */
	size_t json_len = strlen(json);
	json[json_len] = '\n';  /* dumps' NUL becomes the final newline */
	rc = write_new_file(file, json, json_len + 1);
	if (rc)
		goto out;
	rc = notice__sync_dir(tmp);
	if (rc)
		goto out;
	/* The existence check above and this rename are not one atomic step;
	 * the data directory's writer lock makes them so (one creator). A
	 * non-empty target would fail the rename anyway. */
	rc = fsio_renameat(AT_FDCWD, tmp, final);
	if (rc) {
		if (rc == -EEXIST || rc == -ENOTEMPTY)
			rc = BND_E_EXISTS;
		goto out;
	}
	made_tmp = 0;
	rc = notice__sync_dir(notices);
	if (rc) {
		/* The rename may not be durable; undo it so failure means "nothing". */
		remove_notice_dir(final);
		goto out;
	}
out:
	if (made_tmp)
		remove_notice_dir(tmp);
	if (json) {
		json_malloc_t jm;
		json_free_t jf;
		json_get_alloc_funcs(&jm, &jf);
		jf(json);  /* jansson's allocator, whichever is installed */
	}
	json_decref(root);
	if (rc == 0 && count_out)
		*count_out = count;
	return rc;
}

int notice_load(const char *data_dir, const char *id, struct notice *out)
{
	if (!id_ok(id))
		return BND_E_NOTICE_ID;
	char path[4096];
	if (notice_path(path, sizeof path, data_dir, id, NOTICE_JSON_FILE) < 0)
		return BND_E_RANGE;
	int rc = 0;
	char *buf = NULL;
	json_t *root = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? BND_E_NOTFOUND : -errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > NOTICE_JSON_MAX) {
		rc = BND_E_NOTICE_JSON;
		goto out;
	}
	size_t len = (size_t)st.st_size, got = 0;
	buf = bnd_malloc(len);
	if (!buf) {
		rc = BND_E_NOMEM;
		goto out;
	}
	while (got < len) {
		ssize_t k = read(fd, buf + got, len - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			goto out;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	json_error_t err;
	root = json_loadb(buf, got, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		rc = BND_E_NOTICE_JSON;
		goto out;
	}
	rc = notice_from_json(root, out);
	if (rc == 0 && memcmp(out->id, id, NOTICE_ID_LEN) != 0)
		rc = BND_E_NOTICE_JSON;
out:
	json_decref(root);
	bnd_free(buf);
	close(fd);
	return rc;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int notice_list(const char *data_dir, char (**ids)[NOTICE_ID_SIZE], size_t *n)
{
	*ids = NULL;
	*n = 0;
	char dir[4096];
	if (notice_path(dir, sizeof dir, data_dir, NULL, NULL) < 0)
		return BND_E_RANGE;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int rc = 0;
	size_t cap = 0, len = 0;
	char (*v)[NOTICE_ID_SIZE] = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (!notice_id_valid((const uint8_t *)e->d_name, nl))
			continue;
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *nv = bnd_realloc(v, ncap * NOTICE_ID_SIZE);
			if (!nv) {
				rc = BND_E_NOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		memset(v[len], 0, NOTICE_ID_SIZE);
		memcpy(v[len], e->d_name, NOTICE_ID_LEN);
		len++;
	}
	if (len)
		qsort(v, len, NOTICE_ID_SIZE, cmp_ids);
	*ids = v;
	*n = len;
	v = NULL;
out:
	bnd_free(v);
	closedir(d);
	return rc;
}

int notice_cleanup(const char *data_dir)
{
	char dir[4096], sub[4096];
	if (notice_path(dir, sizeof dir, data_dir, NULL, NULL) < 0)
		return BND_E_RANGE;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if (join(sub, sizeof sub, dir, e->d_name) == 0 && remove_notice_dir(sub) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		notice__sync_dir(dir);
	return removed;
}
