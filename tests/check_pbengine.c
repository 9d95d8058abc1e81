/*
 * playbooks/engine.c: the engine that runs playbooks, driven on a real
 * libevent base with fake hooks (incident, eval, notify, snmp_set,
 * modbus_write, set_mode, journal, note) that record every call, and with
 * real playbook files and small shell scripts in a temporary folder.
 *
 * Every step type; `when`, retries and on_failure; abort and timeouts that
 * kill a program's group; triggers from incidents; the checkpoint on disk,
 * a crash (the engine freed mid-step, a new one on the same state folder)
 * and what an operator then says; the JSON of the CLI; the journal.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/engine.h"
#include "playbooks/playbook.h"
#include "playbooks/run.h"
#include "tests/testutil.h"

#define WAIT_MS  5000 /* the longest a test waits for what must happen */
#define RETRY_MS 100  /* the engine's pause between attempts, in these tests */
/*
 * Margin of lower bounds on durations: a step's times are the wall clock's,
 * its timers libevent's monotonic one, which counts from the start of the
 * loop's turn unless the engine refreshes it (it does after checkpoints).
 */
#define EARLY_MS 100

static const char *dir; /* the test's folder: playbooks, scripts, state */
static char *pbdir;     /* dir/pb: the site's playbooks */
static char *statedir;  /* dir/state: the engine's state_dir */
static struct event_base *base;
static struct conf *conf;
static struct pb_engine *e;

/* The site the engine runs with (kept for a restart). */
static char *site_drill_to, *site_params, *site_extra;

/*
 * The fakes: what they saw, and what they answer.
 */
struct script {
	char text[128]; /* the expression as written */
	int v[16];      /* the answers in turn; the last one repeats */
	size_t n, calls;
	char why[128]; /* for -1 */
};

struct pending {
	void (*done)(void *, int, const char *);
	void *darg;
	int live;
};

static struct {
	json_t *calls;   /* [{"hook": NAME, ...}] in order */
	json_t *journal; /* [{"actor", "event", "data"}] */
	json_t *notes;   /* [{"id", "event", "text"}] */
	struct script scripts[8];
	size_t nscripts;
	struct {
		const struct expr *x;
		char *text;
	} exprs[64];
	size_t nexprs;
	int notify_rc, set_mode_rc, write_rc;
	uint64_t queued;
	struct pending pend[16];
	size_t npend;
	/* The operating mode that pre-approves the confirm steps matching
	 * preapprove ("PLAYBOOK:STEP", fnmatch); NULL: none. */
	const char *preapprove, *preapprove_mode;
} f;

static void
record(const char *hook, json_t *o)
{
	json_object_set_new(o, "hook", json_string(hook));
	json_array_append_new(f.calls, o);
}

static json_t *
fake_incident(void *arg, uint64_t id)
{
	(void)arg;
	if (id == 12)
		return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "title",
		    "停電: ups1 on battery", "severity", "critical");
	if (id == 13 || id == 15)
		return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "title",
		    "another one", "severity", "warning");
	return NULL;
}

static int
fake_eval(void *arg, const struct expr *x, char *why, size_t len)
{
	const char *text = NULL;
	size_t i;

	(void)arg;
	for (i = 0; i < f.nexprs; i++)
		if (f.exprs[i].x == x)
			text = f.exprs[i].text;
	ck_assert_msg(text != NULL, "eval of an expression no playbook has");
	record("eval", json_pack("{s:s}", "expr", text));
	for (i = 0; i < f.nscripts; i++) {
		struct script *s = &f.scripts[i];
		if (strcmp(s->text, text) == 0) {
			int v = s->v[s->calls < s->n ? s->calls : s->n - 1];
			s->calls++;
			if (v == -1)
				snprintf(why, len, "%s", s->why);
			return v;
		}
	}
	ck_abort_msg("no script for the expression %s", text);
	return -1;
}

/* runs/NNN.json of run as on disk now, or NULL. */
static json_t *
disk(uint64_t run)
{
	char name[64], *path;
	json_t *o;

	snprintf(name, sizeof(name), "runs/%012llu.json", (unsigned long long)run);
	path = testutil_path(statedir, name);
	o = json_load_file(path, 0, NULL);
	free(path);
	return o;
}

/* The states of the steps of o (a record on disk), as one array. */
static json_t *
disk_states(json_t *o)
{
	json_t *states = json_array(), *s;
	size_t i;

	json_array_foreach(json_object_get(o, "steps"), i, s)
	    json_array_append(states, json_object_get(s, "state"));
	return states;
}

static json_t *
strings_json(const struct conf_strings *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; l != NULL && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static int
fake_notify(
    void *arg, const struct pb_notice *n, uint64_t *queued, char *result, size_t len)
{
	json_t *rec = disk(n->run);

	(void)arg;
	record("notify",
	    json_pack("{s:I, s:s, s:I, s:s, s:s, s:i, s:o, s:b, s:o, s:s, s:o}",
	        "incident", (json_int_t)n->incident, "playbook", n->playbook, "run",
	        (json_int_t)n->run, "title", n->step_title, "text", n->text, "severity",
	        n->severity, "to", strings_json(n->to), "drill", n->drill, "drill_to",
	        n->drill_to ? strings_json(n->drill_to) : json_null(), "actor", n->actor,
	        "disk", rec ? disk_states(rec) : json_null()));
	json_decref(rec);
	if (f.notify_rc == -1) {
		snprintf(result, len, "no route answers");
		return -1;
	}
	*queued = ++f.queued;
	snprintf(result, len, "queued #%llu", (unsigned long long)f.queued);
	return 0;
}

static int
pend_add(void (*done)(void *, int, const char *), void *darg)
{
	ck_assert_uint_lt(f.npend, NELEM(f.pend));
	f.pend[f.npend].done = done;
	f.pend[f.npend].darg = darg;
	f.pend[f.npend].live = 1;
	f.npend++;
	return 0;
}

/* Every write still waiting for its answer gets one: ok and reason. */
static void
writes_answer(int ok, const char *reason)
{
	size_t i;

	for (i = 0; i < f.npend; i++)
		if (f.pend[i].live) {
			f.pend[i].live = 0;
			f.pend[i].done(f.pend[i].darg, ok, reason);
		}
}

static int
fake_snmp_set(void *arg, const char *device, const char *oid, char type,
    const char *value, void (*done)(void *, int, const char *), void *darg)
{
	char t[2] = { type, '\0' };

	(void)arg;
	record("snmp_set", json_pack("{s:s, s:s, s:s, s:s}", "device", device, "oid", oid,
	                       "type", t, "value", value));
	if (f.write_rc == -1)
		return -1;
	return pend_add(done, darg);
}

static int
fake_modbus_write(void *arg, const char *device, const char *point, double value,
    void (*done)(void *, int, const char *), void *darg)
{
	(void)arg;
	record("modbus_write", json_pack("{s:s, s:s, s:f}", "device", device, "point",
	                           point, "value", value));
	if (f.write_rc == -1)
		return -1;
	return pend_add(done, darg);
}

static int
fake_set_mode(void *arg, const char *mode, const char *actor, const char *why, char *err,
    size_t len)
{
	(void)arg;
	record("set_mode",
	    json_pack("{s:s, s:s, s:s}", "mode", mode, "actor", actor, "why", why));
	if (f.set_mode_rc == -1) {
		snprintf(err, len, "no such mode here");
		return -1;
	}
	return 0;
}

static void
fake_journal(void *arg, const char *actor, const char *event, json_t *data)
{
	(void)arg;
	json_array_append_new(
	    f.journal, json_pack("{s:s, s:s, s:o}", "actor", actor, "event", event,
	                   "data", data != NULL ? data : json_null()));
}

static void
fake_note(void *arg, uint64_t id, const char *event, const char *text)
{
	(void)arg;
	json_array_append_new(f.notes, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
	                                   "event", event, "text", text));
}

/* The roster: f.preapprove_mode when "PLAYBOOK:STEP" matches f.preapprove. */
static const char *
fake_preapproved(void *arg, const char *playbook, const char *step)
{
	char key[160];

	(void)arg;
	record(
	    "preapproved", json_pack("{s:s, s:s}", "playbook", playbook, "step", step));
	snprintf(key, sizeof(key), "%s:%s", playbook, step);
	if (f.preapprove == NULL || fnmatch(f.preapprove, key, 0) != 0)
		return NULL;
	return f.preapprove_mode;
}

static const struct pb_hooks hooks = {
	.incident = fake_incident,
	.eval = fake_eval,
	.notify = fake_notify,
	.snmp_set = fake_snmp_set,
	.modbus_write = fake_modbus_write,
	.set_mode = fake_set_mode,
	.journal = fake_journal,
	.note = fake_note,
	.preapproved = fake_preapproved,
};

/* The expression text answers v... (ending with -2), the last one repeating. */
static void
eval_script(const char *text, const char *why, ...)
{
	struct script *s = &f.scripts[f.nscripts++];
	va_list ap;
	int v;

	ck_assert_uint_le(f.nscripts, NELEM(f.scripts));
	snprintf(s->text, sizeof(s->text), "%s", text);
	snprintf(s->why, sizeof(s->why), "%s", why != NULL ? why : "");
	va_start(ap, why);
	while ((v = va_arg(ap, int)) != -2)
		s->v[s->n++] = v;
	va_end(ap);
}

static size_t
evals_of(const char *text)
{
	size_t i;

	for (i = 0; i < f.nscripts; i++)
		if (strcmp(f.scripts[i].text, text) == 0)
			return f.scripts[i].calls;
	return 0;
}

/* The calls of one hook, and the nth of them. */
static size_t
ncalls(const char *hook)
{
	json_t *c;
	size_t i, n = 0;

	json_array_foreach(f.calls, i, c) n +=
	    strcmp(json_string_value(json_object_get(c, "hook")), hook) == 0;
	return n;
}

static json_t *
call(const char *hook, size_t nth)
{
	json_t *c;
	size_t i;

	json_array_foreach(f.calls, i,
	    c) if (strcmp(json_string_value(json_object_get(c, "hook")), hook) == 0 &&
	           nth-- == 0) return c;
	ck_abort_msg("no call %zu of %s", nth, hook);
	return NULL;
}

static const char *
cstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Journal entries of event, and the nth of them. */
static size_t
njournal(const char *event)
{
	json_t *j;
	size_t i, n = 0;

	json_array_foreach(f.journal, i, j) n += strcmp(cstr(j, "event"), event) == 0;
	return n;
}

static json_t *
journal_at(const char *event, size_t nth)
{
	json_t *j;
	size_t i;

	json_array_foreach(f.journal, i,
	    j) if (strcmp(cstr(j, "event"), event) == 0 && nth-- == 0) return j;
	ck_abort_msg("no journal entry %s", event);
	return NULL;
}

static size_t
nnotes(uint64_t id, const char *event)
{
	json_t *n;
	size_t i, k = 0;

	json_array_foreach(f.notes, i, n) k +=
	    (uint64_t)json_integer_value(json_object_get(n, "id")) == id &&
	    strcmp(cstr(n, "event"), event) == 0;
	return k;
}

/*
 * Files.
 */

/* text with every "@D" replaced by the test's folder (caller frees). */
static char *
subst(const char *s)
{
	char *out = xstrdup(""), *tmp;
	const char *p, *q;

	for (p = s; (q = strstr(p, "@D")) != NULL; p = q + 2) {
		xasprintf(&tmp, "%s%.*s%s", out, (int)(q - p), p, dir);
		free(out);
		out = tmp;
	}
	xasprintf(&tmp, "%s%s", out, p);
	free(out);
	return tmp;
}

/* A playbook file pb/NAME.conf: the head, then the rest (with @D). */
static void
playbook(const char *name, const char *rest)
{
	char *text, *body = subst(rest), *file, *path;

	xasprintf(&text,
	    "name = \"%s\";\ntitle_ja = \"試験 %s\";\ntitle_en = \"Test %s\";\n%s", name,
	    name, name, body);
	xasprintf(&file, "%s.conf", name);
	path = testutil_write(pbdir, file, text);
	free(path);
	free(file);
	free(text);
	free(body);
}

static void
playbook_remove(const char *name)
{
	char *file, *path;

	xasprintf(&file, "%s.conf", name);
	path = testutil_path(pbdir, file);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	free(file);
}

/* An executable shell script dir/NAME (with @D). */
static void
script(const char *name, const char *body)
{
	char *text, *b = subst(body), *path;

	xasprintf(&text, "#!/bin/sh\n%s\n", b);
	path = testutil_write(dir, name, text);
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(path);
	free(text);
	free(b);
}

/* The contents of dir/name, or NULL (caller frees). */
static char *
slurp(const char *name)
{
	char *path = testutil_path(dir, name), *buf;
	FILE *fp = fopen(path, "r");
	size_t n = 0, r;

	free(path);
	if (fp == NULL)
		return NULL;
	buf = xcalloc(1, 65536);
	while ((r = fread(buf + n, 1, 65535 - n, fp)) > 0)
		n += r;
	fclose(fp);
	return buf;
}

