/*
 * run-playbook: hand over to another playbook.  A run of it starts for the
 * same incident (a drill's is a drill too) and this step ends when that run
 * does, with its outcome.  Taken up again after a restart, the step finds
 * the run it started (by its start time, which a waiting step keeps)
 * instead of starting a second one.
 */
#include <inttypes.h>

#include "playbooks/step.h"

static void
run_playbook_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	const struct pb_run *r = pb_act_run(x);
	const struct pb_step_run *sr = pb_act_record(x);
	uint64_t child;
	char err[512];
	int state;

	child = pb_engine_child_of(
	    pb_act_engine(x), r->id, st->playbook, sr->started_ms, &state);
	if (child != 0 && state != PBR_RUNNING) {
		pb_act_done(x, state == PBR_DONE, "run %" PRIu64 " of %s %s", child,
		    st->playbook, pb_run_state_name((enum pb_run_state)state));
		return;
	}
	if (child == 0 &&
	    pb_act_start_child(x, st->playbook, &child, err, sizeof(err)) == -1) {
		pb_act_done(x, 0, "%s", err);
		return;
	}
	pb_act_set_child(x, child);
	pb_act_log(
	    x, "handover", "%s: run %" PRIu64 " of %s", st->id, child, st->playbook);
	/*
	 * Waiting, not running: a restart takes the step up again as it is
	 * (its start time kept), and it then finds the run it started.
	 */
	pb_act_wait(x);
}

const struct pb_step_ops pb_run_playbook_ops = {
	.start = run_playbook_start,
};
