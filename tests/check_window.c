/*
 * window.c: maintenance windows — parsing, open or closed at an instant, the
 * next change, across daylight-saving changes, JSON, choosing devices.
 *
 * The process zone is the demo site's, Asia/Tokyo, set with tz_apply(); the
 * windows in other zones must leave it as they found it.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define SITE "Asia/Tokyo"

/* An instant written in UTC, "2026-03-29 01:00", as ms; NULL is -1 (never). */
static int64_t
utc(const char *s)
{
	struct tm tm;
	const char *end;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	ck_assert_msg(end != NULL && *end == '\0', "test instant \"%s\"", s);
	return (int64_t)timegm(&tm) * 1000;
}

/* ms as UTC text for messages, in one of two rotating buffers. */
static const char *
utc_text(int64_t ms)
{
	static char buf[2][32];
	static int k;
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	k = !k;
	if (ms < 0)
		return "never";
	gmtime_r(&t, &tm);
	strftime(buf[k], sizeof(buf[k]), "%Y-%m-%d %H:%M:%S", &tm);
	return buf[k];
}

static void
site_zone(void)
{
	ck_assert_int_eq(tz_apply(SITE), 0);
}

/* The process zone is still the site's, and time_format still uses it. */
static void
assert_site_zone(void)
{
	const char *tz = getenv("TZ");
	char buf[64];

	ck_assert_ptr_nonnull(tz);
	ck_assert_str_eq(tz, SITE);
	ck_assert_str_eq(time_format(utc("2026-11-25 00:00"), buf, sizeof(buf)),
	    "2026-11-25T09:00:00.000+09:00");
}

static struct window *
make(const char *zone, const char *start, const char *end, const char *every,
    const char *dur, int64_t now)
{
	struct window_text t = { start, end, every, dur };
	struct window *w;
	char err[512] = "";

	w = window_parse(&t, zone, now, err, sizeof(err));
	ck_assert_msg(w != NULL, "start %s end %s every %s for %s: %s",
	    start ? start : "-", end ? end : "-", every ? every : "-", dur ? dur : "-",
	    err);
	return w;
}

/* Text in, the window read back as one line. */
static const struct {
	const char *zone, *start, *end, *every, *dur, *now;
	const char *describe;
} parse_good[] = {
	{ SITE, NULL, NULL, "sun 02:00", "2h", NULL, "sun 02:00 for 2h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "daily 12:00", "30m", NULL,
	    "daily 12:00 for 30min (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "monthly 1 22:00", "3h", NULL,
	    "monthly 1 22:00 for 3h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "monthly last 22:00", "1h30min", NULL,
	    "monthly last 22:00 for 1h30min (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "SAT,Sun 2:00", "90min", NULL,
	    "sat,sun 02:00 for 1h30min (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "weekly sunday 02:00", "2h", NULL,
	    "sun 02:00 for 2h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "mon-fri 22:00", "1h", NULL,
	    "mon-fri 22:00 for 1h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "wed,mon,tue 22:00", "1h", NULL,
	    "mon-wed 22:00 for 1h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "fri-mon 23:00", "1h", NULL,
	    "mon,fri-sun 23:00 for 1h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "mon,wed,fri 00:00", "2d23h", NULL,
	    "mon,wed,fri 00:00 for 2d23h (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "daily 03:00", "6.22m", NULL,
	    "daily 03:00 for 6min13s (Asia/Tokyo)" },
	{ SITE, NULL, NULL, "daily  23:59", "23h59min", NULL,
	    "daily 23:59 for 23h59min (Asia/Tokyo)" },
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL, "2026-11-25 00:00",
	    "2026-12-01T22:00:00.000+09:00 to 2026-12-02T02:00:00.000+09:00 "
	    "(Asia/Tokyo)" },
	{ SITE, "2026-12-01T22:00", NULL, NULL, "4h", "2026-11-25 00:00",
	    "2026-12-01T22:00:00.000+09:00 to 2026-12-02T02:00:00.000+09:00 "
	    "(Asia/Tokyo)" },
	{ SITE, "2026-12-01T13:00Z", "2026-12-01T22:00:30.5+05:00", NULL, NULL,
	    "2026-11-25 00:00",
	    "2026-12-01T22:00:00.000+09:00 to 2026-12-02T02:00:30.500+09:00 "
	    "(Asia/Tokyo)" },
	{ SITE, "now", NULL, NULL, "2h", "2026-11-25 00:00",
	    "2026-11-25T09:00:00.000+09:00 to 2026-11-25T11:00:00.000+09:00 "
	    "(Asia/Tokyo)" },
	{ SITE, "2026-11-25", NULL, NULL, "1d", "2026-11-25 00:00",
	    "2026-11-25T00:00:00.000+09:00 to 2026-11-26T00:00:00.000+09:00 "
	    "(Asia/Tokyo)" },
	/* 02:30 does not exist on 8 March in New York: from 03:00, for 1 h. */
	{ "America/New_York", "2026-03-08 02:30", NULL, NULL, "1h", "2026-01-01 00:00",
	    "2026-03-08T03:00:00.000-04:00 to 2026-03-08T04:00:00.000-04:00 "
	    "(America/New_York)" },
	/* 01:30 happens twice on 1 November: the first, in EDT; 1 h is 1 h. */
	{ "America/New_York", "2026-11-01 01:30", NULL, NULL, "1h", "2026-01-01 00:00",
	    "2026-11-01T01:30:00.000-04:00 to 2026-11-01T01:30:00.000-05:00 "
	    "(America/New_York)" },
	/* An explicit offset chooses the second 01:30. */
	{ "America/New_York", "2026-11-01 01:30-05:00", "2026-11-01 02:30", NULL, NULL,
	    "2026-01-01 00:00",
	    "2026-11-01T01:30:00.000-05:00 to 2026-11-01T02:30:00.000-05:00 "
	    "(America/New_York)" },
	{ "Europe/Berlin", "2026-03-29 02:00", "2026-03-29 04:00", NULL, NULL,
	    "2026-01-01 00:00",
	    "2026-03-29T03:00:00.000+02:00 to 2026-03-29T04:00:00.000+02:00 "
	    "(Europe/Berlin)" },
	{ "UTC", "2026-12-01 22:00", NULL, NULL, "1h", "2026-01-01 00:00",
	    "2026-12-01T22:00:00.000Z to 2026-12-01T23:00:00.000Z (UTC)" },
};

