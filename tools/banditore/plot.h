/*
 * plot.h - draw delivery curves (coverage against time) as SVG or PNG by
 * driving gnuplot through a pipe. Used by `banditore plan --plot`; built so
 * that a measured curve (`plan --simulate`) is drawn beside the predicted
 * one: a spec holds up to PLOT_MAX_CURVES curves.
 */
#ifndef PLOT_H
#define PLOT_H

#include <stddef.h>

#include "plan.h"

#define PLOT_MAX_CURVES 4
#define PLOT_MAX_MARKS 8
#define PLOT_LABEL_MAX 96

/* One curve: points in seconds and coverage fractions (0..1), t ascending.
 * The first curve is drawn solid, the others dashed. */
struct plot_curve {
	const char *label;               /* legend text */
	const struct plan_point *pts;
	size_t n;                        /* >= 2 */
};

/* A marked point with its own label, e.g. "5 min: 8.0%". */
struct plot_mark {
	double t_s;
	double coverage;
	char label[PLOT_LABEL_MAX];
};

struct plot_spec {
	const char *path;        /* output file; its extension (.svg or .png) picks the format */
	const char *title;       /* first title line */
	const char *subtitle;    /* second title line, or NULL */
	double t_end_s;          /* right end of the time axis, > 0 */
	const struct plot_curve *curves;
	size_t ncurves;          /* 1..PLOT_MAX_CURVES */
	const struct plot_mark *marks;   /* drawn as points with labels; may be NULL */
	size_t nmarks;           /* 0..PLOT_MAX_MARKS */
	double vline_t_s;        /* a dashed vertical line (e.g. the last recipient); < 0: none */
	const char *vline_label; /* its label, or NULL */
};

/*
 * plot_check_path - 0 when path names a file plot_delivery can write by its
 * extension (.svg or .png, any case) and has no control character;
 * BND_E_PLAN_PLOT_FORMAT or BND_E_INVAL otherwise. Lets a caller refuse a
 * bad --plot before any work. Pure.
 */
int plot_check_path(const char *path);

/*
 * plot_delivery - write the plot described by spec to spec->path.
 * The time axis is in seconds up to 120 s, in minutes up to 48 h, in hours
 * up to 60 days, in days beyond; marks are drawn only on a seconds or
 * minutes axis (and only those within t_end_s).
 * The gnuplot binary is $BANDITORE_GNUPLOT when set and non-empty (a path,
 * or a name searched in PATH), else "gnuplot" from PATH. gnuplot writes to
 * a temporary file beside the target, renamed into place on success, so a
 * failure never leaves a half-written plot; gnuplot's error messages go to
 * stderr, its stdout to /dev/null (ours may carry JSON).
 * Returns 0; BND_E_PLAN_PLOT_FORMAT (extension not .svg/.png, any case);
 * BND_E_PLAN_GNUPLOT_MISSING; BND_E_PLAN_GNUPLOT_FAILED (non-zero exit or
 * no output); BND_E_INVAL (bad spec, or a control character in the path);
 * BND_E_NOMEM; -errno from pipe, spawn, write or rename.
 * Blocks until gnuplot exits. SIGPIPE is ignored while writing to gnuplot
 * and restored afterwards: not safe to call concurrently from threads.
 */
int plot_delivery(const struct plot_spec *spec);

#endif
