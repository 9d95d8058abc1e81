/*
 * The playbook engine (playbooks/engine.h, docs/playbooks.md).
 *
 * Every run the engine knows is an `active` on one list, in id order:
 * running ones and finished ones alike (finished runs are what `sonae runs`
 * and the reports read; they are small).  A running run has at most one
 * step under way, its `act`.  Moving a run on is always done by `advance()`
 * from the run's own `kick` event, never from inside a step's callback: a
 * step may report its outcome from within its own start(), from a child's
 * exit or from `sonae confirm`, and none of those should find the engine
 * half-way through another step.
 *
 * Durability: the run's record (run.h) is written before a step starts and
 * after it ends.  The order matters for the promise made after a crash: a
 * step whose start was recorded and whose end was not was under way, and is
 * run again only if it is idempotent.
 *
 * Playbooks are shared by their runs through a reference count (`book`): a
 * reload that changes or removes a playbook lets the runs under way finish
 * with the version they started with.
 */
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "playbooks/engine.h"
#include "playbooks/step.h"

#define RETRY_DELAY_MS    5000     /* between two attempts of a failed step */
#define RECENT_MS         86400000 /* `sonae runs` without --all: a day */
#define PLAYBOOK_RUNS     10       /* runs `sonae playbook NAME` lists */
#define RECORD_OUTPUT_MAX 65536    /* of a program's output, in the run's record */
#define LOOKUP_BUF        512      /* ${incident.id}, or the title a drill stands in */

struct book {
	struct playbook *pb;
	int refs;    /* runs that use it, plus one while it is configured */
	int current; /* in the configuration now */
	TAILQ_ENTRY(book) entry;
};

struct active {
	struct pb_engine *e;
	struct pb_run *r;
	struct book *b;     /* NULL: its playbook is no longer loaded */
	struct pb_act *act; /* the step under way, or NULL */
	struct event *kick; /* advance() on the next loop turn */
	struct event *wake; /* a retry's pause */
	TAILQ_ENTRY(active) entry;
};

struct pb_act {
	struct pb_engine *e;
	struct active *a;
	const struct pb_step *step;
	struct pb_step_run *sr;
	const struct pb_step_ops *ops;
	struct event *timer; /* the step's timeout */
	void *data;          /* the step type's */
	json_t *incident;    /* for ${incident.*}, fetched once */
	uint64_t child;      /* run-playbook: the run it waits for */
	char idbuf[LOOKUP_BUF];
};

TAILQ_HEAD(booklist, book);
TAILQ_HEAD(activelist, active);

struct pb_engine {
	struct event_base *base;
	const struct pb_hooks *h;
	void *arg;
	struct conf *conf;
	char *state_dir; /* NULL until started: nothing is written */
	struct booklist books;
	struct activelist runs;
	uint64_t next_id;
	int64_t retry_delay_ms; /* RETRY_DELAY_MS unless a test sets it */
};

static const struct pb_step_ops *const step_ops[PB_NTYPES] = {
	[PB_NOTIFY] = &pb_notify_ops,
	[PB_EXEC] = &pb_exec_ops,
	[PB_WAIT] = &pb_wait_ops,
	[PB_CONFIRM] = &pb_confirm_ops,
	[PB_SET_MODE] = &pb_set_mode_ops,
	[PB_SNMP_SET] = &pb_snmp_set_ops,
	[PB_MODBUS_WRITE] = &pb_modbus_write_ops,
	[PB_SHUTDOWN_TIER] = &pb_shutdown_tier_ops,
	[PB_RUN_PLAYBOOK] = &pb_run_playbook_ops,
};

static void advance(struct active *);
static void run_end(
    struct active *, enum pb_run_state, const char *actor, const char *why);
static void abort_run(struct active *, const char *actor, const char *text);

/* Books. */

static void
book_release(struct pb_engine *e, struct book *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	TAILQ_REMOVE(&e->books, b, entry);
	playbook_free(b->pb);
	free(b);
}

static struct book *
book_named(struct pb_engine *e, const char *name)
{
	struct book *b;

	TAILQ_FOREACH(b, &e->books, entry)
	if (b->current && strcmp(b->pb->name, name) == 0)
		return b;
	return NULL;
}

/* Records. */

static void
checkpoint(struct active *a)
{
	char err[512];

	if (a->e->state_dir == NULL)
		return;
	if (pb_run_save(a->e->state_dir, a->r, err, sizeof(err)) == -1)
		log_warnx("run %" PRIu64 " (%s): checkpoint not written: %s; the run "
		          "goes on, but a crash now would lose its last step",
		    a->r->id, a->r->playbook, err);
}

static void
journal(struct pb_engine *e, const char *actor, const char *event, json_t *data)
{
	if (e->h->journal != NULL)
		e->h->journal(e->arg, actor, event, data);
	else
		json_decref(data);
}

static void PRINTFLIKE(3, 4)
    note(struct active *a, const char *event, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	if (a->r->incident == 0 || a->e->h->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	a->e->h->note(a->e->arg, a->r->incident, event, text);
}

/* A line in the run's log. */
static void
vrunlog(
    struct active *a, const char *actor, const char *event, const char *fmt, va_list ap)
{
	char text[1200];

	vsnprintf(text, sizeof(text), fmt, ap);
	pb_run_note(a->r, time_now_ms(), actor, event, text);
}

static void PRINTFLIKE(4, 5)
    runlog(struct active *a, const char *actor, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrunlog(a, actor, event, fmt, ap);
	va_end(ap);
}

static void
kick(struct active *a)
{
	event_active(a->kick, 0, 0);
}

static void
kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	advance(arg);
}

static struct active *
active_new(struct pb_engine *e, struct pb_run *r, struct book *b)
{
	struct active *a = xcalloc(1, sizeof(*a));
	struct active *x;

	a->e = e;
	a->r = r;
	a->b = b;
	if (b != NULL)
		b->refs++;
	a->kick = event_new(e->base, -1, 0, kick_cb, a);
	a->wake = evtimer_new(e->base, kick_cb, a);
	/* In id order: restored runs come sorted, new ones have the largest id. */
	TAILQ_FOREACH_REVERSE(x, &e->runs, activelist, entry)
	if (x->r->id < r->id)
		break;
	if (x == NULL)
		TAILQ_INSERT_HEAD(&e->runs, a, entry);
	else
		TAILQ_INSERT_AFTER(&e->runs, x, a, entry);
	if (r->id >= e->next_id)
		e->next_id = r->id + 1;
	return a;
}

static struct active *
active_find(struct pb_engine *e, uint64_t id)
{
	struct active *a;

	TAILQ_FOREACH(a, &e->runs, entry)
	if (a->r->id == id)
		return a;
	return NULL;
}

static const struct pb_step *
step_of(const struct active *a, size_t i)
{
	return a->b != NULL && i < a->b->pb->steps.n ? playbook_step(a->b->pb, i) : NULL;
}

/* Acts: a step under way. */

static void
act_free(struct pb_act *x)
{
	if (x == NULL)
		return;
	if (x->timer != NULL)
		event_free(x->timer);
	json_decref(x->incident);
	if (x->a != NULL && x->a->act == x)
		x->a->act = NULL;
	free(x);
}

/* Stop the step under way without an outcome (abort, shutdown). */
static void
act_cancel(struct pb_act *x)
{
	if (x == NULL)
		return;
	if (x->ops->cancel != NULL)
		x->ops->cancel(x);
	act_free(x);
}

const struct pb_step *
pb_act_step(const struct pb_act *x)
{
	return x->step;
}

const struct pb_run *
pb_act_run(const struct pb_act *x)
{
	return x->a->r;
}

const struct pb_step_run *
pb_act_record(const struct pb_act *x)
{
	return x->sr;
}

struct event_base *
pb_act_base(const struct pb_act *x)
{
	return x->e->base;
}

