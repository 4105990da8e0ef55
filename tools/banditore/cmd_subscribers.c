/*
 * cmd_subscribers.c - `banditore subscribers count|import|remove|verify|
 * compact|export`: operate on the subscriber store (PRODUCT.md §2).
 *
 * Readers (count, verify, export) open the store read-only, so they work
 * while `serve` holds the writer lock and never repair anything. Writers
 * (import, remove, compact) take the lock without waiting: when it is held
 * they print one line naming the holder and the operator API to use instead,
 * and exit 3 (cli_store_open).
 *
 * import is how a city migrates an existing list, so it is built for speed:
 * the file is read in 1 MiB blocks and split with memchr, each line goes
 * through phone_parse (the one number parser), the store's index answers
 * "already known?" in memory, and the whole import costs one group commit
 * (a single store_sync at the end), after which the report is printed: a
 * report means durable. It is idempotent: a number the store already knows
 * is not appended again. A number that is unsubscribed here is skipped too
 * (counted as opted_out): the citizen's own JESI OFF outranks an old list.
 *
 * Privacy: numbers are never printed whole, except by `export
 * --personal-data`; invalid lines are reported by line number and error
 * only, never by content (a malformed line may still be most of a number).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "notice_purge.h"
#include "phone.h"

#define READ_BLOCK (1u << 20)        /* 1 MiB reads: few syscalls per million lines */
#define LINE_KEEP 4096               /* longest line kept whole; longer ones are
                                        invalid (a number is at most 64 bytes) */
#define INVALID_PRINT_MAX 50         /* invalid lines described one by one on stderr */
#define INVALID_JSON_MAX 1000        /* invalid line numbers listed in --json */

static const uint8_t SRC_IMPORT[] = "import";
static const uint8_t SRC_OPERATOR[] = "operator";

static void usage_subscribers(FILE *f)
{
	fprintf(f,
	        "usage: banditore [--data DIR] subscribers SUBCOMMAND [--json]\n"
	        "\n"
	        "Operate on the subscriber store in DIR (default " CLI_DEFAULT_DATA ").\n"
	        "\n"
	        "  count                      numbers by state (read-only; works while serve runs)\n"
	        "  import FILE                add the numbers of FILE (one per line, '-' = stdin)\n"
	        "                             as confirmed subscribers; idempotent\n"
	        "  remove NUMBER|FILE         unsubscribe one number or every number of FILE\n"
	        "                             (a citizen who asked city hall)\n"
	        "  verify                     check every file and checksum (read-only);\n"
	        "                             exit 1 naming file and offset on damage\n"
	        "  compact                    rewrite the live set; unsubscribed numbers are\n"
	        "                             physically erased from disk, from the\n"
	        "                             notices' recipient lists too\n"
	        "  export --personal-data     print number,state,t_ms as CSV: full numbers\n"
	        "\n"
	        "--json prints the final report as one JSON object. Writing subcommands\n"
	        "(import, remove, compact) exit 3 when another process holds the data\n"
	        "directory; use the operator API of `banditore serve` then.\n"
	        "`banditore subscribers SUBCOMMAND --help` describes each one.\n");
}

/* ---- reading numbers, one per line ------------------------------------ */

/*
 * Called once per line without its '\n' (a trailing '\r' is left for
 * phone_parse, which ignores white space). overlong: the line exceeded
 * LINE_KEEP bytes and p/len hold only its start. Returns 0 to go on, or a
 * negative code to stop the scan with that code.
 */
typedef int (*line_fn)(const uint8_t *p, size_t len, int overlong, uint64_t lineno,
                       void *ud);

/*
 * scan_lines - read fd to its end in READ_BLOCK blocks and call fn for every
 * line (the last one even without a final newline). Returns 0, the first
 * non-zero value of fn, BND_E_NOMEM or -errno of a failed read.
 */