static int
lines_of(const char *name)
{
	char *s = slurp(name), *p;
	int n = 0;

	for (p = s; p != NULL && *p != '\0'; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static int
exists(void *arg)
{
	char *path = testutil_path(dir, arg);
	int ok = access(path, F_OK) == 0;

	free(path);
	return ok;
}

static pid_t
pid_in(const char *name)
{
	char *s = slurp(name);
	pid_t pid;

	ck_assert_msg(s != NULL, "no %s", name);
	pid = (pid_t)atol(s);
	free(s);
	ck_assert_int_gt(pid, 1);
	return pid;
}

/* The process is gone: no such process, or a zombie nobody reaps. */
static int
pid_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static int
pids_gone(void *arg)
{
	const pid_t *pids = arg;

	return pid_gone(pids[0]) && pid_gone(pids[1]);
}

/*
 * The site and the engine.
 */
static const char site_fmt[] =
    "site: { name = \"demo\"; };\n"
    "devices = (\n"
    "\t{ name = \"ups1\"; kind = \"ups\"; replay = { scenario = \"%s/s.replay\"; }; "
    "},\n"
    "\t{ name = \"env1\"; replay = { scenario = \"%s/s.replay\"; }; }\n"
    ");\n"
    "playbooks = { dir = \"%s\"; drill_to = [%s]; parameters = (%s); };\n"
    "%s";

/* The expressions of the loaded playbooks, so the fake eval knows their text. */
static void
exprs_map(void)
{
	size_t i, k;

	for (i = 0; i < f.nexprs; i++)
		free(f.exprs[i].text);
	f.nexprs = 0;
	for (i = 0; i < conf->playbooks.nloaded; i++) {
		const struct playbook *pb = conf->playbooks.loaded[i];
		for (k = 0; k < pb->steps.n; k++) {
			const struct pb_step *st = playbook_step(pb, k);
			ck_assert_uint_lt(f.nexprs + 2, NELEM(f.exprs));
			if (st->when != NULL) {
				f.exprs[f.nexprs].x = st->when;
				f.exprs[f.nexprs++].text = xstrdup(st->when_text);
			}
			if (st->until != NULL) {
				f.exprs[f.nexprs].x = st->until;
				f.exprs[f.nexprs++].text = xstrdup(st->until_text);
			}
		}
	}
}

static struct conf *
site_load(void)
{
	struct conf_errors errs = { NULL, 0 };
	char *text, *path;
	struct conf *c;

	xasprintf(
	    &text, site_fmt, dir, dir, pbdir, site_drill_to, site_params, site_extra);
	path = testutil_write(dir, "site.conf", text);
	c = conf_load(path, &errs);
	ck_assert_msg(c != NULL, "site refused: %s", errs.n ? errs.v[0] : "?");
	conf_errors_clear(&errs);
	free(path);
	free(text);
	return c;
}

/* A new engine on the site's configuration, started on statedir. */
static void
engine_start(void)
{
	char err[512] = "";

	conf = site_load();
	exprs_map();
	e = pb_engine_new(base, &hooks, NULL);
	pb_engine_set_retry_delay(e, RETRY_MS);
	pb_engine_configure(e, conf);
	ck_assert_msg(pb_engine_start(e, statedir, err, sizeof(err)) == 0, "%s", err);
}

/* The site: drill_to's list, parameters' groups and more keys (rules). */
static void
up(const char *drill_to, const char *params, const char *extra)
{
	free(site_drill_to);
	free(site_params);
	free(site_extra);
	site_drill_to = xstrdup(drill_to);
	site_params = xstrdup(params);
	site_extra = xstrdup(extra);
	engine_start();
}

static void
engine_stop(void)
{
	pb_engine_free(e);
	e = NULL;
	conf_free(conf);
	conf = NULL;
}

/* sonaed dies: the engine is freed mid-step; a new one starts on the same state. */
static void
restart(void)
{
	engine_stop();
	engine_start();
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

/* Run the loop for ms. */
static void
spin(int64_t ms)
{
	testutil_loop_until(base, never, NULL, ms);
}

static int
no_children(void *arg)
{
	(void)arg;
	return child_running() == 0;
}

static void
setup(void)
{
	umask(022);
	dir = testutil_tmpdir("check-pbengine");
	pbdir = testutil_path(dir, "pb");
	statedir = testutil_path(dir, "state");
	ck_assert_int_eq(mkdir(pbdir, 0755), 0);
	ck_assert_int_eq(mkdir(statedir, 0750), 0);
	free(testutil_write(dir, "s.replay", "unit v V\n0 v=1\nend 20s\n"));
	base = event_base_new();
	memset(&f, 0, sizeof(f));
	f.calls = json_array();
	f.journal = json_array();
	f.notes = json_array();
	script("ok.sh", "echo ran >> @D/ok.count\necho hello");
}

static void
teardown(void)
{
	size_t i;
	json_t *j;

	if (e != NULL)
		engine_stop();
	writes_answer(0, "the test is over");
	testutil_loop_until(base, no_children, NULL, 8000);
	event_base_free(base);
	base = NULL;
	/* Every journal entry carried its data (a failed json_pack gives NULL). */
	json_array_foreach(f.journal, i, j)
	    ck_assert_msg(json_is_object(json_object_get(j, "data")),
	        "journal %s without data", cstr(j, "event"));
	json_decref(f.calls);
	json_decref(f.journal);
	json_decref(f.notes);
	for (i = 0; i < f.nexprs; i++)
		free(f.exprs[i].text);
	free(site_drill_to);
	free(site_params);
	free(site_extra);
	site_drill_to = site_params = site_extra = NULL;
	free(pbdir);
	free(statedir);
	testutil_rmdir();
}

/*
 * Runs and what they show.
 */

/* Start a run; sets are NAME=VALUE strings, NULL-ended. */
static uint64_t
run_v(const char *name, uint64_t incident, int drill, const char *actor, va_list ap)
{
	struct conf_strings sets = { NULL, 0 };
	char err[512] = "";
	const char *s;
	uint64_t id = 0;
	int rc;

	while ((s = va_arg(ap, const char *)) != NULL)
		conf_strings_add(&sets, s);
	rc = pb_engine_run(
	    e, name, incident, drill, &sets, actor, "a test", &id, err, sizeof(err));
	conf_strings_free(&sets);
	ck_assert_msg(rc == 0, "run %s refused: %s", name, err);
	ck_assert_uint_gt(id, 0);
	return id;
}

static uint64_t
run(const char *name, uint64_t incident, int drill, const char *actor, ...)
{
	va_list ap;
	uint64_t id;

	va_start(ap, actor);
	id = run_v(name, incident, drill, actor, ap);
	va_end(ap);
	return id;
}

/* A run refused with an error that contains want. */
static void
run_refused(const char *name, uint64_t incident, const char *want, ...)
{
	struct conf_strings sets = { NULL, 0 };
	char err[512] = "";
	const char *s;
	uint64_t id = 0;
	va_list ap;
	int rc;

	va_start(ap, want);
	while ((s = va_arg(ap, const char *)) != NULL)
		conf_strings_add(&sets, s);
	va_end(ap);
	rc = pb_engine_run(
	    e, name, incident, 0, &sets, "alice", "a test", &id, err, sizeof(err));
	conf_strings_free(&sets);
	ck_assert_msg(rc == -1, "run of %s was not refused", name);
	ck_assert_msg(
	    strstr(err, want) != NULL, "refused with \"%s\", not \"%s\"", err, want);
}

/* Strings handed out by field(): a ring, valid for a while. */
static char ring[16][8192];
static unsigned ringi;

static const char *
keep(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = ring[ringi++ % NELEM(ring)];
	snprintf(p, sizeof(ring[0]), "%s", s);
	return p;
}

static json_t *
step_in(json_t *status, const char *step)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(status, "steps"), i,
	    s) if (strcmp(cstr(s, "id"), step) == 0) return s;
	ck_abort_msg("no step %s", step);
	return NULL;
}

/* A string of run-status: of the run (step NULL) or of one step; NULL: null. */
static const char *
field(uint64_t id, const char *step, const char *key)
{
	json_t *o = pb_engine_run_json(e, id);
	const char *v;

	ck_assert_msg(o != NULL, "no run %llu", (unsigned long long)id);
	v = keep(cstr(step != NULL ? step_in(o, step) : o, key));
	json_decref(o);
	return v;
}

static json_int_t
ifield(uint64_t id, const char *step, const char *key)
{
	json_t *o = pb_engine_run_json(e, id);
	json_int_t v;

	ck_assert_msg(o != NULL, "no run %llu", (unsigned long long)id);
	v = json_integer_value(json_object_get(step ? step_in(o, step) : o, key));
	json_decref(o);
	return v;
}

static int
bfield(uint64_t id, const char *step, const char *key)
{
	json_t *o = pb_engine_run_json(e, id);
	int v;

	ck_assert_msg(o != NULL, "no run %llu", (unsigned long long)id);
	v = json_is_true(json_object_get(step ? step_in(o, step) : o, key));
	json_decref(o);
	return v;
}

#define ck_field(id, step, key, want)                                                    \
	do {                                                                             \
		const char *got_ = field(id, step, key);                                 \
		ck_assert_msg(got_ != NULL && strcmp(got_, want) == 0,                   \
		    "run %llu %s %s: \"%s\", not \"%s\"", (unsigned long long)(id),      \
		    (step) ? (const char *)(step) : "", key, got_ ? got_ : "(null)",     \
		    want);                                                               \
	} while (0)

#define ck_field_has(id, step, key, want)                                                \
	do {                                                                             \
		const char *got_ = field(id, step, key);                                 \
		ck_assert_msg(got_ != NULL && strstr(got_, want) != NULL,                \
		    "run %llu %s %s: \"%s\" lacks \"%s\"", (unsigned long long)(id),     \
		    (step) ? (const char *)(step) : "", key, got_ ? got_ : "(null)",     \
		    want);                                                               \
	} while (0)

struct want {
	uint64_t run;
	const char *step; /* NULL: the run */
	const char *state;
};

static int
state_is(void *arg)
{
	const struct want *w = arg;
	const char *s = field(w->run, w->step, "state");

	return s != NULL && strcmp(s, w->state) == 0;
}

/* Run the loop until the run (step NULL) or its step is in state, at most ms. */
static void
wait_state(uint64_t id, const char *step, const char *state, int64_t ms)
{
	struct want w = { id, step, state };

	if (testutil_loop_until(base, state_is, &w, ms))
		return;
	ck_abort_msg("run %llu %s is %s, not %s after %lld ms (result: %s; run: %s)",
	    (unsigned long long)id, step ? step : "", field(id, step, "state"), state,
	    (long long)ms, step ? field(id, step, "result") : "-",
	    field(id, NULL, "state"));
}

/* The run's log has an entry of event whose text contains text. */
static int
logged(uint64_t id, const char *event, const char *text)
{
	json_t *o = pb_engine_run_json(e, id), *l;
	size_t i;
	int found = 0;

	json_array_foreach(json_object_get(o, "log"), i, l) found |=
	    strcmp(cstr(l, "event"), event) == 0 &&
	    (text == NULL || strstr(cstr(l, "text"), text) != NULL);
	json_decref(o);
	return found;
}

static int
confirm(uint64_t id, const char *step, enum pb_answer ans, const char *actor,
    int is_operator, char *err, size_t errlen)
{
	err[0] = '\0';
	return pb_engine_confirm(
	    e, id, step, ans, actor, is_operator, "said in a test", err, errlen);
}

static void
confirm_ok(uint64_t id, const char *step, enum pb_answer ans, const char *actor)
{
	char err[512];

	ck_assert_msg(confirm(id, step, ans, actor, 1, err, sizeof(err)) == 0,
	    "confirm %s refused: %s", step, err);
}

static void
confirm_refused(uint64_t id, const char *step, enum pb_answer ans, const char *actor,
    int is_operator, const char *want)
{
	char err[512];

	ck_assert_msg(confirm(id, step, ans, actor, is_operator, err, sizeof(err)) == -1,
	    "%s's answer to %s was taken", actor, step);
	ck_assert_msg(
	    strstr(err, want) != NULL, "refused with \"%s\", not \"%s\"", err, want);
}

/*
 * notify
 */

/* ${param} and ${incident.*} expanded; `to` given, or the routes decide. */
START_TEST(notify_to_and_routes)
{
	json_t *c;
	uint64_t id;

	playbook("tell",
	    "parameters = ( { name = \"contact\"; default = \"ict@example.jp\"; } );\n"
	    "steps = (\n"
	    "\t{ id = \"tell\"; type = \"notify\"; title = \"Tell ${contact}\";\n"
	    "\t  text = \"${incident.title} (${incident.severity}, #${incident.id}): "
	    "${contact}\";\n"
	    "\t  severity = \"warning\"; to = [\"${contact}\", \"boss@example.jp\"]; },\n"
	    "\t{ id = \"all\"; type = \"notify\"; title = \"Everyone\"; text = \"x\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("tell", 12, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("notify"), 2);
	c = call("notify", 0);
	ck_assert_str_eq(cstr(c, "title"), "Tell ict@example.jp");
	ck_assert_str_eq(
	    cstr(c, "text"), "停電: ups1 on battery (critical, #12): ict@example.jp");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(c, "severity")), CHECK_WARNING);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "incident")), 12);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "run")), (json_int_t)id);
	ck_assert_str_eq(cstr(c, "playbook"), "tell");
	ck_assert_str_eq(cstr(c, "actor"), "alice");
	ck_assert(json_is_false(json_object_get(c, "drill")));
	ck_assert_uint_eq(json_array_size(json_object_get(c, "to")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "to"), 0)),
	    "ict@example.jp");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "to"), 1)),
	    "boss@example.jp");
	c = call("notify", 1);
	ck_assert_uint_eq(json_array_size(json_object_get(c, "to")), 0); /* the routes */
	ck_assert_int_eq(json_integer_value(json_object_get(c, "severity")), 0);
	ck_field(id, "tell", "state", "done");
	ck_field(id, "tell", "result", "queued #1");
	ck_field(id, "all", "result", "queued #2");
	/* The alerts say no: the step fails, and (abort) the run. */
	f.notify_rc = -1;
	id = run("tell", 12, 0, "alice", NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field(id, "tell", "state", "failed");
	ck_field(id, "tell", "result", "no route answers");
	ck_field(id, "all", "state", "pending");
	ck_assert_uint_eq(ncalls("notify"), 3);
}
END_TEST

/* A drill tells only drill_to, marked as a drill; without drill_to, nobody. */
START_TEST(notify_drill)
{
	json_t *c;
	uint64_t id;

	playbook("tell", "steps = (\n"
	                 "\t{ id = \"tell\"; type = \"notify\"; title = \"Tell\";\n"
	                 "\t  text = \"${incident.title} / ${incident.severity}\";\n"
	                 "\t  to = [\"boss@example.jp\"]; }\n"
	                 ");\n");
	up("\"drill@example.jp\"", "", "");
	id = run("tell", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("notify"), 1);
	c = call("notify", 0);
	ck_assert(json_is_true(json_object_get(c, "drill")));
	ck_assert_uint_eq(json_array_size(json_object_get(c, "drill_to")), 1);
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(c, "drill_to"), 0)),
	    "drill@example.jp");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "incident")), 0);
	ck_assert_msg(strstr(cstr(c, "text"), "DRILL") != NULL &&
	                  strstr(cstr(c, "text"), "Test tell") != NULL &&
	                  strstr(cstr(c, "text"), "/ drill") != NULL,
	    "a drill's ${incident.*}: %s", cstr(c, "text"));
	ck_assert(!bfield(id, "tell", "would_run"));
	ck_assert(bfield(id, NULL, "drill"));
	/* The site gives no drill_to: recorded, not sent. */
	engine_stop();
	up("", "", "");
	id = run("tell", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("notify"), 1);
	ck_field(id, "tell", "state", "done");
	ck_field_has(id, "tell", "result", "drill: recorded, not sent");
	ck_field_has(id, "tell", "result", "DRILL");
}
END_TEST

/*
 * exec
 */

/* Exit 0 done, exit 3 failed; output kept, capped by output_max. */
START_TEST(exec_status_output)
{
	uint64_t id;

	script("big.sh", "printf '0123456789abcdefghij'\nexit 3");
	playbook("ex",
	    "steps = (\n"
	    "\t{ id = \"ok\"; type = \"exec\"; title = \"ok\"; command = "
	    "[\"@D/ok.sh\"]; },\n"
	    "\t{ id = \"big\"; type = \"exec\"; title = \"big\"; command = "
	    "[\"@D/big.sh\"];\n"
	    "\t  output_max = 10; on_failure = \"continue\"; },\n"
	    "\t{ id = \"after\"; type = \"notify\"; title = \"t\"; text = \"x\"; "
	    "}\n"
	    ");\n");
	up("", "", "");
	id = run("ex", 0, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "ok", "state", "done");
	ck_field(id, "ok", "result", "exit 0");
	ck_field(id, "ok", "output", "hello\n");
	ck_field(id, "big", "state", "failed");
	ck_field_has(id, "big", "result", "exit 3");
	ck_field_has(id, "big", "result", "truncated");
	ck_field(id, "big", "output", "0123456789");
	ck_field(id, "after", "state", "done");
	ck_assert(logged(id, "exec", dir));
}
END_TEST