START_TEST(window_parse_good)
{
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(parse_good); i++) {
		struct window *w =
		    make(parse_good[i].zone, parse_good[i].start, parse_good[i].end,
		        parse_good[i].every, parse_good[i].dur, utc(parse_good[i].now));
		char buf[256];

		ck_assert_msg(strcmp(window_describe(w, buf, sizeof(buf)),
		                  parse_good[i].describe) == 0,
		    "case %zu: \"%s\", expected \"%s\"", i, buf, parse_good[i].describe);
		window_free(w);
		assert_site_zone();
	}
}
END_TEST

/* What an operator may get wrong, and the exact message that says where. */
static const struct {
	const char *zone, *start, *end, *every, *dur;
	const char *err;
} parse_bad[] = {
	{ "Mars/Olympus_Mons", NULL, NULL, "sun 02:00", "2h",
	    "zone \"Mars/Olympus_Mons\": unknown time zone" },
	{ NULL, NULL, NULL, "sun 02:00", "2h", "zone \"\": unknown time zone" },
	{ SITE, NULL, NULL, NULL, NULL, "give start (one-off) or every (recurring)" },
	{ SITE, NULL, "2026-12-02 02:00", NULL, "2h",
	    "give start (one-off) or every (recurring)" },
	{ SITE, "2026-12-01 22:00", NULL, "sun 02:00", "2h",
	    "give start (one-off) or every (recurring), not both" },
	{ SITE, NULL, NULL, "sun 02:00", NULL,
	    "every \"sun 02:00\": give for as well, how long each window lasts" },
	{ SITE, NULL, "2026-12-02 02:00", "sun 02:00", NULL,
	    "every \"sun 02:00\": give for, how long each window lasts, not end" },
	{ SITE, NULL, NULL, "sum 02:00", "2h",
	    "every \"sum 02:00\": unknown day \"sum\"" },
	{ SITE, NULL, NULL, "mon-fry 02:00", "2h",
	    "every \"mon-fry 02:00\": unknown day \"mon-fry\"" },
	{ SITE, NULL, NULL, "sat,,sun 02:00", "2h",
	    "every \"sat,,sun 02:00\": unknown day \"\"" },
	{ SITE, NULL, NULL, "sat, 02:00", "2h",
	    "every \"sat, 02:00\": a day is missing after \",\"" },
	{ SITE, NULL, NULL, "sun 2:00x", "2h",
	    "every \"sun 2:00x\": bad time of day \"2:00x\" (want HH:MM, 00:00 to "
	    "23:59)" },
	{ SITE, NULL, NULL, "daily 24:00", "2h",
	    "every \"daily 24:00\": bad time of day \"24:00\" (want HH:MM, 00:00 to "
	    "23:59)" },
	{ SITE, NULL, NULL, "daily 12:60", "2h",
	    "every \"daily 12:60\": bad time of day \"12:60\" (want HH:MM, 00:00 to "
	    "23:59)" },
	{ SITE, NULL, NULL, "monthly 32 22:00", "3h",
	    "every \"monthly 32 22:00\": bad day of month \"32\" (want 1 to 31 or "
	    "last)" },
	{ SITE, NULL, NULL, "monthly 0 22:00", "3h",
	    "every \"monthly 0 22:00\": bad day of month \"0\" (want 1 to 31 or last)" },
	{ SITE, NULL, NULL, "monthly 22:00", "3h",
	    "every \"monthly 22:00\": want \"daily HH:MM\", \"DAYS HH:MM\" (DAYS like "
	    "sun, sat,sun or mon-fri) or \"monthly DAY HH:MM\" (DAY 1 to 31 or last)" },
	{ SITE, NULL, NULL, "sunday", "2h",
	    "every \"sunday\": want \"daily HH:MM\", \"DAYS HH:MM\" (DAYS like sun, "
	    "sat,sun or mon-fri) or \"monthly DAY HH:MM\" (DAY 1 to 31 or last)" },
	{ SITE, NULL, NULL, "daily sun 02:00", "2h",
	    "every \"daily sun 02:00\": want \"daily HH:MM\", \"DAYS HH:MM\" (DAYS like "
	    "sun, sat,sun or mon-fri) or \"monthly DAY HH:MM\" (DAY 1 to 31 or last)" },
	{ SITE, NULL, NULL, "sun 02:00", "2x",
	    "for \"2x\": bad duration (want e.g. 30min, 2h, 1h30min)" },
	{ SITE, NULL, NULL, "sun 02:00", "0", "for \"0\": must be at least 1s" },
	{ SITE, NULL, NULL, "daily 12:00", "24h",
	    "for \"24h\": a daily window must be shorter than 1d" },
	{ SITE, NULL, NULL, "sun 12:00", "7d",
	    "for \"7d\": a weekly window must be shorter than 7d" },
	{ SITE, NULL, NULL, "monthly 1 12:00", "28d",
	    "for \"28d\": a monthly window must be shorter than 28d" },
	{ SITE, NULL, NULL, "mon,thu 00:00", "4d",
	    "for \"4d\": each window would reach the next, so it would never close" },
	{ SITE, NULL, NULL, "mon-sun 00:00", "1d",
	    "for \"1d\": each window would reach the next, so it would never close" },
	{ SITE, "2026-12-01 22:00", NULL, NULL, NULL,
	    "start \"2026-12-01 22:00\": give end or for as well" },
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, "4h",
	    "give end or for, not both" },
	{ SITE, "2026-13-01 22:00", NULL, NULL, "4h",
	    "start \"2026-13-01 22:00\": bad time (want YYYY-MM-DD HH:MM, on the "
	    "Asia/Tokyo clock unless an offset like +09:00 follows, or now)" },
	{ SITE, "2026-02-29 22:00", NULL, NULL, "4h",
	    "start \"2026-02-29 22:00\": bad time (want YYYY-MM-DD HH:MM, on the "
	    "Asia/Tokyo clock unless an offset like +09:00 follows, or now)" },
	{ SITE, "2026-12-01 22:00", "tomorrow", NULL, NULL,
	    "end \"tomorrow\": bad time (want YYYY-MM-DD HH:MM, on the Asia/Tokyo "
	    "clock unless an offset like +09:00 follows, or now)" },
	{ SITE, "2026-12-01 22:00 JST", NULL, NULL, "1h",
	    "start \"2026-12-01 22:00 JST\": bad time (want YYYY-MM-DD HH:MM, on the "
	    "Asia/Tokyo clock unless an offset like +09:00 follows, or now)" },
	{ SITE, "2h", NULL, NULL, "1h",
	    "start \"2h\": bad time (want YYYY-MM-DD HH:MM, on the Asia/Tokyo clock "
	    "unless an offset like +09:00 follows, or now)" },
	{ SITE, "2026-12-01 22:00", "2026-12-01 22:00", NULL, NULL,
	    "end \"2026-12-01 22:00\": not after start \"2026-12-01 22:00\"" },
	{ SITE, "2026-12-01 22:00", "2026-12-01T13:00Z", NULL, NULL,
	    "end \"2026-12-01T13:00Z\": not after start \"2026-12-01 22:00\"" },
	{ SITE, "2026-11-01 22:00", "2026-11-02 02:00", NULL, NULL,
	    "end \"2026-11-02 02:00\": the window would be over already" },
	{ SITE, "2026-11-01 22:00", NULL, NULL, "2h",
	    "for \"2h\": the window would be over already" },
	{ SITE, "1969-12-31 22:00", NULL, NULL, "1h",
	    "start \"1969-12-31 22:00\": bad time (want YYYY-MM-DD HH:MM, on the "
	    "Asia/Tokyo clock unless an offset like +09:00 follows, or now)" },
	{ SITE, "2026-12-01 22:00", "9999-01-02 00:00", NULL, NULL,
	    "end \"9999-01-02 00:00\": too far in the future" },
	{ SITE, "now", NULL, NULL, "4000000d",
	    "for \"4000000d\": too far in the future" },
	{ SITE, "now", NULL, NULL, "-1h",
	    "for \"-1h\": bad duration (want e.g. 30min, 2h, 1h30min)" },
};

