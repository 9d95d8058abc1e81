/*
 * sonae playbooks: the engine that runs them (docs/playbooks.md).
 *
 * A run is a playbook started for a reason: an incident whose rule names it,
 * an operator (`sonae run`), a drill (`sonae drill`), or another playbook.
 * Steps run one after another on the daemon's loop; none blocks it.  The
 * run's record is written to state_dir/runs before and after every step
 * (run.h), so after a crash each run goes on where it was.  Human steps wait
 * for `sonae confirm`; their timeouts take the declared safe default.
 *
 * The engine knows the rest of the daemon only through the hooks below, so
 * the tests drive it with fakes and the daemon with the real layers.
 */
#ifndef SONAE_PLAYBOOKS_ENGINE_H
#define SONAE_PLAYBOOKS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "monitor/monitor.h"

/* How a human answers a step (`sonae confirm`). */
enum pb_answer {
	PB_NO,    /* --no: refused, or (an unknown step) it did not happen */
	PB_YES,   /* approved, done, or (an unknown step) it happened */
	PB_RETRY, /* --retry: an unknown step runs again */
};

/* A notify step's message, for the alert routes. */
struct pb_notice {
	uint64_t incident; /* 0: a run without one */
	const char *playbook;
	uint64_t run;
	const char *step_title;
	const char *text;
	int severity; /* CHECK_WARNING, CHECK_CRITICAL; 0: the incident's */
	const struct conf_strings *to; /* empty: the routes decide */
	int drill;                     /* only drill_to, subject marked */
	const struct conf_strings *drill_to;
	const char *actor;
};

struct pb_hooks {
	/* One incident in full (detect_incident_json()), or NULL. */
	json_t *(*incident)(void *arg, uint64_t id);
	/* Evaluate an expression now: 1 true, 0 false, -1 unknown (why in why). */
	int (*eval)(void *arg, const struct expr *, char *why, size_t len);
	/* A notify step: through the alert routes (alerts_notice()). */
	int (*notify)(void *arg, const struct pb_notice *, uint64_t *queued, char *result,
	    size_t len);
	/*
	 * Writes through the probes, read back: done(darg, ok, reason) follows
	 * exactly once on the loop unless they return -1.
	 */
	int (*snmp_set)(void *arg, const char *device, const char *oid, char type,
	    const char *value, void (*done)(void *, int, const char *), void *darg);
	int (*modbus_write)(void *arg, const char *device, const char *point,
	    double value, void (*done)(void *, int, const char *), void *darg);
	/* Enter an operating mode: 0, or -1 with why. */
	int (*set_mode)(void *arg, const char *mode, const char *actor, const char *why,
	    char *err, size_t len);
	/* The audit journal, and a line in an incident's timeline. */
	void (*journal)(void *arg, const char *actor, const char *event, json_t *data);
	void (*note)(void *arg, uint64_t id, const char *event, const char *text);
	/*
	 * Whether the current operating mode answers a confirm step yes on its
	 * own (modes[].preapproved matches "PLAYBOOK:STEP"): the mode's name,
	 * or NULL (a human must answer).  May be NULL.
	 */
	const char *(*preapproved)(void *arg, const char *playbook, const char *step);
};

struct pb_engine;

/* hooks must outlive the engine. */
struct pb_engine *pb_engine_new(struct event_base *, const struct pb_hooks *, void *arg);
/* Stops every step under way (their programs are killed) and frees all. */
void pb_engine_free(struct pb_engine *);
/*
 * The pause between two attempts of a failed step: 5 s unless set.  For the
 * tests (tests/check_pbengine.c), which cannot wait 5 s for every retry;
 * the daemon leaves it alone.  A negative ms restores the 5 s.
 */
void pb_engine_set_retry_delay(struct pb_engine *, int64_t ms);
/*
 * The site's configuration; the engine takes conf->playbooks.loaded (conf
 * keeps its other keys and must outlive its use).  Runs under way finish
 * with the playbook they started with.
 */
void pb_engine_configure(struct pb_engine *, struct conf *);
/* Load the runs of state_dir, recover what a crash interrupted, go on. */
int pb_engine_start(struct pb_engine *, const char *state_dir, char *err, size_t errlen);

/*
 * An incident opened (detect.c): the playbook its rule names, and every
 * playbook whose triggers match rule ("declared:KIND" for a declared one),
 * start -- unless one is already running for this incident (the re-trigger
 * is recorded).  actor: who opened it ("sonaed" or the declaring operator).
 * held: the maintenance window that holds them back (noted, not started),
 * or NULL.
 */
void pb_engine_incident(struct pb_engine *, uint64_t id, const char *rule,
    const char *playbook, const char *actor, const char *held);

/*
 * Start a run (`sonae run`, `sonae drill`): sets are "NAME=VALUE" for this
 * run.  0 and *run, or -1 with why.
 */
int pb_engine_run(struct pb_engine *, const char *name, uint64_t incident, int drill,
    const struct conf_strings *sets, const char *actor, const char *reason, uint64_t *run,
    char *err, size_t errlen);
/* `sonae confirm`: is_operator is the caller's membership of the operators. */
int pb_engine_confirm(struct pb_engine *, uint64_t run, const char *step, enum pb_answer,
    const char *actor, int is_operator, const char *text, char *err, size_t errlen);
/* `sonae abort`: the step under way is stopped (a program is killed). */
int pb_engine_abort(struct pb_engine *, uint64_t run, const char *actor, const char *text,
    char *err, size_t errlen);

/* The shapes of docs/cli.md (`playbooks`, `playbook`, `runs`, `run-status`). */
json_t *pb_engine_playbooks_json(struct pb_engine *);
json_t *pb_engine_playbook_json(struct pb_engine *, const char *name);
json_t *pb_engine_runs_json(struct pb_engine *, int all);
json_t *pb_engine_run_json(struct pb_engine *, uint64_t run);
/* {"runs": [summaries]} of one incident's runs, or NULL when it has none. */
json_t *pb_engine_incident_runs(struct pb_engine *, uint64_t incident);
/* {"running", "waiting", "drills"} for `sonae status`. */
json_t *pb_engine_status_json(struct pb_engine *);

#endif
