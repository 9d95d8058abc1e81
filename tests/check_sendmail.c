/*
 * alerts/sendmail.c: the exit-code mapping with stand-in programs (/bin/sh
 * named as the program, exiting as told), the command line and the message
 * as the program gets them, and msmtp against
 * tests/integration/smtp_server.py on 127.0.0.1 for the codes a real
 * sendmail returns (a refused recipient, a busy one, a relay that is down).
 */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"
#include "tests/testutil.h"

#define MSMTP "/usr/bin/msmtp"

static const char *dir;

static const char msg[] = "From: sonae <sonae@example.org>\r\n"
                          "To: ict@example.org\r\n"
                          "Subject: sendmail test\r\n"
                          "X-Sonae-Incident: 7\r\n"
                          "\r\n"
                          "body line\r\n";

struct sent {
	int calls, ok, permanent;
	char reason[640];
};

static void
setup(void)
{
	dir = testutil_tmpdir("check-sendmail");
}

static void
teardown(void)
{
	testutil_reap();
	testutil_rmdir();
}

static void
on_sent(void *arg, int ok, int permanent, const char *reason)
{
	struct sent *s = arg;

	s->calls++;
	s->ok = ok;
	s->permanent = permanent;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static int
called(void *arg)
{
	return ((struct sent *)arg)->calls > 0;
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

/* sendmail_send() argv from env_from to rcpt; wait for its one report. */
static void
send_wait(struct event_base *base, const char *const *argv, int64_t timeout_ms,
    const char *env_from, const char *const *rcpt, size_t nrcpt, struct sent *s)
{
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(sendmail_send(base, argv, timeout_ms, env_from, rcpt, nrcpt, msg,
	                     strlen(msg), on_sent, s),
	    0);
	ck_assert_int_eq(s->calls, 0); /* never from inside the call */
	ck_assert_msg(testutil_loop_until(base, called, s, 15000), "no report");
	testutil_loop_until(base, never, NULL, 100);
	ck_assert_int_eq(s->calls, 1);
	ck_assert_uint_eq(child_running(), 0);
}

/* msmtp for the relay on 127.0.0.1:port, no system configuration. */
static void
msmtp_argv(const char **argv, char *port_opt, size_t len, int port)
{
	snprintf(port_opt, len, "--port=%d", port);
	argv[0] = MSMTP;
	argv[1] = "-C";
	argv[2] = "/dev/null";
	argv[3] = "--host=127.0.0.1";
	argv[4] = port_opt;
	argv[5] = "--auth=off";
	argv[6] = "--tls=off";
	argv[7] = NULL;
	ck_assert_msg(access(MSMTP, X_OK) == 0, "%s: %s (scripts/setup.sh installs it)",
	    MSMTP, strerror(errno));
}

START_TEST(sendmail_exit_mapping)
{
	static const struct {
		int code, ok, permanent;
		const char *reason;
	} cases[] = {
		{ 0, 1, 0, "exit 0: first line" },
		{ 1, 0, 0, "exit 1: first line" },
		{ 64, 0, 0, "exit 64 (EX_USAGE): first line" },
		{ 65, 0, 1, "exit 65 (EX_DATAERR): first line" },
		{ 66, 0, 0, "exit 66 (EX_NOINPUT): first line" },
		{ 67, 0, 1, "exit 67 (EX_NOUSER): first line" },
		{ 68, 0, 0, "exit 68 (EX_NOHOST): first line" },
		{ 69, 0, 0, "exit 69 (EX_UNAVAILABLE): first line" },
		{ 70, 0, 0, "exit 70 (EX_SOFTWARE): first line" },
		{ 71, 0, 0, "exit 71 (EX_OSERR): first line" },
		{ 74, 0, 0, "exit 74 (EX_IOERR): first line" },
		{ 75, 0, 0, "exit 75 (EX_TEMPFAIL): first line" },
		{ 76, 0, 0, "exit 76 (EX_PROTOCOL): first line" },
		{ 78, 0, 0, "exit 78 (EX_CONFIG): first line" },
		{ 79, 0, 0, "exit 79: first line" },
	};
	const char *rcpt[] = { "ict@example.org" };
	struct event_base *base = event_base_new();
	char script[128];
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct sent s;
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		snprintf(script, sizeof(script),
		    "cat >/dev/null; echo 'first line'; echo second >&2; exit %d",
		    cases[i].code);
		send_wait(base, argv, 0, "sonae@example.org", rcpt, 1, &s);
		ck_assert_msg(s.ok == cases[i].ok && s.permanent == cases[i].permanent,
		    "exit %d: ok %d permanent %d", cases[i].code, s.ok, s.permanent);
		ck_assert_str_eq(s.reason, cases[i].reason);
	}
	event_base_free(base);
}
END_TEST

/*
 * What the program says goes into JSON (the queue, the journal): UTF-8 stays,
 * anything else (a Shift_JIS message) becomes "?" rather than breaking it.
 */
START_TEST(sendmail_reason_utf8)
{
	const char *rcpt[] = { "ict@example.org" };
	struct event_base *base = event_base_new();
	const char *utf8[] = { "/bin/sh", "-c",
		"cat >/dev/null; printf '\\345\\256\\233\\345\\205\\210\\n'; exit 67",
		NULL };
	const char *sjis[] = { "/bin/sh", "-c",
		"cat >/dev/null; printf '\\223\\372\\226\\173 x\\n'; exit 67", NULL };
	struct sent s;

	send_wait(base, utf8, 0, "sonae@example.org", rcpt, 1, &s);
	ck_assert_str_eq(s.reason, "exit 67 (EX_NOUSER): 宛先");
	send_wait(base, sjis, 0, "sonae@example.org", rcpt, 1, &s);
	ck_assert_str_eq(s.reason, "exit 67 (EX_NOUSER): ???{ x");
	event_base_free(base);
}
END_TEST

/* argv, -f FROM, --, the recipients; no -f for the null sender. */
START_TEST(sendmail_command_line)
{
	const char *argv[] = { "/bin/sh", "-c",
		"cat >/dev/null; printf '%s|' \"$0\" \"$@\"", NULL };
	const char *rcpt[] = { "ict@example.org", "-oi@example.org", "a b@example.org" };
	struct event_base *base = event_base_new();
	struct sent s;

	send_wait(base, argv, 0, "sonae@example.org", rcpt, NELEM(rcpt), &s);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_str_eq(s.reason, "exit 0: -f|sonae@example.org|--|ict@example.org|"
	                           "-oi@example.org|a b@example.org|");
	send_wait(base, argv, 0, "", rcpt, 1, &s);
	ck_assert_str_eq(s.reason, "exit 0: --|ict@example.org|");
	event_base_free(base);
}
END_TEST

/* The message reaches the program's stdin byte for byte, CRLF and all. */
START_TEST(sendmail_message_on_stdin)
{
	char *file = testutil_path(dir, "got"), script[512], got[1024];
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	const char *rcpt[] = { "ict@example.org" };
	struct event_base *base = event_base_new();
	struct sent s;
	size_t n;
	FILE *f;

	snprintf(script, sizeof(script), "cat >'%s'", file);
	send_wait(base, argv, 0, "sonae@example.org", rcpt, 1, &s);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_str_eq(s.reason, "exit 0");
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	n = fread(got, 1, sizeof(got), f);
	fclose(f);
	ck_assert_uint_eq(n, strlen(msg));
	ck_assert(memcmp(got, msg, n) == 0);
	free(file);
	event_base_free(base);
}
END_TEST

/* Anything but an exit is transient: signals, timeouts, no program. */
START_TEST(sendmail_transient)
{
	const char *killed[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	const char *slow[] = { "/bin/sh", "-c", "/bin/sleep 10", NULL };
	const char *missing[] = { "/nonexistent/sendmail", "-i", NULL };
	const char *relative[] = { "sendmail", "-i", NULL };
	const char *rcpt[] = { "ict@example.org" };
	struct event_base *base = event_base_new();
	struct sent s;

	send_wait(base, killed, 0, "sonae@example.org", rcpt, 1, &s);
	ck_assert(!s.ok && !s.permanent);
	ck_assert_str_eq(s.reason, "killed by signal 9");
	send_wait(base, slow, 300, "sonae@example.org", rcpt, 1, &s);
	ck_assert(!s.ok && !s.permanent);
	ck_assert_str_eq(s.reason, "timed out after 0.3 s");
	send_wait(base, missing, 0, "sonae@example.org", rcpt, 1, &s);
	ck_assert(!s.ok && !s.permanent);
	ck_assert_str_eq(
	    s.reason, "cannot run /nonexistent/sendmail: No such file or directory");
	send_wait(base, relative, 0, "sonae@example.org", rcpt, 1, &s);
	ck_assert(!s.ok && !s.permanent);
	ck_assert_str_eq(s.reason, "cannot run sendmail: not an absolute path");
	event_base_free(base);
}
END_TEST

START_TEST(sendmail_bad_arguments)
{
	const char *argv[] = { "/bin/true", NULL };
	const char *none[] = { NULL };
	const char *crlf[] = { "ict@example.org\r\nRCPT TO:<x@example.org>" };
	const char *empty[] = { "" };
	const char *rcpt[] = { "ict@example.org" };
	struct event_base *base = event_base_new();
	struct sent s;

	memset(&s, 0, sizeof(s));
	errno = 0;
	ck_assert_int_eq(sendmail_send(base, NULL, 0, "a@example.org", rcpt, 1, msg,
	                     strlen(msg), on_sent, &s),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(sendmail_send(base, none, 0, "a@example.org", rcpt, 1, msg,
	                     strlen(msg), on_sent, &s),
	    -1);
	ck_assert_int_eq(sendmail_send(base, argv, 0, "a@example.org", rcpt, 0, msg,
	                     strlen(msg), on_sent, &s),
	    -1);
	ck_assert_int_eq(
	    sendmail_send(base, argv, 0, NULL, rcpt, 1, msg, strlen(msg), on_sent, &s),
	    -1);
	testutil_loop_until(base, never, NULL, 100);
	ck_assert_int_eq(s.calls, 0);

	/* Addresses that could never be right: refused for good, nothing run. */
	send_wait(base, argv, 0, "a@example.org", crlf, 1, &s);
	ck_assert(!s.ok && s.permanent);
	ck_assert_str_eq(s.reason, "invalid recipient address: a control character");
	send_wait(base, argv, 0, "a@example.org", empty, 1, &s);
	ck_assert(!s.ok && s.permanent);
	ck_assert_str_eq(s.reason, "invalid recipient address: empty");
	send_wait(base, argv, 0, "a@example.org\n", rcpt, 1, &s);
	ck_assert(!s.ok && s.permanent);
	event_base_free(base);
}
END_TEST

/*
 * msmtp itself: what it returns for an accepted message, a recipient
 * refused with 550, one refused with 450 and a relay that is not there.
 */
START_TEST(sendmail_msmtp)
{
	const char *extra[] = { "--refuse", "bad@example.org", "--tempfail",
		"busy@example.org", NULL };
	const char *good[] = { "ict@example.org" }, *bad[] = { "bad@example.org" };
	const char *busy[] = { "busy@example.org" };
	struct event_base *base = event_base_new();
	int port = testutil_free_port(SOCK_STREAM), closed;
	char *maildir = testutil_smtp_server(dir, "relay", port, extra), opt[32];
	char want[256];
	const char *argv[8];
	struct sent s;

	msmtp_argv(argv, opt, sizeof(opt), port);
	send_wait(base, argv, 10000, "sonae@example.org", good, 1, &s);
	ck_assert_msg(s.ok, "%s", s.reason);
	ck_assert_str_eq(s.reason, "exit 0");
	ck_assert_uint_eq(testutil_maildir_count(maildir), 1);
	ck_assert_uint_eq(
	    testutil_maildir_with(maildir, "X-MailFrom: sonae@example.org"), 1);
	ck_assert_uint_eq(testutil_maildir_with(maildir, "X-RcptTo: ict@example.org"), 1);
	ck_assert_uint_eq(testutil_maildir_with(maildir, "X-Sonae-Incident: 7"), 1);

	send_wait(base, argv, 10000, "sonae@example.org", bad, 1, &s);
	ck_assert(!s.ok && s.permanent);
	ck_assert_str_eq(s.reason, "exit 65 (EX_DATAERR): msmtp: recipient address "
	                           "bad@example.org not accepted by the server");

	send_wait(base, argv, 10000, "sonae@example.org", busy, 1, &s);
	ck_assert(!s.ok && !s.permanent);
	ck_assert_str_eq(s.reason, "exit 69 (EX_UNAVAILABLE): msmtp: recipient address "
	                           "busy@example.org not accepted by the server");

	do
		closed = testutil_free_port(SOCK_STREAM);
	while (closed == port);
	msmtp_argv(argv, opt, sizeof(opt), closed);
	send_wait(base, argv, 10000, "sonae@example.org", good, 1, &s);
	ck_assert(!s.ok && !s.permanent);
	snprintf(want, sizeof(want),
	    "exit 75 (EX_TEMPFAIL): msmtp: cannot connect to 127.0.0.1, port %d: "
	    "Connection refused",
	    closed);
	ck_assert_str_eq(s.reason, want);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 1);
	free(maildir);
	event_base_free(base);
}
END_TEST

static Suite *
sendmail_suite(void)
{
	Suite *s = suite_create("sendmail");
	TCase *tc = tcase_create("programs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sendmail_exit_mapping);
	tcase_add_test(tc, sendmail_command_line);
	tcase_add_test(tc, sendmail_reason_utf8);
	tcase_add_test(tc, sendmail_message_on_stdin);
	tcase_add_test(tc, sendmail_transient);
	tcase_add_test(tc, sendmail_bad_arguments);
	tcase_add_test(tc, sendmail_msmtp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(sendmail_suite());
}
