/*
 * fsio.c - thin wrappers over the file-system calls the store makes.
 *
 * Why: SQLite-style anomaly tests need to fail "the Nth write" or "the Nth
 * fsync", or stop the world at step N of a compaction, without an LD_PRELOAD
 * shim. Every mutating call goes through here and asks the hook first; with
 * no hook installed the cost is one predictable branch.
 *
 * Reads are not hooked: they cannot damage anything, and the recovery tests
 * damage files directly instead.
 */
#include "fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static fsio_hook_fn hook_fn;
static void *hook_ud;

void fsio_set_hook(fsio_hook_fn fn, void *ud)
{
	hook_ud = ud;
	hook_fn = fn;
}

static int ask(enum fsio_op op, const char *name, size_t len)
{
	return hook_fn ? hook_fn(op, name ? name : "", len, hook_ud) : 0;
}

int fsio_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const uint8_t *b = p;
	while (n > 0) {
		size_t chunk = n;
		int h = ask(FSIO_WRITE, "", n);
		if (h < 0)
			return h;
		if (h > 0 && (size_t)h < chunk)
			chunk = (size_t)h;
		ssize_t w = pwrite(fd, b, chunk, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		b += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

ssize_t fsio_pread_all(int fd, void *p, size_t n, off_t off)
{
	uint8_t *b = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, off + (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int fsio_fdatasync(int fd)
{
	int h = ask(FSIO_FSYNC, "", 0);
	if (h < 0)
		return h;
	while (fdatasync(fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int fsio_fsync(int fd)
{
	int h = ask(FSIO_FSYNC, "", 0);
	if (h < 0)
		return h;
	while (fsync(fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int fsio_ftruncate(int fd, off_t len)
{
	int h = ask(FSIO_TRUNCATE, "", (size_t)len);
	if (h < 0)
		return h;
	while (ftruncate(fd, len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int fsio_renameat(int dirfd, const char *from, const char *to)
{
	int h = ask(FSIO_RENAME, to, 0);
	if (h < 0)
		return h;
	return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

int fsio_unlinkat(int dirfd, const char *name)
{
	int h = ask(FSIO_UNLINK, name, 0);
	if (h < 0)
		return h;
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

int fsio_openat(int dirfd, const char *name, int flags)
{
	if (flags & O_CREAT) {
		int h = ask(FSIO_CREATE, name, 0);
		if (h < 0)
			return h;
	}
	int fd;
	do
		fd = openat(dirfd, name, flags | O_CLOEXEC, 0600);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int fsio_mkdir(const char *path)
{
	int h = ask(FSIO_CREATE, path, 0);
	if (h < 0)
		return h;
	return mkdir(path, 0700) < 0 ? -errno : 0;
}
