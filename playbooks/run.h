/*
 * sonae playbooks: the record of one run, and its checkpoint on disk.
 *
 * A run is a playbook started for a reason (an incident, an operator, a
 * drill).  Its record holds, per step, what happened; it is written to
 * state_dir/runs/RUN.json atomically (temporary file, fsync, rename, fsync of
 * the folder) before and after every step, so after a crash the run goes on
 * where it was.  This file knows steps only by their ids: which steps are
 * idempotent is asked of the caller (the engine, which has the playbook).
 */
#ifndef SONAE_PLAYBOOKS_RUN_H
#define SONAE_PLAYBOOKS_RUN_H

#include <stdint.h>

#include <jansson.h>

enum pb_step_state {
	PBS_PENDING, /* not started */
	PBS_RUNNING, /* started, no outcome yet */
	PBS_WAITING, /* a human step waits for its answer */
	PBS_DONE,    /* finished well */
	PBS_FAILED,  /* finished badly (its on_failure decided what next) */
	PBS_SKIPPED, /* its `when` did not hold, or a goto passed it */
	PBS_UNKNOWN, /* was running when sonaed died and may not be run again:
	                an operator must say what happened */
};

enum pb_run_state {
	PBR_RUNNING,
	PBR_DONE,
	PBR_FAILED,
	PBR_ABORTED,
};

struct pb_step_run {
	char *id;
	enum pb_step_state state;
	int attempts;
	int64_t started_ms, ended_ms; /* 0: not yet */
	char *result;                 /* one line: exit status, answer, why */
	char *actor;                  /* who answered a human step, or NULL */
	char *output;                 /* what a program printed (capped), or NULL */
	int would_run;                /* a drill recorded it instead of running it */
	/*
	 * The program under way (exec): its process group, and its start time
	 * in clock ticks after boot (/proc/PID/stat), which tells it from a
	 * later process that got the same number.  0: none.
	 */
	int64_t pid, pid_start;
};

struct pb_run {
	uint64_t id;
	char *playbook;
	uint64_t incident; /* 0: started by hand without an incident */
	uint64_t parent;   /* the run whose run-playbook step started it, or 0 */
	int drill;         /* 1: nothing destructive runs */
	char *requested_by, *reason;
	int64_t started_ms, ended_ms;
	enum pb_run_state state;
	size_t current; /* index of the step under way or next */
	struct pb_step_run *steps;
	size_t nsteps;
	json_t *params; /* {name: value}: the values this run was started with */
	json_t *log;    /* [{time_ms, actor, event, text}] */
};

const char *pb_step_state_name(enum pb_step_state);
const char *pb_run_state_name(enum pb_run_state);

/* A new run of the steps named ids[0..n-1], all pending. */
struct pb_run *pb_run_new(uint64_t id, const char *playbook, const char *const *ids,
    size_t n, uint64_t incident, int drill, const char *requested_by, const char *reason,
    int64_t now_ms);
void pb_run_free(struct pb_run *);
/* A line in the run's log. */
void pb_run_note(struct pb_run *, int64_t now_ms, const char *actor, const char *event,
    const char *text);
/* The step of that id, or NULL. */
struct pb_step_run *pb_run_step(struct pb_run *, const char *id);

json_t *pb_run_json(const struct pb_run *);
/* From pb_run_json()'s form; NULL with why in err. */
struct pb_run *pb_run_from_json(const json_t *, char *err, size_t errlen);

/*
 * state_dir/runs/RUN.json: the checkpoint.  pb_run_save() returns 0 once the
 * record is on disk (fsynced, renamed, folder fsynced), or -1 with why.
 */
int pb_run_save(const char *state_dir, const struct pb_run *, char *err, size_t errlen);
/*
 * Every run in state_dir/runs, by id.  A file that cannot be read is set
 * aside as RUN.json.damaged-MS and named in *problems (a JSON array of
 * strings, the caller's), never silently dropped.  0, or -1 when the folder
 * cannot be read.
 */
int pb_run_load_all(const char *state_dir, struct pb_run ***runs, size_t *n,
    json_t **problems, char *err, size_t errlen);

/*
 * After a restart: a running run's steps that were under way are made
 * pending again when idempotent(arg, step id) says they may run twice, and
 * UNKNOWN otherwise (an operator confirms what happened).  Returns how many
 * became UNKNOWN.  Each change is noted in the run's log.
 */
size_t pb_run_recover(struct pb_run *, int64_t now_ms,
    int (*idempotent)(void *arg, const char *step_id), void *arg);

#endif
