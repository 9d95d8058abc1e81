/*
 * conf.c and schema.c: loading files, every class of error as
 * "FILE:LINE: KEY: reason", defaults, relative paths, includes, comparison,
 * the generated reference, and secret files.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "probes/probe.h"
#include "tests/testutil.h"

static const char *tmpdir;

static void
setup(void)
{
	tmpdir = testutil_tmpdir("check-conf");
}

static void
teardown(void)
{
	testutil_rmdir();
}

/* Write tmpdir/name (folders must exist) with mode; return its path (caller frees). */
static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path = testutil_write(tmpdir, name, text);

	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

/* s with every "@D" replaced by the temporary folder (caller frees). */
static char *
expand(const char *s)
{
	size_t cap = strlen(s) + 1, off = 0;
	char *out;
	const char *p;

	for (p = s; (p = strstr(p, "@D")) != NULL; p += 2)
		cap += strlen(tmpdir);
	out = xmalloc(cap);
	for (p = s; *p != '\0';) {
		if (p[0] == '@' && p[1] == 'D') {
			memcpy(out + off, tmpdir, strlen(tmpdir));
			off += strlen(tmpdir);
			p += 2;
		} else
			out[off++] = *p++;
	}
	out[off] = '\0';
	return out;
}

static const char good_scenario[] = "unit v V\n0 v=1\n10s v=2\nend 20s\n";

static const char good_conf[] =
    "site: { name = \"demo\"; };\n"
    "devices = (\n"
    "\t{\n"
    "\t\tname = \"ups1\";\n"
    "\t\tkind = \"ups\";\n"
    "\t\treplay = { scenario = \"s.replay\"; };\n"
    "\t},\n"
    "\t{\n"
    "\t\tname = \"env1\";\n"
    "\t\tinterval = \"30s\";\n"
    "\t\treplay = { scenario = \"s.replay\"; loop = false; };\n"
    "\t}\n"
    ");\n";

/* Load @D/name; assert it fails with exactly the expected messages. */
static void
expect_errors(const char *what, const char *name, const char *const *want, size_t nwant)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	char *path, *all = xstrdup(""), *tmp;
	size_t i;

	path = testutil_path(tmpdir, name);
	conf = conf_load(path, &errs);
	for (i = 0; i < errs.n; i++) {
		xasprintf(&tmp, "%s\n  %s", all, errs.v[i]);
		free(all);
		all = tmp;
	}
	ck_assert_msg(conf == NULL, "%s: %s loaded", what, name);
	ck_assert_msg(
	    errs.n == nwant, "%s: %zu errors, expected %zu:%s", what, errs.n, nwant, all);
	for (i = 0; i < nwant; i++) {
		char *w = expand(want[i]);
		ck_assert_msg(strcmp(errs.v[i], w) == 0,
		    "%s: error %zu:\n  got  %s\n  want %s", what, i + 1, errs.v[i], w);
		free(w);
	}
	free(all);
	free(path);
	conf_errors_clear(&errs);
}

static struct conf *
load_ok(const char *path)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf = conf_load(path, &errs);

	ck_assert_msg(conf != NULL, "%s refused: %s", path, errs.n ? errs.v[0] : "?");
	ck_assert_uint_eq(errs.n, 0);
	return conf;
}

/*
 * One error class per row: the whole file, and the exact messages.  Line
 * numbers are those of the file as written.
 */
