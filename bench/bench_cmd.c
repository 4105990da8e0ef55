/*
 * bench_cmd.c - command parser throughput (engine/cmd.c).
 *
 * Builds a fixed, seeded mix of messages a city number receives: commands
 * in many spellings (case, quotes, emoji, odd spaces, full-width, courtesy
 * words) and ordinary chat (Italian sentences with accents and emoji, some
 * starting with vocabulary words so the parser has to read on). Every
 * message carries the verb it must give, by construction; each run checks
 * that the tally of ON/OFF/HELP/CONFLICT/NONE equals the expected one and
 * exits 1 otherwise.
 *
 * Timed mode (default) interleaves runs of the peers A B A B…: the full mix
 * through the normal parser (ASCII fast path), the same through the
 * utf8proc-only path, commands only and chat only; reports the median,
 * min and max messages/s of each and the fast/slow ratio, as one JSON object
 * (--json) or text.
 *
 * Count mode (--iterations N): N passes over the mix with the normal parser
 * and no clock, for callgrind (instructions per message = Ir / (N × mix)).
 *
 *   bench_cmd [--json] [--seed S] [--messages M] [--runs R] [--passes P]
 *             [--iterations N]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

struct msg {
	uint32_t off, len;
	uint8_t verb;   /* enum cmd_verb expected */
	uint8_t chat;   /* 1: ordinary chat, 0: command-shaped */
};

struct mix {
	uint8_t *text;
	size_t len, cap;
	struct msg *m;
	size_t n;
	uint64_t want[5];
};

static uint64_t rng;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
#define PICK(a) (a)[next() % (sizeof(a) / sizeof((a)[0]))]

static void add(struct mix *x, const char *s, size_t n)
{
	if (x->len + n > x->cap) {
		x->cap = (x->len + n) * 2;
		x->text = realloc(x->text, x->cap);
		if (!x->text)
			abort();
	}
	memcpy(x->text + x->len, s, n);
	x->len += n;
}

struct tmpl {
	const char *s;
	enum cmd_verb v;
};

static const struct tmpl commands[] = {
	{"JESI ON", CMD_ON}, {"Jesi on", CMD_ON}, {"jesi on", CMD_ON}, {"JESION", CMD_ON},
	{"JESI SI", CMD_ON}, {"Jesi s\xc3\xac", CMD_ON}, {"JESI ISCRIVIMI", CMD_ON},
	{"JESI START", CMD_ON}, {"Buongiorno, JESI ON", CMD_ON}, {"JESI ON grazie", CMD_ON},
	{"\xe2\x80\x9cJESI ON\xe2\x80\x9d", CMD_ON}, {"JESI-ON", CMD_ON},
	{"\xef\xbc\xaa\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa9\xe3\x80\x80\xef\xbc\xaf\xef\xbc\xae", CMD_ON},
	{"Buongiorno vorrei iscrivermi al servizio JESI ON grazie", CMD_ON},
	{"JESI OFF", CMD_OFF}, {"STOP", CMD_OFF}, {"Stop", CMD_OFF}, {"BASTA", CMD_OFF},
	{"Cancellami", CMD_OFF}, {"JESI OFF grazie", CMD_OFF}, {"\xe2\x80\x9cJESI OFF\xe2\x80\x9d", CMD_OFF},
	{"Basta messaggi", CMD_OFF}, {"DISISCRIVIMI", CMD_OFF}, {"unsubscribe", CMD_OFF},
	{"Cancellami dalla lista, grazie", CMD_OFF},
	{"HELP", CMD_HELP}, {"Info", CMD_HELP}, {"AIUTO", CMD_HELP}, {"JESI", CMD_HELP},
	{"JESI ON JESI OFF", CMD_CONFLICT},
	{"ON", CMD_NONE}, {"S\xc3\xac", CMD_NONE}, {"Ok grazie", CMD_NONE}, {"Grazie", CMD_NONE},
	{"\xf0\x9f\x91\x8d", CMD_NONE},
};

static const char *chat[] = {
	"Buongiorno, volevo sapere se domani le scuole sono chiuse per l'allerta meteo. Grazie",
	"Ciao! Ho ricevuto il messaggio sulla chiusura di via Roma, ma fino a quando? \xf0\x9f\x99\x8f",
	"non riesco a fermare l'auto, stop al traffico?",
	"Stop al traffico in via Roma da quando?",
	"Grazie per l'avviso, ma la strada \xc3\xa8 ancora chiusa?",
	"Info sulla raccolta differenziata: il marted\xc3\xac passa la plastica?",
	"Perch\xc3\xa9 continuo a ricevere questi messaggi? Non mi sono mai iscritto!!!",
	"Gentile Comune, segnalo una buca in via XX Settembre all'altezza del civico 12.",
	"\xf0\x9f\x98\xa1\xf0\x9f\x98\xa1 basta con questi avvisi alle 7 di mattina",
	"A che ora riapre il ponte?",
	"ok",
	"Sono di Jesi ma abito fuori, posso iscrivermi lo stesso?",
	"Il mercato di sabato si fa anche se piove?",
	"Salve, dove posso ritirare i sacchetti per l'umido?",
	"Ho visto la notizia, grazie mille per il servizio! \xf0\x9f\x91\x8f\xf0\x9f\x91\x8f",
	"Quando finisce l'allerta?",
	"Mio figlio frequenta la scuola media Lorenzo Lotto: domani \xc3\xa8 aperta?",
	"Non voglio pi\xc3\xb9 messaggi",
	"Buonasera, l'acqua in via Garibaldi \xc3\xa8 tornata potabile?",
	"Si pu\xc3\xb2 parcheggiare in piazza della Repubblica durante la fiera?",
	"Fine settimana a Jesi: quali eventi ci sono?",
	"Ciao Jesi! \xf0\x9f\x8e\x89\xf0\x9f\x8e\x89 Bellissima festa ieri sera",
	"Vorrei segnalare un lampione spento in via Mazzini angolo via Cavour, \xc3\xa8 buio da giorni e di sera \xc3\xa8 pericoloso per chi passa a piedi.",
	"?",
};

