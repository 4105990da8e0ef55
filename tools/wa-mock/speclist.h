/*
 * speclist.h - the comma-separated lists of wa-mock's flags (--error-mix,
 * --templates): split into NUL-terminated items of bounded length, each
 * handed to a parser. An empty item (an empty list, a doubled or trailing
 * comma) is an error, like a malformed one.
 */
#ifndef WAMOCK_SPECLIST_H
#define WAMOCK_SPECLIST_H

#include <stddef.h>

#define SPECLIST_ITEM_MAX 128   /* bytes of one item, NUL included */

/* Parses one item (NUL-terminated, modifiable); returns 0 or an error code. */
typedef int (*speclist_fn)(char *item, void *ud);

/*
 * speclist_each - call fn for each item of spec[0..len). Returns 0, the
 * first non-zero return of fn, or BND_E_WAMOCK_SPEC for an empty or too
 * long item; *bad_at (if not NULL) is then the item's byte offset.
 */
int speclist_each(const char *spec, size_t len, speclist_fn fn, void *ud, size_t *bad_at);

#endif
