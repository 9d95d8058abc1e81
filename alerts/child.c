/*
 * Running a program from the daemon's loop: argv as given, never through a
 * shell, without blocking the loop, and with one report when it is over.
 *
 * Start: posix_spawn() of argv[0], an absolute path (no PATH search: what
 * runs is what the configuration names).  The environment is a fixed, small
 * one (PATH, LANG=C.UTF-8, the daemon's TZ, which is the site's zone) plus
 * the caller's entries, never the daemon's own.  The program gets its own
 * process group, so a timeout reaches what it started too; every signal
 * back at its default and none blocked (the daemon ignores SIGPIPE, and an
 * ignored signal survives exec); no descriptor but 0, 1 and 2 (the daemon
 * opens everything O_CLOEXEC, and glibc >= 2.34 closes the rest for good
 * measure).  glibc's posix_spawn() reports a failed exec (ENOENT, EACCES)
 * as its return value; that is reported through done() like any other
 * outcome, "cannot run PATH: REASON", so a caller has one path for "the
 * program did not do it".  child_run() itself fails only for a bad argv or
 * when it cannot make its pipes.
 *
 * On the loop: stdin is a non-blocking pipe written as the program reads it
 * (a program that exits or closes stdin early just ends the writing: EPIPE
 * is expected, and SIGPIPE is blocked around each write so it never kills
 * the daemon, whatever its disposition); stdout and stderr share one
 * non-blocking pipe, read as it comes, the first output_max bytes kept.  The
 * exit is seen through a pidfd (pidfd_open(2), Linux >= 5.3) becoming
 * readable -- no SIGCHLD handler, which would be process-wide and race with
 * every other waitpid().  The status is read with WNOWAIT: the zombie keeps
 * the process id, hence the group id, reserved until done() is called, so a
 * late kill of the group can never hit an unrelated process that got the
 * number again.
 *
 * Timeout: SIGTERM to the group, SIGKILL two seconds later, and one more
 * second later the output is no longer waited for (a descendant that left
 * the group may hold the pipe open forever).  done() comes once the process
 * is reaped and its output reached end of file, or was given up.
 *
 * A child still running when its event_base is freed is left alone: libevent
 * drops its events, this file never touches them again, and the record stays
 * on the list below (reachable: not a leak for LeakSanitizer) until the
 * process exits.
 */
#include <sys/queue.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"

#define CHILD_TIMEOUT_MS 60000
#define CHILD_OUTPUT_MAX 65536
#define CHILD_KILL_MS    2000  /* from SIGTERM to SIGKILL */
#define CHILD_GIVEUP_MS  1000  /* from SIGKILL to no longer waiting for EOF */
#define CHILD_POLL_MS    50    /* without a pidfd: how often to look */
#define CHILD_CHUNK      65536 /* one write or read */
#define CHILD_READS      16    /* reads per wakeup, so others get a turn */
#define CHILD_REASON_MAX 512
#define NELEM(a)         (sizeof(a) / sizeof((a)[0]))

enum child_stage {
	CHILD_RUNNING,
	CHILD_TERM_SENT,
	CHILD_KILL_SENT,
	CHILD_GAVE_UP, /* the output is no longer waited for */
};

struct child {
	LIST_ENTRY(child) entry;
	char *path;
	pid_t pid; /* -1: it never ran (reason says why) */
	int pidfd; /* -1: polled */
	int in_fd, out_fd;
	struct event *pid_ev, *in_ev, *out_ev, *timer;
	enum child_stage stage;
	int64_t timeout_ms;
	char *input;
	size_t input_len, input_off;
	char *out;
	size_t out_len, out_cap, out_max;
	int truncated, eof, exited, status, signal, timed_out;
	int waited; /* reaped elsewhere: the group id is no longer ours */
	char reason[CHILD_REASON_MAX];
	void (*done)(void *, const struct child_result *);
	void *arg;
};

