/*
 * Maintenance windows: when planned work is under way on some devices, their
 * problems are still recorded but nobody is paged and no playbook starts on
 * its own.  This file is the pure part: what a window is, reading it from
 * the text an operator types, JSON for the state file, and whether a window
 * is open at a given instant.  Who holds the windows and what they suppress
 * lives with the holder (docs/maintenance.md).
 *
 * Recurring windows are wall-clock times in the window's IANA time zone
 * ("every Sunday 02:00"), so a window's instants move with the zone's
 * daylight-saving rules.  The rules for the days the clock changes:
 *
 *  - A start time that does not exist (02:30 on a spring-forward day in
 *    Europe/Berlin or America/New_York) starts at the first valid instant
 *    after the gap: 03:00 local, the moment of the change.
 *  - A start time that occurs twice (02:30 on the Berlin fall-back day, 01:30
 *    in New York) starts at its first occurrence, still in summer time.
 *  - The duration is elapsed time: a 2 h window that starts at 01:30 EDT on
 *    the New York fall-back day ends two real hours later, at 02:30 EST,
 *    although the wall clock moved only one hour.
 *
 * One-off windows given as local times follow the same first two rules.
 *
 * The C library converts times only in the process's zone (TZ).  The daemon
 * sets that to the site's zone, which is the zone its windows are made in,
 * so nothing is switched in practice; a window in another zone switches TZ
 * for the call and restores it exactly.  Like the rest of the core, these
 * functions run on the loop thread only.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/monitor.h"

#define DAY_S     INT64_C(86400)
#define DAY_MS    (DAY_S * 1000)
#define ALL_DAYS  0x7fu
#define TEXT_MAX  64  /* device names, kinds and tags */
#define HORIZON_D 800 /* days looked ahead; a "monthly 31" skips months */

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri",
	"sat" };
static const char *const day_long[7] = { "sunday", "monday", "tuesday", "wednesday",
	"thursday", "friday", "saturday" };
static const char *const repeat_names[] = { "once", "daily", "weekly", "monthly" };

/* The process zone as it was before zone_enter(), to put back. */
struct zone_save {
	char *old;
	int had, switched;
};

/*
 * Make zone the process's zone for one computation.  If the zone cannot be
 * applied (tzdata removed under a running daemon) the process zone is kept:
 * the site's zone is the best guess left, and a window never becomes an
 * error at the moment it is asked about.
 */
static void
zone_enter(const char *zone, struct zone_save *zs)
{
	const char *cur = getenv("TZ");

	memset(zs, 0, sizeof(*zs));
	if (zone == NULL || (cur != NULL && strcmp(cur, zone) == 0))
		return;
	zs->had = cur != NULL;
	zs->old = cur != NULL ? xstrdup(cur) : NULL;
	if (tz_apply(zone) == -1) {
		free(zs->old);
		zs->old = NULL;
		return;
	}
	zs->switched = 1;
}

/* Put back exactly the TZ that zone_enter() found, set or not. */
static void
zone_leave(struct zone_save *zs)
{
	if (!zs->switched)
		return;
	if (zs->had)
		setenv("TZ", zs->old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(zs->old);
	zs->old = NULL;
	zs->switched = 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The date of a day number, the inverse of days_from_civil(). */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, int m)
{
	return (int)(m == 12 ? days_from_civil(y + 1, 1, 1) - days_from_civil(y, 12, 1)
	                     : days_from_civil(y, m + 1, 1) - days_from_civil(y, m, 1));
}

/* Floor division, for day numbers before 1970. */
static int64_t
floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Seconds east of UTC in the process zone at instant t. */
static int64_t
zone_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return tm.tm_gmtoff;
}