const struct pb_hooks *
pb_act_hooks(const struct pb_act *x)
{
	return x->e->h;
}

void *
pb_act_arg(const struct pb_act *x)
{
	return x->e->arg;
}

const struct conf *
pb_act_conf(const struct pb_act *x)
{
	return x->e->conf;
}

struct pb_engine *
pb_act_engine(const struct pb_act *x)
{
	return x->e;
}

void **
pb_act_data(struct pb_act *x)
{
	return &x->data;
}

/* ${...}: the run's parameters and the incident's facts. */
struct lookup {
	struct pb_engine *e;
	const struct pb_run *r;
	json_t **incident; /* fetched on first use */
	char *idbuf;
};

static const char *
lookup_fn(void *arg, const char *name)
{
	struct lookup *l = arg;
	const char *key;

	if (strncmp(name, "incident.", 9) != 0)
		return json_string_value(json_object_get(l->r->params, name));
	key = name + 9;
	if (l->r->incident == 0) {
		/* A drill, or a run by hand: the playbook stands for the incident. */
		const struct book *b = book_named(l->e, l->r->playbook);
		if (strcmp(key, "id") == 0)
			return "-";
		if (strcmp(key, "severity") == 0)
			return l->r->drill ? "drill" : "none";
		if (b == NULL)
			return l->r->playbook;
		snprintf(l->idbuf, LOOKUP_BUF, "%s%s / %s",
		    l->r->drill ? "【訓練】DRILL: " : "", b->pb->title_ja,
		    b->pb->title_en);
		return l->idbuf;
	}
	if (strcmp(key, "id") == 0) {
		snprintf(l->idbuf, LOOKUP_BUF, "%" PRIu64, l->r->incident);
		return l->idbuf;
	}
	if (*l->incident == NULL && l->e->h->incident != NULL)
		*l->incident = l->e->h->incident(l->e->arg, l->r->incident);
	return json_string_value(json_object_get(*l->incident, key));
}

static int
expand(struct pb_engine *e, const struct active *a, json_t **incident, char *idbuf,
    const char *text, char **out, char *err, size_t errlen)
{
	struct lookup l = { e, a->r, incident, idbuf };

	return pb_expand(a->b->pb, text, lookup_fn, &l, out, err, errlen);
}

int
pb_act_expand(struct pb_act *x, const char *text, char **out, char *err, size_t errlen)
{
	return expand(x->e, x->a, &x->incident, x->idbuf, text, out, err, errlen);
}

char **
pb_act_expand_list(
    struct pb_act *x, const struct conf_strings *list, char *err, size_t errlen)
{
	char **v = xcalloc(list->n + 1, sizeof(char *));
	size_t i;

	for (i = 0; i < list->n; i++)
		if (pb_act_expand(x, list->v[i], &v[i], err, errlen) == -1) {
			pb_argv_free(v);
			return NULL;
		}
	return v;
}

void
pb_argv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Shell-like quoting for people to read (nothing is ever run through a shell). */
char *
pb_argv_text(char *const *argv, char *buf, size_t len)
{
	size_t n = 0, i;

	buf[0] = '\0';
	for (i = 0; argv[i] != NULL && n + 1 < len; i++) {
		const char *s = argv[i];
		int plain =
		    *s != '\0' && strpbrk(s, " \t\n'\"\\$`;&|<>()*?[]{}~#") == NULL;
		n += (size_t)snprintf(buf + n, len - n, i > 0 ? " " : "");
		if (n >= len)
			break;
		if (plain)
			n += (size_t)snprintf(buf + n, len - n, "%s", s);
		else {
			n += (size_t)snprintf(buf + n, len - n, "'");
			for (; *s != '\0' && n + 5 < len; s++)
				n += (size_t)snprintf(
				    buf + n, len - n, *s == '\'' ? "'\\''" : "%c", *s);
			if (n < len)
				n += (size_t)snprintf(buf + n, len - n, "'");
		}
	}
	return buf;
}

static void
env_add(char ***v, size_t *n, const char *name, const char *value)
{
	*v = xreallocarray(*v, *n + 2, sizeof(char *));
	xasprintf(&(*v)[(*n)++], "%s=%s", name, value != NULL ? value : "");
	(*v)[*n] = NULL;
}

char **
pb_act_env(struct pb_act *x)
{
	struct lookup l = { x->e, x->a->r, &x->incident, x->idbuf };
	const struct pb_run *r = x->a->r;
	char **v = NULL, num[24], name[96];
	const char *key;
	size_t n = 0;
	json_t *val;

	snprintf(num, sizeof(num), "%" PRIu64, r->id);
	env_add(&v, &n, "SONAE_RUN", num);
	env_add(&v, &n, "SONAE_PLAYBOOK", r->playbook);
	env_add(&v, &n, "SONAE_STEP", x->step->id);
	env_add(&v, &n, "SONAE_DRILL", r->drill ? "1" : "0");
	env_add(&v, &n, "SONAE_REQUESTED_BY", r->requested_by);
	env_add(&v, &n, "SONAE_SITE", x->e->conf != NULL ? x->e->conf->site.name : "");
	env_add(&v, &n, "SONAE_INCIDENT", lookup_fn(&l, "incident.id"));
	env_add(&v, &n, "SONAE_INCIDENT_TITLE", lookup_fn(&l, "incident.title"));
	env_add(&v, &n, "SONAE_INCIDENT_SEVERITY", lookup_fn(&l, "incident.severity"));
	json_object_foreach(r->params, key, val)
	{
		snprintf(name, sizeof(name), "SONAE_PARAM_%s", key);
		env_add(&v, &n, name, json_string_value(val));
	}
	return v;
}

void
pb_act_log(struct pb_act *x, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrunlog(x->a, "sonaed", event, fmt, ap);
	va_end(ap);
}

/* Length of the valid UTF-8 character at s (n bytes left), or 0. */
static size_t
utf8_char(const unsigned char *s, size_t n)
{
	size_t len = 0;

	if (s[0] < 0x80)
		len = 1;
	else if ((s[0] & 0xe0) == 0xc0)
		len = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4;
	if (len == 0 || len > n || !utf8_valid((const char *)s, len))
		return 0;
	return len;
}

/*
 * Text for the record: a program may print anything (Shift_JIS, binary),
 * and JSON holds only UTF-8, so a byte that is not part of a valid UTF-8
 * character becomes "?" and a NUL ends it.
 */
