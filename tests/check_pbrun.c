/*
 * playbooks/run.c: the record of a playbook run and its checkpoint.  The
 * record written and read back the same; every run in the folder, by id;
 * damaged files set aside and reported, never dropped quietly; the
 * recovery after a crash (a running step starts over when idempotent, else
 * waits for an operator); refusals of malformed records.
 */
#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "playbooks/run.h"
#include "tests/testutil.h"

#define T0 1795564800000LL /* 2026-11-25 09:00:00 +0900 */

static const char *tmpdir;
static const char *const ids[] = { "announce", "confirm-power", "shutdown-tier-3",
	"wait-mains" };

static void
setup(void)
{
	umask(022);
	tmpdir = testutil_tmpdir("check-pbrun");
}

static void
teardown(void)
{
	testutil_rmdir();
}

static struct pb_run *
sample(uint64_t id)
{
	struct pb_run *r = pb_run_new(
	    id, "power-outage", ids, 4, 12, 0, "sonaed", "incident 12 opened: 停電", T0);
	struct pb_step_run *s;

	s = pb_run_step(r, "announce");
	s->state = PBS_DONE;
	s->attempts = 1;
	s->started_ms = T0 + 10;
	s->ended_ms = T0 + 40;
	s->result = xstrdup("mail queued #7");
	s = pb_run_step(r, "confirm-power");
	s->state = PBS_WAITING;
	s->started_ms = T0 + 50;
	r->current = 1;
	pb_run_note(
	    r, T0 + 50, "sonaed", "step-start", "confirm-power: 発電機は起動しましたか");
	return r;
}

static size_t
load(struct pb_run ***runs, json_t **problems)
{
	char err[512];
	size_t n;

	ck_assert_msg(pb_run_load_all(tmpdir, runs, &n, problems, err, sizeof(err)) == 0,
	    "%s", err);
	return n;
}

static void
free_runs(struct pb_run **runs, size_t n, json_t *problems)
{
	size_t i;

	for (i = 0; i < n; i++)
		pb_run_free(runs[i]);
	free(runs);
	json_decref(problems);
}

/* Written, read back: the same record, to the byte of its JSON. */
START_TEST(run_round_trip)
{
	struct pb_run *r = sample(42), **runs;
	json_t *a, *b, *problems;
	char err[512], *path;
	struct stat st;
	size_t n;

	ck_assert_msg(pb_run_save(tmpdir, r, err, sizeof(err)) == 0, "%s", err);
	path = testutil_path(tmpdir, "runs/000000000042.json");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	free(path);
	path = testutil_path(tmpdir, "runs/000000000042.json.tmp");
	ck_assert_int_eq(access(path, F_OK), -1); /* renamed into place */
	free(path);
	n = load(&runs, &problems);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(json_array_size(problems), 0);
	a = pb_run_json(r);
	b = pb_run_json(runs[0]);
	ck_assert_msg(json_equal(a, b), "the record changed on its way through the disk");
	ck_assert_str_eq(pb_step_state_name(runs[0]->steps[1].state), "waiting");
	ck_assert_str_eq(runs[0]->reason, "incident 12 opened: 停電");
	ck_assert_ptr_null(runs[0]->steps[1].result);
	json_decref(a);
	json_decref(b);
	/* Saved again after a change: the file holds the new record. */
	r->steps[1].state = PBS_DONE;
	r->steps[1].actor = xstrdup("tanaka");
	r->current = 2;
	ck_assert_int_eq(pb_run_save(tmpdir, r, err, sizeof(err)), 0);
	free_runs(runs, n, problems);
	n = load(&runs, &problems);
	ck_assert_str_eq(runs[0]->steps[1].actor, "tanaka");
	ck_assert_uint_eq(runs[0]->current, 2);
	free_runs(runs, n, problems);
	pb_run_free(r);
}
END_TEST

/* Every run of the folder, by id; other files left alone. */
START_TEST(run_load_all_in_order)
{
	uint64_t want[] = { 3, 17, 100000 }, order[] = { 17, 100000, 3 };
	struct pb_run **runs;
	json_t *problems;
	char err[512], *p;
	size_t i, n;

	for (i = 0; i < 3; i++) {
		struct pb_run *r = sample(order[i]);
		ck_assert_int_eq(pb_run_save(tmpdir, r, err, sizeof(err)), 0);
		pb_run_free(r);
	}
	free(testutil_write(tmpdir, "runs/README", "not a run\n"));
	free(testutil_write(tmpdir, "runs/000000000005.json.tmp", "{half"));
	n = load(&runs, &problems);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(runs[i]->id, want[i]);
	ck_assert_uint_eq(json_array_size(problems), 0);
	free_runs(runs, n, problems);
	p = testutil_path(tmpdir, "runs/README");
	ck_assert_int_eq(access(p, F_OK), 0);
	free(p);
}
END_TEST

