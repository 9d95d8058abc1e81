/*
 * shutdown-tier: the hosts of one tier shut down by command, then each
 * checked until it is confirmed down, all before the deadline.
 *
 * Every host's `command` starts at once (a tier is hosts of equal standing;
 * the order between tiers is the playbook's order of steps).  Whatever the
 * command says, the host is then checked every CHECK_EVERY_MS with `check`,
 * which exits 0 once the host is down: a command that failed may still
 * have worked, and one that succeeded proves nothing until the host stops
 * answering.  The step is done when every host is confirmed down, and
 * fails at the deadline naming those that are not.  Each confirmation and
 * its time is in the run's log, for the after-action review.
 *
 * Programs outlive the step if it ends first (deadline, abort): they are
 * stopped (their groups killed) and the tier is freed when the last one
 * is reaped.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "alerts/alert.h"
#include "playbooks/step.h"

#define CHECK_EVERY_MS 1000
#define COMMAND_MAX_MS 60000 /* one command, one check at most */

enum host_phase { H_COMMAND, H_IDLE, H_CHECKING, H_DOWN };

struct tier;

struct host {
	struct tier *t;
	char *name;
	char **command, **check;
	enum host_phase phase;
	int busy; /* a program of this host runs */
	int64_t down_ms;
};

struct tier {
	struct pb_act *x; /* NULL: over, the programs are only awaited */
	struct host *h;
	size_t n, busy, down;
	struct event *tick, *deadline;
	int64_t started; /* mono ms */
};

static void
tier_free(struct tier *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->h[i].name);
		pb_argv_free(t->h[i].command);
		pb_argv_free(t->h[i].check);
	}
	free(t->h);
	if (t->tick != NULL)
		event_free(t->tick);
	if (t->deadline != NULL)
		event_free(t->deadline);
	free(t);
}

/* The step is over (or cancelled): stop what still runs, free when reaped. */
static void
tier_release(struct tier *t)
{
	size_t i;

	if (t->x != NULL)
		*pb_act_data(t->x) = NULL;
	t->x = NULL;
	evtimer_del(t->tick);
	evtimer_del(t->deadline);
	for (i = 0; i < t->n; i++)
		if (t->h[i].busy)
			child_stop(&t->h[i]);
	if (t->busy == 0)
		tier_free(t);
}

static void
seconds(int64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
}

static void host_done(void *arg, const struct child_result *res);

static int
host_spawn(struct host *hs, char **argv, int64_t timeout_ms)
{
	struct tier *t = hs->t;
	struct child_opts o;
	char err[512], **env = pb_act_env(t->x);
	int rc;

	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)argv;
	o.env = (const char *const *)env;
	o.timeout_ms =
	    timeout_ms > 0 && timeout_ms < COMMAND_MAX_MS ? timeout_ms : COMMAND_MAX_MS;
	o.output_max = 4096;
	rc = child_run(pb_act_base(t->x), &o, host_done, hs, err, sizeof(err));
	pb_argv_free(env);
	if (rc == -1) {
		pb_act_log(t->x, "host", "%s: %s", hs->name, err);
		return -1;
	}
	hs->busy = 1;
	t->busy++;
	return 0;
}

static int64_t
left_ms(const struct tier *t)
{
	const struct pb_step *st = pb_act_step(t->x);

	return st->deadline_ms - (time_mono_ms() - t->started);
}

static void
tier_finish(struct tier *t)
{
	struct pb_act *x = t->x;
	char buf[1024], d[32];
	size_t i, n = 0;

	seconds(time_mono_ms() - t->started, d, sizeof(d));
	n = (size_t)snprintf(buf, sizeof(buf), "%zu of %zu host%s down in %s", t->down,
	    t->n, t->n == 1 ? "" : "s", d);
	for (i = 0; i < t->n && n < sizeof(buf); i++) {
		char hd[32];
		seconds(t->h[i].down_ms, hd, sizeof(hd));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %s (%s)",
		    i ? "," : ":", t->h[i].name, hd);
	}
	tier_release(t);
	pb_act_done(x, 1, "%s", buf);
}

static void
host_done(void *arg, const struct child_result *res)
{
	struct host *hs = arg;
	struct tier *t = hs->t;
	char d[32];

	hs->busy = 0;
	t->busy--;
	if (t->x == NULL) {
		if (t->busy == 0)
			tier_free(t);
		return;
	}
	if (hs->phase == H_COMMAND) {
		pb_act_log(
		    t->x, "host", "%s: shutdown command: %s", hs->name, res->reason);
		/* Look at once: a host that stops fast is not kept waiting a tick. */
		hs->phase =
		    host_spawn(hs, hs->check, left_ms(t)) == 0 ? H_CHECKING : H_IDLE;
		return;
	}
	/* A check. */
	if (!(res->exited && res->status == 0)) {
		hs->phase = H_IDLE;
		return;
	}
	hs->phase = H_DOWN;
	hs->down_ms = time_mono_ms() - t->started;
	t->down++;
	seconds(hs->down_ms, d, sizeof(d));
	pb_act_log(t->x, "host", "%s: confirmed down after %s", hs->name, d);
	if (t->down == t->n)
		tier_finish(t);
}

