/*
 * playbooks/playbook.c: the playbook file format.  A playbook with every step
 * type loads and prints exactly; each class of mistake is refused as
 * FILE:LINE: key: reason; ${...} expand; a folder is taken whole.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "monitor/monitor.h"
#include "playbooks/playbook.h"
#include "tests/testutil.h"

static const char *tmpdir;
static struct conf *site;

static const char site_conf[] =
    "site: { name = \"demo\"; };\n"
    "devices = (\n"
    "\t{ name = \"ups1\"; kind = \"ups\"; replay = { scenario = \"s.replay\"; }; },\n"
    "\t{ name = \"env1\"; replay = { scenario = \"s.replay\"; }; }\n"
    ");\n";

static void
setup(void)
{
	struct conf_errors errs = { NULL, 0 };
	char *path;

	tmpdir = testutil_tmpdir("check-playbook");
	free(testutil_write(tmpdir, "s.replay", "unit v V\n0 v=1\nend 20s\n"));
	path = testutil_write(tmpdir, "site.conf", site_conf);
	site = conf_load(path, &errs);
	ck_assert_msg(site != NULL, "site refused: %s", errs.n ? errs.v[0] : "?");
	free(path);
}

static void
teardown(void)
{
	conf_free(site);
	site = NULL;
	testutil_rmdir();
}

/* A playbook with every step type. */
static const char good_pb[] =
    "name = \"power-outage\";\n"
    "title_ja = \"停電対応\";\n"
    "title_en = \"Power outage\";\n"
    "description = \"The UPS is on battery.\";\n"
    "triggers = [\"power-outage\", \"ups*-on-battery\"];\n"
    "parameters = (\n"
    "\t{ name = \"runtime_min\"; default = 600; description = \"Seconds left\"; },\n"
    "\t{ name = \"contact\"; default = \"ict@example.jp\"; },\n"
    "\t{ name = \"nas_host\"; }\n"
    ");\n"
    "steps = (\n"
    "\t{ id = \"tell\"; type = \"notify\"; title = \"Tell ${contact}\";\n"
    "\t  text = \"${incident.title}: on battery\"; severity = \"critical\";\n"
    "\t  to = [\"${contact}\"]; },\n"
    "\t{ id = \"log\"; type = \"exec\"; title = \"Log it\";\n"
    "\t  command = [\"/usr/bin/logger\", \"${incident.id}\"]; user = \"sonae\";\n"
    "\t  output_max = 1024; retries = 2; on_failure = \"continue\"; },\n"
    "\t{ id = \"settle\"; type = \"wait\"; title = \"Wait for mains\";\n"
    "\t  until = \"!ups1.on_battery\"; for = \"30s\"; timeout = \"10min\";\n"
    "\t  on_failure = \"goto:ask\"; },\n"
    "\t{ id = \"ask\"; type = \"confirm\"; title = \"Is the room safe?\";\n"
    "\t  question = \"Is the server room safe to enter?\"; who = [\"tanaka\"];\n"
    "\t  approver_differs = true; default = \"no\"; timeout = \"15min\"; },\n"
    "\t{ id = \"mode\"; type = \"set-mode\"; title = \"Disaster mode\"; mode = "
    "\"minimum\";\n"
    "\t  when = \"ups1.runtime < 20min\"; },\n"
    "\t{ id = \"snmp\"; type = \"snmp-set\"; title = \"Sleep the UPS\"; device = "
    "\"ups1\";\n"
    "\t  oid = \"1.3.6.1.2.1.33.1.8.3.0\"; set_type = \"i\"; value = "
    "\"${runtime_min}\"; },\n"
    "\t{ id = \"lamp\"; type = \"modbus-write\"; title = \"Red lamp\"; device = "
    "\"env1\";\n"
    "\t  point = \"lamp\"; value = 1; idempotent = true; },\n"
    "\t{ id = \"tier1\"; type = \"shutdown-tier\"; title = \"Shut down tier 1\";\n"
    "\t  tier = \"tier1\"; deadline = \"5min\"; hosts = (\n"
    "\t    { name = \"${nas_host}\"; command = [\"/usr/bin/ssh\", \"${nas_host}\", "
    "\"poweroff\"];\n"
    "\t      check = [\"/usr/bin/ping\", \"-c1\", \"${nas_host}\"]; }\n"
    "\t  ); },\n"
    "\t{ id = \"next\"; type = \"run-playbook\"; title = \"Hand over\"; playbook = "
    "\"battery-critical\"; }\n"
    ");\n";

