/*
 * alerts/deliver.c against aiosmtpd on 127.0.0.1 (started like
 * tests/check_smtp.c does, stopped by its PID in the teardown), with a spool
 * in a temporary folder and a short backoff (100 ms doubling to 400 ms).
 * Each test runs its own event loop until the Maildir holds what it waits
 * for or a deadline passes.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <dirent.h>
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

#define PYTHON "/usr/bin/python3"
#define NMSG   5

static const char *dir;

static const struct spool_backoff fast = { 100, 400, 0 };
static char *rcpt_v[] = { (char *)"ict@example.org", NULL };
static const struct conf_strings rcpt = { rcpt_v, 1 };

struct updown {
	int down, up;
	char reason[640];
};

static void
on_updown(void *arg, int down, const char *reason)
{
	struct updown *u = arg;

	if (down)
		u->down++;
	else
		u->up++;
	snprintf(u->reason, sizeof(u->reason), "%s", reason);
}

static void
setup(void)
{
	dir = testutil_tmpdir("check-deliver");
}

static void
teardown(void)
{
	testutil_reap();
	testutil_rmdir();
}

/*
 * The X-Sonae-Incident of each mail in maildir/new, in the order the server
 * stored them: Python's mailbox.Maildir names a file TIME.MUSECPPID.QN.HOST
 * with N counting up in its process.  At most max; the number found.
 */
static size_t
maildir_incidents(const char *maildir, long *out, size_t max)
{
	char *path = testutil_path(maildir, "new");
	DIR *d = opendir(path);
	struct dirent *e;
	long q[16];
	size_t n = 0, i;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		char *file, line[256];
		const char *p;
		FILE *f;
		long inc = -1;

		if (e->d_name[0] == '.')
			continue;
		ck_assert_uint_lt(n, NELEM(q));
		ck_assert_uint_lt(n, max);
		p = strchr(e->d_name, 'Q');
		ck_assert_msg(p != NULL, "no Q in %s", e->d_name);
		file = testutil_path(path, e->d_name);
		ck_assert_ptr_nonnull(f = fopen(file, "r"));
		while (fgets(line, sizeof(line), f) != NULL && line[0] != '\n')
			if (strncmp(line, "X-Sonae-Incident: ", 18) == 0)
				inc = strtol(line + 18, NULL, 10);
		fclose(f);
		free(file);
		ck_assert_msg(inc > 0, "no X-Sonae-Incident in %s", e->d_name);
		/* Insert by Q. */
		for (i = n; i > 0 && q[i - 1] > strtol(p + 1, NULL, 10); i--) {
			q[i] = q[i - 1];
			out[i] = out[i - 1];
		}
		q[i] = strtol(p + 1, NULL, 10);
		out[i] = inc;
		n++;
	}
	closedir(d);
	free(path);
	return n;
}

/* All NMSG mails arrived once each, incidents 1..NMSG in that order. */
static void
assert_all_in_order(const char *maildir)
{
	long inc[NMSG + 4];
	size_t n = maildir_incidents(maildir, inc, NELEM(inc)), i;

	ck_assert_uint_eq(n, NMSG);
	for (i = 0; i < n; i++)
		ck_assert_msg(
		    inc[i] == (long)i + 1, "mail %zu is incident %ld", i, inc[i]);
}

struct wait_mail {
	const char *maildir;
	size_t want;
	struct spool *sp;
};

static int
mail_arrived(void *arg)
{
	struct wait_mail *w = arg;

	return testutil_maildir_count(w->maildir) >= w->want && spool_count(w->sp) == 0;
}