/*
 * The instant (seconds) at which the process zone's wall clock reads
 * `local` (seconds since 1970-01-01 on that wall clock).  mktime() is not
 * used: what glibc does with a time inside a gap depends on tm_isdst, and we
 * want the rules written at the top of this file.  Around `local` a zone has
 * at most one change, from offset o1 (a day before) to o2 (a day after); an
 * instant t is an answer when t + offset(t) == local.
 */
static int64_t
zone_resolve(int64_t local)
{
	int64_t o1 = zone_offset(local - DAY_S), o2 = zone_offset(local + DAY_S);
	int64_t c1 = local - o1, c2 = local - o2, lo, hi;
	int ok1 = c1 + zone_offset(c1) == local, ok2 = c2 + zone_offset(c2) == local;

	/* Twice on a fall-back day (o1 > o2): the first occurrence, in o1. */
	if (ok1 && ok2)
		return c1 < c2 ? c1 : c2;
	if (ok1 || ok2)
		return ok1 ? c1 : c2;
	/*
	 * Never, inside a spring-forward gap (o1 < o2): the clock reads less
	 * than local at c2 and more at c1.  The first instant that reads at
	 * least local is the change itself, the first valid instant after the
	 * gap.
	 */
	lo = c1 < c2 ? c1 : c2;
	hi = c1 < c2 ? c2 : c1;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (mid + zone_offset(mid) >= local)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* Does the window repeat on this day (a day number on its wall clock)? */
static int
repeat_on(const struct window *w, int64_t day)
{
	int64_t y;
	int m, d;

	switch (w->repeat) {
	case WR_DAILY:
		return 1;
	case WR_WEEKLY: /* 1970-01-01 was a Thursday */
		return (w->weekdays >> (int)(((day % 7) + 11) % 7)) & 1;
	case WR_MONTHLY:
		civil_from_days(day, &y, &m, &d);
		return w->mday == WINDOW_LAST_DAY ? d == days_in_month(y, m)
		                                  : d == w->mday;
	case WR_ONCE:
		break;
	}
	return 0;
}

/*
 * The first stretch of time the window covers that ends after now, as
 * [*s, *e) in ms; occurrences that overlap or touch are one stretch, so
 * that its edges are real changes.  Returns -1 when there is none (a one-off
 * window that is over).  Call inside zone_enter().
 */
static int
window_span(const struct window *w, int64_t now, int64_t *s, int64_t *e)
{
	int64_t today, day, cs = 0, ce = 0;
	int have = 0;

	if (w->repeat == WR_ONCE) {
		if (w->end_ms <= now)
			return -1;
		*s = w->start_ms;
		*e = w->end_ms;
		return 0;
	}
	today = floordiv(floordiv(now, 1000) + zone_offset(floordiv(now, 1000)), DAY_S);
	/* Start far enough back to catch an occurrence still running now. */
	for (day = today - w->duration_ms / DAY_MS - 2; day <= today + HORIZON_D; day++) {
		int64_t os, oe;

		if (!repeat_on(w, day))
			continue;
		os = zone_resolve(day * DAY_S + w->start_min * 60) * 1000;
		oe = os + w->duration_ms;
		if (have && os <= ce) {
			if (oe > ce)
				ce = oe;
			continue;
		}
		if (have && ce > now)
			break;
		cs = os;
		ce = oe;
		have = 1;
	}
	if (!have || ce <= now)
		return -1;
	*s = cs;
	*e = ce;
	return 0;
}

/* Is the window open at now (ms)? */
int
window_active(const struct window *w, int64_t now)
{
	struct zone_save zs;
	int64_t s, e;
	int r;

	zone_enter(w->zone, &zs);
	r = window_span(w, now, &s, &e) == 0 && s <= now;
	zone_leave(&zs);
	return r;
}

/* The next instant after now (ms) at which the window opens or closes; -1: never. */
int64_t
window_next_change(const struct window *w, int64_t now)
{
	struct zone_save zs;
	int64_t s, e, r = -1;

	zone_enter(w->zone, &zs);
	if (window_span(w, now, &s, &e) == 0)
		r = s > now ? s : e;
	zone_leave(&zs);
	return r;
}

/*
 * Does the window choose this device?  A device is chosen by its name (or
 * "*", every device), by its kind, or by any one of its tags.
 */
int
window_matches(const struct window *w, const char *name, const char *kind,
    const struct conf_strings *tags)
{
	size_t i;

	if (conf_strings_has(&w->devices, "*") || conf_strings_has(&w->devices, name) ||
	    conf_strings_has(&w->kinds, kind))
		return 1;
	for (i = 0; tags != NULL && i < tags->n; i++)
		if (conf_strings_has(&w->tags, tags->v[i]))
			return 1;
	return 0;
}

/* The first of n windows that is open at now and chooses the device, or NULL. */
const struct window *
window_covers(
    struct window *const *ws, size_t n, const struct device_conf *dc, int64_t now)
{
	const char *kind = dc->kind >= 0 ? device_kinds[dc->kind] : NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (window_matches(ws[i], dc->name, kind, &dc->tags) &&
		    window_active(ws[i], now))
			return ws[i];
	return NULL;
}

/*
 * What to send for one problem of a covered device when its window ends.
 * During the window nothing was sent.  A problem still present is notified
 * now, unless people were told about it before the window began and have
 * not heard that it recovered: they know, and one message per problem is
 * enough.  A problem that vanished during the window is not notified at
 * all, except that people who were told about it before the window hear
 * that it recovered, so that no page is left hanging.
 */
enum window_notify
window_end_notify(int present, int notified_before)
{
	if (present)
		return notified_before ? WN_NONE : WN_PROBLEM;
	return notified_before ? WN_RECOVERY : WN_NONE;
}

void
window_free(struct window *w)
{
	if (w == NULL)
		return;
	free(w->id);
	free(w->zone);
	conf_strings_free(&w->devices);
	conf_strings_free(&w->kinds);
	conf_strings_free(&w->tags);
	free(w->comment);
	free(w->created_by);
	free(w);
}

/* Read exactly n digits (n > 0) or, with n == 0, one or two. */
static int
read_digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0, i, max = n == 0 ? 2 : n;

	for (i = 0; i < max && isdigit((unsigned char)p[i]); i++)
		v = v * 10 + (p[i] - '0');
	if (i == 0 || (n > 0 && i != n))
		return -1;
	*pp = p + i;
	*out = v;
	return 0;
}