static const char *prefix[] = {"", "", "", " ", "  ", "\xf0\x9f\x99\x8f ", "\xe2\x80\x8b"};
static const char *suffix[] = {"", "", "", "!", "!!", ".", " \xf0\x9f\x91\x8d", " \xf0\x9f\x99\x8f\xf0\x9f\x8f\xbb", "\n", " :)"};

static void build(struct mix *x, uint64_t seed, size_t n, int only /* -1 all, 0 commands, 1 chat */)
{
	memset(x, 0, sizeof *x);
	x->m = calloc(n, sizeof *x->m);
	if (!x->m)
		abort();
	rng = seed ? seed : 1;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = &x->m[i];
		int is_chat = only >= 0 ? only : (int)(next() % 2);
		m->off = (uint32_t)x->len;
		m->chat = (uint8_t)is_chat;
		if (is_chat) {
			const char *s = PICK(chat);
			add(x, s, strlen(s));
			m->verb = CMD_NONE;
		} else {
			const struct tmpl *t = &PICK(commands);
			const char *p = PICK(prefix), *s = PICK(suffix);
			add(x, p, strlen(p));
			size_t at = x->len;
			add(x, t->s, strlen(t->s));
			switch (next() % 4) {  /* case of ASCII letters: as is, upper, lower */
			case 1:
				for (size_t k = at; k < x->len; k++)
					if (x->text[k] >= 'a' && x->text[k] <= 'z')
						x->text[k] = (uint8_t)(x->text[k] - 32);
				break;
			case 2:
				for (size_t k = at; k < x->len; k++)
					if (x->text[k] >= 'A' && x->text[k] <= 'Z')
						x->text[k] = (uint8_t)(x->text[k] + 32);
				break;
			default:
				break;
			}
			add(x, s, strlen(s));
			m->verb = (uint8_t)t->v;
		}
		m->len = (uint32_t)(x->len - m->off);
		x->want[m->verb]++;
	}
	x->n = n;
}

/* One pass: parse every message, tally the verbs. */
static int pass(const struct cmd_grammar *g, const struct mix *x, uint64_t got[5])
{
	for (size_t i = 0; i < x->n; i++) {
		struct cmd_result r;
		if (cmd_parse(g, x->text + x->m[i].off, x->m[i].len, &r) != 0)
			return -1;
		got[r.verb]++;
	}
	return 0;
}