static const char good_json[] =
    "{\"description\":\"The UPS is on battery.\",\"file\":\"@D/pb.conf\","
    "\"name\":\"power-outage\",\"parameters\":["
    "{\"default\":600,\"description\":\"Seconds left\",\"name\":\"runtime_min\"},"
    "{\"default\":\"ict@example.jp\",\"name\":\"contact\"},"
    "{\"default\":null,\"name\":\"nas_host\"}],"
    "\"steps\":["
    "{\"destructive\":false,\"id\":\"tell\",\"idempotent\":true,"
    "\"on_failure\":\"abort\",\"retries\":0,\"severity\":\"critical\","
    "\"text\":\"${incident.title}: on battery\",\"timeout_ms\":0,"
    "\"title\":\"Tell ${contact}\",\"to\":[\"${contact}\"],\"type\":\"notify\"},"
    "{\"command\":[\"/usr/bin/logger\",\"${incident.id}\"],\"destructive\":true,"
    "\"id\":\"log\",\"idempotent\":false,\"on_failure\":\"continue\","
    "\"output_max\":1024,\"retries\":2,\"timeout_ms\":60000,\"title\":\"Log it\","
    "\"type\":\"exec\",\"user\":\"sonae\"},"
    "{\"destructive\":false,\"for_ms\":30000,\"goto_index\":3,\"id\":\"settle\","
    "\"idempotent\":true,\"on_failure\":\"goto:ask\",\"retries\":0,"
    "\"timeout_ms\":600000,\"title\":\"Wait for mains\",\"type\":\"wait\","
    "\"until\":\"!ups1.on_battery\"},"
    "{\"approver_differs\":true,\"default\":\"no\",\"destructive\":false,"
    "\"id\":\"ask\",\"idempotent\":true,\"on_failure\":\"abort\","
    "\"question\":\"Is the server room safe to enter?\",\"retries\":0,"
    "\"timeout_ms\":900000,\"title\":\"Is the room safe?\",\"type\":\"confirm\","
    "\"who\":[\"tanaka\"]},"
    "{\"destructive\":false,\"id\":\"mode\",\"idempotent\":true,"
    "\"mode\":\"minimum\",\"on_failure\":\"abort\",\"retries\":0,"
    "\"timeout_ms\":0,\"title\":\"Disaster mode\",\"type\":\"set-mode\","
    "\"when\":\"ups1.runtime < 20min\"},"
    "{\"destructive\":true,\"device\":\"ups1\",\"id\":\"snmp\","
    "\"idempotent\":false,\"oid\":\"1.3.6.1.2.1.33.1.8.3.0\","
    "\"on_failure\":\"abort\",\"retries\":0,\"set_type\":\"i\","
    "\"timeout_ms\":0,\"title\":\"Sleep the UPS\",\"type\":\"snmp-set\","
    "\"value\":\"${runtime_min}\"},"
    "{\"destructive\":true,\"device\":\"env1\",\"id\":\"lamp\","
    "\"idempotent\":true,\"on_failure\":\"abort\",\"point\":\"lamp\","
    "\"retries\":0,\"timeout_ms\":0,\"title\":\"Red lamp\","
    "\"type\":\"modbus-write\",\"value\":1},"
    "{\"deadline_ms\":300000,\"destructive\":true,\"hosts\":[{\"check\":"
    "[\"/usr/bin/ping\",\"-c1\",\"${nas_host}\"],\"command\":[\"/usr/bin/ssh\","
    "\"${nas_host}\",\"poweroff\"],\"name\":\"${nas_host}\"}],\"id\":\"tier1\","
    "\"idempotent\":false,\"on_failure\":\"abort\",\"retries\":0,"
    "\"tier\":\"tier1\",\"timeout_ms\":0,\"title\":\"Shut down tier 1\","
    "\"type\":\"shutdown-tier\"},"
    "{\"destructive\":false,\"id\":\"next\",\"idempotent\":true,"
    "\"on_failure\":\"abort\",\"playbook\":\"battery-critical\",\"retries\":0,"
    "\"timeout_ms\":0,\"title\":\"Hand over\",\"type\":\"run-playbook\"}],"
    "\"title_en\":\"Power outage\",\"title_ja\":\"停電対応\","
    "\"triggers\":[\"power-outage\",\"ups*-on-battery\"]}";

/* s with every "@D" replaced by the temporary folder (caller frees). */
static char *
expand_dir(const char *s)
{
	char *out = xstrdup(""), *tmp;
	const char *p, *q;

	for (p = s; (q = strstr(p, "@D")) != NULL; p = q + 2) {
		xasprintf(&tmp, "%s%.*s%s", out, (int)(q - p), p, tmpdir);
		free(out);
		out = tmp;
	}
	xasprintf(&tmp, "%s%s", out, p);
	free(out);
	return tmp;
}

