/*
 * probes/replay.c: the scenario parser ("name:LINE: reason" for every kind
 * of mistake) and the probe playing a scenario into the store.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "probes/probe.h"
#include "tests/testutil.h"

static const char *tmpdir;

static void
setup(void)
{
	tmpdir = testutil_tmpdir("check-replay");
}

static void
teardown(void)
{
	testutil_rmdir();
}

static const char demo_text[] = "# ups1: mains fails at 20 s, the battery runs down\n"
                                "unit charge_pct %\n"
                                "0     on_battery=false charge_pct=100 status=\"OL\"\n"
                                "20s   on_battery=true status=\"OB\"\n"
                                "\n"
                                "50s   charge_pct=35 status=\"OB LB\"   # low battery\n"
                                "60s   !noreply\n"
                                "70s   !answer on_battery=false status=\"OL\"\n"
                                "end   90s\n";

static const struct {
	const char *what;
	const char *text;
	size_t frames;
} good[] = {
	{ "the documented example", demo_text, 5 },
	{ "one line", "0 v=1", 1 },
	{ "CRLF line ends", "unit v V\r\n0 v=1\r\n\r\n10s v=2\r\nend 20s\r\n", 2 },
	{ "equal offsets", "0 v=1\n0 v=2\n0 v=3\n", 3 },
	{ "metric first named later", "0 a=1\n10s b=\"x\"\n20s c=true\n", 3 },
	{ "invalid readings and failures",
	    "0 t=21.5\n5s t=!\"sensor open\"\n6s !fail \"bus error\"\n", 3 },
	{ "text with escapes and Japanese",
	    "0 s=\"say \\\"hi\\\" \\\\ \xe8\xa8\x93\xe7\xb7\xb4\"\n", 1 },
	{ "durations as offsets", "0.5 v=1\n1min v=2\n1h30min v=3\n2d v=4\n", 4 },
	{ "numbers", "0 a=-1.5 b=1e3 c=0x10 d=+2\n", 1 },
};

START_TEST(parse_good)
{
	char err[256];
	size_t i;

	for (i = 0; i < NELEM(good); i++) {
		struct scenario *sc;

		err[0] = '\0';
		sc = scenario_parse(
		    good[i].text, strlen(good[i].text), "t.replay", err, sizeof(err));
		ck_assert_msg(sc != NULL, "%s: refused: %s", good[i].what, err);
		ck_assert_msg(scenario_frames(sc) == good[i].frames,
		    "%s: %zu frames, expected %zu", good[i].what, scenario_frames(sc),
		    good[i].frames);
		scenario_free(sc);
	}
	scenario_free(NULL);
}
END_TEST

static const struct {
	const char *what;
	const char *text;
	size_t len; /* 0: strlen */
	const char *err;
} bad[] = {
	{ "bad offset", "0 v=1\n5x v=2\n", 0,
	    "t.replay:2: expected an offset (0, 30s, 2min), unit or end" },
	{ "negative offset", "# x\n-5s v=2\n", 0,
	    "t.replay:2: expected an offset (0, 30s, 2min), unit or end" },
	{ "going back in time", "0 v=1\n20s v=2\n\n10s v=3\n", 0,
	    "t.replay:4: offsets must not go back in time" },
	{ "unterminated string", "0 v=1\n1s s=\"abc\n2s v=2\n", 0,
	    "t.replay:2: unterminated string" },
	{ "control character in a string", "0 s=\"a\tb\"\n", 0,
	    "t.replay:1: control character in a string" },
	{ "metric changing type", "0 v=1\n10s v=\"one\"\n", 0,
	    "t.replay:2: metric changes type (number, true/false, or text) from an "
	    "earlier "
	    "line" },
	{ "number then boolean", "0 v=1\n\n\n10s v=true\n", 0,
	    "t.replay:4: metric changes type (number, true/false, or text) from an "
	    "earlier "
	    "line" },
	{ "unknown directive", "0 v=1\n10s !sleep\n", 0,
	    "t.replay:2: expected !noreply, !fail \"reason\" or !answer" },
	{ "fail without a reason", "0 v=1\n10s !fail\n", 0,
	    "t.replay:2: expected a double-quoted string" },
	{ "timed line after end", "0 v=1\nend 10s\n20s v=2\n", 0,
	    "t.replay:3: timed line after end" },
	{ "end before the last line", "0 v=1\n20s v=2\nend 10s\n", 0,
	    "t.replay:3: end must come after the last timed line" },
	{ "end at the last line", "0 v=1\n20s v=2\nend 20s\n", 0,
	    "t.replay:3: end must come after the last timed line" },
	{ "end without a duration", "0 v=1\nend\n", 0,
	    "t.replay:2: expected: end DURATION" },
	{ "end 0", "0 v=1\nend 0\n", 0,
	    "t.replay:2: expected: end DURATION (e.g. end 90s)" },
	{ "text after end", "0 v=1\nend 10s later\n", 0,
	    "t.replay:2: unexpected text at the end of the line" },
	{ "unit without a unit", "unit v\n0 v=1\n", 0,
	    "t.replay:1: expected: unit NAME UNIT" },
	{ "unit with a bad name", "unit 1v V\n0 v=1\n", 0,
	    "t.replay:1: expected: unit NAME UNIT" },
	{ "missing =", "0 v 1\n", 0, "t.replay:1: expected '=' after the metric name" },
	{ "bad metric name", "0 1v=1\n", 0,
	    "t.replay:1: expected NAME=VALUE (names: letters, digits, _)" },
	{ "missing value", "0 v=\n", 0,
	    "t.replay:1: expected a value: a number, true, false, \"text\" or "
	    "!\"reason\"" },
	{ "not a number", "0 v=12abc\n", 0,
	    "t.replay:1: expected a value: a number, true, false, \"text\" or "
	    "!\"reason\"" },
	{ "infinite number", "0 v=1e999\n", 0,
	    "t.replay:1: expected a value: a number, true, false, \"text\" or "
	    "!\"reason\"" },
	{ "line starting with a quote", "0 v=1\n\"v\"=2\n", 0,
	    "t.replay:2: expected an offset (0, 30s, 2min), unit or end" },
	{ "line starting with =", "0 v=1\n  =2\n", 0,
	    "t.replay:2: expected an offset (0, 30s, 2min), unit or end" },
	{ "invalid UTF-8", "0 v=1\n1s s=\"\xe8\xa8\"\n", 0,
	    "t.replay:2: line is not valid UTF-8" },
	{ "NUL byte", "0 v=1\n1s v=\0002\n", 13, "t.replay:2: NUL byte in the file" },
	/* Whole-file problems have no line of their own. */
	{ "no timed lines", "# nothing but comments\n\n", 0, "t.replay: no timed lines" },
	{ "empty file", "", 0, "t.replay: no timed lines" },
	{ "metric declared by unit but never set",
	    "unit volts V\nunit amps A\n0 volts=230\n", 0,
	    "t.replay: metric \"amps\" never gets a value" },
};