START_TEST(window_parse_bad)
{
	const int64_t now = utc("2026-11-25 00:00");
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(parse_bad); i++) {
		struct window_text t = { parse_bad[i].start, parse_bad[i].end,
			parse_bad[i].every, parse_bad[i].dur };
		char err[512] = "";
		struct window *w =
		    window_parse(&t, parse_bad[i].zone, now, err, sizeof(err));

		ck_assert_msg(w == NULL, "case %zu accepted", i);
		ck_assert_msg(strcmp(err, parse_bad[i].err) == 0,
		    "case %zu: \"%s\", expected \"%s\"", i, err, parse_bad[i].err);
		assert_site_zone();
	}
}
END_TEST

/*
 * Open or closed at now, and the next change.  Instants are UTC; the
 * comments give the wall clock of the window's zone.
 */
static const struct {
	const char *zone, *start, *end, *every, *dur;
	const char *now;
	int active;
	const char *next; /* NULL: never changes again */
} when[] = {
	/* One-off, Tokyo: 2026-12-01 22:00 to 2026-12-02 02:00 JST. */
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL, "2026-11-25 00:00", 0,
	    "2026-12-01 13:00" },
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL, "2026-12-01 13:00", 1,
	    "2026-12-01 17:00" },
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL, "2026-12-01 16:59", 1,
	    "2026-12-01 17:00" },
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL, "2026-12-01 17:00", 0,
	    NULL },
	{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL, "2027-06-01 00:00", 0,
	    NULL },

	/* Tokyo, no DST: every Sunday 02:00 JST for 2 h (Sat 17:00-19:00 UTC). */
	{ SITE, NULL, NULL, "sun 02:00", "2h", "2026-11-25 00:00", 0,
	    "2026-11-28 17:00" },
	{ SITE, NULL, NULL, "sun 02:00", "2h", "2026-11-28 17:00", 1,
	    "2026-11-28 19:00" },
	{ SITE, NULL, NULL, "sun 02:00", "2h", "2026-11-28 19:00", 0,
	    "2026-12-05 17:00" },
	/* Daily 12:00 JST for 30 min. */
	{ SITE, NULL, NULL, "daily 12:00", "30m", "2026-11-25 02:00", 0,
	    "2026-11-25 03:00" },
	{ SITE, NULL, NULL, "daily 12:00", "30m", "2026-11-25 03:10", 1,
	    "2026-11-25 03:30" },
	{ SITE, NULL, NULL, "daily 12:00", "30m", "2026-11-25 03:30", 0,
	    "2026-11-26 03:00" },
	/* The 1st of each month 22:00 JST for 3 h. */
	{ SITE, NULL, NULL, "monthly 1 22:00", "3h", "2026-11-25 00:00", 0,
	    "2026-12-01 13:00" },
	{ SITE, NULL, NULL, "monthly 1 22:00", "3h", "2026-12-01 15:00", 1,
	    "2026-12-01 16:00" },
	{ SITE, NULL, NULL, "monthly 1 22:00", "3h", "2026-12-01 16:00", 0,
	    "2027-01-01 13:00" },
	/* The 31st skips months without one; "last" does not. */
	{ SITE, NULL, NULL, "monthly 31 22:00", "1h", "2026-02-01 00:00", 0,
	    "2026-03-31 13:00" },
	{ SITE, NULL, NULL, "monthly last 22:00", "1h", "2026-02-01 00:00", 0,
	    "2026-02-28 13:00" },
	{ SITE, NULL, NULL, "monthly last 22:00", "1h", "2028-02-01 00:00", 0,
	    "2028-02-29 13:00" },
	{ SITE, NULL, NULL, "monthly last 22:00", "1h", "2026-04-30 13:30", 1,
	    "2026-04-30 14:00" },
	/* Occurrences that overlap are one window: Sat 00:00 to Mon 12:00 JST. */
	{ SITE, NULL, NULL, "sat,sun 00:00", "36h", "2026-11-28 03:00", 1,
	    "2026-11-30 03:00" },
	/* ...and so are occurrences that touch: Sat 00:00 to Mon 00:00 JST. */
	{ SITE, NULL, NULL, "sat,sun 00:00", "1d", "2026-11-28 03:00", 1,
	    "2026-11-29 15:00" },
	/* A long window that began days ago is still open (Sun 02:00 + 6 d). */
	{ SITE, NULL, NULL, "sun 02:00", "6d", "2026-12-04 12:00", 1,
	    "2026-12-04 17:00" },
	{ SITE, NULL, NULL, "sun 02:00", "6d", "2026-12-04 17:00", 0,
	    "2026-12-05 17:00" },

	/*
	 * Europe/Berlin, daily 02:30 for 1 h.  29 March 2026: 02:00 CET
	 * becomes 03:00 CEST; 25 October: 03:00 CEST becomes 02:00 CET.
	 */
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-03-28 00:00", 0,
	    "2026-03-28 01:30" }, /* 02:30 CET */
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-03-28 02:00", 1,
	    "2026-03-28 02:30" },
	/* 02:30 does not exist: it starts at 03:00 CEST, ends 1 h later. */
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-03-28 02:30", 0,
	    "2026-03-29 01:00" },
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-03-29 00:59", 0,
	    "2026-03-29 01:00" },
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-03-29 01:00", 1,
	    "2026-03-29 02:00" },
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-03-29 02:00", 0,
	    "2026-03-30 00:30" }, /* 02:30 CEST */
	/* 02:30 happens twice: the first one (CEST), for 1 real hour. */
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-10-24 23:00", 0,
	    "2026-10-25 00:30" },
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-10-25 00:30", 1,
	    "2026-10-25 01:30" },
	/* The second 02:30 (CET) opens nothing. */
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-10-25 01:30", 0,
	    "2026-10-26 01:30" },
	{ "Europe/Berlin", NULL, NULL, "daily 02:30", "1h", "2026-10-25 02:00", 0,
	    "2026-10-26 01:30" },
	/* Weekly, Sunday 02:00 for 2 h: 02:00 is the very start of the gap. */
	{ "Europe/Berlin", NULL, NULL, "sun 02:00", "2h", "2026-03-22 01:30", 1,
	    "2026-03-22 03:00" }, /* 02:00-04:00 CET */
	{ "Europe/Berlin", NULL, NULL, "sun 02:00", "2h", "2026-03-22 03:00", 0,
	    "2026-03-29 01:00" }, /* 03:00 CEST */
	{ "Europe/Berlin", NULL, NULL, "sun 02:00", "2h", "2026-03-29 01:00", 1,
	    "2026-03-29 03:00" }, /* to 05:00 CEST */
	{ "Europe/Berlin", NULL, NULL, "sun 02:00", "2h", "2026-03-29 03:00", 0,
	    "2026-04-05 00:00" }, /* 02:00 CEST */
	/* Weekly, Sunday 02:30 for 2 h on the fall-back day: 02:30 CEST to
	 * 03:30 CET, two real hours. */
	{ "Europe/Berlin", NULL, NULL, "sun 02:30", "2h", "2026-10-24 12:00", 0,
	    "2026-10-25 00:30" },
	{ "Europe/Berlin", NULL, NULL, "sun 02:30", "2h", "2026-10-25 01:45", 1,
	    "2026-10-25 02:30" },
	{ "Europe/Berlin", NULL, NULL, "sun 02:30", "2h", "2026-10-25 02:30", 0,
	    "2026-11-01 01:30" },

	/*
	 * America/New_York, daily 02:30 for 1 h.  8 March 2026: 02:00 EST
	 * becomes 03:00 EDT; 1 November: 02:00 EDT becomes 01:00 EST.
	 */
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-03-07 00:00", 0,
	    "2026-03-07 07:30" }, /* 02:30 EST */
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-03-08 06:00", 0,
	    "2026-03-08 07:00" }, /* 03:00 EDT, the gap rule */
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-03-08 07:00", 1,
	    "2026-03-08 08:00" },
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-03-08 08:00", 0,
	    "2026-03-09 06:30" }, /* 02:30 EDT */
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-10-31 00:00", 0,
	    "2026-10-31 06:30" }, /* 02:30 EDT */
	/* In New York 02:30 happens once on the fall-back day, in EST. */
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-11-01 05:00", 0,
	    "2026-11-01 07:30" },
	{ "America/New_York", NULL, NULL, "daily 02:30", "1h", "2026-11-01 07:30", 1,
	    "2026-11-01 08:30" },
	/* Weekly, Sunday 01:30 for 2 h: 01:30 EDT to 02:30 EST. */
	{ "America/New_York", NULL, NULL, "sun 01:30", "2h", "2026-11-01 05:00", 0,
	    "2026-11-01 05:30" },
	{ "America/New_York", NULL, NULL, "sun 01:30", "2h", "2026-11-01 06:30", 1,
	    "2026-11-01 07:30" }, /* the second 01:30, EST: still open */
	{ "America/New_York", NULL, NULL, "sun 01:30", "2h", "2026-11-01 07:30", 0,
	    "2026-11-08 06:30" }, /* 01:30 EST */
	/* Weekly, Saturday and Sunday 02:30 for 30 min across spring-forward. */
	{ "America/New_York", NULL, NULL, "sat,sun 02:30", "30min", "2026-03-07 07:45", 1,
	    "2026-03-07 08:00" },
	{ "America/New_York", NULL, NULL, "sat,sun 02:30", "30min", "2026-03-07 08:00", 0,
	    "2026-03-08 07:00" },
	{ "America/New_York", NULL, NULL, "sat,sun 02:30", "30min", "2026-03-08 07:00", 1,
	    "2026-03-08 07:30" },
	{ "America/New_York", NULL, NULL, "sat,sun 02:30", "30min", "2026-03-08 07:30", 0,
	    "2026-03-14 06:30" },
	/* Monthly in Berlin: the 29th 02:30, on the spring-forward day. */
	{ "Europe/Berlin", NULL, NULL, "monthly 29 02:30", "1h", "2026-03-01 00:00", 0,
	    "2026-03-29 01:00" },
	{ "Europe/Berlin", NULL, NULL, "monthly 29 02:30", "1h", "2026-03-29 02:00", 0,
	    "2026-04-29 00:30" },
};