/* The environment every program starts from (child_env()). */
static const char child_path[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
static const char child_lang[] = "LANG=C.UTF-8";

static LIST_HEAD(, child) children = LIST_HEAD_INITIALIZER(children);
static size_t nunreaped;

static void child_check(struct child *);

/* "30 s", "0.5 s". */
static void
seconds_format(int64_t ms, char *buf, size_t len)
{
	char frac[8];
	size_t n;

	if (ms % 1000 == 0) {
		snprintf(buf, len, "%lld s", (long long)(ms / 1000));
		return;
	}
	snprintf(frac, sizeof(frac), "%03lld", (long long)(ms % 1000));
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, len, "%lld.%s s", (long long)(ms / 1000), frac);
}

static void
arm(struct event *ev, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	/* From now, not from when the loop turn began (its work takes time). */
	event_base_update_cache_time(event_get_base(ev));
	evtimer_add(ev, &tv);
}

static void
close_in(struct child *c)
{
	if (c->in_ev != NULL) {
		event_free(c->in_ev);
		c->in_ev = NULL;
	}
	if (c->in_fd != -1) {
		close(c->in_fd);
		c->in_fd = -1;
	}
	free(c->input);
	c->input = NULL;
}

static void
close_out(struct child *c)
{
	if (c->out_ev != NULL) {
		event_free(c->out_ev);
		c->out_ev = NULL;
	}
	if (c->out_fd != -1) {
		close(c->out_fd);
		c->out_fd = -1;
	}
	c->eof = 1;
}

/*
 * write(2) that never raises SIGPIPE: the signal is blocked around the
 * write and, if the write raised it, taken back before it is unblocked.
 */
static ssize_t
write_nosigpipe(int fd, const void *buf, size_t len)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe, old, pending;
	int was_pending, e;
	ssize_t n;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	n = write(fd, buf, len);
	e = errno;
	if (n == -1 && e == EPIPE && !was_pending)
		while (sigtimedwait(&pipe, NULL, &zero) == -1 && errno == EINTR)
			continue;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

/* stdin can take more: write, until all is written or the program is gone. */
static void
on_in(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	size_t left;
	ssize_t n;

	(void)what;
	while ((left = c->input_len - c->input_off) > 0) {
		n = write_nosigpipe(
		    fd, c->input + c->input_off, left < CHILD_CHUNK ? left : CHILD_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1) {
			/* EPIPE: it does not want the rest; that is its business. */
			if (errno != EPIPE)
				log_debug(
				    "child %s: stdin: %s", c->path, strerror(errno));
			break;
		}
		c->input_off += (size_t)n;
	}
	close_in(c);
}

/* Keep the first out_max bytes of what the program says; drop the rest. */
static void
on_out(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	char scratch[CHILD_CHUNK];
	size_t room, want;
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < CHILD_READS; i++) {
		room = c->out_max - c->out_len;
		if (room > 0) {
			want = room < CHILD_CHUNK ? room : CHILD_CHUNK;
			if (c->out_len + want + 1 > c->out_cap) {
				size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
				while (cap < c->out_len + want + 1)
					cap *= 2;
				if (cap > c->out_max + 1)
					cap = c->out_max + 1;
				c->out = xreallocarray(c->out, cap, 1);
				c->out_cap = cap;
			}
			n = read(fd, c->out + c->out_len, want);
		} else
			n = read(fd, scratch, sizeof(scratch));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (n == -1)
				log_debug(
				    "child %s: output: %s", c->path, strerror(errno));
			close_out(c);
			child_check(c);
			return;
		}
		if (room > 0)
			c->out_len += (size_t)n;
		else
			c->truncated = 1;
	}
}

