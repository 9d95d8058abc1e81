/*
 * verbs.c: the argument readers of the detection verbs — incident ids, -m
 * texts, --expire (a time, or a duration from now), ack, declare and
 * maintenance add — without a daemon.
 *
 * The process zone is the demo site's, Asia/Tokyo, set with tz_apply().
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define SITE  "Asia/Tokyo"
#define MIN   ((int64_t)60 * 1000)
#define HOUR  (60 * MIN)
#define DAY   (24 * HOUR)
#define NARGS 16

/* An instant written in UTC, "2026-11-25 00:00", as ms. */
static int64_t
utc(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	ck_assert_msg(end != NULL && *end == '\0', "test instant \"%s\"", s);
	return (int64_t)timegm(&tm) * 1000;
}

/* The tests' now: 2026-11-25 09:00 in Tokyo. */
#define NOW utc("2026-11-25 00:00")

static void
site_zone(void)
{
	ck_assert_int_eq(tz_apply(SITE), 0);
}

/* The words of a NULL-terminated list as argv; returns argc. */
static int
words(const char *const *list, char **argv)
{
	int n;

	for (n = 0; n < NARGS && list[n] != NULL; n++)
		argv[n] = (char *)(uintptr_t)list[n];
	return n;
}

/* "a b c" for messages. */
static const char *
shown(const char *const *list)
{
	static char buf[512];
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < NARGS && list[i] != NULL && off < sizeof(buf); i++)
		off += (size_t)snprintf(
		    buf + off, sizeof(buf) - off, "%s[%s]", i > 0 ? " " : "", list[i]);
	return buf;
}

START_TEST(ids)
{
	static const struct {
		const char *s;
		uint64_t id;
	} good[] = { { "1", 1 }, { "12", 12 }, { "4096", 4096 },
		{ "9223372036854775807", INT64_MAX } };
	static const char *const bad[] = { "", "0", "00", "012", "12x", "x12", "-1", "+1",
		" 1", "1 ", "1.0", "1e3", "0x10", "9223372036854775808",
		"18446744073709551616", "99999999999999999999999" };
	uint64_t id;
	size_t i;

	for (i = 0; i < NELEM(good); i++) {
		id = 0;
		ck_assert_msg(
		    verbs_parse_id(good[i].s, &id) == 0, "\"%s\" refused", good[i].s);
		ck_assert_msg(id == good[i].id, "\"%s\" read as %llu", good[i].s,
		    (unsigned long long)id);
	}
	for (i = 0; i < NELEM(bad); i++) {
		id = 7;
		ck_assert_msg(verbs_parse_id(bad[i], &id) == -1, "\"%s\" taken", bad[i]);
		ck_assert_msg(id == 7, "\"%s\": the id changed on failure", bad[i]);
	}
}
END_TEST

START_TEST(texts)
{
	static const struct {
		const char *s;
		const char *err; /* NULL: good */
	} cases[] = {
		{ "x", NULL },
		{ "two words", NULL },
		{ "  leading and trailing blanks  ", NULL },
		{ "tab\there", NULL },
		{ "\xe8\xa8\x93\xe7\xb7\xb4 \xe9\x96\x8b\xe5\xa7\x8b", NULL },
		{ "\"quoted\" and \\backslashed\\", NULL },
		{ "", "-m: the text is empty" },
		{ "   ", "-m: the text is empty" },
		{ " \t ", "-m: the text is empty" },
		{ "\xc3\x28", "-m: the text is not valid UTF-8" },
		{ "caf\xc3", "-m: the text is not valid UTF-8" },
		{ "\xed\xa0\x80", "-m: the text is not valid UTF-8" },
		{ "two\nlines", "-m: the text holds a control character" },
		{ "bell\a", "-m: the text holds a control character" },
		{ "del\x7f", "-m: the text holds a control character" },
	};
	char err[256], big[1100];
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		int r;
		err[0] = '\0';
		r = verbs_check_text(cases[i].s, err, sizeof(err));
		if (cases[i].err == NULL)
			ck_assert_msg(r == 0, "case %zu: refused: %s", i, err);
		else {
			ck_assert_msg(r == VERBS_BAD_VALUE, "case %zu: %d", i, r);
			ck_assert_str_eq(err, cases[i].err);
		}
	}
	/* 1000 bytes are fine, 1001 are not, in bytes and not characters. */
	memset(big, 'x', 1000);
	big[1000] = '\0';
	ck_assert_int_eq(verbs_check_text(big, err, sizeof(err)), 0);
	big[1000] = 'x';
	big[1001] = '\0';
	ck_assert_int_eq(verbs_check_text(big, err, sizeof(err)), VERBS_BAD_VALUE);
	ck_assert_str_eq(err, "-m: the text is 1001 bytes long (at most 1000)");
	for (i = 0; i + 3 <= 999; i += 3)
		memcpy(big + i, "\xe8\xa8\x93", 3); /* 333 characters, 999 bytes */
	big[999] = 'x';
	big[1000] = '\0';
	ck_assert_int_eq(verbs_check_text(big, err, sizeof(err)), 0);
	memcpy(big + 999, "\xe8\xa8\x93", 4);
	ck_assert_int_eq(verbs_check_text(big, err, sizeof(err)), VERBS_BAD_VALUE);
	ck_assert_str_eq(err, "-m: the text is 1002 bytes long (at most 1000)");
}
END_TEST

