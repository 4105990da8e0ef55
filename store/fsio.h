/*
 * fsio.h - the store's file-system calls, each behind one optional test
 * hook, so that tests can fail the Nth write, fsync, rename, unlink,
 * truncate or create, shorten a write (disk full), or "freeze" the disk to
 * simulate a crash at step N (every later call fails, nothing more reaches
 * the files).
 *
 * Every function returns 0 (or a count) on success and -errno on failure;
 * EINTR is retried inside. Thread-safe as far as the syscalls are; the hook
 * itself is a process-wide test setting (set it before the store runs).
 */
#ifndef STORE_FSIO_H
#define STORE_FSIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum fsio_op {
	FSIO_WRITE,     /* one pwrite call (a flush may make several) */
	FSIO_FSYNC,     /* fdatasync or fsync of a file or a directory */
	FSIO_RENAME,
	FSIO_UNLINK,
	FSIO_TRUNCATE,
	FSIO_CREATE,    /* creating a file (O_CREAT) or a directory */
	FSIO_OP_COUNT
};

/*
 * The hook is called before each operation with the op and the file name
 * (or "" when only an fd is known) and the byte count for FSIO_WRITE.
 * It returns 0 to let the call proceed, -errno to fail it without doing
 * anything, or for FSIO_WRITE a positive k < len to write only k bytes
 * (a short write, as when the disk fills up).
 */
typedef int (*fsio_hook_fn)(enum fsio_op op, const char *name, size_t len, void *ud);

/* fsio_set_hook - install (fn non-NULL) or remove (fn NULL) the test hook. */
void fsio_set_hook(fsio_hook_fn fn, void *ud);

/* fsio_pwrite_all - write all n bytes at off. Returns 0 or -errno (some
 * prefix may have been written). */
int fsio_pwrite_all(int fd, const void *p, size_t n, off_t off);

/* fsio_pread_all - read up to n bytes at off; returns the count read (short
 * only at end of file) or -errno. Not hooked (reads never change files). */
ssize_t fsio_pread_all(int fd, void *p, size_t n, off_t off);

int fsio_fdatasync(int fd);
int fsio_fsync(int fd);
int fsio_ftruncate(int fd, off_t len);
int fsio_renameat(int dirfd, const char *from, const char *to);
int fsio_unlinkat(int dirfd, const char *name);

/* fsio_openat - open name in dirfd; with O_CREAT in flags the create hook
 * runs first and the mode is 0600. Returns the fd or -errno. */
int fsio_openat(int dirfd, const char *name, int flags);

/* fsio_mkdir - mkdir with mode 0700 (create hook). 0 or -errno (-EEXIST). */
int fsio_mkdir(const char *path);

#endif
