/*
 * plot.c - delivery curves through gnuplot.
 *
 * Why gnuplot: it is a Debian package (gnuplot-nox, no X needed), draws
 * readable SVG and PNG (cairo) with axes, legends and labels, and takes a
 * script on stdin, so no C plotting code and no temporary data files: the
 * curves travel inside the script as inline data blocks ($name << EOD).
 *
 * Flow: locate the binary (BANDITORE_GNUPLOT or PATH) before anything else,
 * so a missing gnuplot is one clear error; build the whole script in memory;
 * create the temporary output beside the target (so an unwritable place is
 * a plain error); posix_spawn gnuplot with the read end of a pipe as stdin
 * and /dev/null as stdout (nothing of gnuplot's may mix with a JSON report
 * or spill an image on a terminal; its errors go to stderr); write the
 * script; wait; check the exit status and that the temporary output is not
 * empty; rename it over the target.
 *
 * Quoting: every string reaches gnuplot inside double quotes with '\' and
 * '"' escaped; control characters in labels become spaces, and a path with
 * one is refused. The terminal runs with `noenhanced` so '_', '^', '{' and
 * '@' in titles and paths print as themselves.
 */
#define _GNU_SOURCE     /* pipe2 */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bnd.h"

extern char **environ;

enum fmt { FMT_SVG, FMT_PNG };

static int pick_format(const char *path, enum fmt *out)
{
	size_t n = strlen(path);
	if (n > 4 && strcasecmp(path + n - 4, ".svg") == 0) {
		*out = FMT_SVG;
		return 0;
	}
	if (n > 4 && strcasecmp(path + n - 4, ".png") == 0) {
		*out = FMT_PNG;
		return 0;
	}
	return BND_E_PLAN_PLOT_FORMAT;
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int plot_check_path(const char *path)
{
	enum fmt fmt;
	if (!path || !*path || has_control(path))
		return BND_E_INVAL;
	return pick_format(path, &fmt);
}

/* Find an executable: a name with '/' is taken as is; otherwise each PATH
 * entry is tried. Writes the path into buf. */
static int find_exe(const char *name, char *buf, size_t len)
{
	if (strchr(name, '/')) {
		if (access(name, X_OK) != 0)
			return BND_E_PLAN_GNUPLOT_MISSING;
		snprintf(buf, len, "%s", name);
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
		int w = snprintf(buf, len, "%.*s/%s", (int)dlen, dlen ? path : ".", name);
		if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0) {
			struct stat st;
			if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
				return 0;
		}
		path += dlen + (colon ? 1 : 0);
	}
	return BND_E_PLAN_GNUPLOT_MISSING;
}

/* Write s as a gnuplot double-quoted string. */
static void gp_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == '"') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c < 0x20 || c == 0x7f) {
			fputc(' ', f);
		} else {
			fputc(c, f);
		}
	}
	fputc('"', f);
}

struct axis {
	double div;          /* seconds per axis unit */
	const char *unit;
	int minutes;         /* seconds or minutes: the 1/5/15-minute marks fit */
};

static struct axis pick_axis(double t_end_s)
{
	if (t_end_s <= 120.0)   /* a short run (plan --simulate): seconds read best */
		return (struct axis){ 1.0, "seconds", 1 };
	if (t_end_s <= 48.0 * 3600.0)
		return (struct axis){ 60.0, "minutes", 1 };
	if (t_end_s <= 60.0 * 86400.0)
		return (struct axis){ 3600.0, "hours", 0 };
	return (struct axis){ 86400.0, "days", 0 };
}

static const char *const colours[PLOT_MAX_CURVES] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
};

static void write_script(FILE *f, const struct plot_spec *s, enum fmt fmt,
                         const char *out_path)
{
	struct axis ax = pick_axis(s->t_end_s);
	if (fmt == FMT_PNG)
		fputs("set terminal pngcairo size 1000,600 font 'Sans,11' noenhanced\n", f);
	else
		fputs("set terminal svg size 1000,600 dynamic font 'Sans,11' noenhanced\n", f);
	fputs("set output ", f);
	gp_str(f, out_path);
	fputs("\nset encoding utf8\n", f);

	/* The title goes through a format string so that "\n" splits the
	 * lines; the parts themselves are quoted separately. */
	fputs("set title sprintf(\"%s\\n%s\", ", f);
	gp_str(f, s->title);
	fputs(", ", f);
	gp_str(f, s->subtitle ? s->subtitle : "");
	fputs(")\n", f);
	fprintf(f, "set xlabel \"time since the first request (%s)\"\n", ax.unit);
	fputs("set ylabel \"recipients with a request accepted (% of all)\"\n", f);
	fprintf(f, "set xrange [0:%.6g]\n", s->t_end_s / ax.div);
	fputs("set yrange [0:108]\nset ytics 0,10,100 nomirror\nset xtics nomirror\n"
	      "set border 3\nset grid xtics ytics lc rgb '#dddddd' lt 1\n"
	      "set key left top box opaque\n", f);

	for (size_t c = 0; c < s->ncurves; c++) {
		fprintf(f, "$curve%zu << EOD\n", c);
		for (size_t i = 0; i < s->curves[c].n; i++)
			fprintf(f, "%.9g %.6f\n", s->curves[c].pts[i].t_s / ax.div,
			        s->curves[c].pts[i].coverage * 100.0);
		fputs("EOD\n", f);
	}
	size_t nmarks = 0;
	if (ax.minutes && s->marks) {
		fputs("$marks << EOD\n", f);
		for (size_t i = 0; i < s->nmarks; i++) {
			if (s->marks[i].t_s > s->t_end_s)
				continue;
			fprintf(f, "%.9g %.6f ", s->marks[i].t_s / ax.div,
			        s->marks[i].coverage * 100.0);
			gp_str(f, s->marks[i].label);
			fputc('\n', f);
			nmarks++;
		}
		fputs("EOD\n", f);
	}
	if (s->vline_t_s >= 0.0 && s->vline_t_s <= s->t_end_s) {
		double x = s->vline_t_s / ax.div;
		fprintf(f, "set arrow from %.9g,0 to %.9g,100 nohead dt 2 lw 1.5 lc rgb '#555555'\n",
		        x, x);
		if (s->vline_label) {
			fputs("set label ", f);
			gp_str(f, s->vline_label);
			fprintf(f, " at %.9g,103 right offset -0.5,0 textcolor rgb '#333333'\n", x);
		}
	}

	fputs("plot ", f);
	for (size_t c = 0; c < s->ncurves; c++) {
		fprintf(f, "%s$curve%zu using 1:2 with lines lw 2.5 dt %d lc rgb '%s' title ",
		        c ? ", \\\n     " : "", c, c ? 2 : 1, colours[c]);
		gp_str(f, s->curves[c].label);
	}
	if (nmarks) {
		fputs(", \\\n     $marks using 1:2 with points pt 7 ps 1.3 lc rgb '#d62728' "
		      "title \"coverage at 1, 5 and 15 min\", \\\n"
		      "     $marks using 1:2:3 with labels left offset 1.2,-0.9 notitle", f);
	}
	fputs("\nunset output\n", f);
}

