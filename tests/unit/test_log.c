/*
 * test_log.c - tools/banditore/log.c: the number filter (what it masks and
 * what it must leave alone), secret redaction, the logfmt and JSON line
 * formats (escaping, truncation, parseable JSON), level filtering and one
 * write per line through the hook.
 *
 * log.c belongs to the banditore binary, not to a library, so it is
 * compiled into this test directly.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/banditore/log.c"

static void masked_is(const char *in, const char *want)
{
	char out[512];
	log_mask_numbers(in, out, sizeof out);
	cr_assert_str_eq(out, want, "mask(%s)", in);
}

Test(log, runs_of_eight_or_more_digits_are_masked_like_phone_mask)
{
	masked_is("393351234567", "39335****567");
	masked_is("to=393351234567,", "to=39335****567,");
	masked_is("numbers 393351234567 and 393399999999.", "numbers 39335****567 and 39339****999.");
	masked_is("\"393351234567\"", "\"39335****567\"");
	masked_is("12345678", "12****78");            /* at least 4 hidden */
	masked_is("123456789012345", "12345*******345");
	masked_is("1234567890123456789", "12345***********789");
	masked_is("+393351234567", "+39335****567");
	masked_is("+39 335 123 4567", "+39 335 *** *567");
	masked_is("(+39) 335-123-4567", "(+39) 335-***-*567");
	masked_is("0039 335 1234567", "0039 3** ****567");
	masked_is("+39 (0)731 123456", "+39 (0)73* ***456");
	masked_is("wa_id:393351234567", "wa_id:39335****567");
}

Test(log, identifiers_counts_and_short_numbers_are_left_alone)
{
	const char *keep[] = {
		"notice n-20251012T101500-a3f9 created",
		"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA=",
		"recipients=20000 accepted=19876 rate=998.5",
		"code 131026 failed 1234567 times",
		"abc12345678", "12345678abc", "v25.0", "2025-10-12T10:00:00Z", "x_12345678",
		"+39 335", "+1234567", "1234567", "", "n-20251012T101500-a3f9:98231",
	};
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		masked_is(keep[i], keep[i]);
}

Test(log, the_masked_output_is_cut_at_cap)
{
	char out[8];
	log_mask_numbers("393351234567 and more", out, sizeof out);
	cr_assert_eq(strlen(out), 7);
	cr_assert_str_eq(out, "39335**");
	char one[1];
	cr_assert_eq(log_mask_numbers("abc", one, 1), 0);
	cr_assert_str_eq(one, "");
}

Test(log, registered_secrets_are_redacted)
{
	cr_assert_eq(log_add_secret("s3cret-admin-token"), 0);
	cr_assert_eq(log_add_secret("73108642957731"), 0);   /* all digits */
	cr_assert_eq(log_add_secret("abc"), 0);              /* too short: ignored */
	cr_assert_eq(log_add_secret(NULL), 0);
	char out[256];
	redact("bearer s3cret-admin-token, key 73108642957731, abc", out, sizeof out);
	cr_assert_str_eq(out, "bearer [redacted], key [redacted], abc");
	redact("s3cret-admin-tokens3cret-admin-token", out, sizeof out);
	cr_assert_str_eq(out, "[redacted][redacted]");
	for (int i = 0; i < LOG_SECRETS_MAX - 2; i++) {
		char s[32];
		snprintf(s, sizeof s, "secret-%d", i);
		cr_assert_eq(log_add_secret(s), 0);
	}
	cr_assert_eq(log_add_secret("one-too-many"), BND_E_RANGE);
	cr_assert_eq(log_add_secret("secret-1"), 0);   /* already there */
	log_clear_secrets();
	redact("s3cret-admin-token", out, sizeof out);
	cr_assert_str_eq(out, "s3cret-admin-token");
}