static const struct {
	const char *what;
	const char *text;
	const char *errors[4];
} error_cases[] = {
	{ "unknown key with a hint",
	    "site: { name = \"demo\"; };\n"
	    "devices = (\n"
	    "\t{\n"
	    "\t\tname = \"ups1\";\n"
	    "\t\treplay = { scenario = \"s.replay\"; };\n"
	    "\n"
	    "\t\tintervall = 5;\n"
	    "\t}\n"
	    ");\n",
	    { "@D/bad.conf:7: devices[0].intervall: unknown key (did you mean "
	      "\"interval\"?)" } },
	{ "unknown key without a hint",
	    "site: {\n"
	    "\tname = \"demo\";\n"
	    "\tcolour = \"red\";\n"
	    "};\n",
	    { "@D/bad.conf:3: site.colour: unknown key" } },
	{ "unknown top-level group",
	    "site: { name = \"demo\"; };\n"
	    "alerts: { mail = \"x\"; };\n",
	    { "@D/bad.conf:2: alerts: unknown key" } },
	{ "unknown probe section",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tsnmpp = { host = \"192.0.2.1\"; };\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].snmpp: unknown key" } },
	{ "string where an integer belongs",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tretries = \"two\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].retries: expected an integer" } },
	{ "integer where a string belongs",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tdescription = 5;\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].description: expected a string in double "
	      "quotes" } },
	{ "boolean where a string list belongs",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\ttags = true;\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].tags: expected a list of strings: [\"a\", "
	      "\"b\"]" } },
	{ "interval 0 below the minimum",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "\tinterval = 0;\n"
	    "} );\n",
	    { "@D/bad.conf:5: devices[0].interval: 0 is below the minimum 0.1" } },
	{ "control.max_line below the minimum",
	    "site: { name = \"demo\"; };\n"
	    "control: {\n"
	    "\tmax_line = 10;\n"
	    "};\n",
	    { "@D/bad.conf:3: control.max_line: 10 is below the minimum 256" } },
	{ "retries above the maximum",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( { name = \"ups1\"; retries = 11; replay = { scenario = "
	    "\"s.replay\"; }; } );\n",
	    { "@D/bad.conf:2: devices[0].retries: 11 is above the maximum 10" } },
	{ "bad duration string",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "\ttimeout = \"5x\";\n"
	    "} );\n",
	    { "@D/bad.conf:5: devices[0].timeout: \"5x\" is not a duration (e.g. 500ms, "
	      "30s, "
	      "5min, 2h)" } },
	{ "duration string above the maximum",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "\tinterval = \"2d\";\n"
	    "} );\n",
	    { "@D/bad.conf:5: devices[0].interval: 2d is above the maximum 86400" } },
	{ "timeout longer than the interval",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "\tinterval = \"5s\";\n"
	    "\ttimeout = 10;\n"
	    "} );\n",
	    { "@D/bad.conf:6: devices[0].timeout: timeout 10s is longer than the "
	      "interval "
	      "5s" } },
	{ "site.name missing (site group given)",
	    "\n"
	    "site: {\n"
	    "\ttimezone = \"UTC\";\n"
	    "};\n",
	    { "@D/bad.conf:2: site.name: required but missing" } },
	{ "site.name missing (no site group)", "store: { history = 10; };\n",
	    { "@D/bad.conf: site.name: required but missing" } },
	{ "device name missing",
	    "site: { name = \"demo\"; };\n"
	    "devices = (\n"
	    "\t{\n"
	    "\t\tkind = \"ups\";\n"
	    "\t\treplay = { scenario = \"s.replay\"; };\n"
	    "\t}\n"
	    ");\n",
	    { "@D/bad.conf:3: devices[0].name: required but missing" } },
	{ "replay.scenario missing",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = {\n"
	    "\t\tloop = false;\n"
	    "\t};\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].replay.scenario: required but missing" } },
	{ "duplicate device names",
	    "site: { name = \"demo\"; };\n"
	    "devices = (\n"
	    "\t{\n"
	    "\t\tname = \"ups1\";\n"
	    "\t\treplay = { scenario = \"s.replay\"; };\n"
	    "\t},\n"
	    "\t{\n"
	    "\t\tname = \"env1\";\n"
	    "\t\treplay = { scenario = \"s.replay\"; };\n"
	    "\t},\n"
	    "\t{\n"
	    "\t\tname = \"ups1\";\n"
	    "\t\treplay = { scenario = \"s.replay\"; };\n"
	    "\t}\n"
	    ");\n",
	    /* Both places are the lines where the devices begin. */
	    { "@D/bad.conf:11: devices[2].name: \"ups1\" is already used at "
	      "@D/bad.conf:3" } },
	{ "bad device name",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"1st ups\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:3: devices[0].name: \"1st ups\": use letters, digits, '-' and "
	      "'_', "
	      "starting with a letter" } },
	{ "bad enum value",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tkind = \"toaster\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].kind: expected one of: ups, pdu, switch, "
	      "router, "
	      "link, "
	      "sensor, host, other" } },
	{ "bad time zone",
	    "site: {\n"
	    "\tname = \"demo\";\n"
	    "\ttimezone = \"Mars/Olympus_Mons\";\n"
	    "};\n",
	    { "@D/bad.conf:3: site.timezone: unknown time zone \"Mars/Olympus_Mons\" (a "
	      "tz "
	      "database name such as Asia/Tokyo)" } },
	{ "device without a probe section",
	    "site: { name = \"demo\"; };\n"
	    "devices = (\n"
	    "\t{\n"
	    "\t\tname = \"ups1\";\n"
	    "\t}\n"
	    ");\n",
	    { "@D/bad.conf:3: devices[0]: no probe section: add one of replay, snmp, "
	      "modbus" } },
	{ "two probe sections with the same name",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:5: duplicate setting name" } },
	{ "libconfig syntax error",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = ;\n"
	    "} );\n",
	    { "@D/bad.conf:3: syntax error" } },
	{ "scenario file missing (resolved against the config folder)",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = {\n"
	    "\t\tscenario = \"missing.replay\";\n"
	    "\t};\n"
	    "} );\n",
	    { "@D/bad.conf:5: devices[0].replay.scenario: scenario @D/missing.replay: No "
	      "such "
	      "file or directory" } },
	{ "error in the scenario file",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"broken.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].replay.scenario: @D/broken.replay:3: offsets "
	      "must "
	      "not "
	      "go back in time" } },
	{ "looping scenario without end",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"noend.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:4: devices[0].replay.scenario: @D/noend.replay: a looping "
	      "scenario "
	      "needs an \"end DURATION\" line (or set loop = false)" } },
	{ "every error at once, in file order",
	    "site: { name = \"demo\"; timezone = \"Nowhere/Town\"; };\n"
	    "store: { history = -1; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tavailability = 4;\n"
	    "\treplay = { scenario = \"s.replay\"; speed = 0; };\n"
	    "} );\n",
	    { "@D/bad.conf:2: store.history: -1 is below the minimum 0",
	        "@D/bad.conf:5: devices[0].availability: 4 is above the maximum 3",
	        "@D/bad.conf:6: devices[0].replay.speed: 0 is below the minimum 0.01",
	        /* Cross-key checks come after the walk. */
	        "@D/bad.conf:1: site.timezone: unknown time zone \"Nowhere/Town\" (a tz "
	        "database name such as Asia/Tokyo)" } },
};