static char *
output_text(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	char *out = xmalloc(len + 1);
	size_t i = 0, o = 0, k;

	while (i < len && s[i] != '\0') {
		if ((k = utf8_char(s + i, len - i)) == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return out;
}

/*
 * What a program printed.  The run's record is rewritten whole at every
 * checkpoint, so it keeps at most RECORD_OUTPUT_MAX, the end (where errors
 * are); more is written once to a file of its own next to the record
 * (runs/RUN-STEP-ATTEMPT.out) and the record names it.
 */
void
pb_act_output(struct pb_act *x, const char *text, size_t len)
{
	struct pb_step_run *sr = x->sr;
	const char *tail;
	char *path = NULL, *t;
	size_t off, n;
	int fd = -1;

	free(sr->output);
	sr->output = NULL;
	if (len <= RECORD_OUTPUT_MAX) {
		sr->output = output_text(text, len);
		return;
	}
	off = len - RECORD_OUTPUT_MAX;
	while (off < len && ((unsigned char)text[off] & 0xc0) == 0x80)
		off++; /* not in the middle of a character */
	tail = text + off;
	if (x->e->state_dir != NULL) {
		xasprintf(&path, "%s/runs/%012" PRIu64 "-%s-%d.out", x->e->state_dir,
		    x->a->r->id, sr->id, sr->attempts);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	}
	for (n = 0; fd != -1 && n < len;) {
		ssize_t w = write(fd, text + n, len - n);
		if (w <= 0)
			break;
		n += (size_t)w;
	}
	if (fd != -1 && (n < len || fsync(fd) == -1)) {
		log_warn("%s", path);
		n = 0;
	}
	if (fd != -1)
		close(fd);
	t = output_text(tail, len - off);
	if (fd != -1 && n == len)
		xasprintf(&sr->output, "[%zu bytes before this; all %zu in %s]\n%s", off,
		    len, path, t);
	else
		xasprintf(
		    &sr->output, "[%zu bytes before this were not kept]\n%s", off, t);
	free(t);
	free(path);
}

/* A process's start time in clock ticks after boot (/proc/PID/stat), or 0. */
static int64_t
proc_start(int64_t pid)
{
	char path[64], buf[1024], *p;
	long long start = 0;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's ")", fields 3 on; the start time is field 22. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %lld", &start) != 1)
		return 0;
	return (int64_t)start;
}

/* Whether the program a step recorded still runs (the same process, not its number's
 * heir). */
static int
step_program_alive(const struct pb_step_run *sr)
{
	return sr->pid > 0 && sr->pid_start > 0 && proc_start(sr->pid) == sr->pid_start;
}

void
pb_act_set_pid(struct pb_act *x, long pid)
{
	if (pid <= 0)
		return;
	x->sr->pid = pid;
	x->sr->pid_start = proc_start(pid);
	/* Durable, so that after a crash the program can be told apart. */
	checkpoint(x->a);
}

void
pb_act_set_actor(struct pb_act *x, const char *actor)
{
	free(x->sr->actor);
	x->sr->actor = xstrdup(actor);
}

void
pb_act_set_child(struct pb_act *x, uint64_t run)
{
	x->child = run;
}

void
pb_act_wait(struct pb_act *x)
{
	x->sr->state = PBS_WAITING;
	checkpoint(x->a);
}

static json_t *
step_journal(const struct active *a, const struct pb_step_run *sr, const char *type)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:o}", "run",
	    (json_int_t)a->r->id, "playbook", a->r->playbook, "step", sr->id, "type",
	    type, "state", pb_step_state_name(sr->state), "result",
	    sr->result != NULL ? json_string(sr->result) : json_null(), "drill",
	    a->r->drill, "would_run", sr->would_run, "incident",
	    a->r->incident ? json_integer((json_int_t)a->r->incident) : json_null());
}

/* A step ended: record it, retry it, or move the run on. */
static void
step_ended(struct active *a, struct pb_step_run *sr, const struct pb_step *st, int ok,
    const char *result)
{
	int64_t now = time_now_ms();

	sr->state = ok ? PBS_DONE : PBS_FAILED;
	sr->ended_ms = now;
	sr->pid = sr->pid_start = 0;
	free(sr->result);
	sr->result = xstrdup(result);
	runlog(a, sr->actor != NULL ? sr->actor : "sonaed",
	    ok ? "step-done" : "step-failed", "%s: %s", sr->id, result);
	journal(a->e, sr->actor != NULL ? sr->actor : "sonaed", "playbook.step",
	    step_journal(a, sr, pb_step_types[st->type]));
	if (!ok && sr->attempts <= st->retries && a->r->state == PBR_RUNNING) {
		int64_t ms = a->e->retry_delay_ms;
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		char d[32];
		sr->state = PBS_PENDING;
		duration_format(ms, d, sizeof(d));
		runlog(a, "sonaed", "step-retry", "%s: attempt %d of %d in %s", sr->id,
		    sr->attempts + 1, st->retries + 1, d);
		checkpoint(a);
		event_base_update_cache_time(a->e->base); /* checkpoints took time */
		evtimer_add(a->wake, &tv);
		return;
	}
	if (!ok)
		note(a, "playbook-step",
		    "playbook %s (run %" PRIu64 "): step %s failed: %s", a->r->playbook,
		    a->r->id, sr->id, result);
	else if (st->type == PB_CONFIRM)
		note(a, "playbook-step", "playbook %s (run %" PRIu64 "): %s: %s",
		    a->r->playbook, a->r->id, sr->id, result);
	checkpoint(a);
	kick(a);
}

void
pb_act_done(struct pb_act *x, int ok, const char *fmt, ...)
{
	struct active *a = x->a;
	struct pb_step_run *sr = x->sr;
	const struct pb_step *st = x->step;
	char result[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(result, sizeof(result), fmt, ap);
	va_end(ap);
	act_free(x);
	step_ended(a, sr, st, ok, result);
}

static void
timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct pb_act *x = arg;
	char d[32];

	(void)fd;
	(void)ev;
	if (x->ops->timeout != NULL) {
		x->ops->timeout(x);
		return;
	}
	duration_format(x->step->timeout_ms, d, sizeof(d));
	if (x->ops->cancel != NULL)
		x->ops->cancel(x);
	/*
	 * A hand-over given up: the run it started is stopped too, or it would
	 * go on for nobody (and a retry or a goto would start a second one).
	 * Detached first, so that its end does not end this act.
	 */
	if (x->child != 0) {
		struct active *c = active_find(x->e, x->child);
		char text[128];
		x->child = 0;
		if (c != NULL && c->r->state == PBR_RUNNING) {
			snprintf(text, sizeof(text),
			    "step %s of run %" PRIu64 " timed out", x->step->id,
			    x->a->r->id);
			abort_run(c, "sonaed", text);
		}
	}
	pb_act_done(x, 0, "timed out after %s", d);
}

/* Start step i of a run (or take up again one that waits for a human). */
static void
step_start(struct active *a, size_t i, int resume)
{
	const struct pb_step *st = step_of(a, i);
	struct pb_step_run *sr = &a->r->steps[i];
	struct pb_act *x = xcalloc(1, sizeof(*x));
	int64_t now = time_now_ms();
	char what[2048];

	x->e = a->e;
	x->a = a;
	x->step = st;
	x->sr = sr;
	x->ops = step_ops[st->type];
	a->act = x;
	if (!resume) {
		sr->state = PBS_RUNNING;
		sr->attempts++;
		sr->started_ms = now;
		sr->ended_ms = 0;
		free(sr->result);
		sr->result = NULL;
		free(sr->actor);
		sr->actor = NULL;
		free(sr->output);
		sr->output = NULL;
		sr->would_run = 0;
		sr->pid = sr->pid_start = 0;
		runlog(a, "sonaed", "step-start", "%s (%s): %s", sr->id,
		    pb_step_types[st->type], st->title);
	}
	/* A drill records what a destructive step, or a change of mode, would do. */
	if (a->r->drill && (st->destructive || st->type == PB_SET_MODE)) {
		checkpoint(a);
		if (x->ops->would(x, what, sizeof(what)) == -1) {
			pb_act_done(x, 0, "%s", what);
			return;
		}
		sr->would_run = 1;
		pb_act_done(x, 1, "would run: %s", what);
		return;
	}
	if (st->timeout_ms > 0 && !x->ops->own_timeout) {
		int64_t left = sr->started_ms + st->timeout_ms - now;
		struct timeval tv;
		if (left < 0)
			left = 0;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		x->timer = evtimer_new(a->e->base, timeout_cb, x);
		/* From now, not from when this loop turn began: checkpoints take time. */
		event_base_update_cache_time(a->e->base);
		evtimer_add(x->timer, &tv);
	}
	if (!resume)
		checkpoint(a); /* before it acts: the crash rule depends on it */
	x->ops->start(x);
}