START_TEST(parse_bad)
{
	char err[256];
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		struct scenario *sc;

		err[0] = '\0';
		sc = scenario_parse(bad[i].text, len, "t.replay", err, sizeof(err));
		ck_assert_msg(sc == NULL, "%s: accepted", bad[i].what);
		ck_assert_msg(strcmp(err, bad[i].err) == 0, "%s:\n  got  %s\n  want %s",
		    bad[i].what, err, bad[i].err);
	}
}
END_TEST

START_TEST(parse_example_files)
{
	static const struct {
		const char *name;
		size_t frames;
	} files[] = { { "env1.replay", 9 }, { "leak1.replay", 0 } };
	const char *src = getenv("SONAE_SRC");
	char err[256], *path, *text;
	size_t i, len;
	FILE *f;

	ck_assert_msg(src != NULL, "SONAE_SRC is not set");
	for (i = 0; i < NELEM(files); i++) {
		struct scenario *sc;

		xasprintf(&path, "%s/etc/examples/%s", src, files[i].name);
		f = fopen(path, "r");
		ck_assert_msg(f != NULL, "%s", path);
		text = NULL;
		len = 0;
		ck_assert_int_eq(getdelim(&text, &len, '\0', f) > 0, 1);
		fclose(f);
		sc = scenario_parse(text, strlen(text), path, err, sizeof(err));
		ck_assert_msg(sc != NULL, "%s", err);
		if (files[i].frames > 0)
			ck_assert_uint_eq(scenario_frames(sc), files[i].frames);
		else
			ck_assert_uint_gt(scenario_frames(sc), 0);
		scenario_free(sc);
		free(text);
		free(path);
	}
}
END_TEST

/* Play a scenario through the real probe: one device, one poll, its readings. */
struct play {
	struct event_base *base;
	struct store *store;
	struct conf *conf;
	struct device *dev;
};

static void
play_start(struct play *p, const char *scenario)
{
	struct conf_errors errs = { NULL, 0 };
	char *path, *text;

	path = testutil_write(tmpdir, "s.replay", scenario);
	xasprintf(&text,
	    "site: { name = \"t\"; };\n"
	    "devices = ( { name = \"dev1\"; interval = 3600; timeout = \"300ms\"; "
	    "retries = 0;\n"
	    "\treplay = { scenario = \"%s\"; loop = false; }; } );\n",
	    path);
	p->conf = conf_load_string(text, "<replay>", &errs);
	ck_assert_msg(p->conf != NULL, "%s", errs.n ? errs.v[0] : "?");
	free(text);
	free(path);
	p->base = event_base_new();
	p->store = store_new(10);
	p->dev = device_new(p->base, p->store, conf_device(p->conf, 0));
	ck_assert_int_eq(device_start(p->dev), 0);
	ck_assert_int_eq(device_poll_now(p->dev), 0);
	/* One poll in flight at a time. */
	ck_assert_int_eq(device_poll_now(p->dev), -1);
}

