/*
 * report.c: after-action, drill and self-inspection reports, rendered from
 * the JSON sonaed answers to `report ...` (docs/reports.md)
 * into one self-contained HTML file or GitHub-flavoured Markdown.  Pure
 * functions of a json_t and the process's time zone: no daemon, no files.
 */
#ifndef SONAE_REPORT_H
#define SONAE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum report_format {
	REPORT_HTML,
	REPORT_MD,
};

/* A series to plot: n points at t (Unix ms); a value that is not finite is a gap. */
struct report_series {
	const char *label;
	const char *unit; /* or NULL */
	size_t n;
	const double *t;
	const double *v;
	const double *lo, *hi; /* a min-max band under v, or NULL */
};

struct report_stats {
	size_t n; /* finite values */
	double min, max, avg, last;
};

/* A value axis: from lo to hi, a tick every step (0: no ticks between). */
struct report_axis {
	double lo, hi, step;
};

#define REPORT_MAX_POINTS 1000 /* of one polyline */
#define REPORT_MAX_PLOTS  8    /* of one report's readings; the rest are a table */

/* Render report (borrowed) as fmt to f; -1 with a reason in err if it is no report. */
int report_render(json_t *, enum report_format, FILE *, char *, size_t);

/* "incident-12", "drill-7", "inspection-20261126" (the period's last day). */
int report_basename(json_t *, char *, size_t);

/* A point in time in the process's time zone: "2026-11-25 20:01:02" ("-" if < 0). */
char *report_time_format(int64_t, char *, size_t);

/* The zone as the header shows it once: "Asia/Tokyo (UTC+09:00)". */
char *report_zone_format(const char *, int64_t, char *, size_t);

/* An ISO 8601 time as sonaed writes it, to Unix ms; -1 if it is not one. */
int64_t report_time_parse(const char *);

/* Text for HTML (&, <, >, ", ' as entities; control characters dropped). */
void report_html_escape(FILE *, const char *);

/* Text for a Markdown table cell: | and Markdown marks escaped, newlines <br>. */
void report_md_escape(FILE *, const char *);

/* The finite values' min, avg, max and last; 0 if there are none. */
size_t report_stats(const struct report_series *, struct report_stats *);

/* A round axis around [min, max]; -1 if either is not finite. */
int report_axis(double, double, struct report_axis *);

/*
 * The indices of at most max points that draw like all n: per bucket its
 * lowest and highest value and its first gap, in order.  Returns how many;
 * idx has room for max (and n when n <= max).
 */
size_t report_decimate(const double *, size_t, size_t, size_t *);

/* One series as an inline SVG line plot, marks at open_ms and end_ms (-1: none). */
void report_plot_svg(
    FILE *, const struct report_series *, int64_t, int64_t, int64_t, int64_t);

#endif