static int
went_down(void *arg)
{
	return ((struct updown *)arg)->down > 0;
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

static struct spool *
open_spool(void)
{
	char err[256] = "";
	struct spool *sp = spool_open(dir, &fast, err, sizeof(err));

	ck_assert_msg(sp != NULL, "spool_open: %s", err);
	return sp;
}

/* Queue NMSG messages, incidents 1..NMSG, a marker in each body. */
static void
queue(struct spool *sp)
{
	char msg[512], err[256];
	uint64_t id, last = 0;
	int i;

	for (i = 1; i <= NMSG; i++) {
		snprintf(msg, sizeof(msg),
		    "From: sonae <sonae@example.org>\r\n"
		    "To: ict@example.org\r\n"
		    "Subject: alert %d\r\n"
		    "X-Sonae-Incident: %d\r\n"
		    "\r\n"
		    "marker %d\r\n",
		    i, i, i);
		ck_assert_msg(spool_add(sp, "sonae@example.org", &rcpt, (uint64_t)i, msg,
		                  strlen(msg), time_now_ms(), &id, err, sizeof(err)) == 0,
		    "spool_add: %s", err);
		ck_assert_uint_gt(id, last);
		last = id;
	}
	ck_assert_uint_eq(spool_count(sp), NMSG);
}

static void
relay_at(struct smtp_relay *r, char *url, size_t len, int port)
{
	snprintf(url, len, "smtp://127.0.0.1:%d", port);
	smtp_relay_init(r);
	r->url = url;
	r->timeout_ms = 4000;
	r->connect_timeout_ms = 2000;
}

static struct deliver *
engine(struct event_base *base, struct spool *sp, struct smtp *smtp,
    const struct smtp_relay *r, size_t n, struct updown *u)
{
	char err[256] = "";
	struct deliver *d = deliver_new(base, sp, smtp, r, n, err, sizeof(err));

	ck_assert_msg(d != NULL, "deliver_new: %s", err);
	memset(u, 0, sizeof(*u));
	deliver_set_callback(d, on_updown, u);
	return d;
}

static struct smtp *
client(struct event_base *base)
{
	char err[256] = "";
	struct smtp *smtp = smtp_new(base, err, sizeof(err));

	ck_assert_msg(smtp != NULL, "smtp_new: %s", err);
	return smtp;
}

static json_int_t
json_int(struct deliver *d, const char *key)
{
	json_t *j = deliver_json(d);
	json_int_t v = json_integer_value(json_object_get(j, key));

	json_decref(j);
	return v;
}

START_TEST(deliver_all_in_order)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct spool *sp = open_spool();
	int port = testutil_free_port(SOCK_STREAM);
	char *maildir = testutil_aiosmtpd(dir, port), url[64];
	struct smtp_relay r;
	struct deliver *d;
	struct updown u;
	struct wait_mail w;

	queue(sp);
	relay_at(&r, url, sizeof(url), port);
	d = engine(base, sp, smtp, &r, 1, &u);
	deliver_kick(d);
	w = (struct wait_mail){ maildir, NMSG, sp };
	ck_assert_msg(testutil_loop_until(base, mail_arrived, &w, 15000),
	    "%zu of %d mails arrived, %zu queued", testutil_maildir_count(maildir), NMSG,
	    spool_count(sp));
	/* Nothing more comes. */
	testutil_loop_until(base, never, NULL, 300);
	assert_all_in_order(maildir);
	ck_assert_uint_eq(spool_count(sp), 0);
	ck_assert_int_eq(json_int(d, "delivered"), NMSG);
	ck_assert_int_eq(json_int(d, "failed"), 0);
	ck_assert_int_eq(u.down, 0);
	ck_assert_int_eq(u.up, 0);
	deliver_free(d);
	smtp_free(smtp);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

START_TEST(deliver_relay_down_then_back)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct spool *sp = open_spool();
	int port = testutil_free_port(SOCK_STREAM);
	char *maildir, url[64];
	struct smtp_relay r;
	struct deliver *d;
	struct updown u;
	struct wait_mail w;
	json_t *j;

	queue(sp);
	relay_at(&r, url, sizeof(url), port);
	d = engine(base, sp, smtp, &r, 1, &u);
	deliver_kick(d);
	ck_assert_msg(testutil_loop_until(base, went_down, &u, 10000),
	    "never went down: failed %lld", (long long)json_int(d, "failed"));
	ck_assert_int_ge(json_int(d, "failed"), DELIVER_DOWN_FAILURES);
	/* Keep failing for a while: nothing lost, down reported only once. */
	testutil_loop_until(base, never, NULL, 1000);
	ck_assert_int_eq(u.down, 1);
	ck_assert_int_eq(u.up, 0);
	ck_assert_uint_eq(spool_count(sp), NMSG);
	ck_assert_int_eq(deliver_down(d), 1);
	j = deliver_json(d);
	ck_assert(json_is_true(json_object_get(j, "down")));
	ck_assert_int_gt(json_integer_value(json_object_get(j, "down_since")), 0);
	ck_assert_str_ne(json_string_value(json_object_get(j, "down_reason")), "");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "queued")), NMSG);
	json_decref(j);

	maildir = testutil_aiosmtpd(dir, port);
	deliver_kick(d);
	w = (struct wait_mail){ maildir, NMSG, sp };
	ck_assert_msg(testutil_loop_until(base, mail_arrived, &w, 15000),
	    "%zu of %d mails arrived, %zu queued", testutil_maildir_count(maildir), NMSG,
	    spool_count(sp));
	testutil_loop_until(base, never, NULL, 300);
	assert_all_in_order(maildir);
	ck_assert_int_eq(u.down, 1);
	ck_assert_int_eq(u.up, 1);
	ck_assert_int_eq(deliver_down(d), 0);
	ck_assert_int_eq(json_int(d, "delivered"), NMSG);
	deliver_free(d);
	smtp_free(smtp);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

