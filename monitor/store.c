/*
 * The metric store: for every device.metric the latest sample (value, unit,
 * quality, reason, time) and a bounded ring of recent numeric values.
 *
 * Series are found by their full key ("ups1.charge_pct") through one hash
 * map, and listed per device in the order they first appeared, so that
 * `sonae device` shows metrics in the order the probe reports them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

#define TEXT_MAX   256
#define REASON_MAX 256

struct series {
	char *key;        /* "device.metric" */
	const char *name; /* points into key */
	char *unit;
	enum metric_kind kind;
	struct store_dev *sd;
	TAILQ_ENTRY(series) entry;

	int64_t t_ms;
	double num;
	char *text;
	enum quality q;
	char *reason;
	int have; /* a sample has been stored */

	struct hist_point *ring;
	size_t ring_cap, ring_len, ring_head; /* head: next slot to write */
	void *watch;                          /* the watcher's cache for this series */
};

struct store_dev {
	char *name;
	struct store *st;
	TAILQ_HEAD(, series) series;
};

struct store {
	struct hmap *series; /* key -> struct series */
	struct hmap *devs;   /* device name -> struct store_dev */
	size_t history;
	uint64_t generation; /* series created or dropped */
	void (*watch)(struct series *, void *);
	void *watch_arg;
};

static const char *const quality_names[] = { "ok", "stale", "error" };
static const char *const kind_names[] = { "number", "bool", "text" };

/* "ok", "stale" or "error". */
const char *
quality_name(enum quality q)
{
	return (size_t)q < 3 ? quality_names[q] : "?";
}

/* The quality named s, or -1. */
int
quality_from_name(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(s, quality_names[i]) == 0)
			return i;
	return -1;
}

/* "number", "bool" or "text". */
const char *
metric_kind_name(enum metric_kind k)
{
	return (size_t)k < 3 ? kind_names[k] : "?";
}

/* The metric kind named s, or -1. */
int
metric_kind_from_name(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	return -1;
}

/* Create a store keeping history samples per numeric series. */
struct store *
store_new(size_t history)
{
	struct store *st = xcalloc(1, sizeof(*st));

	st->series = hmap_new();
	st->devs = hmap_new();
	st->history = history;
	return st;
}

static void
series_free(struct series *s)
{
	free(s->key);
	free(s->unit);
	free(s->text);
	free(s->reason);
	free(s->ring);
	free(s);
}

static void
store_dev_free(struct store *st, struct store_dev *sd)
{
	struct series *s;

	while ((s = TAILQ_FIRST(&sd->series)) != NULL) {
		TAILQ_REMOVE(&sd->series, s, entry);
		hmap_del(st->series, s->key);
		series_free(s);
	}
	hmap_del(st->devs, sd->name);
	free(sd->name);
	free(sd);
}

/* Free the store and every series. Takes NULL. */
void
store_free(struct store *st)
{
	struct store_dev *sd;

	if (st == NULL)
		return;
	for (;;) {
		size_t pos = 0;
		if ((sd = hmap_next(st->devs, &pos)) == NULL)
			break;
		store_dev_free(st, sd);
	}
	hmap_free(st->series);
	hmap_free(st->devs);
	free(st);
}

static void
ring_resize(struct series *s, size_t cap)
{
	struct hist_point *n = NULL;
	size_t keep = s->ring_len < cap ? s->ring_len : cap, i;

	if (cap > 0) {
		n = xcalloc(cap, sizeof(*n));
		/* Keep the newest samples, oldest first. */
		for (i = 0; i < keep; i++) {
			size_t from =
			    (s->ring_head + s->ring_cap - keep + i) % s->ring_cap;
			n[i] = s->ring[from];
		}
	}
	free(s->ring);
	s->ring = n;
	s->ring_cap = cap;
	s->ring_len = keep;
	s->ring_head = cap > 0 ? keep % cap : 0;
}

