/*
 * conf.c and schema.c: loading files, every class of error as
 * "FILE:LINE: KEY: reason", defaults, relative paths, includes, comparison,
 * the generated reference, and secret files.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <math.h>
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
	/* The playbook detect_conf's rule names (playbooks.dir = "pb"). */
	{
		char *dir = testutil_path(tmpdir, "pb");
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		free(dir);
	}
	free(testutil_write(tmpdir, "pb/power-outage.conf",
	    "name = \"power-outage\"; title_ja = \"停電対応\"; title_en = \"Power "
	    "outage\";\n"
	    "steps = ( { id = \"room\"; type = \"confirm\"; title = \"Check the room\";\n"
	    "\tquestion = \"Is the room safe?\"; } );\n"));
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

/* Two devices for the detection cases: what follows starts on line 6. */
#define DETECT_DEVICES                                                                   \
	"site: { name = \"demo\"; timezone = \"UTC\"; };\n"                              \
	"devices = (\n"                                                                  \
	"\t{ name = \"ups1\"; kind = \"ups\"; replay = { scenario = \"s.replay\"; }; "   \
	"},\n"                                                                           \
	"\t{ name = \"wan1\"; kind = \"router\"; replay = { scenario = \"s.replay\"; "   \
	"}; }\n"                                                                         \
	");\n"

/*
 * One error class per row: the whole file, and the exact messages.  Line
 * numbers are those of the file as written; columns (expressions) count
 * characters from 1, a tab is one.
 */
