/*
 * wait: until an expression holds (for `for`, when given), or for a
 * duration.  The expression is evaluated once a second against the store,
 * as the rules see it; "unknown" (a device not answering) is not "holds".
 * The step's timeout fails it: the thing waited for did not happen.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "playbooks/step.h"

#define WAIT_TICK_MS 1000

struct wait {
	struct pb_act *x;
	struct event *tick;
	int64_t held_since; /* mono ms the expression began to hold; 0: not now */
	int64_t started;    /* mono ms */
};

static void
wait_free(struct pb_act *x)
{
	struct wait *w = *pb_act_data(x);

	if (w == NULL)
		return;
	event_free(w->tick);
	free(w);
	*pb_act_data(x) = NULL;
}

static void
arm(struct wait *w, int64_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	/* From now: the checkpoint before the step took part of this loop turn. */
	event_base_update_cache_time(event_get_base(w->tick));
	evtimer_add(w->tick, &tv);
}

static void
wait_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct wait *w = arg;
	struct pb_act *x = w->x;
	const struct pb_step *st = pb_act_step(x);
	const struct pb_hooks *h = pb_act_hooks(x);
	int64_t now = time_mono_ms();
	char why[256], d[32];
	int holds;

	(void)fd;
	(void)ev;
	if (st->until == NULL) {
		duration_format(st->for_ms, d, sizeof(d));
		wait_free(x);
		pb_act_done(x, 1, "waited %s", d);
		return;
	}
	holds =
	    h->eval != NULL && h->eval(pb_act_arg(x), st->until, why, sizeof(why)) == 1;
	if (!holds)
		w->held_since = 0;
	else if (w->held_since == 0)
		w->held_since = now;
	if (holds && now - w->held_since >= st->for_ms) {
		duration_format(now - w->started, d, sizeof(d));
		wait_free(x);
		pb_act_done(x, 1, "%s held (after %s)", st->until_text, d);
		return;
	}
	arm(w, WAIT_TICK_MS);
}

static void
wait_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	struct wait *w = xcalloc(1, sizeof(*w));

	w->x = x;
	w->started = time_mono_ms();
	w->tick = evtimer_new(pb_act_base(x), wait_tick, w);
	*pb_act_data(x) = w;
	if (st->until == NULL)
		arm(w, st->for_ms);
	else
		arm(w, 0); /* look now, on the loop */
}

static void
wait_timeout(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	char d[32];

	wait_free(x);
	duration_format(st->timeout_ms, d, sizeof(d));
	if (st->until != NULL)
		pb_act_done(x, 0, "%s did not hold within %s", st->until_text, d);
	else
		pb_act_done(x, 0, "timed out after %s", d);
}

/*
 * An operator may end a wait early (`sonae confirm RUN STEP -m TEXT`): the
 * building's facilities say mains is stable, the generator is on.  "yes"
 * ends it done, "--no" failed; both are journaled with who said so.
 */
static int
wait_answer(struct pb_act *x, enum pb_answer ans, const char *actor, int is_operator,
    const char *text, char *err, size_t errlen)
{
	(void)ans;
	(void)text;
	if (!is_operator) {
		snprintf(err, errlen, "%s may not end step %s: only operators end a wait",
		    actor, pb_act_step(x)->id);
		return -1;
	}
	return 0;
}

const struct pb_step_ops pb_wait_ops = {
	.start = wait_start,
	.cancel = wait_free,
	.timeout = wait_timeout,
	.answer = wait_answer,
};
