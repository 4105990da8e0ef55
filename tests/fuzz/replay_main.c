/*
 * replay_main.c - the plain driver that replays fuzz corpora and saved
 * crashers in the normal test run.
 *
 * Every argument is a file or a directory; every regular file found (one
 * level deep) is read whole and passed to LLVMFuzzerTestOneInput, the same
 * entry point libFuzzer uses. A crash or sanitizer report fails the test; a
 * missing directory is not an error (a target may have no crashers yet), but
 * replaying zero inputs in total is, so a mistyped path cannot pass.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* Copy into an exact-size buffer so ASan sees reads past the end. */
	uint8_t *exact = malloc(len ? len : 1);
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

int main(int argc, char **argv)
{
	long total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			if (replay_file(argv[i]) == 0)
				total++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path) == 0)
				total++;
		}
		closedir(d);
	}
	printf("replayed %ld inputs\n", total);
	if (total == 0) {
		fprintf(stderr, "no input replayed: corpus missing?\n");
		return 1;
	}
	return 0;
}