START_TEST(window_when)
{
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(when); i++) {
		struct window *w = make(when[i].zone, when[i].start, when[i].end,
		    when[i].every, when[i].dur, utc("2026-01-01 00:00"));
		int64_t now = utc(when[i].now), next, want = utc(when[i].next);

		ck_assert_msg(window_active(w, now) == when[i].active,
		    "case %zu (%s %s at %s): active %d, expected %d", i, when[i].zone,
		    when[i].every != NULL ? when[i].every : when[i].start, when[i].now,
		    !when[i].active, when[i].active);
		next = window_next_change(w, now);
		ck_assert_msg(next == want,
		    "case %zu (%s %s at %s): next %s, expected %s", i, when[i].zone,
		    when[i].every != NULL ? when[i].every : when[i].start, when[i].now,
		    utc_text(next), utc_text(want));
		/* The change is real: just before it the state is the same as
		 * now, at it the state differs. */
		if (next > 0) {
			ck_assert_int_eq(window_active(w, next - 1), when[i].active);
			ck_assert_int_eq(window_active(w, next), !when[i].active);
		}
		window_free(w);
		assert_site_zone();
	}
}
END_TEST

/* Walking a year of a window's changes, each hour in the gap between is steady. */
START_TEST(window_walk_year)
{
	static const char *const zones[] = { SITE, "Europe/Berlin", "America/New_York" };
	size_t z;

	site_zone();
	for (z = 0; z < NELEM(zones); z++) {
		struct window *w = make(
		    zones[z], NULL, NULL, "daily 02:30", "1h", utc("2026-01-01 00:00"));
		const int64_t end = utc("2027-01-01 00:00");
		int64_t t = utc("2026-01-01 00:00");
		int opens = 0, state = window_active(w, t);

		for (;;) {
			int64_t next = window_next_change(w, t);

			ck_assert_int_gt(next, t);
			if (next >= end)
				break;
			/* Open for exactly 1 h each time, every day. */
			if (state)
				ck_assert_int_eq(next - t, 3600000);
			ck_assert_int_eq(window_active(w, next), !state);
			state = !state;
			opens += state;
			t = next;
		}
		ck_assert_int_eq(opens, 365);
		window_free(w);
	}
	assert_site_zone();
}
END_TEST