START_TEST(deliver_failover)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct spool *sp = open_spool();
	int down = testutil_free_port(SOCK_STREAM), up;
	char *maildir, url0[64], url1[64];
	struct smtp_relay r[2];
	struct deliver *d;
	struct updown u;
	struct wait_mail w;
	json_t *j;

	do
		up = testutil_free_port(SOCK_STREAM);
	while (up == down);
	maildir = testutil_aiosmtpd(dir, up);
	queue(sp);
	relay_at(&r[0], url0, sizeof(url0), down);
	relay_at(&r[1], url1, sizeof(url1), up);
	d = engine(base, sp, smtp, r, 2, &u);
	/* The engine copied the relays. */
	memset(url0, 'x', sizeof(url0) - 1);
	memset(url1, 'x', sizeof(url1) - 1);
	deliver_kick(d);
	w = (struct wait_mail){ maildir, NMSG, sp };
	ck_assert_msg(testutil_loop_until(base, mail_arrived, &w, 15000),
	    "%zu of %d mails arrived, %zu queued", testutil_maildir_count(maildir), NMSG,
	    spool_count(sp));
	testutil_loop_until(base, never, NULL, 300);
	assert_all_in_order(maildir);
	j = deliver_json(d);
	snprintf(url1, sizeof(url1), "smtp://127.0.0.1:%d", up);
	ck_assert_str_eq(json_string_value(json_object_get(j, "last_relay")), url1);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "failed")), 0);
	json_decref(j);
	ck_assert_int_eq(u.down, 0);
	deliver_free(d);
	smtp_free(smtp);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

START_TEST(deliver_after_reopen)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct spool *sp = open_spool();
	int port = testutil_free_port(SOCK_STREAM);
	char *maildir, url[64];
	struct smtp_relay r;
	struct deliver *d;
	struct updown u;
	struct wait_mail w;

	queue(sp);
	/* A first life: the relay is not there yet, attempts fail. */
	relay_at(&r, url, sizeof(url), port);
	d = engine(base, sp, smtp, &r, 1, &u);
	deliver_kick(d);
	ck_assert(testutil_loop_until(base, went_down, &u, 10000));
	deliver_free(d);
	smtp_free(smtp);
	spool_close(sp);

	/* After the restart. */
	maildir = testutil_aiosmtpd(dir, port);
	smtp = client(base);
	sp = open_spool();
	ck_assert_uint_eq(spool_count(sp), NMSG);
	d = engine(base, sp, smtp, &r, 1, &u);
	deliver_kick(d);
	w = (struct wait_mail){ maildir, NMSG, sp };
	ck_assert_msg(testutil_loop_until(base, mail_arrived, &w, 15000),
	    "%zu of %d mails arrived, %zu queued", testutil_maildir_count(maildir), NMSG,
	    spool_count(sp));
	testutil_loop_until(base, never, NULL, 300);
	assert_all_in_order(maildir);
	deliver_free(d);
	smtp_free(smtp);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