static struct playbook *
load_text(const char *text, struct conf_errors *errs)
{
	char *path = testutil_write(tmpdir, "pb.conf", text);
	struct playbook *pb = playbook_load(path, site, errs);

	free(path);
	return pb;
}

START_TEST(playbook_good_json)
{
	struct conf_errors errs = { NULL, 0 };
	struct playbook *pb = load_text(good_pb, &errs);
	char *got, *want;
	json_t *j;

	ck_assert_msg(pb != NULL, "refused: %s", errs.n ? errs.v[0] : "?");
	ck_assert_uint_eq(pb->steps.n, 9);
	ck_assert_ptr_nonnull(playbook_step(pb, 2)->until);
	ck_assert_ptr_nonnull(playbook_step(pb, 4)->when);
	ck_assert_int_eq(playbook_step(pb, 2)->on_failure, PB_FAIL_GOTO);
	ck_assert_uint_eq(playbook_step(pb, 2)->goto_step, 3);
	ck_assert_int_eq(playbook_step(pb, 3)->default_answer, 0);
	ck_assert_int_eq(playbook_step(pb, 0)->type, PB_NOTIFY);
	ck_assert_int_eq(playbook_step(pb, 8)->type, PB_RUN_PLAYBOOK);
	j = playbook_json(pb);
	got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	want = expand_dir(good_json);
	ck_assert_msg(strcmp(got, want) == 0, "\n got  %s\n want %s", got, want);
	free(got);
	free(want);
	json_decref(j);
	playbook_free(pb);
}
END_TEST

START_TEST(playbook_confirm_who_default)
{
	struct conf_errors errs = { NULL, 0 };
	struct playbook *pb =
	    load_text("name = \"p\"; title_ja = \"j\"; title_en = \"e\";\n"
	              "steps = ( { id = \"a\"; type = \"confirm\"; "
	              "title = \"t\"; question = \"q\"; } );\n",
	        &errs);

	ck_assert_msg(pb != NULL, "refused: %s", errs.n ? errs.v[0] : "?");
	ck_assert_uint_eq(playbook_step(pb, 0)->who.n, 1);
	ck_assert_str_eq(playbook_step(pb, 0)->who.v[0], "operators");
	ck_assert_int_eq(playbook_step(pb, 0)->default_answer, -1);
	ck_assert_int_eq(playbook_step(pb, 0)->timeout_ms, 0);
	playbook_free(pb);
}
END_TEST

#define HEAD "name = \"p\"; title_ja = \"j\"; title_en = \"e\";\n"

