/*
 * alerts/child.c: real programs (/bin/sh only where a test needs a process
 * that does something odd, always named as the program, never as a shell
 * around one), each test on an event loop of its own.  SIGPIPE stays at its
 * default in this process: a write to a program that stopped reading must
 * not kill it.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"
#include "tests/testutil.h"

#define MIB (1024 * 1024)

static const char *dir;

/* What done() was given, copied. */
struct run {
	int calls;
	int exited, status, signal, timed_out, truncated;
	char *output;
	size_t output_len;
	char reason[256];
	int64_t started, ended; /* time_mono_ms() */
};

static void
setup(void)
{
	dir = testutil_tmpdir("check-child");
}

static void
teardown(void)
{
	testutil_rmdir();
}

static void
on_done(void *arg, const struct child_result *r)
{
	struct run *w = arg;

	w->calls++;
	w->ended = time_mono_ms();
	w->exited = r->exited;
	w->status = r->status;
	w->signal = r->signal;
	w->timed_out = r->timed_out;
	w->truncated = r->truncated;
	ck_assert_ptr_nonnull(r->output);
	ck_assert_int_eq(r->output[r->output_len], '\0');
	free(w->output);
	w->output = xmalloc(r->output_len + 1);
	memcpy(w->output, r->output, r->output_len + 1);
	w->output_len = r->output_len;
	ck_assert_ptr_nonnull(r->reason);
	snprintf(w->reason, sizeof(w->reason), "%s", r->reason);
}

static int
called(void *arg)
{
	return ((struct run *)arg)->calls > 0;
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

/* Start o; 0 or -1 as child_run() said, its err in err. */
static int
start(struct event_base *base, const struct child_opts *o, struct run *w, char *err,
    size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->started = time_mono_ms();
	return child_run(base, o, on_done, w, err, errlen);
}

/* Wait for done(), then a little more: it came exactly once. */
static void
finish(struct event_base *base, struct run *w, int64_t ms)
{
	ck_assert_msg(testutil_loop_until(base, called, w, ms), "done() never came");
	testutil_loop_until(base, never, NULL, 100);
	ck_assert_int_eq(w->calls, 1);
	ck_assert_uint_eq(child_running(), 0);
}

/* Run argv with input (NULL: none) to the end; w holds the outcome. */
static void
run(struct event_base *base, const char *const *argv, const char *input, size_t len,
    struct run *w)
{
	struct child_opts o;
	char err[256] = "";

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.input = input;
	o.input_len = len;
	o.timeout_ms = 10000;
	ck_assert_msg(start(base, &o, w, err, sizeof(err)) == 0, "child_run: %s", err);
	finish(base, w, 12000);
}

START_TEST(child_exit_codes)
{
	static const struct {
		const char *argv[4];
		int status;
		const char *reason;
	} cases[] = {
		{ { "/bin/true", NULL }, 0, "exit 0" },
		{ { "/bin/false", NULL }, 1, "exit 1" },
		{ { "/bin/sh", "-c", "exit 75", NULL }, 75, "exit 75" },
		{ { "/bin/sh", "-c", "exit 255", NULL }, 255, "exit 255" },
	};
	struct event_base *base = event_base_new();
	struct run w;
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		run(base, cases[i].argv, NULL, 0, &w);
		ck_assert_int_eq(w.exited, 1);
		ck_assert_int_eq(w.status, cases[i].status);
		ck_assert_int_eq(w.signal, 0);
		ck_assert_int_eq(w.timed_out, 0);
		ck_assert_str_eq(w.reason, cases[i].reason);
		ck_assert_uint_eq(w.output_len, 0);
		free(w.output);
	}
	event_base_free(base);
}
END_TEST

START_TEST(child_killed_by_signal)
{
	const char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	struct event_base *base = event_base_new();
	struct run w;

	run(base, argv, NULL, 0, &w);
	ck_assert_int_eq(w.exited, 0);
	ck_assert_int_eq(w.signal, SIGKILL);
	ck_assert_int_eq(w.timed_out, 0);
	ck_assert_str_eq(w.reason, "killed by signal 9");
	free(w.output);
	event_base_free(base);
}
END_TEST

