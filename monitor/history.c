/*
 * History for the reports (docs/reports.md): what the store's ring forgets.
 *
 * Readings.  While an incident is open, every good numeric sample of its
 * devices is appended to state_dir/readings/ID.jsonl, one compact line each:
 *
 *	{"t":1764140400000,"d":"ups1","m":"runtime_s","v":1260,"u":"s"}
 *
 * When the incident opens, the store's ring of those devices' numeric
 * metrics goes first: the minutes before it, the context a report needs.
 * Devices folded into the incident later are recorded from then on.  A file
 * holds at most max_lines samples, then one {"t":..,"truncated":true} line.
 * The files stay open while their incident is, written with O_APPEND and
 * flushed after every poll, never fsync'd: readings are evidence for a
 * report, not accepted input; the journal and the snapshots stay the
 * durable record.  A crash loses at most what the kernel had not written.
 *
 * Hours.  Every device's polls (answered, missed) and samples (good, bad)
 * are counted for the current hour, with min/avg/max of a UPS's runtime_s
 * and charge_pct.  When the hour ends (or at exit) each device with polls
 * gets one line in state_dir/history/YYYY-MM.jsonl, the month of the hour
 * in UTC:
 *
 *	{"h":HOUR_MS,"d":"ups1","polls":n,"answered":n,"missed":n,"samples":n,
 *	 "good":n,"bad":n,"m":{"runtime_s":[min,avg,max,n],...}}
 *
 * The files are append-only.  A restart within an hour writes that hour's
 * partial counters at exit and the rest when the hour ends: readers add up
 * the lines of one device and hour.  kill -9 loses the current hour's
 * counters, which live only in memory.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/monitor.h"

#define READINGS_DIR "readings"
#define HOURS_DIR    "history"
#define HOUR_MS      ((int64_t)3600 * 1000)

const char *const history_metrics[] = { "runtime_s", "charge_pct", NULL };

/* An open incident's readings file. */
struct hist_rec {
	uint64_t id;
	FILE *f;
	size_t lines;
	int full; /* the cap was reached, the truncated line written */
	struct conf_strings devices;
	TAILQ_ENTRY(hist_rec) entry;
};

/* A device's counters for the current hour. */
struct hist_dev {
	char *name;
	int ups;
	struct hist_hour hh;
};

struct history {
	char *dir; /* state_dir */
	size_t max_lines;
	TAILQ_HEAD(, hist_rec) recs;
	struct hmap *devs; /* name -> struct hist_dev */
	int64_t hour_ms;   /* the hour the counters count; 0: none yet */
	struct complaint failed;
};

/* Recording in state_dir (created on first use). */
struct history *
history_new(const char *state_dir)
{
	struct history *h = xcalloc(1, sizeof(*h));

	h->dir = xstrdup(state_dir);
	h->max_lines = HISTORY_READINGS_MAX;
	TAILQ_INIT(&h->recs);
	h->devs = hmap_new();
	return h;
}

static void
rec_free(struct hist_rec *r)
{
	if (r->f != NULL)
		fclose(r->f);
	conf_strings_free(&r->devices);
	free(r);
}

/* Close the files and free; the current hour is not written (history_flush). */
void
history_free(struct history *h)
{
	struct hist_rec *r;
	struct hist_dev *hd;

	if (h == NULL)
		return;
	while ((r = TAILQ_FIRST(&h->recs)) != NULL) {
		TAILQ_REMOVE(&h->recs, r, entry);
		rec_free(r);
	}
	for (;;) {
		size_t pos = 0;
		if ((hd = hmap_next(h->devs, &pos)) == NULL)
			break;
		hmap_del(h->devs, hd->name);
		free(hd->name);
		free(hd);
	}
	hmap_free(h->devs);
	free(h->dir);
	free(h);
}

/* Samples per readings file (HISTORY_READINGS_MAX unless set; the tests). */
void
history_set_max_lines(struct history *h, size_t n)
{
	h->max_lines = n;
}

/* state_dir/readings/ID.jsonl (the caller frees). */
char *
history_readings_path(const char *state_dir, uint64_t id)
{
	char *p;

	xasprintf(&p, "%s/%s/%" PRIu64 ".jsonl", state_dir, READINGS_DIR, id);
	return p;
}

