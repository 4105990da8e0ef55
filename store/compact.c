/*
 * compact.c - compaction and verification (first cut: not yet implemented).
 */
#include <errno.h>
#include <string.h>

#include "bnd.h"
#include "store_int.h"

int compact_run(struct store *s, struct store_compact_info *info)
{
	(void)s;
	(void)info;
	return -ENOSYS;
}

int store_verify(struct store *s, struct store_verify_info *info)
{
	if (info)
		memset(info, 0, sizeof *info);
	(void)s;
	return -ENOSYS;
}
