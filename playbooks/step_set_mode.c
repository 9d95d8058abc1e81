/*
 * set-mode: enter an operating mode (earthquake: "disaster").  The modes
 * and what they change are the roster's (docs/alerts.md `modes`); a drill
 * records the change and makes none.
 */
#include "playbooks/step.h"

static void
set_mode_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	const struct pb_run *r = pb_act_run(x);
	const struct pb_hooks *h = pb_act_hooks(x);
	char err[512], why[256];

	if (h->set_mode == NULL) {
		pb_act_done(x, 0, "operating modes are not available");
		return;
	}
	snprintf(why, sizeof(why), "playbook %s (run %llu), step %s", r->playbook,
	    (unsigned long long)r->id, st->id);
	if (h->set_mode(
	        pb_act_arg(x), st->mode, r->requested_by, why, err, sizeof(err)) == -1) {
		pb_act_done(x, 0, "mode %s: %s", st->mode, err);
		return;
	}
	pb_act_done(x, 1, "operating mode is now %s", st->mode);
}

static int
set_mode_would(struct pb_act *x, char *buf, size_t len)
{
	snprintf(buf, len, "set the operating mode to %s", pb_act_step(x)->mode);
	return 0;
}

const struct pb_step_ops pb_set_mode_ops = {
	.start = set_mode_start,
	.would = set_mode_would,
};