/* A damaged record is set aside and named, the others load. */
START_TEST(run_damaged_set_aside)
{
	struct pb_run *r = sample(1), **runs;
	json_t *problems;
	char err[512], *dir;
	struct dirent *de;
	size_t n, aside = 0;
	DIR *d;

	ck_assert_int_eq(pb_run_save(tmpdir, r, err, sizeof(err)), 0);
	pb_run_free(r);
	free(testutil_write(tmpdir, "runs/000000000002.json", "{\"version\": 1, \"id\""));
	free(testutil_write(tmpdir, "runs/000000000003.json",
	    "{\"version\": 1, \"id\": 3, \"playbook\": \"p\", \"requested_by\": \"x\", "
	    "\"reason\": \"y\", \"state\": \"sleeping\", \"steps\": [], \"log\": []}"));
	n = load(&runs, &problems);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(runs[0]->id, 1);
	ck_assert_uint_eq(json_array_size(problems), 2);
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_array_get(problems, 0)), "set aside as"));
	free_runs(runs, n, problems);
	dir = testutil_path(tmpdir, "runs");
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		aside += strstr(de->d_name, ".damaged-") != NULL;
	closedir(d);
	free(dir);
	ck_assert_uint_eq(aside, 2);
	/* Loaded again: nothing more to report. */
	n = load(&runs, &problems);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(json_array_size(problems), 0);
	free_runs(runs, n, problems);
}
END_TEST

static int
only_notify_and_wait(void *arg, const char *id)
{
	(void)arg;
	return strcmp(id, "announce") == 0 || strcmp(id, "wait-mains") == 0;
}

/* After a crash: idempotent steps start over, the others wait for a human. */
START_TEST(run_recover_after_crash)
{
	struct pb_run *r = sample(9), *done = sample(10);
	size_t entries;

	r->steps[0].state = PBS_RUNNING; /* announce: may run again */
	r->steps[2].state = PBS_RUNNING; /* shutdown-tier-3: must not */
	entries = json_array_size(r->log);
	ck_assert_uint_eq(pb_run_recover(r, T0 + 1000, only_notify_and_wait, NULL), 1);
	ck_assert_int_eq(r->steps[0].state, PBS_PENDING);
	ck_assert_int_eq(r->steps[1].state, PBS_WAITING); /* a question stays asked */
	ck_assert_int_eq(r->steps[2].state, PBS_UNKNOWN);
	ck_assert_int_eq(r->steps[3].state, PBS_PENDING);
	ck_assert_uint_eq(json_array_size(r->log), entries + 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(r->log, entries), "event")),
	    "step-restart");
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(r->log, entries + 1), "event")),
	    "step-unknown");
	/* A finished run is history: nothing changes. */
	done->state = PBR_ABORTED;
	done->steps[2].state = PBS_RUNNING;
	ck_assert_uint_eq(pb_run_recover(done, T0 + 1000, only_notify_and_wait, NULL), 0);
	ck_assert_int_eq(done->steps[2].state, PBS_RUNNING);
	pb_run_free(r);
	pb_run_free(done);
}
END_TEST

/* Malformed records are refused with a reason. */
START_TEST(run_from_json_refusals)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "[]", "not a run record of version 1" },
		{ "{\"version\": 2}", "not a run record of version 1" },
		{ "{\"version\": 1, \"id\": 1}", "a run record needs id, playbook" },
		{ "{\"version\": 1, \"id\": 1, \"playbook\": \"p\", \"requested_by\": "
		  "\"x\", "
		  "\"reason\": \"y\", \"state\": \"done\", \"steps\": [{\"id\": \"a\", "
		  "\"state\": \"lost\"}], \"log\": []}",
		    "step 1: no id or an unknown state" },
		{ "{\"version\": 1, \"id\": 1, \"playbook\": \"p\", \"requested_by\": "
		  "\"x\", "
		  "\"reason\": \"y\", \"state\": \"done\", \"current\": 2, \"steps\": "
		  "[{\"id\": \"a\", \"state\": \"done\"}], \"log\": []}",
		    "current step 2 of 1" },
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = json_loads(cases[i].text, 0, NULL);
		ck_assert_ptr_nonnull(o);
		err[0] = '\0';
		ck_assert_ptr_null(pb_run_from_json(o, err, sizeof(err)));
		ck_assert_msg(strstr(err, cases[i].why) != NULL, "case %zu: %s", i, err);
		json_decref(o);
	}
}
END_TEST

static Suite *
pbrun_suite(void)
{
	Suite *s = suite_create("pbrun");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, run_round_trip);
	tcase_add_test(tc, run_load_all_in_order);
	tcase_add_test(tc, run_damaged_set_aside);
	tcase_add_test(tc, run_recover_after_crash);
	tcase_add_test(tc, run_from_json_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(pbrun_suite());
}