static int scan_lines(int fd, line_fn fn, void *ud)
{
	int rc = 0;
	uint8_t *buf = bnd_malloc(READ_BLOCK + LINE_KEEP);
	if (!buf)
		return BND_E_NOMEM;
	size_t have = 0;       /* bytes of an unfinished line at buf[0] */
	int overlong = 0;      /* the unfinished line is longer than LINE_KEEP */
	uint64_t lineno = 0;
	for (;;) {
		ssize_t r = read(fd, buf + have, READ_BLOCK);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		size_t end = have + (size_t)r, start = 0;
		for (;;) {
			const uint8_t *nl = memchr(buf + start, '\n', end - start);
			if (!nl)
				break;
			size_t len = (size_t)(nl - (buf + start));
			rc = fn(buf + start, len, overlong, ++lineno, ud);
			if (rc != 0)
				goto out;
			overlong = 0;
			start += len + 1;
		}
		have = end - start;
		if (have > LINE_KEEP) {
			/* Keep only the start of an absurd line; it is invalid anyway. */
			overlong = 1;
			memmove(buf, buf + start, LINE_KEEP);
			have = LINE_KEEP;
		} else if (start > 0 && have > 0) {
			memmove(buf, buf + start, have);
		}
	}
	if (have > 0 || overlong)
		rc = fn(buf, have, overlong, ++lineno, ud);
out:
	bnd_free(buf);
	return rc;
}

static int is_blank(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\v' && p[i] != '\f')
			return 0;
	return 1;
}