/* argv reaches the program as written; the SONAE_* environment. */
START_TEST(exec_argv_env)
{
	char *args, *env, *want;
	uint64_t id;

	script("args.sh",
	    "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > @D/args.out\n"
	    "env | grep '^SONAE_' | sort > @D/env.out");
	playbook("ex",
	    "parameters = ( { name = \"zone\"; default = \"east wing\"; } );\n"
	    "steps = (\n"
	    "\t{ id = \"args\"; type = \"exec\"; title = \"args\";\n"
	    "\t  command = [\"@D/args.sh\", \"two words\", \"it's \\\"q\\\"; rm -rf "
	    "/x\", \"${zone}\", \"$${zone}\", \"`id` $(id) *\"]; }\n"
	    ");\n");
	up("", "", "");
	id = run("ex", 12, 0, "alice", "zone=west; wing", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	args = slurp("args.out");
	ck_assert_str_eq(args, "[two words]\n[it's \"q\"; rm -rf /x]\n[west; wing]\n"
	                       "[${zone}]\n[`id` $(id) *]\n");
	env = slurp("env.out");
	xasprintf(&want,
	    "SONAE_DRILL=0\nSONAE_INCIDENT=12\nSONAE_INCIDENT_SEVERITY=critical\n"
	    "SONAE_INCIDENT_TITLE=停電: ups1 on battery\nSONAE_PARAM_zone=west; wing\n"
	    "SONAE_PLAYBOOK=ex\nSONAE_REQUESTED_BY=alice\nSONAE_RUN=%llu\n"
	    "SONAE_SITE=demo\nSONAE_STEP=args\n",
	    (unsigned long long)id);
	ck_assert_str_eq(env, want);
	free(want);
	free(args);
	free(env);
}
END_TEST

/* user: argv starts /usr/bin/sudo -n -u USER --; a drill shows it and runs nothing. */
START_TEST(exec_user_sudo)
{
	char *want;
	uint64_t id;

	playbook("su", "parameters = ( { name = \"who\"; default = \"nobody\"; } );\n"
	               "steps = (\n"
	               "\t{ id = \"as\"; type = \"exec\"; title = \"as\"; command = "
	               "[\"@D/ok.sh\", \"x y\"];\n"
	               "\t  user = \"${who}\"; }\n"
	               ");\n");
	up("", "", "");
	id = run("su", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	xasprintf(&want, "would run: /usr/bin/sudo -n -u nobody -- %s/ok.sh 'x y'", dir);
	ck_field(id, "as", "result", want);
	ck_assert(bfield(id, "as", "would_run"));
	ck_assert(!exists("ok.count"));
	free(want);
	/* For real: sudo is what runs (absent here: the step fails naming it). */
	id = run("su", 0, 0, "alice", "who=operator", NULL);
	wait_state(
	    id, "as", access("/usr/bin/sudo", X_OK) == 0 ? "done" : "failed", WAIT_MS);
	ck_assert(logged(id, "exec", "as: /usr/bin/sudo -n -u operator -- "));
	if (access("/usr/bin/sudo", X_OK) != 0)
		ck_field_has(id, "as", "result", "cannot run /usr/bin/sudo");
}
END_TEST

/*
 * wait
 */

/* for alone; until that must hold for `for`; until that never holds. */
START_TEST(wait_for_until_timeout)
{
	uint64_t a, b, c;

	playbook("pause", "steps = ( { id = \"w\"; type = \"wait\"; title = \"w\"; for = "
	                  "\"400ms\"; } );\n");
	playbook("hold",
	    "steps = ( { id = \"w\"; type = \"wait\"; title = \"w\";\n"
	    "\t  until = \"ups1.on_battery\"; for = \"1s\"; timeout = \"20s\"; } );\n");
	playbook("never", "steps = ( { id = \"w\"; type = \"wait\"; title = \"w\";\n"
	                  "\t  until = \"ups1.load > 80\"; timeout = \"1500ms\"; } );\n");
	eval_script("ups1.on_battery", NULL, 1, 0, 1, -2); /* holds, breaks, holds */
	eval_script("ups1.load > 80", "ups1 does not answer", 0, -1, -2);
	up("", "", "");
	a = run("pause", 0, 0, "alice", NULL);
	b = run("hold", 0, 0, "alice", NULL);
	c = run("never", 0, 0, "alice", NULL);
	wait_state(a, NULL, "done", WAIT_MS);
	ck_assert_int_ge(ifield(a, "w", "duration_ms"), 400 - EARLY_MS);
	ck_assert_int_lt(ifield(a, "w", "duration_ms"), 1400);
	ck_field(a, "w", "result", "waited 400ms");
	wait_state(c, NULL, "failed", WAIT_MS);
	ck_field_has(c, "w", "result", "ups1.load > 80 did not hold within");
	ck_assert_int_ge(ifield(c, "w", "duration_ms"), 1500 - EARLY_MS);
	wait_state(b, NULL, "done", WAIT_MS);
	/*
	 * Held at 0 s, broke at 1 s, held again from 2 s: done once it held 1 s,
	 * at 3 s (not at 0 s, nor at 1 s as if the break did not count).
	 */
	ck_assert_int_ge(ifield(b, "w", "duration_ms"), 2000);
	ck_assert_uint_ge(evals_of("ups1.on_battery"), 4);
	ck_field_has(b, "w", "result", "ups1.on_battery held");
}
END_TEST

/*
 * An operator ends a wait early (facilities vouch for the mains): "yes"
 * done, "--no" failed, who said so kept; nobody else may, and the wait's
 * own timer does nothing afterwards.
 */
START_TEST(wait_ended_by_operator)
{
	uint64_t a, b;

	playbook("long",
	    "steps = ( { id = \"w\"; type = \"wait\"; title = \"w\";\n"
	    "\t  until = \"ups1.on_battery\"; for = \"5min\"; timeout = \"8h\"; },\n"
	    "\t{ id = \"after\"; type = \"confirm\"; title = \"a\"; question = "
	    "\"q\"; } );\n");
	eval_script("ups1.on_battery", NULL, 1, -2);
	up("", "", "");
	a = run("long", 0, 0, "alice", NULL);
	b = run("long", 0, 0, "alice", NULL);
	wait_state(a, "w", "running", WAIT_MS);
	wait_state(b, "w", "running", WAIT_MS);
	confirm_refused(a, "w", PB_YES, "mallory", 0, "only operators end a wait");
	confirm_refused(a, "w", PB_RETRY, "bob", 1, "--retry is for a step");
	confirm_ok(a, "w", PB_YES, "bob");
	wait_state(a, "after", "waiting", WAIT_MS);
	ck_field(a, "w", "state", "done");
	ck_field(a, "w", "actor", "bob");
	ck_field(a, "w", "result", "yes: said in a test");
	confirm_ok(b, "w", PB_NO, "bob");
	wait_state(b, NULL, "failed", WAIT_MS);
	ck_field(b, "w", "result", "no: said in a test");
	/* The ended wait's tick is gone (ASan would see it fire on a freed act). */
	spin(1500);
	ck_field(a, "w", "state", "done");
}
END_TEST

/*
 * confirm
 */

/* yes: done; --no: failed, and on_failure decides; who answered is kept. */
START_TEST(confirm_yes_no)
{
	char err[512];
	json_t *s, *w;
	uint64_t id;

	playbook("cf",
	    "parameters = ( { name = \"place\"; default = \"the server room\"; "
	    "} );\n"
	    "steps = (\n"
	    "\t{ id = \"room\"; type = \"confirm\"; title = \"Room\";\n"
	    "\t  question = \"Is ${place} safe?\"; on_failure = \"continue\"; },\n"
	    "\t{ id = \"go\"; type = \"confirm\"; title = \"Go\"; question = \"Go "
	    "on?\"; },\n"
	    "\t{ id = \"end\"; type = \"notify\"; title = \"t\"; text = \"x\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("cf", 12, 0, "alice", NULL);
	wait_state(id, "room", "waiting", WAIT_MS);
	s = pb_engine_run_json(e, id);
	ck_assert_uint_eq(json_array_size(json_object_get(s, "waiting")), 1);
	w = json_array_get(json_object_get(s, "waiting"), 0);
	ck_assert_str_eq(cstr(w, "id"), "room");
	ck_assert_str_eq(cstr(w, "question"), "Is the server room safe?");
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(w, "who"), 0)), "operators");
	ck_assert(json_is_null(json_object_get(w, "deadline")));
	ck_assert(json_is_null(json_object_get(w, "default")));
	ck_assert(json_is_false(json_object_get(w, "unknown")));
	json_decref(s);
	ck_field(id, "room", "question", "Is the server room safe?");
	/* Not the step that waits; no such step; no such run. */
	confirm_refused(id, "go", PB_YES, "bob", 1, "waits for nobody");
	confirm_refused(id, "nope", PB_YES, "bob", 1, "has no step");
	ck_assert_int_eq(
	    pb_engine_confirm(e, 99, "room", PB_YES, "bob", 1, "x", err, sizeof(err)),
	    -1);
	confirm_refused(id, "room", PB_RETRY, "bob", 1, "--retry is for a step");
	confirm_ok(id, "room", PB_NO, "bob");
	wait_state(id, "go", "waiting", WAIT_MS);
	ck_field(id, "room", "state", "failed");
	ck_field(id, "room", "actor", "bob");
	ck_field(id, "room", "result", "no: said in a test");
	confirm_ok(id, "go", PB_YES, "carol");
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "go", "state", "done");
	ck_field(id, "go", "actor", "carol");
	ck_field(id, "go", "result", "yes: said in a test");
	ck_field(id, "end", "state", "done");
	/* A finished run waits for nobody. */
	confirm_refused(id, "go", PB_YES, "bob", 1, "is done");
	ck_assert_uint_eq(njournal("playbook.confirm"), 2);
	ck_assert_str_eq(cstr(journal_at("playbook.confirm", 0), "actor"), "bob");
	ck_assert_str_eq(
	    cstr(json_object_get(journal_at("playbook.confirm", 0), "data"), "answer"),
	    "no");
	ck_assert_str_eq(cstr(journal_at("playbook.confirm", 1), "actor"), "carol");
	/* The incident's timeline has the answers. */
	ck_assert_uint_ge(nnotes(12, "playbook-step"), 2);
}
END_TEST

/*
 * A confirm step the operating mode pre-approves (modes[].preapproved) is
 * answered yes at once by "mode:NAME", journaled as a confirm; without a
 * pre-approval it waits for a human.  In a drill too, and when a run waiting
 * at the step is taken up after a restart in a mode that pre-approves it.
 */
START_TEST(confirm_preapproved)
{
	static const char *const want =
	    "yes: pre-approved in mode reduced (modes[].preapproved)";
	uint64_t waits, mode_run, drill, resumed;
	json_t *j;

	playbook("shed",
	    "steps = (\n"
	    "\t{ id = \"approve\"; type = \"confirm\"; title = \"Shed load\";\n"
	    "\t  question = \"Shut the test racks down?\"; },\n"
	    "\t{ id = \"end\"; type = \"notify\"; title = \"t\"; text = \"x\"; }\n"
	    ");\n");
	up("\"drill@example.org\"", "", "");

	/* No mode pre-approves it: a human must answer. */
	waits = run("shed", 12, 0, "alice", NULL);
	wait_state(waits, "approve", "waiting", WAIT_MS);
	spin(300);
	ck_field(waits, "approve", "state", "waiting");
	ck_field(waits, NULL, "state", "running");
	ck_assert_uint_eq(njournal("playbook.confirm"), 0);

	/* The mode pre-approves another step only: still a human. */
	f.preapprove = "other:*";
	f.preapprove_mode = "reduced";
	resumed = run("shed", 0, 0, "alice", NULL);
	wait_state(resumed, "approve", "waiting", WAIT_MS);
	spin(200);
	ck_field(resumed, "approve", "state", "waiting");

	/* Now it does: answered at once, by the mode. */
	f.preapprove = "shed:appro*";
	mode_run = run("shed", 13, 0, "alice", NULL);
	wait_state(mode_run, NULL, "done", WAIT_MS);
	ck_field(mode_run, "approve", "state", "done");
	ck_field(mode_run, "approve", "actor", "mode:reduced");
	ck_field(mode_run, "approve", "result", want);
	ck_assert(logged(mode_run, "step-done", "pre-approved in mode reduced"));
	ck_assert_uint_eq(njournal("playbook.confirm"), 1);
	j = journal_at("playbook.confirm", 0);
	ck_assert_str_eq(cstr(j, "actor"), "mode:reduced");
	ck_assert_str_eq(cstr(json_object_get(j, "data"), "step"), "approve");
	ck_assert_str_eq(cstr(json_object_get(j, "data"), "answer"), "yes");
	ck_assert_str_eq(cstr(json_object_get(j, "data"), "text"),
	    "pre-approved in mode reduced (modes[].preapproved)");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(j, "data"), "run")),
	    (json_int_t)mode_run);
	ck_assert_uint_ge(nnotes(13, "playbook-step"), 1);
	/* The run that waited before is not answered behind anyone's back. */
	ck_field(waits, "approve", "state", "waiting");

	/* A drill follows the mode too. */
	drill = run("shed", 0, 1, "alice", NULL);
	wait_state(drill, NULL, "done", WAIT_MS);
	ck_field(drill, "approve", "actor", "mode:reduced");
	ck_field(drill, "approve", "result", want);
	ck_assert_uint_eq(njournal("playbook.confirm"), 2);

	/* After a restart the waiting runs are taken up in the mode of then. */
	restart();
	wait_state(resumed, NULL, "done", WAIT_MS);
	ck_field(resumed, "approve", "actor", "mode:reduced");
	ck_field(resumed, "approve", "result", want);
	wait_state(waits, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(njournal("playbook.confirm"), 4);
	ck_assert_str_eq(
	    cstr(journal_at("playbook.confirm", 3), "actor"), "mode:reduced");
}
END_TEST

