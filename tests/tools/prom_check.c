/*
 * prom_check.c - check a Prometheus text exposition (0.0.4) read from stdin
 * or a file with the strict parser of the unit tests (tests/unit/prom_parse.h),
 * for integration tests that scrape GET /metrics:
 *
 *   curl -s http://127.0.0.1:$PORT/metrics | "$BUILD_DIR/tests/prom_check" \
 *        --require banditore_webhooks_total --value 'banditore_commands_total{verb="on"}'
 *
 * usage: prom_check [--require FAMILY]... [--value 'NAME{LABELS}']... [FILE]
 *   --require FAMILY  the family must be present (HELP/TYPE and samples)
 *   --value SAMPLE    print the value of one sample on stdout (canonical
 *                     labels: sorted by name, e.g. code="131026",outcome="failed");
 *                     a missing sample is an error
 * Exit 0 when the text parses and every requirement holds; 1 otherwise
 * (the reason on stderr); 2 on usage errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/prom_parse.h"

static struct prom_doc doc;

int main(int argc, char **argv)
{
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "--require") || !strcmp(argv[i], "--value")) && i + 1 < argc)
			i++;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "usage: prom_check [--require FAMILY]... [--value SAMPLE]... "
			                "[FILE]\n");
			return 2;
		} else
			file = argv[i];
	}
	FILE *f = file ? fopen(file, "rb") : stdin;
	if (!f) {
		perror(file);
		return 1;
	}
	size_t cap = 1 << 22;
	char *text = malloc(cap);
	size_t n = text ? fread(text, 1, cap, f) : 0;
	if (file)
		fclose(f);
	if (!text || n == cap) {
		fprintf(stderr, "prom_check: input larger than %zu bytes\n", cap - 1);
		return 1;
	}
	char err[512];
	if (prom_parse(text, n, &doc, err, sizeof err) != 0) {
		fprintf(stderr, "prom_check: %s\n", err);
		return 1;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--require")) {
			int fi = prom__find_family(&doc, argv[++i]);
			if (fi < 0 || !doc.f[fi].has_type || !doc.f[fi].samples) {
				fprintf(stderr, "prom_check: no family %s\n", argv[i]);
				rc = 1;
			}
		} else if (!strcmp(argv[i], "--value")) {
			char name[160], labels[1024] = "";
			const char *s = argv[++i], *b = strchr(s, '{');
			size_t nl = b ? (size_t)(b - s) : strlen(s);
			snprintf(name, sizeof name, "%.*s", (int)nl, s);
			if (b) {
				const char *e = strrchr(b, '}');
				if (!e) {
					fprintf(stderr, "prom_check: bad sample %s\n", s);
					return 2;
				}
				snprintf(labels, sizeof labels, "%.*s", (int)(e - b - 1), b + 1);
			}
			double v = prom_value(&doc, name, labels, NULL);
			if (isnan(v)) {
				fprintf(stderr, "prom_check: no sample %s\n", s);
				rc = 1;
			} else {
				printf("%.17g\n", v);
			}
		}
	}
	if (rc == 0)
		fprintf(stderr, "prom_check: ok, %zu families, %zu samples\n", doc.nf, doc.ns);
	free(text);
	return rc;
}