static const struct {
	const char *what;
	const char *text;
	const char *want[3];
} error_cases[] = {
	{ "unknown step type",
	    HEAD "steps = (\n{ id = \"a\"; type = \"mail\"; title = \"t\"; }\n);\n",
	    { "@D/pb.conf:3: steps[0].type: expected one of: notify, exec, wait, "
	      "confirm, set-mode, snmp-set, modbus-write, shutdown-tier, "
	      "run-playbook" } },
	{ "key of another type",
	    HEAD "steps = (\n{ id = \"a\"; type = \"notify\"; title = \"t\";\n"
	         "  text = \"x\"; command = [\"/bin/true\"]; device = \"ups1\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].command: not a key of notify steps (it belongs "
	      "to exec)",
	        "@D/pb.conf:4: steps[0].device: not a key of notify steps (it belongs "
	        "to snmp-set, modbus-write)" } },
	{ "relative exec path",
	    HEAD "steps = (\n{ id = \"a\"; type = \"exec\"; title = \"t\";\n"
	         "  command = [\"logger\", \"x\"]; }\n);\n",
	    { "@D/pb.conf:4: steps[0].command: \"logger\" is not an absolute path (no "
	      "shell, no PATH search)" } },
	{ "duplicate step id",
	    HEAD
	    "steps = (\n{ id = \"a\"; type = \"set-mode\"; title = \"t\"; mode = "
	    "\"m\"; },\n"
	    "{ id = \"a\"; type = \"set-mode\"; title = \"u\"; mode = \"m\"; }\n);\n",
	    { "@D/pb.conf:4: steps[1].id: \"a\" is already used at @D/pb.conf:3" } },
	{ "goto an unknown step",
	    HEAD "steps = (\n{ id = \"a\"; type = \"set-mode\"; title = \"t\"; mode = "
	         "\"m\";\n  on_failure = \"goto:b\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].on_failure: goto:b: no step \"b\"" } },
	{ "bad on_failure",
	    HEAD "steps = (\n{ id = \"a\"; type = \"set-mode\"; title = \"t\"; mode = "
	         "\"m\";\n  on_failure = \"retry\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].on_failure: \"retry\": expected continue, "
	      "abort or goto:STEP" } },
	{ "bad expression",
	    HEAD "steps = (\n{ id = \"a\"; type = \"set-mode\"; title = \"t\"; mode = "
	         "\"m\";\n  when = \"ups1.runtime < \"; }\n);\n",
	    { "@D/pb.conf:4:26: steps[0].when: expected a value after \"ups1.runtime "
	      "<\"" } },
	{ "unknown device in an expression",
	    HEAD "steps = (\n{ id = \"a\"; type = \"wait\"; title = \"t\";\n"
	         "  until = \"ups9.on_battery\"; }\n);\n",
	    { "@D/pb.conf:4:12: steps[0].until: no device \"ups9\"" } },
	{ "unknown device of a write",
	    HEAD "steps = (\n{ id = \"a\"; type = \"modbus-write\"; title = \"t\";\n"
	         "  device = \"env9\"; point = \"lamp\"; value = 1; }\n);\n",
	    { "@D/pb.conf:4: steps[0].device: no device \"env9\"" } },
	{ "undeclared parameter",
	    HEAD "steps = (\n{ id = \"a\"; type = \"notify\"; title = \"t\";\n"
	         "  text = \"call ${boss}\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].text: ${boss}: not a parameter of this playbook "
	      "nor incident.id, incident.title or incident.severity" } },
	{ "confirm timeout without default",
	    HEAD "steps = (\n{ id = \"a\"; type = \"confirm\"; title = \"t\";\n"
	         "  question = \"q\"; timeout = \"5min\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].timeout: a confirm step with a timeout needs "
	      "`default` (\"yes\" or \"no\"): the answer taken when nobody answers in "
	      "time" } },
	{ "wait without until or for",
	    HEAD "steps = (\n{ id = \"a\"; type = \"wait\"; title = \"t\"; }\n);\n",
	    { "@D/pb.conf:3: steps[0]: a wait step needs `until` (an expression), "
	      "`for` (a duration) or both" } },
	{ "missing type key",
	    HEAD "steps = (\n{ id = \"a\"; type = \"snmp-set\"; title = \"t\";\n"
	         "  device = \"ups1\"; oid = \"1.2.3\"; value = 1; }\n);\n",
	    { "@D/pb.conf:3: steps[0]: `set_type` is required in snmp-set steps" } },
	{ "modbus value not a number",
	    HEAD "steps = (\n{ id = \"a\"; type = \"modbus-write\"; title = \"t\";\n"
	         "  device = \"env1\"; point = \"lamp\"; value = \"on\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].value: \"on\" is not a number (a Modbus "
	      "point)" } },
	{ "run-playbook name",
	    HEAD "steps = (\n{ id = \"a\"; type = \"run-playbook\"; title = \"t\";\n"
	         "  playbook = \"a b\"; }\n);\n",
	    { "@D/pb.conf:4: steps[0].playbook: \"a b\": a playbook name is letters, "
	      "digits, '_', '.' and '-'" } },
	{ "duplicate parameter",
	    HEAD "parameters = ( { name = \"x\"; },\n{ name = \"x\"; } );\n"
	         "steps = ( { id = \"a\"; type = \"set-mode\"; title = \"t\"; mode = "
	         "\"m\"; } );\n",
	    { "@D/pb.conf:3: parameters[1].name: \"x\" is already declared at "
	      "@D/pb.conf:2" } },
	{ "no steps", HEAD "steps = ();\n",
	    { "@D/pb.conf:2: steps: a playbook needs at least one step" } },
	{ "unknown top-level key", HEAD "stepz = 1;\nsteps = ();\n",
	    { "@D/pb.conf:2: stepz: unknown key (did you mean \"steps\"?)",
	        "@D/pb.conf:3: steps: a playbook needs at least one step" } },
};

