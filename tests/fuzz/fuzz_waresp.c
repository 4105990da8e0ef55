/*
 * fuzz_waresp.c - the API client's parsers of network bytes: the response
 * extractor (waerr_parse), checked differentially against jansson (same
 * fields wherever jansson accepts the document), and the request escaper
 * (wareq_escape), whose output must always be a JSON string jansson reads
 * back as valid UTF-8.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "waerr.h"
#include "wareq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_extractor(const uint8_t *data, size_t size)
{
	char st[WAERR_STORE_MIN];
	struct waerr_parsed p;
	if (waerr_parse(data, size, &p, st, sizeof st) != 0)
		abort();
	/* jansson accepts some documents with a raw NUL byte in them (it ends
	 * a number token: {"code":3<NUL>} parses); they are not JSON, the
	 * extractor refuses them, so they are no disagreement. */
	if (memchr(data, 0, size))
		return;
	json_t *root = json_loadb((const char *)data, size, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return;
	}
	if (!p.json_ok)
		abort();
	json_t *e = json_object_get(root, "error");
	json_t *c = json_object_get(e, "code");
	int64_t code = json_is_object(e) && json_is_integer(c) ? json_integer_value(c) : WA_CODE_NONE;
	if (code != p.code)
		abort();
	json_t *id = json_object_get(json_array_get(json_object_get(root, "messages"), 0), "id");
	int has = json_is_string(id) && json_string_length(id);
	if (has != !!p.wamid)
		abort();
	if (has) {
		size_t n = json_string_length(id);
		if (n > WA_WAMID_MAX - 1)
			n = WA_WAMID_MAX - 1;
		if (n != p.wamid_len || memcmp(p.wamid, json_string_value(id), n))
			abort();
	}
	json_decref(root);
}

static void check_escaper(const uint8_t *data, size_t size)
{
	struct wareq_buf b = {0};
	if (size > 4096)
		size = 4096;
	if (wareq_escape(&b, data, size, 0) < 0)
		abort();
	size_t n = b.len;
	uint8_t *q = malloc(n + 2);
	if (!q)
		abort();
	q[0] = '"';
	memcpy(q + 1, b.p, n);
	q[n + 1] = '"';
	json_t *j = json_loadb((const char *)q, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!json_is_string(j))
		abort();
	if (wareq_utf8_check(data, size) == 0 &&
	    (json_string_length(j) != size || memcmp(json_string_value(j), data, size)))
		abort();
	json_decref(j);
	free(q);
	wareq_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_extractor(data, size);
	check_escaper(data, size);
	return 0;
}