/* Open FILE for reading, '-' meaning stdin. Returns the fd or -errno. */
static int open_input(const char *path)
{
	if (strcmp(path, "-") == 0)
		return STDIN_FILENO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Invalid lines: described on stderr (the first few), listed in --json. */
struct invalid_list {
	uint64_t count;
	uint64_t lines[INVALID_JSON_MAX];
};

static void invalid_add(struct invalid_list *iv, const char *what, uint64_t lineno, int err)
{
	if (iv->count < INVALID_PRINT_MAX)
		cli_error("%s: line %llu: %s", what, (unsigned long long)lineno, bnd_strerror(err));
	if (iv->count < INVALID_JSON_MAX)
		iv->lines[iv->count] = lineno;
	iv->count++;
}

static void invalid_summary(const struct invalid_list *iv, const char *what)
{
	if (iv->count > INVALID_PRINT_MAX)
		cli_error("%s: ... and %llu more invalid lines", what,
		          (unsigned long long)(iv->count - INVALID_PRINT_MAX));
}

static json_t *invalid_json(const struct invalid_list *iv)
{
	json_t *a = json_array();
	uint64_t n = iv->count < INVALID_JSON_MAX ? iv->count : INVALID_JSON_MAX;
	for (uint64_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_integer((json_int_t)iv->lines[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Parse one line; returns 1 with *num set, 0 for a blank line, or a
 * negative phone error (reported by the caller). */
static int line_number(const uint8_t *p, size_t len, int overlong, uint64_t *num)
{
	if (overlong)
		return BND_E_RANGE;
	int rc = phone_parse(p, len, num);
	if (rc == 0)
		return 1;
	if (rc == BND_E_PHONE_EMPTY && is_blank(p, len))
		return 0;
	return rc;
}

/* ---- count ------------------------------------------------------------ */

static int sub_count(int argc, char **argv, const struct cli_global *g)
{
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: banditore [--data DIR] subscribers count [--json]\n\n"
			       "Print how many numbers the store holds in each state: requested,\n"
			       "confirmed, unsubscribed, invalid. Read-only: works while another\n"
			       "process (serve) writes. --json prints\n"
			       "{\"requested\":N,\"confirmed\":N,\"unsubscribed\":N,\"invalid\":N}.\n");
			return CLI_EXIT_OK;
		}
		return cli_usage_error("banditore subscribers count", "unexpected argument '%s'",
		                       argv[i]);
	}
	struct store *s;
	int rc = cli_store_open(&s, g, "subscribers count", 0, 0, NULL);
	if (rc != 0)
		return rc;
	struct store_counts c;
	store_count(s, &c);
	store_close(&s);
	if (g->json)
		return cli_json_print(cli_json_pack(
			"{s:I,s:I,s:I,s:I}", "requested", (json_int_t)c.by_state[SUB_REQUESTED],
			"confirmed", (json_int_t)c.by_state[SUB_CONFIRMED], "unsubscribed",
			(json_int_t)c.by_state[SUB_UNSUBSCRIBED], "invalid",
			(json_int_t)c.by_state[SUB_INVALID]));
	printf("requested     %llu\nconfirmed     %llu\nunsubscribed  %llu\ninvalid       %llu\n",
	       (unsigned long long)c.by_state[SUB_REQUESTED],
	       (unsigned long long)c.by_state[SUB_CONFIRMED],
	       (unsigned long long)c.by_state[SUB_UNSUBSCRIBED],
	       (unsigned long long)c.by_state[SUB_INVALID]);
	return CLI_EXIT_OK;
}

/* ---- import ----------------------------------------------------------- */

struct import_ctx {
	struct store *s;
	uint64_t t_ms;
	uint64_t lines, blank, imported, skipped, opted_out;
	uint64_t fail_line;       /* line whose append failed, 0 if none */
	struct invalid_list iv;
};

static int import_line(const uint8_t *p, size_t len, int overlong, uint64_t lineno, void *ud)
{
	struct import_ctx *x = ud;
	uint64_t num;
	x->lines = lineno;
	int rc = line_number(p, len, overlong, &num);
	if (rc == 0) {
		x->blank++;
		return 0;
	}
	if (rc < 0) {
		invalid_add(&x->iv, "import", lineno, rc);
		return 0;
	}
	enum sub_state st = SUB_NONE;
	rc = store_get(x->s, num, &st, NULL);
	if (rc != 0) {
		x->fail_line = lineno;
		return rc;
	}
	if (st != SUB_NONE) {
		x->skipped++;
		if (st == SUB_UNSUBSCRIBED)
			x->opted_out++;
		return 0;
	}
	rc = store_append(x->s, num, SUB_CONFIRMED, x->t_ms, SRC_IMPORT, sizeof SRC_IMPORT - 1,
	                  NULL);
	if (rc != 0) {
		x->fail_line = lineno;
		return rc;
	}
	x->imported++;
	return 0;
}

static int sub_import(int argc, char **argv, const struct cli_global *g)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: banditore [--data DIR] subscribers import FILE [--json]\n\n"
			       "Add the numbers of FILE (one per line; '-' reads stdin) as confirmed\n"
			       "subscribers, creating the store if there is none. Numbers may be\n"
			       "written as +39 335 123 4567, 00393351234567 or 393351234567. Blank\n"
			       "lines are ignored; invalid lines are reported by line number and\n"
			       "skipped. Numbers the store already knows are skipped (idempotent),\n"
			       "including unsubscribed ones (their opt-out wins over an old list).\n"
			       "The report is printed after one group commit: what it counts as\n"
			       "imported is on disk. --json prints {\"lines\",\"imported\",\"skipped\",\n"
			       "\"opted_out\",\"invalid\",\"invalid_lines\":[first 1000],\"blank\"}.\n");
			return CLI_EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage_error("banditore subscribers import", "unknown option '%s'",
			                       argv[i]);
		if (path)
			return cli_usage_error("banditore subscribers import", "one FILE only");
		path = argv[i];
	}
	if (!path)
		return cli_usage_error("banditore subscribers import", "missing FILE");

	int fd = open_input(path);
	if (fd < 0) {
		cli_error("import: cannot read %s: %s", path, bnd_strerror(fd));
		return CLI_EXIT_FAIL;
	}
	int exit_code = CLI_EXIT_FAIL;
	struct import_ctx *x = bnd_calloc(1, sizeof *x);
	if (!x) {
		cli_error("import: out of memory");
		goto out_fd;
	}
	exit_code = cli_store_open(&x->s, g, "subscribers import", 1, 1, NULL);
	if (exit_code != 0)
		goto out;
	exit_code = CLI_EXIT_FAIL;
	x->t_ms = cli_now_ms();
	/* Into an empty store, size the index for the file at once (a number
	 * line is ~13 bytes) instead of rehashing as it grows. Only then: a
	 * re-import into a full store would grow the index for duplicates. */
	struct store_counts known;
	store_count(x->s, &known);
	uint64_t nknown = 0;
	for (int k = 0; k < SUB_STATE_COUNT; k++)
		nknown += known.by_state[k];
	struct stat stt;
	if (nknown == 0 && fstat(fd, &stt) == 0 && S_ISREG(stt.st_mode) && stt.st_size > 0)
		(void)store_reserve(x->s, (uint64_t)stt.st_size / 13 + 1);  /* optional */
	int rc = scan_lines(fd, import_line, x);
	/* Group commit: one sync makes every append above durable, also after
	 * a failure part-way (what was appended before it stays valid). */
	int src = store_sync(x->s, 0);
	if (rc != 0) {
		if (x->fail_line)
			cli_error("import: stopped at line %llu: %s", (unsigned long long)x->fail_line,
			          bnd_strerror(rc));
		else
			cli_error("import: reading %s: %s", path, bnd_strerror(rc));
		if (src == 0)
			cli_error("import: the %llu numbers imported before that are on disk",
			          (unsigned long long)x->imported);
		else
			cli_error("import: and the final sync failed (%s): nothing of this run is "
			          "guaranteed on disk", bnd_strerror(src));
		goto out;
	}
	if (src != 0) {
		cli_error("import: sync failed: %s; nothing of this run is guaranteed on disk",
		          bnd_strerror(src));
		goto out;
	}
	rc = store_close(&x->s);
	if (rc != 0) {
		cli_error("import: closing the store: %s", bnd_strerror(rc));
		goto out;
	}
	invalid_summary(&x->iv, "import");
	if (g->json) {
		exit_code = cli_json_print(cli_json_pack(
			"{s:I,s:I,s:I,s:I,s:I,s:o*,s:I}", "lines", (json_int_t)x->lines, "imported",
			(json_int_t)x->imported, "skipped", (json_int_t)x->skipped, "opted_out",
			(json_int_t)x->opted_out, "invalid", (json_int_t)x->iv.count, "invalid_lines",
			invalid_json(&x->iv), "blank", (json_int_t)x->blank));
	} else {
		printf("imported %llu, skipped %llu already known (%llu of them unsubscribed), "
		       "invalid %llu, of %llu lines\n",
		       (unsigned long long)x->imported, (unsigned long long)x->skipped,
		       (unsigned long long)x->opted_out, (unsigned long long)x->iv.count,
		       (unsigned long long)x->lines);
		exit_code = CLI_EXIT_OK;
	}