START_TEST(playbook_error_table)
{
	struct conf_errors errs = { NULL, 0 };
	struct playbook *pb;
	size_t i, nwant = 0;
	char *all = xstrdup(""), *tmp;

	pb = load_text(error_cases[_i].text, &errs);
	while (nwant < 3 && error_cases[_i].want[nwant] != NULL)
		nwant++;
	for (i = 0; i < errs.n; i++) {
		xasprintf(&tmp, "%s\n  %s", all, errs.v[i]);
		free(all);
		all = tmp;
	}
	ck_assert_msg(pb == NULL, "%s: loaded", error_cases[_i].what);
	ck_assert_msg(errs.n == nwant, "%s: %zu errors, expected %zu:%s",
	    error_cases[_i].what, errs.n, nwant, all);
	for (i = 0; i < nwant; i++) {
		char *w = expand_dir(error_cases[_i].want[i]);
		ck_assert_msg(strcmp(errs.v[i], w) == 0,
		    "%s: error %zu:\n  got  %s\n  want %s", error_cases[_i].what, i + 1,
		    errs.v[i], w);
		free(w);
	}
	free(all);
	conf_errors_clear(&errs);
}
END_TEST

/* pb_expand's lookup: a run with contact set and incident 42. */
static const char *
lookup(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "contact") == 0)
		return "soumu@example.jp";
	if (strcmp(name, "incident.id") == 0)
		return "42";
	if (strcmp(name, "incident.title") == 0)
		return "UPS on battery";
	return NULL;
}

static const struct {
	const char *text;
	const char *want; /* NULL: refused */
	const char *err;
} expand_cases[] = {
	{ "plain", "plain", NULL },
	{ "to ${contact}", "to soumu@example.jp", NULL },
	{ "${runtime_min}s", "600s", NULL },
	{ "#${incident.id} ${incident.title}", "#42 UPS on battery", NULL },
	{ "$${contact} costs $5", "${contact} costs $5", NULL },
	{ "${boss}", NULL,
	    "${boss}: not a parameter of this playbook nor incident.id, incident.title "
	    "or incident.severity" },
	{ "${incident.severity}", NULL, "${incident.severity}: the run has no incident" },
	{ "${nas_host}", NULL, "${nas_host}: the parameter has no value and no default" },
	{ "a ${contact", NULL, "\"${contact\": ${ without } (a literal ${ is $${)" },
	{ "${}", NULL, "\"${}\" is not ${NAME}" },
};

START_TEST(playbook_expand)
{
	struct conf_errors errs = { NULL, 0 };
	struct playbook *pb = load_text(good_pb, &errs);
	char *out, err[256];
	size_t i;
	int rc;

	ck_assert_ptr_nonnull(pb);
	for (i = 0; i < NELEM(expand_cases); i++) {
		err[0] = '\0';
		rc = pb_expand(
		    pb, expand_cases[i].text, lookup, NULL, &out, err, sizeof(err));
		if (expand_cases[i].want != NULL) {
			ck_assert_msg(rc == 0, "%s: %s", expand_cases[i].text, err);
			ck_assert_str_eq(out, expand_cases[i].want);
			free(out);
		} else {
			ck_assert_msg(rc == -1, "%s: expanded", expand_cases[i].text);
			ck_assert_ptr_null(out);
			ck_assert_str_eq(err, expand_cases[i].err);
		}
	}
	/* No lookup: defaults only. */
	ck_assert_int_eq(
	    pb_expand(pb, "${contact}", NULL, NULL, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "ict@example.jp");
	free(out);
	playbook_free(pb);
}
END_TEST

START_TEST(playbook_dir)
{
	struct conf_errors errs = { NULL, 0 };
	struct playbook **v;
	char *dir, *path;
	size_t n, i;

	dir = testutil_path(tmpdir, "lib");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	free(testutil_write(dir, "b.conf", good_pb));
	free(testutil_write(dir, "a.conf",
	    "name = \"other\"; title_ja = \"j\"; title_en = \"e\";\n"
	    "steps = ( { id = \"a\"; type = \"set-mode\"; title = \"t\"; mode = \"m\"; } "
	    ");\n"));
	free(testutil_write(dir, "README.md", "not a playbook"));
	ck_assert_int_eq(playbook_load_dir(dir, site, &v, &n, &errs), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0]->name, "other");
	ck_assert_str_eq(v[1]->name, "power-outage");
	for (i = 0; i < n; i++)
		playbook_free(v[i]);
	free(v);

	/* The same name in two files: the folder is refused whole. */
	path = testutil_write(dir, "c.conf", good_pb);
	ck_assert_int_eq(playbook_load_dir(dir, site, &v, &n, &errs), -1);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(errs.n, 1);
	{
		char *want;
		xasprintf(&want,
		    "%s:1: name: \"power-outage\" is already used at %s/b.conf:1", path,
		    dir);
		ck_assert_str_eq(errs.v[0], want);
		free(want);
	}
	conf_errors_clear(&errs);
	free(path);
	free(dir);
}
END_TEST

