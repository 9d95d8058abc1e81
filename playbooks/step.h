/*
 * sonae playbooks: the interface between the engine and the step types.
 *
 * Each step type is one file (step_exec.c, step_confirm.c, ...) that fills
 * a struct pb_step_ops.  The engine owns the run, the checkpoint, `when`,
 * retries, on_failure, drills and the step's timeout; a step type only does
 * its one thing and reports the outcome once, through pb_act_done(), either
 * before start() returns or later on the loop.
 */
#ifndef SONAE_PLAYBOOKS_STEP_H
#define SONAE_PLAYBOOKS_STEP_H

#include <stdarg.h>

#include "playbooks/engine.h"
#include "playbooks/playbook.h"
#include "playbooks/run.h"

/* A step under way: what a step type's functions receive. */
struct pb_act;

struct pb_step_ops {
	/*
	 * Begin.  The outcome comes through pb_act_done(), now or later;
	 * pb_act_wait() first for a step that waits for a human.
	 */
	void (*start)(struct pb_act *);
	/*
	 * Stop: the run was aborted or the engine is freed.  Release what the
	 * step holds; pb_act_done() must not follow.  NULL: nothing to release.
	 */
	void (*cancel)(struct pb_act *);
	/*
	 * The step's timeout passed.  NULL: the engine cancels it and fails it
	 * ("timed out after ..."); a confirm takes its default here instead.
	 */
	void (*timeout)(struct pb_act *);
	/*
	 * Whether this caller may give this answer (`sonae confirm`): 0, or -1
	 * with why.  The engine records an accepted answer and ends the step:
	 * "yes" done, "no" failed.
	 */
	int (*answer)(struct pb_act *, enum pb_answer, const char *actor, int is_operator,
	    const char *text, char *err, size_t errlen);
	/*
	 * Destructive types: what would run, exactly ("/usr/bin/ssh -o ...").
	 * A drill records it and runs nothing.  0, or -1 with why (a ${...}
	 * without a value).
	 */
	int (*would)(struct pb_act *, char *buf, size_t len);
	/* The step handles its own timeout (a program killed with its group). */
	int own_timeout;
};

extern const struct pb_step_ops pb_notify_ops, pb_exec_ops, pb_wait_ops, pb_confirm_ops,
    pb_set_mode_ops, pb_snmp_set_ops, pb_modbus_write_ops, pb_shutdown_tier_ops,
    pb_run_playbook_ops;

/* What a step type may ask of the act. */
const struct pb_step *pb_act_step(const struct pb_act *);
const struct pb_run *pb_act_run(const struct pb_act *);
/* The record of this step in the run. */
const struct pb_step_run *pb_act_record(const struct pb_act *);
struct event_base *pb_act_base(const struct pb_act *);
const struct pb_hooks *pb_act_hooks(const struct pb_act *);
void *pb_act_arg(const struct pb_act *);
const struct conf *pb_act_conf(const struct pb_act *);
struct pb_engine *pb_act_engine(const struct pb_act *);
/* Where the step type keeps its own state (freed by its cancel or before done). */
void **pb_act_data(struct pb_act *);

/* ${...} of text for this run: 0 and *out (caller frees), or -1 with why. */
int pb_act_expand(
    struct pb_act *, const char *text, char **out, char *err, size_t errlen);
/* Every string of list expanded, NULL-terminated (pb_argv_free): NULL with why. */
char **pb_act_expand_list(
    struct pb_act *, const struct conf_strings *, char *err, size_t errlen);
void pb_argv_free(char **);
/* argv as one line, for records and drills ("/bin/x 'a b'"). */
char *pb_argv_text(char *const *argv, char *buf, size_t len);
/* The environment a program gets: SONAE_RUN, SONAE_PLAYBOOK, ... (pb_argv_free). */
char **pb_act_env(struct pb_act *);

/* A line in the run's log (and nothing else). */
void pb_act_log(struct pb_act *, const char *event, const char *fmt, ...)
    PRINTFLIKE(3, 4);
/* What a program printed, kept with the step's record. */
void pb_act_output(struct pb_act *, const char *text, size_t len);
/* A human step now waits (the run's checklist shows it); checkpointed. */
void pb_act_wait(struct pb_act *);
/* The outcome, once: ok, and one line of result. */
void pb_act_done(struct pb_act *, int ok, const char *fmt, ...) PRINTFLIKE(3, 4);
/* The program a step runs (its process group): kept with the checkpoint. */
void pb_act_set_pid(struct pb_act *, long pid);
/* Who answered a human step. */
void pb_act_set_actor(struct pb_act *, const char *actor);
/*
 * Answer the human step under way as `sonae confirm` would once it is
 * accepted: journaled (playbook.confirm by actor), then ended.
 */
void pb_act_answer(struct pb_act *, enum pb_answer, const char *actor, const char *text);
/* run-playbook: start a run of playbook for this run (same incident, drill). */
int pb_act_start_child(
    struct pb_act *, const char *playbook, uint64_t *run, char *err, size_t errlen);
/* run-playbook: the act ends when run ends, with its outcome. */
void pb_act_set_child(struct pb_act *, uint64_t run);
/*
 * The newest run of playbook that run parent started at or after since_ms
 * (a run-playbook step taken up again after a restart): its id and *state
 * (enum pb_run_state), or 0.
 */
uint64_t pb_engine_child_of(struct pb_engine *, uint64_t parent, const char *playbook,
    int64_t since_ms, int *state);

#endif