START_TEST(conf_error_table)
{
	size_t i, n;

	free(write_file("s.replay", good_scenario, 0644));
	free(write_file("broken.replay", "0 v=1\n20s v=2\n10s v=3\n", 0644));
	free(write_file("noend.replay", "0 v=1\n", 0644));
	for (i = 0; i < NELEM(error_cases); i++) {
		for (n = 0; n < NELEM(error_cases[i].errors) && error_cases[i].errors[n];
		     n++)
			;
		free(write_file("bad.conf", error_cases[i].text, 0644));
		ck_assert_msg(n > 0, "%s: no expected errors", error_cases[i].what);
		expect_errors(error_cases[i].what, "bad.conf", error_cases[i].errors, n);
	}
}
END_TEST

START_TEST(conf_missing_file)
{
	const char *want[] = {
		"@D/nothere.conf: cannot open: No such file or directory"
	};

	expect_errors("missing file", "nothere.conf", want, 1);
}
END_TEST

/* An error inside an @included file names that file and its own line. */
START_TEST(conf_error_in_include)
{
	const char *want[] = {
		"@D/sub/devices.conf:4: devices[0].retries: 11 is above the "
		"maximum 10"
	};
	const char *want_syntax[] = { "@D/sub/store.conf:3: syntax error" };
	char *dir;

	dir = testutil_path(tmpdir, "sub");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	free(dir);
	free(write_file("s.replay", good_scenario, 0644));
	free(write_file("main.conf",
	    "site: { name = \"demo\"; };\n"
	    "@include \"sub/devices.conf\"\n",
	    0644));
	free(write_file("sub/devices.conf",
	    "# devices of the demo site\n"
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\tretries = 11;\n"
	    "\treplay = { scenario = \"../s.replay\"; };\n"
	    "} );\n",
	    0644));
	expect_errors("key error in an include", "main.conf", want, 1);

	free(write_file("main.conf",
	    "site: { name = \"demo\"; };\n"
	    "@include \"sub/store.conf\"\n",
	    0644));
	free(write_file("sub/store.conf", "\n\nstore: { history = ; };\n", 0644));
	expect_errors("syntax error in an include", "main.conf", want_syntax, 1);
}
END_TEST