Test(log, logfmt_lines_have_time_level_module_and_an_escaped_message)
{
	char line[512];
	size_t n = log_format_line(line, sizeof line, 1760263200123ull, LOG_FORMAT_LOGFMT,
	                           BND_LOG_WARN, "opapi", "say \"hi\"\\\nnext\tx\x01");
	cr_assert_str_eq(line, "ts=2025-10-12T10:00:00.123Z level=warn module=opapi "
	                 "msg=\"say \\\"hi\\\"\\\\\\nnext\\tx\\x01\"\n");
	cr_assert_eq(n, strlen(line));
	log_format_line(line, sizeof line, 0, LOG_FORMAT_LOGFMT, BND_LOG_DEBUG, NULL, NULL);
	cr_assert_str_eq(line, "ts=1970-01-01T00:00:00.000Z level=debug module=- msg=\"\"\n");
}

Test(log, json_lines_parse_and_carry_the_same_fields)
{
	char line[512];
	log_format_line(line, sizeof line, 1760263200123ull, LOG_FORMAT_JSON, BND_LOG_ERROR,
	                "store", "disk \"full\"\n\x02 è");
	cr_assert_eq(line[strlen(line) - 1], '\n');
	json_error_t e;
	json_t *o = json_loads(line, 0, &e);
	cr_assert_not_null(o, "%s: %s", line, e.text);
	cr_assert_str_eq(json_string_value(json_object_get(o, "ts")), "2025-10-12T10:00:00.123Z");
	cr_assert_str_eq(json_string_value(json_object_get(o, "level")), "error");
	cr_assert_str_eq(json_string_value(json_object_get(o, "module")), "store");
	cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "disk \"full\"\n\x02 è");
	cr_assert_eq(json_object_size(o), 4);
	json_decref(o);
}

Test(log, a_long_message_is_cut_with_an_ellipsis_and_stays_one_valid_line)
{
	static char msg[LOG_LINE_MAX * 2];
	memset(msg, '"', sizeof msg - 1);
	char line[LOG_LINE_MAX + 256];
	size_t n = log_format_line(line, sizeof line, 1, LOG_FORMAT_JSON, BND_LOG_INFO, "m", msg);
	cr_assert_lt(n, sizeof line);
	cr_assert_eq(strchr(line, '\n'), line + n - 1);
	json_t *o = json_loads(line, 0, NULL);
	cr_assert_not_null(o);
	const char *m = json_string_value(json_object_get(o, "msg"));
	cr_assert_str_eq(m + strlen(m) - 3, "...");
	json_decref(o);
	n = log_format_line(line, sizeof line, 1, LOG_FORMAT_LOGFMT, BND_LOG_INFO, "m", msg);
	cr_assert_eq(strchr(line, '\n'), line + n - 1);
}

static char *read_back(int fd)
{
	static char buf[16384];
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

Test(log, the_hook_filters_by_level_masks_redacts_and_writes_whole_lines)
{
	char path[] = "/tmp/bnd-log-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	log_configure(BND_LOG_INFO, LOG_FORMAT_LOGFMT, fd);
	cr_assert_eq(log_add_secret("app-secret-value"), 0);
	log_hook(BND_LOG_DEBUG, "x", "not shown", NULL);
	log_hook(BND_LOG_INFO, "webhook", "JESI ON from 393351234567 signed with app-secret-value",
	         NULL);
	log_configure(BND_LOG_WARN, LOG_FORMAT_JSON, fd);
	log_hook(BND_LOG_INFO, "x", "not shown either", NULL);
	log_hook(BND_LOG_ERROR, "sender", "+39 335 123 4567 failed", NULL);
	char *all = read_back(fd);
	cr_assert_null(strstr(all, "not shown"));
	cr_assert_null(strstr(all, "393351234567"));
	cr_assert_null(strstr(all, "app-secret-value"));
	cr_assert_null(strstr(all, "123 4567"));
	char *nl = strchr(all, '\n');
	cr_assert_not_null(nl);
	cr_assert_not_null(strstr(all, "level=info module=webhook msg=\"JESI ON from 39335****567 "
	                          "signed with [redacted]\"\n"));
	json_t *o = json_loads(nl + 1, 0, NULL);
	cr_assert_not_null(o, "%s", nl + 1);
	cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "+39 335 *** *567 failed");
	json_decref(o);
	log_clear_secrets();
	log_configure(BND_LOG_INFO, LOG_FORMAT_LOGFMT, 2);
	close(fd);
}