out:
	if (x)
		store_close(&x->s);
	bnd_free(x);
out_fd:
	if (fd != STDIN_FILENO)
		close(fd);
	return exit_code;
}

/* ---- remove ----------------------------------------------------------- */

struct remove_ctx {
	struct store *s;
	uint64_t t_ms;
	uint64_t removed, already, not_found;
	uint64_t fail_line;
	struct invalid_list iv;
	enum sub_state last_prev;   /* for the one-number report */
};

static int remove_one(struct remove_ctx *x, uint64_t num)
{
	enum sub_state st = SUB_NONE;
	int rc = store_get(x->s, num, &st, NULL);
	if (rc != 0)
		return rc;
	x->last_prev = st;
	if (st == SUB_NONE) {
		x->not_found++;
		return 0;
	}
	if (st == SUB_UNSUBSCRIBED) {
		x->already++;
		return 0;
	}
	rc = store_append(x->s, num, SUB_UNSUBSCRIBED, x->t_ms, SRC_OPERATOR,
	                  sizeof SRC_OPERATOR - 1, NULL);
	if (rc == 0)
		x->removed++;
	return rc;
}

static int remove_line(const uint8_t *p, size_t len, int overlong, uint64_t lineno, void *ud)
{
	struct remove_ctx *x = ud;
	uint64_t num;
	int rc = line_number(p, len, overlong, &num);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		invalid_add(&x->iv, "remove", lineno, rc);
		return 0;
	}
	rc = remove_one(x, num);
	if (rc != 0)
		x->fail_line = lineno;
	return rc;
}