/* who: named users whether operators or not; "operators" the group. */
START_TEST(confirm_who)
{
	char err[512];
	uint64_t id;

	playbook("who",
	    "steps = (\n"
	    "\t{ id = \"named\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; who = [\"tanaka\"]; },\n"
	    "\t{ id = \"ops\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; },\n"
	    "\t{ id = \"both\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; who = [\"operators\", \"sato\"]; }\n"
	    ");\n");
	up("", "", "");
	id = run("who", 0, 0, "alice", NULL);
	wait_state(id, "named", "waiting", WAIT_MS);
	confirm_refused(id, "named", PB_YES, "suzuki", 1, "suzuki may not answer");
	ck_assert_uint_eq(njournal("playbook.confirm-refused"), 1);
	ck_assert_str_eq(
	    cstr(journal_at("playbook.confirm-refused", 0), "actor"), "suzuki");
	ck_field(id, "named", "state", "waiting");
	ck_assert_int_eq(pb_engine_confirm(
	                     e, id, "named", PB_YES, "tanaka", 0, "ok", err, sizeof(err)),
	    0);
	wait_state(id, "ops", "waiting", WAIT_MS);
	ck_field(id, "named", "actor", "tanaka");
	confirm_refused(id, "ops", PB_YES, "tanaka", 0, "tanaka may not answer");
	confirm_refused(id, "ops", PB_NO, "tanaka", 0, "operators");
	confirm_ok(id, "ops", PB_YES, "suzuki");
	wait_state(id, "both", "waiting", WAIT_MS);
	confirm_refused(id, "both", PB_YES, "kato", 0, "kato may not answer");
	ck_assert_int_eq(
	    pb_engine_confirm(e, id, "both", PB_YES, "sato", 0, "ok", err, sizeof(err)),
	    0);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(njournal("playbook.confirm-refused"), 4);
	ck_assert_uint_eq(njournal("playbook.confirm"), 3);
}
END_TEST

/* approver_differs: the one who started the run may not approve it. */
START_TEST(confirm_approver_differs)
{
	json_t *j;
	uint64_t id;

	playbook("ap",
	    "steps = (\n"
	    "\t{ id = \"approve\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"Isolate?\";\n"
	    "\t  approver_differs = true; }\n"
	    ");\n");
	up("", "", "");
	id = run("ap", 0, 0, "alice", NULL);
	wait_state(id, "approve", "waiting", WAIT_MS);
	confirm_refused(id, "approve", PB_YES, "alice", 1, "approver_differs");
	j = journal_at("playbook.confirm-refused", 0);
	ck_assert_str_eq(cstr(j, "actor"), "alice");
	ck_assert_str_eq(cstr(json_object_get(j, "data"), "step"), "approve");
	ck_assert_msg(strstr(cstr(json_object_get(j, "data"), "why"), "approver_differs"),
	    "why: %s", cstr(json_object_get(j, "data"), "why"));
	spin(100);
	ck_field(id, "approve", "state", "waiting");
	confirm_ok(id, "approve", PB_YES, "bob");
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "approve", "actor", "bob");
}
END_TEST