START_TEST(expire)
{
	static const struct {
		const char *s;
		const char *at; /* UTC; NULL: refused with err */
		int64_t after;  /* or this long after now */
		const char *err;
	} cases[] = {
		/* A duration counts forward from now, unlike time_parse's. */
		{ "2h", NULL, 2 * HOUR, NULL },
		{ "90min", NULL, 90 * MIN, NULL },
		{ "1h30min", NULL, 90 * MIN, NULL },
		{ "1d", NULL, DAY, NULL },
		{ "30s", NULL, 30 * 1000, NULL },
		{ "366d", NULL, 366 * DAY, NULL },
		/* A time is on the site's clock unless an offset follows. */
		{ "2026-11-25T18:00", "2026-11-25 09:00", 0, NULL },
		{ "2026-11-25 18:00", "2026-11-25 09:00", 0, NULL },
		{ "2026-11-25T18:00+09:00", "2026-11-25 09:00", 0, NULL },
		{ "2026-11-25T10:00Z", "2026-11-25 10:00", 0, NULL },
		{ "2026-11-26", "2026-11-25 15:00", 0, NULL },
		{ "0", NULL, 0, "--expire \"0\": not in the future" },
		{ "0s", NULL, 0, "--expire \"0s\": not in the future" },
		{ "2026-11-25T09:00", NULL, 0,
		    "--expire \"2026-11-25T09:00\": not in the future" },
		{ "2026-11-25T08:59", NULL, 0,
		    "--expire \"2026-11-25T08:59\": not in the future" },
		{ "2020-01-01", NULL, 0, "--expire \"2020-01-01\": not in the future" },
		{ "367d", NULL, 0, "--expire \"367d\": more than 366 days ahead" },
		{ "2027-12-01", NULL, 0,
		    "--expire \"2027-12-01\": more than 366 days ahead" },
		{ "tomorrow", NULL, 0, "give a time" },
		{ "", NULL, 0, "give a time" },
		{ "-2h", NULL, 0, "give a time" },
		{ "2h ago", NULL, 0, "give a time" },
		{ "2026-11-25T25:00", NULL, 0, "give a time" },
	};
	char err[256];
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(cases); i++) {
		int64_t at = -1;
		int r;

		err[0] = '\0';
		r = verbs_parse_expire(cases[i].s, NOW, &at, err, sizeof(err));
		if (cases[i].err == NULL) {
			int64_t want =
			    cases[i].at != NULL ? utc(cases[i].at) : NOW + cases[i].after;
			ck_assert_msg(r == 0, "\"%s\": refused: %s", cases[i].s, err);
			ck_assert_msg(at == want, "\"%s\": %lld, want %lld", cases[i].s,
			    (long long)at, (long long)want);
			continue;
		}
		ck_assert_msg(r == VERBS_BAD_VALUE, "\"%s\": %d", cases[i].s, r);
		ck_assert_msg(at == -1, "\"%s\": set on failure", cases[i].s);
		ck_assert_msg(strstr(err, cases[i].err) != NULL,
		    "\"%s\": \"%s\", want \"%s\"", cases[i].s, err, cases[i].err);
	}
}
END_TEST

