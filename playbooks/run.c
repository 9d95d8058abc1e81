/*
 * The record of a playbook run and its checkpoint (playbooks/run.h).
 *
 * One file per run, state_dir/runs/000000000042.json, rewritten whole and
 * atomically (atomic_open/atomic_commit: temporary file, fsync, rename, fsync
 * of the folder) at every change the engine makes durable: before a step
 * starts and after it ends.  A run is a few kilobytes; a file per run keeps
 * a crash from ever touching any run but the one being written, and lets
 * finished runs be archived by moving files.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "playbooks/run.h"

#define RUNS_DIR    "runs"
#define RUN_VERSION 1

static const char *const step_state_names[] = { "pending", "running", "waiting", "done",
	"failed", "skipped", "unknown" };
static const char *const run_state_names[] = { "running", "done", "failed", "aborted" };

const char *
pb_step_state_name(enum pb_step_state s)
{
	return step_state_names[s];
}

const char *
pb_run_state_name(enum pb_run_state s)
{
	return run_state_names[s];
}

static int
name_index(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct pb_run *
pb_run_new(uint64_t id, const char *playbook, const char *const *ids, size_t n,
    uint64_t incident, int drill, const char *requested_by, const char *reason,
    int64_t now_ms)
{
	struct pb_run *r = xcalloc(1, sizeof(*r));
	size_t i;

	r->id = id;
	r->playbook = xstrdup(playbook);
	r->incident = incident;
	r->drill = drill;
	r->requested_by = xstrdup(requested_by);
	r->reason = xstrdup(reason);
	r->started_ms = now_ms;
	r->state = PBR_RUNNING;
	r->nsteps = n;
	r->steps = xcalloc(n > 0 ? n : 1, sizeof(*r->steps));
	for (i = 0; i < n; i++)
		r->steps[i].id = xstrdup(ids[i]);
	r->params = json_object();
	r->log = json_array();
	return r;
}

void
pb_run_free(struct pb_run *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nsteps; i++) {
		free(r->steps[i].id);
		free(r->steps[i].result);
		free(r->steps[i].actor);
		free(r->steps[i].output);
	}
	free(r->steps);
	free(r->playbook);
	free(r->requested_by);
	free(r->reason);
	json_decref(r->params);
	json_decref(r->log);
	free(r);
}

void
pb_run_note(struct pb_run *r, int64_t now_ms, const char *actor, const char *event,
    const char *text)
{
	json_array_append_new(r->log,
	    json_pack("{s:I, s:s, s:s, s:s}", "time_ms", (json_int_t)now_ms, "actor",
	        actor, "event", event, "text", text != NULL ? text : ""));
}

struct pb_step_run *
pb_run_step(struct pb_run *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nsteps; i++)
		if (strcmp(r->steps[i].id, id) == 0)
			return &r->steps[i];
	return NULL;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
pb_run_json(const struct pb_run *r)
{
	json_t *steps = json_array(), *o;
	size_t i;

	for (i = 0; i < r->nsteps; i++) {
		const struct pb_step_run *s = &r->steps[i];
		json_array_append_new(steps,
		    json_pack("{s:s, s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:b, s:I, s:I}",
		        "id", s->id, "state", step_state_names[s->state], "attempts",
		        s->attempts, "started_ms", (json_int_t)s->started_ms, "ended_ms",
		        (json_int_t)s->ended_ms, "result", str_or_null(s->result),
		        "actor", str_or_null(s->actor), "output", str_or_null(s->output),
		        "would_run", s->would_run, "pid", (json_int_t)s->pid, "pid_start",
		        (json_int_t)s->pid_start));
	}
	o = json_pack("{s:i, s:I, s:s, s:I, s:b, s:s, s:s, s:I, s:I, s:s, s:I, s:o, "
	              "s:O, s:O}",
	    "version", RUN_VERSION, "id", (json_int_t)r->id, "playbook", r->playbook,
	    "incident", (json_int_t)r->incident, "drill", r->drill, "requested_by",
	    r->requested_by, "reason", r->reason, "started_ms", (json_int_t)r->started_ms,
	    "ended_ms", (json_int_t)r->ended_ms, "state", run_state_names[r->state],
	    "current", (json_int_t)r->current, "steps", steps, "params", r->params, "log",
	    r->log);
	if (r->parent != 0)
		json_object_set_new(o, "parent", json_integer((json_int_t)r->parent));
	return o;
}

struct pb_run *
pb_run_from_json(const json_t *o, char *err, size_t errlen)
{
	const json_t *steps = json_object_get(o, "steps"), *s;
	struct pb_run *r;
	int st;
	size_t i;

	if (!json_is_object(o) || json_int_of(o, "version") != RUN_VERSION) {
		snprintf(err, errlen, "not a run record of version %d", RUN_VERSION);
		return NULL;
	}
	if (json_int_of(o, "id") <= 0 || json_str_of(o, "playbook") == NULL ||
	    json_str_of(o, "requested_by") == NULL || json_str_of(o, "reason") == NULL ||
	    !json_is_array(steps) || !json_is_array(json_object_get(o, "log"))) {
		snprintf(err, errlen,
		    "a run record needs id, playbook, requested_by, "
		    "reason, steps and log");
		return NULL;
	}
	if ((st = name_index(run_state_names, 4, json_str_of(o, "state"))) < 0) {
		snprintf(err, errlen, "unknown run state \"%s\"",
		    json_str_of(o, "state") ? json_str_of(o, "state") : "");
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->id = (uint64_t)json_int_of(o, "id");
	r->playbook = xstrdup(json_str_of(o, "playbook"));
	r->incident = (uint64_t)json_int_of(o, "incident");
	r->parent = (uint64_t)json_int_of(o, "parent");
	r->drill = json_is_true(json_object_get(o, "drill"));
	r->requested_by = xstrdup(json_str_of(o, "requested_by"));
	r->reason = xstrdup(json_str_of(o, "reason"));
	r->started_ms = json_int_of(o, "started_ms");
	r->ended_ms = json_int_of(o, "ended_ms");
	r->state = (enum pb_run_state)st;
	r->current = (size_t)json_int_of(o, "current");
	r->log = json_deep_copy(json_object_get(o, "log"));
	r->params = json_is_object(json_object_get(o, "params"))
	                ? json_deep_copy(json_object_get(o, "params"))
	                : json_object();
	r->nsteps = json_array_size(steps);
	r->steps = xcalloc(r->nsteps > 0 ? r->nsteps : 1, sizeof(*r->steps));
	json_array_foreach(steps, i, s)
	{
		struct pb_step_run *sr = &r->steps[i];
		int ss = name_index(step_state_names, 7, json_str_of(s, "state"));
		if (json_str_of(s, "id") == NULL || ss < 0) {
			snprintf(
			    err, errlen, "step %zu: no id or an unknown state", i + 1);
			r->nsteps = i;
			pb_run_free(r);
			return NULL;
		}
		sr->id = xstrdup(json_str_of(s, "id"));
		sr->state = (enum pb_step_state)ss;
		sr->attempts = (int)json_int_of(s, "attempts");
		sr->started_ms = json_int_of(s, "started_ms");
		sr->ended_ms = json_int_of(s, "ended_ms");
		sr->result = dup_or_null(json_str_of(s, "result"));
		sr->actor = dup_or_null(json_str_of(s, "actor"));
		sr->output = dup_or_null(json_str_of(s, "output"));
		sr->would_run = json_is_true(json_object_get(s, "would_run"));
		sr->pid = json_int_of(s, "pid");
		sr->pid_start = json_int_of(s, "pid_start");
	}
	if (r->current > r->nsteps) {
		snprintf(err, errlen, "current step %zu of %zu", r->current, r->nsteps);
		pb_run_free(r);
		return NULL;
	}
	return r;
}

/* state_dir/runs, created (0750) when missing. */
static char *
runs_dir(const char *state_dir, char *err, size_t errlen)
{
	char *dir;

	xasprintf(&dir, "%s/%s", state_dir, RUNS_DIR);
	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

int
pb_run_save(const char *state_dir, const struct pb_run *r, char *err, size_t errlen)
{
	struct atomic_file af;
	char *dir, *path;
	json_t *o;
	int rc;

	if ((dir = runs_dir(state_dir, err, errlen)) == NULL)
		return -1;
	xasprintf(&path, "%s/%012" PRIu64 ".json", dir, r->id);
	free(dir);
	rc = atomic_open(&af, path, err, errlen);
	free(path);
	if (rc == -1)
		return -1;
	o = pb_run_json(r);
	rc = json_dumpf(o, af.f, JSON_COMPACT);
	json_decref(o);
	if (rc == -1 || fputc('\n', af.f) == EOF) {
		snprintf(err, errlen, "run %" PRIu64 ": cannot write its record", r->id);
		atomic_abort(&af);
		return -1;
	}
	return atomic_commit(&af, err, errlen);
}

static int
run_cmp(const void *a, const void *b)
{
	const struct pb_run *x = *(struct pb_run *const *)a;
	const struct pb_run *y = *(struct pb_run *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* NNNNNNNNNNNN.json, exactly. */
static int
run_file_name(const char *name)
{
	size_t i;

	for (i = 0; i < 12; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return strcmp(name + 12, ".json") == 0;
}

int
pb_run_load_all(const char *state_dir, struct pb_run ***runs, size_t *n,
    json_t **problems, char *err, size_t errlen)
{
	char *dir, *path, why[512];
	struct dirent *de;
	struct pb_run *r;
	json_error_t je;
	json_t *o;
	DIR *d;

	*runs = NULL;
	*n = 0;
	*problems = json_array();
	if ((dir = runs_dir(state_dir, err, errlen)) == NULL)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!run_file_name(de->d_name))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		r = NULL;
		if ((o = json_load_file(path, 0, &je)) == NULL)
			snprintf(why, sizeof(why), "line %d: %s", je.line, je.text);
		else
			r = pb_run_from_json(o, why, sizeof(why));
		json_decref(o);
		if (r == NULL) {
			char *aside, *text;
			xasprintf(
			    &aside, "%s.damaged-%lld", path, (long long)time_now_ms());
			if (rename(path, aside) == -1)
				xasprintf(&text, "%s: %s; cannot set it aside: %s", path,
				    why, strerror(errno));
			else
				xasprintf(
				    &text, "%s: %s; set aside as %s", path, why, aside);
			log_warnx("playbook runs: %s", text);
			json_array_append_new(*problems, json_string(text));
			free(text);
			free(aside);
		} else {
			*runs = xreallocarray(*runs, *n + 1, sizeof(**runs));
			(*runs)[(*n)++] = r;
		}
		free(path);
	}
	closedir(d);
	free(dir);
	if (*n > 1)
		qsort(*runs, *n, sizeof(**runs), run_cmp);
	return 0;
}

size_t
pb_run_recover(struct pb_run *r, int64_t now_ms,
    int (*idempotent)(void *arg, const char *step_id), void *arg)
{
	char text[256];
	size_t i, unknown = 0;

	if (r->state != PBR_RUNNING)
		return 0;
	for (i = 0; i < r->nsteps; i++) {
		struct pb_step_run *s = &r->steps[i];
		if (s->state != PBS_RUNNING)
			continue;
		if (idempotent(arg, s->id)) {
			s->state = PBS_PENDING;
			snprintf(text, sizeof(text),
			    "step %s was under way when sonaed stopped; it may run "
			    "again: "
			    "it starts over",
			    s->id);
			pb_run_note(r, now_ms, "sonaed", "step-restart", text);
		} else {
			s->state = PBS_UNKNOWN;
			unknown++;
			snprintf(text, sizeof(text),
			    "step %s was under way when sonaed stopped and must not run "
			    "twice: an operator must say whether it happened",
			    s->id);
			pb_run_note(r, now_ms, "sonaed", "step-unknown", text);
		}
	}
	return unknown;
}