/* A failed step's on_failure: where the run goes from step i. */
static int
apply_failure(struct active *a, size_t i)
{
	const struct pb_step *st = step_of(a, i);
	size_t t, k;

	switch (st->on_failure) {
	case PB_FAIL_CONTINUE:
		a->r->current = i + 1;
		return 0;
	case PB_FAIL_GOTO:
		t = st->goto_step;
		if (t > i) {
			for (k = i + 1; k < t; k++) {
				struct pb_step_run *s = &a->r->steps[k];
				if (s->state != PBS_PENDING)
					continue;
				s->state = PBS_SKIPPED;
				free(s->result);
				xasprintf(&s->result, "passed over: %s failed, on to %s",
				    st->id, playbook_step(a->b->pb, t)->id);
				/* Every step's outcome is in the journal, these too. */
				journal(a->e, "sonaed", "playbook.step",
				    step_journal(a, s,
				        pb_step_types[playbook_step(a->b->pb, k)->type]));
			}
		} else {
			/* Back to an earlier step: it and what follows run again. */
			for (k = t; k <= i; k++) {
				struct pb_step_run *s = &a->r->steps[k];
				s->state = PBS_PENDING;
				s->attempts = 0;
				s->started_ms = s->ended_ms = 0;
				free(s->result);
				free(s->actor);
				free(s->output);
				s->result = s->actor = s->output = NULL;
				s->would_run = 0;
			}
		}
		runlog(a, "sonaed", "goto", "%s failed: on to %s", st->id,
		    playbook_step(a->b->pb, t)->id);
		a->r->current = t;
		return 0;
	case PB_FAIL_ABORT:
	default:
		return -1;
	}
}

static void
advance(struct active *a)
{
	struct pb_run *r = a->r;
	char why[512];

	if (a->act != NULL || r->state != PBR_RUNNING)
		return;
	if (a->b == NULL) {
		run_end(a, PBR_FAILED, "sonaed",
		    "its playbook is no longer loaded; start it again if it is still "
		    "needed");
		return;
	}
	while (r->current < r->nsteps) {
		size_t i = r->current;
		struct pb_step_run *sr = &r->steps[i];
		const struct pb_step *st = step_of(a, i);
		int w;

		switch (sr->state) {
		case PBS_DONE:
		case PBS_SKIPPED:
			r->current++;
			continue;
		case PBS_FAILED:
			if (apply_failure(a, i) == -1) {
				snprintf(why, sizeof(why), "step %s failed: %s", sr->id,
				    sr->result != NULL ? sr->result : "?");
				run_end(a, PBR_FAILED, "sonaed", why);
				return;
			}
			checkpoint(a);
			continue;
		case PBS_UNKNOWN:
			return; /* an operator says what happened */
		case PBS_RUNNING:
		case PBS_WAITING:
			/* Taken up again after a restart (a human step, a wait). */
			step_start(a, i, sr->state == PBS_WAITING);
			return;
		case PBS_PENDING:
			if (st->when != NULL && a->e->h->eval != NULL &&
			    (w = a->e->h->eval(a->e->arg, st->when, why, sizeof(why))) !=
			        1) {
				sr->state = PBS_SKIPPED;
				free(sr->result);
				if (w == 0)
					xasprintf(&sr->result, "when was false: %s",
					    st->when_text);
				else
					xasprintf(&sr->result,
					    "when could not be decided: %s", why);
				runlog(a, "sonaed", "step-skipped", "%s: %s", sr->id,
				    sr->result);
				journal(a->e, "sonaed", "playbook.step",
				    step_journal(a, sr, pb_step_types[st->type]));
				r->current++;
				checkpoint(a);
				continue;
			}
			step_start(a, i, 0);
			return;
		}
	}
	run_end(a, PBR_DONE, "sonaed", "every step is over");
}

/* Runs. */

static void
run_end(struct active *a, enum pb_run_state state, const char *actor, const char *why)
{
	struct pb_run *r = a->r;
	struct active *p;

	r->state = state;
	r->ended_ms = time_now_ms();
	runlog(a, actor, "end", "%s: %s", pb_run_state_name(state), why);
	checkpoint(a);
	journal(a->e, actor, "playbook.end",
	    json_pack("{s:I, s:s, s:s, s:b, s:s}", "run", (json_int_t)r->id, "playbook",
	        r->playbook, "state", pb_run_state_name(state), "drill", r->drill, "why",
	        why));
	note(a, "playbook-end", "playbook %s (run %" PRIu64 ") %s: %s", r->playbook,
	    r->id, pb_run_state_name(state), why);
	log_info("run %" PRIu64 " (%s%s) %s: %s", r->id, r->playbook,
	    r->drill ? ", drill" : "", pb_run_state_name(state), why);
	/* The run-playbook step that waits for it. */
	if (r->parent != 0 && (p = active_find(a->e, r->parent)) != NULL &&
	    p->act != NULL && p->act->child == r->id)
		pb_act_done(p->act, state == PBR_DONE, "run %" PRIu64 " of %s %s", r->id,
		    r->playbook, pb_run_state_name(state));
	book_release(a->e, a->b);
	a->b = NULL;
}

/* The values of a run's parameters: --set, the site's, the default. */
static int
run_params(struct pb_engine *e, const struct playbook *pb,
    const struct conf_strings *sets, json_t *out, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; sets != NULL && i < sets->n; i++) {
		const char *eq = strchr(sets->v[i], '=');
		char name[65];
		if (eq == NULL || eq == sets->v[i] ||
		    (size_t)(eq - sets->v[i]) >= sizeof(name)) {
			snprintf(err, errlen, "--set %s: give NAME=VALUE", sets->v[i]);
			return -1;
		}
		memcpy(name, sets->v[i], (size_t)(eq - sets->v[i]));
		name[eq - sets->v[i]] = '\0';
		if (playbook_param_named(pb, name) == NULL) {
			snprintf(err, errlen, "playbook %s has no parameter \"%s\"",
			    pb->name, name);
			return -1;
		}
		if (!utf8_valid(eq + 1, strlen(eq + 1))) {
			snprintf(err, errlen, "--set %s: not UTF-8", name);
			return -1;
		}
		json_object_set_new(out, name, json_string(eq + 1));
	}
	for (i = 0; i < pb->params.n; i++) {
		const struct pb_param *pp = playbook_param(pb, i);
		const char *v;
		if (json_object_get(out, pp->name) != NULL)
			continue;
		if ((v = e->conf != NULL ? pb_site_value(e->conf, pb, pp->name)
		                         : pp->def) == NULL) {
			snprintf(err, errlen,
			    "parameter %s has no value: give --set %s=VALUE or set it in "
			    "playbooks.parameters",
			    pp->name, pp->name);
			return -1;
		}
		json_object_set_new(out, pp->name, json_string(v));
	}
	return 0;
}

static struct active *
running_for(struct pb_engine *e, const char *playbook, uint64_t incident)
{
	struct active *a;

	TAILQ_FOREACH(a, &e->runs, entry)
	if (a->r->state == PBR_RUNNING && !a->r->drill && a->r->incident == incident &&
	    strcmp(a->r->playbook, playbook) == 0)
		return a;
	return NULL;
}

static struct active *
run_start(struct pb_engine *e, struct book *b, uint64_t incident, int drill,
    uint64_t parent, const struct conf_strings *sets, const char *actor,
    const char *reason, char *err, size_t errlen)
{
	const struct playbook *pb = b->pb;
	const char **ids = xcalloc(pb->steps.n + 1, sizeof(char *));
	json_t *params = json_object();
	struct pb_run *r;
	struct active *a;
	size_t i;

	if (run_params(e, pb, sets, params, err, errlen) == -1) {
		json_decref(params);
		free(ids);
		return NULL;
	}
	for (i = 0; i < pb->steps.n; i++)
		ids[i] = playbook_step(pb, i)->id;
	r = pb_run_new(e->next_id, pb->name, ids, pb->steps.n, incident, drill, actor,
	    reason, time_now_ms());
	free(ids);
	r->parent = parent;
	json_decref(r->params);
	r->params = params;
	a = active_new(e, r, b);
	runlog(
	    a, actor, drill ? "drill" : "start", "%s%s", drill ? "drill: " : "", reason);
	checkpoint(a);
	journal(e, actor, "playbook.start",
	    json_pack("{s:I, s:s, s:o, s:b, s:s, s:O}", "run", (json_int_t)r->id,
	        "playbook", pb->name, "incident",
	        incident ? json_integer((json_int_t)incident) : json_null(), "drill",
	        drill, "reason", reason, "params", params));
	note(a, "playbook-start", "playbook %s started as run %" PRIu64 " (%s)", pb->name,
	    r->id, reason);
	log_info("run %" PRIu64 ": %s%s started by %s: %s", r->id, pb->name,
	    drill ? " (drill)" : "", actor, reason);
	kick(a);
	return a;
}