/* Nobody answers in time: the declared default, yes or no. */
START_TEST(confirm_timeout_default)
{
	uint64_t id;

	playbook("to",
	    "steps = (\n"
	    "\t{ id = \"y\"; type = \"confirm\"; title = \"t\"; question = \"q\";\n"
	    "\t  timeout = \"300ms\"; default = \"yes\"; },\n"
	    "\t{ id = \"n\"; type = \"confirm\"; title = \"t\"; question = \"q\";\n"
	    "\t  timeout = \"300ms\"; default = \"no\"; on_failure = "
	    "\"continue\"; },\n"
	    "\t{ id = \"last\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\";\n"
	    "\t  timeout = \"300ms\"; default = \"no\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("to", 0, 0, "alice", NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field(id, "y", "state", "done");
	ck_field(id, "y", "actor", "sonaed");
	ck_field_has(id, "y", "result", "the default, yes, was taken");
	ck_assert_int_ge(ifield(id, "y", "duration_ms"), 300 - EARLY_MS);
	ck_field(id, "n", "state", "failed");
	ck_field_has(id, "n", "result", "the default, no, was taken");
	ck_field(id, "last", "state", "failed");
}
END_TEST

/*
 * set-mode, snmp-set, modbus-write
 */

START_TEST(set_mode)
{
	json_t *c;
	uint64_t id;

	playbook("md", "steps = (\n"
	               "\t{ id = \"mode\"; type = \"set-mode\"; title = \"t\"; mode = "
	               "\"disaster\"; }\n"
	               ");\n");
	up("", "", "");
	id = run("md", 0, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("set_mode"), 1);
	c = call("set_mode", 0);
	ck_assert_str_eq(cstr(c, "mode"), "disaster");
	ck_assert_str_eq(cstr(c, "actor"), "alice");
	ck_assert_msg(strstr(cstr(c, "why"), "step mode") != NULL, "%s", cstr(c, "why"));
	ck_field(id, "mode", "result", "operating mode is now disaster");
	ck_assert(!bfield(id, "mode", "would_run"));
	/* A drill: recorded, not made. */
	id = run("md", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("set_mode"), 1);
	ck_assert(bfield(id, "mode", "would_run"));
	ck_field(id, "mode", "result", "would run: set the operating mode to disaster");
	/* The mode cannot be entered: failed. */
	f.set_mode_rc = -1;
	id = run("md", 0, 0, "alice", NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field(id, "mode", "result", "mode disaster: no such mode here");
}
END_TEST

START_TEST(snmp_set)
{
	json_t *c;
	uint64_t id;

	playbook("sn", "parameters = ( { name = \"port\"; default = \"3\"; } );\n"
	               "steps = (\n"
	               "\t{ id = \"cut\"; type = \"snmp-set\"; title = \"t\"; device = "
	               "\"ups1\";\n"
	               "\t  oid = \"1.3.6.1.2.1.2.2.1.7.${port}\"; set_type = \"i\"; "
	               "value = \"2\"; }\n"
	               ");\n");
	up("", "", "");
	id = run("sn", 0, 0, "alice", "port=7", NULL);
	wait_state(id, "cut", "running", WAIT_MS);
	spin(50);
	ck_assert_uint_eq(ncalls("snmp_set"), 1);
	c = call("snmp_set", 0);
	ck_assert_str_eq(cstr(c, "device"), "ups1");
	ck_assert_str_eq(cstr(c, "oid"), "1.3.6.1.2.1.2.2.1.7.7");
	ck_assert_str_eq(cstr(c, "type"), "i");
	ck_assert_str_eq(cstr(c, "value"), "2");
	ck_field(id, "cut", "state", "running"); /* until the probe answers */
	writes_answer(1, NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field_has(id, "cut", "result", "snmpset ups1 1.3.6.1.2.1.2.2.1.7.7 i 2");
	ck_field_has(id, "cut", "result", "written, read back");
	/* Read back wrong: failed. */
	id = run("sn", 0, 0, "alice", NULL);
	wait_state(id, "cut", "running", WAIT_MS);
	spin(50);
	writes_answer(0, "read back 1");
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field_has(id, "cut", "result", "read back 1");
	/* Refused by the probe: failed at once. */
	f.write_rc = -1;
	id = run("sn", 0, 0, "alice", NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field_has(id, "cut", "result", "cannot be written");
	ck_assert_uint_eq(ncalls("snmp_set"), 3);
	/* A drill: recorded, nothing written. */
	f.write_rc = 0;
	id = run("sn", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("snmp_set"), 3);
	ck_assert(bfield(id, "cut", "would_run"));
	ck_field(
	    id, "cut", "result", "would run: snmpset ups1 1.3.6.1.2.1.2.2.1.7.3 i 2");
}
END_TEST

START_TEST(modbus_write)
{
	json_t *c;
	uint64_t id;

	playbook("mb",
	    "steps = (\n"
	    "\t{ id = \"lamp\"; type = \"modbus-write\"; title = \"t\"; device = "
	    "\"env1\";\n"
	    "\t  point = \"lamp\"; value = 1.5; }\n"
	    ");\n");
	up("", "", "");
	id = run("mb", 0, 0, "alice", NULL);
	wait_state(id, "lamp", "running", WAIT_MS);
	spin(50);
	ck_assert_uint_eq(ncalls("modbus_write"), 1);
	c = call("modbus_write", 0);
	ck_assert_str_eq(cstr(c, "device"), "env1");
	ck_assert_str_eq(cstr(c, "point"), "lamp");
	ck_assert(json_real_value(json_object_get(c, "value")) == 1.5);
	writes_answer(1, NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field_has(id, "lamp", "result", "env1.lamp = 1.5");
	id = run("mb", 0, 0, "alice", NULL);
	wait_state(id, "lamp", "running", WAIT_MS);
	spin(50);
	writes_answer(0, NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field_has(id, "lamp", "result", "failed");
	f.write_rc = -1;
	id = run("mb", 0, 0, "alice", NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field_has(id, "lamp", "result", "cannot be written");
	f.write_rc = 0;
	id = run("mb", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_uint_eq(ncalls("modbus_write"), 3);
	ck_assert(bfield(id, "lamp", "would_run"));
	ck_field(id, "lamp", "result", "would run: write env1.lamp = 1.5");
}
END_TEST

/*
 * shutdown-tier
 */

/* The tier's script: commands log and take the host down; checks see it. */
static void
tier_scripts(void)
{
	script("cmd.sh", "echo \"cmd $1\" >> @D/order\nsleep 0.2\ntouch @D/$1.down");
	script("check.sh", "test -e @D/$1.down || exit 1\necho \"down $1\" >> @D/order");
}

/* Every host down: done, with each host's time; tiers run in order. */
START_TEST(shutdown_tiers_in_order)
{
	char *order, *p, *t1a, *t1b, *t2;
	uint64_t id;

	tier_scripts();
	playbook("sd", "steps = (\n"
	               "\t{ id = \"t1\"; type = \"shutdown-tier\"; title = \"t\"; tier = "
	               "\"tier1\"; deadline = \"5s\";\n"
	               "\t  hosts = ( { name = \"a\"; command = [\"@D/cmd.sh\", \"a\"]; "
	               "check = [\"@D/check.sh\", \"a\"]; },\n"
	               "\t            { name = \"b\"; command = [\"@D/cmd.sh\", \"b\"]; "
	               "check = [\"@D/check.sh\", \"b\"]; } ); },\n"
	               "\t{ id = \"t2\"; type = \"shutdown-tier\"; title = \"t\"; tier = "
	               "\"tier2\"; deadline = \"5s\";\n"
	               "\t  hosts = ( { name = \"c\"; command = [\"@D/cmd.sh\", \"c\"]; "
	               "check = [\"@D/check.sh\", \"c\"]; } ); }\n"
	               ");\n");
	up("", "", "");
	id = run("sd", 0, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field_has(id, "t1", "result", "2 of 2 hosts down in");
	ck_field_has(id, "t1", "result", " a (");
	ck_field_has(id, "t1", "result", " b (");
	ck_field_has(id, "t2", "result", "1 of 1 host down in");
	order = slurp("order");
	ck_assert_ptr_nonnull(order);
	t1a = strstr(order, "down a");
	t1b = strstr(order, "down b");
	t2 = strstr(order, "cmd c");
	ck_assert_msg(t1a && t1b && t2 && t2 > t1a && t2 > t1b,
	    "tier 2 started before tier 1 was down:\n%s", order);
	ck_assert_ptr_nonnull(p = strstr(order, "down c"));
	ck_assert(p > t2);
	free(order);
	ck_assert(logged(id, "host", "a: confirmed down after"));
	ck_assert(logged(id, "host", "c: confirmed down after"));
	/* A drill: what would run, nothing run. */
	id = run("sd", 0, 1, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert(bfield(id, "t1", "would_run"));
	ck_field_has(id, "t1", "result", "would run: a: ");
	ck_field_has(id, "t1", "result", "cmd.sh a; b: ");
	ck_assert_int_eq(lines_of("order"), 6);
}
END_TEST

/* A host never confirmed down: failed at the deadline, naming it. */
START_TEST(shutdown_tier_deadline)
{
	uint64_t id;

	tier_scripts();
	playbook("sd",
	    "steps = (\n"
	    "\t{ id = \"t1\"; type = \"shutdown-tier\"; title = \"t\"; tier = "
	    "\"tier1\"; deadline = \"1s\";\n"
	    "\t  hosts = ( { name = \"a\"; command = [\"@D/cmd.sh\", \"a\"]; "
	    "check = [\"@D/check.sh\", \"a\"]; },\n"
	    "\t            { name = \"stuck\"; command = [\"/bin/true\"]; "
	    "check = [\"@D/check.sh\", \"stuck\"]; } ); },\n"
	    "\t{ id = \"t2\"; type = \"notify\"; title = \"t\"; text = \"x\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("sd", 0, 0, "alice", NULL);
	wait_state(id, NULL, "failed", WAIT_MS);
	ck_field_has(id, "t1", "result",
	    "deadline 1s passed: 1 of 2 down; not confirmed down: stuck");
	ck_assert_msg(strstr(field(id, "t1", "result"), " a") == NULL, "%s",
	    field(id, "t1", "result"));
	ck_assert_int_ge(ifield(id, "t1", "duration_ms"), 1000 - EARLY_MS);
	ck_assert_int_lt(ifield(id, "t1", "duration_ms"), 2500);
	ck_field(id, "t2", "state", "pending");
	ck_assert_uint_eq(ncalls("notify"), 0);
}
END_TEST

/*
 * run-playbook
 */

START_TEST(run_playbook_child)
{
	char err[512];
	uint64_t p, c;

	playbook("parent", "steps = (\n"
	                   "\t{ id = \"hand\"; type = \"run-playbook\"; title = \"t\"; "
	                   "playbook = \"child\"; },\n"
	                   "\t{ id = \"after\"; type = \"notify\"; title = \"t\"; text = "
	                   "\"x\"; }\n"
	                   ");\n");
	playbook("child", "steps = ( { id = \"ask\"; type = \"confirm\"; title = \"t\"; "
	                  "question = \"q\"; } );\n");
	up("", "", "");
	p = run("parent", 12, 0, "alice", NULL);
	wait_state(p, "hand", "waiting", WAIT_MS);
	c = p + 1;
	wait_state(c, "ask", "waiting", WAIT_MS);
	ck_field(c, NULL, "playbook", "child");
	ck_assert_int_eq(ifield(c, NULL, "incident"), 12);
	ck_assert_int_eq(ifield(c, NULL, "parent"), (json_int_t)p);
	ck_assert(!bfield(c, NULL, "drill"));
	confirm_ok(c, "ask", PB_YES, "bob");
	wait_state(p, NULL, "done", WAIT_MS);
	ck_field(c, NULL, "state", "done");
	ck_field(p, "hand", "state", "done");
	ck_field_has(p, "hand", "result", "of child done");
	ck_field(p, "after", "state", "done");
	/* The child fails: so does the step, and (abort) the parent. */
	p = run("parent", 13, 0, "alice", NULL);
	wait_state(p, "hand", "waiting", WAIT_MS);
	c = p + 1;
	wait_state(c, "ask", "waiting", WAIT_MS);
	ck_assert_int_eq(ifield(c, NULL, "incident"), 13);
	confirm_ok(c, "ask", PB_NO, "bob");
	wait_state(p, NULL, "failed", WAIT_MS);
	ck_field(c, NULL, "state", "failed");
	ck_field(p, "hand", "state", "failed");
	ck_field_has(p, "hand", "result", "of child failed");
	ck_field(p, "after", "state", "pending");
	/* A drill's child is a drill; an abort of the parent aborts the child. */
	p = run("parent", 0, 1, "alice", NULL);
	wait_state(p, "hand", "waiting", WAIT_MS);
	c = p + 1;
	wait_state(c, "ask", "waiting", WAIT_MS);
	ck_assert(bfield(c, NULL, "drill"));
	ck_assert_int_eq(pb_engine_abort(e, p, "carol", "enough", err, sizeof(err)), 0);
	ck_field(p, NULL, "state", "aborted");
	ck_field(c, NULL, "state", "aborted");
}
END_TEST

/* approver_differs holds through a hand-over: the child's requester is the parent's. */
START_TEST(run_playbook_approver_differs)
{
	uint64_t p, c;

	playbook("parent", "steps = ( { id = \"hand\"; type = \"run-playbook\"; title = "
	                   "\"t\"; playbook = \"child\"; } );\n");
	playbook("child", "steps = ( { id = \"approve\"; type = \"confirm\"; title = "
	                  "\"t\"; question = \"Isolate?\"; approver_differs = true; } "
	                  ");\n");
	up("", "", "");
	p = run("parent", 0, 0, "alice", NULL);
	c = p + 1;
	wait_state(p, "hand", "waiting", WAIT_MS);
	wait_state(c, "approve", "waiting", WAIT_MS);
	ck_field(c, NULL, "requested_by", "alice");
	ck_field_has(c, NULL, "reason", "handed over by run 1 (parent), step hand");
	confirm_refused(c, "approve", PB_YES, "alice", 1, "approver_differs");
	confirm_ok(c, "approve", PB_YES, "bob");
	wait_state(p, NULL, "done", WAIT_MS);
}
END_TEST

/* A hand-over that times out stops the run it started: it runs on for nobody. */
START_TEST(run_playbook_timeout)
{
	json_t *o;
	uint64_t p, c;

	playbook("parent", "steps = (\n"
	                   "\t{ id = \"hand\"; type = \"run-playbook\"; title = \"t\"; "
	                   "playbook = \"child\";\n"
	                   "\t  timeout = \"300ms\"; on_failure = \"continue\"; },\n"
	                   "\t{ id = \"after\"; type = \"notify\"; title = \"t\"; text = "
	                   "\"x\"; }\n"
	                   ");\n");
	playbook("child", "steps = ( { id = \"ask\"; type = \"confirm\"; title = \"t\"; "
	                  "question = \"q\"; } );\n");
	up("", "", "");
	p = run("parent", 12, 0, "alice", NULL);
	c = p + 1;
	wait_state(p, NULL, "done", WAIT_MS);
	ck_field(p, "hand", "state", "failed");
	ck_field(p, "hand", "result", "timed out after 300ms");
	ck_field(p, "after", "state", "done");
	ck_field(c, NULL, "state", "aborted");
	ck_field(c, "ask", "state", "failed");
	ck_assert(logged(c, "end", "timed out"));
	o = pb_engine_status_json(e);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "running")), 0);
	json_decref(o);
}
END_TEST

/* A record on disk says the run ended (as if it did while sonaed was down). */
static void
disk_end(uint64_t run, const char *state)
{
	json_t *o = disk(run), *s;
	char name[64], *path;
	size_t i;

	ck_assert_ptr_nonnull(o);
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "ended_ms", json_integer(time_now_ms()));
	json_array_foreach(json_object_get(o, "steps"), i,
	    s) if (strcmp(cstr(s, "state"), "waiting") == 0)
	    json_object_set_new(s, "state", json_string(state));
	snprintf(name, sizeof(name), "runs/%012llu.json", (unsigned long long)run);
	path = testutil_path(statedir, name);
	ck_assert_int_eq(json_dump_file(o, path, JSON_COMPACT), 0);
	free(path);
	json_decref(o);
}

static size_t nruns(void);

/* A hand-over waiting when sonaed died finds its child again: one child. */
START_TEST(crash_run_playbook_resumes)
{
	uint64_t p, c;

	playbook("parent", "steps = (\n"
	                   "\t{ id = \"hand\"; type = \"run-playbook\"; title = \"t\"; "
	                   "playbook = \"child\"; },\n"
	                   "\t{ id = \"after\"; type = \"notify\"; title = \"t\"; text = "
	                   "\"x\"; }\n"
	                   ");\n");
	playbook("child", "steps = ( { id = \"ask\"; type = \"confirm\"; title = \"t\"; "
	                  "question = \"q\"; } );\n");
	up("", "", "");
	p = run("parent", 12, 0, "alice", NULL);
	c = p + 1;
	wait_state(p, "hand", "waiting", WAIT_MS);
	wait_state(c, "ask", "waiting", WAIT_MS);
	restart();
	spin(100);
	ck_assert_uint_eq(nruns(), 2); /* no second child */
	ck_field(p, "hand", "state", "waiting");
	ck_field(c, "ask", "state", "waiting");
	confirm_ok(c, "ask", PB_YES, "bob");
	wait_state(p, NULL, "done", WAIT_MS);
	ck_field_has(p, "hand", "result", "of child done");
	/* The child ended while sonaed was down: the step ends with it. */
	p = run("parent", 13, 0, "alice", NULL);
	c = p + 1;
	wait_state(p, "hand", "waiting", WAIT_MS);
	wait_state(c, "ask", "waiting", WAIT_MS);
	engine_stop();
	disk_end(c, "failed");
	engine_start();
	wait_state(p, NULL, "failed", WAIT_MS);
	ck_field_has(p, "hand", "result", "of child failed");
	ck_field(p, "after", "state", "pending");
	ck_assert_uint_eq(nruns(), 4);
}
END_TEST

/*
 * The engine: when, retries, on_failure, abort, timeouts.
 */

START_TEST(when_skips)
{
	json_t *j;
	uint64_t id;

	playbook("wh",
	    "steps = (\n"
	    "\t{ id = \"a\"; type = \"notify\"; title = \"t\"; text = \"a\"; when "
	    "= \"ups1.on_battery\"; },\n"
	    "\t{ id = \"b\"; type = \"notify\"; title = \"t\"; text = \"b\"; when "
	    "= \"ups1.load > 80\"; },\n"
	    "\t{ id = \"c\"; type = \"notify\"; title = \"t\"; text = \"c\"; when "
	    "= \"env1.temp > 30\"; }\n"
	    ");\n");
	eval_script("ups1.on_battery", NULL, 0, -2);
	eval_script("ups1.load > 80", "ups1 does not answer", -1, -2);
	eval_script("env1.temp > 30", NULL, 1, -2);
	up("", "", "");
	id = run("wh", 0, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "a", "state", "skipped");
	ck_field(id, "a", "result", "when was false: ups1.on_battery");
	ck_field(id, "b", "state", "skipped");
	ck_field(id, "b", "result", "when could not be decided: ups1 does not answer");
	ck_field(id, "c", "state", "done");
	ck_assert_uint_eq(ncalls("notify"), 1);
	ck_assert_str_eq(cstr(call("notify", 0), "text"), "c");
	j = json_object_get(journal_at("playbook.step", 0), "data");
	ck_assert_str_eq(cstr(j, "step"), "a");
	ck_assert_str_eq(cstr(j, "state"), "skipped");
	ck_assert(logged(id, "step-skipped", "b: when could not be decided"));
}
END_TEST

/* A step that fails twice, then passes, with retries = 2; one that runs out. */
START_TEST(retries)
{
	int64_t t0;
	uint64_t id;
	char *s;

	script("count.sh", "n=$(cat @D/cnt.$SONAE_STEP 2>/dev/null || echo 0)\n"
	                   "n=$((n+1))\necho $n > @D/cnt.$SONAE_STEP\n[ $n -gt $1 ]");
	playbook("rt", "steps = (\n"
	               "\t{ id = \"flaky\"; type = \"exec\"; title = \"t\"; command = "
	               "[\"@D/count.sh\", \"2\"]; retries = 2; },\n"
	               "\t{ id = \"worse\"; type = \"exec\"; title = \"t\"; command = "
	               "[\"@D/count.sh\", \"5\"]; retries = 1;\n"
	               "\t  on_failure = \"continue\"; }\n"
	               ");\n");
	up("", "", "");
	t0 = time_mono_ms();
	id = run("rt", 0, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_int_ge(time_mono_ms() - t0, 3 * RETRY_MS); /* the pauses */
	ck_field(id, "flaky", "state", "done");
	ck_assert_int_eq(ifield(id, "flaky", "attempts"), 3);
	ck_field(id, "worse", "state", "failed");
	ck_assert_int_eq(ifield(id, "worse", "attempts"), 2);
	s = slurp("cnt.flaky");
	ck_assert_str_eq(s, "3\n");
	free(s);
	s = slurp("cnt.worse");
	ck_assert_str_eq(s, "2\n");
	free(s);
	ck_assert(logged(id, "step-retry", "flaky: attempt 2 of 3"));
	ck_assert(logged(id, "step-retry", "flaky: attempt 3 of 3"));
	ck_assert(!logged(id, "step-retry", "flaky: attempt 4"));
	ck_assert(!logged(id, "step-retry", "worse: attempt 3"));
}
END_TEST

/* on_failure: continue, abort, goto forward (passed over: skipped), goto back. */
START_TEST(on_failure_paths)
{
	uint64_t c, a, g, b;

	script("count.sh", "n=$(cat @D/cnt.$SONAE_STEP 2>/dev/null || echo 0)\n"
	                   "n=$((n+1))\necho $n > @D/cnt.$SONAE_STEP\n[ $n -gt $1 ]");
	playbook("oc",
	    "steps = (\n"
	    "\t{ id = \"s1\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"/bin/false\"]; on_failure = \"continue\"; },\n"
	    "\t{ id = \"s2\"; type = \"notify\"; title = \"t\"; text = \"oc\"; }\n"
	    ");\n");
	playbook("oa",
	    "steps = (\n"
	    "\t{ id = \"s1\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"/bin/false\"]; },\n"
	    "\t{ id = \"s2\"; type = \"notify\"; title = \"t\"; text = \"oa\"; }\n"
	    ");\n");
	playbook("og",
	    "steps = (\n"
	    "\t{ id = \"s1\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"/bin/false\"]; on_failure = \"goto:s4\"; },\n"
	    "\t{ id = \"s2\"; type = \"notify\"; title = \"t\"; text = \"og2\"; },\n"
	    "\t{ id = \"s3\"; type = \"notify\"; title = \"t\"; text = \"og3\"; },\n"
	    "\t{ id = \"s4\"; type = \"notify\"; title = \"t\"; text = \"og4\"; }\n"
	    ");\n");
	playbook("ob",
	    "steps = (\n"
	    "\t{ id = \"b1\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"@D/count.sh\", \"0\"]; },\n"
	    "\t{ id = \"b2\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"@D/count.sh\", \"1\"]; on_failure = \"goto:b1\"; },\n"
	    "\t{ id = \"b3\"; type = \"notify\"; title = \"t\"; text = \"ob\"; }\n"
	    ");\n");
	up("", "", "");
	c = run("oc", 0, 0, "alice", NULL);
	a = run("oa", 0, 0, "alice", NULL);
	g = run("og", 0, 0, "alice", NULL);
	b = run("ob", 0, 0, "alice", NULL);
	wait_state(c, NULL, "done", WAIT_MS);
	ck_field(c, "s1", "state", "failed");
	ck_field(c, "s1", "result", "exit 1");
	ck_field(c, "s2", "state", "done");
	wait_state(a, NULL, "failed", WAIT_MS);
	ck_field(a, "s2", "state", "pending");
	ck_assert(logged(a, "end", "failed: step s1 failed: exit 1"));
	wait_state(g, NULL, "done", WAIT_MS);
	ck_field(g, "s2", "state", "skipped");
	ck_field(g, "s2", "result", "passed over: s1 failed, on to s4");
	ck_field(g, "s3", "state", "skipped");
	ck_field(g, "s4", "state", "done");
	ck_assert(logged(g, "goto", "s1 failed: on to s4"));
	wait_state(b, NULL, "done", WAIT_MS);
	{
		char *s = slurp("cnt.b1");
		ck_assert_str_eq(s, "2\n"); /* b1 ran again after b2 failed */
		free(s);
		s = slurp("cnt.b2");
		ck_assert_str_eq(s, "2\n");
		free(s);
	}
	ck_field(b, "b1", "state", "done");
	ck_field(b, "b2", "state", "done");
	ck_field(b, "b3", "state", "done");
	ck_assert(logged(b, "goto", "b2 failed: on to b1"));
	/* Notified: oc's s2, og's s4, ob's b3; never oa's s2 nor og's s2, s3. */
	ck_assert_uint_eq(ncalls("notify"), 3);
}
END_TEST

/* One run of each kind of step that takes its time, all under way at once. */
static void
every_kind_under_way(uint64_t ids[6])
{
	static const char *const names[] = { "k-wait", "k-tier", "k-snmp", "k-ask",
		"k-hand", "k-exec" };
	size_t i;

	script("sleep.sh", "exec sleep 30");
	tier_scripts();
	playbook("k-wait",
	    "steps = ( { id = \"s\"; type = \"wait\"; title = \"t\"; until "
	    "= \"ups1.on_battery\"; } );\n");
	playbook("k-tier", "steps = ( { id = \"s\"; type = \"shutdown-tier\"; title = "
	                   "\"t\"; tier = \"x\"; deadline = \"30s\";\n"
	                   "\t  hosts = ( { name = \"h\"; command = [\"@D/sleep.sh\"]; "
	                   "check = [\"@D/check.sh\", \"h\"]; } ); } );\n");
	playbook("k-snmp", "steps = ( { id = \"s\"; type = \"snmp-set\"; title = \"t\"; "
	                   "device = \"ups1\"; oid = \"1.2\"; set_type = \"i\"; value = "
	                   "\"1\"; } );\n");
	playbook("k-ask",
	    "steps = ( { id = \"s\"; type = \"confirm\"; title = \"t\"; "
	    "question = \"q\"; timeout = \"30s\"; default = \"no\"; } );\n");
	playbook("k-hand",
	    "steps = ( { id = \"s\"; type = \"run-playbook\"; title = \"t\"; "
	    "playbook = \"k-ask\"; } );\n");
	playbook("k-exec",
	    "steps = ( { id = \"s\"; type = \"exec\"; title = \"t\"; command "
	    "= [\"@D/sleep.sh\"]; } );\n");
	eval_script("ups1.on_battery", NULL, 0, -2);
	up("", "", "");
	for (i = 0; i < NELEM(names); i++)
		ids[i] = run(names[i], 0, 0, "alice", NULL);
	for (i = 0; i < NELEM(names); i++)
		wait_state(ids[i], "s",
		    strcmp(names[i], "k-ask") == 0 || strcmp(names[i], "k-hand") == 0
		        ? "waiting"
		        : "running",
		    WAIT_MS);
	spin(300);
	ck_assert_uint_eq(child_running(), 2);
}

/* Every kind of step under way, aborted: stopped, released, nothing more. */
START_TEST(abort_every_kind)
{
	uint64_t ids[6];
	char err[512];
	size_t i, calls;

	every_kind_under_way(ids);
	for (i = 0; i < NELEM(ids); i++) {
		ck_assert_int_eq(
		    pb_engine_abort(e, ids[i], "carol", "stop", err, sizeof(err)), 0);
		ck_field(ids[i], NULL, "state", "aborted");
		ck_field(ids[i], "s", "state", "failed");
	}
	ck_field(7, NULL, "state", "aborted"); /* k-hand's child, with it */
	calls = json_array_size(f.calls);
	writes_answer(1, NULL); /* late: changes nothing */
	ck_assert(testutil_loop_until(base, no_children, NULL, 4000));
	spin(1200);
	ck_assert_uint_eq(json_array_size(f.calls), calls); /* the wait looks no more */
	for (i = 0; i < NELEM(ids); i++)
		ck_field(ids[i], NULL, "state", "aborted");
	ck_assert_uint_eq(njournal("playbook.end"), 7);
}
END_TEST

/* Every kind of step under way when the engine is freed (sonaed stops). */
START_TEST(free_every_kind)
{
	uint64_t ids[6];

	every_kind_under_way(ids);
	engine_stop();
	ck_assert(testutil_loop_until(base, no_children, NULL, 4000));
	/* What the records say: the steps were under way. */
	json_t *rec = disk(ids[5]);
	ck_assert_str_eq(
	    cstr(json_array_get(json_object_get(rec, "steps"), 0), "state"), "running");
	ck_assert_str_eq(cstr(rec, "state"), "running");
	json_decref(rec);
	ck_assert_uint_eq(njournal("playbook.end"), 0);
}
END_TEST

/* A step's timeout for a write the probe never answers: failed; late answer harmless. */
START_TEST(write_timeout)
{
	uint64_t id;

	playbook("wt",
	    "steps = (\n"
	    "\t{ id = \"w\"; type = \"snmp-set\"; title = \"t\"; device = \"ups1\"; "
	    "oid = \"1.2\"; set_type = \"i\";\n"
	    "\t  value = \"1\"; timeout = \"300ms\"; on_failure = \"continue\"; },\n"
	    "\t{ id = \"next\"; type = \"notify\"; title = \"t\"; text = \"x\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("wt", 0, 0, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "w", "state", "failed");
	ck_field(id, "w", "result", "timed out after 300ms");
	ck_field(id, "next", "state", "done");
	writes_answer(1, NULL);
	spin(50);
	ck_field(id, "w", "state", "failed");
}
END_TEST

/* An abort in the pause between two attempts: the step does not run again. */
START_TEST(abort_in_retry_pause)
{
	char err[512], *n;
	uint64_t id;

	script("count.sh", "n=$(cat @D/cnt.$SONAE_STEP 2>/dev/null || echo 0)\n"
	                   "n=$((n+1))\necho $n > @D/cnt.$SONAE_STEP\n[ $n -gt $1 ]");
	playbook("rp",
	    "steps = ( { id = \"f\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"@D/count.sh\", \"5\"]; retries = 3; } );\n");
	up("", "", "");
	pb_engine_set_retry_delay(e, 500);
	id = run("rp", 0, 0, "alice", NULL);
	ck_assert(testutil_loop_until(base, exists, "cnt.f", WAIT_MS));
	wait_state(id, "f", "pending", WAIT_MS); /* failed once, pausing */
	ck_assert(logged(id, "step-retry", "f: attempt 2 of 4 in 500ms"));
	ck_assert_int_eq(pb_engine_abort(e, id, "carol", "stop", err, sizeof(err)), 0);
	spin(900);
	ck_field(id, NULL, "state", "aborted");
	n = slurp("cnt.f");
	ck_assert_str_eq(n, "1\n");
	free(n);
	ck_assert_int_eq(ifield(id, "f", "attempts"), 1);
}
END_TEST

/* An abort stops the program under way: its whole group, TERM then KILL. */
START_TEST(abort_kills_group)
{
	pid_t pids[2];
	json_t *j;
	uint64_t id;
	char err[512];

	script("term.sh", "echo $$ > @D/pid.sh\ntrap 'echo term >> @D/term.log' TERM\n"
	                  "sleep 30 &\necho $! > @D/pid.tmp\nmv @D/pid.tmp @D/pid.sleep\n"
	                  "wait\nsleep 30");
	playbook("ab", "steps = (\n"
	               "\t{ id = \"long\"; type = \"exec\"; title = \"t\"; command = "
	               "[\"@D/term.sh\"]; },\n"
	               "\t{ id = \"never\"; type = \"notify\"; title = \"t\"; text = "
	               "\"x\"; }\n"
	               ");\n");
	up("", "", "");
	id = run("ab", 12, 0, "alice", NULL);
	ck_assert(testutil_loop_until(base, exists, "pid.sleep", WAIT_MS));
	pids[0] = pid_in("pid.sh");
	pids[1] = pid_in("pid.sleep");
	ck_assert(!pid_gone(pids[0]) && !pid_gone(pids[1]));
	ck_assert_int_eq(pb_engine_abort(e, id, "carol", "enough", err, sizeof(err)), 0);
	ck_field(id, NULL, "state", "aborted");
	ck_field(id, "long", "state", "failed");
	ck_field(id, "long", "result", "stopped: the run was aborted by carol");
	ck_assert_msg(testutil_loop_until(base, pids_gone, pids, 4000),
	    "the program (%ld) or its child (%ld) outlived the abort", (long)pids[0],
	    (long)pids[1]);
	spin(100);
	ck_field(id, "never", "state", "pending");
	ck_assert_uint_eq(ncalls("notify"), 0);
	ck_assert_int_eq(pb_engine_abort(e, id, "carol", "again", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "already aborted") != NULL, "%s", err);
	ck_assert_int_eq(pb_engine_abort(e, 99, "carol", "x", err, sizeof(err)), -1);
	j = journal_at("playbook.abort", 0);
	ck_assert_str_eq(cstr(j, "actor"), "carol");
	ck_assert_str_eq(cstr(json_object_get(j, "data"), "text"), "enough");
	j = journal_at("playbook.end", 0);
	ck_assert_str_eq(cstr(j, "actor"), "carol");
	ck_assert_str_eq(cstr(json_object_get(j, "data"), "state"), "aborted");
	ck_assert_uint_eq(nnotes(12, "playbook-end"), 1);
}
END_TEST

/* A step's timeout stops a program that ignores SIGTERM: SIGKILL to its group. */
START_TEST(exec_timeout_kills_group)
{
	pid_t pids[2];
	uint64_t id;

	script("ign.sh", "trap '' TERM\necho $$ > @D/pid.sh\nsleep 30 &\n"
	                 "echo $! > @D/pid.tmp\nmv @D/pid.tmp @D/pid.sleep\nwait");
	playbook("tm",
	    "steps = (\n"
	    "\t{ id = \"slow\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"@D/ign.sh\"];\n"
	    "\t  timeout = \"500ms\"; on_failure = \"continue\"; },\n"
	    "\t{ id = \"next\"; type = \"notify\"; title = \"t\"; text = \"x\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("tm", 0, 0, "alice", NULL);
	ck_assert(testutil_loop_until(base, exists, "pid.sleep", WAIT_MS));
	pids[0] = pid_in("pid.sh");
	pids[1] = pid_in("pid.sleep");
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "slow", "state", "failed");
	ck_field_has(id, "slow", "result", "timed out");
	/* SIGTERM was ignored: it took the SIGKILL, 2 s later. */
	ck_assert_int_ge(ifield(id, "slow", "duration_ms"), 2400);
	ck_assert_msg(testutil_loop_until(base, pids_gone, pids, 2000),
	    "the program (%ld) or its child (%ld) outlived the timeout", (long)pids[0],
	    (long)pids[1]);
	ck_field(id, "next", "state", "done");
}
END_TEST

/*
 * Triggers.
 */

static size_t
nruns(void)
{
	json_t *o = pb_engine_runs_json(e, 1);
	size_t n = json_array_size(json_object_get(o, "runs"));

	json_decref(o);
	return n;
}

START_TEST(incident_triggers)
{
	json_t *j;
	char err[512];
	uint64_t id;

	playbook("po", "triggers = [\"power-*\"];\n"
	               "steps = ( { id = \"hold\"; type = \"confirm\"; title = \"t\"; "
	               "question = \"q\"; } );\n");
	playbook("named", "steps = ( { id = \"hold\"; type = \"confirm\"; title = \"t\"; "
	                  "question = \"q\"; } );\n");
	playbook("fire", "triggers = [\"fire\", \"declared:fire\"];\n"
	                 "steps = ( { id = \"hold\"; type = \"confirm\"; title = \"t\"; "
	                 "question = \"q\"; } );\n");
	up("", "",
	    "rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; playbook = "
	    "\"named\"; } );\n");
	pb_engine_incident(e, 12, "power-outage", "named", "sonaed", NULL);
	spin(50);
	ck_assert_uint_eq(nruns(), 2);
	ck_field(1, NULL, "playbook", "named"); /* in the folder's order */
	ck_field(2, NULL, "playbook", "po");
	for (id = 1; id <= 2; id++) {
		ck_assert_int_eq(ifield(id, NULL, "incident"), 12);
		ck_field(id, NULL, "requested_by", "sonaed");
		ck_field(id, NULL, "reason", "incident 12 (power-outage)");
		wait_state(id, "hold", "waiting", WAIT_MS);
	}
	ck_assert_uint_eq(njournal("playbook.start"), 2);
	ck_assert_uint_eq(nnotes(12, "playbook-start"), 2);
	/* Again for the same incident: recorded, not started twice. */
	pb_engine_incident(e, 12, "power-outage", "named", "sonaed", NULL);
	spin(50);
	ck_assert_uint_eq(nruns(), 2);
	ck_assert_uint_eq(njournal("playbook.retrigger"), 2);
	j = json_object_get(journal_at("playbook.retrigger", 0), "data");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "incident")), 12);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "run")), 1);
	ck_assert(logged(1, "retrigger", "incident 12 (power-outage) asked again"));
	ck_assert_int_eq(
	    pb_engine_run(e, "named", 12, 0, NULL, "alice", "x", &id, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "already runs for incident 12 as run 1"), "%s", err);
	/* Held by a maintenance window: noted, not started. */
	pb_engine_incident(e, 13, "power-outage", "named", "sonaed", "weekly-patch");
	spin(50);
	ck_assert_uint_eq(nruns(), 2);
	ck_assert_uint_eq(nnotes(13, "playbook-held"), 2);
	ck_assert_uint_eq(njournal("playbook.start"), 2);
	/* No pattern matches: nothing. */
	pb_engine_incident(e, 15, "powerless", NULL, "sonaed", NULL);
	spin(50);
	ck_assert_uint_eq(nruns(), 2);
	/* A declared fire, by an operator. */
	pb_engine_incident(e, 15, "declared:fire", NULL, "tanaka", NULL);
	spin(50);
	ck_assert_uint_eq(nruns(), 3);
	ck_field(3, NULL, "playbook", "fire");
	ck_field(3, NULL, "requested_by", "tanaka");
	/* Another incident is another run. */
	pb_engine_incident(e, 13, "power-outage", "named", "sonaed", NULL);
	spin(50);
	ck_assert_uint_eq(nruns(), 5);
}
END_TEST

/*
 * Parameters and refusals.
 */

START_TEST(run_params_refusals)
{
	json_t *o, *p;
	uint64_t id;
	size_t i;

	playbook("pp",
	    "parameters = (\n"
	    "\t{ name = \"a\"; default = \"da\"; },\n"
	    "\t{ name = \"b\"; default = 7; },\n"
	    "\t{ name = \"c\"; }\n"
	    ");\n"
	    "steps = ( { id = \"say\"; type = \"notify\"; title = \"t\"; text = "
	    "\"${a} ${b} ${c}\"; } );\n");
	up("", "{ playbook = \"pp\"; name = \"a\"; value = \"sa\"; }", "");
	run_refused("nope", 0, "no playbook \"nope\"", NULL);
	run_refused("pp", 99, "no incident 99", "c=x", NULL);
	run_refused("pp", 0, "parameter c has no value", NULL);
	run_refused("pp", 0, "has no parameter \"zz\"", "c=x", "zz=1", NULL);
	run_refused("pp", 0, "give NAME=VALUE", "c", NULL);
	run_refused("pp", 0, "give NAME=VALUE", "=x", NULL);
	ck_assert_uint_eq(nruns(), 0);
	ck_assert_uint_eq(njournal("playbook.start"), 0);
	ck_assert(!exists("state/runs/000000000001.json"));
	/* The site beats the default; --set beats both. */
	id = run("pp", 0, 0, "alice", "c=vc", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_str_eq(cstr(call("notify", 0), "text"), "sa 7 vc");
	id = run("pp", 0, 0, "alice", "c=vc", "a=set", "b=8", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_str_eq(cstr(call("notify", 1), "text"), "set 8 vc");
	o = pb_engine_run_json(e, id);
	ck_assert_str_eq(cstr(json_object_get(o, "params"), "a"), "set");
	json_decref(o);
	/* What `sonae playbook` shows of them. */
	o = pb_engine_playbook_json(e, "pp");
	ck_assert_ptr_nonnull(o);
	json_array_foreach(json_object_get(o, "parameters"), i, p)
	{
		const char *n = cstr(p, "name");
		if (strcmp(n, "a") == 0) {
			ck_assert_str_eq(cstr(p, "value"), "sa");
			ck_assert_str_eq(cstr(p, "source"), "site");
		} else if (strcmp(n, "b") == 0) {
			ck_assert_str_eq(cstr(p, "value"), "7");
			ck_assert_str_eq(cstr(p, "source"), "default");
		} else {
			ck_assert(json_is_null(json_object_get(p, "value")));
			ck_assert(json_is_null(json_object_get(p, "source")));
		}
	}
	json_decref(o);
	ck_assert_ptr_null(pb_engine_playbook_json(e, "nope"));
	ck_assert_ptr_null(pb_engine_run_json(e, 99));
}
END_TEST

/*
 * The checkpoint, a crash, and what an operator says.
 */

/* Before and after each step, runs/NNN.json says where the run is. */
START_TEST(checkpoint_each_step)
{
	json_t *snap, *rec, *s;
	uint64_t id;

	script("snap.sh", "cp @D/state/runs/000000000001.json @D/snap.json");
	playbook("ck",
	    "steps = (\n"
	    "\t{ id = \"one\"; type = \"exec\"; title = \"t\"; command = "
	    "[\"@D/snap.sh\"]; },\n"
	    "\t{ id = \"two\"; type = \"notify\"; title = \"t\"; text = \"x\"; },\n"
	    "\t{ id = \"three\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("ck", 0, 0, "alice", NULL);
	ck_assert_uint_eq(id, 1);
	/* Written at the start, every step pending. */
	rec = disk(id);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(cstr(rec, "state"), "running");
	ck_assert_str_eq(
	    cstr(json_array_get(json_object_get(rec, "steps"), 0), "state"), "pending");
	json_decref(rec);
	wait_state(id, "three", "waiting", WAIT_MS);
	/* While `one` ran, the record said so (written before it acted). */
	{
		char *path = testutil_path(dir, "snap.json");
		snap = json_load_file(path, 0, NULL);
		free(path);
	}
	ck_assert_ptr_nonnull(snap);
	s = json_array_get(json_object_get(snap, "steps"), 0);
	ck_assert_str_eq(cstr(s, "state"), "running");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "attempts")), 1);
	ck_assert_int_gt(json_integer_value(json_object_get(s, "started_ms")), 0);
	json_decref(snap);
	/* While `two` notified: `one` done, `two` running. */
	s = json_object_get(call("notify", 0), "disk");
	ck_assert_str_eq(json_string_value(json_array_get(s, 0)), "done");
	ck_assert_str_eq(json_string_value(json_array_get(s, 1)), "running");
	/* Now: `three` waits. */
	rec = disk(id);
	s = disk_states(rec);
	ck_assert_str_eq(json_string_value(json_array_get(s, 0)), "done");
	ck_assert_str_eq(json_string_value(json_array_get(s, 1)), "done");
	ck_assert_str_eq(json_string_value(json_array_get(s, 2)), "waiting");
	ck_assert_int_eq(json_integer_value(json_object_get(rec, "current")), 2);
	json_decref(s);
	json_decref(rec);
	confirm_ok(id, "three", PB_YES, "bob");
	wait_state(id, NULL, "done", WAIT_MS);
	rec = disk(id);
	ck_assert_str_eq(cstr(rec, "state"), "done");
	ck_assert_int_gt(json_integer_value(json_object_get(rec, "ended_ms")), 0);
	s = json_array_get(json_object_get(rec, "steps"), 2);
	ck_assert_str_eq(cstr(s, "state"), "done");
	ck_assert_str_eq(cstr(s, "actor"), "bob");
	json_decref(rec);
}
END_TEST

/* An idempotent step under way when sonaed died starts over. */
START_TEST(crash_idempotent_starts_over)
{
	uint64_t id;

	playbook("ci",
	    "steps = (\n"
	    "\t{ id = \"write\"; type = \"snmp-set\"; title = \"t\"; device = "
	    "\"ups1\";\n"
	    "\t  oid = \"1.2.3\"; set_type = \"i\"; value = \"1\"; idempotent = "
	    "true; },\n"
	    "\t{ id = \"ask\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("ci", 0, 0, "alice", NULL);
	wait_state(id, "write", "running", WAIT_MS);
	spin(50);
	ck_assert_uint_eq(ncalls("snmp_set"), 1);
	restart();
	spin(100);
	ck_assert_uint_eq(ncalls("snmp_set"), 2); /* written again */
	ck_field(id, "write", "state", "running");
	ck_assert_int_eq(ifield(id, "write", "attempts"), 2);
	ck_assert(logged(id, "step-restart", "write"));
	ck_assert(logged(id, "resume", NULL));
	ck_assert_uint_eq(njournal("playbook.resume"), 1);
	writes_answer(1, NULL);
	wait_state(id, "ask", "waiting", WAIT_MS);
	ck_field(id, "write", "state", "done");
}
END_TEST

/* A non-idempotent step under way when sonaed died: unknown; the run waits. */
static uint64_t
crash_to_unknown(void)
{
	json_t *o, *w;
	char err[512];
	uint64_t id;

	script("once.sh", "echo x >> @D/once.count\n"
	                  "[ $(wc -l < @D/once.count) -ge 2 ] && exit 0\nexec sleep 30");
	playbook("cu", "steps = (\n"
	               "\t{ id = \"cut\"; type = \"exec\"; title = \"Cut\"; command = "
	               "[\"@D/once.sh\"];\n"
	               "\t  on_failure = \"goto:recover\"; },\n"
	               "\t{ id = \"next\"; type = \"notify\"; title = \"t\"; text = "
	               "\"next\"; },\n"
	               "\t{ id = \"recover\"; type = \"notify\"; title = \"t\"; text = "
	               "\"recover\"; }\n"
	               ");\n");
	up("", "", "");
	id = run("cu", 12, 0, "alice", NULL);
	ck_assert(testutil_loop_until(base, exists, "once.count", WAIT_MS));
	ck_field(id, "cut", "state", "running");
	restart();
	spin(300);
	ck_assert_int_eq(lines_of("once.count"), 1); /* not run again */
	ck_field(id, NULL, "state", "running");
	ck_field(id, "cut", "state", "unknown");
	ck_field(id, "next", "state", "pending");
	ck_assert(logged(id, "step-unknown", "cut"));
	ck_assert_uint_eq(nnotes(12, "playbook-unknown"), 1);
	o = pb_engine_run_json(e, id);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "waiting")), 1);
	w = json_array_get(json_object_get(o, "waiting"), 0);
	ck_assert_str_eq(cstr(w, "id"), "cut");
	ck_assert_str_eq(cstr(w, "title"), "Cut");
	ck_assert(json_is_true(json_object_get(w, "unknown")));
	ck_assert(json_is_null(json_object_get(w, "deadline")));
	ck_assert(json_is_null(json_object_get(w, "default")));
	ck_assert_str_eq(cstr(json_object_get(o, "step"), "id"), "cut");
	ck_assert_str_eq(cstr(json_object_get(o, "step"), "state"), "unknown");
	json_decref(o);
	o = pb_engine_status_json(e);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "waiting")), 1);
	json_decref(o);
	/* Only an operator says what happened. */
	ck_assert_int_eq(confirm(id, "cut", PB_YES, "guest", 0, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "only operators") != NULL, "%s", err);
	ck_assert_uint_eq(njournal("playbook.confirm-refused"), 1);
	ck_assert_str_eq(
	    cstr(journal_at("playbook.confirm-refused", 0), "actor"), "guest");
	ck_assert(logged(id, "confirm-refused", "only operators"));
	spin(50);
	ck_field(id, "cut", "state", "unknown");
	return id;
}