START_TEST(deliver_bad_arguments)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct spool *sp = open_spool();
	struct smtp_relay r;
	char err[256] = "";

	smtp_relay_init(&r);
	ck_assert_ptr_null(deliver_new(base, sp, smtp, &r, 1, err, sizeof(err)));
	ck_assert_str_ne(err, "");
	ck_assert_ptr_null(deliver_new(base, sp, smtp, &r, 0, err, sizeof(err)));
	deliver_free(NULL);
	smtp_free(smtp);
	spool_close(sp);
	event_base_free(base);
}
END_TEST

/*
 * Sendmail relays: msmtp (no system configuration, no TLS, no AUTH) for the
 * relay on 127.0.0.1:port.
 */
#define MSMTP "/usr/bin/msmtp"

static void
sendmail_at(struct smtp_relay *r, const char **argv, char *opt, size_t len, int port)
{
	ck_assert_msg(access(MSMTP, X_OK) == 0, "%s: %s (scripts/setup.sh installs it)",
	    MSMTP, strerror(errno));
	snprintf(opt, len, "--port=%d", port);
	argv[0] = MSMTP;
	argv[1] = "-C";
	argv[2] = "/dev/null";
	argv[3] = "--host=127.0.0.1";
	argv[4] = opt;
	argv[5] = "--auth=off";
	argv[6] = "--tls=off";
	argv[7] = NULL;
	smtp_relay_init(r);
	r->sendmail = argv;
	r->timeout_ms = 10000;
}

static const char *
json_str(struct deliver *d, const char *key, char *buf, size_t len)
{
	json_t *j = deliver_json(d);

	snprintf(buf, len, "%s", json_string_value(json_object_get(j, key)));
	json_decref(j);
	return buf;
}

/* Every queued message was tried at least once. */
static int
all_tried(void *arg)
{
	struct spool *sp = arg;
	struct spool_msg *m;
	char err[256];
	uint64_t id;
	int tried = 1;

	for (id = spool_first(sp); id != 0 && tried; id = spool_next(sp, id)) {
		if ((m = spool_get(sp, id, err, sizeof(err))) == NULL)
			return 0;
		tried = m->attempts >= 1;
		spool_msg_free(m);
	}
	return tried;
}

