/*
 * record.c - the record of accepted messages (format: see record.h).
 *
 * One write(2) per line on an O_APPEND descriptor: the kernel positions and
 * copies each append under the inode lock, so concurrent request threads
 * need no lock of their own and their lines never interleave. A short write
 * (disk full mid-line) is continued; if it cannot be, the caller answers
 * the client with an error, because a message the mock cannot record must
 * not look accepted.
 */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnd.h"
#include "jw.h"
#include "phone.h"

#define LINE_MAX_BYTES 8192

struct record {
	int fd;
};

int record_open(struct record **out, const char *path)
{
	struct record *r = bnd_calloc(1, sizeof *r);
	if (!r)
		return BND_E_NOMEM;
	r->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (r->fd < 0) {
		int rc = -errno;
		bnd_free(r);
		return rc;
	}
	/* An existing regular file is made private too; a device or a pipe
	 * (--record /dev/stdout) is left as it is. */
	struct stat sb;
	if (fstat(r->fd, &sb) != 0 ||
	    (S_ISREG(sb.st_mode) && (sb.st_mode & 0777) != 0600 && fchmod(r->fd, 0600) != 0)) {
		int rc = -errno;
		close(r->fd);
		bnd_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void record_close(struct record **p)
{
	if (!p || !*p)
		return;
	close((*p)->fd);
	bnd_free(*p);
	*p = NULL;
}

size_t record_format(char *buf, size_t cap, uint64_t to, const char *wamid, size_t wlen,
                     const uint8_t *tag, size_t tlen, const char *type, uint64_t t_ms)
{
	char digits[PHONE_STR_MAX];
	size_t dn = phone_format(to, digits);
	struct jw w;
	jw_init(&w, buf, cap);
	jw_lit(&w, "{\"to\":\"");
	jw_raw(&w, digits, dn);
	jw_lit(&w, "\",\"wamid\":");
	jw_str(&w, (const uint8_t *)wamid, wlen, JW_UTF8);
	jw_lit(&w, ",\"tag\":");
	jw_str(&w, tag, tlen, JW_UTF8);
	jw_lit(&w, ",\"type\":\"");
	jw_lit(&w, type);
	jw_lit(&w, "\",\"t_ms\":");
	jw_u64(&w, t_ms);
	jw_lit(&w, "}\n");
	return jw_len(&w);
}

int record_append(struct record *r, uint64_t to, const char *wamid, size_t wlen,
                  const uint8_t *tag, size_t tlen, const char *type, uint64_t t_ms)
{
	char line[LINE_MAX_BYTES];
	size_t n = record_format(line, sizeof line, to, wamid, wlen, tag, tlen, type, t_ms);
	if (n == 0)
		return BND_E_RANGE;
	size_t off = 0;
	int tries = 0;
	while (off < n) {
		ssize_t k = write(r->fd, line + off, n - off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0 && ++tries > 3)
			return -EIO;
		off += (size_t)k;
	}
	return 0;
}