/* "HH:MM" (or "H:MM") to minutes after midnight; -1 if it is not a time of day. */
static int
parse_clock(const char *s)
{
	int h, m;

	if (read_digits(&s, 0, &h) == -1 || *s++ != ':' || read_digits(&s, 2, &m) == -1 ||
	    *s != '\0' || h > 23 || m > 59)
		return -1;
	return h * 60 + m;
}

/*
 * A point in time: "now", or "YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]]" on the
 * process zone's wall clock, or with "Z" or "+HH:MM" / "-HH:MM" after it.
 */
static int
parse_instant(const char *s, int64_t now, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, oh, om, sign;
	const char *p = s;
	int64_t local;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (read_digits(&p, 4, &y) == -1 || *p++ != '-' ||
	    read_digits(&p, 2, &mo) == -1 || *p++ != '-' || read_digits(&p, 2, &d) == -1)
		return -1;
	/* Before 1970 time_format() writes no date, so the JSON would not read back. */
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p == ' ' || *p == 'T') {
		p++;
		if (read_digits(&p, 2, &h) == -1 || *p++ != ':' ||
		    read_digits(&p, 2, &mi) == -1 || h > 23 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			if (read_digits(&p, 2, &sec) == -1 || sec > 59)
				return -1;
			if (*p == '.') {
				int scale = 100;
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				for (; isdigit((unsigned char)*p); p++, scale /= 10)
					ms += (*p - '0') * scale;
			}
		}
	}
	local = days_from_civil(y, mo, d) * DAY_S + h * 3600 + mi * 60 + sec;
	if (*p == '\0') {
		*out = zone_resolve(local) * 1000 + ms;
		return 0;
	}
	if (strcmp(p, "Z") == 0) {
		*out = local * 1000 + ms;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (read_digits(&p, 2, &oh) == -1 || *p++ != ':' ||
	    read_digits(&p, 2, &om) == -1 || *p != '\0' || oh > 23 || om > 59)
		return -1;
	*out = (local - sign * (oh * 3600 + om * 60)) * 1000 + ms;
	return 0;
}