/*
 * The site's `playbooks` group (schema_playbooks.c): the folder is loaded
 * with the configuration, and what refers to playbooks is checked there,
 * each mistake named with its file and line.
 */
static const char site_head[] =
    "site: { name = \"demo\"; };\n"
    "devices = (\n"
    "\t{ name = \"ups1\"; kind = \"ups\"; replay = { scenario = \"s.replay\"; }; },\n"
    "\t{ name = \"env1\"; replay = { scenario = \"s.replay\"; }; }\n"
    ");\n";

static const struct {
	const char *tail; /* after site_head (line 6 on) */
	const char *want; /* the one error, @D the folder; NULL: accepted */
} site_cases[] = {
	{ "playbooks = { dir = \"lib\"; };\n", NULL },
	/* A rule names a playbook: it must be in the folder. */
	{ "rules = ( { name = \"r\"; when = \"ups1.on_battery\"; playbook = \"nope\"; } "
	  ");\n"
	  "playbooks = { dir = \"lib\"; };\n",
	    "@D/site.conf:6: playbook: \"nope\" is not in @D/lib" },
	{ "rules = ( { name = \"r\"; when = \"ups1.on_battery\"; playbook = \"other\"; } "
	  ");\n",
	    "@D/site.conf:6: playbook: \"other\": no playbooks are configured "
	    "(playbooks.dir)" },
	/* Parameters: a playbook and a parameter that exist, once. */
	{ "playbooks = { dir = \"lib\"; parameters = (\n"
	  "\t{ playbook = \"ghost\"; name = \"host\"; value = \"x\"; } ); };\n",
	    "@D/site.conf:7: playbook \"ghost\" is not in @D/lib" },
	{ "playbooks = { dir = \"lib\"; parameters = (\n"
	  "\t{ playbook = \"other\"; name = \"port\"; value = \"x\"; } ); };\n",
	    "@D/site.conf:7: playbook \"other\" has no parameter \"port\"" },
	{ "playbooks = { dir = \"lib\"; parameters = (\n"
	  "\t{ playbook = \"other\"; name = \"host\"; value = \"x\"; },\n"
	  "\t{ playbook = \"other\"; name = \"host\"; value = \"y\"; } ); };\n",
	    "@D/site.conf:8: other.host is already set at @D/site.conf:7" },
	{ "playbooks = { dir = \"lib\"; drill_to = [\"not an address\"]; };\n",
	    "@D/site.conf:6: drill_to: \"not an address\" is not a plain address "
	    "(local@domain)" },
	/* A playbook that starts on its own needs every value. */
	{ "rules = ( { name = \"r\"; when = \"ups1.on_battery\"; playbook = \"other\"; } "
	  ");\n"
	  "playbooks = { dir = \"lib\"; };\n",
	    "@D/lib/a.conf:2: parameter host has no default and the site gives no value "
	    "(playbooks.parameters), yet the playbook starts on its own" },
	{ "rules = ( { name = \"r\"; when = \"ups1.on_battery\"; playbook = \"other\"; } "
	  ");\n"
	  "playbooks = { dir = \"lib\"; parameters = (\n"
	  "\t{ playbook = \"other\"; name = \"host\"; value = \"x\"; } ); };\n",
	    NULL },
	{ "playbooks = { dir = \"missing\"; };\n", "@D/missing: " },
};

START_TEST(playbook_site_table)
{
	struct conf_errors errs = { NULL, 0 };
	char *dir = testutil_path(tmpdir, "lib"), *text, *path, *want;
	struct conf *c;

	mkdir(dir, 0700);
	free(testutil_write(dir, "a.conf",
	    "name = \"other\"; title_ja = \"j\"; title_en = \"e\";\n"
	    "parameters = ( { name = \"host\"; } );\n"
	    "steps = ( { id = \"a\"; type = \"exec\"; title = \"t\";\n"
	    "\tcommand = [\"/bin/echo\", \"${host}\"]; } );\n"));
	xasprintf(&text, "%s%s", site_head, site_cases[_i].tail);
	path = testutil_write(tmpdir, "site.conf", text);
	c = conf_load(path, &errs);
	if (site_cases[_i].want == NULL) {
		ck_assert_msg(
		    c != NULL, "case %d refused: %s", _i, errs.n ? errs.v[0] : "?");
		ck_assert_uint_eq(c->playbooks.nloaded, 1);
	} else {
		ck_assert_msg(c == NULL, "case %d accepted", _i);
		ck_assert_uint_ge(errs.n, 1);
		want = expand_dir(site_cases[_i].want);
		ck_assert_msg(strncmp(errs.v[0], want, strlen(want)) == 0,
		    "case %d: got \"%s\", want \"%s\"", _i, errs.v[0], want);
		free(want);
	}
	conf_free(c);
	conf_errors_clear(&errs);
	free(path);
	free(text);
	free(dir);
}
END_TEST