START_TEST(crash_unknown_yes)
{
	uint64_t id = crash_to_unknown();

	confirm_ok(id, "cut", PB_YES, "bob");
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "cut", "state", "done");
	ck_field(id, "cut", "actor", "bob");
	ck_field(id, "cut", "result", "it happened (said after a restart)");
	ck_field(id, "next", "state", "done");
	ck_field(id, "recover", "state", "done");
	ck_assert_int_eq(lines_of("once.count"), 1);
	ck_assert_str_eq(
	    cstr(json_object_get(journal_at("playbook.confirm", 0), "data"), "answer"),
	    "yes");
}
END_TEST

START_TEST(crash_unknown_no)
{
	uint64_t id = crash_to_unknown();

	confirm_ok(id, "cut", PB_NO, "bob");
	wait_state(id, NULL, "done", WAIT_MS);
	ck_field(id, "cut", "state", "failed");
	ck_field(id, "cut", "result", "it did not happen (said after a restart)");
	ck_field(id, "next", "state", "skipped"); /* on_failure: goto:recover */
	ck_field(id, "recover", "state", "done");
	ck_assert_int_eq(lines_of("once.count"), 1);
}
END_TEST

START_TEST(crash_unknown_retry)
{
	uint64_t id = crash_to_unknown();

	confirm_ok(id, "cut", PB_RETRY, "bob");
	wait_state(id, NULL, "done", WAIT_MS);
	ck_assert_int_eq(lines_of("once.count"), 2); /* ran again */
	ck_field(id, "cut", "state", "done");
	ck_field(id, "cut", "result", "exit 0");
	ck_assert_int_eq(ifield(id, "cut", "attempts"), 2);
	ck_field(id, "next", "state", "done");
}
END_TEST

