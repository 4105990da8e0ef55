/*
 * templates.h - wa-mock's registry of message templates: what the business
 * account has "approved" (reference §1.3, §3.5). A send names a template
 * and a language; the registry says whether it exists (else 132001), its
 * status (paused 132015, disabled 132016), how many body parameters it
 * takes (else 132000) and its category (for webhook pricing).
 */
#ifndef WAMOCK_TEMPLATES_H
#define WAMOCK_TEMPLATES_H

#include <stddef.h>
#include <stdint.h>

#define TEMPLATES_MAX 128
#define TEMPLATES_NAME_MAX 64   /* bytes, NUL included */
#define TEMPLATES_LANG_MAX 16

enum templates_status { TEMPLATES_APPROVED, TEMPLATES_PAUSED, TEMPLATES_DISABLED };

struct templates_entry {
	char name[TEMPLATES_NAME_MAX];
	char lang[TEMPLATES_LANG_MAX];
	int params;                    /* body parameters {{1}}..{{params}} */
	enum templates_status status;
	char category[16];             /* utility, marketing, authentication */
};

/* The registry: plain data, filled before the server starts, then read-only. */
struct templates {
	struct templates_entry t[TEMPLATES_MAX];
	int n;
};

/*
 * The default list: notice (it, en; 1 parameter), welcome (it, en; no
 * parameters), allerta_meteo (it; 2 parameters), all approved utility.
 */
#define TEMPLATES_DEFAULT \
	"notice:it:1,notice:en:1,welcome:it:0,welcome:en:0,allerta_meteo:it:2"

/*
 * templates_parse - append the entries of spec to reg. Grammar, comma-
 * separated: NAME:LANG:PARAMS[:STATUS[:CATEGORY]] where STATUS is approved,
 * paused or disabled and CATEGORY utility, marketing or authentication.
 * NAME is 1..63 bytes of [A-Za-z0-9_], LANG 2..15 bytes of [A-Za-z_],
 * PARAMS 0..100. Returns 0, BND_E_WAMOCK_SPEC (*bad_at: offset of the bad
 * item, if bad_at is not NULL) or BND_E_WAMOCK_FULL. Reads at most len bytes.
 */
int templates_parse(struct templates *reg, const char *spec, size_t len, size_t *bad_at);

/*
 * templates_find - the entry for (name, lang), or NULL; the last one added
 * wins when several match. *name_known is set
 * to 1 when the name exists in some other language (may be NULL).
 * Pure; the pointer is into reg.
 */
const struct templates_entry *templates_find(const struct templates *reg,
                                             const uint8_t *name, size_t name_len,
                                             const uint8_t *lang, size_t lang_len,
                                             int *name_known);

#endif