static const struct {
	const char *devices, *kinds, *tags; /* space-separated */
	const char *name, *kind, *dev_tags;
	int match;
} sel[] = {
	{ "ups1", "", "", "ups1", "ups", "", 1 },
	{ "ups1", "", "", "ups2", "ups", "", 0 },
	{ "ups1 wan1", "", "", "wan1", "switch", "", 1 },
	{ "", "ups", "", "ups2", "ups", "", 1 },
	{ "", "ups", "", "env1", "sensor", "", 0 },
	{ "", "", "rack-a", "sw1", "switch", "rack-b rack-a", 1 },
	{ "", "", "rack-a", "sw1", "switch", "rack-b", 0 },
	{ "", "", "rack-a", "sw1", "switch", "", 0 },
	{ "*", "", "", "anything", "other", "", 1 },
	{ "env1", "link", "floor-2", "wan1", "link", "", 1 },
	{ "env1", "link", "floor-2", "sw3", "switch", "floor-2", 1 },
	{ "env1", "link", "floor-2", "sw3", "switch", "floor-1", 0 },
	{ "", "sensor", "", "env1", NULL, "", 0 }, /* a device without a kind */
};

/* Split a space-separated list into a conf_strings (caller frees). */
static void
split(const char *s, struct conf_strings *l)
{
	char *copy = xstrdup(s), *save = NULL, *t;

	memset(l, 0, sizeof(*l));
	for (t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = xstrdup(t);
	}
	free(copy);
}

