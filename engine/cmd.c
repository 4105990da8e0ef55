/*
 * cmd.c - the command parser (contract in cmd.h, grammar and the reasons
 * for it in docs/COMMANDS.md).
 *
 * Shape: one pass over the text pulls folded words out of ufold (NFKC, case
 * fold, marks stripped, ignorables dropped). Each word is checked the moment
 * it is complete: a word that cannot be part of any command (not the
 * keyword, not the keyword glued to a verb, not a vocabulary word, not a
 * piece of the keyword) ends the parse with CMD_NONE at once. Ordinary chat
 * therefore costs its first word or two, which is why the parser is fast on
 * the mixed traffic a city number receives. A parse that ends early still
 * validates the rest of the bytes as UTF-8, so the return code does not
 * depend on where the text stopped being a command.
 *
 * The words kept (at most CMD_MAX_WORDS, each at most word_max bytes) sit
 * back to back in one stack buffer, so a keyword typed in pieces ("JE SI",
 * "SAN BENEDETTO") is a contiguous byte range that one compare checks.
 * Second step, over the kept words: keyword pieces are assembled, verbs
 * counted, and the verb decided by a fixed precedence:
 *   on and off -> CONFLICT; off -> OFF; on (with keyword) -> ON;
 *   help -> HELP; keyword alone -> HELP; else NONE.
 *
 * Invariants: nothing allocated, no global mutable state; every loop is
 * bounded by len (<= CMD_MAX_INPUT) or CMD_MAX_WORDS; word bytes are written
 * only inside wbuf (ufold gets the room left, WORD_CAP per word).
 */
#include "cmd.h"

#include <string.h>

#include "bnd.h"
#include "cmd_int.h"
#include "ufold.h"

#define W(s, c) { s, sizeof(s) - 1, c }
/* Sorted by byte value (strcmp order), for people and for the unit test
 * that checks there are no duplicates; lookups go through a hash. */