/* The engine. */

struct pb_engine *
pb_engine_new(struct event_base *base, const struct pb_hooks *h, void *arg)
{
	struct pb_engine *e = xcalloc(1, sizeof(*e));

	e->base = base;
	e->h = h;
	e->arg = arg;
	e->next_id = 1;
	e->retry_delay_ms = RETRY_DELAY_MS;
	TAILQ_INIT(&e->books);
	TAILQ_INIT(&e->runs);
	return e;
}

void
pb_engine_free(struct pb_engine *e)
{
	struct active *a;
	struct book *b;

	if (e == NULL)
		return;
	while ((a = TAILQ_FIRST(&e->runs)) != NULL) {
		TAILQ_REMOVE(&e->runs, a, entry);
		act_cancel(a->act);
		event_free(a->kick);
		event_free(a->wake);
		pb_run_free(a->r);
		free(a);
	}
	while ((b = TAILQ_FIRST(&e->books)) != NULL) {
		TAILQ_REMOVE(&e->books, b, entry);
		playbook_free(b->pb);
		free(b);
	}
	free(e->state_dir);
	free(e);
}

void
pb_engine_set_retry_delay(struct pb_engine *e, int64_t ms)
{
	e->retry_delay_ms = ms >= 0 ? ms : RETRY_DELAY_MS;
}

void
pb_engine_configure(struct pb_engine *e, struct conf *conf)
{
	struct book *b, *next;
	size_t i;

	e->conf = conf;
	for (b = TAILQ_FIRST(&e->books); b != NULL; b = next) {
		next = TAILQ_NEXT(b, entry);
		if (b->current) {
			b->current = 0;
			book_release(e, b);
		}
	}
	for (i = 0; i < conf->playbooks.nloaded; i++) {
		b = xcalloc(1, sizeof(*b));
		b->pb = conf->playbooks.loaded[i];
		b->refs = 1;
		b->current = 1;
		TAILQ_INSERT_TAIL(&e->books, b, entry);
	}
	free(conf->playbooks.loaded);
	conf->playbooks.loaded = NULL;
	conf->playbooks.nloaded = 0;
}

static int
idempotent_cb(void *arg, const char *id)
{
	const struct pb_step *st = playbook_step_named(arg, id);

	return st != NULL && st->idempotent;
}

/* Whether the record's steps are the playbook's, in order. */
static int
same_steps(const struct pb_run *r, const struct playbook *pb)
{
	size_t i;

	if (r->nsteps != pb->steps.n)
		return 0;
	for (i = 0; i < r->nsteps; i++)
		if (strcmp(r->steps[i].id, playbook_step(pb, i)->id) != 0)
			return 0;
	return 1;
}

int
pb_engine_start(struct pb_engine *e, const char *state_dir, char *err, size_t errlen)
{
	struct pb_run **runs = NULL;
	json_t *problems = NULL, *p;
	size_t n = 0, i, k;

	free(e->state_dir);
	e->state_dir = xstrdup(state_dir);
	if (pb_run_load_all(state_dir, &runs, &n, &problems, err, errlen) == -1)
		return -1;
	json_array_foreach(problems, k, p)
	{
		log_warnx("playbook runs: %s", json_string_value(p));
		journal(e, "sonaed", "state.problem",
		    json_pack("{s:s}", "problem", json_string_value(p)));
	}
	json_decref(problems);
	for (i = 0; i < n; i++) {
		struct pb_run *r = runs[i];
		struct book *b = book_named(e, r->playbook);
		struct active *a;
		if (r->state != PBR_RUNNING) {
			active_new(e, r, NULL);
			continue;
		}
		a = active_new(e, r, b);
		if (b == NULL || !same_steps(r, b->pb)) {
			run_end(a, PBR_FAILED, "sonaed",
			    b == NULL
			        ? "its playbook is no longer loaded after the restart"
			        : "its playbook's steps changed while sonaed was "
			          "stopped; start it again");
			continue;
		}
		{
			size_t unknown =
			    pb_run_recover(r, time_now_ms(), idempotent_cb, b->pb);
			for (k = 0; k < r->nsteps; k++) {
				struct pb_step_run *sr = &r->steps[k];
				if (sr->state != PBS_UNKNOWN || sr->pid <= 0)
					continue;
				if (!step_program_alive(sr)) {
					sr->pid = sr->pid_start = 0;
					continue;
				}
				free(sr->result);
				xasprintf(&sr->result,
				    "interrupted by a restart; its program still runs as "
				    "process group %lld",
				    (long long)sr->pid);
				runlog(a, "sonaed", "step-orphan", "%s: %s", sr->id,
				    sr->result);
			}
			if (unknown > 0)
				note(a, "playbook-unknown",
				    "playbook %s (run %" PRIu64
				    "): %zu step%s interrupted "
				    "by a restart must be confirmed: sonae run-status "
				    "%" PRIu64,
				    r->playbook, r->id, unknown, unknown == 1 ? "" : "s",
				    r->id);
		}
		runlog(a, "sonaed", "resume", "sonaed restarted: the run goes on");
		journal(e, "sonaed", "playbook.resume",
		    json_pack(
		        "{s:I, s:s}", "run", (json_int_t)r->id, "playbook", r->playbook));
		checkpoint(a);
		kick(a);
	}
	free(runs);
	return 0;
}

void
pb_engine_incident(struct pb_engine *e, uint64_t id, const char *rule,
    const char *playbook, const char *actor, const char *held)
{
	struct book *b;
	char err[512], reason[256];

	TAILQ_FOREACH(b, &e->books, entry)
	{
		struct active *a;
		if (!b->current ||
		    !((playbook != NULL && strcmp(playbook, b->pb->name) == 0) ||
		        pb_triggered_by(b->pb, rule)))
			continue;
		if (held != NULL) {
			if (e->h->note != NULL) {
				snprintf(reason, sizeof(reason),
				    "playbook %s not started automatically: maintenance "
				    "window %s",
				    b->pb->name, held);
				e->h->note(e->arg, id, "playbook-held", reason);
			}
			continue;
		}
		if ((a = running_for(e, b->pb->name, id)) != NULL) {
			runlog(a, actor, "retrigger",
			    "incident %" PRIu64 " (%s) asked again", id, rule);
			checkpoint(a);
			journal(e, actor, "playbook.retrigger",
			    json_pack("{s:s, s:I, s:I}", "playbook", b->pb->name,
			        "incident", (json_int_t)id, "run", (json_int_t)a->r->id));
			continue;
		}
		snprintf(reason, sizeof(reason), "incident %" PRIu64 " (%s)", id, rule);
		if (run_start(e, b, id, 0, 0, NULL, actor, reason, err, sizeof(err)) ==
		    NULL) {
			log_warnx("playbook %s for incident %" PRIu64 " not started: %s",
			    b->pb->name, id, err);
			if (e->h->note != NULL) {
				snprintf(reason, sizeof(reason),
				    "playbook %s could not start: %.200s", b->pb->name,
				    err);
				e->h->note(e->arg, id, "playbook-failed", reason);
			}
		}
	}
}