/* Change how many samples each series keeps; the newest are kept. */
void
store_set_history(struct store *st, size_t history)
{
	struct series *s;
	size_t pos = 0;

	if (st->history == history)
		return;
	st->history = history;
	while ((s = hmap_next(st->series, &pos)) != NULL)
		if (s->kind != MK_TEXT)
			ring_resize(s, history);
}

/*
 * Find or create the series dev.metric.  A series whose kind changes (a
 * reconfigured device) starts afresh; unit may be NULL.
 */
struct series *
store_series(struct store *st, const char *dev, const char *metric, enum metric_kind kind,
    const char *unit)
{
	struct store_dev *sd;
	struct series *s;
	char small[128], *key = small;
	size_t dl = strlen(dev), ml = strlen(metric);

	/* Called for every metric of every poll: no allocation to look up. */
	if (dl + ml + 2 > sizeof(small))
		key = xmalloc(dl + ml + 2);
	memcpy(key, dev, dl);
	key[dl] = '.';
	memcpy(key + dl + 1, metric, ml + 1);
	if ((s = hmap_get(st->series, key)) != NULL) {
		if (key != small)
			free(key);
		if (s->kind != kind) {
			s->kind = kind;
			s->have = 0;
			s->ring_len = s->ring_head = 0;
			ring_resize(s, kind == MK_TEXT ? 0 : st->history);
		}
		if (unit != NULL && (s->unit == NULL || strcmp(s->unit, unit) != 0)) {
			free(s->unit);
			s->unit = xstrdup(unit);
		}
		return s;
	}
	if ((sd = hmap_get(st->devs, dev)) == NULL) {
		sd = xcalloc(1, sizeof(*sd));
		sd->name = xstrdup(dev);
		sd->st = st;
		TAILQ_INIT(&sd->series);
		hmap_put(st->devs, sd->name, sd);
	}
	s = xcalloc(1, sizeof(*s));
	s->key = key != small ? key : xstrdup(small);
	s->name = s->key + dl + 1;
	s->unit = unit != NULL ? xstrdup(unit) : NULL;
	s->kind = kind;
	s->sd = sd;
	if (kind != MK_TEXT && st->history > 0)
		ring_resize(s, st->history);
	TAILQ_INSERT_TAIL(&sd->series, s, entry);
	hmap_put(st->series, s->key, s);
	st->generation++;
	return s;
}

/* Find a series by its full key "device.metric". */
struct series *
store_lookup(const struct store *st, const char *key)
{
	return hmap_get(st->series, key);
}

/* The first series of a device, in the order they appeared; NULL if none. */
struct series *
store_first(const struct store *st, const char *dev)
{
	struct store_dev *sd = hmap_get(st->devs, dev);

	return sd != NULL ? TAILQ_FIRST(&sd->series) : NULL;
}

/* The series after s of the same device. */
struct series *
store_next(const struct series *s)
{
	return TAILQ_NEXT(s, entry);
}

/* Number of series. */
size_t
store_count(const struct store *st)
{
	return hmap_count(st->series);
}

/* Forget every series of a device (it was removed from the configuration). */
void
store_drop_device(struct store *st, const char *dev)
{
	struct store_dev *sd = hmap_get(st->devs, dev);

	if (sd != NULL) {
		store_dev_free(st, sd);
		st->generation++;
	}
}

/*
 * Call fn(series, arg) after every update of a series (a sample, or the
 * device's contact lost): the detection layer's way in.  NULL: nobody.
 */
void
store_set_watch(struct store *st, void (*fn)(struct series *, void *), void *arg)
{
	st->watch = fn;
	st->watch_arg = arg;
}

/* Forget every series' watcher cache (the watcher was rebuilt). */
void
store_reset_watch(struct store *st)
{
	struct series *s;
	size_t pos = 0;

	while ((s = hmap_next(st->series, &pos)) != NULL)
		s->watch = NULL;
}

/* Changes whenever a series is created or dropped. */
uint64_t
store_generation(const struct store *st)
{
	return st->generation;
}