const struct cmd__word cmd__vocab[] = {
	W("aiuto", CMD__HELP),
	W("al", CMD__FILLER),
	W("alla", CMD__FILLER),
	W("and", CMD__FILLER),
	W("annulla", CMD__OFF),
	W("attiva", CMD__ON),
	W("attivami", CMD__ON),
	W("avvisi", CMD__FILLER),
	W("avviso", CMD__FILLER),
	W("basta", CMD__OFF),
	W("buonasera", CMD__FILLER),
	W("buondi", CMD__FILLER),
	W("buongiorno", CMD__FILLER),
	W("cancel", CMD__OFF),
	W("cancella", CMD__OFF),
	W("cancellami", CMD__OFF),
	W("cancellarmi", CMD__OFF),
	W("cancellazione", CMD__OFF),
	W("ciao", CMD__FILLER),
	W("comandi", CMD__HELP),
	W("cortesia", CMD__FILLER),
	W("da", CMD__FILLER),
	W("dal", CMD__FILLER),
	W("dalla", CMD__FILLER),
	W("del", CMD__FILLER),
	W("della", CMD__FILLER),
	W("di", CMD__FILLER),
	W("disattiva", CMD__OFF),
	W("disattivami", CMD__OFF),
	W("disdici", CMD__OFF),
	W("disiscrivermi", CMD__OFF),
	W("disiscrivi", CMD__OFF),
	W("disiscrivimi", CMD__OFF),
	W("disiscrizione", CMD__OFF),
	W("e", CMD__FILLER),
	W("ed", CMD__FILLER),
	W("end", CMD__OFF),
	W("esci", CMD__OFF),
	W("favore", CMD__FILLER),
	W("fine", CMD__OFF),
	W("gli", CMD__FILLER),
	W("grazie", CMD__FILLER),
	W("help", CMD__HELP),
	W("i", CMD__FILLER),
	W("il", CMD__FILLER),
	W("info", CMD__HELP),
	W("informazioni", CMD__HELP),
	W("iscrivermi", CMD__ON),
	W("iscrivi", CMD__ON),
	W("iscrivimi", CMD__ON),
	W("iscrizione", CMD__FILLER),
	W("istruzioni", CMD__HELP),
	W("l", CMD__FILLER),
	W("la", CMD__FILLER),
	W("le", CMD__FILLER),
	W("lista", CMD__FILLER),
	W("lo", CMD__FILLER),
	W("me", CMD__FILLER),
	W("messaggi", CMD__FILLER),
	W("messaggio", CMD__FILLER),
	W("mi", CMD__FILLER),
	W("mille", CMD__FILLER),
	W("notifica", CMD__FILLER),
	W("notifiche", CMD__FILLER),
	W("off", CMD__OFF),
	W("ok", CMD__FILLER),
	W("okay", CMD__FILLER),
	W("on", CMD__ON),
	W("per", CMD__FILLER),
	W("perfavore", CMD__FILLER),
	W("piacere", CMD__FILLER),
	W("please", CMD__FILLER),
	W("pls", CMD__FILLER),
	W("plz", CMD__FILLER),
	W("prego", CMD__FILLER),
	W("quit", CMD__OFF),
	W("registrami", CMD__ON),
	W("rimuovi", CMD__OFF),
	W("rimuovimi", CMD__OFF),
	W("salve", CMD__FILLER),
	W("servizio", CMD__FILLER),
	W("si", CMD__ON),
	W("start", CMD__ON),
	W("stop", CMD__OFF),
	W("stopall", CMD__OFF),
	W("subscribe", CMD__ON),
	W("tante", CMD__FILLER),
	W("thank", CMD__FILLER),
	W("thanks", CMD__FILLER),
	W("thx", CMD__FILLER),
	W("togli", CMD__OFF),
	W("toglimi", CMD__OFF),
	W("unsub", CMD__OFF),
	W("unsubscribe", CMD__OFF),
	W("voglio", CMD__FILLER),
	W("vorrei", CMD__FILLER),
	W("whatsapp", CMD__FILLER),
	W("x", CMD__FILLER),
	W("yes", CMD__ON),
	W("you", CMD__FILLER),
};
#undef W
const size_t cmd__nvocab = sizeof cmd__vocab / sizeof cmd__vocab[0];

/* Room for one word in the parse buffer: a keyword glued to the longest
 * verb fits (CMD_KEYWORD_MAX + CMD__VOCAB_MAX < WORD_CAP). */
#define WORD_CAP 64
_Static_assert(CMD_KEYWORD_MAX + CMD__VOCAB_MAX < WORD_CAP, "a glued keyword fits a word");

_Static_assert(sizeof cmd__vocab / sizeof cmd__vocab[0] <= CMD_VOCAB_SLOTS / 2,
               "the vocabulary hash stays at most half full");

/* Short byte compare; the words are a few bytes, a libc call costs more. */
static bool eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* FNV-1a, folded to a slot of the vocabulary hash. */
static size_t slot(const uint8_t *w, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ w[i]) * 16777619u;
	return (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) & (CMD_VOCAB_SLOTS - 1);
}

/* Measured: a binary search over the table (libc memcmp per step) took a
 * third of the parse time; this open-addressing hash, built once per
 * grammar, is one or two probes. */
int cmd__lookup(const struct cmd_grammar *g, const uint8_t *w, size_t len)
{
	if (len == 0 || len > CMD__VOCAB_MAX)
		return 0;
	size_t s = slot(w, len);
	for (size_t probe = 0; probe < CMD_VOCAB_SLOTS; probe++) {
		uint8_t e = g->vocab[s];
		if (!e)
			return 0;
		const struct cmd__word *v = &cmd__vocab[e - 1];
		if (v->len == len && eq((const uint8_t *)v->w, w, len))
			return v->cls;
		s = (s + 1) & (CMD_VOCAB_SLOTS - 1);
	}
	return 0;
}