/* state_dir/history/YYYY-MM.jsonl of the UTC month of ms (the caller frees). */
char *
history_month_path(const char *state_dir, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char *p;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	xasprintf(&p, "%s/%s/%04d-%02d.jsonl", state_dir, HOURS_DIR, tm.tm_year + 1900,
	    tm.tm_mon + 1);
	return p;
}

static FILE *
open_append(struct history *h, const char *sub, const char *path)
{
	char *dir;
	FILE *f;
	int fd;

	xasprintf(&dir, "%s/%s", h->dir, sub);
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		complain(&h->failed, "history: mkdir %s: %s", dir, strerror(errno));
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd == -1 || (f = fdopen(fd, "a")) == NULL) {
		complain(&h->failed, "history: %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	return f;
}

static void
check_written(struct history *h, FILE *f, const char *what)
{
	if (fflush(f) == EOF || ferror(f)) {
		complain(&h->failed, "history: %s: %s", what, strerror(errno));
		clearerr(f);
	} else
		complain_release(&h->failed, "history: written again");
}

/* A JSON string; names and units are short ASCII, escaped all the same. */
static void
put_str(FILE *f, const char *s)
{
	const unsigned char *p;

	putc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			putc(*p, f);
	}
	putc('"', f);
}

static void
rec_write(struct history *h, struct hist_rec *r, int64_t t, const char *dev,
    const char *metric, double v, const char *unit)
{
	if (r->f == NULL || r->full)
		return;
	if (r->lines >= h->max_lines) {
		fprintf(r->f, "{\"t\":%" PRId64 ",\"truncated\":true}\n", t);
		r->full = 1;
		return;
	}
	fprintf(r->f, "{\"t\":%" PRId64 ",\"d\":", t);
	put_str(r->f, dev);
	fputs(",\"m\":", r->f);
	put_str(r->f, metric);
	fprintf(r->f, ",\"v\":%.15g", v);
	if (unit != NULL) {
		fputs(",\"u\":", r->f);
		put_str(r->f, unit);
	}
	fputs("}\n", r->f);
	r->lines++;
}

static struct hist_rec *
rec_find(struct history *h, uint64_t id)
{
	struct hist_rec *r;

	TAILQ_FOREACH(r, &h->recs, entry)
	if (r->id == id)
		return r;
	return NULL;
}

/* A file kept from before a restart: how many lines, and whether it is full. */
static void
rec_count(struct hist_rec *r, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return;
	while (getline(&line, &cap, f) != -1) {
		if (strstr(line, "\"truncated\"") != NULL)
			r->full = 1;
		else
			r->lines++;
	}
	free(line);
	fclose(f);
}

static void
rec_context(struct history *h, struct hist_rec *r, struct store *st, const char *dev)
{
	struct hist_point pts[1024];
	struct series *s;
	size_t n, k;

	for (s = store_first(st, dev); s != NULL; s = store_next(s)) {
		if (series_kind(s) != MK_NUMBER)
			continue;
		n = series_history(s, pts, sizeof(pts) / sizeof(pts[0]));
		for (k = 0; k < n; k++)
			rec_write(h, r, pts[k].t_ms, dev, series_name(s), pts[k].v,
			    series_unit(s));
	}
}

/*
 * Record the readings of devs for incident id from now on.  With st, an
 * incident that opens: the store's history of the devices first.  Without,
 * a device folded in, or a restart: appended to what the file holds.
 */
void
history_incident_open(
    struct history *h, uint64_t id, const struct conf_strings *devs, struct store *st)
{
	struct hist_rec *r;
	char *path;
	size_t k;

	if (h == NULL || devs->n == 0)
		return;
	if ((r = rec_find(h, id)) == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->id = id;
		path = history_readings_path(h->dir, id);
		if (st == NULL)
			rec_count(r, path);
		r->f = open_append(h, READINGS_DIR, path);
		free(path);
		TAILQ_INSERT_TAIL(&h->recs, r, entry);
	}
	for (k = 0; k < devs->n; k++) {
		if (conf_strings_has(&r->devices, devs->v[k]))
			continue;
		conf_strings_add(&r->devices, devs->v[k]);
		if (st != NULL)
			rec_context(h, r, st, devs->v[k]);
	}
	if (r->f != NULL)
		check_written(h, r->f, "readings");
}

