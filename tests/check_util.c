/*
 * util.c: durations, points in time, UTF-8 validation, time zones.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

/* 2026-11-25T00:00:00Z */
#define T_20261125_0000Z INT64_C(1795564800000)

static const struct {
	const char *in;
	int64_t ms;
} duration_good[] = {
	{ "500ms", 500 },
	{ "30s", 30000 },
	{ "30sec", 30000 },
	{ "5min", 300000 },
	{ "5m", 300000 },
	{ "1h30min", 5400000 },
	{ "2d", 172800000 },
	{ "0.5", 500 },
	{ "5", 5000 },
	{ "0", 0 },
	{ "1.5s", 1500 },
	{ "1d1h1min1s", 90061000 },
	{ "0.25ms", 0 },
};

START_TEST(duration_parse_good)
{
	size_t i;

	for (i = 0; i < NELEM(duration_good); i++) {
		int64_t ms = -12345;

		ck_assert_msg(duration_parse(duration_good[i].in, &ms) == 0,
		    "\"%s\" refused", duration_good[i].in);
		ck_assert_msg(ms == duration_good[i].ms, "\"%s\": %lld ms, expected %lld",
		    duration_good[i].in, (long long)ms, (long long)duration_good[i].ms);
	}
}
END_TEST

static const char *const duration_bad[] = {
	"",
	"-1",
	"5x",
	"s",
	"1e400",
	"ms",
	"5 s",
	" 5",
	"5s ",
	"1h30",
	"5,5s",
	"+5",
	"nan",
	"inf",
	"1e20d",
	"5S",
	"1..5",
};

START_TEST(duration_parse_bad)
{
	size_t i;

	for (i = 0; i < NELEM(duration_bad); i++) {
		int64_t ms = -12345;

		ck_assert_msg(duration_parse(duration_bad[i], &ms) == -1,
		    "\"%s\" accepted as %lld", duration_bad[i], (long long)ms);
		ck_assert_msg(
		    ms == -12345, "\"%s\": result written on failure", duration_bad[i]);
	}
}
END_TEST

static const struct {
	int64_t ms;
	const char *out;
} duration_fmt[] = {
	{ 0, "0ms" },
	{ 500, "500ms" },
	{ 999, "999ms" },
	{ 1000, "1s" },
	{ 1500, "1.5s" },
	{ 1001, "1.001s" },
	{ 373200, "373.2s" }, /* not "373s": every millisecond reads back */
	{ 86399999, "86399.999s" },
	{ 30000, "30s" },
	{ 300000, "5min" },
	{ 5400000, "1h30min" },
	{ 172800000, "2d" },
	{ 90061000, "1d1h1min1s" },
	{ -5, "0ms" },
};