static bool is_verb(int cls)
{
	return cls == CMD__ON || cls == CMD__OFF || cls == CMD__HELP;
}

const char *cmd_verb_name(enum cmd_verb v)
{
	switch (v) {
	case CMD_NONE: return "none";
	case CMD_ON: return "on";
	case CMD_OFF: return "off";
	case CMD_HELP: return "help";
	case CMD_CONFLICT: return "conflict";
	}
	return "?";
}

void cmd_grammar_set_slow(struct cmd_grammar *g, bool slow)
{
	g->slow = slow;
}

int cmd_grammar_init(struct cmd_grammar *g, const uint8_t *keyword, size_t len)
{
	struct ufold_iter it;
	uint8_t word[CMD_KEYWORD_MAX];
	size_t n = 0, wlen, words = 0;
	int rc;

	if (!g)
		return BND_E_INVAL;
	memset(g, 0, sizeof *g);
	if (!keyword && len)
		return BND_E_INVAL;
	if (len > CMD_KEYWORD_INPUT_MAX)
		return BND_E_CMD_KEYWORD;
	ufold_iter_init(&it, keyword, len, false);
	/* Join all words: "San Benedetto" -> "sanbenedetto". */
	while ((rc = ufold_word(&it, word, sizeof word, &wlen)) == 1) {
		if (wlen > sizeof word || n + wlen > CMD_KEYWORD_MAX || ++words > CMD_KEYWORD_WORDS)
			goto toolong;
		memcpy(g->kw + n, word, wlen);
		n += wlen;
	}
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < cmd__nvocab; i++) {
		size_t s = slot((const uint8_t *)cmd__vocab[i].w, cmd__vocab[i].len);
		while (g->vocab[s])
			s = (s + 1) & (CMD_VOCAB_SLOTS - 1);
		g->vocab[s] = (uint8_t)(i + 1);
	}
	rc = BND_E_CMD_KEYWORD;
	if (n == 0 || cmd__lookup(g, g->kw, n))
		goto fail;
	g->kw_len = (uint8_t)n;
	g->word_max = (uint8_t)(n + CMD__VOCAB_MAX);
	return 0;
toolong:
	rc = BND_E_CMD_KEYWORD;
fail:
	memset(g, 0, sizeof *g);
	return rc;
}

/* What a word can be, decided when it is read. */
enum kind {
	K_KW = 1,    /* exactly the keyword */
	K_KWVERB,    /* the keyword glued to a verb: "jesion" */
	K_VOCAB,     /* a vocabulary word (maybe also a piece of the keyword) */
	K_PIECE,     /* only a piece of the keyword: "je" of "je si on" */
};

struct word {
	uint16_t off;   /* in wbuf */
	uint8_t len;
	uint8_t kind;   /* enum kind */
	uint8_t cls;    /* enum cmd__class for K_KWVERB and K_VOCAB */
};

static bool has_piece(const uint8_t *kw, size_t kwlen, const uint8_t *w, size_t n)
{
	for (size_t i = 0; i + n <= kwlen; i++)
		if (eq(kw + i, w, n))
			return true;
	return false;
}

/* Classify a complete word; false when it rules the text out. */
static bool classify(const struct cmd_grammar *g, const uint8_t *w, size_t n,
                     struct word *out)
{
	size_t k = g->kw_len;
	int cls;

	if (n == k && eq(w, g->kw, k)) {
		out->kind = K_KW;
		return true;
	}
	if (n > k && eq(w, g->kw, k) &&
	    (cls = cmd__lookup(g, w + k, n - k)) && is_verb(cls)) {
		out->kind = K_KWVERB;
		out->cls = (uint8_t)cls;
		return true;
	}
	if ((cls = cmd__lookup(g, w, n))) {
		out->kind = K_VOCAB;
		out->cls = (uint8_t)cls;
		return true;
	}
	if (n < k && has_piece(g->kw, k, w, n)) {
		out->kind = K_PIECE;
		return true;
	}
	return false;
}