/* The incident is over: its file is complete. */
void
history_incident_close(struct history *h, uint64_t id)
{
	struct hist_rec *r;

	if (h == NULL || (r = rec_find(h, id)) == NULL)
		return;
	TAILQ_REMOVE(&h->recs, r, entry);
	if (r->f != NULL)
		check_written(h, r->f, "readings");
	rec_free(r);
}

/* Add v to a min/avg/max. */
void
hist_agg_add(struct hist_agg *a, double v)
{
	if (a->n == 0 || v < a->min)
		a->min = v;
	if (a->n == 0 || v > a->max)
		a->max = v;
	a->sum += v;
	a->n++;
}

/* Add b to a. */
void
hist_agg_merge(struct hist_agg *a, const struct hist_agg *b)
{
	if (b->n == 0)
		return;
	if (a->n == 0 || b->min < a->min)
		a->min = b->min;
	if (a->n == 0 || b->max > a->max)
		a->max = b->max;
	a->sum += b->sum;
	a->n += b->n;
}

static void
hour_line(FILE *f, const struct hist_hour *hh)
{
	int k, first = 1;

	fprintf(f, "{\"h\":%" PRId64 ",\"d\":", hh->hour_ms);
	put_str(f, hh->device);
	fprintf(f,
	    ",\"polls\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"missed\":%" PRIu64
	    ",\"samples\":%" PRIu64 ",\"good\":%" PRIu64 ",\"bad\":%" PRIu64,
	    hh->polls, hh->answered, hh->missed, hh->samples, hh->good, hh->bad);
	for (k = 0; k < HM_N; k++) {
		const struct hist_agg *a = &hh->m[k];
		if (a->n == 0)
			continue;
		fprintf(f, "%s\"%s\":[%.15g,%.15g,%.15g,%" PRIu64 "]",
		    first ? ",\"m\":{" : ",", history_metrics[k], a->min,
		    a->sum / (double)a->n, a->max, a->n);
		first = 0;
	}
	fputs(first ? "}\n" : "}}\n", f);
}

/* Write every device's counters of the current hour and start them afresh. */
static void
hours_write(struct history *h)
{
	struct hist_dev *hd;
	size_t pos = 0;
	FILE *f = NULL;
	char *path;

	if (h->hour_ms == 0)
		return;
	path = history_month_path(h->dir, h->hour_ms);
	while ((hd = hmap_next(h->devs, &pos)) != NULL) {
		if (hd->hh.polls == 0)
			continue;
		if (f == NULL && (f = open_append(h, HOURS_DIR, path)) == NULL)
			break;
		hour_line(f, &hd->hh);
	}
	if (f != NULL) {
		check_written(h, f, path);
		fclose(f);
	}
	free(path);
	pos = 0;
	while ((hd = hmap_next(h->devs, &pos)) != NULL) {
		memset(&hd->hh, 0, sizeof(hd->hh));
		hd->hh.device = hd->name;
		hd->hh.hour_ms = h->hour_ms;
	}
}

static void
hours_roll(struct history *h, int64_t now)
{
	int64_t hour = now - now % HOUR_MS;
	struct hist_dev *hd;
	size_t pos = 0;

	if (hour == h->hour_ms)
		return;
	hours_write(h);
	h->hour_ms = hour;
	while ((hd = hmap_next(h->devs, &pos)) != NULL)
		hd->hh.hour_ms = hour;
}

/*
 * After a poll of dev (of kind, a device_kinds name) at t_ms, answered or
 * missed: count it, and record its samples (the series the poll set, at
 * t_ms) for the incidents that record dev.
 */
