/*
 * templates.c - the template registry (see templates.h).
 *
 * A linear scan: registries hold a handful of templates (Meta allows 250 per
 * account; the mock caps at TEMPLATES_MAX) and the name comparison fails on
 * the first byte almost always, so a hash table would buy nothing here.
 */
#include "templates.h"

#include <stdlib.h>
#include <string.h>

#include "bnd.h"
#include "speclist.h"

static int name_ok(const char *s, size_t n, size_t max, int lang)
{
	if (n == 0 || n >= max || (lang && n < 2))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		         (!lang && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static int parse_template(struct templates *reg, char *item)
{
	char *f[5] = {0};
	int n = 0;
	for (char *p = item;;) {
		if (n == 5)
			return BND_E_WAMOCK_SPEC;
		f[n++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	if (n < 3)
		return BND_E_WAMOCK_SPEC;
	if (reg->n >= TEMPLATES_MAX)
		return BND_E_WAMOCK_FULL;
	struct templates_entry e = {.status = TEMPLATES_APPROVED};
	if (!name_ok(f[0], strlen(f[0]), sizeof e.name, 0) ||
	    !name_ok(f[1], strlen(f[1]), sizeof e.lang, 1))
		return BND_E_WAMOCK_SPEC;
	char *end;
	long params = strtol(f[2], &end, 10);
	if (f[2][0] < '0' || f[2][0] > '9' || *end || params > 100)
		return BND_E_WAMOCK_SPEC;
	strcpy(e.name, f[0]);
	strcpy(e.lang, f[1]);
	e.params = (int)params;
	strcpy(e.category, "utility");
	if (n >= 4) {
		if (strcmp(f[3], "approved") == 0)
			e.status = TEMPLATES_APPROVED;
		else if (strcmp(f[3], "paused") == 0)
			e.status = TEMPLATES_PAUSED;
		else if (strcmp(f[3], "disabled") == 0)
			e.status = TEMPLATES_DISABLED;
		else
			return BND_E_WAMOCK_SPEC;
	}
	if (n == 5) {
		if (strcmp(f[4], "utility") && strcmp(f[4], "marketing") &&
		    strcmp(f[4], "authentication"))
			return BND_E_WAMOCK_SPEC;
		strcpy(e.category, f[4]);
	}
	reg->t[reg->n++] = e;
	return 0;
}

static int parse_template_item(char *item, void *ud)
{
	return parse_template(ud, item);
}

int templates_parse(struct templates *reg, const char *spec, size_t len, size_t *bad_at)
{
	return speclist_each(spec, len, parse_template_item, reg, bad_at);
}

static int eq(const char *s, const uint8_t *p, size_t n)
{
	return strlen(s) == n && memcmp(s, p, n) == 0;
}

const struct templates_entry *templates_find(const struct templates *reg,
                                             const uint8_t *name, size_t name_len,
                                             const uint8_t *lang, size_t lang_len,
                                             int *name_known)
{
	int known = 0;
	const struct templates_entry *hit = NULL;
	/* From the end: a later entry for the same (name, language) overrides an
	 * earlier one, so "--templates +welcome:it:1" redefines a default. */
	for (int i = reg->n - 1; i >= 0 && !hit; i--) {
		if (!eq(reg->t[i].name, name, name_len))
			continue;
		known = 1;
		if (eq(reg->t[i].lang, lang, lang_len))
			hit = &reg->t[i];
	}
	if (name_known)
		*name_known = known;
	return hit;
}