/* A waiting confirm stays waiting over a restart, its deadline from its start. */
START_TEST(confirm_waits_across_restart)
{
	json_int_t started, started2;
	char deadline[128];
	json_t *o;
	uint64_t a, b;

	playbook("cw",
	    "steps = (\n"
	    "\t{ id = \"ask\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\";\n"
	    "\t  timeout = \"2s\"; default = \"no\"; on_failure = \"continue\"; "
	    "},\n"
	    "\t{ id = \"after\"; type = \"notify\"; title = \"t\"; text = \"x\"; }\n"
	    ");\n");
	up("", "", "");
	a = run("cw", 0, 0, "alice", NULL);
	b = run("cw", 0, 0, "alice", NULL);
	wait_state(a, "ask", "waiting", WAIT_MS);
	wait_state(b, "ask", "waiting", WAIT_MS);
	started = ifield(a, "ask", "started_ms");
	started2 = ifield(b, "ask", "started_ms");
	o = pb_engine_run_json(e, a);
	snprintf(deadline, sizeof(deadline), "%s",
	    cstr(json_array_get(json_object_get(o, "waiting"), 0), "deadline"));
	json_decref(o);
	spin(1000);
	restart();
	spin(50);
	ck_field(a, "ask", "state", "waiting");
	ck_assert_int_eq(ifield(a, "ask", "attempts"), 1);
	ck_assert_int_eq(ifield(a, "ask", "started_ms"), started);
	o = pb_engine_run_json(e, a);
	ck_assert_str_eq(
	    cstr(json_array_get(json_object_get(o, "waiting"), 0), "deadline"), deadline);
	ck_assert_str_eq(
	    cstr(json_array_get(json_object_get(o, "waiting"), 0), "default"), "no");
	json_decref(o);
	/* Someone answers b after the restart. */
	confirm_ok(b, "ask", PB_YES, "bob");
	wait_state(b, NULL, "done", WAIT_MS);
	ck_field(b, "ask", "state", "done");
	ck_assert_int_eq(ifield(b, "ask", "started_ms"), started2);
	/* Nobody answers a: the default at 2 s from its first start, not the restart's.
	 */
	wait_state(a, "ask", "failed", WAIT_MS);
	ck_field_has(a, "ask", "result", "the default, no, was taken");
	ck_assert_int_ge(ifield(a, "ask", "ended_ms") - started, 2000 - EARLY_MS);
	ck_assert_int_lt(ifield(a, "ask", "ended_ms") - started, 2700);
	wait_state(a, NULL, "done", WAIT_MS);
}
END_TEST

/* After a restart, a run whose playbook went or whose steps changed fails. */
START_TEST(restart_playbook_gone_or_changed)
{
	uint64_t a, b, c;

	playbook("gone", "steps = ( { id = \"ask\"; type = \"confirm\"; title = \"t\"; "
	                 "question = \"q\"; } );\n");
	playbook("chg", "steps = ( { id = \"ask\"; type = \"confirm\"; title = \"t\"; "
	                "question = \"q\"; } );\n");
	playbook("same", "steps = ( { id = \"ask\"; type = \"confirm\"; title = \"t\"; "
	                 "question = \"q\"; } );\n");
	up("", "", "");
	a = run("gone", 0, 0, "alice", NULL);
	b = run("chg", 0, 0, "alice", NULL);
	c = run("same", 0, 0, "alice", NULL);
	wait_state(a, "ask", "waiting", WAIT_MS);
	wait_state(b, "ask", "waiting", WAIT_MS);
	wait_state(c, "ask", "waiting", WAIT_MS);
	engine_stop();
	playbook_remove("gone");
	playbook("chg",
	    "steps = (\n"
	    "\t{ id = \"first\"; type = \"notify\"; title = \"t\"; text = \"x\"; "
	    "},\n"
	    "\t{ id = \"ask\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; }\n"
	    ");\n");
	engine_start();
	spin(50);
	ck_field(a, NULL, "state", "failed");
	ck_assert(logged(a, "end", "no longer loaded"));
	ck_field(b, NULL, "state", "failed");
	ck_assert(logged(b, "end", "steps changed"));
	ck_field(c, NULL, "state", "running");
	ck_field(c, "ask", "state", "waiting");
	ck_assert_uint_eq(njournal("playbook.end"), 2);
	ck_assert_uint_eq(ncalls("notify"), 0);
	confirm_ok(c, "ask", PB_YES, "bob");
	wait_state(c, NULL, "done", WAIT_MS);
}
END_TEST

/* A reload that drops a playbook lets its run under way finish with it. */
START_TEST(reload_keeps_running_version)
{
	struct conf *old;
	uint64_t id;
	char err[512];

	playbook("rl",
	    "steps = (\n"
	    "\t{ id = \"ask\"; type = \"confirm\"; title = \"t\"; question = "
	    "\"q\"; },\n"
	    "\t{ id = \"end\"; type = \"notify\"; title = \"t\"; text = \"old\"; }\n"
	    ");\n");
	up("", "", "");
	id = run("rl", 0, 0, "alice", NULL);
	wait_state(id, "ask", "waiting", WAIT_MS);
	playbook_remove("rl");
	old = conf;
	conf = site_load();
	pb_engine_configure(e, conf);
	conf_free(old);
	ck_assert_int_eq(
	    pb_engine_run(e, "rl", 0, 0, NULL, "alice", "x", &id, err, sizeof(err)), -1);
	confirm_ok(1, "ask", PB_YES, "bob");
	wait_state(1, NULL, "done", WAIT_MS);
	ck_assert_str_eq(cstr(call("notify", 0), "text"), "old");
}
END_TEST

/*
 * The JSON of the CLI (`runs`, `run-status`, `playbooks`, `playbook`).
 */

static int
has_keys(json_t *o, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (json_object_get(o, *keys) == NULL) {
			fprintf(stderr, "no key %s\n", *keys);
			return 0;
		}
	return 1;
}

static const char *const summary_keys[] = { "id", "playbook", "title_ja", "title_en",
	"incident", "drill", "state", "requested_by", "reason", "started", "ended",
	"step", "waiting", "progress", NULL };
static const char *const step_keys[] = { "id", "title", "type", "state", "destructive",
	"would_run", "attempts", "started", "ended", "duration_ms", "result", "actor",
	"output", "question", "who", "deadline", NULL };