/* A day name, three letters or in full, any case; -1 if it is none. */
static int
parse_day(const char *s, size_t len)
{
	int i;

	for (i = 0; i < 7; i++)
		if ((len == 3 && strncasecmp(s, day_names[i], 3) == 0) ||
		    (len == strlen(day_long[i]) && strncasecmp(s, day_long[i], len) == 0))
			return i;
	return -1;
}

/*
 * Days of the week: "sun", "sat,sun", "mon-fri", "fri-mon" (through
 * Sunday), as a bit set; 0 with the bad part in err.
 */
static unsigned int
parse_days(const char *every, const char *s, char *err, size_t errlen)
{
	unsigned int set = 0;

	while (*s != '\0') {
		size_t len = strcspn(s, ","), dash;
		int a, b;

		dash = strcspn(s, "-");
		if (dash < len) {
			a = parse_day(s, dash);
			b = parse_day(s + dash + 1, len - dash - 1);
		} else
			a = b = parse_day(s, len);
		if (a == -1 || b == -1) {
			snprintf(err, errlen, "every \"%s\": unknown day \"%.*s\"", every,
			    (int)len, s);
			return 0;
		}
		for (;; a = (a + 1) % 7) {
			set |= 1u << a;
			if (a == b)
				break;
		}
		s += len;
		if (*s == ',' && *++s == '\0') {
			snprintf(err, errlen,
			    "every \"%s\": a day is missing after \",\"", every);
			return 0;
		}
	}
	return set;
}

/* Read "every" into w (repeat, days, start time); -1 with the bad part in err. */
static int
parse_every(struct window *w, const char *every, char *err, size_t errlen)
{
	char *copy = xstrdup(every), *word[4], *save = NULL, *t;
	int n = 0, r = -1, first;
	const char *clock;

	for (t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (n == 4)
			goto usage;
		word[n++] = t;
	}
	if (n < 2)
		goto usage;
	first = 0;
	if (strcasecmp(word[0], "daily") == 0) {
		if (n != 2)
			goto usage;
		w->repeat = WR_DAILY;
	} else if (strcasecmp(word[0], "monthly") == 0) {
		const char *dp = word[1];
		if (n != 3)
			goto usage;
		w->repeat = WR_MONTHLY;
		if (strcasecmp(word[1], "last") == 0)
			w->mday = WINDOW_LAST_DAY;
		else if (read_digits(&dp, 0, &w->mday) == -1 || *dp != '\0' ||
		         w->mday < 1 || w->mday > 31) {
			snprintf(err, errlen,
			    "every \"%s\": bad day of month \"%s\" (want 1 to 31 or "
			    "last)",
			    every, word[1]);
			goto out;
		}
	} else {
		if (strcasecmp(word[0], "weekly") == 0)
			first = 1;
		if (n != first + 2)
			goto usage;
		w->repeat = WR_WEEKLY;
		if ((w->weekdays = parse_days(every, word[first], err, errlen)) == 0)
			goto out;
	}
	clock = word[n - 1];
	if ((w->start_min = parse_clock(clock)) == -1) {
		snprintf(err, errlen,
		    "every \"%s\": bad time of day \"%s\" (want HH:MM, 00:00 to 23:59)",
		    every, clock);
		goto out;
	}
	r = 0;
	goto out;
usage:
	snprintf(err, errlen,
	    "every \"%s\": want \"daily HH:MM\", \"DAYS HH:MM\" (DAYS like sun, "
	    "sat,sun or mon-fri) or \"monthly DAY HH:MM\" (DAY 1 to 31 or last)",
	    every);
out:
	free(copy);
	return r;
}

