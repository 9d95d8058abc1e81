/*
 * A relay that is a local sendmail program: the message on its stdin, the
 * envelope on its command line, its exit code as the answer.  Run through
 * child_run(), so on the loop, without a shell and with a timeout.
 *
 * The command line is the configured argv, then "-f" and the envelope
 * sender (left out for the null sender "": each sendmail has its own way of
 * saying <>, and without -f it uses its configured one; msmtp with no
 * configured "from" then exits 78, "envelope-from address is missing",
 * while msmtp -f '' would send <>), then "--" so that
 * no recipient is ever read as an option, then the recipients.  The message
 * goes as rendered, CRLF line ends: msmtp passes it on as it is (tested);
 * Postfix's sendmail turns CRLF into LF itself (sendmail_fix_line_endings,
 * "always" by default) and Exim drops a CR before LF in non-SMTP input.
 *
 * Exit codes are sysexits(3).  What msmtp 1.8.23 (Debian 12) returned,
 * measured against aiosmtpd and tests/integration/smtp_server.py:
 *
 *   0   EX_OK           the relay accepted the message (250 after DATA)
 *   65  EX_DATAERR      a 5xx to MAIL FROM or to RCPT TO (550 5.1.1)
 *   69  EX_UNAVAILABLE  a 4xx to MAIL FROM or RCPT TO (450, 451); any refusal
 *                       of the end of DATA, 4xx and 5xx alike (452, 554); the
 *                       connection dropped; STARTTLS required but not offered
 *   75  EX_TEMPFAIL     connection refused
 *   68  EX_NOHOST       the relay's host name does not resolve
 *   74  EX_IOERR        the relay does not answer (msmtp's own timeout)
 *   76  EX_PROTOCOL     a 421 or 554 greeting
 *   78  EX_CONFIG       no relay configured (no account, no --host)
 *   64  EX_USAGE        an option it does not know
 *
 * So a permanent refusal -- the message itself will not be taken, another
 * relay would refuse it too -- is EX_DATAERR, and EX_NOUSER (67, "addressee
 * unknown", what sendmail itself says).  Everything else is transient: the
 * message stays queued and the next relay is tried.  That includes
 * EX_NOHOST (for msmtp it is the relay's name, and name service fails in
 * the disasters this daemon reports), EX_USAGE and EX_CONFIG (a mistake in
 * the configuration, not in the message), signals, timeouts and a program
 * that cannot run.  When unsure, transient: a message retried too often is
 * better than one dropped.  msmtp's 5xx to the end of DATA is EX_UNAVAILABLE
 * like a 4xx, so that refusal is retried too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"

#define SENDMAIL_OUTPUT_MAX 4096 /* only the first line is used */
#define SENDMAIL_LINE_MAX   240
#define SENDMAIL_REASON_MAX 640
#define NELEM(a)            (sizeof(a) / sizeof((a)[0]))

struct sendmail_job {
	void (*done)(void *, int, int, const char *);
	void *arg;
	/* A failure found before the program ran, reported from the loop. */
	int permanent;
	char reason[SENDMAIL_REASON_MAX];
};

static const char *const sysexits[] = {
	"EX_USAGE",
	"EX_DATAERR",
	"EX_NOINPUT",
	"EX_NOUSER",
	"EX_NOHOST",
	"EX_UNAVAILABLE",
	"EX_SOFTWARE",
	"EX_OSERR",
	"EX_OSFILE",
	"EX_CANTCREAT",
	"EX_IOERR",
	"EX_TEMPFAIL",
	"EX_PROTOCOL",
	"EX_NOPERM",
	"EX_CONFIG",
};

/* The first line of out, printable, at most len - 1 bytes. */
static void
first_line(char *dst, size_t len, const char *out)
{
	size_t i, n = strcspn(out, "\r\n");

	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
	/* It goes into JSON (the queue, the journal): UTF-8 or nothing but ASCII. */
	if (!utf8_valid(dst, n))
		for (i = 0; i < n; i++)
			if ((unsigned char)dst[i] >= 0x80)
				dst[i] = '?';
}

