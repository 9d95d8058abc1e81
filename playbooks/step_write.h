/*
 * What snmp-set and modbus-write share: a write through the probes whose
 * answer (read back) may come after the run was aborted.
 */
#ifndef SONAE_PLAYBOOKS_STEP_WRITE_H
#define SONAE_PLAYBOOKS_STEP_WRITE_H

#include "playbooks/step.h"

struct pb_write {
	struct pb_act *x; /* NULL: cancelled, the answer is only awaited */
	char what[512];   /* "ups1 1.3.6.1... i 1", for the result */
};

struct pb_write *pb_write_new(struct pb_act *, const char *what);
/* The probes' done(): the outcome of the write, read back. */
void pb_write_done(void *arg, int ok, const char *reason);
/* The hook refused at once: the step fails with why. */
void pb_write_refused(struct pb_act *, struct pb_write *, const char *why);
void pb_write_cancel(struct pb_act *);

#endif