int
pb_engine_run(struct pb_engine *e, const char *name, uint64_t incident, int drill,
    const struct conf_strings *sets, const char *actor, const char *reason, uint64_t *run,
    char *err, size_t errlen)
{
	struct book *b = book_named(e, name);
	struct active *a;
	json_t *inc;

	if (b == NULL) {
		snprintf(
		    err, errlen, "no playbook \"%s\" (sonae playbooks lists them)", name);
		return -1;
	}
	if (incident != 0) {
		if (e->h->incident == NULL ||
		    (inc = e->h->incident(e->arg, incident)) == NULL) {
			snprintf(err, errlen, "no incident %" PRIu64, incident);
			return -1;
		}
		json_decref(inc);
		if (!drill && (a = running_for(e, name, incident)) != NULL) {
			/* Never twice at once; the request is recorded all the same. */
			runlog(
			    a, actor, "retrigger", "sonae run asked again: %s", reason);
			checkpoint(a);
			journal(e, actor, "playbook.retrigger",
			    json_pack("{s:s, s:I, s:I, s:s}", "playbook", name,
			        "incident", (json_int_t)incident, "run",
			        (json_int_t)a->r->id, "reason", reason));
			snprintf(err, errlen,
			    "%s already runs for incident %" PRIu64 " as run %" PRIu64
			    " (your request is in its log)",
			    name, incident, a->r->id);
			return -1;
		}
	}
	if ((a = run_start(e, b, incident, drill, 0, sets, actor, reason, err, errlen)) ==
	    NULL)
		return -1;
	*run = a->r->id;
	return 0;
}

int
pb_act_start_child(
    struct pb_act *x, const char *playbook, uint64_t *run, char *err, size_t errlen)
{
	struct pb_engine *e = x->e;
	struct book *b = book_named(e, playbook);
	struct active *a;
	char reason[256];

	if (b == NULL) {
		snprintf(err, errlen, "no playbook \"%s\"", playbook);
		return -1;
	}
	snprintf(reason, sizeof(reason), "handed over by run %" PRIu64 " (%s), step %s",
	    x->a->r->id, x->a->r->playbook, x->step->id);
	/*
	 * Requested by whoever requested the parent (the reason says it was
	 * handed over): approver_differs in the child must still keep that
	 * person from approving, and the child's programs and mode changes
	 * act for them.
	 */
	if ((a = run_start(e, b, x->a->r->incident, x->a->r->drill, x->a->r->id, NULL,
	         x->a->r->requested_by, reason, err, errlen)) == NULL)
		return -1;
	*run = a->r->id;
	return 0;
}

uint64_t
pb_engine_child_of(struct pb_engine *e, uint64_t parent, const char *playbook,
    int64_t since_ms, int *state)
{
	struct active *a;

	TAILQ_FOREACH_REVERSE(a, &e->runs, activelist, entry)
	if (a->r->parent == parent && strcmp(a->r->playbook, playbook) == 0 &&
	    a->r->started_ms >= since_ms) {
		*state = (int)a->r->state;
		return a->r->id;
	}
	return 0;
}

static const char *const answers[] = { "no", "yes", "retry" };

/*
 * An accepted answer ends the human step under way: "yes" done, "no"
 * failed.  `sonae confirm` and a mode's pre-approval (pb_act_answer()) both
 * come here, so both are journaled and recorded alike.
 */
static void
act_answered(struct pb_act *x, enum pb_answer ans, const char *actor, const char *text)
{
	/* The answer first, then the step's outcome it causes, in the journal too. */
	journal(x->e, actor, "playbook.confirm",
	    json_pack("{s:I, s:s, s:s, s:s}", "run", (json_int_t)x->a->r->id, "step",
	        x->sr->id, "answer", answers[ans], "text", text));
	pb_act_set_actor(x, actor);
	if (x->ops->cancel != NULL)
		x->ops->cancel(x); /* a wait's own timer */
	pb_act_done(x, ans == PB_YES, "%s: %s", answers[ans], text);
}

/* A step type answers its own human step (a mode's pre-approval). */
void
pb_act_answer(struct pb_act *x, enum pb_answer ans, const char *actor, const char *text)
{
	act_answered(x, ans, actor, text);
}

/* An answer refused: journaled and in the run's log, like every answer. */
static int
confirm_refused(struct active *a, const char *actor, const char *step, enum pb_answer ans,
    const char *why)
{
	journal(a->e, actor, "playbook.confirm-refused",
	    json_pack("{s:I, s:s, s:s, s:s}", "run", (json_int_t)a->r->id, "step", step,
	        "answer", answers[ans], "why", why));
	runlog(a, actor, "confirm-refused", "%s: %s", step, why);
	checkpoint(a);
	return -1;
}

int
pb_engine_confirm(struct pb_engine *e, uint64_t run, const char *step, enum pb_answer ans,
    const char *actor, int is_operator, const char *text, char *err, size_t errlen)
{
	struct active *a = active_find(e, run);
	struct pb_step_run *sr;

	if (a == NULL) {
		snprintf(err, errlen, "no run %" PRIu64, run);
		return -1;
	}
	if (a->r->state != PBR_RUNNING) {
		snprintf(err, errlen, "run %" PRIu64 " is %s", run,
		    pb_run_state_name(a->r->state));
		return -1;
	}
	if ((sr = pb_run_step(a->r, step)) == NULL) {
		snprintf(err, errlen, "run %" PRIu64 " (%s) has no step \"%s\"", run,
		    a->r->playbook, step);
		return -1;
	}
	if (sr->state == PBS_UNKNOWN) {
		const struct pb_step *st = playbook_step_named(a->b->pb, step);
		if (!is_operator) {
			snprintf(
			    err, errlen, "only operators say what happened to a step");
			return confirm_refused(a, actor, step, ans, err);
		}
		if (ans == PB_RETRY && step_program_alive(sr)) {
			snprintf(err, errlen,
			    "step %s's program from before the restart still runs as "
			    "process "
			    "group %lld: let it end or stop it (kill -TERM -%lld), then "
			    "--retry; or say what it did with --no or without either",
			    step, (long long)sr->pid, (long long)sr->pid);
			return confirm_refused(a, actor, step, ans, err);
		}
		free(sr->actor);
		sr->actor = xstrdup(actor);
		journal(e, actor, "playbook.confirm",
		    json_pack("{s:I, s:s, s:s, s:s}", "run", (json_int_t)run, "step",
		        step, "answer", answers[ans], "text", text));
		if (ans == PB_RETRY) {
			sr->state = PBS_PENDING;
			runlog(a, actor, "step-retry", "%s: run again: %s", step, text);
			a->r->current = (size_t)(sr - a->r->steps);
			checkpoint(a);
			kick(a);
			return 0;
		}
		step_ended(a, sr, st, ans == PB_YES,
		    ans == PB_YES ? "it happened (said after a restart)"
		                  : "it did not happen (said after a restart)");
		return 0;
	}
	if (ans == PB_RETRY) {
		snprintf(err, errlen,
		    "--retry is for a step interrupted by a restart; %s is %s", step,
		    pb_step_state_name(sr->state));
		return -1;
	}
	/* A human step waits; a wait may be ended by an operator who knows better. */
	if ((sr->state != PBS_WAITING && !(sr->state == PBS_RUNNING && a->act != NULL &&
	                                     a->act->step->type == PB_WAIT)) ||
	    a->act == NULL || a->act->sr != sr || a->act->ops->answer == NULL) {
		snprintf(err, errlen,
		    "step %s of run %" PRIu64 " waits for nobody (it is %s)", step, run,
		    pb_step_state_name(sr->state));
		return -1;
	}
	if (a->act->ops->answer(a->act, ans, actor, is_operator, text, err, errlen) ==
	    -1) {
		return confirm_refused(a, actor, step, ans, err);
	}
	act_answered(a->act, ans, actor, text);
	return 0;
}