static int sub_remove(int argc, char **argv, const struct cli_global *g)
{
	const char *arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: banditore [--data DIR] subscribers remove NUMBER|FILE [--json]\n\n"
			       "Unsubscribe one number, or every number of FILE (one per line; '-'\n"
			       "reads stdin), for a citizen who asked city hall by phone or e-mail.\n"
			       "Each removal is recorded as an opt-out with source \"operator\"; run\n"
			       "`compact` to erase the numbers from disk. The report is printed\n"
			       "after the change is durable. --json prints {\"removed\",\n"
			       "\"already_unsubscribed\",\"not_found\",\"invalid\",\"invalid_lines\"}.\n");
			return CLI_EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage_error("banditore subscribers remove", "unknown option '%s'",
			                       argv[i]);
		if (arg)
			return cli_usage_error("banditore subscribers remove",
			                       "one NUMBER or FILE only");
		arg = argv[i];
	}
	if (!arg)
		return cli_usage_error("banditore subscribers remove", "missing NUMBER or FILE");

	/* A valid number is a number; anything else must be a readable file. */
	uint64_t single = 0;
	int prc = strcmp(arg, "-") == 0 ? BND_E_PHONE_CHAR
	                                : phone_parse((const uint8_t *)arg, strlen(arg), &single);
	int fd = -1;
	if (prc != 0) {
		fd = open_input(arg);
		if (fd < 0) {
			/* The argument is not echoed: it may be most of a number. */
			cli_error("remove: the argument is neither a valid number (%s) nor a "
			          "readable file (%s)", bnd_strerror(prc), bnd_strerror(fd));
			return CLI_EXIT_USAGE;
		}
	}

	int exit_code = CLI_EXIT_FAIL;
	struct remove_ctx *x = bnd_calloc(1, sizeof *x);
	if (!x) {
		cli_error("remove: out of memory");
		goto out_fd;
	}
	exit_code = cli_store_open(&x->s, g, "subscribers remove", 1, 0, NULL);
	if (exit_code != 0)
		goto out;
	exit_code = CLI_EXIT_FAIL;
	x->t_ms = cli_now_ms();
	int rc = fd >= 0 ? scan_lines(fd, remove_line, x) : remove_one(x, single);
	int src = store_sync(x->s, 0);
	if (rc != 0) {
		if (x->fail_line)
			cli_error("remove: stopped at line %llu: %s", (unsigned long long)x->fail_line,
			          bnd_strerror(rc));
		else
			cli_error("remove: %s", bnd_strerror(rc));
		if (src == 0)
			cli_error("remove: the %llu removals before that are on disk",
			          (unsigned long long)x->removed);
		goto out;
	}
	if (src != 0) {
		cli_error("remove: sync failed: %s; the removal is not guaranteed on disk",
		          bnd_strerror(src));
		goto out;
	}
	rc = store_close(&x->s);
	if (rc != 0) {
		cli_error("remove: closing the store: %s", bnd_strerror(rc));
		goto out;
	}
	invalid_summary(&x->iv, "remove");
	if (g->json) {
		exit_code = cli_json_print(cli_json_pack(
			"{s:I,s:I,s:I,s:I,s:o*}", "removed", (json_int_t)x->removed,
			"already_unsubscribed", (json_int_t)x->already, "not_found",
			(json_int_t)x->not_found, "invalid", (json_int_t)x->iv.count, "invalid_lines",
			invalid_json(&x->iv)));
	} else if (fd < 0) {
		char m[PHONE_MASK_MAX];
		phone_mask(single, m);
		if (x->removed)
			printf("removed %s (was %s); run `compact` to erase it from disk\n", m,
			       sub_state_name(x->last_prev));
		else if (x->already)
			printf("%s was already unsubscribed\n", m);
		else
			printf("%s is not in the store; nothing to do\n", m);
		exit_code = CLI_EXIT_OK;
	} else {
		printf("removed %llu, already unsubscribed %llu, not found %llu, invalid %llu\n",
		       (unsigned long long)x->removed, (unsigned long long)x->already,
		       (unsigned long long)x->not_found, (unsigned long long)x->iv.count);
		exit_code = CLI_EXIT_OK;
	}
out:
	if (x)
		store_close(&x->s);
	bnd_free(x);
out_fd:
	if (fd > STDIN_FILENO)
		close(fd);
	return exit_code;
}

/* ---- verify ----------------------------------------------------------- */

