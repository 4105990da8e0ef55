/*
 * store_testutil.h - shared by the store's Criterion tests: temporary store
 * directories, reading and writing whole files, and a model of expected
 * state. Header-only (static functions) so that it links into exactly the
 * test programs that include it.
 */
#ifndef STORE_TESTUTIL_H
#define STORE_TESTUTIL_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnd.h"
#include "store.h"

static inline int tu_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A fresh empty directory path (the store dir is <tmp>/db, not created).
 * On tmpfs (/dev/shm) when there is one: fsync is then free, and the fault
 * loops, which sync thousands of times, stay fast. $BANDITORE_TEST_TMP
 * overrides the parent (e.g. to run them on a real disk). */
static inline void tu_tmpdir(char *out, size_t n)
{
	char t[200];
	const char *base = getenv("BANDITORE_TEST_TMP");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(t, sizeof t, "%.150s/bnd-store-test-XXXXXX", base);
	cr_assert_not_null(mkdtemp(t));
	snprintf(out, n, "%s/db", t);
}

static inline void tu_rmtree(const char *dbdir)
{
	char parent[512];
	snprintf(parent, sizeof parent, "%s", dbdir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = 0;
	nftw(parent, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline struct store *tu_open(const char *dir, unsigned flags, struct store_open_info *info)
{
	struct store_opts o = { .flags = flags, .holder = "unit test" };
	struct store *s = NULL;
	struct store_open_info tmp;
	int rc = store_open(&s, dir, &o, info ? info : &tmp);
	cr_assert_eq(rc, 0, "store_open(%s): %s", dir, bnd_strerror(rc));
	return s;
}

static inline uint8_t *tu_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		*len = 0;
		return NULL;
	}
	struct stat st;
	fstat(fd, &st);
	uint8_t *b = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return b;
}

static inline void tu_write_file(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static inline void tu_path(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* The number of the i-th test subscriber: Italian mobiles 39 3xx xxxxxxx. */
static inline uint64_t tu_num(uint64_t i)
{
	return 393000000000ULL + (i * 7919ULL) % 1000000000ULL;
}

#endif

/* ---- fault injection through store/fsio.h's hook ---- */
#include "fsio.h"

struct tu_fault {
	unsigned ops;       /* bit mask of (1 << FSIO_*) that count */
	long fail_at;       /* the counted op with this index fails (0-based); -1 never */
	int err;            /* -errno to fail with */
	int freeze;         /* after the failure every op of any kind fails: a crash */
	int sticky;         /* after the failure every counted op fails */
	long seen;          /* counted ops so far */
	int fired;
	size_t short_bytes; /* >0: the failing FSIO_WRITE first writes this many */
	int short_done;
};

static inline int tu_fault_hook(enum fsio_op op, const char *name, size_t len, void *ud)
{
	(void)name;
	struct tu_fault *f = ud;
	if (f->fired && f->freeze)
		return -EIO;
	if (!(f->ops & (1u << op)))
		return 0;
	if (f->fired && f->sticky)
		return f->err;
	long n = f->seen++;
	if (f->fail_at < 0 || n != f->fail_at)
		return 0;
	if (op == FSIO_WRITE && f->short_bytes && !f->short_done && f->short_bytes < len) {
		f->short_done = 1;
		f->seen--;          /* the next call (the rest) is the failing one */
		return (int)f->short_bytes;
	}
	f->fired = 1;
	return f->err;
}

static inline void tu_fault_set(struct tu_fault *f, unsigned ops, long fail_at, int err)
{
	memset(f, 0, sizeof *f);
	f->ops = ops;
	f->fail_at = fail_at;
	f->err = err;
	fsio_set_hook(tu_fault_hook, f);
}

static inline void tu_fault_clear(void)
{
	fsio_set_hook(NULL, NULL);
}

/* 1 when the bytes occur in the file. */
static inline int tu_file_contains(const char *path, const void *needle, size_t n)
{
	size_t len;
	uint8_t *b = tu_read_file(path, &len);
	int found = b && len >= n && memmem(b, len, needle, n) != NULL;
	free(b);
	return found;
}