static void
abort_run(struct active *a, const char *actor, const char *text)
{
	struct active *c;

	if (a->act != NULL) {
		struct pb_step_run *sr = a->act->sr;
		act_cancel(a->act);
		sr->state = PBS_FAILED;
		sr->ended_ms = time_now_ms();
		free(sr->result);
		xasprintf(&sr->result, "stopped: the run was aborted by %s", actor);
	}
	evtimer_del(a->wake);
	TAILQ_FOREACH(c, &a->e->runs, entry)
	if (c->r->parent == a->r->id && c->r->state == PBR_RUNNING)
		abort_run(c, actor, text);
	run_end(a, PBR_ABORTED, actor, text);
}

int
pb_engine_abort(struct pb_engine *e, uint64_t run, const char *actor, const char *text,
    char *err, size_t errlen)
{
	struct active *a = active_find(e, run);

	if (a == NULL) {
		snprintf(err, errlen, "no run %" PRIu64, run);
		return -1;
	}
	if (a->r->state != PBR_RUNNING) {
		snprintf(err, errlen, "run %" PRIu64 " is already %s", run,
		    pb_run_state_name(a->r->state));
		return -1;
	}
	journal(e, actor, "playbook.abort",
	    json_pack("{s:I, s:s, s:s}", "run", (json_int_t)run, "playbook",
	        a->r->playbook, "text", text));
	abort_run(a, actor, text);
	return 0;
}

/* JSON for the CLI (docs/cli.md). */

static json_t *
time_json(int64_t ms)
{
	char ts[64];

	return ms > 0 ? json_string(time_format(ms, ts, sizeof(ts))) : json_null();
}

static const struct playbook *
run_playbook(const struct pb_engine *e, const struct active *a)
{
	struct book *b;

	if (a->b != NULL)
		return a->b->pb;
	TAILQ_FOREACH(b, &e->books, entry)
	if (b->current && strcmp(b->pb->name, a->r->playbook) == 0)
		return b->pb;
	return NULL;
}

/* The step of the run's playbook for record i, if the playbook still matches. */
static const struct pb_step *
record_step(const struct playbook *pb, const struct pb_run *r, size_t i)
{
	const struct pb_step *st;

	if (pb == NULL || i >= pb->steps.n)
		return NULL;
	st = playbook_step(pb, i);
	return strcmp(st->id, r->steps[i].id) == 0 ? st : NULL;
}

/* A string of the step expanded for this run, or as written if it cannot be. */
static json_t *
expanded(struct pb_engine *e, const struct active *a, const struct playbook *pb,
    json_t **incident, const char *text)
{
	struct lookup l = { e, a->r, incident, NULL };
	char idbuf[LOOKUP_BUF], err[128], *out;
	json_t *v;

	if (text == NULL)
		return json_null();
	l.idbuf = idbuf;
	if (pb_expand(pb, text, lookup_fn, &l, &out, err, sizeof(err)) == -1)
		return json_string(text);
	v = json_string(out);
	free(out);
	return v;
}

/* Who may answer: a confirm's `who`; the operators otherwise (an unknown step). */
static json_t *
who_json(const struct pb_step *st)
{
	if (st != NULL && st->type == PB_CONFIRM && st->who.n > 0)
		return conf_strings_json(&st->who);
	return json_pack("[s]", "operators");
}

static json_t *
run_summary(struct pb_engine *e, const struct active *a, json_t **incident)
{
	const struct pb_run *r = a->r;
	const struct playbook *pb = run_playbook(e, a);
	json_t *o = json_object(), *waiting = json_array(), *step = json_null();
	size_t i, done = 0, failed = 0, skipped = 0, pending = 0;

	json_object_set_new(o, "id", json_integer((json_int_t)r->id));
	json_object_set_new(o, "playbook", json_string(r->playbook));
	json_object_set_new(o, "title_ja", pb ? json_string(pb->title_ja) : json_null());
	json_object_set_new(o, "title_en", pb ? json_string(pb->title_en) : json_null());
	json_object_set_new(o, "incident",
	    r->incident ? json_integer((json_int_t)r->incident) : json_null());
	json_object_set_new(o, "drill", json_boolean(r->drill));
	json_object_set_new(o, "state", json_string(pb_run_state_name(r->state)));
	json_object_set_new(o, "requested_by", json_string(r->requested_by));
	json_object_set_new(o, "reason", json_string(r->reason));
	json_object_set_new(o, "started", time_json(r->started_ms));
	json_object_set_new(o, "ended", time_json(r->ended_ms));
	json_object_set_new(
	    o, "parent", r->parent ? json_integer((json_int_t)r->parent) : json_null());
	for (i = 0; i < r->nsteps; i++) {
		const struct pb_step_run *sr = &r->steps[i];
		const struct pb_step *st = record_step(pb, r, i);
		switch (sr->state) {
		case PBS_DONE:
			done++;
			break;
		case PBS_FAILED:
			failed++;
			break;
		case PBS_SKIPPED:
			skipped++;
			break;
		case PBS_PENDING:
			pending++;
			break;
		default:
			break;
		}
		if (r->state == PBR_RUNNING &&
		    ((sr->state == PBS_WAITING && st != NULL && st->type == PB_CONFIRM) ||
		        sr->state == PBS_UNKNOWN)) {
			json_t *w = json_object();
			json_object_set_new(w, "id", json_string(sr->id));
			json_object_set_new(
			    w, "title", st ? json_string(st->title) : json_null());
			json_object_set_new(w, "question",
			    st && st->type == PB_CONFIRM
			        ? expanded(e, a, pb, incident, st->question)
			        : json_null());
			json_object_set_new(w, "who", who_json(st));
			json_object_set_new(w, "since", time_json(sr->started_ms));
			json_object_set_new(w, "deadline",
			    st && st->timeout_ms > 0 && sr->state == PBS_WAITING
			        ? time_json(sr->started_ms + st->timeout_ms)
			        : json_null());
			json_object_set_new(w, "default",
			    st && st->default_answer >= 0 && sr->state == PBS_WAITING
			        ? json_string(st->default_answer ? "yes" : "no")
			        : json_null());
			json_object_set_new(
			    w, "unknown", json_boolean(sr->state == PBS_UNKNOWN));
			json_array_append_new(waiting, w);
		}
	}
	if (r->state == PBR_RUNNING && r->current < r->nsteps) {
		const struct pb_step *st = record_step(pb, r, r->current);
		step = json_pack("{s:s, s:o, s:o, s:s}", "id", r->steps[r->current].id,
		    "title", st ? json_string(st->title) : json_null(), "type",
		    st ? json_string(pb_step_types[st->type]) : json_null(), "state",
		    pb_step_state_name(r->steps[r->current].state));
	}
	json_object_set_new(o, "step", step);
	json_object_set_new(o, "waiting", waiting);
	json_object_set_new(o, "progress",
	    json_pack("{s:i, s:i, s:i, s:i, s:i}", "total", (int)r->nsteps, "done",
	        (int)done, "failed", (int)failed, "skipped", (int)skipped, "pending",
	        (int)pending));
	return o;
}