static int sub_verify(int argc, char **argv, const struct cli_global *g)
{
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: banditore [--data DIR] subscribers verify [--json]\n\n"
			       "Read every file of the store and check every checksum, the manifest\n"
			       "and the hint file. Read-only: works while serve runs, repairs\n"
			       "nothing. A torn tail (an interrupted last write) is reported, not an\n"
			       "error: the next writer truncates it. Exit 0 when intact; exit 1 with\n"
			       "the damaged file and byte offset otherwise. --json prints {\"ok\",\n"
			       "\"segments\",\"records\",\"bytes\",\"tail_dropped_bytes\",\"hint_ok\",\n"
			       "\"error\",\"file\",\"offset\"}.\n");
			return CLI_EXIT_OK;
		}
		return cli_usage_error("banditore subscribers verify", "unexpected argument '%s'",
		                       argv[i]);
	}
	struct store *s = NULL;
	struct store_open_info oi;
	struct store_verify_info vi;
	memset(&vi, 0, sizeof vi);
	int rc = cli_store_open(&s, g, "subscribers verify", 0, 0, &oi);
	if (rc != 0) {
		/* cli_store_open named the problem; a damaged store also gets
		 * its JSON report. */
		if (g->json && oi.err_file[0])
			cli_json_print(cli_json_pack("{s:b,s:s,s:s,s:I}", "ok", 0, "error",
			                             "damage found while opening", "file", oi.err_file,
			                             "offset", (json_int_t)oi.err_offset));
		return rc;
	}
	int vrc = store_verify(s, &vi);
	store_close(&s);
	if (vrc != 0 && vrc > BND_E_BASE) {
		/* not damage: a system error (I/O, memory) while checking */
		cli_error("verify: cannot check %s: %s", g->data_dir, bnd_strerror(vrc));
		return CLI_EXIT_FAIL;
	}
	if (vrc != 0) {
		/* err_msg adds what the code does not say, unless it only repeats
		 * the file and offset. */
		int extra = vi.err_msg[0] && !(vi.err_file[0] && strstr(vi.err_msg, vi.err_file));
		cli_error("verify: damaged store: %s in %s/%s at offset %llu%s%s", bnd_strerror(vrc),
		          g->data_dir, vi.err_file[0] ? vi.err_file : "?",
		          (unsigned long long)vi.err_offset, extra ? ": " : "", extra ? vi.err_msg : "");
		if (g->json)
			cli_json_print(cli_json_pack(
				"{s:b,s:I,s:I,s:I,s:I,s:b,s:s,s:s,s:I}", "ok", 0, "segments",
				(json_int_t)vi.segments, "records", (json_int_t)vi.records, "bytes",
				(json_int_t)vi.bytes, "tail_dropped_bytes", (json_int_t)vi.tail_dropped_bytes,
				"hint_ok", vi.hint_ok, "error", vi.err_msg[0] ? vi.err_msg : bnd_strerror(vrc),
				"file", vi.err_file, "offset", (json_int_t)vi.err_offset));
		return CLI_EXIT_FAIL;
	}
	uint64_t torn = vi.tail_dropped_bytes ? vi.tail_dropped_bytes : oi.tail_dropped_bytes;
	if (g->json)
		return cli_json_print(cli_json_pack(
			"{s:b,s:I,s:I,s:I,s:I,s:b,s:n,s:n,s:n}", "ok", 1, "segments",
			(json_int_t)vi.segments, "records", (json_int_t)vi.records, "bytes",
			(json_int_t)vi.bytes, "tail_dropped_bytes", (json_int_t)torn, "hint_ok",
			vi.hint_ok, "error", "file", "offset"));
	printf("ok: %s is intact: %llu segments, %llu records, %llu bytes; hint %s\n",
	       g->data_dir, (unsigned long long)vi.segments, (unsigned long long)vi.records,
	       (unsigned long long)vi.bytes,
	       vi.hint_ok ? "consistent" : "absent or stale (rebuilt by the next writer)");
	if (torn)
		printf("torn tail: %llu bytes after the last complete record (an interrupted "
		       "write; the next writer truncates it)\n", (unsigned long long)torn);
	return CLI_EXIT_OK;
}

/* ---- compact ---------------------------------------------------------- */