/*
 * The keyword typed in pieces from word i on: returns how many words it
 * took, or 0. Words are contiguous in wbuf, so pieces i..j spell the
 * keyword exactly when their lengths add up to it and the bytes match.
 */
static size_t assemble(const struct cmd_grammar *g, const uint8_t *wbuf,
                       const struct word *w, size_t i, size_t n)
{
	size_t acc = 0, j;
	for (j = i; j < n && acc < g->kw_len; j++)
		acc += w[j].len;
	if (acc != g->kw_len || j - i < 2)
		return 0;
	return eq(wbuf + w[i].off, g->kw, g->kw_len) ? j - i : 0;
}

int cmd_parse(const struct cmd_grammar *g, const uint8_t *p, size_t len,
              struct cmd_result *out)
{
	uint8_t wbuf[CMD_MAX_WORDS * WORD_CAP];
	struct word words[CMD_MAX_WORDS];
	struct ufold_iter it;
	size_t n = 0, wlen, i;
	int rc, n_on = 0, n_off = 0, n_help = 0;
	bool kw = false;

	if (out) {
		out->verb = CMD_NONE;
		out->keyword = false;
		out->bare_on = false;
	}
	if (!g || !out || (!p && len))
		return BND_E_INVAL;
	if (len > CMD_MAX_INPUT)
		return BND_E_CMD_TOOLONG;
#ifdef BANDITORE_GATE_SLOWDOWN
	/* Only for tests/integration/test_gate.sh, which builds a variant with
	 * this defined to prove that bench/gate.sh fails on a slower hot path:
	 * about 140 wasted instructions per call (~15% of a parse). */
	for (volatile unsigned gate_spin = 0; gate_spin < 25; gate_spin++)
		;
#endif
	ufold_iter_init(&it, p, len, g->slow);
	if (g->kw_len == 0)  /* a grammar whose init failed: nothing is a command */
		return ufold_check_rest(&it);

	for (;;) {
		/* Words go back to back, for assemble(). Kept words are at
		 * most word_max < WORD_CAP bytes, so at least WORD_CAP bytes
		 * are left for the next one until CMD_MAX_WORDS are kept. */
		size_t off = n ? (size_t)words[n - 1].off + words[n - 1].len : 0;
		size_t room = sizeof wbuf - off;
		rc = ufold_word(&it, wbuf + off, room < WORD_CAP ? room : WORD_CAP, &wlen);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		if (n == CMD_MAX_WORDS || wlen > g->word_max ||
		    !classify(g, wbuf + off, wlen, &words[n]))
			return ufold_check_rest(&it);  /* not a command */
		words[n].off = (uint16_t)off;
		words[n].len = (uint8_t)wlen;
		n++;
	}

	for (i = 0; i < n; i++) {
		const struct word *w = &words[i];
		int cls = 0;
		size_t took;
		switch (w->kind) {
		case K_KW:
			kw = true;
			continue;
		case K_KWVERB:
			kw = true;
			cls = w->cls;
			break;
		default:
			if ((took = assemble(g, wbuf, words, i, n))) {
				kw = true;
				i += took - 1;
				continue;
			}
			if (w->kind != K_VOCAB)
				return 0;  /* a stray piece of the keyword: not a command */
			cls = w->cls;
			break;
		}
		n_on += cls == CMD__ON;
		n_off += cls == CMD__OFF;
		n_help += cls == CMD__HELP;
	}

	out->keyword = kw;
	out->bare_on = n_on && !kw;
	if (!kw)
		n_on = 0;  /* an on-verb without the keyword does nothing */
	if (n_on && n_off)
		out->verb = CMD_CONFLICT;
	else if (n_off)
		out->verb = CMD_OFF;
	else if (n_on)
		out->verb = CMD_ON;
	else if (n_help || kw)
		out->verb = CMD_HELP;
	return 0;
}