START_TEST(conf_include_ok_relative_paths)
{
	struct conf *conf;
	char *dir, *path, *want;

	dir = testutil_path(tmpdir, "sub");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("main.conf",
	    "site: { name = \"demo\"; };\n"
	    "daemon: { state_dir = \"state\"; };\n"
	    "@include \"sub/devices.conf\"\n",
	    0644);
	free(write_file("sub/devices.conf",
	    "devices = ( {\n"
	    "\tname = \"ups1\";\n"
	    "\treplay = { scenario = \"../s.replay\"; };\n"
	    "} );\n",
	    0644));
	/* Relative paths never depend on the working folder. */
	ck_assert_int_eq(chdir("/"), 0);
	conf = load_ok(path);
	want = testutil_path(tmpdir, "state");
	ck_assert_str_eq(conf->daemon.state_dir, want);
	ck_assert_uint_eq(conf->devices.n, 1);
	ck_assert_str_eq(conf_device(conf, 0)->name, "ups1");
	ck_assert_ptr_eq(conf_device(conf, 0)->probe, &probe_replay);
	/* The device remembers where it was defined: the included file. */
	free(want);
	want = testutil_path(tmpdir, "sub/devices.conf");
	ck_assert_str_eq(conf_device(conf, 0)->origin.file, want);
	ck_assert_uint_eq(conf_device(conf, 0)->origin.line, 1);
	conf_free(conf);
	free(want);
	free(path);
	free(dir);
}
END_TEST