void *
series_watch(const struct series *s)
{
	return s->watch;
}

void
series_set_watch(struct series *s, void *w)
{
	s->watch = w;
}

/* "device.metric". */
const char *
series_key(const struct series *s)
{
	return s->key;
}

/* The device the series belongs to. */
const char *
series_device(const struct series *s)
{
	return s->sd->name;
}

static void
set_str(char **dst, const char *src, size_t max)
{
	if (src == NULL) {
		free(*dst);
		*dst = NULL;
		return;
	}
	if (*dst != NULL && strncmp(*dst, src, max) == 0 &&
	    strlen(*dst) == strnlen(src, max))
		return;
	free(*dst);
	*dst = xstrndup(src, max);
}

/*
 * Mark every series of a device with quality q and a reason, keeping the
 * values: contact lost makes readings stale, not wrong.
 */
void
store_degrade_device(
    struct store *st, const char *dev, enum quality q, const char *reason)
{
	struct store_dev *sd = hmap_get(st->devs, dev);
	struct series *s;

	if (sd == NULL)
		return;
	TAILQ_FOREACH(s, &sd->series, entry)
	{
		if (s->q == q && s->reason != NULL && strcmp(s->reason, reason) == 0)
			continue;
		s->q = q;
		set_str(&s->reason, reason, REASON_MAX);
		if (st->watch != NULL)
			st->watch(s, st->watch_arg);
	}
}

static void
series_watched(struct series *s)
{
	struct store *st = s->sd->st;

	if (st->watch != NULL)
		st->watch(s, st->watch_arg);
}

/* Store a new sample; good numeric samples also go into the history ring. */
void
series_update(struct series *s, const struct sample *smp)
{
	s->t_ms = smp->t_ms;
	s->q = smp->q;
	s->have = 1;
	set_str(&s->reason, smp->q == Q_OK ? NULL : smp->reason, REASON_MAX);
	if (s->kind == MK_TEXT)
		set_str(&s->text, smp->text != NULL ? smp->text : "", TEXT_MAX);
	else {
		s->num = smp->num;
		if (smp->q == Q_OK && s->ring_cap > 0 && isfinite(smp->num)) {
			s->ring[s->ring_head] =
			    (struct hist_point){ smp->t_ms, smp->num };
			s->ring_head = (s->ring_head + 1) % s->ring_cap;
			if (s->ring_len < s->ring_cap)
				s->ring_len++;
		}
	}
	series_watched(s);
}

/* The metric's name without the device. */
const char *
series_name(const struct series *s)
{
	return s->name;
}

/* The unit, or NULL. */
const char *
series_unit(const struct series *s)
{
	return s->unit;
}

/* The kind of value. */
enum metric_kind
series_kind(const struct series *s)
{
	return s->kind;
}

/* Copy the latest sample out; text and reason stay owned by the series. */
int
series_latest(const struct series *s, struct sample *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->have)
		return -1;
	out->t_ms = s->t_ms;
	out->num = s->num;
	out->text = s->text;
	out->q = s->q;
	out->reason = s->reason;
	return 0;
}

/* Copy up to max history points out, oldest first; returns how many. */
size_t
series_history(const struct series *s, struct hist_point *out, size_t max)
{
	size_t n = s->ring_len < max ? s->ring_len : max, i;

	for (i = 0; i < n; i++)
		out[i] = s->ring[(s->ring_head + s->ring_cap - n + i) % s->ring_cap];
	return n;
}

/* A sample's value as JSON: text, true/false, a number, or null (NaN). */
json_t *
sample_value_json(enum metric_kind k, const struct sample *smp)
{
	switch (k) {
	case MK_TEXT:
		return json_string(smp->text != NULL ? smp->text : "");
	case MK_BOOL:
		return json_boolean(smp->num != 0);
	default:
		return isfinite(smp->num) ? json_real(smp->num) : json_null();
	}
}