START_TEST(ack_good)
{
	static const struct {
		const char *argv[NARGS];
		uint64_t id;
		enum ack_kind kind;
		int64_t after; /* expiry after now; 0: none */
		const char *text;
	} cases[] = {
		{ { "12", "-m", "on it", NULL }, 12, ACK_NORMAL, 0, "on it" },
		{ { "-m", "two words", "3", NULL }, 3, ACK_NORMAL, 0, "two words" },
		{ { "12", "--sticky", "-m", "x", NULL }, 12, ACK_STICKY, 0, "x" },
		{ { "-m", "x", "--sticky", "12", NULL }, 12, ACK_STICKY, 0, "x" },
		{ { "12", "--expire", "2h", "-m", "back at noon", NULL }, 12,
		    ACK_EXPIRING, 2 * HOUR, "back at noon" },
		{ { "12", "--expire", "2026-11-25T10:30", "-m", "x", NULL }, 12,
		    ACK_EXPIRING, 90 * MIN, "x" },
		{ { "12", "-m", "--sticky", NULL }, 12, ACK_NORMAL, 0, "--sticky" },
	};
	char *argv[NARGS], err[256];
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(cases); i++) {
		int argc = words(cases[i].argv, argv);
		enum ack_kind kind;
		const char *text = NULL;
		int64_t exp;
		uint64_t id = 0;
		int r;

		err[0] = '\0';
		r = verbs_ack_args(
		    argc, argv, NOW, &id, &kind, &exp, &text, err, sizeof(err));
		ck_assert_msg(r == 0, "%s: %d %s", shown(cases[i].argv), r, err);
		ck_assert_msg(id == cases[i].id, "%s: id %llu", shown(cases[i].argv),
		    (unsigned long long)id);
		ck_assert_msg(kind == cases[i].kind, "%s: kind %s", shown(cases[i].argv),
		    ack_kind_name(kind));
		ck_assert_msg(exp == (cases[i].after > 0 ? NOW + cases[i].after : 0),
		    "%s: expires %lld", shown(cases[i].argv), (long long)exp);
		ck_assert_str_eq(text, cases[i].text);
	}
}
END_TEST