/* Whether the process has ended; its status then, the zombie kept. */
static void
on_pid(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	siginfo_t si;

	(void)fd;
	(void)what;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
		if (errno == EINTR)
			return;
		/* ECHILD: someone else reaped it (a stray waitpid(-1)). */
		log_warn("child %s: waitid %ld", c->path, (long)c->pid);
		c->waited = 1;
	} else if (si.si_pid == 0)
		return; /* not yet */
	else if (si.si_code == CLD_EXITED) {
		c->exited = 1;
		c->status = si.si_status;
	} else
		c->signal = si.si_status;
	event_free(c->pid_ev);
	c->pid_ev = NULL;
	if (c->pidfd != -1) {
		close(c->pidfd);
		c->pidfd = -1;
	}
	child_check(c);
}

/* The timeout, then each step of stopping the group. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	char secs[32];

	(void)fd;
	(void)what;
	if (c->pid == -1) {
		child_check(c); /* it never ran: report now, on the loop */
		return;
	}
	switch (c->stage) {
	case CHILD_RUNNING:
		/* Still running, or gone and something it started holds the output. */
		if (c->pid_ev != NULL) {
			c->timed_out = 1;
			seconds_format(c->timeout_ms, secs, sizeof(secs));
			log_info("child %s: pid %ld: timed out after %s", c->path,
			    (long)c->pid, secs);
		}
		if (!c->waited)
			kill(-c->pid, SIGTERM);
		c->stage = CHILD_TERM_SENT;
		arm(c->timer, CHILD_KILL_MS);
		break;
	case CHILD_TERM_SENT:
		if (!c->waited)
			kill(-c->pid, SIGKILL);
		c->stage = CHILD_KILL_SENT;
		arm(c->timer, CHILD_GIVEUP_MS);
		break;
	case CHILD_KILL_SENT:
		c->stage = CHILD_GAVE_UP;
		if (!c->eof) {
			log_info(
			    "child %s: pid %ld: its output is still open; not waiting",
			    c->path, (long)c->pid);
			close_out(c);
		}
		child_check(c);
		break;
	case CHILD_GAVE_UP:
		break;
	}
}

static void
child_free(struct child *c)
{
	close_in(c);
	close_out(c);
	if (c->pid_ev != NULL)
		event_free(c->pid_ev);
	if (c->pidfd != -1)
		close(c->pidfd);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->out);
	free(c->path);
	free(c);
}

/* Report once the process has ended and its output is closed. */
static void
child_check(struct child *c)
{
	struct child_result r;
	char secs[32];
	siginfo_t si;

	if (c->pid != -1 && (c->pid_ev != NULL || !c->eof))
		return;
	if (c->pid != -1) {
		if (!c->waited &&
		    waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG) == -1)
			log_warn("child %s: waitid %ld", c->path, (long)c->pid);
		nunreaped--;
		if (c->timed_out) {
			seconds_format(c->timeout_ms, secs, sizeof(secs));
			snprintf(
			    c->reason, sizeof(c->reason), "timed out after %s", secs);
		} else if (c->exited)
			snprintf(c->reason, sizeof(c->reason), "exit %d", c->status);
		else if (c->signal != 0)
			snprintf(c->reason, sizeof(c->reason), "killed by signal %d",
			    c->signal);
		else
			snprintf(c->reason, sizeof(c->reason),
			    "ended, its exit status unknown");
	}
	LIST_REMOVE(c, entry);
	memset(&r, 0, sizeof(r));
	r.exited = c->exited;
	r.status = c->status;
	r.signal = c->signal;
	r.timed_out = c->timed_out;
	if (c->out != NULL)
		c->out[c->out_len] = '\0';
	r.output = c->out != NULL ? c->out : "";
	r.output_len = c->out_len;
	r.truncated = c->truncated;
	r.reason = c->reason;
	log_debug("child %s: %s", c->path, c->reason);
	c->done(c->arg, &r);
	child_free(c);
}

/* Whether the NAME=VALUE entry e is named in list. */
static int
env_named(const char *const *list, const char *e)
{
	size_t k = strcspn(e, "=") + 1;

	for (; list != NULL && *list != NULL; list++)
		if (strncmp(*list, e, k) == 0)
			return 1;
	return 0;
}