/* Words of a flag list: separators run together, ends are clean. */
START_TEST(word_next_splits)
{
	const char *s = " OB,LB\t, RB ";
	const char *want[] = { "OB", "LB", "RB" };
	size_t n, i = 0;

	for (n = word_next(&s); n > 0; s += n, n = word_next(&s)) {
		ck_assert_uint_lt(i, NELEM(want));
		ck_assert_uint_eq(n, strlen(want[i]));
		ck_assert_int_eq(strncmp(s, want[i], n), 0);
		i++;
	}
	ck_assert_uint_eq(i, NELEM(want));
	ck_assert_str_eq(s, "");
	s = "";
	ck_assert_uint_eq(word_next(&s), 0);
	s = " ,\t";
	ck_assert_uint_eq(word_next(&s), 0);
	ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(duration_format_table)
{
	char buf[64];
	int64_t back;
	size_t i;

	for (i = 0; i < NELEM(duration_fmt); i++) {
		duration_format(duration_fmt[i].ms, buf, sizeof(buf));
		ck_assert_msg(strcmp(buf, duration_fmt[i].out) == 0,
		    "%lld ms: \"%s\", expected \"%s\"", (long long)duration_fmt[i].ms,
		    buf, duration_fmt[i].out);
		/* What duration_format writes, duration_parse reads back. */
		ck_assert_int_eq(duration_parse(buf, &back), 0);
		ck_assert_int_eq(back, duration_fmt[i].ms < 0 ? 0 : duration_fmt[i].ms);
	}
}
END_TEST

static const struct {
	const char *in;
	int64_t ms;
} time_abs[] = {
	/* Site time (Asia/Tokyo, +09:00, no DST) unless an offset is given. */
	{ "2026-11-25", T_20261125_0000Z - 9 * 3600000 },
	{ "2026-11-25T09:00", T_20261125_0000Z },
	{ "2026-11-25 09:00", T_20261125_0000Z },
	{ "2026-11-25T09:00:00", T_20261125_0000Z },
	{ "2026-11-25 09:00:00+00:00", T_20261125_0000Z + 9 * 3600000 },
	{ "2026-11-25T09:00:00Z", T_20261125_0000Z + 9 * 3600000 },
	{ "2026-11-25T09:00:00+09:00", T_20261125_0000Z },
	{ "2026-11-25T09:00:00-01:30", T_20261125_0000Z + 10 * 3600000 + 30 * 60000 },
	/* Fractions of a second are read and ignored (documented in time_parse). */
	{ "2026-11-25T09:00:01.234+09:00", T_20261125_0000Z + 1000 },
	{ "2026-11-25T09:00:01,9Z", T_20261125_0000Z + 9 * 3600000 + 1000 },
};

START_TEST(time_parse_absolute)
{
	size_t i;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	for (i = 0; i < NELEM(time_abs); i++) {
		int64_t ms = -1;

		ck_assert_msg(time_parse(time_abs[i].in, 0, &ms) == 0, "\"%s\" refused",
		    time_abs[i].in);
		ck_assert_msg(ms == time_abs[i].ms, "\"%s\": %lld, expected %lld",
		    time_abs[i].in, (long long)ms, (long long)time_abs[i].ms);
	}
}
END_TEST

static const char *const time_bad[] = {
	"",
	"yesterday",
	"2026-11-25T",
	"2026-11-25T09",
	"2026-11-25X09:00",
	"2026-11-25T09:00+25:00",
	"2026-11-25T09:00:00+09:60",
	"2026-11-25T09:00:00 UTC",
	"2026-13-01",
	"-2h",
};

START_TEST(time_parse_bad)
{
	size_t i;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	for (i = 0; i < NELEM(time_bad); i++) {
		int64_t ms = 42;

		ck_assert_msg(time_parse(time_bad[i], 0, &ms) == -1,
		    "\"%s\" accepted as %lld", time_bad[i], (long long)ms);
	}
}
END_TEST

START_TEST(time_parse_relative)
{
	const int64_t now = T_20261125_0000Z + 123;
	int64_t ms = 0;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_int_eq(time_parse("2h", now, &ms), 0);
	ck_assert_int_eq(ms, now - 2 * 3600000);
	ck_assert_int_eq(time_parse("90min", now, &ms), 0);
	ck_assert_int_eq(ms, now - 90 * 60000);
	ck_assert_int_eq(time_parse("3d", now, &ms), 0);
	ck_assert_int_eq(ms, now - 3 * 86400000LL);
}
END_TEST

START_TEST(time_format_offset)
{
	char buf[64];
	int64_t back;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_str_eq(time_format(T_20261125_0000Z + 1234, buf, sizeof(buf)),
	    "2026-11-25T09:00:01.234+09:00");
	/* time_parse reads it back (to the second). */
	ck_assert_int_eq(time_parse(buf, 0, &back), 0);
	ck_assert_int_eq(back, T_20261125_0000Z + 1000);
	ck_assert_str_eq(time_format(-1, buf, sizeof(buf)), "-");

	ck_assert_int_eq(tz_apply("UTC"), 0);
	ck_assert_str_eq(
	    time_format(T_20261125_0000Z, buf, sizeof(buf)), "2026-11-25T00:00:00.000Z");
	ck_assert_int_eq(tz_apply("America/St_Johns"), 0); /* -03:30 in November */
	ck_assert_str_eq(time_format(T_20261125_0000Z, buf, sizeof(buf)),
	    "2026-11-24T20:30:00.000-03:30");
}
END_TEST

START_TEST(time_format_truncates)
{
	char buf[11];

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_str_eq(time_format(T_20261125_0000Z, buf, sizeof(buf)), "2026-11-25");
}
END_TEST

static const struct {
	const char *s;
	int valid;
	const char *what;
} utf8_cases[] = {
	{ "", 1, "empty" },
	{ "plain ascii", 1, "ascii" },
	{ "\xe8\xa8\x93\xe7\xb7\xb4", 1, "訓練" },
	{ "\xc2\x80", 1, "U+0080" },
	{ "\xdf\xbf", 1, "U+07FF" },
	{ "\xe0\xa0\x80", 1, "U+0800" },
	{ "\xef\xbf\xbf", 1, "U+FFFF" },
	{ "\xf0\x9f\x98\x80", 1, "U+1F600" },
	{ "\xf4\x8f\xbf\xbf", 1, "U+10FFFF" },
	{ "\xc0\xaf", 0, "overlong '/' (2 bytes)" },
	{ "\xc1\xbf", 0, "overlong U+007F" },
	{ "\xe0\x80\xaf", 0, "overlong '/' (3 bytes)" },
	{ "\xe0\x9f\xbf", 0, "overlong U+07FF" },
	{ "\xf0\x80\x80\xaf", 0, "overlong '/' (4 bytes)" },
	{ "\xf0\x8f\xbf\xbf", 0, "overlong U+FFFF" },
	{ "\xed\xa0\x80", 0, "surrogate U+D800" },
	{ "\xed\xbf\xbf", 0, "surrogate U+DFFF" },
	{ "\xf4\x90\x80\x80", 0, "beyond U+10FFFF" },
	{ "\xe8\xa8", 0, "truncated 3-byte sequence" },
	{ "\xe8", 0, "lead byte alone" },
	{ "\xf0\x9f\x98", 0, "truncated 4-byte sequence" },
	{ "a\xe8\xa8z", 0, "truncated sequence mid-string" },
	{ "\xe8\xa8\x93\xe7\xb7", 0, "second character truncated" },
	{ "\x80", 0, "lone continuation byte" },
	{ "\xbf\xbf", 0, "continuation bytes only" },
	{ "\xfe", 0, "0xFE" },
	{ "\xff", 0, "0xFF" },
	{ "\xf8\x88\x80\x80\x80", 0, "5-byte form" },
	{ "\xc3\x28", 0, "bad continuation" },
};

START_TEST(utf8_valid_table)
{
	size_t i;

	for (i = 0; i < NELEM(utf8_cases); i++)
		ck_assert_msg(utf8_valid(utf8_cases[i].s, strlen(utf8_cases[i].s)) ==
		                  utf8_cases[i].valid,
		    "%s: expected %s", utf8_cases[i].what,
		    utf8_cases[i].valid ? "valid" : "invalid");
}
END_TEST

START_TEST(utf8_valid_length)
{
	const char *s = "\xe8\xa8\x93\xe7\xb7\xb4";

	/* Only len bytes count: a cut through a character is invalid. */
	ck_assert_int_eq(utf8_valid(s, 3), 1);
	ck_assert_int_eq(utf8_valid(s, 4), 0);
	ck_assert_int_eq(utf8_valid(s, 5), 0);
	ck_assert_int_eq(utf8_valid(s, 0), 1);
	/* A NUL inside the length is ASCII, not the end. */
	ck_assert_int_eq(utf8_valid("a\0b", 3), 1);
}
END_TEST

static const struct {
	const char *name;
	int valid;
} tz_cases[] = {
	{ "Asia/Tokyo", 1 },
	{ "UTC", 1 },
	{ "Europe/Berlin", 1 },
	{ "America/St_Johns", 1 },
	{ "", 0 },
	{ "Mars/Olympus_Mons", 0 },
	{ "Asia", 0 }, /* a folder, not a zone */
	{ "../../etc/passwd", 0 },
	{ "Asia/../Asia/Tokyo", 0 },
	{ "/usr/share/zoneinfo/Asia/Tokyo", 0 },
	{ "asia/tokyo", 0 },
};

START_TEST(tz_valid_table)
{
	size_t i;

	for (i = 0; i < NELEM(tz_cases); i++)
		ck_assert_msg(tz_valid(tz_cases[i].name) == tz_cases[i].valid,
		    "\"%s\": expected %d", tz_cases[i].name, tz_cases[i].valid);
}
END_TEST

START_TEST(tz_apply_refuses_unknown)
{
	const char *tz;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_int_eq(tz_apply("Mars/Olympus_Mons"), -1);
	/* A typo never turns the zone into UTC: the old zone stays. */
	tz = getenv("TZ");
	ck_assert_ptr_nonnull(tz);
	ck_assert_str_eq(tz, "Asia/Tokyo");
}
END_TEST

START_TEST(strlcpy_s_truncates)
{
	char buf[4];

	ck_assert_uint_eq(strlcpy_s(buf, "abcdef", sizeof(buf)), 6);
	ck_assert_str_eq(buf, "abc");
	ck_assert_uint_eq(strlcpy_s(buf, "ab", sizeof(buf)), 2);
	ck_assert_str_eq(buf, "ab");
}
END_TEST

/* Jitter must spread: distinct values, both halves of the range, low bits too. */
START_TEST(random_u32_spreads)
{
	uint32_t seen[1000];
	size_t i, j, distinct = 0, high = 0, odd = 0;

	for (i = 0; i < 1000; i++) {
		seen[i] = random_u32();
		high += seen[i] >> 31;
		odd += seen[i] & 1;
		for (j = 0; j < i && seen[j] != seen[i]; j++)
			;
		distinct += j == i;
	}
	ck_assert_uint_ge(distinct, 995);
	ck_assert_uint_ge(high, 400);
	ck_assert_uint_le(high, 600);
	ck_assert_uint_ge(odd, 400);
	ck_assert_uint_le(odd, 600);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc;

	tc = tcase_create("duration");
	tcase_add_test(tc, duration_parse_good);
	tcase_add_test(tc, duration_parse_bad);
	tcase_add_test(tc, duration_format_table);
	tcase_add_test(tc, word_next_splits);
	suite_add_tcase(s, tc);

	tc = tcase_create("time");
	tcase_add_test(tc, time_parse_absolute);
	tcase_add_test(tc, time_parse_bad);
	tcase_add_test(tc, time_parse_relative);
	tcase_add_test(tc, time_format_offset);
	tcase_add_test(tc, time_format_truncates);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_test(tc, utf8_valid_table);
	tcase_add_test(tc, utf8_valid_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("tz");
	tcase_add_test(tc, tz_valid_table);
	tcase_add_test(tc, tz_apply_refuses_unknown);
	tcase_add_test(tc, strlcpy_s_truncates);
	tcase_add_test(tc, random_u32_spreads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(util_suite());
}