static void
strings_release(struct conf_strings *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void
add_targets(struct window *w, enum window_target what, const char *list)
{
	struct conf_strings l;
	char err[256];
	size_t i;

	split(list, &l);
	for (i = 0; i < l.n; i++)
		ck_assert_msg(window_add_target(w, what, l.v[i], err, sizeof(err)) == 0,
		    "%s: %s", l.v[i], err);
	strings_release(&l);
}

START_TEST(window_select)
{
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(sel); i++) {
		struct window *w = make(SITE, NULL, NULL, "sun 02:00", "2h", 0);
		struct conf_strings tags;

		add_targets(w, WT_DEVICE, sel[i].devices);
		add_targets(w, WT_KIND, sel[i].kinds);
		add_targets(w, WT_TAG, sel[i].tags);
		split(sel[i].dev_tags, &tags);
		ck_assert_msg(
		    window_matches(w, sel[i].name, sel[i].kind, &tags) == sel[i].match,
		    "case %zu: device %s expected %d", i, sel[i].name, sel[i].match);
		strings_release(&tags);
		window_free(w);
	}
}
END_TEST

static const struct {
	enum window_target what;
	const char *value, *err;
} target_bad[] = {
	{ WT_DEVICE, "", "device \"\": want 1 to 64 characters" },
	{ WT_TAG, "rack a", "tag \"rack a\": no spaces, quotes or control characters" },
	{ WT_DEVICE, "ups\"1",
	    "device \"ups\"1\": no spaces, quotes or control characters" },
	{ WT_KIND, "upss",
	    "kind \"upss\": not a device kind (ups, pdu, switch, router, link, sensor, "
	    "host, other)" },
	{ WT_TAG, "a1234567890123456789012345678901234567890123456789012345678901234",
	    "tag \"a1234567890123456789012345678901234567890123456789012345678901234\": "
	    "want 1 to 64 characters" },
};

