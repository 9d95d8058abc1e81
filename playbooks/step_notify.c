/*
 * notify: a message through the alert routes (alerts_notice()).  Without
 * `to` the routes that match the incident decide who is told.  A drill
 * tells only playbooks.drill_to, its subject marked 【訓練】[DRILL]; with no
 * drill recipients the drill records the message and sends nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "playbooks/step.h"

static void
notify_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	const struct pb_run *r = pb_act_run(x);
	const struct pb_hooks *h = pb_act_hooks(x);
	const struct conf *conf = pb_act_conf(x);
	struct conf_strings to = { NULL, 0 };
	char err[512], result[512], *title = NULL, *text = NULL, **v;
	struct pb_notice n;
	uint64_t queued = 0;
	size_t i;
	int rc;

	if (pb_act_expand(x, st->title, &title, err, sizeof(err)) == -1 ||
	    pb_act_expand(x, st->text, &text, err, sizeof(err)) == -1 ||
	    (v = pb_act_expand_list(x, &st->to, err, sizeof(err))) == NULL) {
		free(title);
		free(text);
		pb_act_done(x, 0, "%s", err);
		return;
	}
	for (i = 0; v[i] != NULL; i++)
		conf_strings_add(&to, v[i]);
	pb_argv_free(v);
	memset(&n, 0, sizeof(n));
	n.incident = r->incident;
	n.playbook = r->playbook;
	n.run = r->id;
	n.step_title = title;
	n.text = text;
	n.severity = st->severity == 1   ? CHECK_WARNING
	             : st->severity == 2 ? CHECK_CRITICAL
	                                 : 0;
	n.to = &to;
	n.drill = r->drill;
	n.drill_to = conf != NULL ? &conf->playbooks.drill_to : NULL;
	n.actor = r->requested_by;
	if (r->drill && (n.drill_to == NULL || n.drill_to->n == 0)) {
		rc = 0;
		snprintf(result, sizeof(result),
		    "drill: recorded, not sent (no playbooks.drill_to): %.300s", text);
	} else if (h->notify == NULL) {
		rc = -1;
		snprintf(result, sizeof(result), "no alerts engine");
	} else
		rc = h->notify(pb_act_arg(x), &n, &queued, result, sizeof(result));
	conf_strings_free(&to);
	free(title);
	free(text);
	pb_act_done(x, rc == 0, "%s", result);
}

const struct pb_step_ops pb_notify_ops = {
	.start = notify_start,
};