static void
on_child(void *arg, const struct child_result *r)
{
	struct sendmail_job *j = arg;
	char line[SENDMAIL_LINE_MAX], reason[SENDMAIL_REASON_MAX], name[32] = "";
	int ok = 0, permanent = 0;

	/* Exited while being stopped for its timeout: transient, whatever it said. */
	if (r->exited && !r->timed_out) {
		ok = r->status == 0;
		permanent = r->status == 65 || r->status == 67;
		if (r->status >= 64 && r->status < 64 + (int)NELEM(sysexits))
			snprintf(name, sizeof(name), " (%s)", sysexits[r->status - 64]);
	}
	first_line(line, sizeof(line), r->output);
	snprintf(reason, sizeof(reason), "%s%s%s%s", r->reason, name,
	    line[0] != '\0' ? ": " : "", line);
	j->done(j->arg, ok, permanent, reason);
	free(j);
}

/* Report a failure found before the program ran. */
static void
on_early(evutil_socket_t fd, short what, void *arg)
{
	struct sendmail_job *j = arg;

	(void)fd;
	(void)what;
	j->done(j->arg, 0, j->permanent, j->reason);
	free(j);
}

static int
report_later(struct event_base *base, struct sendmail_job *j)
{
	struct timeval zero = { 0, 0 };

	if (event_base_once(base, -1, EV_TIMEOUT, on_early, j, &zero) == -1) {
		free(j);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Hand msg to the sendmail program argv for rcpt, from env_from; see
 * alert.h for the outcome.
 */
int
sendmail_send(struct event_base *base, const char *const *argv, int64_t timeout_ms,
    const char *env_from, const char *const *rcpt, size_t nrcpt, const char *msg,
    size_t len, void (*done)(void *arg, int ok, int permanent, const char *reason),
    void *arg)
{
	struct child_opts o;
	struct sendmail_job *j;
	const char **av;
	char err[SENDMAIL_REASON_MAX];
	size_t n, i, k = 0;

	if (base == NULL || argv == NULL || argv[0] == NULL || env_from == NULL ||
	    rcpt == NULL || nrcpt == 0 || (msg == NULL && len > 0) || done == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < nrcpt; i++)
		if (rcpt[i] == NULL) {
			errno = EINVAL;
			return -1;
		}
	j = xcalloc(1, sizeof(*j));
	j->done = done;
	j->arg = arg;
	if (mail_has_control(env_from)) {
		j->permanent = 1;
		snprintf(j->reason, sizeof(j->reason),
		    "invalid sender address: a control character");
		return report_later(base, j);
	}
	for (i = 0; i < nrcpt; i++)
		if (rcpt[i][0] == '\0' || mail_has_control(rcpt[i])) {
			j->permanent = 1;
			snprintf(j->reason, sizeof(j->reason),
			    "invalid recipient address: %s",
			    rcpt[i][0] == '\0' ? "empty" : "a control character");
			return report_later(base, j);
		}

	for (n = 0; argv[n] != NULL; n++)
		continue;
	av = xcalloc(n + 3 + nrcpt + 1, sizeof(*av));
	for (i = 0; i < n; i++)
		av[k++] = argv[i];
	if (env_from[0] != '\0') {
		av[k++] = "-f";
		av[k++] = env_from;
	}
	av[k++] = "--";
	for (i = 0; i < nrcpt; i++)
		av[k++] = rcpt[i];
	av[k] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = av;
	o.input = msg != NULL ? msg : "";
	o.input_len = len;
	o.timeout_ms = timeout_ms;
	o.output_max = SENDMAIL_OUTPUT_MAX;
	if (child_run(base, &o, on_child, j, err, sizeof(err)) == -1) {
		free(av);
		snprintf(j->reason, sizeof(j->reason), "%s", err);
		return report_later(base, j);
	}
	free(av);
	return 0;
}