/*
 * playbooks/library/: the eight shipped playbooks load against the demo
 * site (etc/demo/sonae.conf, its devices ups1, wan1, env1, leak1) with no
 * error, and their order says what DOMAIN.md §5 asks.
 */
static const char *const library_names[] = { "battery-critical", "communications-outage",
	"cooling-failure", "cyber-incident", "earthquake", "fire", "power-outage",
	"water-leak" };

static struct playbook *
library_get(struct playbook **v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	ck_abort_msg("no playbook %s", name);
	return NULL;
}

/* The index of step id in pb (fails the test when there is none). */
static size_t
step_index(const struct playbook *pb, const char *id)
{
	size_t i;

	for (i = 0; i < pb->steps.n; i++)
		if (strcmp(playbook_step(pb, i)->id, id) == 0)
			return i;
	ck_abort_msg("%s: no step %s", pb->name, id);
	return 0;
}

/*
 * Whether step k can run only after a "yes" to a confirm before it: some
 * earlier confirm (approver_differs if asked), asked whenever k would run
 * (no `when`, or k's own), whose "no" (a failure) jumps past k.
 */
static int
guarded_by_confirm(const struct playbook *pb, size_t k, int approver_differs)
{
	size_t i;

	for (i = 0; i < k; i++) {
		const struct pb_step *c = playbook_step(pb, i);

		const struct pb_step *st = playbook_step(pb, k);

		if (c->type == PB_CONFIRM &&
		    (c->when == NULL ||
		        (st->when != NULL && strcmp(c->when_text, st->when_text) == 0)) &&
		    (!approver_differs || c->approver_differs) &&
		    c->on_failure == PB_FAIL_GOTO && c->goto_step > k)
			return 1;
	}
	return 0;
}

