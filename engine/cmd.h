/*
 * cmd.h - the command parser: what a citizen's WhatsApp text asks for.
 *
 * A pure function over bytes: no I/O, no allocation, no global state,
 * bounded (CMD_MAX_INPUT bytes, CMD_MAX_WORDS words), never reads past len.
 * Safe to call from any number of threads on a shared, initialised
 * struct cmd_grammar.
 *
 * The grammar, its vocabulary and the reasons behind them are in
 * docs/COMMANDS.md. In short: the text is folded (NFKC, case fold, accents
 * stripped, zero-width characters dropped; see ufold.h) and cut into words
 * at every space, punctuation mark, symbol or emoji. A text is a command
 * only when EVERY word is the keyword, a verb or one of a few courtesy and
 * context words ("grazie", "per favore", "messaggi", "dalla lista"…);
 * any other word makes it ordinary chat (CMD_NONE). Then:
 *   - an off-verb (OFF, STOP, BASTA, CANCELLAMI, UNSUBSCRIBE…) opts out,
 *     with or without the keyword;
 *   - an on-verb (ON, SI, START, ISCRIVIMI, ATTIVA…) opts in only together
 *     with the keyword; without it the on-verb does nothing (bare_on);
 *   - on- and off-verbs together change nothing (CMD_CONFLICT);
 *   - HELP, AIUTO, INFO… or the keyword alone ask for help.
 * The keyword may be glued to its verb ("JESION") or spread over words
 * ("JE SI", "SAN BENEDETTO" for the keyword SANBENEDETTO).
 */
#ifndef CMD_H
#define CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text looked at, in bytes (WhatsApp allows 4096 characters; a
 * command is a few words). Longer texts are refused with BND_E_CMD_TOOLONG. */
#define CMD_MAX_INPUT 4096
/* Most words in a command ("Buongiorno vorrei iscrivermi al servizio JESI
 * ON grazie" has 8). A text with more words is not a command. */
#define CMD_MAX_WORDS 10
/* Longest folded keyword, in bytes. */
#define CMD_KEYWORD_MAX 32
/* Longest keyword as configured, in bytes, before folding. */
#define CMD_KEYWORD_INPUT_MAX 256
/* Most words in a keyword as configured ("San Benedetto del Tronto"). */
#define CMD_KEYWORD_WORDS 4

enum cmd_verb {
	CMD_NONE = 0,   /* not a command: ordinary text, change nothing */
	CMD_ON,         /* subscribe */
	CMD_OFF,        /* unsubscribe, at once */
	CMD_HELP,       /* answer with the help text */
	CMD_CONFLICT,   /* both an on- and an off-verb: change nothing */
};

/*
 * struct cmd_grammar - the folded keyword, the vocabulary hash and options
 * (about 300 bytes), built once by cmd_grammar_init and then only read;
 * a plain copy is a valid grammar. Embeddable; fields are private.
 */
#define CMD_VOCAB_SLOTS 256   /* private: size of the vocabulary hash */
struct cmd_grammar {
	uint8_t kw[CMD_KEYWORD_MAX];
	uint8_t kw_len;
	uint8_t word_max;   /* longest word that can mean anything */
	bool slow;          /* no ASCII fast path (tests, benchmarks) */
	uint8_t vocab[CMD_VOCAB_SLOTS];  /* vocabulary index + 1, 0: empty */
};

/*
 * struct cmd_result - what cmd_parse found.
 *   verb     see enum cmd_verb; CMD_NONE whenever cmd_parse fails
 *   keyword  the text was made of vocabulary words only and the keyword was
 *            one of them (false for ordinary text, even one naming the city)
 *   bare_on  the text was made of vocabulary words only and had an on-verb
 *            but no keyword ("START", "ISCRIVIMI"): not a subscription; a
 *            receiver may answer with help, the product default is silence
 */
struct cmd_result {
	enum cmd_verb verb;
	bool keyword;
	bool bare_on;
};

/*
 * cmd_grammar_init - fold the configured keyword (default "JESI") the same
 * way as messages and make a grammar of it.
 *   g         filled on success; left in an unusable-but-safe state (every
 *             text parses as CMD_NONE) on failure
 *   keyword   the keyword's UTF-8 bytes; several words are joined, so
 *             "San Benedetto" becomes the keyword "sanbenedetto"
 * Returns 0, BND_E_INVAL (g NULL, or keyword NULL with len > 0),
 * BND_E_CMD_UTF8 (keyword not valid UTF-8), BND_E_CMD_KEYWORD (no letters
 * or digits, longer than CMD_KEYWORD_INPUT_MAX bytes or CMD_KEYWORD_MAX
 * folded bytes, more than CMD_KEYWORD_WORDS words, or equal to a
 * vocabulary word such as "ON" or "STOP").
 */
int cmd_grammar_init(struct cmd_grammar *g, const uint8_t *keyword, size_t len);

/*
 * cmd_grammar_set_slow - with slow = true every byte goes through utf8proc,
 * bypassing the ASCII fast path. For tests and benchmarks: results are
 * identical by contract (tested and fuzzed).
 */
void cmd_grammar_set_slow(struct cmd_grammar *g, bool slow);

/*
 * cmd_parse - what does this message ask for?
 *   g    an initialised grammar (shared read-only between threads is fine)
 *   p    the message text, UTF-8, not NUL-terminated (NUL bytes inside are
 *        separators like any control character); may be NULL if len is 0
 *   out  always written: on failure out->verb is CMD_NONE, so a caller that
 *        ignores the return code treats bad input as ordinary text
 * Returns 0 (see out->verb), BND_E_INVAL (g or out NULL, or p NULL with
 * len > 0), BND_E_CMD_TOOLONG (len > CMD_MAX_INPUT), BND_E_CMD_UTF8 (p is
 * not valid UTF-8 anywhere in p[0..len), even past the point where the
 * text was already known not to be a command).
 */
int cmd_parse(const struct cmd_grammar *g, const uint8_t *p, size_t len,
              struct cmd_result *out);

/* cmd_verb_name - "none", "on", "off", "help", "conflict" (or "?"). Static. */
const char *cmd_verb_name(enum cmd_verb v);

#endif