START_TEST(json_shapes)
{
	static const char *const ids[] = { "tell", "cut", "ask", "skip" };
	json_t *o, *l, *s, *w, *p, *x;
	struct pb_run *old;
	char err[512];
	uint64_t r, d;
	size_t i;

	playbook("js",
	    "description = \"For the JSON\";\n"
	    "triggers = [\"power-outage\"];\n"
	    "parameters = ( { name = \"contact\"; default = \"ict@example.jp\"; "
	    "} );\n"
	    "steps = (\n"
	    "\t{ id = \"tell\"; type = \"notify\"; title = \"Tell\"; text = "
	    "\"x\"; },\n"
	    "\t{ id = \"cut\"; type = \"exec\"; title = \"Cut\"; command = "
	    "[\"@D/ok.sh\"]; },\n"
	    "\t{ id = \"ask\"; type = \"confirm\"; title = \"Ask\"; question = "
	    "\"Is ${contact} told?\";\n"
	    "\t  who = [\"tanaka\", \"operators\"]; timeout = \"10min\"; default "
	    "= \"yes\"; },\n"
	    "\t{ id = \"skip\"; type = \"notify\"; title = \"Skip\"; text = "
	    "\"x\"; when = \"ups1.on_battery\"; }\n"
	    ");\n");
	eval_script("ups1.on_battery", NULL, 0, -2);
	/* A run that ended two days ago, already on disk. */
	old = pb_run_new(
	    50, "js", ids, 4, 0, 0, "alice", "long ago", time_now_ms() - 3 * 86400000LL);
	old->state = PBR_DONE;
	old->ended_ms = time_now_ms() - 2 * 86400000LL;
	ck_assert_int_eq(pb_run_save(statedir, old, err, sizeof(err)), 0);
	pb_run_free(old);
	up("", "",
	    "rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; playbook = "
	    "\"js\"; } );\n");
	r = run("js", 12, 0, "alice", NULL);
	ck_assert_uint_eq(r, 51); /* after the ones on disk */
	wait_state(r, "ask", "waiting", WAIT_MS);
	d = run("js", 0, 1, "bob", NULL);
	wait_state(d, "ask", "waiting", WAIT_MS);
	ck_assert_int_eq(lines_of("ok.count"), 1); /* the drill ran nothing */

	/* runs: newest first; without --all, not what ended long ago. */
	o = pb_engine_runs_json(e, 0);
	l = json_object_get(o, "runs");
	ck_assert_uint_eq(json_array_size(l), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(l, 0), "id")),
	    (json_int_t)d);
	s = json_array_get(l, 1);
	ck_assert(has_keys(s, summary_keys));
	ck_assert_str_eq(cstr(s, "playbook"), "js");
	ck_assert_str_eq(cstr(s, "title_ja"), "試験 js");
	ck_assert_str_eq(cstr(s, "title_en"), "Test js");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "incident")), 12);
	ck_assert(json_is_false(json_object_get(s, "drill")));
	ck_assert_str_eq(cstr(s, "state"), "running");
	ck_assert_str_eq(cstr(s, "requested_by"), "alice");
	ck_assert_str_eq(cstr(s, "reason"), "a test");
	ck_assert(json_is_string(json_object_get(s, "started")));
	ck_assert(json_is_null(json_object_get(s, "ended")));
	x = json_object_get(s, "step");
	ck_assert_str_eq(cstr(x, "id"), "ask");
	ck_assert_str_eq(cstr(x, "title"), "Ask");
	ck_assert_str_eq(cstr(x, "type"), "confirm");
	ck_assert_str_eq(cstr(x, "state"), "waiting");
	ck_assert_uint_eq(json_array_size(json_object_get(s, "waiting")), 1);
	w = json_array_get(json_object_get(s, "waiting"), 0);
	ck_assert_str_eq(cstr(w, "id"), "ask");
	ck_assert_str_eq(cstr(w, "title"), "Ask");
	ck_assert_str_eq(cstr(w, "question"), "Is ict@example.jp told?");
	ck_assert_uint_eq(json_array_size(json_object_get(w, "who")), 2);
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(w, "who"), 0)), "tanaka");
	ck_assert(json_is_string(json_object_get(w, "since")));
	{
		/* The deadline: 10 min after the step began to wait. */
		char ts[64];
		time_format(ifield(r, "ask", "started_ms") + 600000, ts, sizeof(ts));
		ck_assert_str_eq(cstr(w, "deadline"), ts);
		time_format(ifield(r, "ask", "started_ms"), ts, sizeof(ts));
		ck_assert_str_eq(cstr(w, "since"), ts);
	}
	ck_assert_str_eq(cstr(w, "default"), "yes");
	ck_assert(json_is_false(json_object_get(w, "unknown")));
	p = json_object_get(s, "progress");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "total")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "done")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "failed")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "skipped")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "pending")), 1);
	json_decref(o);
	o = pb_engine_runs_json(e, 1);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "runs")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(o, "runs"), 2), "id")),
	    50);
	json_decref(o);

	/* run-status: the summary, every step, the log. */
	o = pb_engine_run_json(e, d);
	ck_assert(has_keys(o, summary_keys));
	ck_assert(json_is_true(json_object_get(o, "drill")));
	ck_assert(json_is_array(json_object_get(o, "log")));
	json_array_foreach(json_object_get(o, "log"), i, l)
	{
		static const char *const log_keys[] = { "time", "actor", "event", "text",
			NULL };
		ck_assert(has_keys(l, log_keys));
	}
	ck_assert_uint_eq(json_array_size(json_object_get(o, "steps")), 4);
	json_array_foreach(json_object_get(o, "steps"), i, s)
	    ck_assert(has_keys(s, step_keys));
	s = step_in(o, "cut");
	ck_assert_str_eq(cstr(s, "type"), "exec");
	ck_assert(json_is_true(json_object_get(s, "destructive")));
	ck_assert(json_is_true(json_object_get(s, "would_run")));
	ck_assert_int_eq(json_integer_value(json_object_get(s, "attempts")), 1);
	ck_assert_msg(strstr(cstr(s, "result"), "would run: ") == cstr(s, "result") &&
	                  strstr(cstr(s, "result"), "/ok.sh") != NULL,
	    "%s", cstr(s, "result"));
	s = step_in(o, "tell");
	ck_assert(json_is_false(json_object_get(s, "destructive")));
	ck_assert(json_is_false(json_object_get(s, "would_run")));
	ck_assert(json_is_integer(json_object_get(s, "duration_ms")));
	ck_assert(json_is_null(json_object_get(s, "question")));
	s = step_in(o, "ask");
	ck_assert_str_eq(cstr(s, "state"), "waiting");
	ck_assert_str_eq(cstr(s, "question"), "Is ict@example.jp told?");
	ck_assert(json_is_string(json_object_get(s, "deadline")));
	ck_assert(json_is_array(json_object_get(s, "who")));
	ck_assert(json_is_null(json_object_get(s, "ended")));
	s = step_in(o, "skip");
	ck_assert_str_eq(cstr(s, "state"), "pending");
	json_decref(o);
	o = pb_engine_status_json(e);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "running")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "waiting")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "drills")), 1);
	json_decref(o);
	o = pb_engine_incident_runs(e, 12);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "runs")), 1);
	json_decref(o);
	ck_assert_ptr_null(pb_engine_incident_runs(e, 13));

	/* Both finish; the skipped step counts as such. */
	confirm_ok(r, "ask", PB_YES, "bob");
	confirm_ok(d, "ask", PB_YES, "alice");
	wait_state(r, NULL, "done", WAIT_MS);
	wait_state(d, NULL, "done", WAIT_MS);
	o = pb_engine_run_json(e, r);
	p = json_object_get(o, "progress");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "done")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "skipped")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "pending")), 0);
	ck_assert(json_is_null(json_object_get(o, "step")));
	ck_assert(json_is_string(json_object_get(o, "ended")));
	ck_assert_uint_eq(json_array_size(json_object_get(o, "waiting")), 0);
	json_decref(o);

	/* playbooks: the last run and the last drill. */
	o = pb_engine_playbooks_json(e);
	l = json_object_get(o, "playbooks");
	ck_assert_uint_eq(json_array_size(l), 1);
	s = json_array_get(l, 0);
	ck_assert_str_eq(cstr(s, "name"), "js");
	ck_assert_str_eq(cstr(s, "description"), "For the JSON");
	ck_assert_msg(
	    strstr(cstr(s, "file"), "/pb/js.conf") != NULL, "%s", cstr(s, "file"));
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(s, "triggers"), 0)),
	    "power-outage");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "steps")), 4);
	ck_assert(json_is_true(json_object_get(s, "destructive")));
	ck_assert_uint_eq(json_array_size(json_object_get(s, "running")), 0);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(s, "last_run"), "id")),
	    (json_int_t)r);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(s, "last_drill"), "id")),
	    (json_int_t)d);
	json_decref(o);

	/* playbook NAME: who triggers it, its runs newest first. */
	o = pb_engine_playbook_json(e, "js");
	ck_assert_uint_eq(json_array_size(json_object_get(o, "triggered_by")), 1);
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(o, "triggered_by"), 0)),
	    "power-outage");
	l = json_object_get(o, "runs");
	ck_assert_uint_eq(json_array_size(l), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(l, 0), "id")),
	    (json_int_t)d);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(l, 2), "id")), 50);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "steps")), 4);
	json_decref(o);
}
END_TEST

/* `sonae playbook NAME` lists the newest 10 runs. */
START_TEST(playbook_json_ten_runs)
{
	json_t *o, *l;
	uint64_t id = 0;
	int i;

	playbook("n", "steps = ( { id = \"s\"; type = \"notify\"; title = \"t\"; text = "
	              "\"x\"; } );\n");
	up("\"drill@example.jp\"", "", "");
	for (i = 0; i < 12; i++)
		id = run("n", 0, i % 2, "alice", NULL);
	wait_state(id, NULL, "done", WAIT_MS);
	o = pb_engine_playbook_json(e, "n");
	l = json_object_get(o, "runs");
	ck_assert_uint_eq(json_array_size(l), 10);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(l, 0), "id")), 12);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(l, 9), "id")), 3);
	json_decref(o);
	o = pb_engine_playbooks_json(e);
	l = json_array_get(json_object_get(o, "playbooks"), 0);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(l, "last_run"), "id")),
	    11);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(l, "last_drill"), "id")),
	    12);
	json_decref(o);
}
END_TEST

/*
 * The journal.
 */

START_TEST(journal_events)
{
	const char *const want[][2] = { { "playbook.start", "alice" },
		{ "playbook.confirm-refused", "alice" }, { "playbook.confirm", "bob" },
		{ "playbook.step", "bob" }, { "playbook.abort", "carol" },
		{ "playbook.end", "carol" } };
	json_t *j, *data;
	char err[512];
	uint64_t id;
	size_t i;

	playbook("jr", "steps = (\n"
	               "\t{ id = \"ask\"; type = \"confirm\"; title = \"t\"; question = "
	               "\"q\"; approver_differs = true; },\n"
	               "\t{ id = \"hold\"; type = \"confirm\"; title = \"t\"; question = "
	               "\"q\"; }\n"
	               ");\n");
	up("", "", "");
	id = run("jr", 12, 0, "alice", NULL);
	wait_state(id, "ask", "waiting", WAIT_MS);
	confirm_refused(id, "ask", PB_YES, "alice", 1, "approver_differs");
	confirm_ok(id, "ask", PB_YES, "bob");
	wait_state(id, "hold", "waiting", WAIT_MS);
	ck_assert_int_eq(pb_engine_abort(e, id, "carol", "enough", err, sizeof(err)), 0);
	ck_assert_uint_eq(json_array_size(f.journal), NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		j = json_array_get(f.journal, i);
		ck_assert_msg(strcmp(cstr(j, "event"), want[i][0]) == 0 &&
		                  strcmp(cstr(j, "actor"), want[i][1]) == 0,
		    "journal %zu: %s by %s, not %s by %s", i, cstr(j, "event"),
		    cstr(j, "actor"), want[i][0], want[i][1]);
		data = json_object_get(j, "data");
		ck_assert_int_eq(
		    json_integer_value(json_object_get(data, "run")), (json_int_t)id);
	}
	data = json_object_get(json_array_get(f.journal, 0), "data");
	ck_assert_str_eq(cstr(data, "playbook"), "jr");
	ck_assert_int_eq(json_integer_value(json_object_get(data, "incident")), 12);
	ck_assert(json_is_false(json_object_get(data, "drill")));
	ck_assert_str_eq(cstr(data, "reason"), "a test");
	/* The answer, then the outcome it caused. */
	data = json_object_get(json_array_get(f.journal, 2), "data");
	ck_assert_str_eq(cstr(data, "answer"), "yes");
	ck_assert_str_eq(cstr(data, "text"), "said in a test");
	data = json_object_get(json_array_get(f.journal, 3), "data");
	ck_assert_str_eq(cstr(data, "step"), "ask");
	ck_assert_str_eq(cstr(data, "state"), "done");
	ck_assert_str_eq(cstr(data, "type"), "confirm");
	ck_assert(json_is_false(json_object_get(data, "would_run")));
	data = json_object_get(json_array_get(f.journal, 4), "data");
	ck_assert_str_eq(cstr(data, "text"), "enough");
	data = json_object_get(json_array_get(f.journal, 5), "data");
	ck_assert_str_eq(cstr(data, "state"), "aborted");
}
END_TEST

static Suite *
pbengine_suite(void)
{
	Suite *s = suite_create("pbengine");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, notify_to_and_routes);
	tcase_add_test(tc, notify_drill);
	tcase_add_test(tc, exec_status_output);
	tcase_add_test(tc, exec_argv_env);
	tcase_add_test(tc, exec_user_sudo);
	tcase_add_test(tc, wait_for_until_timeout);
	tcase_add_test(tc, wait_ended_by_operator);
	tcase_add_test(tc, confirm_yes_no);
	tcase_add_test(tc, confirm_who);
	tcase_add_test(tc, confirm_approver_differs);
	tcase_add_test(tc, confirm_timeout_default);
	tcase_add_test(tc, confirm_preapproved);
	tcase_add_test(tc, set_mode);
	tcase_add_test(tc, snmp_set);
	tcase_add_test(tc, modbus_write);
	tcase_add_test(tc, shutdown_tiers_in_order);
	tcase_add_test(tc, shutdown_tier_deadline);
	tcase_add_test(tc, run_playbook_child);
	tcase_add_test(tc, run_playbook_approver_differs);
	tcase_add_test(tc, run_playbook_timeout);
	tcase_add_test(tc, when_skips);
	tcase_add_test(tc, retries);
	tcase_add_test(tc, on_failure_paths);
	tcase_add_test(tc, abort_in_retry_pause);
	tcase_add_test(tc, abort_every_kind);
	tcase_add_test(tc, free_every_kind);
	tcase_add_test(tc, write_timeout);
	tcase_add_test(tc, abort_kills_group);
	tcase_add_test(tc, exec_timeout_kills_group);
	tcase_add_test(tc, incident_triggers);
	tcase_add_test(tc, run_params_refusals);
	tcase_add_test(tc, checkpoint_each_step);
	tcase_add_test(tc, crash_idempotent_starts_over);
	tcase_add_test(tc, crash_unknown_yes);
	tcase_add_test(tc, crash_unknown_no);
	tcase_add_test(tc, crash_unknown_retry);
	tcase_add_test(tc, crash_run_playbook_resumes);
	tcase_add_test(tc, confirm_waits_across_restart);
	tcase_add_test(tc, restart_playbook_gone_or_changed);
	tcase_add_test(tc, reload_keeps_running_version);
	tcase_add_test(tc, json_shapes);
	tcase_add_test(tc, playbook_json_ten_runs);
	tcase_add_test(tc, journal_events);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(pbengine_suite());
}