/* The program's environment: the safe entries extra does not name, then extra. */
static char **
child_env(const char *const *extra, char *err, size_t errlen)
{
	const char *tz = getenv("TZ");
	size_t nextra = 0, n = 0, i;
	char **env, *e, *safe[3];

	for (; extra != NULL && extra[nextra] != NULL; nextra++) {
		e = strchr(extra[nextra], '=');
		if (e == NULL || e == extra[nextra]) {
			snprintf(err, errlen,
			    "environment entry \"%s\" is not NAME=VALUE", extra[nextra]);
			return NULL;
		}
	}
	safe[0] = xstrdup(child_path);
	safe[1] = xstrdup(child_lang);
	safe[2] = NULL;
	if (tz != NULL)
		xasprintf(&safe[2], "TZ=%s", tz);
	env = xcalloc(NELEM(safe) + nextra + 1, sizeof(*env));
	for (i = 0; i < NELEM(safe); i++) {
		if (safe[i] != NULL && !env_named(extra, safe[i]))
			env[n++] = safe[i];
		else
			free(safe[i]);
	}
	for (i = 0; i < nextra; i++)
		env[n++] = xstrdup(extra[i]);
	env[n] = NULL;
	return env;
}

static void
env_free(char **env)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Spawn c->path with argv and env, its ends of the pipes in in_r and out_w. */
static int
child_spawn(struct child *c, const struct child_opts *o, char **env, int in_r, int out_w)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int e;

	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		return e;
	if ((e = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	sigemptyset(&none);
	sigfillset(&all);
	if (in_r != -1)
		e = posix_spawn_file_actions_adddup2(&fa, in_r, 0);
	else
		e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (e == 0)
		e = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	if (e == 0)
		e = posix_spawn_file_actions_adddup2(&fa, out_w, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	if (e == 0)
		e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (e == 0)
		e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
		                                        POSIX_SPAWN_SETSIGMASK |
		                                        POSIX_SPAWN_SETSIGDEF);
	if (e == 0)
		e = posix_spawnattr_setpgroup(&attr, 0);
	if (e == 0)
		e = posix_spawnattr_setsigmask(&attr, &none);
	if (e == 0)
		e = posix_spawnattr_setsigdefault(&attr, &all);
	if (e == 0)
		e = posix_spawn(
		    &c->pid, c->path, &fa, &attr, (char *const *)(uintptr_t)o->argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}

/* A pidfd for pid, or -1 (old kernel, no descriptor left): then it is polled. */
static int
pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0); /* always O_CLOEXEC */
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Run opts->argv on base without a shell; done(arg, result) is called once,
 * on the loop, when it is over (exited, killed, timed out, or could not be
 * run at all: exited 0, signal 0, reason "cannot run PATH: ...").  -1 with
 * why in err, and no callback, for a bad argv or environment entry or when
 * the pipes cannot be made.
 */
int
child_run(struct event_base *base, const struct child_opts *o,
    void (*done)(void *arg, const struct child_result *), void *arg, char *err,
    size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, e;
	struct timeval zero = { 0, 0 };
	struct child *c = NULL;
	char **env = NULL;

	if (base == NULL || o == NULL || done == NULL || o->argv == NULL ||
	    o->argv[0] == NULL || (o->input == NULL && o->input_len > 0)) {
		snprintf(err, errlen, "child: nothing to run");
		return -1;
	}
	if (o->argv[0][0] != '/') {
		snprintf(err, errlen, "cannot run %s: not an absolute path", o->argv[0]);
		return -1;
	}
	if ((env = child_env(o->env, err, errlen)) == NULL)
		return -1;
	if ((o->input != NULL && pipe2(in, O_CLOEXEC) == -1) ||
	    pipe2(out, O_CLOEXEC) == -1) {
		snprintf(
		    err, errlen, "cannot run %s: pipe: %s", o->argv[0], strerror(errno));
		goto bad;
	}
	/* Only the daemon's ends: the program's stdin and stdout block as usual. */
	if ((in[1] != -1 && set_nonblock(in[1]) == -1) || set_nonblock(out[0]) == -1) {
		snprintf(
		    err, errlen, "cannot run %s: fcntl: %s", o->argv[0], strerror(errno));
		goto bad;
	}
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(o->argv[0]);
	c->pid = -1;
	c->pidfd = c->in_fd = c->out_fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : CHILD_TIMEOUT_MS;
	c->out_max = o->output_max > 0 ? o->output_max : CHILD_OUTPUT_MAX;
	c->done = done;
	c->arg = arg;
	if ((c->timer = evtimer_new(base, on_timer, c)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	LIST_INSERT_HEAD(&children, c, entry);

	if ((e = child_spawn(c, o, env, in[0], out[1])) != 0) {
		c->pid = -1;
		snprintf(c->reason, sizeof(c->reason), "cannot run %s: %s", c->path,
		    strerror(e));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		env_free(env);
		evtimer_add(c->timer, &zero); /* done() on the loop, not from here */
		return 0;
	}
	nunreaped++;
	env_free(env);
	if (in[0] != -1)
		close(in[0]);
	close(out[1]);
	log_debug("child %s: pid %ld", c->path, (long)c->pid);

	c->out_fd = out[0];
	c->out_ev = event_new(base, c->out_fd, EV_READ | EV_PERSIST, on_out, c);
	if ((c->pidfd = pidfd_of(c->pid)) != -1)
		c->pid_ev = event_new(base, c->pidfd, EV_READ | EV_PERSIST, on_pid, c);
	else {
		log_debug("child %s: pidfd_open: %s; polling", c->path, strerror(errno));
		c->pid_ev = event_new(base, -1, EV_PERSIST, on_pid, c);
	}
	if (c->out_ev == NULL || c->pid_ev == NULL)
		fatalx("%s: event_new", __func__);
	if (c->pidfd != -1)
		event_add(c->pid_ev, NULL);
	else {
		struct timeval poll = { 0, CHILD_POLL_MS * 1000 };
		event_add(c->pid_ev, &poll);
	}
	event_add(c->out_ev, NULL);
	if (o->input != NULL) {
		c->in_fd = in[1];
		c->input_len = o->input_len;
		c->input = xmalloc(o->input_len > 0 ? o->input_len : 1);
		memcpy(c->input, o->input, o->input_len);
		c->in_ev = event_new(base, c->in_fd, EV_WRITE | EV_PERSIST, on_in, c);
		if (c->in_ev == NULL)
			fatalx("%s: event_new", __func__);
		event_add(c->in_ev, NULL);
	}
	arm(c->timer, c->timeout_ms);
	return 0;
bad:
	env_free(env);
	if (in[0] != -1) {
		close(in[0]);
		close(in[1]);
	}
	if (out[0] != -1) {
		close(out[0]);
		close(out[1]);
	}
	return -1;
}

/*
 * Stop the child whose done() argument is arg, as a timeout would (SIGTERM
 * to its group, SIGKILL two seconds later), but without calling it a
 * timeout: done() still follows, once.  0, or -1 when there is none.
 */
int
child_stop(void *arg)
{
	struct child *c;

	LIST_FOREACH(c, &children, entry)
	if (c->arg == arg && c->pid != -1 && c->stage == CHILD_RUNNING) {
		log_info("child %s: pid %ld: stopped", c->path, (long)c->pid);
		if (!c->waited)
			kill(-c->pid, SIGTERM);
		c->stage = CHILD_TERM_SENT;
		evtimer_del(c->timer);
		arm(c->timer, CHILD_KILL_MS);
		return 0;
	}
	return -1;
}

/* The process id (and group id) of the child whose done() argument is arg, or -1. */
long
child_pid(void *arg)
{
	struct child *c;

	LIST_FOREACH(c, &children, entry)
	if (c->arg == arg)
		return c->pid;
	return -1;
}

/* Children started and not reaped yet. */
size_t
child_running(void)
{
	return nunreaped;
}