/*
 * The longest stretch, in days, from one chosen weekday to the next.  A
 * weekly window at least that long would never close, and its next change
 * could not be found.
 */
static int
weekly_gap(const struct window *w)
{
	int d, k, gap = 0;

	for (d = 0; d < 7; d++) {
		if (!(w->weekdays >> d & 1))
			continue;
		for (k = 1; k < 7 && !(w->weekdays >> ((d + k) % 7) & 1); k++)
			;
		if (k > gap)
			gap = k;
	}
	return gap;
}

/* Read "for" for a recurring window: longer than 0, shorter than its period. */
static int
parse_for(struct window *w, const char *dur, char *err, size_t errlen)
{
	static const struct {
		int64_t ms;
		const char *text;
	} period[] = {
		[WR_DAILY] = { DAY_MS, "a daily window must be shorter than 1d" },
		[WR_WEEKLY] = { 7 * DAY_MS, "a weekly window must be shorter than 7d" },
		[WR_MONTHLY] = { 28 * DAY_MS,
		    "a monthly window must be shorter than 28d" },
	};

	if (duration_parse(dur, &w->duration_ms) == -1) {
		snprintf(err, errlen,
		    "for \"%s\": bad duration (want e.g. 30min, 2h, 1h30min)", dur);
		return -1;
	}
	if (w->duration_ms < 1000) {
		snprintf(err, errlen, "for \"%s\": must be at least 1s", dur);
		return -1;
	}
	/* Whole seconds: windows are planned in minutes, and a fraction of a
	 * second would only make the text odd ("6.22min" shows as "373.2s"). */
	w->duration_ms -= w->duration_ms % 1000;
	if (w->repeat != WR_ONCE && w->duration_ms >= period[w->repeat].ms) {
		snprintf(err, errlen, "for \"%s\": %s", dur, period[w->repeat].text);
		return -1;
	}
	if (w->repeat == WR_WEEKLY && w->duration_ms >= weekly_gap(w) * DAY_MS) {
		snprintf(err, errlen,
		    "for \"%s\": each window would reach the next, so it would never "
		    "close",
		    dur);
		return -1;
	}
	return 0;
}

/* Read start and end (or start and for) of a one-off window; call in its zone. */
static int
parse_once(
    struct window *w, const struct window_text *t, int64_t now, char *err, size_t errlen)
{
	if (t->end == NULL && t->duration == NULL) {
		snprintf(err, errlen, "start \"%s\": give end or for as well", t->start);
		return -1;
	}
	if (t->end != NULL && t->duration != NULL) {
		snprintf(err, errlen, "give end or for, not both");
		return -1;
	}
	if (parse_instant(t->start, now, &w->start_ms) == -1) {
		snprintf(err, errlen,
		    "start \"%s\": bad time (want YYYY-MM-DD HH:MM, on the %s clock "
		    "unless an offset like +09:00 follows, or now)",
		    t->start, w->zone);
		return -1;
	}
	if (t->duration != NULL) {
		if (parse_for(w, t->duration, err, errlen) == -1)
			return -1;
		w->end_ms = w->start_ms + w->duration_ms;
		w->duration_ms = 0;
	} else {
		if (parse_instant(t->end, now, &w->end_ms) == -1) {
			snprintf(err, errlen,
			    "end \"%s\": bad time (want YYYY-MM-DD HH:MM, on the %s "
			    "clock "
			    "unless an offset like +09:00 follows, or now)",
			    t->end, w->zone);
			return -1;
		}
		if (w->end_ms <= w->start_ms) {
			snprintf(err, errlen, "end \"%s\": not after start \"%s\"",
			    t->end, t->start);
			return -1;
		}
	}
	/* Years have four digits, in the text we read and in the JSON we write. */
	if (w->end_ms >= days_from_civil(9999, 1, 1) * DAY_MS) {
		snprintf(err, errlen, "%s \"%s\": too far in the future",
		    t->end != NULL ? "end" : "for",
		    t->end != NULL ? t->end : t->duration);
		return -1;
	}
	if (w->end_ms <= now) {
		snprintf(err, errlen, "%s \"%s\": the window would be over already",
		    t->end != NULL ? "end" : "for",
		    t->end != NULL ? t->end : t->duration);
		return -1;
	}
	return 0;
}