static const struct {
	const char *what;
	const char *text;
	const char *errors[8];
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
	/* The detection layer (schema_detect.c). */
	{ "expression error: file, line and column of the file",
	    DETECT_DEVICES
	    "rules = ( { name = \"a\"; when = \"ups1.on_battery && \"; } );\n",
	    { "@D/bad.conf:6:52: when: expected a value after \"ups1.on_battery &&\"" } },
	{ "expression error after escaped quotes",
	    DETECT_DEVICES "rules = ( { name = \"a\"; when = \"has(ups1.status, "
	                   "\\\"OB\\\") && (\"; } );\n",
	    { "@D/bad.conf:6:62: when: expected a value after \"has(ups1.status, 'OB') "
	      "&& (\"" } },
	{ "expression error in the second of two adjacent strings",
	    DETECT_DEVICES "rules = ( { name = \"a\";\n"
	                   "\twhen = \"ups1.on_battery\"\n"
	                   "\t    \" && ups1.temp > 3 degC s\"; } );\n",
	    { "@D/bad.conf:8:30: when: expected an operator or the end, found \"s\"" } },
	{ "expression on the line after its key",
	    DETECT_DEVICES
	    "rules = ( { name = \"a\"; recover = \"ups1.on_battery\"; when =\n"
	    "\t\"ups1.on_battery ||| ups1.x\"; } );\n",
	    { "@D/bad.conf:7:21: when: unexpected \"|\"" } },
	{ "expression error where the column cannot be found",
	    DETECT_DEVICES
	    "rules = ( { name = \"a\"; when = \"ups1.on_battery\" # comment\n"
	    "\t\" &&\"; } );\n",
	    { "@D/bad.conf:6: when: expected a value after \"ups1.on_battery &&\"" } },
	{ "unknown device in an expression",
	    DETECT_DEVICES
	    "rules = ( { name = \"a\"; when = \"ups1.on_battery && ups9.on_battery\";\n"
	    "\trecover = \"!ghost.x && !ghost.y\"; } );\n",
	    { "@D/bad.conf:6:52: when: no device \"ups9\"",
	        "@D/bad.conf:7:14: recover: no device \"ghost\"" } },
	{ "active() of an unknown rule",
	    DETECT_DEVICES "rules = ( { name = \"a\"; when = \"ups1.on_battery && "
	                   "!active(\\\"nope\\\")\"; } "
	                   ");\n",
	    { "@D/bad.conf:6:53: when: active(\"nope\"): no rule or check \"nope\"" } },
	{ "active() cycles",
	    DETECT_DEVICES
	    "rules = (\n"
	    "\t{ name = \"a\"; when = \"active(\\\"b\\\")\"; },\n"
	    "\t{ name = \"b\"; when = \"ups1.on_battery\"; recover = "
	    "\"!active(\\\"a\\\")\"; },\n"
	    "\t{ name = \"c\"; when = \"ups1.on_battery && active(\\\"c\\\")\"; }\n"
	    ");\n",
	    { "@D/bad.conf:7:24: when: active() cycle: a -> b -> a",
	        "@D/bad.conf:9:43: when: active() cycle: c -> c" } },
	{ "active() cycle through recover",
	    DETECT_DEVICES "rules = (\n"
	                   "\t{ name = \"a\"; when = \"ups1.on_battery\"; recover = "
	                   "\"!active( \\\"b\\\" )\"; },\n"
	                   "\t{ name = \"b\"; when = \"active(\\\"a\\\")\"; }\n"
	                   ");\n",
	    { "@D/bad.conf:7:54: recover: active() cycle: a -> b -> a" } },
	{ "bad ranges",
	    DETECT_DEVICES "checks = ( { name = \"t\"; metric = \"ups1.temp\";\n"
	                   "\twarn = \"abc\";\n"
	                   "\tcrit = \"30:20\"; } );\n",
	    { "@D/bad.conf:7: checks[0].warn: \"abc\" is not a range: give \"~:27\" "
	      "(above "
	      "27 alerts), \"10:\" (below 10), \"10:20\" (outside), \"@10:20\" (inside) "
	      "or "
	      "\"90\" (outside 0..90)",
	        "@D/bad.conf:8: checks[0].crit: \"30:20\" is not a range: give \"~:27\" "
	        "(above 27 alerts), \"10:\" (below 10), \"10:20\" (outside), \"@10:20\" "
	        "(inside) or \"90\" (outside 0..90)" } },
	{ "conflicting check types",
	    DETECT_DEVICES
	    "checks = (\n"
	    "\t{ name = \"t\"; metric = \"ups1.x\"; warn = \"10\"; when_true = "
	    "\"warning\"; },\n"
	    "\t{ name = \"u\"; metric = \"ups1.status\"; type = \"enum\"; warn_flags = "
	    "[\"OB\"]; }\n"
	    ");\n",
	    { "@D/bad.conf:7: checks[0].when_true: this key is for bool checks, and warn "
	      "makes this a number check",
	        "@D/bad.conf:8: checks[1].warn_flags: this key is for flags checks, and "
	        "type makes this an enum check" } },
	{ "a check with nothing to alert on",
	    DETECT_DEVICES
	    "checks = (\n"
	    "\t{ name = \"t\"; metric = \"ups1.x\"; },\n"
	    "\t{ name = \"u\"; metric = \"ups1.x\"; type = \"number\"; warn_recover = "
	    "\"10\"; }\n"
	    ");\n",
	    { "@D/bad.conf:7: checks[0]: nothing to alert on: give warn or crit (a "
	      "number), when_true (true/false), warn_values or crit_values (a text "
	      "value), "
	      "or warn_flags or crit_flags (words of a text)",
	        "@D/bad.conf:8: checks[1]: a number check needs warn or crit",
	        "@D/bad.conf:8: checks[1].warn_recover: needs warn: it says when a "
	        "WARNING "
	        "ends" } },
	{ "check targets and N of M",
	    DETECT_DEVICES
	    "checks = (\n"
	    "\t{ name = \"a\"; metric = \"status\"; select = \"kind=pdu\"; warn_flags = "
	    "[\"OB\"]; },\n"
	    "\t{ name = \"b\"; metric = \"ups9.status\"; warn_flags = [\"OB\"]; },\n"
	    "\t{ name = \"c\"; metric = \"up\"; select = \"role=wan\"; when_true = "
	    "\"critical\"; },\n"
	    "\t{ name = \"d\"; metric = \"ups1.x\"; warn = \"10\"; n = 3; m = 2; },\n"
	    "\t{ name = \"e\"; metric = \"ups1.x\"; select = \"kind=ups\"; warn = "
	    "\"10\"; }\n"
	    ");\n",
	    { "@D/bad.conf:10: checks[3].n: n 3 of m 2: N of M needs 1 <= N <= M <= 16",
	        "@D/bad.conf:11: checks[4].metric: \"ups1.x\": with select, give the "
	        "metric name alone (\"status\"); the devices come from select",
	        "@D/bad.conf:7: checks[0].select: \"kind=pdu\" picks no device",
	        "@D/bad.conf:8: checks[1].metric: no device \"ups9\"",
	        "@D/bad.conf:9: checks[2].select: role picks network links, a check "
	        "watches devices: use kind, tag or availability" } },
	{ "bad selectors",
	    DETECT_DEVICES
	    "checks = (\n"
	    "\t{ name = \"a\"; metric = \"x\"; select = \"kind=toaster\"; warn = \"1\"; "
	    "},\n"
	    "\t{ name = \"b\"; metric = \"x\"; select = \"kind=ups, tag!=x\"; warn = "
	    "\"1\"; },\n"
	    "\t{ name = \"c\"; metric = \"x\"; select = \"availability>=4\"; warn = "
	    "\"1\"; },\n"
	    "\t{ name = \"d\"; metric = \"x\"; select = \"colour=red\"; warn = \"1\"; "
	    "},\n"
	    "\t{ name = \"e\"; metric = \"x\"; select = \"kind=ups,\"; warn = \"1\"; }\n"
	    ");\n",
	    { "@D/bad.conf:7: checks[0].select: no device kind \"toaster\" (ups, pdu, "
	      "switch, router, link, sensor, host, other)",
	        "@D/bad.conf:8: checks[1].select: want tag=TAG (tag=server-room)",
	        "@D/bad.conf:9: checks[2].select: availability is a class from 1 to 3 "
	        "(availability>=2)",
	        "@D/bad.conf:10: checks[3].select: unknown selector \"colour\" (kind, "
	        "tag "
	        "or availability)",
	        "@D/bad.conf:11: checks[4].select: \"\": a selector is kind=KIND, "
	        "tag=TAG "
	        "or availability>=N" } },
	{ "names shared by rules and checks",
	    DETECT_DEVICES
	    "rules = ( { name = \"x\"; when = \"ups1.on_battery\"; },\n"
	    "\t{ name = \"st:ups1\"; when = \"ups1.on_battery\"; } );\n"
	    "checks = ( { name = \"x\"; metric = \"ups1.on_battery\"; when_true = "
	    "\"warning\"; },\n"
	    "\t{ name = \"st\"; metric = \"status\"; select = \"kind=ups\"; warn_flags = "
	    "[\"OB\"]; } );\n",
	    { "@D/bad.conf:8: checks[0].name: \"x\" is already used at @D/bad.conf:6",
	        "@D/bad.conf:9: checks[1].select: \"st:ups1\", the detector of this "
	        "check "
	        "for ups1, is already used at @D/bad.conf:7" } },
	{ "reserved rule names",
	    DETECT_DEVICES
	    "rules = (\n"
	    "\t{ name = \"observer\"; when = \"ups1.on_battery\"; },\n"
	    "\t{ name = \"unreachable:ups1\"; when = \"ups1.on_battery\"; },\n"
	    "\t{ name = \"declared:fire\"; when = \"ups1.on_battery\"; },\n"
	    "\t{ name = \"a b\"; when = \"ups1.on_battery\"; }\n"
	    ");\n",
	    { "@D/bad.conf:7: rules[0].name: \"observer\" is reserved: it names the "
	      "detector of this host's own health",
	        "@D/bad.conf:8: rules[1].name: \"unreachable:ups1\": names starting with "
	        "unreachable: are reserved for the detectors of devices that cannot be "
	        "reached",
	        "@D/bad.conf:9: rules[2].name: \"declared:fire\": names starting with "
	        "declared: are reserved for problems operators declare",
	        "@D/bad.conf:10: rules[3].name: \"a b\": use letters, digits, '_', '.', "
	        "':' and '-'" } },
	{ "reserved device name",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( {\n"
	    "\tname = \"self\";\n"
	    "\treplay = { scenario = \"s.replay\"; };\n"
	    "} );\n",
	    { "@D/bad.conf:3: devices[0].name: the name self is reserved for this host's "
	      "own metrics" } },
	{ "inhibits pattern that matches nothing",
	    DETECT_DEVICES
	    "rules = (\n"
	    "\t{ name = \"power-outage\"; when = \"ups1.on_battery\";\n"
	    "\t  inhibits = [\"link-*\", \"unreachable:*\", \"observer\", \"st:*\", "
	    "\"ups-?\", \"link\"]; },\n"
	    "\t{ name = \"link-down\"; when = \"!wan1.lgwan_up\"; }\n"
	    ");\n"
	    "checks = ( { name = \"st\"; metric = \"status\"; select = \"kind=ups\"; "
	    "warn_flags = [\"OB\"]; } );\n",
	    { "@D/bad.conf:8: rules[0].inhibits: \"ups-?\" matches no rule, check, "
	      "unreachable:DEVICE or observer",
	        "@D/bad.conf:8: rules[0].inhibits: \"link\" matches no rule, check, "
	        "unreachable:DEVICE or observer" } },
	{ "parents: unknown, the device itself, a cycle",
	    "site: { name = \"demo\"; };\n"
	    "devices = (\n"
	    "\t{ name = \"a\"; parents = [\"b\"]; replay = { scenario = \"s.replay\"; }; "
	    "},\n"
	    "\t{ name = \"b\"; parents = [\"c\", \"b\"]; replay = { scenario = "
	    "\"s.replay\"; }; },\n"
	    "\t{ name = \"c\"; parents = [\"a\", \"zz\"]; replay = { scenario = "
	    "\"s.replay\"; }; }\n"
	    ");\n",
	    { "@D/bad.conf:4: devices[1].parents: \"b\" is the device itself",
	        "@D/bad.conf:5: devices[2].parents: no device \"zz\"",
	        "@D/bad.conf:3: devices[0].parents: cycle: a -> b -> c -> a" } },
	{ "observer: unknown gateway, a UPS that is not one, unknown local device",
	    DETECT_DEVICES "observer: {\n"
	                   "\tgateway = \"gw1\";\n"
	                   "\tups = \"wan1\";\n"
	                   "\tlocal = [\"ups1\", \"nope\"];\n"
	                   "\tdisk_min_free = 60;\n"
	                   "};\n",
	    { "@D/bad.conf:10: observer.disk_min_free: 60 is above the maximum 50",
	        "@D/bad.conf:7: observer.gateway: no device \"gw1\"",
	        "@D/bad.conf:8: observer.ups: \"wan1\" is a device of kind router, not "
	        "ups",
	        "@D/bad.conf:9: observer.local: no device \"nope\"" } },
	{ "maintenance with a one-off start",
	    DETECT_DEVICES
	    "maintenance = ( { id = \"m1\"; start = \"2026-12-01 22:00\"; for = \"2h\"; "
	    "devices = [\"ups1\"]; } );\n",
	    { "@D/bad.conf:6: maintenance[0].start: a configured window repeats (every "
	      "and for); add a one-off window with sonae maintenance add --start",
	        "@D/bad.conf:6: maintenance[0].every: required but missing" } },
	{ "maintenance windows: bad every, unknown device, no devices, same id",
	    DETECT_DEVICES "maintenance = (\n"
	                   "\t{ id = \"m1\"; every = \"sum 02:00\"; for = \"2h\"; "
	                   "devices = [\"ups1\"]; },\n"
	                   "\t{ id = \"m2\"; every = \"sun 02:00\"; for = \"2h\"; "
	                   "devices = [\"ups9\"]; },\n"
	                   "\t{ id = \"m2\"; every = \"daily 02:00\"; for = \"25h\"; "
	                   "kinds = [\"ups\"]; },\n"
	                   "\t{ id = \"m 3\"; every = \"daily 02:00\"; for = \"1h\"; }\n"
	                   ");\n",
	    { "@D/bad.conf:10: maintenance[3].id: \"m 3\": use letters, digits, '_' and "
	      "'-'",
	        "@D/bad.conf:7: maintenance[0]: every \"sum 02:00\": unknown day \"sum\"",
	        "@D/bad.conf:8: maintenance[1]: no device \"ups9\"",
	        "@D/bad.conf:9: maintenance[2].id: \"m2\" is already used at "
	        "@D/bad.conf:8",
	        "@D/bad.conf:9: maintenance[2]: for \"25h\": a daily window must be "
	        "shorter than 1d",
	        "@D/bad.conf:10: maintenance[3]: choose devices: at least one device, "
	        "kind "
	        "or tag (device \"*\" for every device)" } },
	{ "mail relays: url and sendmail, credentials in the URL, starttls on smtps",
	    DETECT_DEVICES
	    "mail: { from = \"sonae@example.jp\"; relays = (\n"
	    "\t{ url = \"smtp://a:25\"; sendmail = [\"/usr/sbin/sendmail\"]; },\n"
	    "\t{ url = \"smtp://u:p@a:25\"; },\n"
	    "\t{ url = \"smtps://a:465\"; starttls = true; },\n"
	    "\t{ sendmail = [\"sendmail\", \"-i\"]; },\n"
	    "\t{ url = \"http://a\"; user = \"u\"; }\n"
	    "); retry = \"10min\"; retry_max = \"1min\"; };\n",
	    { "@D/bad.conf:7: mail.relays[0]: a relay has either `url` or `sendmail`, "
	      "not both",
	        "@D/bad.conf:8: mail.relays[1].url: no user or password in the URL: use "
	        "`user` and `password = { file = ... }`",
	        "@D/bad.conf:9: mail.relays[2].starttls: an smtps:// relay "
	        "speaks TLS from the start",
	        "@D/bad.conf:10: mail.relays[3].sendmail: \"sendmail\" is not "
	        "an absolute path (no shell, no PATH search)",
	        "@D/bad.conf:11: mail.relays[4].url: \"http://a\" is not "
	        "smtp://HOST[:PORT] or smtps://HOST[:PORT]",
	        "@D/bad.conf:11: mail.relays[4]: `user` and `password` go together",
	        "@D/bad.conf:12: mail.retry_max: retry_max is shorter than retry" } },
	{ "channels: unknown beacon device, keys of another type, relative command",
	    DETECT_DEVICES "channels = (\n"
	                   "\t{ name = \"lamp\"; type = \"beacon\"; device = \"io9\"; "
	                   "point = \"lamp\"; value = \"1\"; },\n"
	                   "\t{ name = \"sms\"; type = \"exec\"; command = [\"page\"]; "
	                   "facility = \"local0\"; },\n"
	                   "\t{ name = \"mail\"; type = \"syslog\"; },\n"
	                   "\t{ name = \"snmp\"; type = \"beacon\"; device = \"ups1\"; "
	                   "oid = \"1.3.6.1.4.1.1.0\"; value = \"1\"; },\n"
	                   "\t{ name = \"lamp\"; type = \"beacon\"; device = \"ups1\"; "
	                   "point = \"p\"; value = \"on\"; }\n"
	                   ");\n",
	    { "@D/bad.conf:8: channels[1].facility: not a key of exec channels "
	      "(it belongs to syslog)",
	        "@D/bad.conf:8: channels[1].command: \"page\" is not an "
	        "absolute path (no shell, no PATH search)",
	        "@D/bad.conf:9: channels[2].name: \"mail\" is a built-in channel",
	        "@D/bad.conf:10: channels[3]: an SNMP beacon needs `set_type`, one of i "
	        "u "
	        "s x d n o a b t (as snmpset)",
	        "@D/bad.conf:11: channels[4].value: \"on\" is not a number (a "
	        "Modbus point)",
	        "@D/bad.conf:7: channels[0].device: \"io9\" is not configured",
	        "@D/bad.conf:11: channels[4]: channel \"lamp\" is already defined at "
	        "@D/bad.conf:7" } },
	{ "routes: unknown channel, mail without a path, bad address, steps out of "
	  "order",
	    DETECT_DEVICES
	    "routes = (\n"
	    "\t{ name = \"r1\"; channels = [\"mail\", \"siren\"]; "
	    "severity = [\"fatal\"]; kinds = [\"toaster\"]; },\n"
	    "\t{ name = \"r2\"; channels = [\"syslog\"]; to = [\"ict at "
	    "example.jp\"];\n"
	    "\t  escalate = ( { after = \"30min\"; to = [\"a@example.jp\"]; "
	    "}, { after = \"15min\"; to = [\"b@example.jp\"]; } ); },\n"
	    "\t{ name = \"r2\"; channels = [\"syslog\"]; }\n"
	    ");\n",
	    { "@D/bad.conf:7: routes[0].severity: \"fatal\" is not warning or "
	      "critical",
	        "@D/bad.conf:7: routes[0].kinds: \"toaster\" is not a device kind",
	        "@D/bad.conf:8: routes[1].to: \"ict at example.jp\" is not a plain "
	        "address (local@domain)",
	        "@D/bad.conf:9: routes[1]: escalate[1]: each step comes after "
	        "the one before (900 s <= 1800 s)",
	        "@D/bad.conf:7: routes[0].channels: \"siren\" is neither built "
	        "in (mail, syslog) nor in channels[]",
	        "@D/bad.conf:7: routes[0]: route \"r1\" mails but has no `to`",
	        "@D/bad.conf:7: routes[0]: route \"r1\" mails, but `mail` has no `from` "
	        "or no `relays`",
	        "@D/bad.conf:10: routes[2].name: route \"r2\" is already defined at "
	        "@D/bad.conf:8" } },
	{ "channels and routes without a name (found by fuzz_conf)",
	    DETECT_DEVICES
	    "channels = ( { type = \"syslog\"; }, { name = \"log\"; type = "
	    "\"syslog\"; } );\n"
	    "routes = ( { channels = [\"log\"]; }, { name = \"r\"; "
	    "channels = [\"log\"]; } );\n",
	    { "@D/bad.conf:6: channels[0].name: required but missing",
	        "@D/bad.conf:7: routes[0].name: required but missing" } },
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

/* A site with every part of the detection layer. */
static const char detect_conf[] =
    "site: { name = \"demo\"; timezone = \"Europe/Berlin\"; };\n"
    "devices = (\n"
    "\t{ name = \"wan1\"; kind = \"router\"; replay = { scenario = \"s.replay\"; }; },\n"
    "\t{ name = \"ups1\"; kind = \"ups\"; tags = [\"power\"]; parents = [\"wan1\"];\n"
    "\t  replay = { scenario = \"s.replay\"; }; },\n"
    "\t{ name = \"ups2\"; kind = \"ups\"; availability = 3; parents = [\"wan1\", "
    "\"ups1\"];\n"
    "\t  replay = { scenario = \"s.replay\"; }; },\n"
    "\t{ name = \"env1\"; kind = \"sensor\"; replay = { scenario = \"s.replay\"; }; }\n"
    ");\n"
    "rules = (\n"
    "\t{ name = \"power-outage\"; description = \"on battery\"; when = "
    "\"ups1.on_battery\";\n"
    "\t  for = \"5s\"; inhibits = [\"link-down\", \"unreachable:*\"]; playbook = "
    "\"power-outage\"; },\n"
    "\t{ name = \"overheat\"; when = \"env1.temperature >= 32 degC\";\n"
    "\t  recover = \"env1.temperature < 27 degC\"; severity = \"warning\"; "
    "max_attempts = 3;\n"
    "\t  retry_interval = \"30s\"; n = 2; m = 3; flap_detection = false; flap_low = "
    "10;\n"
    "\t  flap_high = 40; },\n"
    "\t{ name = \"link-down\"; when = \"!wan1.lgwan_up && !active(\\\"power-outage\\\") "
    "&&\n"
    "\t  !active(\\\"ups-status:ups2\\\")\"; inhibits = [\"observer\", "
    "\"ups-status:*\"]; }\n"
    ");\n"
    "checks = (\n"
    "\t{ name = \"ups-status\"; metric = \"status\"; select = \"kind=ups\"; warn_flags "
    "= [\"OB\"];\n"
    "\t  crit_flags = [\"LB\", \"RB\"]; },\n"
    "\t{ name = \"inlet\"; metric = \"env1.temperature\"; warn = \"~:27\"; crit = "
    "\"~:32\";\n"
    "\t  crit_recover = \"~:27\"; stale_after = \"1min\"; },\n"
    "\t{ name = \"mode\"; metric = \"ups2.mode\"; warn_values = [\"bypass\"]; "
    "crit_values = [\"off\"]; },\n"
    "\t{ name = \"door\"; metric = \"env1.door_open\"; when_true = \"warning\"; },\n"
    "\t{ name = \"charge\"; metric = \"charge_pct\"; select = \"kind=ups, "
    "availability>=3\";\n"
    "\t  type = \"number\"; crit = \"20:\"; }\n"
    ");\n"
    "maintenance = (\n"
    "\t{ id = \"selftest\"; every = \"sun 03:00\"; for = \"15min\"; devices = "
    "[\"ups1\"];\n"
    "\t  tags = [\"power\"]; comment = \"UPS self-test\"; },\n"
    "\t{ id = \"month-end\"; every = \"monthly last 23:00\"; for = \"1h\"; kinds = "
    "[\"sensor\"];\n"
    "\t  devices = [\"*\"]; }\n"
    ");\n"
    "observer: { gateway = \"wan1\"; ups = \"ups1\"; disk_min_free = 10; "
    "clock_max_error = \"30s\";\n"
    "\tlocal = [\"env1\"]; };\n"
    "playbooks = { dir = \"pb\"; };\n";

START_TEST(conf_detect_values)
{
	const struct rule_conf *r;
	const struct check_entry *c;
	const struct window_conf *wc;
	const struct device_conf *d;
	struct conf *conf;
	char *path;

	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("detect.conf", detect_conf, 0644);
	conf = load_ok(path);

	/* Parents. */
	d = conf_device(conf, 2);
	ck_assert_uint_eq(d->parents.n, 2);
	ck_assert_str_eq(d->parents.v[0], "wan1");
	ck_assert_str_eq(d->parents.v[1], "ups1");
	ck_assert_ptr_null(d->parents.v[2]);
	ck_assert_uint_eq(conf_device(conf, 0)->parents.n, 0);

	/* Rules: compiled, defaults, conversions. */
	ck_assert_uint_eq(conf->rules.n, 3);
	r = conf_rule(conf, 0);
	ck_assert_str_eq(r->k.name, "power-outage");
	ck_assert_str_eq(r->k.description, "on battery");
	ck_assert_str_eq(r->k.playbook, "power-outage");
	ck_assert_uint_eq(r->k.inhibits.n, 2);
	ck_assert_str_eq(r->k.inhibits.v[1], "unreachable:*");
	ck_assert_ptr_null(r->k.inhibits.v[2]);
	ck_assert_ptr_nonnull(r->when);
	ck_assert_str_eq(expr_text(r->when), "ups1.on_battery");
	ck_assert_uint_eq(expr_nrefs(r->when), 1);
	ck_assert_str_eq(expr_ref(r->when, 0)->device, "ups1");
	ck_assert_ptr_null(r->recover);
	ck_assert_ptr_null(r->recover_text);
	ck_assert_int_eq(r->severity, CHECK_CRITICAL);
	ck_assert_int_eq(r->k.cc.for_ms, 5000);
	ck_assert_int_eq(r->k.cc.max_attempts, 1);
	ck_assert_int_eq(r->k.cc.retry_interval_ms, 10000);
	ck_assert_int_eq(r->k.cc.interval_ms, 0);
	ck_assert_int_eq(r->k.cc.n, 1);
	ck_assert_int_eq(r->k.cc.m, 1);
	ck_assert_int_eq(r->k.cc.flap_detection, 1);
	ck_assert_double_eq(r->k.cc.flap_low, 20);
	ck_assert_double_eq(r->k.cc.flap_high, 30);
	ck_assert_str_eq(r->k.origin.file, path);
	ck_assert_uint_eq(r->k.origin.line, 11);

	r = conf_rule(conf, 1);
	ck_assert_ptr_nonnull(r->recover);
	ck_assert_str_eq(expr_text(r->recover), "env1.temperature < 27 degC");
	ck_assert_int_eq(r->severity, CHECK_WARNING);
	ck_assert_int_eq(r->k.cc.max_attempts, 3);
	ck_assert_int_eq(r->k.cc.retry_interval_ms, 30000);
	ck_assert_int_eq(r->k.cc.n, 2);
	ck_assert_int_eq(r->k.cc.m, 3);
	ck_assert_int_eq(r->k.cc.flap_detection, 0);
	ck_assert_double_eq(r->k.cc.flap_low, 10);
	ck_assert_double_eq(r->k.cc.flap_high, 40);
	ck_assert_ptr_null(r->k.playbook);
	ck_assert_uint_eq(r->k.inhibits.n, 0);

	r = conf_rule(conf, 2);
	ck_assert_uint_eq(expr_nrules(r->when), 2);
	ck_assert_str_eq(expr_rule(r->when, 0), "power-outage");
	ck_assert_str_eq(expr_rule(r->when, 1), "ups-status:ups2");

	/* Checks: types, ranges, NULL-terminated words, expanded targets. */
	ck_assert_uint_eq(conf->checks.n, 5);
	c = conf_check(conf, 0);
	ck_assert_int_eq(c->def.kind, CHECK_FLAGS);
	ck_assert_str_eq(c->select, "kind=ups");
	ck_assert_uint_eq(c->targets.n, 2);
	ck_assert_str_eq(c->targets.v[0], "ups1.status");
	ck_assert_str_eq(c->targets.v[1], "ups2.status");
	ck_assert_ptr_null(c->targets.v[2]);
	ck_assert_ptr_nonnull(c->def.warn_words);
	ck_assert_str_eq(c->def.warn_words[0], "OB");
	ck_assert_ptr_null(c->def.warn_words[1]);
	ck_assert_str_eq(c->def.crit_words[0], "LB");
	ck_assert_str_eq(c->def.crit_words[1], "RB");
	ck_assert_ptr_null(c->def.crit_words[2]);
	ck_assert_int_eq(c->k.cc.interval_ms, 0);

	c = conf_check(conf, 1);
	ck_assert_int_eq(c->def.kind, CHECK_NUMBER);
	ck_assert_uint_eq(c->targets.n, 1);
	ck_assert_str_eq(c->targets.v[0], "env1.temperature");
	ck_assert_int_eq(c->def.warn.set, 1);
	ck_assert(isinf(c->def.warn.lo) && c->def.warn.lo < 0);
	ck_assert_double_eq(c->def.warn.hi, 27);
	ck_assert_double_eq(c->def.crit.hi, 32);
	ck_assert_int_eq(c->def.crit_recover.set, 1);
	ck_assert_double_eq(c->def.crit_recover.hi, 27);
	ck_assert_int_eq(c->def.warn_recover.set, 0);
	ck_assert_int_eq(c->def.stale_ms, 60000);
	ck_assert_ptr_null(c->def.warn_words);
	ck_assert_ptr_null(c->def.crit_words);
	ck_assert_str_eq(c->warn_text, "~:27");

	c = conf_check(conf, 2);
	ck_assert_int_eq(c->def.kind, CHECK_ENUM);
	ck_assert_str_eq(c->def.warn_words[0], "bypass");
	ck_assert_ptr_null(c->def.warn_words[1]);
	ck_assert_str_eq(c->def.crit_words[0], "off");

	c = conf_check(conf, 3);
	ck_assert_int_eq(c->def.kind, CHECK_BOOL);
	ck_assert_int_eq(c->def.when_true, CHECK_WARNING);
	ck_assert_int_eq(c->def.stale_ms, 0);

	c = conf_check(conf, 4);
	ck_assert_int_eq(c->def.kind, CHECK_NUMBER);
	ck_assert_uint_eq(c->targets.n, 1);
	ck_assert_str_eq(c->targets.v[0], "ups2.charge_pct");
	ck_assert_double_eq(c->def.crit.lo, 20);
	ck_assert_int_eq(c->def.when_true, CHECK_OK);

	/* Windows: parsed in the site's zone, targets chosen. */
	ck_assert_uint_eq(conf->maintenance.n, 2);
	wc = conf_window(conf, 0);
	ck_assert_str_eq(wc->id, "selftest");
	ck_assert_str_eq(wc->duration, "15min");
	ck_assert_ptr_nonnull(wc->w);
	ck_assert_str_eq(wc->w->id, "selftest");
	ck_assert_str_eq(wc->w->zone, "Europe/Berlin");
	ck_assert_int_eq(wc->w->repeat, WR_WEEKLY);
	ck_assert_uint_eq(wc->w->weekdays, 1);
	ck_assert_int_eq(wc->w->start_min, 180);
	ck_assert_int_eq(wc->w->duration_ms, 15 * 60000);
	ck_assert_str_eq(wc->w->created_by, "config");
	ck_assert_str_eq(wc->w->comment, "UPS self-test");
	ck_assert_uint_eq(wc->w->devices.n, 1);
	ck_assert_uint_eq(wc->w->tags.n, 1);
	ck_assert_int_eq(window_matches(wc->w, "ups1", "ups", NULL), 1);
	ck_assert_int_eq(window_matches(wc->w, "env1", "sensor", NULL), 0);
	wc = conf_window(conf, 1);
	ck_assert_int_eq(wc->w->repeat, WR_MONTHLY);
	ck_assert_int_eq(wc->w->mday, WINDOW_LAST_DAY);
	ck_assert_int_eq(window_matches(wc->w, "anything", "other", NULL), 1);
	ck_assert_ptr_null(wc->w->comment);

	/* The observer. */
	ck_assert_int_eq(conf->observer.on, 1);
	ck_assert_str_eq(conf->observer.gateway, "wan1");
	ck_assert_str_eq(conf->observer.ups, "ups1");
	ck_assert_double_eq(conf->observer.disk_min_free_pct, 10);
	ck_assert_int_eq(conf->observer.clock_max_error_ms, 30000);
	ck_assert_uint_eq(conf->observer.local.n, 1);
	ck_assert_str_eq(conf->observer.local.v[0], "env1");
	conf_free(conf);
	free(path);
}
END_TEST

/* No detection keys: nothing configured, the observer off with its defaults. */
START_TEST(conf_detect_defaults)
{
	struct conf *conf;
	char *path;

	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("site.conf", good_conf, 0644);
	conf = load_ok(path);
	ck_assert_uint_eq(conf->rules.n, 0);
	ck_assert_uint_eq(conf->checks.n, 0);
	ck_assert_uint_eq(conf->maintenance.n, 0);
	ck_assert_int_eq(conf->observer.on, 0);
	ck_assert_ptr_null(conf->observer.gateway);
	ck_assert_double_eq(conf->observer.disk_min_free_pct, 5);
	ck_assert_int_eq(conf->observer.clock_max_error_ms, 0);
	ck_assert_uint_eq(conf_device(conf, 0)->parents.n, 0);
	ck_assert_ptr_null(conf_device(conf, 0)->parents.v);
	conf_free(conf);

	/* An empty group is enough to turn the observer on. */
	free(path);
	path =
	    write_file("site.conf", "site: { name = \"x\"; };\nobserver: { };\n", 0644);
	conf = load_ok(path);
	ck_assert_int_eq(conf->observer.on, 1);
	ck_assert_double_eq(conf->observer.disk_min_free_pct, 5);
	conf_free(conf);
	free(path);
}
END_TEST

/* An expression in an @included file: that file, its line, the column. */
START_TEST(conf_detect_error_in_include)
{
	const char *want[] = {
		"@D/sub/rules.conf:3:18: when: '>=' of degC and s: the units do not match"
	};
	char *dir;

	dir = testutil_path(tmpdir, "sub");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	free(dir);
	free(write_file("s.replay", good_scenario, 0644));
	free(write_file("main.conf",
	    "site: { name = \"demo\"; };\n"
	    "devices = ( { name = \"env1\"; replay = { scenario = \"s.replay\"; }; } );\n"
	    "@include \"sub/rules.conf\"\n",
	    0644));
	free(write_file("sub/rules.conf",
	    "# the rules of the demo site\n"
	    "rules = ( { name = \"hot\";\n"
	    "\twhen = \"30 degC >= 5s || env1.temperature > 30\"; } );\n",
	    0644));
	expect_errors("expression error in an include", "main.conf", want, 1);
}
END_TEST

/*
 * Reload: equal files are equal; a check whose selector picks another set
 * of devices differs though its keys do not, and so does a window made in
 * another zone.
 */
START_TEST(conf_detect_equal)
{
	struct conf *a, *b, *c;
	char *path, *text, *p;

	free(write_file("s.replay", good_scenario, 0644));
	path = write_file("detect.conf", detect_conf, 0644);
	a = load_ok(path);
	b = load_ok(path);
	ck_assert_int_eq(conf_equal(&conf_root_table, a, b), 1);
	ck_assert_int_eq(
	    conf_equal(&conf_check_table, conf_check(a, 0), conf_check(b, 0)), 1);
	ck_assert_int_eq(
	    conf_equal(&conf_rule_table, conf_rule(a, 1), conf_rule(b, 1)), 1);
	ck_assert_int_eq(
	    conf_equal(&conf_rule_table, conf_rule(a, 0), conf_rule(b, 1)), 0);
	ck_assert_int_eq(
	    conf_equal(&conf_window_table, conf_window(a, 0), conf_window(b, 0)), 1);

	/* A third UPS: ups-status watches it too; and another zone. */
	text = xmalloc(strlen(detect_conf) + 200);
	ck_assert_ptr_nonnull(p = strstr(detect_conf, "\t{ name = \"env1\""));
	snprintf(text, strlen(detect_conf) + 200, "%.*s%s%s", (int)(p - detect_conf),
	    detect_conf,
	    "\t{ name = \"ups3\"; kind = \"ups\"; replay = { scenario = \"s.replay\"; }; "
	    "},\n",
	    p);
	ck_assert_ptr_nonnull(p = strstr(text, "Europe/Berlin"));
	memcpy(p, "Europe/Dublin", 13);
	free(path);
	path = write_file("detect.conf", text, 0644);
	c = load_ok(path);
	ck_assert_uint_eq(conf_check(c, 0)->targets.n, 3);
	ck_assert_str_eq(conf_check(c, 0)->targets.v[2], "ups3.status");
	ck_assert_int_eq(conf_equal(&conf_root_table, a, c), 0);
	ck_assert_int_eq(
	    conf_equal(&conf_check_table, conf_check(a, 0), conf_check(c, 0)), 0);
	ck_assert_int_eq(
	    conf_equal(&conf_check_table, conf_check(a, 1), conf_check(c, 1)), 1);
	ck_assert_int_eq(
	    conf_equal(&conf_window_table, conf_window(a, 0), conf_window(c, 0)), 0);
	ck_assert_int_eq(
	    conf_equal(&conf_rule_table, conf_rule(a, 2), conf_rule(c, 2)), 1);
	conf_free(a);
	conf_free(b);
	conf_free(c);
	free(text);
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
	tcase_add_test(tc, conf_detect_error_in_include);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conf_include_ok_relative_paths);
	tcase_add_test(tc, conf_defaults);
	tcase_add_test(tc, conf_values_read);
	tcase_add_test(tc, conf_equal_reload);
	tcase_add_test(tc, conf_doc_mentions_every_key);
	tcase_add_test(tc, conf_detect_values);
	tcase_add_test(tc, conf_detect_defaults);
	tcase_add_test(tc, conf_detect_equal);
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