static int sub_compact(int argc, char **argv, const struct cli_global *g)
{
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: banditore [--data DIR] subscribers compact [--json]\n\n"
			       "Rewrite the live set (every number not unsubscribed, its latest\n"
			       "record) into new files and switch to them atomically; unsubscribed\n"
			       "numbers are then physically gone from disk. A crash at any point\n"
			       "leaves the old set or the new one, never a mix.\n\n"
			       "Then purge the notices' recipient lists: a notice that is done,\n"
			       "cancelled or expired keeps only its recipient count (its report\n"
			       "stays complete); any other notice has the numbers the store no\n"
			       "longer holds erased (resume skips them as unsubscribed). The\n"
			       "message ids WhatsApp returned for erased recipients (which encode\n"
			       "their numbers) are blanked in the notices' journals. Each file is\n"
			       "replaced atomically; a notice being sent is skipped and purged by\n"
			       "the next compaction.\n\n"
			       "--json prints {\"erased\",\"records_before\",\"records_after\",\n"
			       "\"bytes_before\",\"bytes_after\",\"notices\",\"notices_scrubbed\",\n"
			       "\"entries_scrubbed\",\"notices_reduced\",\"entries_reduced\",\n"
			       "\"wamids_redacted\",\"notices_locked\",\"notices_failed\"}. Exit 1 when a notice could not\n"
			       "be purged (named on stderr; its list is left as it was).\n");
			return CLI_EXIT_OK;
		}
		return cli_usage_error("banditore subscribers compact", "unexpected argument '%s'",
		                       argv[i]);
	}
	struct store *s;
	int rc = cli_store_open(&s, g, "subscribers compact", 1, 0, NULL);
	if (rc != 0)
		return rc;
	struct store_compact_info ci;
	struct notice_purge_info pi;
	memset(&ci, 0, sizeof ci);
	memset(&pi, 0, sizeof pi);
	rc = store_compact(s, &ci);
	int prc = rc ? 0 : notice_purge_all(g->data_dir, s, &pi);
	int crc = store_close(&s);
	if (rc != 0) {
		cli_error("compact: %s; the previous files stay in force", bnd_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (crc != 0) {
		cli_error("compact: closing the store: %s", bnd_strerror(crc));
		return CLI_EXIT_FAIL;
	}
	if (prc != 0) {
		cli_error("compact: the store is compacted, but listing the notices failed: %s; "
		          "their recipient lists were not purged", bnd_strerror(prc));
		return CLI_EXIT_FAIL;
	}
	if (pi.failed)
		cli_error("compact: %llu notice(s) could not be purged and keep their recipient "
		          "lists as they were; first: %s: %s", (unsigned long long)pi.failed,
		          pi.first_failed, bnd_strerror(pi.first_error));
	if (pi.locked)
		cli_error("compact: %llu notice(s) in use by a sender were skipped; the next "
		          "compaction purges them", (unsigned long long)pi.locked);
	int exit_code = pi.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	if (g->json) {
		int jrc = cli_json_print(cli_json_pack(
			"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "erased",
			(json_int_t)ci.erased, "records_before", (json_int_t)ci.records_before,
			"records_after", (json_int_t)ci.records_after, "bytes_before",
			(json_int_t)ci.bytes_before, "bytes_after", (json_int_t)ci.bytes_after,
			"notices", (json_int_t)pi.notices, "notices_scrubbed", (json_int_t)pi.scrubbed,
			"entries_scrubbed", (json_int_t)pi.scrubbed_entries, "notices_reduced",
			(json_int_t)pi.reduced, "entries_reduced", (json_int_t)pi.reduced_entries,
			"wamids_redacted", (json_int_t)pi.wamids_redacted, "notices_locked",
			(json_int_t)pi.locked, "notices_failed", (json_int_t)pi.failed));
		return jrc ? jrc : exit_code;
	}
	printf("compacted %s: erased %llu unsubscribed numbers; records %llu -> %llu; "
	       "bytes %llu -> %llu\n",
	       g->data_dir, (unsigned long long)ci.erased, (unsigned long long)ci.records_before,
	       (unsigned long long)ci.records_after, (unsigned long long)ci.bytes_before,
	       (unsigned long long)ci.bytes_after);
	printf("notices: %llu examined; %llu scrubbed (%llu numbers erased); %llu finished "
	       "reduced to counts (%llu numbers removed); %llu message ids redacted; "
	       "%llu locked; %llu failed\n",
	       (unsigned long long)pi.notices, (unsigned long long)pi.scrubbed,
	       (unsigned long long)pi.scrubbed_entries, (unsigned long long)pi.reduced,
	       (unsigned long long)pi.reduced_entries, (unsigned long long)pi.wamids_redacted,
	       (unsigned long long)pi.locked, (unsigned long long)pi.failed);
	return exit_code;
}

/* ---- export ----------------------------------------------------------- */

struct export_row {
	uint64_t number, t_ms;
	int state;
};

struct export_ctx {
	struct export_row *rows;
	size_t n, cap;
	int failed;
};

static int export_visit(uint64_t number, enum sub_state st, uint64_t t_ms, void *ud)
{
	struct export_ctx *x = ud;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 65536;
		struct export_row *r = bnd_realloc(x->rows, cap * sizeof *r);
		if (!r) {
			x->failed = 1;
			return 1;
		}
		x->rows = r;
		x->cap = cap;
	}
	x->rows[x->n++] = (struct export_row){ number, t_ms, (int)st };
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct export_row *x = a, *y = b;
	return (x->number > y->number) - (x->number < y->number);
}