void
history_poll(struct history *h, struct store *st, const char *dev, const char *kind,
    int answered, int64_t t_ms)
{
	struct hist_dev *hd;
	struct hist_rec *r;
	struct series *s;
	struct sample smp;
	int k, recorded = 0;

	if (h == NULL || t_ms <= 0)
		return;
	hours_roll(h, t_ms);
	if ((hd = hmap_get(h->devs, dev)) == NULL) {
		hd = xcalloc(1, sizeof(*hd));
		hd->name = xstrdup(dev);
		hd->hh.device = hd->name;
		hd->hh.hour_ms = h->hour_ms;
		hmap_put(h->devs, hd->name, hd);
	}
	hd->ups = kind != NULL && strcmp(kind, "ups") == 0;
	hd->hh.polls++;
	if (!answered) {
		hd->hh.missed++;
		return;
	}
	hd->hh.answered++;
	for (s = store_first(st, dev); s != NULL; s = store_next(s)) {
		if (series_latest(s, &smp) == -1 || smp.t_ms != t_ms)
			continue; /* not reported by this poll */
		hd->hh.samples++;
		if (smp.q != Q_OK) {
			hd->hh.bad++;
			continue;
		}
		hd->hh.good++;
		if (series_kind(s) != MK_NUMBER || !isfinite(smp.num))
			continue;
		for (k = 0; hd->ups && k < HM_N; k++)
			if (strcmp(series_name(s), history_metrics[k]) == 0)
				hist_agg_add(&hd->hh.m[k], smp.num);
		TAILQ_FOREACH(r, &h->recs, entry)
		if (conf_strings_has(&r->devices, dev)) {
			rec_write(
			    h, r, t_ms, dev, series_name(s), smp.num, series_unit(s));
			recorded = 1;
		}
	}
	if (!recorded)
		return;
	TAILQ_FOREACH(r, &h->recs, entry)
	{
		if (r->f != NULL && conf_strings_has(&r->devices, dev))
			check_written(h, r->f, "readings");
	}
}

/* From the housekeeping timer: write the hour that ended. */
void
history_tick(struct history *h, int64_t now)
{
	if (h != NULL && h->hour_ms != 0)
		hours_roll(h, now);
}

/* At exit: write the current hour's counters as they are. */
void
history_flush(struct history *h)
{
	struct hist_rec *r;

	if (h == NULL)
		return;
	hours_write(h);
	TAILQ_FOREACH(r, &h->recs, entry)
	if (r->f != NULL)
		check_written(h, r->f, "readings");
}

/* Call fn for every device's counters of the current hour (not yet written). */
void
history_live(struct history *h, void (*fn)(const struct hist_hour *, void *), void *arg)
{
	struct hist_dev *hd;
	size_t pos = 0;

	if (h == NULL)
		return;
	while ((hd = hmap_next(h->devs, &pos)) != NULL)
		if (hd->hh.polls > 0)
			fn(&hd->hh, arg);
}

static uint64_t
juint(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/*
 * Read a line of a month file into hh; the device's name is copied to dev.
 * 0, or -1 if the line is not one.
 */
int
history_hour_parse(
    const char *line, size_t len, struct hist_hour *hh, char *dev, size_t devlen)
{
	json_t *o, *m, *a;
	const char *d;
	int k;

	memset(hh, 0, sizeof(*hh));
	if ((o = json_loadb(line, len, 0, NULL)) == NULL)
		return -1;
	d = json_string_value(json_object_get(o, "d"));
	if (d == NULL || !json_is_integer(json_object_get(o, "h"))) {
		json_decref(o);
		return -1;
	}
	snprintf(dev, devlen, "%s", d);
	hh->device = dev;
	hh->hour_ms = (int64_t)json_integer_value(json_object_get(o, "h"));
	hh->polls = juint(o, "polls");
	hh->answered = juint(o, "answered");
	hh->missed = juint(o, "missed");
	hh->samples = juint(o, "samples");
	hh->good = juint(o, "good");
	hh->bad = juint(o, "bad");
	m = json_object_get(o, "m");
	for (k = 0; k < HM_N; k++) {
		a = json_object_get(m, history_metrics[k]);
		if (!json_is_array(a) || json_array_size(a) < 4)
			continue;
		hh->m[k].min = json_number_value(json_array_get(a, 0));
		hh->m[k].max = json_number_value(json_array_get(a, 2));
		hh->m[k].n = (uint64_t)json_integer_value(json_array_get(a, 3));
		hh->m[k].sum =
		    json_number_value(json_array_get(a, 1)) * (double)hh->m[k].n;
	}
	json_decref(o);
	return 0;
}