static void
tier_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct tier *t = arg;
	struct timeval tv = { CHECK_EVERY_MS / 1000, (CHECK_EVERY_MS % 1000) * 1000 };
	size_t i;

	(void)fd;
	(void)ev;
	for (i = 0; i < t->n; i++) {
		struct host *hs = &t->h[i];
		if (hs->phase != H_IDLE)
			continue;
		if (host_spawn(hs, hs->check, left_ms(t)) == 0)
			hs->phase = H_CHECKING;
	}
	evtimer_add(t->tick, &tv);
}

static void
tier_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct tier *t = arg;
	struct pb_act *x = t->x;
	char buf[1024], d[32];
	size_t i, n;

	(void)fd;
	(void)ev;
	duration_format(pb_act_step(x)->deadline_ms, d, sizeof(d));
	n = (size_t)snprintf(buf, sizeof(buf),
	    "deadline %s passed: %zu of %zu down; not "
	    "confirmed down:",
	    d, t->down, t->n);
	for (i = 0; i < t->n && n < sizeof(buf); i++)
		if (t->h[i].phase != H_DOWN)
			n += (size_t)snprintf(
			    buf + n, sizeof(buf) - n, " %s", t->h[i].name);
	tier_release(t);
	pb_act_done(x, 0, "%s", buf);
}

/* Every host's strings expanded: 0, or -1 with why in err. */
static int
tier_expand(struct pb_act *x, struct tier *t, char *err, size_t errlen)
{
	const struct pb_step *st = pb_act_step(x);
	size_t i;

	t->n = st->hosts.n;
	t->h = xcalloc(t->n, sizeof(*t->h));
	for (i = 0; i < t->n; i++) {
		const struct pb_host *ph = (const struct pb_host *)st->hosts.items + i;
		struct host *hs = &t->h[i];
		hs->t = t;
		if (pb_act_expand(x, ph->name, &hs->name, err, errlen) == -1 ||
		    (hs->command = pb_act_expand_list(x, &ph->command, err, errlen)) ==
		        NULL ||
		    (hs->check = pb_act_expand_list(x, &ph->check, err, errlen)) == NULL)
			return -1;
	}
	return 0;
}

static void
tier_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	struct tier *t = xcalloc(1, sizeof(*t));
	struct timeval tv;
	char err[512];
	size_t i;

	t->x = x;
	t->started = time_mono_ms();
	if (tier_expand(x, t, err, sizeof(err)) == -1) {
		tier_free(t);
		pb_act_done(x, 0, "%s", err);
		return;
	}
	t->tick = evtimer_new(pb_act_base(x), tier_tick, t);
	t->deadline = evtimer_new(pb_act_base(x), tier_deadline, t);
	*pb_act_data(x) = t;
	tv.tv_sec = st->deadline_ms / 1000;
	tv.tv_usec = (st->deadline_ms % 1000) * 1000;
	event_base_update_cache_time(pb_act_base(x)); /* from now, not the turn's start */
	evtimer_add(t->deadline, &tv);
	for (i = 0; i < t->n; i++) {
		char line[1024];
		pb_act_log(x, "host", "%s: %s", t->h[i].name,
		    pb_argv_text(t->h[i].command, line, sizeof(line)));
		if (host_spawn(&t->h[i], t->h[i].command, st->deadline_ms) == -1)
			t->h[i].phase = H_IDLE; /* checked all the same */
	}
	tier_tick(-1, 0, t);
}

static void
tier_cancel(struct pb_act *x)
{
	struct tier *t = *pb_act_data(x);

	if (t != NULL)
		tier_release(t);
}

static int
tier_would(struct pb_act *x, char *buf, size_t len)
{
	struct tier *t = xcalloc(1, sizeof(*t));
	char err[512], line[1024];
	size_t i, n = 0;
	int rc = 0;

	t->x = x;
	if (tier_expand(x, t, err, sizeof(err)) == -1) {
		snprintf(buf, len, "%s", err);
		rc = -1;
	} else
		for (i = 0; i < t->n && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s%s: %s", i ? "; " : "",
			    t->h[i].name,
			    pb_argv_text(t->h[i].command, line, sizeof(line)));
	tier_free(t);
	return rc;
}

const struct pb_step_ops pb_shutdown_tier_ops = {
	.start = tier_start,
	.cancel = tier_cancel,
	.would = tier_would,
	.own_timeout = 1,
};