START_TEST(conf_defaults)
{
	struct conf *conf;
	struct device_conf *d;
	char *path;

	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("min.conf",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( { name = \"ups1\"; replay = { scenario = \"s.replay\"; }; },\n"
	    "\t{ name = \"slow\"; interval = 120; replay = { scenario = \"s.replay\"; }; "
	    "} );\n",
	    0644);
	conf = load_ok(path);
	ck_assert_str_eq(conf->path, path);
	ck_assert_str_eq(conf->site.name, "demo");
	ck_assert_str_eq(conf->site.timezone, "Asia/Tokyo");
	ck_assert_str_eq(conf->daemon.state_dir, "/var/lib/sonae");
	ck_assert_ptr_null(conf->daemon.user);
	ck_assert_str_eq(conf->control.socket, "/run/sonae/sonae.sock");
	ck_assert_ptr_null(conf->control.group);
	ck_assert_ptr_null(conf->control.operators_group);
	ck_assert_int_eq(conf->control.max_line, 4096);
	ck_assert_int_eq(conf->control.max_clients, 64);
	ck_assert_int_eq(conf->control.max_per_uid, 8);
	ck_assert_int_eq(conf->control.idle_timeout_ms, 30000);
	ck_assert_int_eq(conf->store.history, 60);
	ck_assert_uint_eq(conf->devices.n, 2);

	d = conf_device(conf, 0);
	ck_assert_str_eq(d->name, "ups1");
	ck_assert_str_eq(device_kinds[d->kind], "other");
	ck_assert_ptr_null(d->description);
	ck_assert_ptr_null(d->location);
	ck_assert_uint_eq(d->tags.n, 0);
	ck_assert_int_eq(d->availability, 2);
	ck_assert_int_eq(d->interval_ms, 5000);
	ck_assert_int_eq(d->timeout_ms, 2000);
	ck_assert_int_eq(d->retries, 1);
	ck_assert_int_eq(d->retry_interval_ms, 500);
	ck_assert_int_eq(d->backoff_max_ms, 60000);
	ck_assert_int_eq(d->stale_after, 3);
	ck_assert_ptr_eq(d->probe, &probe_replay);
	ck_assert_ptr_nonnull(d->probe_conf);
	ck_assert_str_eq(d->origin.file, path);
	ck_assert_uint_eq(d->origin.line, 2);

	/* backoff_max is never below the interval. */
	d = conf_device(conf, 1);
	ck_assert_int_eq(d->interval_ms, 120000);
	ck_assert_int_eq(d->backoff_max_ms, 120000);
	conf_free(conf);
	free(path);
}
END_TEST

START_TEST(conf_values_read)
{
	struct conf *conf;
	struct device_conf *d;
	char *path;

	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("full.conf",
	    "site: { name = \"\xe7\x94\xba\xe5\xbd\xb9\xe5\xa0\xb4\"; timezone = "
	    "\"UTC\"; };\n"
	    "store: { history = 0; };\n"
	    "control: { socket = \"/tmp/s.sock\"; max_line = 65536; idle_timeout = "
	    "\"500ms\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"ups-1_a\";\n"
	    "\tkind = \"ups\";\n"
	    "\tdescription = \"\xe4\xb8\xbb UPS\";\n"
	    "\ttags = [\"power\", \"rack-a\"];\n"
	    "\tavailability = 3;\n"
	    "\tinterval = 1.5;\n"
	    "\ttimeout = \"500ms\";\n"
	    "\tretries = 0;\n"
	    "\tretry_interval = 0;\n"
	    "\tbackoff_max = \"1h30min\";\n"
	    "\tstale_after = 1;\n"
	    "\treplay = { scenario = \"s.replay\"; speed = 2.5; };\n"
	    "} );\n",
	    0600);
	conf = load_ok(path);
	ck_assert_str_eq(conf->site.name, "\xe7\x94\xba\xe5\xbd\xb9\xe5\xa0\xb4");
	ck_assert_str_eq(conf->site.timezone, "UTC");
	ck_assert_int_eq(conf->store.history, 0);
	ck_assert_str_eq(conf->control.socket, "/tmp/s.sock");
	ck_assert_int_eq(conf->control.max_line, 65536);
	ck_assert_int_eq(conf->control.idle_timeout_ms, 500);
	d = conf_device(conf, 0);
	ck_assert_str_eq(d->name, "ups-1_a");
	ck_assert_str_eq(device_kinds[d->kind], "ups");
	ck_assert_str_eq(d->description, "\xe4\xb8\xbb UPS");
	ck_assert_uint_eq(d->tags.n, 2);
	ck_assert_str_eq(d->tags.v[0], "power");
	ck_assert_str_eq(d->tags.v[1], "rack-a");
	ck_assert_int_eq(d->availability, 3);
	ck_assert_int_eq(d->interval_ms, 1500);
	ck_assert_int_eq(d->timeout_ms, 500);
	ck_assert_int_eq(d->retries, 0);
	ck_assert_int_eq(d->retry_interval_ms, 0);
	ck_assert_int_eq(d->backoff_max_ms, 5400000);
	ck_assert_int_eq(d->stale_after, 1);
	conf_free(conf);
	free(path);
}
END_TEST

START_TEST(conf_load_string_names)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;

	conf = conf_load_string(
	    "site: { name = \"x\"; };\nstore: { history = \"many\"; };\n", "<test>",
	    &errs);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.v[0], "<test>:2: store.history: expected an integer");
	conf_errors_clear(&errs);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_null(errs.v);

	conf = conf_load_string("site: { name = \"x\" ", "<test>", &errs);
	ck_assert_ptr_null(conf);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.v[0], "<test>:1: syntax error");
	conf_errors_clear(&errs);

	conf = conf_load_string("site: { name = \"x\"; };\n", "<test>", &errs);
	ck_assert_ptr_nonnull(conf);
	ck_assert_uint_eq(conf->devices.n, 0);
	conf_free(conf);
	conf_free(NULL);
}
END_TEST