/* Through msmtp only, with no SMTP client at all. */
START_TEST(deliver_sendmail_relay)
{
	struct event_base *base = event_base_new();
	struct spool *sp = open_spool();
	int port = testutil_free_port(SOCK_STREAM);
	char *maildir = testutil_aiosmtpd(dir, port), opt[32], buf[256];
	const char *argv[8];
	struct smtp_relay r;
	struct deliver *d;
	struct updown u;
	struct wait_mail w;

	queue(sp);
	sendmail_at(&r, argv, opt, sizeof(opt), port);
	d = engine(base, sp, NULL, &r, 1, &u);
	/* The engine copied the argv. */
	memset(opt, 'x', sizeof(opt) - 1);
	argv[0] = "/nonexistent";
	deliver_kick(d);
	w = (struct wait_mail){ maildir, NMSG, sp };
	ck_assert_msg(testutil_loop_until(base, mail_arrived, &w, 20000),
	    "%zu of %d mails arrived, %zu queued (%s)", testutil_maildir_count(maildir),
	    NMSG, spool_count(sp), json_str(d, "last_error", buf, sizeof(buf)));
	testutil_loop_until(base, never, NULL, 300);
	assert_all_in_order(maildir);
	ck_assert_uint_eq(
	    testutil_maildir_with(maildir, "X-MailFrom: sonae@example.org"), NMSG);
	ck_assert_uint_eq(
	    testutil_maildir_with(maildir, "X-RcptTo: ict@example.org"), NMSG);
	ck_assert_str_eq(json_str(d, "last_relay", buf, sizeof(buf)), "sendmail:" MSMTP);
	ck_assert_int_eq(json_int(d, "delivered"), NMSG);
	ck_assert_int_eq(json_int(d, "failed"), 0);
	ck_assert_uint_eq(child_running(), 0);
	deliver_free(d);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* The SMTP relay is down: the sendmail relay after it takes every message. */
START_TEST(deliver_failover_to_sendmail)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct spool *sp = open_spool();
	int down = testutil_free_port(SOCK_STREAM), up;
	char *maildir, url[64], opt[32], buf[256];
	const char *argv[8];
	struct smtp_relay r[2];
	struct deliver *d;
	struct updown u;
	struct wait_mail w;

	do
		up = testutil_free_port(SOCK_STREAM);
	while (up == down);
	maildir = testutil_aiosmtpd(dir, up);
	queue(sp);
	relay_at(&r[0], url, sizeof(url), down);
	sendmail_at(&r[1], argv, opt, sizeof(opt), up);
	d = engine(base, sp, smtp, r, 2, &u);
	deliver_kick(d);
	w = (struct wait_mail){ maildir, NMSG, sp };
	ck_assert_msg(testutil_loop_until(base, mail_arrived, &w, 20000),
	    "%zu of %d mails arrived, %zu queued (%s)", testutil_maildir_count(maildir),
	    NMSG, spool_count(sp), json_str(d, "last_error", buf, sizeof(buf)));
	testutil_loop_until(base, never, NULL, 300);
	assert_all_in_order(maildir);
	ck_assert_str_eq(json_str(d, "last_relay", buf, sizeof(buf)), "sendmail:" MSMTP);
	ck_assert_int_eq(json_int(d, "failed"), 0);
	ck_assert_int_eq(u.down, 0);
	deliver_free(d);
	smtp_free(smtp);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* msmtp cannot connect: transient, the message kept with msmtp's reason. */
START_TEST(deliver_sendmail_down)
{
	struct event_base *base = event_base_new();
	struct spool *sp = open_spool();
	int port = testutil_free_port(SOCK_STREAM);
	char opt[32], err[256] = "";
	const char *argv[8];
	struct smtp_relay r;
	struct deliver *d;
	struct updown u;
	struct spool_msg *m;
	uint64_t first;

	queue(sp);
	sendmail_at(&r, argv, opt, sizeof(opt), port);
	d = engine(base, sp, NULL, &r, 1, &u);
	deliver_kick(d);
	ck_assert_msg(testutil_loop_until(base, went_down, &u, 15000),
	    "never went down: failed %lld", (long long)json_int(d, "failed"));
	ck_assert_uint_eq(spool_count(sp), NMSG);
	ck_assert_int_eq(json_int(d, "refused"), 0);
	first = spool_first(sp);
	ck_assert_ptr_nonnull(m = spool_get(sp, first, err, sizeof(err)));
	ck_assert_int_ge(m->attempts, 1);
	ck_assert_str_eq(m->last_relay, "sendmail:" MSMTP);
	ck_assert_msg(strstr(m->last_error, "exit 75 (EX_TEMPFAIL)") != NULL &&
	                  strstr(m->last_error, "Connection refused") != NULL,
	    "%s", m->last_error);
	spool_msg_free(m);
	/* The round stopped at the first message: the others were not tried. */
	ck_assert_ptr_nonnull(m = spool_get(sp, spool_next(sp, first), err, sizeof(err)));
	ck_assert_int_eq(m->attempts, 0);
	spool_msg_free(m);
	deliver_free(d);
	testutil_loop_until(base, never, NULL, 300);
	spool_close(sp);
	event_base_free(base);
}
END_TEST

/* A recipient refused with 550: permanent, every message kept and tried. */
START_TEST(deliver_sendmail_refused)
{
	const char *extra[] = { "--refuse", "ict@example.org", NULL };
	struct event_base *base = event_base_new();
	struct spool *sp = open_spool();
	int port = testutil_free_port(SOCK_STREAM);
	char *maildir = testutil_smtp_server(dir, "relay", port, extra);
	char opt[32], err[256] = "";
	const char *argv[8];
	struct smtp_relay r;
	struct deliver *d;
	struct updown u;
	struct spool_msg *m;
	uint64_t id;

	queue(sp);
	sendmail_at(&r, argv, opt, sizeof(opt), port);
	d = engine(base, sp, NULL, &r, 1, &u);
	deliver_kick(d);
	ck_assert_msg(testutil_loop_until(base, all_tried, sp, 20000),
	    "refused %lld, failed %lld", (long long)json_int(d, "refused"),
	    (long long)json_int(d, "failed"));
	ck_assert_int_ge(json_int(d, "refused"), NMSG);
	ck_assert_int_eq(json_int(d, "refused"), json_int(d, "failed"));
	ck_assert_uint_eq(spool_count(sp), NMSG);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 0);
	for (id = spool_first(sp); id != 0; id = spool_next(sp, id)) {
		ck_assert_ptr_nonnull(m = spool_get(sp, id, err, sizeof(err)));
		ck_assert_int_ge(m->attempts, 1);
		ck_assert_msg(strstr(m->last_error, "exit 65 (EX_DATAERR)") != NULL, "%s",
		    m->last_error);
		spool_msg_free(m);
	}
	deliver_free(d);
	testutil_loop_until(base, never, NULL, 300);
	spool_close(sp);
	event_base_free(base);
	free(maildir);
}
END_TEST