/* 1 MiB of every byte value through cat and back, NULs included. */
START_TEST(child_round_trip)
{
	const char *argv[] = { "/bin/cat", NULL };
	struct event_base *base = event_base_new();
	char *in = xmalloc(MIB), err[256] = "";
	struct child_opts o;
	struct run w;
	size_t i;

	for (i = 0; i < MIB; i++)
		in[i] = (char)(random_u32() & 0xff);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.input = in;
	o.input_len = MIB;
	o.output_max = 2 * MIB;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	/* Copied: the caller's buffer may go at once. */
	memset(in, 'x', MIB);
	for (i = 0; i < MIB; i++)
		in[i] = (char)(random_u32() & 0xff);
	finish(base, &w, 15000);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_uint_eq(w.output_len, MIB);
	ck_assert_int_eq(w.truncated, 0);
	free(w.output);

	/* Again with the input kept: the bytes are the same. */
	o.input = in;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	finish(base, &w, 15000);
	ck_assert_uint_eq(w.output_len, MIB);
	ck_assert(memcmp(w.output, in, MIB) == 0);
	free(w.output);

	/* Empty input: stdin is closed at once. */
	run(base, argv, "", 0, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_uint_eq(w.output_len, 0);
	free(w.output);
	/* No input: /dev/null. */
	run(base, argv, NULL, 0, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_uint_eq(w.output_len, 0);
	free(w.output);
	free(in);
	event_base_free(base);
}
END_TEST

/* The environment: the safe one and the extras, never the daemon's own. */
START_TEST(child_environment)
{
	const char *argv[] = { "/usr/bin/env", NULL };
	const char *extra[] = { "SONAE_EXTRA=yes, with spaces", "LANG=ja_JP.UTF-8",
		NULL };
	const char *bad[] = { "NOEQUALS", NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	char err[256] = "";
	struct run w;

	ck_assert_int_eq(setenv("SONAE_DAEMON_ONLY", "secret", 1), 0);
	ck_assert_int_eq(setenv("TZ", "Asia/Tokyo", 1), 0);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env = extra;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	finish(base, &w, 10000);
	ck_assert_str_eq(w.output,
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	    "TZ=Asia/Tokyo\n"
	    "SONAE_EXTRA=yes, with spaces\n"
	    "LANG=ja_JP.UTF-8\n");
	free(w.output);

	/* Without extras and without TZ. */
	ck_assert_int_eq(unsetenv("TZ"), 0);
	run(base, argv, NULL, 0, &w);
	ck_assert_str_eq(w.output,
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	    "LANG=C.UTF-8\n");
	free(w.output);

	o.env = bad;
	ck_assert_int_eq(start(base, &o, &w, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "NOEQUALS"));
	testutil_loop_until(base, never, NULL, 100);
	ck_assert_int_eq(w.calls, 0);
	event_base_free(base);
}
END_TEST

/* Arguments reach the program as they are: no shell splits or runs them. */
START_TEST(child_no_shell)
{
	struct event_base *base = event_base_new();
	char *marker = testutil_path(dir, "x"), arg[512];
	const char *echo[] = { "/bin/echo", arg, NULL };
	const char *printf_argv[] = { "/usr/bin/printf", "%s|", "a b", "c;d", "$(id)",
		"`id`", "*", "'q'", "", NULL };
	struct stat st;
	struct run w;

	snprintf(arg, sizeof(arg), "a; touch %s", marker);
	run(base, echo, NULL, 0, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_uint_eq(w.output_len, strlen(arg) + 1);
	ck_assert(strncmp(w.output, arg, strlen(arg)) == 0);
	ck_assert_int_eq(stat(marker, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(w.output);

	run(base, printf_argv, NULL, 0, &w);
	ck_assert_str_eq(w.output, "a b|c;d|$(id)|`id`|*|'q'||");
	free(w.output);
	free(marker);
	event_base_free(base);
}
END_TEST

START_TEST(child_bad_argv)
{
	const char *relative[] = { "bin/true", NULL };
	const char *bare[] = { "true", NULL };
	const char *empty[] = { NULL };
	const char *const *cases[] = { relative, bare, empty, NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	char err[256];
	struct run w;
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		memset(&o, 0, sizeof(o));
		o.argv = cases[i];
		err[0] = '\0';
		ck_assert_int_eq(start(base, &o, &w, err, sizeof(err)), -1);
		ck_assert_str_ne(err, "");
		if (i < 2)
			ck_assert_msg(strstr(err, "absolute") != NULL, "%s", err);
	}
	testutil_loop_until(base, never, NULL, 200);
	ck_assert_int_eq(w.calls, 0);
	ck_assert_uint_eq(child_running(), 0);
	event_base_free(base);
}
END_TEST

/* A program that cannot be run is reported through done(), from the loop. */
START_TEST(child_cannot_run)
{
	const char *missing[] = { "/nonexistent/sonae-program", "x", NULL };
	struct event_base *base = event_base_new();
	char *plain = testutil_write(dir, "not-executable", "#!/bin/sh\nexit 0\n");
	const char *noexec[] = { plain, NULL };
	struct child_opts o;
	char err[256] = "", want[512];
	struct run w;

	memset(&o, 0, sizeof(o));
	o.argv = missing;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(w.calls, 0); /* not from inside child_run() */
	finish(base, &w, 5000);
	ck_assert_str_eq(
	    w.reason, "cannot run /nonexistent/sonae-program: No such file or directory");
	ck_assert_int_eq(w.exited, 0);
	ck_assert_int_eq(w.signal, 0);
	ck_assert_int_eq(w.timed_out, 0);
	ck_assert_uint_eq(w.output_len, 0);
	free(w.output);

	run(base, noexec, NULL, 0, &w);
	snprintf(want, sizeof(want), "cannot run %s: Permission denied", plain);
	ck_assert_str_eq(w.reason, want);
	free(w.output);
	free(plain);
	event_base_free(base);
}
END_TEST

/* Whether pid is gone (or a zombie waiting for whoever adopted it). */
static int
pid_gone(void *arg)
{
	long pid = *(long *)arg;
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* The timeout stops the program and what it started (its process group). */
START_TEST(child_timeout_group)
{
	const char *argv[] = { "/bin/sh", "-c", "/bin/sleep 30 & echo $!; /bin/sleep 30",
		NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	char err[256] = "";
	struct run w;
	long grandchild;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = 500;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	/* Killed, not run to its end (30 s); the bound is not a speed claim.
	 * The timer counts from libevent's cached time, which may be a few
	 * milliseconds older than w.started: the lower bounds allow for it. */
	finish(base, &w, 20000);
	ck_assert_int_ge(w.ended - w.started, 500 - 20);
	ck_assert_int_eq(w.timed_out, 1);
	ck_assert_int_eq(w.exited, 0);
	ck_assert_int_eq(w.signal, SIGTERM);
	ck_assert_str_eq(w.reason, "timed out after 0.5 s");
	grandchild = strtol(w.output, NULL, 10);
	ck_assert_int_gt(grandchild, 1);
	ck_assert_msg(testutil_loop_until(base, pid_gone, &grandchild, 1000),
	    "the background sleep %ld still runs", grandchild);
	free(w.output);
	event_base_free(base);
}
END_TEST

/* A program that ignores SIGTERM gets SIGKILL two seconds later. */
START_TEST(child_timeout_kill)
{
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; /bin/sleep 30", NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	char err[256] = "";
	struct run w;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = 300;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	/* SIGKILL after the two seconds' grace, long before the sleep's 30 s. */
	finish(base, &w, 20000);
	ck_assert_int_ge(w.ended - w.started, 2300 - 20);
	ck_assert_int_eq(w.timed_out, 1);
	ck_assert_int_eq(w.signal, SIGKILL);
	ck_assert_str_eq(w.reason, "timed out after 0.3 s");
	free(w.output);
	event_base_free(base);
}
END_TEST

START_TEST(child_output_cap)
{
	const char *lots[] = { "/usr/bin/head", "-c", "100000", "/dev/zero", NULL };
	const char *four[] = { "/usr/bin/printf", "abcd", NULL };
	const char *both[] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	char err[256] = "";
	struct run w;

	memset(&o, 0, sizeof(o));
	o.argv = lots;
	o.output_max = 1000;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	finish(base, &w, 10000);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_uint_eq(w.output_len, 1000);
	ck_assert_int_eq(w.truncated, 1);
	free(w.output);

	/* Exactly output_max bytes: nothing was discarded. */
	o.argv = four;
	o.output_max = 4;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	finish(base, &w, 10000);
	ck_assert_str_eq(w.output, "abcd");
	ck_assert_int_eq(w.truncated, 0);
	free(w.output);

	/* The default cap, 64 KiB. */
	o.argv = lots;
	o.output_max = 0;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	finish(base, &w, 10000);
	ck_assert_uint_eq(w.output_len, 65536);
	ck_assert_int_eq(w.truncated, 1);
	free(w.output);

	/* stdout and stderr in one stream. */
	run(base, both, NULL, 0, &w);
	ck_assert_str_eq(w.output, "out\nerr\n");
	free(w.output);
	event_base_free(base);
}
END_TEST

/* The program sees 0, 1, 2 and nothing of this process's descriptors. */
START_TEST(child_no_descriptor_leak)
{
	const char *argv[] = { "/bin/ls", "-l", "/proc/self/fd", NULL };
	struct event_base *base = event_base_new();
	int leak[3], p[2], own = 0, seen = 0;
	char *line, *save = NULL;
	struct run w;
	size_t i;

	/* Without O_CLOEXEC on purpose. */
	for (i = 0; i < NELEM(leak); i++)
		ck_assert_int_ge(leak[i] = open("/dev/null", O_RDONLY), 0);
	ck_assert_int_eq(pipe(p), 0);
	run(base, argv, NULL, 0, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	for (line = strtok_r(w.output, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *arrow = strstr(line, " -> "), *sp;
		long fd;

		if (arrow == NULL)
			continue; /* "total 0" */
		*arrow = '\0';
		sp = strrchr(line, ' ');
		ck_assert_ptr_nonnull(sp);
		fd = strtol(sp + 1, NULL, 10);
		arrow += 4;
		seen |= fd <= 2 ? 1 << fd : 0;
		if (fd == 0)
			ck_assert_str_eq(arrow, "/dev/null");
		else if (fd == 1 || fd == 2)
			ck_assert_msg(
			    strncmp(arrow, "pipe:[", 6) == 0, "%ld -> %s", fd, arrow);
		else {
			/* ls's own descriptor on the folder it lists. */
			ck_assert_msg(strncmp(arrow, "/proc/", 6) == 0 &&
			                  strcmp(arrow + strlen(arrow) - 3, "/fd") == 0,
			    "descriptor %ld leaked into the program: %s", fd, arrow);
			own++;
		}
	}
	ck_assert_int_eq(seen, 7);
	ck_assert_int_le(own, 1);
	free(w.output);
	for (i = 0; i < NELEM(leak); i++)
		close(leak[i]);
	close(p[0]);
	close(p[1]);
	event_base_free(base);
}
END_TEST

START_TEST(child_several_at_once)
{
	const char *argv[] = { "/bin/sleep", "0.3", NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	struct run w[3];
	char err[256] = "";
	size_t i;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	for (i = 0; i < NELEM(w); i++)
		ck_assert_msg(start(base, &o, &w[i], err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(child_running(), 3);
	for (i = 0; i < NELEM(w); i++) {
		ck_assert(testutil_loop_until(base, called, &w[i], 5000));
		ck_assert_str_eq(w[i].reason, "exit 0");
		free(w[i].output);
	}
	testutil_loop_until(base, never, NULL, 100);
	for (i = 0; i < NELEM(w); i++)
		ck_assert_int_eq(w[i].calls, 1);
	ck_assert_uint_eq(child_running(), 0);
	event_base_free(base);
}
END_TEST

/*
 * A program that exits, or closes stdin, before it read its input: the
 * write fails with EPIPE, and this process (SIGPIPE at its default) lives.
 */
START_TEST(child_stdin_closed_early)
{
	const char *t[] = { "/bin/true", NULL };
	const char *head[] = { "/usr/bin/head", "-c", "10", NULL };
	const char *closer[] = { "/bin/sh", "-c", "exec 0<&-; /bin/sleep 0.2; echo done",
		NULL };
	struct event_base *base = event_base_new();
	char *in = xmalloc(MIB);

	struct run w;

	ck_assert_ptr_ne(signal(SIGPIPE, SIG_DFL), SIG_ERR);
	memset(in, 'a', MIB);
	run(base, t, in, MIB, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	free(w.output);
	run(base, head, in, MIB, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_str_eq(w.output, "aaaaaaaaaa");
	free(w.output);
	run(base, closer, in, MIB, &w);
	ck_assert_str_eq(w.reason, "exit 0");
	ck_assert_str_eq(w.output, "done\n");
	free(w.output);
	free(in);
	event_base_free(base);
}
END_TEST

/*
 * The loop goes away with a child still running: nothing crashes; the
 * child is left to the process (it stays counted) and another loop works.
 */
START_TEST(child_base_freed)
{
	const char *argv[] = { "/bin/sleep", "0.1", NULL };
	const char *t[] = { "/bin/true", NULL };
	struct event_base *base = event_base_new();
	struct child_opts o;
	char err[256] = "";
	struct run w, w2;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	ck_assert_msg(start(base, &o, &w, err, sizeof(err)) == 0, "%s", err);
	event_base_free(base);
	usleep(300000);
	base = event_base_new();
	o.argv = t;
	ck_assert_msg(start(base, &o, &w2, err, sizeof(err)) == 0, "%s", err);
	ck_assert(testutil_loop_until(base, called, &w2, 5000));
	ck_assert_str_eq(w2.reason, "exit 0");
	ck_assert_int_eq(w.calls, 0);
	ck_assert_uint_eq(child_running(), 1);
	free(w2.output);
	event_base_free(base);
}
END_TEST

static Suite *
child_suite(void)
{
	Suite *s = suite_create("child");
	TCase *tc = tcase_create("programs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, child_exit_codes);
	tcase_add_test(tc, child_killed_by_signal);
	tcase_add_test(tc, child_round_trip);
	tcase_add_test(tc, child_environment);
	tcase_add_test(tc, child_no_shell);
	tcase_add_test(tc, child_bad_argv);
	tcase_add_test(tc, child_cannot_run);
	tcase_add_test(tc, child_timeout_group);
	tcase_add_test(tc, child_timeout_kill);
	tcase_add_test(tc, child_output_cap);
	tcase_add_test(tc, child_no_descriptor_leak);
	tcase_add_test(tc, child_several_at_once);
	tcase_add_test(tc, child_stdin_closed_early);
	tcase_add_test(tc, child_base_freed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(child_suite());
}
