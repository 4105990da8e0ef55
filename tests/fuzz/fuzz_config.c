/*
 * fuzz_config.c - libFuzzer target for the configuration (engine/config.c):
 * a config file's bytes, or a flag, through validation, the cross-key
 * checks, rendering and the dump.
 *
 * The first byte chooses the mode:
 *   'F'  file: the rest is a config file (config_load_json)
 *   'S'  flag: the rest is KEY NUL VALUE (config_set); without a NUL the
 *        whole rest is the value of "welcome", the most permissive key
 *   any other byte: its value modulo 2 picks one of the above.
 * After either, config_check, config_render of every message text and
 * config_dump_json run; invariants (checked, abort on violation, like a
 * sanitizer report):
 *   - a failed load or set leaves the dump unchanged
 *   - a successful load's dump loads back and dumps to the same text
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "config.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static char *dump(const struct config *c)
{
	char *s = NULL;
	CHECK(config_dump_json(c, CONFIG_DUMP_SOURCES, &s) == 0);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct config c;
	char err[CONFIG_ERR_MAX];
	CHECK(config_defaults(&c) == 0);
	char *before = dump(&c);
	int mode = data[0] == 'F' || data[0] == 'S' ? data[0] : (data[0] % 2 ? 'S' : 'F');
	const char *rest = (const char *)data + 1;
	size_t n = size - 1;
	int rc;
	if (mode == 'F') {
		rc = config_load_json(&c, rest, n, "fuzz", err, sizeof err);
	} else {
		char *buf = malloc(n + 1);
		CHECK(buf);
		memcpy(buf, rest, n);
		buf[n] = '\0';
		size_t kl = strlen(buf);
		if (kl < n)
			rc = config_set(&c, buf, buf + kl + 1, err, sizeof err);
		else
			rc = config_set(&c, "welcome", buf, err, sizeof err);
		free(buf);
	}
	char *after = dump(&c);
	if (rc != 0) {
		CHECK(rc < 0);
		CHECK(strlen(err) > 0 && strlen(err) < sizeof err);
		CHECK(strcmp(before, after) == 0);
	} else {
		(void)config_check(&c, err, sizeof err);
		static char out[CONFIG_RENDER_MAX];
		const char *texts[] = {c.welcome, c.already_subscribed, c.opt_out_ack, c.help_text,
		                       c.auto_reply_text};
		for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
			int r = config_render(&c, texts[i], out, sizeof out);
			CHECK(r >= 0 || r == BND_E_RANGE);
		}
		/* the dump without sources is a config file that reads back the same */
		char *plain = NULL;
		CHECK(config_dump_json(&c, 0, &plain) == 0);
		struct config c2;
		CHECK(config_defaults(&c2) == 0);
		CHECK(config_load_json(&c2, plain, strlen(plain), "dump", err, sizeof err) == 0);
		char *again = NULL;
		CHECK(config_dump_json(&c2, 0, &again) == 0);
		CHECK(strcmp(plain, again) == 0);
		bnd_free(again);
		bnd_free(plain);
		config_free(&c2);
	}
	bnd_free(before);
	bnd_free(after);
	config_free(&c);
	return 0;
}