START_TEST(deliver_sendmail_bad_arguments)
{
	const char *relative[] = { "sendmail", "-i", NULL }, *none[] = { NULL };
	const char *ok[] = { "/usr/sbin/sendmail", "-i", NULL };
	struct event_base *base = event_base_new();
	struct spool *sp = open_spool();
	struct smtp_relay r[2];
	char err[256] = "", url[64];

	smtp_relay_init(&r[0]);
	r[0].sendmail = relative;
	ck_assert_ptr_null(deliver_new(base, sp, NULL, r, 1, err, sizeof(err)));
	ck_assert_msg(strstr(err, "absolute") != NULL, "%s", err);
	r[0].sendmail = none;
	ck_assert_ptr_null(deliver_new(base, sp, NULL, r, 1, err, sizeof(err)));
	/* An SMTP relay needs the client. */
	r[0].sendmail = ok;
	relay_at(&r[1], url, sizeof(url), 25);
	err[0] = '\0';
	ck_assert_ptr_null(deliver_new(base, sp, NULL, r, 2, err, sizeof(err)));
	ck_assert_str_ne(err, "");
	deliver_free(deliver_new(base, sp, NULL, r, 1, err, sizeof(err)));
	spool_close(sp);
	event_base_free(base);
}
END_TEST

static Suite *
deliver_suite(void)
{
	Suite *s = suite_create("deliver");
	TCase *tc = tcase_create("aiosmtpd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, deliver_all_in_order);
	tcase_add_test(tc, deliver_relay_down_then_back);
	tcase_add_test(tc, deliver_failover);
	tcase_add_test(tc, deliver_after_reopen);
	tcase_add_test(tc, deliver_bad_arguments);
	tcase_add_test(tc, deliver_sendmail_relay);
	tcase_add_test(tc, deliver_failover_to_sendmail);
	tcase_add_test(tc, deliver_sendmail_down);
	tcase_add_test(tc, deliver_sendmail_refused);
	tcase_add_test(tc, deliver_sendmail_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(deliver_suite());
}