START_TEST(window_targets)
{
	struct window *w;
	char err[256];
	size_t i;

	site_zone();
	w = make(SITE, NULL, NULL, "sun 02:00", "2h", 0);
	ck_assert_int_eq(window_check(w, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "choose devices: at least one device, kind or tag (device "
	                      "\"*\" for every device)");
	for (i = 0; i < NELEM(target_bad); i++) {
		ck_assert_int_eq(window_add_target(w, target_bad[i].what,
		                     target_bad[i].value, err, sizeof(err)),
		    -1);
		ck_assert_msg(strcmp(err, target_bad[i].err) == 0,
		    "case %zu: \"%s\", expected \"%s\"", i, err, target_bad[i].err);
	}
	ck_assert_int_eq(window_check(w, err, sizeof(err)), -1);
	/* The same name twice is kept once. */
	ck_assert_int_eq(window_add_target(w, WT_TAG, "rack-a", err, sizeof(err)), 0);
	ck_assert_int_eq(window_add_target(w, WT_TAG, "rack-a", err, sizeof(err)), 0);
	ck_assert_uint_eq(w->tags.n, 1);
	ck_assert_int_eq(window_check(w, err, sizeof(err)), 0);
	window_free(w);
}
END_TEST

START_TEST(window_covers_devices)
{
	struct window *ws[3];
	struct device_conf ups = { 0 }, env = { 0 }, wan = { 0 };
	const int64_t sunday = utc("2026-11-28 18:00"), monday = utc("2026-11-30 03:00");

	site_zone();
	ws[0] = make(SITE, NULL, NULL, "sun 02:00", "2h", 0);
	ws[0]->id = xstrdup("sunday-ups");
	add_targets(ws[0], WT_KIND, "ups");
	ws[1] = make(SITE, "2026-11-30 11:00", "2026-11-30 13:00", NULL, NULL, 0);
	ws[1]->id = xstrdup("monday-rack");
	add_targets(ws[1], WT_TAG, "rack-a");
	ws[2] = make(SITE, NULL, NULL, "daily 12:00", "30min", 0);
	ws[2]->id = xstrdup("noon-all");
	add_targets(ws[2], WT_DEVICE, "*");

	ups.name = "ups1";
	ups.kind = 0; /* ups */
	split("rack-a", &ups.tags);
	env.name = "env1";
	env.kind = 5; /* sensor */
	split("", &env.tags);
	wan.name = "wan1";
	wan.kind = 2; /* switch */
	split("rack-a edge", &wan.tags);

	ck_assert_ptr_eq(window_covers(ws, 3, &ups, sunday), ws[0]);
	ck_assert_ptr_null(window_covers(ws, 3, &env, sunday));
	ck_assert_ptr_null(window_covers(ws, 3, &wan, sunday));
	ck_assert_ptr_eq(window_covers(ws, 3, &ups, monday), ws[1]);
	ck_assert_ptr_eq(window_covers(ws, 3, &wan, monday), ws[1]);
	/* Monday 12:10 JST: the daily window covers every device. */
	ck_assert_ptr_eq(window_covers(ws, 3, &env, monday), ws[2]);
	ck_assert_ptr_null(window_covers(ws, 3, &env, monday + 3600000));
	ck_assert_ptr_null(window_covers(ws, 0, &ups, sunday));

	strings_release(&ups.tags);
	strings_release(&env.tags);
	strings_release(&wan.tags);
	window_free(ws[0]);
	window_free(ws[1]);
	window_free(ws[2]);
	assert_site_zone();
}
END_TEST

START_TEST(window_notify_rule)
{
	/* Present at the end: notify, unless people were told before. */
	ck_assert_int_eq(window_end_notify(1, 0), WN_PROBLEM);
	ck_assert_int_eq(window_end_notify(1, 1), WN_NONE);
	/* Vanished: nothing, except the recovery of what people were told. */
	ck_assert_int_eq(window_end_notify(0, 0), WN_NONE);
	ck_assert_int_eq(window_end_notify(0, 1), WN_RECOVERY);
}
END_TEST

static void
assert_round_trip(struct window *w)
{
	json_t *a = window_to_json(w), *b;
	struct window *back;
	char *text, err[512] = "";
	json_error_t jerr;

	/* Through text, as the state file holds it. */
	text = json_dumps(a, JSON_COMPACT);
	b = json_loads(text, 0, &jerr);
	ck_assert_ptr_nonnull(b);
	back = window_from_json(b, err, sizeof(err));
	ck_assert_msg(back != NULL, "%s: %s", text, err);
	json_decref(b);
	b = window_to_json(back);
	ck_assert_msg(json_equal(a, b), "%s", text);
	ck_assert_int_eq(back->repeat, w->repeat);
	ck_assert_int_eq(back->start_ms, w->start_ms);
	ck_assert_int_eq(back->end_ms, w->end_ms);
	ck_assert_int_eq(back->start_min, w->start_min);
	ck_assert_uint_eq(back->weekdays, w->weekdays);
	ck_assert_int_eq(back->mday, w->mday);
	ck_assert_int_eq(back->duration_ms, w->duration_ms);
	ck_assert_int_eq(back->created_ms, w->created_ms);
	free(text);
	json_decref(a);
	json_decref(b);
	window_free(back);
}

START_TEST(window_json_round_trip)
{
	static const struct {
		const char *zone, *start, *end, *every, *dur;
	} cases[] = {
		{ SITE, NULL, NULL, "sun 02:00", "2h" },
		{ SITE, NULL, NULL, "daily 12:00", "30min" },
		{ SITE, NULL, NULL, "monthly 1 22:00", "3h" },
		{ SITE, NULL, NULL, "monthly last 23:15", "45min" },
		{ "Europe/Berlin", NULL, NULL, "mon-fri 02:30", "1h" },
		{ "America/New_York", NULL, NULL, "fri-mon 01:30", "2h" },
		{ SITE, "2026-12-01 22:00", "2026-12-02 02:00", NULL, NULL },
		{ SITE, "now", NULL, NULL, "90min" },
		{ "America/New_York", "2026-11-01 01:30-05:00", NULL, NULL, "1h" },
		{ "UTC", "2026-12-01 22:00", NULL, NULL, "1h" },
	};
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(cases); i++) {
		struct window *w = make(cases[i].zone, cases[i].start, cases[i].end,
		    cases[i].every, cases[i].dur, utc("2026-01-01 00:00") + 123);

		xasprintf(&w->id, "mw-%zu", i);
		add_targets(w, WT_DEVICE, i % 2 ? "ups1 wan1" : "*");
		add_targets(w, WT_KIND, i % 3 ? "ups" : "");
		add_targets(w, WT_TAG, i % 2 ? "" : "rack-a");
		if (i % 2) {
			w->comment = xstrdup("UPS battery replacement (電池交換)");
			w->created_by = xstrdup("tanaka");
			w->created_ms = utc("2026-01-01 00:00") + 456;
		}
		assert_round_trip(w);
		window_free(w);
	}
	assert_site_zone();
}
END_TEST