/*
 * A new window from the text of its times, in zone (the site's); now (ms)
 * reads "now" and refuses a window that is over.  It chooses no device yet
 * (window_add_target) and has no id.  NULL with the bad part in err.
 */
struct window *
window_parse(
    const struct window_text *t, const char *zone, int64_t now, char *err, size_t errlen)
{
	struct window *w = xcalloc(1, sizeof(*w));
	struct zone_save zs;
	int r;

	if (zone == NULL || !tz_valid(zone)) {
		snprintf(err, errlen, "zone \"%s\": unknown time zone",
		    zone != NULL ? zone : "");
		goto bad;
	}
	w->zone = xstrdup(zone);
	if (t->start != NULL && t->every != NULL) {
		snprintf(
		    err, errlen, "give start (one-off) or every (recurring), not both");
		goto bad;
	}
	if (t->every != NULL) {
		if (t->end != NULL) {
			snprintf(err, errlen,
			    "every \"%s\": give for, how long each window lasts, not end",
			    t->every);
			goto bad;
		}
		if (parse_every(w, t->every, err, errlen) == -1)
			goto bad;
		if (t->duration == NULL) {
			snprintf(err, errlen,
			    "every \"%s\": give for as well, how long each window lasts",
			    t->every);
			goto bad;
		}
		if (parse_for(w, t->duration, err, errlen) == -1)
			goto bad;
		return w;
	}
	if (t->start == NULL) {
		snprintf(err, errlen, "give start (one-off) or every (recurring)");
		goto bad;
	}
	w->repeat = WR_ONCE;
	zone_enter(w->zone, &zs);
	r = parse_once(w, t, now, err, errlen);
	zone_leave(&zs);
	if (r == 0)
		return w;
bad:
	window_free(w);
	return NULL;
}

/*
 * Choose devices by name ("*": every device), by kind (one of device_kinds)
 * or by tag.  Returns -1 with the bad value in err.
 */
int
window_add_target(
    struct window *w, enum window_target what, const char *s, char *err, size_t errlen)
{
	static const char *const names[] = { "device", "kind", "tag" };
	const char *p;
	size_t i;

	if (s[0] == '\0' || strlen(s) > TEXT_MAX) {
		snprintf(err, errlen, "%s \"%s\": want 1 to %d characters", names[what],
		    s, TEXT_MAX);
		return -1;
	}
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"') {
			snprintf(err, errlen,
			    "%s \"%s\": no spaces, quotes or control "
			    "characters",
			    names[what], s);
			return -1;
		}
	switch (what) {
	case WT_DEVICE:
		conf_strings_add(&w->devices, s);
		break;
	case WT_KIND:
		for (i = 0; device_kinds[i] != NULL && strcmp(device_kinds[i], s) != 0;
		     i++)
			;
		if (device_kinds[i] == NULL) {
			snprintf(err, errlen,
			    "kind \"%s\": not a device kind (ups, pdu, switch, router, "
			    "link, "
			    "sensor, host, other)",
			    s);
			return -1;
		}
		conf_strings_add(&w->kinds, s);
		break;
	case WT_TAG:
		conf_strings_add(&w->tags, s);
		break;
	}
	return 0;
}

