/*
 * state.c and daemon.c: the snapshot written by a running daemon and read
 * back by the next one (readings restored as stale), a damaged snapshot set
 * aside, a journal cut at its end noticed, and the control verbs on a daemon
 * without a control socket.
 */
#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

static const char *tmpdir;
static char *conf_path, *state_dir;
static struct event_base *base;

static void
setup(void)
{
	tmpdir = testutil_tmpdir("check-state");
	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	free(testutil_write(tmpdir, "ups1.replay",
	    "unit charge_pct %\n"
	    "0 charge_pct=100 on_battery=false status=\"OL\"\n"
	    "end 1h\n"));
	state_dir = testutil_path(tmpdir, "state");
	conf_path = testutil_write(tmpdir, "sonae.conf",
	    "site: { name = \"test site\"; };\n"
	    "daemon: { state_dir = \"state\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tkind = \"ups\";\n"
	    "\tinterval = 0.1;\n"
	    "\ttimeout = 0.05;\n"
	    "\treplay = { scenario = \"ups1.replay\"; };\n"
	    "} );\n");
	base = event_base_new();
}

static void
teardown(void)
{
	event_base_free(base);
	testutil_rmdir();
	free(conf_path);
	free(state_dir);
}

/* Load the configuration and build a daemon with it, state_dir prepared. */
static struct daemon *
new_daemon(void)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf = conf_load(conf_path, &errs);
	char err[512];

	ck_assert_msg(conf != NULL, "%s", errs.n ? errs.v[0] : "?");
	ck_assert_str_eq(conf->daemon.state_dir, state_dir);
	ck_assert_msg(
	    daemon_prepare_state_dir(conf, getuid(), getgid(), err, sizeof(err)) == 0,
	    "%s", err);
	return daemon_new(base, conf, conf_path);
}

static void
start(struct daemon *d)
{
	char err[512];

	ck_assert_msg(daemon_start(d, err, sizeof(err)) == 0, "%s", err);
}