START_TEST(playbook_library)
{
	struct conf_errors errs = { NULL, 0 };
	const char *src = getenv("SONAE_SRC");
	struct conf *demo;
	struct playbook **v = NULL, *pb;
	char *path, *all = xstrdup(""), *tmp;
	size_t n = 0, i, k, last;
	int rc, seen_tier[4] = { 0 };

	ck_assert_msg(src != NULL, "SONAE_SRC is not set");
	xasprintf(&path, "%s/etc/demo/sonae.conf", src);
	demo = conf_load(path, &errs);
	ck_assert_msg(demo != NULL, "demo refused: %s", errs.n ? errs.v[0] : "?");
	free(path);
	xasprintf(&path, "%s/playbooks/library", src);
	rc = playbook_load_dir(path, demo, &v, &n, &errs);
	for (i = 0; i < errs.n; i++) {
		xasprintf(&tmp, "%s\n  %s", all, errs.v[i]);
		free(all);
		all = tmp;
	}
	ck_assert_msg(rc == 0 && errs.n == 0, "library refused:%s", all);
	free(all);
	free(path);
	ck_assert_uint_eq(n, NELEM(library_names));
	for (i = 0; i < n; i++) {
		/* In file-name order, which is the names' order. */
		ck_assert_str_eq(v[i]->name, library_names[i]);
		/* Every one ends with the exit decision, a human's. */
		last = v[i]->steps.n - 1;
		ck_assert_str_eq(playbook_step(v[i], last)->id, "exit");
		ck_assert_int_eq(playbook_step(v[i], last)->type, PB_CONFIRM);
		/* Every destructive step needs a yes to a confirm first (a human's,
		 * or the declared default of one nobody answered in time). */
		for (k = 0; k < v[i]->steps.n; k++)
			if (playbook_step(v[i], k)->destructive)
				ck_assert_msg(guarded_by_confirm(v[i], k, 0),
				    "%s: step %s is destructive and no confirm guards it",
				    v[i]->name, playbook_step(v[i], k)->id);
	}

	/* P4: evacuation first; nothing automatic, nothing conditional before it. */
	pb = library_get(v, n, "fire");
	ck_assert(!playbook_step(pb, 0)->destructive);
	ck_assert_ptr_null(playbook_step(pb, 0)->when);
	ck_assert(playbook_step(pb, 0)->type == PB_NOTIFY ||
	          playbook_step(pb, 0)->type == PB_CONFIRM);
	ck_assert_int_eq(playbook_step(pb, 0)->retries, 0);
	for (k = 0; k < pb->steps.n; k++)
		ck_assert_msg(!playbook_step(pb, k)->destructive &&
		                  playbook_step(pb, k)->type != PB_WAIT,
		    "fire: step %s delays or acts", playbook_step(pb, k)->id);

	/* P8: isolation only after a second person's yes. */
	pb = library_get(v, n, "cyber-incident");
	k = step_index(pb, "isolate");
	ck_assert_int_eq(playbook_step(pb, k)->type, PB_SNMP_SET);
	ck_assert_str_eq(playbook_step(pb, k)->value, "2");
	ck_assert(guarded_by_confirm(pb, k, 1));
	k = step_index(pb, "reconnect");
	ck_assert(guarded_by_confirm(pb, k, 1));
	ck_assert(step_index(pb, "isolate") < step_index(pb, "reconnect"));

	/* P2: tiers 1, 2, 3 down in order; a wait on mains and charge; then the
	 * hosts back in reverse order. */
	pb = library_get(v, n, "battery-critical");
	last = 0;
	for (k = 0; k < pb->steps.n; k++) {
		const struct pb_step *st = playbook_step(pb, k);

		if (st->type != PB_SHUTDOWN_TIER)
			continue;
		ck_assert_int_eq(strncmp(st->tier, "tier", 4), 0);
		ck_assert_int_eq(st->tier[4] - '0', (int)last + 1);
		seen_tier[++last] = (int)k;
	}
	ck_assert_uint_eq(last, 3);
	k = step_index(pb, "charged");
	ck_assert_int_eq(playbook_step(pb, k)->type, PB_WAIT);
	ck_assert_ptr_nonnull(playbook_step(pb, k)->until);
	ck_assert_ptr_nonnull(
	    strstr(playbook_step(pb, k)->until_text, "!ups1.on_battery"));
	ck_assert_ptr_nonnull(
	    strstr(playbook_step(pb, k)->until_text, "ups1.charge_pct"));
	ck_assert_int_gt((int)k, seen_tier[3]);
	ck_assert_uint_lt(k, step_index(pb, "start3"));
	ck_assert_uint_lt(step_index(pb, "start3"), step_index(pb, "start2"));
	ck_assert_uint_lt(step_index(pb, "start2"), step_index(pb, "start1"));
	for (i = 1; i <= 3; i++) {
		char id[8], host[32];
		const struct pb_step *st;

		snprintf(id, sizeof(id), "start%zu", i);
		snprintf(host, sizeof(host), "${tier%zu_host}", i);
		st = playbook_step(pb, step_index(pb, id));
		ck_assert_int_eq(st->type, PB_EXEC);
		ck_assert_uint_eq(st->command.n, 2);
		ck_assert_str_eq(st->command.v[1], host);
		/* No restart can run before the wait on the battery. */
		ck_assert_uint_gt(step_index(pb, id), k);
	}

	/* P3: disaster mode only on the 5-lower-or-more branch. */
	pb = library_get(v, n, "earthquake");
	for (k = 0, i = 0; k < pb->steps.n; k++) {
		const struct pb_step *st = playbook_step(pb, k);

		if (st->type != PB_SET_MODE)
			continue;
		i++;
		ck_assert_str_eq(st->mode, "disaster");
		ck_assert_msg(guarded_by_confirm(pb, k, 0),
		    "earthquake: disaster mode without the intensity question");
	}
	ck_assert_uint_eq(i, 1);
	k = step_index(pb, "intensity");
	ck_assert_ptr_nonnull(strstr(playbook_step(pb, k)->question, "5弱"));
	ck_assert_uint_lt(k, step_index(pb, "disaster"));
	/* Intensity 4 goes to the checks, past everything of the full response. */
	ck_assert_uint_gt(playbook_step(pb, k)->goto_step, step_index(pb, "safety-mail"));
	ck_assert_uint_eq(playbook_step(pb, k)->goto_step, step_index(pb, "room"));

	for (i = 0; i < n; i++)
		playbook_free(v[i]);
	free(v);
	conf_free(demo);
}
END_TEST

static Suite *
playbook_suite(void)
{
	Suite *s = suite_create("playbook");
	TCase *tc = tcase_create("format");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, playbook_good_json);
	tcase_add_test(tc, playbook_confirm_who_default);
	tcase_add_loop_test(tc, playbook_error_table, 0, NELEM(error_cases));
	tcase_add_test(tc, playbook_expand);
	tcase_add_test(tc, playbook_dir);
	tcase_add_test(tc, playbook_library);
	tcase_add_loop_test(tc, playbook_site_table, 0, NELEM(site_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(playbook_suite());
}