static int check(const struct cmd_grammar *g, const struct mix *x, const char *name)
{
	uint64_t got[5] = {0};
	if (pass(g, x, got) != 0) {
		fprintf(stderr, "bench_cmd: %s: a message failed to parse\n", name);
		return -1;
	}
	for (int v = 0; v < 5; v++) {
		if (got[v] != x->want[v]) {
			fprintf(stderr, "bench_cmd: %s: %s count %" PRIu64 ", expected %" PRIu64 "\n",
			        name, cmd_verb_name((enum cmd_verb)v), got[v], x->want[v]);
			for (size_t i = 0; i < x->n; i++) {
				struct cmd_result r;
				cmd_parse(g, x->text + x->m[i].off, x->m[i].len, &r);
				if (r.verb != x->m[i].verb) {
					fprintf(stderr, "  \"%.*s\": %s, expected %s\n", (int)x->m[i].len,
					        (const char *)x->text + x->m[i].off, cmd_verb_name(r.verb),
					        cmd_verb_name((enum cmd_verb)x->m[i].verb));
					break;
				}
			}
			return -1;
		}
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct peer {
	const char *name;
	const struct cmd_grammar *g;
	const struct mix *x;
	double *rate;
};

int main(int argc, char **argv)
{
	uint64_t seed = 20240601;
	size_t nmsg = 10000;
	int runs = 7, passes = 50, json = 0;
	long iterations = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			nmsg = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
			iterations = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_cmd [--json] [--seed S] [--messages M] "
			        "[--runs R] [--passes P] [--iterations N]\n");
			return 2;
		}
	}
	if (nmsg == 0 || runs < 1 || passes < 1 || runs > 1000) {
		fprintf(stderr, "bench_cmd: bad parameters\n");
		return 2;
	}

	struct cmd_grammar fast, slow;
	if (cmd_grammar_init(&fast, (const uint8_t *)"JESI", 4) != 0)
		return 1;
	slow = fast;
	cmd_grammar_set_slow(&slow, true);

	struct mix all, cmds, talk;
	build(&all, seed, nmsg, -1);
	build(&cmds, seed + 1, nmsg, 0);
	build(&talk, seed + 2, nmsg, 1);
	if (check(&fast, &all, "mix") || check(&slow, &all, "mix slow") ||
	    check(&fast, &cmds, "commands") || check(&fast, &talk, "chat"))
		return 1;

	if (iterations >= 0) {
		/* Count mode: no clock, result counts checked at the end. */
		uint64_t got[5] = {0};
		for (long it = 0; it < iterations; it++)
			if (pass(&fast, &all, got) != 0)
				return 1;
		for (int v = 0; v < 5; v++)
			if (got[v] != all.want[v] * (uint64_t)iterations) {
				fprintf(stderr, "bench_cmd: wrong %s count\n", cmd_verb_name((enum cmd_verb)v));
				return 1;
			}
		printf("{\"scenario\":\"cmd\",\"mode\":\"iterations\",\"iterations\":%ld,"
		       "\"messages\":%" PRIu64 ",\"on\":%" PRIu64 ",\"off\":%" PRIu64 ",\"help\":%" PRIu64
		       ",\"conflict\":%" PRIu64 ",\"none\":%" PRIu64 "}\n",
		       iterations, (uint64_t)all.n * (uint64_t)iterations, got[CMD_ON], got[CMD_OFF],
		       got[CMD_HELP], got[CMD_CONFLICT], got[CMD_NONE]);
		return 0;
	}

	double *rates = calloc((size_t)runs * 4, sizeof *rates);
	if (!rates)
		return 1;
	struct peer peers[4] = {
		{"parse_per_s", &fast, &all, rates},
		{"parse_slow_path_per_s", &slow, &all, rates + runs},
		{"commands_per_s", &fast, &cmds, rates + 2 * runs},
		{"chat_per_s", &fast, &talk, rates + 3 * runs},
	};
	/* warm-up */
	for (int p = 0; p < 4; p++) {
		uint64_t got[5] = {0};
		pass(peers[p].g, peers[p].x, got);
	}
	for (int r = 0; r < runs; r++) {
		for (int p = 0; p < 4; p++) {  /* interleaved: A B C D A B C D … */
			uint64_t got[5] = {0};
			double t0 = now_s();
			for (int k = 0; k < passes; k++)
				pass(peers[p].g, peers[p].x, got);
			double dt = now_s() - t0;
			for (int v = 0; v < 5; v++)
				if (got[v] != peers[p].x->want[v] * (uint64_t)passes) {
					fprintf(stderr, "bench_cmd: %s: wrong counts\n", peers[p].name);
					return 1;
				}
			peers[p].rate[r] = (double)peers[p].x->n * passes / dt;
		}
	}
	double med[4];
	if (json) {
		printf("{\"scenario\":\"cmd\",\"params\":{\"seed\":%" PRIu64 ",\"messages\":%zu,"
		       "\"runs\":%d,\"passes\":%d,\"keyword\":\"JESI\",\"mix\":{\"on\":%" PRIu64
		       ",\"off\":%" PRIu64 ",\"help\":%" PRIu64 ",\"conflict\":%" PRIu64
		       ",\"none\":%" PRIu64 ",\"bytes\":%zu}},\"metrics\":{",
		       seed, nmsg, runs, passes, all.want[CMD_ON], all.want[CMD_OFF],
		       all.want[CMD_HELP], all.want[CMD_CONFLICT], all.want[CMD_NONE], all.len);
	}
	for (int p = 0; p < 4; p++) {
		qsort(peers[p].rate, (size_t)runs, sizeof(double), cmp_d);
		med[p] = peers[p].rate[runs / 2];
		if (json)
			printf("%s\"%s\":{\"median\":%.0f,\"min\":%.0f,\"max\":%.0f,"
			       "\"unit\":\"messages/s\",\"runs\":%d}", p ? "," : "", peers[p].name,
			       med[p], peers[p].rate[0], peers[p].rate[runs - 1], runs);
		else
			printf("%-24s median %12.0f  min %12.0f  max %12.0f messages/s (%.0f ns/message)\n",
			       peers[p].name, med[p], peers[p].rate[0], peers[p].rate[runs - 1],
			       1e9 / med[p]);
	}
	if (json)
		printf("},\"ratios\":{\"fast_path_vs_slow_path\":{\"median\":%.2f}},"
		       "\"notes\":\"cmd_parse over a seeded mix of %zu messages (half commands in "
		       "many spellings, half Italian chat); counts checked every run; target >= 2M "
		       "messages/s\"}\n", med[0] / med[1], nmsg);
	else
		printf("fast path / slow path: %.2fx\n", med[0] / med[1]);
	free(rates);
	free(all.text);
	free(all.m);
	free(cmds.text);
	free(cmds.m);
	free(talk.text);
	free(talk.m);
	return 0;
}
