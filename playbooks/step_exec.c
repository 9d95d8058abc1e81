/*
 * exec: a program from argv (never a shell), on the loop (alerts/child.c):
 * its own process group, which the timeout (60 s unless set) stops with
 * SIGTERM and then SIGKILL, so what it started goes too; output captured
 * up to output_max; the run's facts in SONAE_* variables.  `user` runs it
 * as another user through `sudo -n -u USER --`: sonaed has dropped its
 * privileges, so the site grants exactly that command in sudoers, and a
 * missing grant fails the step instead of asking for a password.
 */
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "playbooks/step.h"

#define SUDO "/usr/bin/sudo"

struct exec {
	struct pb_act *x; /* NULL: cancelled, the child's end is only awaited */
};

/* argv, prefixed with sudo for another user: NULL with why. */
static char **
exec_argv(struct pb_act *x, char *err, size_t errlen)
{
	const struct pb_step *st = pb_act_step(x);
	char **v, **argv, *user = NULL;
	size_t n, i, k = 0;

	if ((v = pb_act_expand_list(x, &st->command, err, errlen)) == NULL)
		return NULL;
	if (st->user == NULL)
		return v;
	if (pb_act_expand(x, st->user, &user, err, errlen) == -1) {
		pb_argv_free(v);
		return NULL;
	}
	for (n = 0; v[n] != NULL; n++)
		;
	argv = xcalloc(n + 6, sizeof(char *));
	argv[k++] = xstrdup(SUDO);
	argv[k++] = xstrdup("-n");
	argv[k++] = xstrdup("-u");
	argv[k++] = user;
	argv[k++] = xstrdup("--");
	for (i = 0; i < n; i++)
		argv[k++] = v[i];
	free(v);
	return argv;
}

static void
exec_done(void *arg, const struct child_result *res)
{
	struct exec *ex = arg;
	struct pb_act *x = ex->x;

	free(ex);
	if (x == NULL)
		return;
	*pb_act_data(x) = NULL;
	if (res->output_len > 0)
		pb_act_output(x, res->output, res->output_len);
	pb_act_done(x, res->exited && res->status == 0, "%s%s", res->reason,
	    res->truncated ? " (output truncated)" : "");
}

static void
exec_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	char err[512], **argv, **env, line[1024];
	struct child_opts o;
	struct exec *ex;

	if ((argv = exec_argv(x, err, sizeof(err))) == NULL) {
		pb_act_done(x, 0, "%s", err);
		return;
	}
	env = pb_act_env(x);
	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)argv;
	o.env = (const char *const *)env;
	o.timeout_ms = st->timeout_ms;
	o.output_max = (size_t)st->output_max;
	ex = xcalloc(1, sizeof(*ex));
	ex->x = x;
	pb_act_log(x, "exec", "%s: %s", st->id, pb_argv_text(argv, line, sizeof(line)));
	if (child_run(pb_act_base(x), &o, exec_done, ex, err, sizeof(err)) == -1) {
		free(ex);
		pb_argv_free(argv);
		pb_argv_free(env);
		pb_act_done(x, 0, "%s", err);
		return;
	}
	*pb_act_data(x) = ex;
	pb_argv_free(argv);
	pb_argv_free(env);
	pb_act_set_pid(x, child_pid(ex));
}

/* The run was aborted: stop the program's group; its end is only awaited. */
static void
exec_cancel(struct pb_act *x)
{
	struct exec *ex = *pb_act_data(x);

	if (ex == NULL)
		return;
	ex->x = NULL;
	child_stop(ex);
	*pb_act_data(x) = NULL;
}

static int
exec_would(struct pb_act *x, char *buf, size_t len)
{
	char err[512], **argv;

	if ((argv = exec_argv(x, err, sizeof(err))) == NULL) {
		snprintf(buf, len, "%s", err);
		return -1;
	}
	pb_argv_text(argv, buf, len);
	pb_argv_free(argv);
	return 0;
}

const struct pb_step_ops pb_exec_ops = {
	.start = exec_start,
	.cancel = exec_cancel,
	.would = exec_would,
	.own_timeout = 1,
};
