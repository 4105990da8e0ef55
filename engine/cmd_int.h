/*
 * cmd_int.h - internals of the command parser shared with its tests: the
 * vocabulary table (sorted; a unit test checks the order, that there are no
 * duplicates and that every entry is already folded) and its lookup.
 */
#ifndef CMD_INT_H
#define CMD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"

enum cmd__class {
	CMD__ON = 1,    /* opts in, only together with the keyword */
	CMD__OFF,       /* opts out, with or without the keyword */
	CMD__HELP,      /* asks for help */
	CMD__FILLER,    /* courtesy or context word: allowed, means nothing */
};

struct cmd__word {
	const char *w;  /* folded: lower-case ASCII letters */
	uint8_t len;
	uint8_t cls;    /* enum cmd__class */
};

/* Longest vocabulary word ("cancellazione", "disiscrivermi"); the unit test
 * checks the table against it. */
#define CMD__VOCAB_MAX 13

extern const struct cmd__word cmd__vocab[];
extern const size_t cmd__nvocab;

/* cmd__lookup - the class of a folded word, or 0 when it is not in the
 * vocabulary (or g is a grammar whose init failed). */
int cmd__lookup(const struct cmd_grammar *g, const uint8_t *w, size_t len);

#endif
