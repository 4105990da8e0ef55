/*
 * store_fill.c - builds a big store quickly for the crash tests, the way the
 * webhook path grows one: every number of FILE (one per line) becomes a
 * confirmed subscriber with its own source id ("wamid.fill.<line>"), then
 * one group commit.
 *
 * usage: store_fill DIR FILE
 * Creates DIR if needed. Prints "filled N" on stdout. Exit 0, or 1 with the
 * error on stderr (an invalid line is an error: the test wrote the file).
 */
#include <stdio.h>
#include <string.h>

#include "bnd.h"
#include "phone.h"
#include "store.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: store_fill DIR FILE\n");
		return 1;
	}
	FILE *f = fopen(argv[2], "r");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	struct store_opts opts = { .flags = STORE_CREATE, .holder = "store_fill" };
	struct store *s = NULL;
	int rc = store_open(&s, argv[1], &opts, NULL);
	if (rc != 0) {
		fprintf(stderr, "store_fill: open %s: %s\n", argv[1], bnd_strerror(rc));
		fclose(f);
		return 1;
	}
	char line[128];
	unsigned long long n = 0, lineno = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		uint64_t num;
		lineno++;
		rc = phone_parse((const uint8_t *)line, strlen(line), &num);
		if (rc != 0) {
			fprintf(stderr, "store_fill: line %llu: %s\n", lineno, bnd_strerror(rc));
			break;
		}
		char src[48];
		int sl = snprintf(src, sizeof src, "wamid.fill.%llu", lineno);
		rc = store_append(s, num, SUB_CONFIRMED, 1700000000000ull + lineno,
		                  (const uint8_t *)src, (size_t)sl, NULL);
		if (rc != 0)
			fprintf(stderr, "store_fill: append: %s\n", bnd_strerror(rc));
		n++;
	}
	fclose(f);
	int src = rc == 0 ? store_sync(s, 0) : 0;
	int crc = store_close(&s);
	if (rc != 0 || src != 0 || crc != 0) {
		if (src || crc)
			fprintf(stderr, "store_fill: sync/close: %s\n", bnd_strerror(src ? src : crc));
		return 1;
	}
	printf("filled %llu\n", n);
	return 0;
}
