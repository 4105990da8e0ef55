/*
 * store_hold.c - holds a store's writer lock, standing in for a running
 * `banditore serve`, so that tests can check what the other commands do
 * while the lock is held (one clear line and exit 3 for writers; readers
 * still work).
 *
 * usage: store_hold DIR [SECONDS]
 * Opens DIR as the writer (creating it if needed) with the holder
 * "store_hold test helper" (the store adds " (pid N)"), prints "locked" on stdout, then sleeps
 * SECONDS (default 60, the bound if the test forgets it) and exits 0; the
 * test normally kills it by PID before. Exit 1 if the open fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bnd.h"
#include "store.h"

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: store_hold DIR [SECONDS]\n");
		return 1;
	}
	int seconds = argc > 2 ? atoi(argv[2]) : 60;
	/* the store appends " (pid N)" */
	struct store_opts opts = { .flags = STORE_CREATE, .holder = "store_hold test helper" };
	struct store *s = NULL;
	int rc = store_open(&s, argv[1], &opts, NULL);
	if (rc != 0) {
		fprintf(stderr, "store_hold: open %s: %s\n", argv[1], bnd_strerror(rc));
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	for (int i = 0; i < seconds; i++)
		sleep(1);
	store_close(&s);
	return 0;
}