/* Is the window complete: does it choose at least one device? */
int
window_check(const struct window *w, char *err, size_t errlen)
{
	if (w->devices.n == 0 && w->kinds.n == 0 && w->tags.n == 0) {
		snprintf(err, errlen,
		    "choose devices: at least one device, kind or tag "
		    "(device \"*\" for every device)");
		return -1;
	}
	return 0;
}

/* A recurring window's "every" text as window_parse reads it ("mon-fri 22:00"). */
char *
window_every_format(const struct window *w, char *buf, size_t len)
{
	char when[96] = "";
	size_t off = 0;
	int i, j;

	switch (w->repeat) {
	case WR_ONCE:
		strlcpy_s(buf, "", len);
		return buf;
	case WR_DAILY:
		strlcpy_s(when, "daily", sizeof(when));
		break;
	case WR_MONTHLY:
		if (w->mday == WINDOW_LAST_DAY)
			strlcpy_s(when, "monthly last", sizeof(when));
		else
			snprintf(when, sizeof(when), "monthly %d", w->mday);
		break;
	case WR_WEEKLY:
		/* Monday first, so that the weekend reads "sat,sun"; runs of three
		 * days or more as ranges ("mon-fri"). */
		for (i = 0; i < 7; i = j) {
			if (!(w->weekdays >> ((i + 1) % 7) & 1)) {
				j = i + 1;
				continue;
			}
			for (j = i; j < 7 && (w->weekdays >> ((j + 1) % 7) & 1); j++)
				;
			off += (size_t)snprintf(when + off, sizeof(when) - off, "%s%s",
			    off == 0 ? "" : ",", day_names[(i + 1) % 7]);
			if (j - i >= 2)
				off += (size_t)snprintf(when + off, sizeof(when) - off,
				    "%s%s", j - i >= 3 ? "-" : ",", day_names[j % 7]);
		}
		break;
	}
	snprintf(buf, len, "%s %02d:%02d", when, w->start_min / 60, w->start_min % 60);
	return buf;
}

/* An instant as ISO 8601 on the window's wall clock, with its offset. */
char *
window_time_format(const struct window *w, int64_t ms, char *buf, size_t len)
{
	struct zone_save zs;

	zone_enter(w->zone, &zs);
	time_format(ms, buf, len);
	zone_leave(&zs);
	return buf;
}

/* One line for people: "sun 02:00 for 2h (Asia/Tokyo)". */
char *
window_describe(const struct window *w, char *buf, size_t len)
{
	char a[64], b[64];

	if (w->repeat == WR_ONCE)
		snprintf(buf, len, "%s to %s (%s)",
		    window_time_format(w, w->start_ms, a, 64),
		    window_time_format(w, w->end_ms, b, 64), w->zone);
	else
		snprintf(buf, len, "%s for %s (%s)", window_every_format(w, a, 64),
		    duration_format(w->duration_ms, b, 64), w->zone);
	return buf;
}

/*
 * The window as JSON, for the state file and for `sonae --json`: times as
 * text on the window's wall clock with their offset (exact to the ms), a
 * recurring window as the "every" and "for" it was made from.
 */