/* Run the loop until ups1 has completed n polls (at most 3 s). */
static void
run_until_polled(struct daemon *d, uint64_t n)
{
	struct device *dev = daemon_device(d, "ups1");
	int64_t end = time_mono_ms() + 3000;
	struct timeval tick = { 0, 20000 };

	ck_assert_ptr_nonnull(dev);
	while (device_state(dev)->polls < n && time_mono_ms() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	ck_assert_uint_ge(device_state(dev)->polls, n);
}

/* The k-th newest journal entry (1: the last), a new reference. */
static json_t *
newest(const char *journal, size_t k)
{
	json_t *all = audit_read(journal, 0, k), *e;

	ck_assert_uint_eq(json_array_size(all), k);
	e = json_incref(json_array_get(all, 0));
	json_decref(all);
	return e;
}

START_TEST(state_save_and_restore)
{
	struct daemon *d = new_daemon();
	struct sample smp;
	struct series *s;
	struct device_state *st;
	char err[512], *path;
	uint64_t polls;
	struct stat sb;

	start(d);
	ck_assert_ptr_nonnull(daemon_audit(d));
	ck_assert_uint_eq(audit_seq(daemon_audit(d)), 1); /* daemon.start */
	ck_assert_ptr_null(daemon_control(d));
	run_until_polled(d, 2);
	s = store_lookup(daemon_store(d), "ups1.charge_pct");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_double_eq(smp.num, 100);
	polls = device_state(daemon_device(d, "ups1"))->polls;

	ck_assert_msg(state_save(d, err, sizeof(err)) == 0, "%s", err);
	path = testutil_path(state_dir, "state.json");
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0640);
	free(path);
	path = testutil_path(state_dir, "state.json.tmp");
	ck_assert_int_eq(stat(path, &sb), -1); /* renamed, not left behind */
	free(path);
	daemon_free(d);

	/* A new daemon on the same folder: before any poll, the last readings are back.
	 */
	d = new_daemon();
	start(d);
	ck_assert_uint_eq(audit_seq(daemon_audit(d)), 2);
	ck_assert_uint_eq(store_count(daemon_store(d)), 3);
	s = store_lookup(daemon_store(d), "ups1.charge_pct");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(series_unit(s), "%");
	ck_assert_int_eq(series_kind(s), MK_NUMBER);
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_int_eq(smp.q, Q_STALE);
	ck_assert_double_eq(smp.num, 100);
	ck_assert_ptr_nonnull(smp.reason);
	ck_assert_msg(strncmp(smp.reason, "restored from the snapshot of ", 30) == 0,
	    "%s", smp.reason);
	ck_assert_ptr_nonnull(strstr(smp.reason, "+09:00; not polled since"));
	ck_assert_int_eq(
	    series_latest(store_lookup(daemon_store(d), "ups1.status"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_STALE);
	ck_assert_str_eq(smp.text, "OL");
	ck_assert_int_eq(
	    series_kind(store_lookup(daemon_store(d), "ups1.on_battery")), MK_BOOL);
	/* The device's counters come back too; its contact is found out anew. */
	st = device_state(daemon_device(d, "ups1"));
	ck_assert_uint_eq(st->polls, polls);
	ck_assert_int_gt(st->last_ok_ms, 0);
	ck_assert_int_eq(st->contact, CONTACT_PENDING);

	/* Once polled, the readings are current again. */
	run_until_polled(d, polls + 1);
	ck_assert_int_eq(
	    series_latest(store_lookup(daemon_store(d), "ups1.charge_pct"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_ptr_null(smp.reason);
	daemon_free(d);
}
END_TEST

START_TEST(state_shutdown_writes_snapshot)
{
	struct daemon *d = new_daemon();
	json_t *e;
	char *path;
	struct stat sb;

	start(d);
	run_until_polled(d, 1);
	daemon_shutdown(d);
	path = testutil_path(state_dir, "state.json");
	ck_assert_int_eq(stat(path, &sb), 0);
	free(path);
	e = newest(audit_path(daemon_audit(d)), 1);
	ck_assert_str_eq(json_string_value(json_object_get(e, "action")), "daemon.stop");
	ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), "sonaed");
	json_decref(e);
	daemon_free(d);

	d = new_daemon();
	start(d);
	ck_assert_uint_eq(audit_seq(daemon_audit(d)), 3);
	ck_assert_ptr_nonnull(store_lookup(daemon_store(d), "ups1.charge_pct"));
	daemon_free(d);
}
END_TEST

START_TEST(state_damaged_set_aside)
{
	struct daemon *d;
	char *path, *want;
	const char *problem;
	struct dirent *de;
	json_t *e;
	DIR *dir;
	int aside = 0;

	ck_assert_int_eq(mkdir(state_dir, 0750), 0);
	path = testutil_write(
	    state_dir, "state.json", "{\"version\": 1, \"devices\": {\"ups1\": ");
	d = new_daemon();
	start(d);
	/* Nothing restored, the damaged file moved away, the problem journaled. */
	ck_assert_uint_eq(store_count(daemon_store(d)), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	dir = opendir(state_dir);
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, "state.json.damaged-", 19) == 0 &&
		    strspn(de->d_name + 19, "0123456789") == strlen(de->d_name + 19))
			aside++;
	closedir(dir);
	ck_assert_int_eq(aside, 1);
	ck_assert_uint_eq(audit_seq(daemon_audit(d)), 2);
	/* Journaled before daemon.start. */
	e = newest(audit_path(daemon_audit(d)), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(e, "action")), "state.problem");
	problem =
	    json_string_value(json_object_get(json_object_get(e, "detail"), "problem"));
	ck_assert_ptr_nonnull(problem);
	xasprintf(&want, "snapshot %s:1: ", path);
	ck_assert_msg(strncmp(problem, want, strlen(want)) == 0, "%s", problem);
	free(want);
	xasprintf(&want, "; set aside as %s.damaged-", path);
	ck_assert_msg(strstr(problem, want) != NULL, "%s", problem);
	free(want);
	json_decref(e);
	/* And the daemon runs. */
	run_until_polled(d, 1);
	daemon_free(d);
	free(path);
}
END_TEST

START_TEST(state_unknown_version_ignored)
{
	struct daemon *d;
	char *path, *want;
	json_t *e;

	ck_assert_int_eq(mkdir(state_dir, 0750), 0);
	path =
	    testutil_write(state_dir, "state.json", "{\"version\": 99, \"devices\": {}}");
	d = new_daemon();
	start(d);
	ck_assert_int_eq(access(path, F_OK), 0); /* kept: it may be a newer sonaed's */
	e = newest(audit_path(daemon_audit(d)), 2);
	daemon_free(d);
	ck_assert_str_eq(
	    json_string_value(json_object_get(e, "action")), "state.problem");
	xasprintf(&want, "snapshot %s: unknown version; ignored", path);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(e, "detail"), "problem")),
	    want);
	json_decref(e);
	free(want);
	free(path);
}
END_TEST

/* Lines removed from the end of the journal are noticed against the snapshot. */
START_TEST(state_journal_cut_at_end)
{
	struct daemon *d = new_daemon();
	char err[512], *jpath, *want;
	json_t *e;
	FILE *f;
	long keep;
	char line[4096];

	start(d);
	daemon_journal(d, "tanaka", "drill.note", json_pack("{s:s}", "note", "x"));
	daemon_journal(d, "tanaka", "drill.note", json_pack("{s:s}", "note", "y"));
	ck_assert_uint_eq(audit_seq(daemon_audit(d)), 3);
	ck_assert_msg(state_save(d, err, sizeof(err)) == 0, "%s", err);
	jpath = xstrdup(audit_path(daemon_audit(d)));
	daemon_free(d);

	/* Keep only the first line. */
	f = fopen(jpath, "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	keep = ftell(f);
	fclose(f);
	ck_assert_int_eq(truncate(jpath, keep), 0);

	d = new_daemon();
	start(d);
	e = newest(jpath, 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(e, "action")), "state.problem");
	want = "audit journal ends at seq 1 but the snapshot saw seq 3: entries were "
	       "removed "
	       "from its end";
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(e, "detail"), "problem")),
	    want);
	json_decref(e);
	daemon_free(d);
	free(jpath);
}
END_TEST