START_TEST(conf_equal_reload)
{
	struct conf *a, *b, *c, *d;
	char *path;

	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("site.conf", good_conf, 0644);
	a = load_ok(path);
	b = load_ok(path);
	ck_assert_int_eq(conf_equal(&conf_root_table, a, b), 1);
	ck_assert_int_eq(
	    conf_equal(&conf_device_table, conf_device(a, 0), conf_device(b, 0)), 1);
	ck_assert_int_eq(
	    conf_equal(&conf_device_table, conf_device(a, 0), conf_device(b, 1)), 0);

	/* One device key changed: the file differs, that device differs, the other not.
	 */
	free(path);
	path = write_file("site.conf",
	    "site: { name = \"demo\"; };\n"
	    "devices = (\n"
	    "\t{\n"
	    "\t\tname = \"ups1\";\n"
	    "\t\tkind = \"ups\";\n"
	    "\t\tretries = 2;\n"
	    "\t\treplay = { scenario = \"s.replay\"; };\n"
	    "\t},\n"
	    "\t{\n"
	    "\t\tname = \"env1\";\n"
	    "\t\tinterval = \"30s\";\n"
	    "\t\treplay = { scenario = \"s.replay\"; loop = false; };\n"
	    "\t}\n"
	    ");\n",
	    0644);
	c = load_ok(path);
	ck_assert_int_eq(conf_equal(&conf_root_table, a, c), 0);
	ck_assert_int_eq(
	    conf_equal(&conf_device_table, conf_device(a, 0), conf_device(c, 0)), 0);
	ck_assert_int_eq(
	    conf_equal(&conf_device_table, conf_device(a, 1), conf_device(c, 1)), 1);

	/* A changed scenario file changes the devices that play it. */
	free(
	    write_file("s.replay", "unit v V\n0 v=1\n10s v=3\n15s v=4\nend 20s\n", 0644));
	d = load_ok(path);
	ck_assert_int_eq(
	    conf_equal(&conf_device_table, conf_device(c, 1), conf_device(d, 1)), 0);
	conf_free(a);
	conf_free(b);
	conf_free(c);
	conf_free(d);
	free(path);
}
END_TEST

/* Every key of every table, recursively, appears in the reference. */
static void
doc_check_table(
    const char *doc, const struct conf_table *t, const char *prefix, int depth)
{
	const struct conf_key *k;
	char want[256], sub[256];

	ck_assert_int_lt(depth, 8);
	ck_assert_int_lt(snprintf(want, sizeof(want), "\n## `%s`\n",
	                     prefix[0] ? prefix : "(top level)"),
	    (int)sizeof(want));
	ck_assert_msg(strstr(doc, want) != NULL, "no section for %s", prefix);
	for (k = t->keys; k->name != NULL; k++) {
		snprintf(want, sizeof(want), "| `%s` |", k->name);
		ck_assert_msg(strstr(doc, want) != NULL, "key %s%s%s missing", prefix,
		    prefix[0] ? "." : "", k->name);
		if (k->help != NULL)
			ck_assert_msg(
			    strstr(doc, k->help) != NULL, "help of %s missing", k->name);
		if (k->type != CT_GROUP && k->type != CT_LIST)
			continue;
		ck_assert_int_lt(
		    snprintf(sub, sizeof(sub), "%s%s%s%s", prefix, prefix[0] ? "." : "",
		        k->name, k->type == CT_LIST ? "[]" : ""),
		    (int)sizeof(sub));
		doc_check_table(doc, k->sub, sub, depth + 1);
	}
}

START_TEST(conf_doc_mentions_every_key)
{
	const struct probe_ops *replay = probe_find("replay");
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	ck_assert_ptr_nonnull(f);
	conf_doc(f);
	fclose(f);
	ck_assert_uint_gt(len, 1000);
	doc_check_table(doc, &conf_root_table, "", 0);
	ck_assert_ptr_nonnull(replay);
	doc_check_table(doc, replay->conf, "devices[].replay", 0);
	ck_assert_ptr_nonnull(strstr(doc, "replay"));
	ck_assert_ptr_nonnull(strstr(doc, "| `scenario` | path |  | required |"));
	ck_assert_ptr_nonnull(
	    strstr(doc, "| `interval` | duration | 0.1 .. 86400 s | `5s` |"));
	ck_assert_ptr_nonnull(
	    strstr(doc, "| `kind` | choice | ups, pdu, switch, router, link, "
	                "sensor, host, other | `other` |"));
	free(doc);
}
END_TEST