json_t *
pb_engine_run_json(struct pb_engine *e, uint64_t run)
{
	struct active *a = active_find(e, run);
	const struct playbook *pb;
	json_t *incident = NULL, *o, *steps, *log, *l;
	size_t i;

	if (a == NULL)
		return NULL;
	pb = run_playbook(e, a);
	o = run_summary(e, a, &incident);
	steps = json_array();
	for (i = 0; i < a->r->nsteps; i++) {
		const struct pb_step_run *sr = &a->r->steps[i];
		const struct pb_step *st = record_step(pb, a->r, i);
		json_t *s = json_object();
		json_object_set_new(s, "id", json_string(sr->id));
		json_object_set_new(
		    s, "title", st ? json_string(st->title) : json_null());
		json_object_set_new(
		    s, "type", st ? json_string(pb_step_types[st->type]) : json_null());
		json_object_set_new(
		    s, "state", json_string(pb_step_state_name(sr->state)));
		json_object_set_new(
		    s, "destructive", json_boolean(st && st->destructive));
		json_object_set_new(s, "would_run", json_boolean(sr->would_run));
		json_object_set_new(s, "attempts", json_integer(sr->attempts));
		json_object_set_new(s, "started", time_json(sr->started_ms));
		json_object_set_new(s, "ended", time_json(sr->ended_ms));
		json_object_set_new(s, "started_ms",
		    sr->started_ms ? json_integer((json_int_t)sr->started_ms)
		                   : json_null());
		json_object_set_new(s, "ended_ms",
		    sr->ended_ms ? json_integer((json_int_t)sr->ended_ms) : json_null());
		json_object_set_new(s, "duration_ms",
		    sr->started_ms && sr->ended_ms
		        ? json_integer((json_int_t)(sr->ended_ms - sr->started_ms))
		        : json_null());
		json_object_set_new(
		    s, "result", sr->result ? json_string(sr->result) : json_null());
		json_object_set_new(
		    s, "actor", sr->actor ? json_string(sr->actor) : json_null());
		json_object_set_new(
		    s, "output", sr->output ? json_string(sr->output) : json_null());
		json_object_set_new(s, "question",
		    st && st->type == PB_CONFIRM
		        ? expanded(e, a, pb, &incident, st->question)
		        : json_null());
		json_object_set_new(
		    s, "who", st && st->type == PB_CONFIRM ? who_json(st) : json_null());
		json_object_set_new(s, "deadline",
		    st && st->timeout_ms > 0 && sr->started_ms &&
		            (sr->state == PBS_RUNNING || sr->state == PBS_WAITING)
		        ? time_json(sr->started_ms + st->timeout_ms)
		        : json_null());
		json_array_append_new(steps, s);
	}
	json_object_set_new(o, "steps", steps);
	log = json_array();
	json_array_foreach(a->r->log, i, l)
	{
		json_array_append_new(log,
		    json_pack("{s:o, s:O, s:O, s:O}", "time",
		        time_json(
		            (int64_t)json_integer_value(json_object_get(l, "time_ms"))),
		        "actor", json_object_get(l, "actor"), "event",
		        json_object_get(l, "event"), "text", json_object_get(l, "text")));
	}
	json_object_set_new(o, "log", log);
	json_object_set_new(o, "params", json_deep_copy(a->r->params));
	json_decref(incident);
	return o;
}

json_t *
pb_engine_runs_json(struct pb_engine *e, int all)
{
	json_t *list = json_array(), *incident;
	int64_t since = time_now_ms() - RECENT_MS;
	struct active *a;

	TAILQ_FOREACH_REVERSE(a, &e->runs, activelist, entry)
	{
		if (!all && a->r->state != PBR_RUNNING && a->r->ended_ms < since)
			continue;
		incident = NULL;
		json_array_append_new(list, run_summary(e, a, &incident));
		json_decref(incident);
	}
	return json_pack("{s:o}", "runs", list);
}

json_t *
pb_engine_incident_runs(struct pb_engine *e, uint64_t id)
{
	json_t *list = json_array(), *incident = NULL;
	struct active *a;

	TAILQ_FOREACH(a, &e->runs, entry)
	if (a->r->incident == id && !a->r->drill)
		json_array_append_new(list, run_summary(e, a, &incident));
	json_decref(incident);
	if (json_array_size(list) == 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o}", "runs", list);
}

static json_t *
last_of(struct pb_engine *e, const char *name, int drill)
{
	struct active *a;
	json_t *incident = NULL, *o;

	TAILQ_FOREACH_REVERSE(a, &e->runs, activelist, entry)
	if (a->r->drill == drill && strcmp(a->r->playbook, name) == 0) {
		o = run_summary(e, a, &incident);
		json_decref(incident);
		return o;
	}
	return json_null();
}

json_t *
pb_engine_playbooks_json(struct pb_engine *e)
{
	json_t *list = json_array();
	struct book *b;
	size_t i;

	TAILQ_FOREACH(b, &e->books, entry)
	{
		const struct playbook *pb = b->pb;
		json_t *running = json_array();
		struct active *a;
		int destructive = 0;
		if (!b->current)
			continue;
		for (i = 0; i < pb->steps.n; i++)
			destructive |= playbook_step(pb, i)->destructive;
		TAILQ_FOREACH(a, &e->runs, entry)
		if (a->r->state == PBR_RUNNING && strcmp(a->r->playbook, pb->name) == 0)
			json_array_append_new(
			    running, json_integer((json_int_t)a->r->id));
		json_array_append_new(list,
		    json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:i, s:b, s:o, s:o, s:o}",
		        "name", pb->name, "title_ja", pb->title_ja, "title_en",
		        pb->title_en, "description",
		        pb->description ? json_string(pb->description) : json_null(),
		        "file", pb->origin.file, "triggers",
		        conf_strings_json(&pb->triggers), "steps", (int)pb->steps.n,
		        "destructive", destructive, "running", running, "last_run",
		        last_of(e, pb->name, 0), "last_drill", last_of(e, pb->name, 1)));
	}
	return json_pack("{s:o}", "playbooks", list);
}

json_t *
pb_engine_playbook_json(struct pb_engine *e, const char *name)
{
	struct book *b = book_named(e, name);
	json_t *o, *params, *p, *runs, *by, *incident = NULL;
	struct active *a;
	size_t i, n = 0;

	if (b == NULL)
		return NULL;
	o = playbook_json(b->pb);
	params = json_object_get(o, "parameters");
	json_array_foreach(params, i, p)
	{
		const char *pn = json_string_value(json_object_get(p, "name"));
		const char *v =
		    e->conf != NULL ? pb_site_value(e->conf, b->pb, pn) : NULL;
		const struct pb_param *pp = playbook_param_named(b->pb, pn);
		json_object_set_new(p, "value", v ? json_string(v) : json_null());
		json_object_set_new(p, "source",
		    v == NULL                    ? json_null()
		    : pp != NULL && pp->def == v ? json_string("default")
		                                 : json_string("site"));
	}
	by = json_array();
	for (i = 0; e->conf != NULL && i < e->conf->rules.n; i++) {
		const struct rule_conf *rc = conf_rule(e->conf, i);
		if (rc->k.playbook != NULL && strcmp(rc->k.playbook, name) == 0)
			json_array_append_new(by, json_string(rc->k.name));
	}
	for (i = 0; e->conf != NULL && i < e->conf->checks.n; i++) {
		const struct check_entry *ce = conf_check(e->conf, i);
		if (ce->k.playbook != NULL && strcmp(ce->k.playbook, name) == 0)
			json_array_append_new(by, json_string(ce->k.name));
	}
	json_object_set_new(o, "triggered_by", by);
	runs = json_array();
	TAILQ_FOREACH_REVERSE(a, &e->runs, activelist, entry)
	if (strcmp(a->r->playbook, name) == 0 && n++ < PLAYBOOK_RUNS)
		json_array_append_new(runs, run_summary(e, a, &incident));
	json_decref(incident);
	json_object_set_new(o, "runs", runs);
	return o;
}

json_t *
pb_engine_status_json(struct pb_engine *e)
{
	struct active *a;
	size_t running = 0, waiting = 0, drills = 0, i;

	TAILQ_FOREACH(a, &e->runs, entry)
	{
		if (a->r->state != PBR_RUNNING)
			continue;
		running++;
		drills += a->r->drill != 0;
		for (i = 0; i < a->r->nsteps; i++) {
			const struct pb_step *st =
			    record_step(a->b ? a->b->pb : NULL, a->r, i);
			waiting += (a->r->steps[i].state == PBS_WAITING && st != NULL &&
			               st->type == PB_CONFIRM) ||
			           a->r->steps[i].state == PBS_UNKNOWN;
		}
	}
	return json_pack("{s:i, s:i, s:i}", "running", (int)running, "waiting",
	    (int)waiting, "drills", (int)drills);
}
