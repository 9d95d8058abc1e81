/*
 * confirm: a human checklist item or an approval.  The step waits until
 * someone allowed answers with `sonae confirm RUN STEP [--no] -m TEXT`;
 * "no" fails the step, and its on_failure says where the run goes.  Who may
 * answer: `who` lists user names and "operators" (the operators group; the
 * default).  With approver_differs the one who started the run may not
 * approve it: a second person must.  A timeout takes the declared safe
 * default.  Nothing here holds state: the record says the step waits, so a
 * restart changes nothing for the person about to answer.  An operating mode
 * may pre-approve the step (modes[].preapproved): it is then answered yes
 * at once by "mode:NAME".
 */
#include <stdio.h>
#include <string.h>

#include "playbooks/step.h"

/*
 * Waits for a human, unless the current operating mode pre-approves this
 * step (modes[].preapproved): then it is answered yes at once, by the mode.
 * Asked every time the step starts, so a run taken up after a restart, or a
 * drill, follows the mode of that moment.
 */
static void
confirm_start(struct pb_act *x)
{
	const struct pb_hooks *h = pb_act_hooks(x);
	const char *mode;
	char actor[64], text[160];

	pb_act_wait(x);
	if (h->preapproved == NULL ||
	    (mode = h->preapproved(
	         pb_act_arg(x), pb_act_run(x)->playbook, pb_act_step(x)->id)) == NULL)
		return;
	snprintf(actor, sizeof(actor), "mode:%s", mode);
	snprintf(
	    text, sizeof(text), "pre-approved in mode %s (modes[].preapproved)", mode);
	pb_act_answer(x, PB_YES, actor, text);
}

/* Whether the caller ("tanaka(1001)", as the control socket names it) is user. */
static int
is_user(const char *actor, const char *user)
{
	size_t n = strlen(user);

	return strncmp(actor, user, n) == 0 && (actor[n] == '(' || actor[n] == '\0');
}

static int
may_answer(const struct pb_step *st, const char *actor, int is_operator)
{
	size_t i;

	if (st->who.n == 0)
		return is_operator;
	for (i = 0; i < st->who.n; i++)
		if ((strcmp(st->who.v[i], "operators") == 0 && is_operator) ||
		    is_user(actor, st->who.v[i]))
			return 1;
	return 0;
}

static int
confirm_answer(struct pb_act *x, enum pb_answer ans, const char *actor, int is_operator,
    const char *text, char *err, size_t errlen)
{
	const struct pb_step *st = pb_act_step(x);
	const struct pb_run *r = pb_act_run(x);
	size_t i, n = 0;
	char who[256];

	if (!may_answer(st, actor, is_operator)) {
		who[0] = '\0';
		for (i = 0; i < st->who.n; i++)
			n += (size_t)snprintf(who + n,
			    n < sizeof(who) ? sizeof(who) - n : 0, "%s%s", i ? ", " : "",
			    st->who.v[i]);
		snprintf(err, errlen, "%s may not answer step %s (who: %s)", actor,
		    st->id, st->who.n ? who : "operators");
		return -1;
	}
	if (st->approver_differs && ans == PB_YES &&
	    strcmp(actor, r->requested_by) == 0) {
		snprintf(err, errlen,
		    "%s requested run %llu and may not approve it: someone else must "
		    "(approver_differs)",
		    actor, (unsigned long long)r->id);
		return -1;
	}
	(void)text;
	return 0;
}

static void
confirm_timeout(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	char d[32];

	duration_format(st->timeout_ms, d, sizeof(d));
	pb_act_set_actor(x, "sonaed");
	if (st->default_answer == 1)
		pb_act_done(x, 1, "no answer within %s: the default, yes, was taken", d);
	else
		pb_act_done(x, 0, "no answer within %s: the default, no, was taken", d);
}

const struct pb_step_ops pb_confirm_ops = {
	.start = confirm_start,
	.timeout = confirm_timeout,
	.answer = confirm_answer,
};