json_t *
window_to_json(const struct window *w)
{
	char a[96];
	json_t *o = json_object();

	json_object_set_new(o, "id", w->id != NULL ? json_string(w->id) : json_null());
	json_object_set_new(o, "repeat", json_string(repeat_names[w->repeat]));
	json_object_set_new(o, "zone", json_string(w->zone));
	if (w->repeat == WR_ONCE) {
		json_object_set_new(
		    o, "start", json_string(window_time_format(w, w->start_ms, a, 96)));
		json_object_set_new(
		    o, "end", json_string(window_time_format(w, w->end_ms, a, 96)));
	} else {
		json_object_set_new(
		    o, "every", json_string(window_every_format(w, a, 96)));
		json_object_set_new(
		    o, "for", json_string(duration_format(w->duration_ms, a, 96)));
	}
	json_object_set_new(o, "devices", conf_strings_json(&w->devices));
	json_object_set_new(o, "kinds", conf_strings_json(&w->kinds));
	json_object_set_new(o, "tags", conf_strings_json(&w->tags));
	json_object_set_new(
	    o, "comment", w->comment != NULL ? json_string(w->comment) : json_null());
	json_object_set_new(o, "created_by",
	    w->created_by != NULL ? json_string(w->created_by) : json_null());
	json_object_set_new(o, "created",
	    w->created_ms > 0 ? json_string(window_time_format(w, w->created_ms, a, 96))
	                      : json_null());
	return o;
}

/* A string member, NULL if absent or null; -1 if it is there but not a string. */
static int
json_text(const json_t *o, const char *key, const char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

/*
 * A window from window_to_json()'s form, checked as strictly as typed text
 * (but an ended one-off window is accepted: the state file may be old).
 * NULL with "window ID: what" in err.
 */
struct window *
window_from_json(const json_t *o, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		enum window_target what;
	} lists[] = { { "devices", WT_DEVICE }, { "kinds", WT_KIND },
		{ "tags", WT_TAG } };
	struct window_text t = { NULL, NULL, NULL, NULL };
	const char *id, *zone, *comment, *by, *created;
	const struct {
		const char *key;
		const char **out;
	} texts[] = { { "zone", &zone }, { "start", &t.start }, { "end", &t.end },
		{ "every", &t.every }, { "for", &t.duration }, { "comment", &comment },
		{ "created_by", &by }, { "created", &created } };
	struct window *w = NULL;
	char why[384];
	size_t i, j;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "window: not a JSON object");
		return NULL;
	}
	if (json_text(o, "id", &id) == -1 || id == NULL) {
		snprintf(err, errlen, "window: no id");
		return NULL;
	}
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (json_text(o, texts[i].key, texts[i].out) == -1) {
			snprintf(why, sizeof(why), "%s: not text", texts[i].key);
			goto bad;
		}
	if ((t.start != NULL && strcmp(t.start, "now") == 0) ||
	    (t.end != NULL && strcmp(t.end, "now") == 0)) {
		snprintf(why, sizeof(why), "\"now\" is not a time in a stored window");
		goto bad;
	}
	/* now = INT64_MIN: a window that ended before a restart still loads. */
	if ((w = window_parse(&t, zone, INT64_MIN, why, sizeof(why))) == NULL)
		goto bad;
	w->id = xstrdup(id);
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const json_t *a = json_object_get(o, lists[i].key), *v;

		if (a != NULL && !json_is_array(a)) {
			snprintf(why, sizeof(why), "%s: not a list", lists[i].key);
			goto bad;
		}
		json_array_foreach(a, j, v)
		{
			if (!json_is_string(v)) {
				snprintf(why, sizeof(why), "%s: not a list of text",
				    lists[i].key);
				goto bad;
			}
			if (window_add_target(w, lists[i].what, json_string_value(v), why,
			        sizeof(why)) == -1)
				goto bad;
		}
	}
	if (window_check(w, why, sizeof(why)) == -1)
		goto bad;
	if (created != NULL) {
		struct zone_save zs;
		int r;

		zone_enter(w->zone, &zs);
		r = parse_instant(created, 0, &w->created_ms);
		zone_leave(&zs);
		if (r == -1 || strcmp(created, "now") == 0) {
			snprintf(why, sizeof(why), "created \"%s\": bad time", created);
			goto bad;
		}
	}
	w->comment = comment != NULL ? xstrdup(comment) : NULL;
	w->created_by = by != NULL ? xstrdup(by) : NULL;
	return w;
bad:
	snprintf(err, errlen, "window %s: %s", id, why);
	window_free(w);
	return NULL;
}