/* Run the loop until the poll is over (answer or timeout), at most 2 s. */
static void
play_wait(struct play *p)
{
	int64_t end = time_mono_ms() + 2000;
	struct timeval tick = { 0, 50000 };

	while (device_state(p->dev)->polls < 1 && time_mono_ms() < end) {
		event_base_loopexit(p->base, &tick);
		event_base_dispatch(p->base);
	}
	ck_assert_uint_eq(device_state(p->dev)->polls, 1);
}

static void
play_end(struct play *p)
{
	device_free(p->dev);
	store_free(p->store);
	conf_free(p->conf);
	event_base_free(p->base);
}

START_TEST(play_values_carry_forward)
{
	static const char *const order[] = { "a", "b", "s", "e" };
	struct play p;
	struct series *s;
	struct sample smp;
	size_t i;

	/* All lines at offset 0: the poll sees the last one, with what carried forward.
	 */
	play_start(&p, "unit a V\n"
	               "0 a=1 b=true s=\"\xe8\xa8\x93\xe7\xb7\xb4\" e=5\n"
	               "0 a=3\n"
	               "0 e=!\"open circuit\"\n");
	play_wait(&p);
	ck_assert_int_eq(device_state(p.dev)->contact, CONTACT_OK);
	ck_assert_int_eq(device_state(p.dev)->last_status, POLL_OK);
	ck_assert_uint_eq(store_count(p.store), 4);

	s = store_lookup(p.store, "dev1.a");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(series_kind(s), MK_NUMBER);
	ck_assert_str_eq(series_unit(s), "V");
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_double_eq(smp.num, 3);
	ck_assert_int_eq(smp.q, Q_OK);

	s = store_lookup(p.store, "dev1.b");
	ck_assert_int_eq(series_kind(s), MK_BOOL);
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_double_eq(smp.num, 1);

	s = store_lookup(p.store, "dev1.s");
	ck_assert_int_eq(series_kind(s), MK_TEXT);
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_str_eq(smp.text, "\xe8\xa8\x93\xe7\xb7\xb4");

	s = store_lookup(p.store, "dev1.e");
	ck_assert_int_eq(series_kind(s), MK_NUMBER);
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_int_eq(smp.q, Q_ERROR);
	ck_assert_str_eq(smp.reason, "open circuit");

	/* The store lists them in the scenario's order. */
	for (i = 0, s = store_first(p.store, "dev1"); s != NULL; s = store_next(s), i++)
		ck_assert_str_eq(series_name(s), order[i]);
	ck_assert_uint_eq(i, NELEM(order));
	play_end(&p);
}
END_TEST

START_TEST(play_fail)
{
	struct play p;

	play_start(&p, "0 a=1\n0 !fail \"breaker tripped\"\n");
	play_wait(&p);
	ck_assert_int_eq(device_state(p.dev)->last_status, POLL_ERROR);
	ck_assert_str_eq(device_state(p.dev)->reason, "breaker tripped");
	ck_assert_int_eq(device_state(p.dev)->missed, 1);
	ck_assert_int_eq(device_state(p.dev)->contact, CONTACT_MISSED);
	ck_assert_uint_eq(store_count(p.store), 0);
	play_end(&p);
}
END_TEST

START_TEST(play_noreply_then_answer)
{
	struct play p;
	struct sample smp;
	int64_t t0 = time_mono_ms();

	/* Silence carries forward to later lines until !answer. */
	play_start(&p, "0 a=1\n0 !noreply\n0 a=2\n");
	play_wait(&p);
	ck_assert_int_ge(time_mono_ms() - t0, 300);
	ck_assert_int_eq(device_state(p.dev)->last_status, POLL_TIMEOUT);
	ck_assert_str_eq(device_state(p.dev)->reason, "no answer within 300ms");
	ck_assert_int_eq(device_state(p.dev)->contact, CONTACT_MISSED);
	play_end(&p);

	play_start(&p, "0 a=1\n0 !noreply\n0 !answer a=2\n");
	play_wait(&p);
	ck_assert_int_eq(device_state(p.dev)->last_status, POLL_OK);
	ck_assert_int_eq(series_latest(store_lookup(p.store, "dev1.a"), &smp), 0);
	ck_assert_double_eq(smp.num, 2);
	play_end(&p);
}
END_TEST

START_TEST(play_before_first_line)
{
	struct play p;

	/* Before the first timed line the device answers with nothing. */
	play_start(&p, "1h a=1\n");
	play_wait(&p);
	ck_assert_int_eq(device_state(p.dev)->contact, CONTACT_OK);
	ck_assert_uint_eq(store_count(p.store), 0);
	play_end(&p);
}
END_TEST

static Suite *
replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, parse_example_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("play");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, play_values_carry_forward);
	tcase_add_test(tc, play_fail);
	tcase_add_test(tc, play_noreply_then_answer);
	tcase_add_test(tc, play_before_first_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(replay_suite());
}
