/*
 * speclist.c - comma-separated flag values (see speclist.h). Items are
 * copied into a bounded stack buffer so parsers can use the C string
 * functions without reading past the flag's bytes.
 */
#include "speclist.h"

#include <string.h>

#include "bnd.h"

int speclist_each(const char *spec, size_t len, speclist_fn fn, void *ud, size_t *bad_at)
{
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < len && spec[j] != ',')
			j++;
		char item[SPECLIST_ITEM_MAX];
		int rc;
		if (j == i || j - i >= sizeof item) {
			rc = BND_E_WAMOCK_SPEC;
		} else {
			memcpy(item, spec + i, j - i);
			item[j - i] = '\0';
			rc = fn(item, ud);
		}
		if (rc != 0) {
			if (bad_at)
				*bad_at = i;
			return rc;
		}
		if (j == len)
			return 0;
		i = j + 1;
	}
}
