/* snmp-set and modbus-write: the shared half (step_write.h). */
#include <stdlib.h>

#include "playbooks/step_write.h"

struct pb_write *
pb_write_new(struct pb_act *x, const char *what)
{
	struct pb_write *w = xcalloc(1, sizeof(*w));

	w->x = x;
	snprintf(w->what, sizeof(w->what), "%s", what);
	*pb_act_data(x) = w;
	pb_act_log(x, "write", "%s: %s", pb_act_step(x)->id, what);
	return w;
}

void
pb_write_done(void *arg, int ok, const char *reason)
{
	struct pb_write *w = arg;
	struct pb_act *x = w->x;
	char what[sizeof(w->what)];

	snprintf(what, sizeof(what), "%s", w->what);
	free(w);
	if (x == NULL)
		return;
	*pb_act_data(x) = NULL;
	pb_act_done(x, ok, "%s: %s", what,
	    reason != NULL ? reason
	    : ok           ? "written, read back"
	                   : "failed");
}

void
pb_write_refused(struct pb_act *x, struct pb_write *w, const char *why)
{
	char what[sizeof(w->what)];

	snprintf(what, sizeof(what), "%s", w->what);
	free(w);
	*pb_act_data(x) = NULL;
	pb_act_done(x, 0, "%s: %s", what, why);
}

void
pb_write_cancel(struct pb_act *x)
{
	struct pb_write *w = *pb_act_data(x);

	if (w != NULL)
		w->x = NULL; /* freed by pb_write_done when the answer comes */
	*pb_act_data(x) = NULL;
}