static int sub_export(int argc, char **argv, const struct cli_global *g)
{
	int personal = 0;
	const char *out_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: banditore [--data DIR] subscribers export --personal-data "
			       "[--output FILE]\n\n"
			       "Print every number of the store as CSV, number,state,t_ms, in\n"
			       "ascending order. The output holds FULL PHONE NUMBERS (personal\n"
			       "data): the command refuses to run without --personal-data. With\n"
			       "--output FILE the CSV goes to FILE, created with mode 0600.\n"
			       "Read-only: works while serve runs.\n");
			return CLI_EXIT_OK;
		}
		if (strcmp(argv[i], "--personal-data") == 0) {
			personal = 1;
		} else if (strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error("banditore subscribers export",
				                       "--output needs a FILE");
			out_path = argv[++i];
		} else {
			return cli_usage_error("banditore subscribers export",
			                       "unexpected argument '%s'", argv[i]);
		}
	}
	if (!personal) {
		cli_error("export: refused: the export contains full phone numbers (personal "
		          "data); pass --personal-data to confirm that you mean it");
		return CLI_EXIT_USAGE;
	}
	struct store *s;
	int rc = cli_store_open(&s, g, "subscribers export", 0, 0, NULL);
	if (rc != 0)
		return rc;
	struct export_ctx x = { 0 };
	store_foreach(s, export_visit, &x);
	store_close(&s);
	int exit_code = CLI_EXIT_FAIL;
	FILE *f = stdout;
	if (x.failed) {
		cli_error("export: out of memory");
		goto out;
	}
	qsort(x.rows, x.n, sizeof *x.rows, row_cmp);
	if (out_path) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || fchmod(fd, 0600) != 0 || !(f = fdopen(fd, "w"))) {
			cli_error("export: cannot write %s: %s", out_path, strerror(errno));
			if (fd >= 0)
				close(fd);
			f = NULL;
			goto out;
		}
	}
	static char obuf[1 << 16];
	setvbuf(f, obuf, _IOFBF, sizeof obuf);
	fputs("number,state,t_ms\n", f);
	for (size_t i = 0; i < x.n; i++) {
		char digits[PHONE_STR_MAX];
		phone_format(x.rows[i].number, digits);
		fprintf(f, "%s,%s,%llu\n", digits, sub_state_name(x.rows[i].state),
		        (unsigned long long)x.rows[i].t_ms);
	}
	if (fflush(f) != 0 || ferror(f)) {
		cli_error("export: write failed: %s", strerror(errno));
		goto out;
	}
	if (out_path && !g->json)
		printf("exported %zu numbers to %s\n", x.n, out_path);
	exit_code = CLI_EXIT_OK;
out:
	if (f && f != stdout && fclose(f) != 0 && exit_code == CLI_EXIT_OK) {
		cli_error("export: closing %s: %s", out_path, strerror(errno));
		exit_code = CLI_EXIT_FAIL;
	}
	bnd_free(x.rows);
	return exit_code;
}

/* ---- dispatch --------------------------------------------------------- */

int cmd_subscribers(int argc, char **argv, const struct cli_global *g)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv, const struct cli_global *g);
	} subs[] = {
		{ "count", sub_count },     { "import", sub_import },   { "remove", sub_remove },
		{ "verify", sub_verify },   { "compact", sub_compact }, { "export", sub_export },
	};
	if (argc < 2) {
		usage_subscribers(stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage_subscribers(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1, g);
	return cli_usage_error("banditore subscribers", "unknown subcommand '%s'", argv[1]);
}