static const struct {
	const char *what;
	const char *content;
	size_t len; /* 0: strlen */
	mode_t mode;
	const char *secret; /* NULL: refused with err */
	const char *err;    /* "@P" stands for the path */
} secret_cases[] = {
	{ "trailing newline stripped", "s3cret\n", 0, 0600, "s3cret", NULL },
	{ "CRLF stripped", "s3cret\r\n", 0, 0600, "s3cret", NULL },
	{ "no newline", "s3cret", 0, 0400, "s3cret", NULL },
	{ "inner blanks kept", " pass word \n\n", 0, 0600, " pass word ", NULL },
	{ "group may read", "\xe7\xa7\x98\xe5\xaf\x86\n", 0, 0640,
	    "\xe7\xa7\x98\xe5\xaf\x86", NULL },
	{ "others may read", "s3cret\n", 0, 0644, NULL,
	    "secret file @P is accessible by others (mode 0644); chmod o-rwx it" },
	{ "others may write", "s3cret\n", 0, 0602, NULL,
	    "secret file @P is accessible by others (mode 0602); chmod o-rwx it" },
	{ "empty", "", 0, 0600, NULL, "secret file @P: empty or holds a NUL byte" },
	{ "only a newline", "\n", 0, 0600, NULL,
	    "secret file @P: empty or holds a NUL byte" },
	{ "NUL byte", "ab\0cd\n", 6, 0600, NULL,
	    "secret file @P: empty or holds a NUL byte" },
};

START_TEST(secret_file_table)
{
	char err[512], *path, *want, *got;
	size_t i;

	for (i = 0; i < NELEM(secret_cases); i++) {
		size_t len = secret_cases[i].len ? secret_cases[i].len
		                                 : strlen(secret_cases[i].content);

		xasprintf(&path, "%s/secret%zu", tmpdir, i);
		testutil_write_data(path, secret_cases[i].content, len);
		ck_assert_int_eq(chmod(path, secret_cases[i].mode), 0);
		err[0] = '\0';
		got = secret_read_file(path, err, sizeof(err));
		if (secret_cases[i].secret != NULL) {
			ck_assert_msg(
			    got != NULL, "%s: refused: %s", secret_cases[i].what, err);
			ck_assert_msg(strcmp(got, secret_cases[i].secret) == 0,
			    "%s: [%s]", secret_cases[i].what, got);
		} else {
			const char *at = strstr(secret_cases[i].err, "@P");
			ck_assert_msg(got == NULL, "%s: accepted", secret_cases[i].what);
			xasprintf(&want, "%.*s%s%s", (int)(at - secret_cases[i].err),
			    secret_cases[i].err, path, at + 2);
			ck_assert_msg(strcmp(err, want) == 0, "%s:\n  got  %s\n  want %s",
			    secret_cases[i].what, err, want);
			free(want);
		}
		free(got);
		free(path);
	}
}
END_TEST

START_TEST(secret_file_refusals)
{
	char err[512], *path, *want, *link, big[5000];

	/* Missing. */
	path = testutil_path(tmpdir, "none");
	ck_assert_ptr_null(secret_read_file(path, err, sizeof(err)));
	xasprintf(&want, "secret file %s: No such file or directory", path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);

	/* A folder. */
	ck_assert_ptr_null(secret_read_file(tmpdir, err, sizeof(err)));
	xasprintf(&want, "secret file %s: not a regular file", tmpdir);
	ck_assert_str_eq(err, want);
	free(want);

	/* A symbolic link is not followed. */
	path = write_file("real", "s3cret\n", 0600);
	link = testutil_path(tmpdir, "link");
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_ptr_null(secret_read_file(link, err, sizeof(err)));
	xasprintf(&want, "secret file %s: %s", link, strerror(ELOOP));
	ck_assert_str_eq(err, want);
	free(want);
	free(link);
	free(path);

	/* Too long. */
	memset(big, 'x', sizeof(big));
	path = testutil_path(tmpdir, "big");
	testutil_write_data(path, big, sizeof(big));
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_ptr_null(secret_read_file(path, err, sizeof(err)));
	xasprintf(&want, "secret file %s: longer than 4095 bytes", path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conf_error_table);
	tcase_add_test(tc, conf_missing_file);
	tcase_add_test(tc, conf_error_in_include);
	tcase_add_test(tc, conf_load_string_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conf_include_ok_relative_paths);
	tcase_add_test(tc, conf_defaults);
	tcase_add_test(tc, conf_values_read);
	tcase_add_test(tc, conf_equal_reload);
	tcase_add_test(tc, conf_doc_mentions_every_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("secret");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, secret_file_table);
	tcase_add_test(tc, secret_file_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(conf_suite());
}