static int spec_valid(const struct plot_spec *s)
{
	if (!s || !s->path || !*s->path || !s->title || !(s->t_end_s > 0.0) ||
	    !s->curves || s->ncurves < 1 || s->ncurves > PLOT_MAX_CURVES ||
	    s->nmarks > PLOT_MAX_MARKS)
		return 0;
	for (size_t c = 0; c < s->ncurves; c++)
		if (!s->curves[c].pts || s->curves[c].n < 2 || !s->curves[c].label)
			return 0;
	return 1;
}

/* Write len bytes to fd, retrying on EINTR and short writes. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int plot_delivery(const struct plot_spec *spec)
{
	enum fmt fmt;
	char exe[4096];
	char *tmp = NULL, *script = NULL;
	size_t script_len = 0;
	int pipefd[2] = { -1, -1 };
	int rc, spawned = 0, fa_init = 0;
	pid_t pid = -1;
	posix_spawn_file_actions_t fa;
	struct sigaction ign, old_pipe;

	if (!spec_valid(spec))
		return BND_E_INVAL;
	rc = plot_check_path(spec->path);
	if (rc)
		return rc;
	(void)pick_format(spec->path, &fmt);
	const char *name = getenv("BANDITORE_GNUPLOT");
	rc = find_exe(name && *name ? name : "gnuplot", exe, sizeof exe);
	if (rc)
		return rc;

	size_t tlen = strlen(spec->path) + 32;
	tmp = bnd_malloc(tlen);
	if (!tmp)
		return BND_E_NOMEM;
	/* Keep the extension last: nothing in gnuplot depends on it, but a
	 * leftover file is recognisable. */
	snprintf(tmp, tlen, "%s.tmp%ld", spec->path, (long)getpid());

	/* Create the temporary output ourselves: an unwritable directory is
	 * then a plain -errno here, not a gnuplot that falls back to writing
	 * the image to its stdout. */
	int tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (tfd < 0) {
		rc = -errno;
		bnd_free(tmp);
		return rc;
	}
	close(tfd);

	FILE *mem = open_memstream(&script, &script_len);
	if (!mem) {
		rc = -errno;
		goto out;
	}
	write_script(mem, spec, fmt, tmp);
	if (fclose(mem) != 0) {
		rc = BND_E_NOMEM;
		goto out;
	}

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		rc = -errno;
		goto out;
	}
	rc = posix_spawn_file_actions_init(&fa);
	if (rc) {
		rc = -rc;
		goto out;
	}
	fa_init = 1;
	/* dup2 clears O_CLOEXEC on the copy, so only the script pipe survives
	 * as stdin. gnuplot's stdout goes nowhere: it may carry an image if
	 * something goes wrong, and ours may carry JSON; its errors use stderr. */
	if ((rc = posix_spawn_file_actions_adddup2(&fa, pipefd[0], STDIN_FILENO)) ||
	    (rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	                                           O_WRONLY, 0))) {
		rc = -rc;
		goto out;
	}
	char *argv[] = { exe, NULL };
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	if (rc) {
		rc = rc == ENOENT ? BND_E_PLAN_GNUPLOT_MISSING : -rc;
		goto out;
	}
	spawned = 1;
	close(pipefd[0]);
	pipefd[0] = -1;

	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old_pipe);
	rc = write_all(pipefd[1], script, script_len);
	sigaction(SIGPIPE, &old_pipe, NULL);
	close(pipefd[1]);
	pipefd[1] = -1;
	if (rc == -EPIPE)
		rc = BND_E_PLAN_GNUPLOT_FAILED;   /* gnuplot exited early: its stderr says why */

	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			if (!rc)
				rc = -errno;
			break;
		}
	}
	spawned = 0;
	if (rc)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* 127 from a spawn wrapper would mean "not found"; posix_spawn
		 * reports that itself, so any failure here is gnuplot's. */
		rc = BND_E_PLAN_GNUPLOT_FAILED;
		goto out;
	}
	struct stat st;
	if (stat(tmp, &st) != 0 || st.st_size == 0) {
		rc = BND_E_PLAN_GNUPLOT_FAILED;
		goto out;
	}
	if (rename(tmp, spec->path) != 0) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	if (spawned) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (rc && tmp)
		unlink(tmp);
	bnd_free(tmp);
	free(script);   /* open_memstream allocates with malloc */
	return rc;
}