/* A stored window that ended long ago still loads. */
START_TEST(window_json_shape)
{
	const char *text =
	    "{\"id\": \"mw-1\", \"repeat\": \"once\", \"zone\": \"Asia/Tokyo\", "
	    "\"start\": \"2020-01-01T22:00:00.000+09:00\", "
	    "\"end\": \"2020-01-02T02:00:00.000+09:00\", \"devices\": [\"ups1\"], "
	    "\"kinds\": [], \"tags\": [], \"comment\": null, \"created_by\": \"sato\", "
	    "\"created\": \"2019-12-20T10:00:00.000+09:00\"}";
	json_t *o = json_loads(text, 0, NULL), *back;
	struct window *w;
	char err[256];

	site_zone();
	ck_assert_ptr_nonnull(o);
	w = window_from_json(o, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_str_eq(w->id, "mw-1");
	ck_assert_int_eq(w->start_ms, utc("2020-01-01 13:00"));
	ck_assert_int_eq(w->end_ms, utc("2020-01-01 17:00"));
	ck_assert_int_eq(w->created_ms, utc("2019-12-20 01:00"));
	ck_assert_ptr_null(w->comment);
	ck_assert_str_eq(w->created_by, "sato");
	ck_assert_int_eq(window_active(w, utc("2026-01-01 00:00")), 0);
	ck_assert_int_eq(window_next_change(w, utc("2026-01-01 00:00")), -1);
	back = window_to_json(w);
	ck_assert(json_equal(o, back));
	json_decref(back);
	json_decref(o);
	window_free(w);
}
END_TEST

static const struct {
	const char *json, *err;
} json_bad[] = {
	{ "[]", "window: not a JSON object" },
	{ "{\"zone\": \"Asia/Tokyo\"}", "window: no id" },
	{ "{\"id\": 7}", "window: no id" },
	{ "{\"id\": \"a\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 02:00\", \"for\": "
	  "7200}",
	    "window a: for: not text" },
	{ "{\"id\": \"b\", \"zone\": \"Asia/Tokio\", \"every\": \"sun 02:00\", \"for\": "
	  "\"2h\", \"devices\": [\"*\"]}",
	    "window b: zone \"Asia/Tokio\": unknown time zone" },
	{ "{\"id\": \"c\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 25:00\", \"for\": "
	  "\"2h\", \"devices\": [\"*\"]}",
	    "window c: every \"sun 25:00\": bad time of day \"25:00\" (want HH:MM, 00:00 "
	    "to 23:59)" },
	{ "{\"id\": \"d\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 02:00\", \"for\": "
	  "\"2h\"}",
	    "window d: choose devices: at least one device, kind or tag (device \"*\" "
	    "for "
	    "every device)" },
	{ "{\"id\": \"e\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 02:00\", \"for\": "
	  "\"2h\", \"devices\": \"ups1\"}",
	    "window e: devices: not a list" },
	{ "{\"id\": \"f\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 02:00\", \"for\": "
	  "\"2h\", \"tags\": [1]}",
	    "window f: tags: not a list of text" },
	{ "{\"id\": \"g\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 02:00\", \"for\": "
	  "\"2h\", \"kinds\": [\"upss\"]}",
	    "window g: kind \"upss\": not a device kind (ups, pdu, switch, router, link, "
	    "sensor, host, other)" },
	{ "{\"id\": \"h\", \"zone\": \"Asia/Tokyo\", \"start\": \"now\", \"for\": "
	  "\"2h\", \"devices\": [\"*\"]}",
	    "window h: \"now\" is not a time in a stored window" },
	{ "{\"id\": \"i\", \"zone\": \"Asia/Tokyo\", \"start\": "
	  "\"2026-12-01T22:00:00.000+09:00\", \"end\": "
	  "\"2026-12-01T21:00:00.000+09:00\", "
	  "\"devices\": [\"*\"]}",
	    "window i: end \"2026-12-01T21:00:00.000+09:00\": not after start "
	    "\"2026-12-01T22:00:00.000+09:00\"" },
	{ "{\"id\": \"j\", \"zone\": \"Asia/Tokyo\", \"every\": \"sun 02:00\", \"for\": "
	  "\"2h\", \"devices\": [\"*\"], \"created\": \"yesterday\"}",
	    "window j: created \"yesterday\": bad time" },
};

START_TEST(window_json_bad)
{
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(json_bad); i++) {
		json_error_t jerr;
		json_t *o = json_loads(json_bad[i].json, JSON_DECODE_ANY, &jerr);
		char err[512] = "";
		struct window *w;

		ck_assert_msg(o != NULL, "case %zu: %s", i, jerr.text);
		w = window_from_json(o, err, sizeof(err));
		ck_assert_msg(w == NULL, "case %zu accepted", i);
		ck_assert_msg(strcmp(err, json_bad[i].err) == 0,
		    "case %zu: \"%s\", expected \"%s\"", i, err, json_bad[i].err);
		json_decref(o);
	}
	assert_site_zone();
}
END_TEST

static Suite *
window_suite(void)
{
	Suite *s = suite_create("window");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, window_parse_good);
	tcase_add_test(tc, window_parse_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("when");
	tcase_add_test(tc, window_when);
	tcase_add_test(tc, window_walk_year);
	suite_add_tcase(s, tc);

	tc = tcase_create("devices");
	tcase_add_test(tc, window_select);
	tcase_add_test(tc, window_targets);
	tcase_add_test(tc, window_covers_devices);
	tcase_add_test(tc, window_notify_rule);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, window_json_round_trip);
	tcase_add_test(tc, window_json_shape);
	tcase_add_test(tc, window_json_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(window_suite());
}