START_TEST(ack_bad)
{
	static const struct {
		const char *argv[NARGS];
		int r;
		const char *err;
	} cases[] = {
		{ { NULL }, VERBS_BAD_USAGE, "give the incident ID" },
		{ { "12", NULL }, VERBS_BAD_USAGE, "-m TEXT is required" },
		{ { "-m", "x", NULL }, VERBS_BAD_USAGE, "give the incident ID" },
		{ { "12", "-m", NULL }, VERBS_BAD_USAGE, "-m needs a value" },
		{ { "12", "-m", "x", "-m", "y", NULL }, VERBS_BAD_USAGE,
		    "-m given twice" },
		{ { "12", "13", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "unexpected argument \"13\"" },
		{ { "0", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "incident ID \"0\": want a positive whole number" },
		{ { "-1", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "incident ID \"-1\": want a positive whole number" },
		{ { "12x", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "incident ID \"12x\": want a positive whole number" },
		{ { "12", "--sticky", "--expire", "2h", "-m", "x", NULL },
		    VERBS_BAD_USAGE, "--sticky or --expire, not both" },
		{ { "12", "--sticky", "--sticky", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "--sticky given twice" },
		{ { "12", "--bogus", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "unknown option --bogus" },
		{ { "12", "-x", "-m", "x", NULL }, VERBS_BAD_USAGE, "unknown option -x" },
		{ { "12", "--expire", NULL }, VERBS_BAD_USAGE, "--expire needs a value" },
		{ { "12", "-m", "", NULL }, VERBS_BAD_VALUE, "-m: the text is empty" },
		{ { "12", "--expire", "yesterday", "-m", "x", NULL }, VERBS_BAD_VALUE,
		    "--expire \"yesterday\": give a time" },
		{ { "12", "--expire", "2026-11-25T08:00", "-m", "x", NULL },
		    VERBS_BAD_VALUE, "--expire \"2026-11-25T08:00\": not in the future" },
	};
	char *argv[NARGS], err[256];
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(cases); i++) {
		int argc = words(cases[i].argv, argv);
		enum ack_kind kind;
		const char *text;
		int64_t exp;
		uint64_t id;
		int r;

		err[0] = '\0';
		r = verbs_ack_args(
		    argc, argv, NOW, &id, &kind, &exp, &text, err, sizeof(err));
		ck_assert_msg(r == cases[i].r, "%s: %d (%s), want %d",
		    shown(cases[i].argv), r, err, cases[i].r);
		ck_assert_msg(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
		    "%s: \"%s\", want \"%s...\"", shown(cases[i].argv), err,
		    cases[i].err);
	}
}
END_TEST

START_TEST(declare)
{
	static const struct {
		const char *argv[NARGS];
		int r;
		const char *kind_or_err;
		enum check_state sev;
	} cases[] = {
		{ { "pandemic", "-m", "WHO level 6", NULL }, 0, "pandemic",
		    CHECK_CRITICAL },
		{ { "flood-warning", "--severity", "warning", "-m", "river at 4.2 m",
		      NULL },
		    0, "flood-warning", CHECK_WARNING },
		{ { "-m", "x", "--severity", "critical", "cyber", NULL }, 0, "cyber",
		    CHECK_CRITICAL },
		{ { "0123456789abcdefghijklmnopqrstuv", "-m", "x", NULL }, 0,
		    "0123456789abcdefghijklmnopqrstuv", CHECK_CRITICAL },
		{ { "-m", "x", NULL }, VERBS_BAD_USAGE, "give the KIND of incident", 0 },
		{ { "flood", NULL }, VERBS_BAD_USAGE, "-m TEXT is required", 0 },
		{ { "flood", "cyber", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "unexpected argument \"cyber\"", 0 },
		{ { "flood", "--severity", NULL }, VERBS_BAD_USAGE,
		    "--severity needs a value", 0 },
		{ { "flood", "--sticky", "-m", "x", NULL }, VERBS_BAD_USAGE,
		    "unknown option --sticky", 0 },
		{ { "Flood", "-m", "x", NULL }, VERBS_BAD_VALUE,
		    "KIND \"Flood\": want 1 to 32", 0 },
		{ { "flood_warning", "-m", "x", NULL }, VERBS_BAD_VALUE,
		    "KIND \"flood_warning\"", 0 },
		{ { "", "-m", "x", NULL }, VERBS_BAD_VALUE, "KIND \"\"", 0 },
		{ { "0123456789abcdefghijklmnopqrstuvw", "-m", "x", NULL },
		    VERBS_BAD_VALUE, "KIND \"0123456789abcdefghijklmnopqrstuvw\"", 0 },
		{ { "flood", "--severity", "minor", "-m", "x", NULL }, VERBS_BAD_VALUE,
		    "--severity \"minor\": want warning or critical", 0 },
		{ { "flood", "--severity", "ok", "-m", "x", NULL }, VERBS_BAD_VALUE,
		    "--severity \"ok\"", 0 },
		{ { "flood", "-m", " ", NULL }, VERBS_BAD_VALUE, "-m: the text is empty",
		    0 },
	};
	char *argv[NARGS], err[256];
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		int argc = words(cases[i].argv, argv);
		const char *kind = NULL, *text = NULL;
		enum check_state sev = CHECK_UNKNOWN;
		int r;

		err[0] = '\0';
		r = verbs_declare_args(argc, argv, &kind, &sev, &text, err, sizeof(err));
		ck_assert_msg(r == cases[i].r, "%s: %d (%s), want %d",
		    shown(cases[i].argv), r, err, cases[i].r);
		if (r == 0) {
			ck_assert_str_eq(kind, cases[i].kind_or_err);
			ck_assert_int_eq(sev, cases[i].sev);
			ck_assert_ptr_nonnull(text);
		} else
			ck_assert_msg(strncmp(err, cases[i].kind_or_err,
			                  strlen(cases[i].kind_or_err)) == 0,
			    "%s: \"%s\", want \"%s...\"", shown(cases[i].argv), err,
			    cases[i].kind_or_err);
	}
}
END_TEST

/* Targets as "a b | kind | tag" for comparison. */
static const char *
targets_text(const struct window *w)
{
	static char buf[256];
	const struct conf_strings *l[] = { &w->devices, &w->kinds, &w->tags };
	size_t off = 0, i, k;

	buf[0] = '\0';
	for (k = 0; k < 3; k++) {
		off += (size_t)snprintf(
		    buf + off, sizeof(buf) - off, "%s", k > 0 ? " |" : "");
		for (i = 0; i < l[k]->n; i++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
			    off > 0 ? " " : "", l[k]->v[i]);
	}
	return buf;
}

START_TEST(maintenance_good)
{
	static const struct {
		const char *argv[NARGS];
		const char *describe, *targets, *comment;
	} cases[] = {
		{ { "--device", "ups1", "--start", "now", "--for", "2h", "-m",
		      "swap batteries", NULL },
		    "2026-11-25T09:00:00.000+09:00 to 2026-11-25T11:00:00.000+09:00 "
		    "(Asia/Tokyo)",
		    "ups1 | |", "swap batteries" },
		{ { "--device", "*", "--start", "2026-12-01 22:00", "--end",
		      "2026-12-02 02:00", NULL },
		    "2026-12-01T22:00:00.000+09:00 to 2026-12-02T02:00:00.000+09:00 "
		    "(Asia/Tokyo)",
		    "* | |", NULL },
		{ { "--start", "2026-11-25T08:00", "--end", "2026-11-25T10:00", "--tag",
		      "server-room", NULL },
		    "2026-11-25T08:00:00.000+09:00 to 2026-11-25T10:00:00.000+09:00 "
		    "(Asia/Tokyo)",
		    " | | server-room", NULL },
		{ { "--kind", "ups", "--tag", "server-room", "--device", "a", "--device",
		      "b", "--every", "mon-fri 22:00", "--for", "1h", NULL },
		    "mon-fri 22:00 for 1h (Asia/Tokyo)", "a b | ups | server-room",
		    NULL },
		{ { "--device", "ups1", "--every", "sun 02:00", "--for", "2h", "-m",
		      "\"weekly\" test", NULL },
		    "sun 02:00 for 2h (Asia/Tokyo)", "ups1 | |", "\"weekly\" test" },
		{ { "--tag", "x", "--every", "daily 12:00", "--for", "30min", NULL },
		    "daily 12:00 for 30min (Asia/Tokyo)", " | | x", NULL },
		{ { "--kind", "pdu", "--kind", "switch", "--every", "monthly 1 22:00",
		      "--for", "3h", NULL },
		    "monthly 1 22:00 for 3h (Asia/Tokyo)", " | pdu switch |", NULL },
	};
	char *argv[NARGS], err[512], buf[256];
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(cases); i++) {
		int argc = words(cases[i].argv, argv);
		struct window *w = NULL;
		int r;

		err[0] = '\0';
		r = verbs_maintenance_args(argc, argv, SITE, NOW, &w, err, sizeof(err));
		ck_assert_msg(r == 0, "%s: %d %s", shown(cases[i].argv), r, err);
		ck_assert_ptr_nonnull(w);
		ck_assert_str_eq(window_describe(w, buf, sizeof(buf)), cases[i].describe);
		ck_assert_str_eq(targets_text(w), cases[i].targets);
		if (cases[i].comment == NULL)
			ck_assert_ptr_null(w->comment);
		else
			ck_assert_str_eq(w->comment, cases[i].comment);
		ck_assert_ptr_null(w->id);
		ck_assert_ptr_null(w->created_by);
		ck_assert_int_eq(window_check(w, err, sizeof(err)), 0);
		window_free(w);
	}
}
END_TEST

START_TEST(maintenance_bad)
{
	static const struct {
		const char *argv[NARGS];
		int r;
		const char *err;
	} cases[] = {
		{ { NULL }, VERBS_BAD_USAGE, "choose devices: --device NAME" },
		{ { "--start", "now", "--for", "2h", NULL }, VERBS_BAD_USAGE,
		    "choose devices" },
		{ { "--device", "a", NULL }, VERBS_BAD_USAGE,
		    "give --start TIME (one-off) or --every SPEC (recurring)" },
		{ { "--device", "a", "--for", "2h", NULL }, VERBS_BAD_USAGE,
		    "give --start TIME" },
		{ { "--device", "a", "--start", "now", NULL }, VERBS_BAD_USAGE,
		    "--start: give --end TIME or --for DURATION as well" },
		{ { "--device", "a", "--start", "now", "--end", "2026-12-01", "--for",
		      "2h", NULL },
		    VERBS_BAD_USAGE, "--end or --for, not both" },
		{ { "--device", "a", "--every", "sun 02:00", NULL }, VERBS_BAD_USAGE,
		    "--every: give --for DURATION" },
		{ { "--device", "a", "--every", "sun 02:00", "--end", "2026-12-01",
		      NULL },
		    VERBS_BAD_USAGE,
		    "--every: give --for DURATION (how long each window "
		    "lasts, not --end)" },
		{ { "--device", "a", "--start", "now", "--every", "sun 02:00", "--for",
		      "1h", NULL },
		    VERBS_BAD_USAGE, "--start or --every, not both" },
		{ { "--device", "a", "--start", "now", "--start", "now", "--for", "1h",
		      NULL },
		    VERBS_BAD_USAGE, "--start given twice" },
		{ { "ups1", "--start", "now", "--for", "1h", NULL }, VERBS_BAD_USAGE,
		    "unexpected argument \"ups1\"" },
		{ { "--device", NULL }, VERBS_BAD_USAGE, "--device needs a value" },
		{ { "--devices", "a", "--start", "now", "--for", "1h", NULL },
		    VERBS_BAD_USAGE, "unknown option --devices" },
		{ { "--kind", "fridge", "--start", "now", "--for", "1h", NULL },
		    VERBS_BAD_VALUE, "kind \"fridge\": not a device kind" },
		{ { "--device", "a b", "--start", "now", "--for", "1h", NULL },
		    VERBS_BAD_VALUE, "device \"a b\": no spaces" },
		{ { "--tag", "", "--start", "now", "--for", "1h", NULL }, VERBS_BAD_VALUE,
		    "tag \"\": want 1 to" },
		{ { "--device", "a", "--every", "sun 25:00", "--for", "1h", NULL },
		    VERBS_BAD_VALUE, "every \"sun 25:00\": bad time of day" },
		{ { "--device", "a", "--every", "daily 02:00", "--for", "1d", NULL },
		    VERBS_BAD_VALUE, "for \"1d\": a daily window must be shorter" },
		{ { "--device", "a", "--start", "2026-11-01 00:00", "--end",
		      "2026-11-02 00:00", NULL },
		    VERBS_BAD_VALUE,
		    "end \"2026-11-02 00:00\": the window would be over" },
		{ { "--device", "a", "--start", "tonight", "--for", "1h", NULL },
		    VERBS_BAD_VALUE, "start \"tonight\": bad time" },
		{ { "--device", "a", "--start", "now", "--for", "soon", NULL },
		    VERBS_BAD_VALUE, "for \"soon\": bad duration" },
		{ { "--device", "a", "--start", "now", "--for", "2h", "-m", "", NULL },
		    VERBS_BAD_VALUE, "-m: the text is empty" },
	};
	char *argv[NARGS], err[512];
	size_t i;

	site_zone();
	for (i = 0; i < NELEM(cases); i++) {
		int argc = words(cases[i].argv, argv);
		struct window *w = (struct window *)1;
		int r;

		err[0] = '\0';
		r = verbs_maintenance_args(argc, argv, SITE, NOW, &w, err, sizeof(err));
		ck_assert_msg(r == cases[i].r, "%s: %d (%s), want %d",
		    shown(cases[i].argv), r, err, cases[i].r);
		ck_assert_ptr_null(w);
		ck_assert_msg(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
		    "%s: \"%s\", want \"%s...\"", shown(cases[i].argv), err,
		    cases[i].err);
	}
}
END_TEST

static Suite *
verbs_suite(void)
{
	Suite *s = suite_create("verbs");
	TCase *tc;

	tc = tcase_create("values");
	tcase_add_test(tc, ids);
	tcase_add_test(tc, texts);
	tcase_add_test(tc, expire);
	suite_add_tcase(s, tc);

	tc = tcase_create("verbs");
	tcase_add_test(tc, ack_good);
	tcase_add_test(tc, ack_bad);
	tcase_add_test(tc, declare);
	tcase_add_test(tc, maintenance_good);
	tcase_add_test(tc, maintenance_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(verbs_suite());
}