START_TEST(state_dir_refused)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf = conf_load(conf_path, &errs);
	char err[512], *want;

	ck_assert_ptr_nonnull(conf);
	ck_assert_int_eq(mkdir(state_dir, 0700), 0);
	ck_assert_int_eq(chmod(state_dir, 0777), 0);
	ck_assert_int_eq(
	    daemon_prepare_state_dir(conf, getuid(), getgid(), err, sizeof(err)), -1);
	xasprintf(
	    &want, "state_dir %s: writable by others (mode 0777); refusing", state_dir);
	ck_assert_str_eq(err, want);
	free(want);
	ck_assert_int_eq(rmdir(state_dir), 0);
	testutil_write_data(state_dir, "a file", strlen("a file"));
	ck_assert_int_eq(
	    daemon_prepare_state_dir(conf, getuid(), getgid(), err, sizeof(err)), -1);
	xasprintf(&want, "state_dir %s: not a folder", state_dir);
	ck_assert_str_eq(err, want);
	free(want);
	conf_free(conf);
}
END_TEST

/* The verbs work on a daemon that has no control socket (tests, -n). */
START_TEST(state_verbs_without_control)
{
	static const struct {
		const char *line;
		int is_operator;
		int status;
		const char *text;
	} rows[] = {
		{ "status", 0, 1, "ok" },
		{ "devices", 0, 1, "ok" },
		{ "device ups1", 0, 1, "ok" },
		{ "device ups1 --history", 0, 1, "ok" },
		{ "device ups1 --hist", 0, ST_USAGE, "usage: device NAME [--history]" },
		{ "device nosuch", 0, ST_FAILED, "no device \"nosuch\"" },
		{ "device", 0, ST_USAGE, "usage: device NAME [--history]" },
		{ "validate", 0, 1, "ok" },
		{ "audit", 0, 1, "ok" },
		{ "audit --since 2h", 0, 1, "ok" },
		{ "audit --since soon", 0, ST_USAGE,
		    "--since \"soon\": give a time (2026-11-25, 2026-11-25T09:00) or an "
		    "age "
		    "(90min, 2h, 3d)" },
		{ "audit verify", 0, 1, "ok" },
		{ "poll ups1", 0, ST_DENIED,
		    "poll: only operators may do this (you are tester)" },
		{ "poll ups1", 1, 0, "polling" },
		{ "poll ups1", 1, ST_FAILED, "device \"ups1\" is being polled already" },
		{ "poll nosuch", 1, ST_FAILED, "no device \"nosuch\"" },
		{ "reload", 0, ST_DENIED,
		    "reload: only operators may do this (you are tester)" },
		{ "frobnicate", 0, ST_USAGE, "unknown command \"frobnicate\"" },
	};
	struct daemon *d = new_daemon();
	struct ctl_peer peer;
	struct ctl_reply r;
	size_t i;

	/* The loop does not run: no poll starts but the one asked for. */
	start(d);
	memset(&peer, 0, sizeof(peer));
	snprintf(peer.actor, sizeof(peer.actor), "tester");
	for (i = 0; i < NELEM(rows); i++) {
		char *argv[PROTO_MAX_ARGS], perr[128];
		int argc;

		peer.is_operator = rows[i].is_operator;
		ck_assert_int_eq(proto_split(rows[i].line, strlen(rows[i].line), argv,
		                     &argc, perr, sizeof(perr)),
		    0);
		verbs_dispatch(d, &peer, argc, argv, &r);
		ck_assert_msg(r.status == rows[i].status,
		    "[%s]: status %d, expected %d (%s)", rows[i].line, r.status,
		    rows[i].status, r.text);
		ck_assert_msg(strcmp(r.text, rows[i].text) == 0, "[%s]: [%s]",
		    rows[i].line, r.text);
		ck_assert_msg(
		    (r.body != NULL) == (r.status > 0), "[%s]: body", rows[i].line);
		if (strcmp(rows[i].line, "status") == 0) {
			ck_assert_int_eq(
			    json_integer_value(json_object_get(r.body, "clients")), 0);
			ck_assert_str_eq(
			    json_string_value(json_object_get(r.body, "site")),
			    "test site");
			ck_assert_int_eq(
			    json_integer_value(json_object_get(
			        json_object_get(r.body, "devices"), "pending")),
			    1);
		}
		if (strcmp(rows[i].line, "audit verify") == 0)
			ck_assert(json_is_true(json_object_get(r.body, "ok")));
		json_decref(r.body);
		proto_free_args(argv, argc);
	}
	daemon_free(d);
}
END_TEST

static Suite *
state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("state");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, state_save_and_restore);
	tcase_add_test(tc, state_shutdown_writes_snapshot);
	tcase_add_test(tc, state_damaged_set_aside);
	tcase_add_test(tc, state_unknown_version_ignored);
	tcase_add_test(tc, state_journal_cut_at_end);
	tcase_add_test(tc, state_dir_refused);
	tcase_add_test(tc, state_verbs_without_control);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(state_suite());
}
