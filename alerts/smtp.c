/*
 * The SMTP transport: hands one message to a mail relay with libcurl and
 * tells the caller, once and on the caller's loop, whether the relay took it.
 * STARTTLS or implicit TLS with certificate verification, AUTH with a
 * password the caller read from its secret file, and smtp_send_any() trying
 * several relays in order.
 *
 * libcurl runs on one worker thread per struct smtp, never on the caller's
 * loop.  libcurl's SMTP is not fully non-blocking, even under the multi
 * interface: after the last byte of DATA it waits for the relay's answer
 * inside curl_multi_socket_action(), and it waits again for the answer to
 * QUIT when it closes a connection (curl issue #8555, a "known issue" still
 * open in 7.88; measured here: one curl_multi_socket_action() call lasts as
 * long as the relay takes to answer the end of DATA).  A relay that is slow
 * to queue a message -- content scanning, a disk filling up, a link dropping
 * during a disaster -- would stall every probe and the control socket for up
 * to the transfer's timeout.  So the worker has its own event_base and
 * drives libcurl's multi_socket API there: one event per socket libcurl asks
 * to watch (CURLMOPT_SOCKETFUNCTION), one timer (CURLMOPT_TIMERFUNCTION),
 * curl_multi_socket_action() when either fires, curl_multi_info_read() for
 * the transfers that ended.  A stall inside libcurl holds up the other mails
 * of this struct smtp (bounded by each transfer's timeout), never the loop.
 *
 * Hand-over, like the modbus probe's: smtp_send() copies everything into a
 * job, queues it under the mutex and wakes the worker through an eventfd;
 * the worker queues the finished job back and wakes the loop through another
 * eventfd, where the done callback runs.  So done is never called from
 * inside smtp_send().
 *
 * Names: libcurl resolves relay host names on its own thread when it was
 * built with the threaded resolver (CURL_VERSION_ASYNCHDNS; Debian 12's
 * libcurl4 7.88.1 is); without it a lookup would block the worker, not the
 * loop.  Numeric addresses need no lookup at all.
 *
 * Credentials: the password is copied into the job, wiped when the job is
 * freed, and never logged.  The dialogue is logged with log_debug() only at
 * verbosity 2 or more (sonaed -vv), with the AUTH exchange blanked out; the
 * message body is never logged.  A relay URL is logged without any
 * user:password@ part (and smtp_send refuses URLs that have one).
 */
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"

#define SMTP_LINE_MAX   256 /* a relay's answer kept for the reason */
#define SMTP_REASON_MAX 640
#define SMTP_URL_MAX    256 /* a relay URL as logged */
#define SMTP_DEBUG_MAX  200 /* bytes of a dialogue line logged */

struct smtp_job {
	TAILQ_ENTRY(smtp_job) entry;
	/* Copies of the caller's arguments. */
	struct smtp_relay *relays;
	size_t nrelays;
	char *from;
	char **rcpt;
	size_t nrcpt;
	char *msg; /* CRLF line ends */
	size_t len;
	void (*done)(void *, int, int, const char *);
	void (*done_any)(void *, int, int, size_t, const char *);
	void *arg;
	/* Worker thread, while the job runs. */
	size_t cur; /* the relay being tried */
	CURL *easy;
	struct curl_slist *rcpt_list;
	size_t off;  /* of msg, read by libcurl */
	int in_auth; /* the debug log is inside an AUTH exchange */
	char url[SMTP_URL_MAX];
	char errbuf[CURL_ERROR_SIZE];
	char last[SMTP_LINE_MAX]; /* the relay's last answer line */
	/* The outcome. */
	int ok, permanent;
	char reason[SMTP_REASON_MAX];
};
TAILQ_HEAD(smtp_jobs, smtp_job);

/* A socket libcurl asked the worker to watch. */
struct smtp_sock {
	LIST_ENTRY(smtp_sock) entry;
	struct event *ev;
};

struct smtp {
	/* Loop thread. */
	struct event_base *base;
	int done_fd; /* eventfd: the worker finished jobs */
	struct event *done_ev;
	int closing;
	int *freed; /* while done callbacks run: smtp_free() sets it */
	pthread_t thread;
	pthread_mutex_t mu;
	/* Under mu. */
	struct smtp_jobs submitted, finished;
	int stopping;
	int *fds; /* the sockets libcurl has open (opensocket/closesocket) */
	size_t nfds, capfds;
	/* Worker thread; the loop thread's again once the worker has ended. */
	int wake_fd; /* eventfd: jobs were submitted, or stop */
	struct event_base *wbase;
	struct event *wake_ev;
	struct event *timer;
	CURLM *multi;
	struct smtp_jobs running;
	LIST_HEAD(, smtp_sock) socks;
};

/* Fill r with the defaults: certificate verification on, default timeouts. */
void
smtp_relay_init(struct smtp_relay *r)
{
	memset(r, 0, sizeof(*r));
}

/* --- plain helpers ---------------------------------------------------------- */

static void
eventfd_kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) == -1) {
		/* EAGAIN only: the counter is far from full, the reader wakes. */
	}
}

/* The URL without a user:password@ part, for the log and for reasons. */
static void
url_redact(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://"), *host, *at, *slash;

	if (p == NULL) {
		snprintf(buf, len, "%s", url);
		return;
	}
	host = p + 3;
	slash = host + strcspn(host, "/");
	at = memchr(host, '@', (size_t)(slash - host));
	if (at == NULL)
		snprintf(buf, len, "%s", url);
	else
		snprintf(buf, len, "%.*s%s", (int)(host - url), url, at + 1);
}

/* Why the relay cannot be used as given, or NULL. */
static const char *
relay_check(const struct smtp_relay *r)
{
	const char *host, *end;
	int tls;

	if (strncasecmp(r->url, "smtp://", 7) == 0) {
		host = r->url + 7;
		tls = r->starttls;
	} else if (strncasecmp(r->url, "smtps://", 8) == 0) {
		host = r->url + 8;
		tls = 1;
	} else
		return "the relay URL is not smtp:// or smtps://";
	if (mail_has_control(r->url) || strchr(r->url, ' ') != NULL)
		return "the relay URL holds a space or a control character";
	end = host + strcspn(host, "/");
	if (end == host || *host == ':')
		return "the relay URL has no host";
	if (memchr(host, '@', (size_t)(end - host)) != NULL)
		return "the relay URL holds credentials: give them as user and password";
	if (r->user != NULL && !tls)
		return "refusing to send a password without TLS: set starttls or use "
		       "smtps://";
	if (r->user != NULL && (r->password == NULL || mail_has_control(r->user)))
		return "the relay has a user but no password, or a bad user name";
	return NULL;
}

/* Copy a relay; the strings become the job's. */
static void
relay_copy(struct smtp_relay *dst, const struct smtp_relay *src)
{
	*dst = *src;
	dst->url = xstrdup(src->url);
	dst->ca_file = src->ca_file != NULL ? xstrdup(src->ca_file) : NULL;
	dst->user = src->user != NULL ? xstrdup(src->user) : NULL;
	dst->password = src->password != NULL ? xstrdup(src->password) : NULL;
	dst->login_options =
	    src->login_options != NULL ? xstrdup(src->login_options) : NULL;
	dst->sendmail = NULL; /* deliver.c's business, not copied */
}

static void
relay_clear(struct smtp_relay *r)
{
	char *pw = (char *)(uintptr_t)r->password;

	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	free((char *)(uintptr_t)r->url);
	free((char *)(uintptr_t)r->ca_file);
	free((char *)(uintptr_t)r->user);
	free((char *)(uintptr_t)r->login_options);
}

/* The message with every bare LF made CRLF, as SMTP wants. */
static char *
msg_copy(const char *msg, size_t len, size_t *outlen)
{
	size_t i, n = 0, bare = 0;
	char *out;

	for (i = 0; i < len; i++)
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			bare++;
	out = xmalloc(len + bare + 1);
	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = msg[i];
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* Keep len bytes of a relay's answer as one printable line. */
static void
line_keep(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t i, n = 0;

	while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r'))
		len--;
	for (i = 0; i < len && n + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[n++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
}

static void
job_free(struct smtp_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->nrelays; i++)
		relay_clear(&j->relays[i]);
	free(j->relays);
	for (i = 0; i < j->nrcpt; i++)
		free(j->rcpt[i]);
	free(j->rcpt);
	free(j->from);
	free(j->msg);
	curl_slist_free_all(j->rcpt_list);
	free(j);
}

static void job_set(struct smtp_job *j, int ok, int permanent, const char *fmt, ...)
    PRINTFLIKE(4, 5);

static void
job_set(struct smtp_job *j, int ok, int permanent, const char *fmt, ...)
{
	va_list ap;

	j->ok = ok;
	j->permanent = permanent;
	va_start(ap, fmt);
	vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
	va_end(ap);
}

/* --- worker: libcurl callbacks ---------------------------------------------- */

static size_t
job_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct smtp_job *j = arg;
	size_t n = size * nitems, left = j->len - j->off;

	if (n > left)
		n = left;
	memcpy(buf, j->msg + j->off, n);
	j->off += n;
	return n;
}

/* libcurl hands every line the relay answers to the header callback. */
static size_t
job_answer(char *buf, size_t size, size_t nitems, void *arg)
{
	struct smtp_job *j = arg;
	size_t n = size * nitems;

	/* The answer to QUIT says nothing about the message. */
	if (n < 3 || strncmp(buf, "221", 3) != 0)
		line_keep(j->last, sizeof(j->last), buf, n);
	return n;
}

static size_t
job_discard(char *buf, size_t size, size_t nitems, void *arg)
{
	(void)buf;
	(void)arg;
	return size * nitems;
}

/*
 * The dialogue, at verbosity 2.  What the client says from "AUTH" until the
 * relay answers with something other than a 334 challenge is credentials:
 * only the command word and the mechanism are shown.  Message data and TLS
 * records are not logged.
 */
static int
job_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
	struct smtp_job *j = arg;
	char line[SMTP_DEBUG_MAX];

	(void)easy;
	switch (type) {
	case CURLINFO_TEXT:
		line_keep(line, sizeof(line), data, size);
		log_debug("smtp %s: * %s", j->url, line);
		break;
	case CURLINFO_HEADER_IN:
		line_keep(line, sizeof(line), data, size);
		if (j->in_auth && strncmp(line, "334", 3) != 0)
			j->in_auth = 0;
		log_debug("smtp %s: < %s", j->url, line);
		break;
	case CURLINFO_HEADER_OUT:
		if (size >= 5 && strncasecmp(data, "AUTH ", 5) == 0) {
			j->in_auth = 1;
			line_keep(line, sizeof(line), data, size);
			line[5 + strcspn(line + 5, " ")] = '\0';
			log_debug("smtp %s: > %s [credentials not logged]", j->url, line);
		} else if (j->in_auth)
			log_debug("smtp %s: > [credentials not logged]", j->url);
		else {
			line_keep(line, sizeof(line), data, size);
			log_debug("smtp %s: > %s", j->url, line);
		}
		break;
	default:
		break;
	}
	return 0;
}

/*
 * libcurl opens and closes its sockets through these two, so the loop
 * thread knows which are open and can shut them down in smtp_free(): that
 * ends any wait inside libcurl at once.  The list is under the mutex, so a
 * socket number is never shut down after libcurl closed it.
 */
static curl_socket_t
smtp_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct smtp *smtp = arg;
	int fd = -1;

	(void)purpose;
	pthread_mutex_lock(&smtp->mu);
	if (!smtp->stopping) {
		fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
		if (fd != -1) {
			if (smtp->nfds == smtp->capfds) {
				smtp->capfds = smtp->capfds ? smtp->capfds * 2 : 4;
				smtp->fds = xreallocarray(
				    smtp->fds, smtp->capfds, sizeof(*smtp->fds));
			}
			smtp->fds[smtp->nfds++] = fd;
		}
	}
	pthread_mutex_unlock(&smtp->mu);
	return fd == -1 ? CURL_SOCKET_BAD : fd;
}

static int
smtp_closesocket(void *arg, curl_socket_t fd)
{
	struct smtp *smtp = arg;
	size_t i;
	int rc;

	pthread_mutex_lock(&smtp->mu);
	for (i = 0; i < smtp->nfds; i++)
		if (smtp->fds[i] == fd) {
			smtp->fds[i] = smtp->fds[--smtp->nfds];
			break;
		}
	rc = close(fd);
	pthread_mutex_unlock(&smtp->mu);
	return rc;
}

/* --- worker: the multi_socket loop ------------------------------------------ */

static void smtp_check(struct smtp *);

static void
smtp_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct smtp *smtp = arg;
	int running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(smtp->multi, fd, action, &running);
	smtp_check(smtp);
}

static void
smtp_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp *smtp = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(smtp->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	smtp_check(smtp);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl wants, or stop. */
static int
smtp_sock_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct smtp *smtp = arg;
	struct smtp_sock *ss = sockp;
	short ev = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ss != NULL) {
			LIST_REMOVE(ss, entry);
			event_free(ss->ev);
			free(ss);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (ss == NULL) {
		ss = xcalloc(1, sizeof(*ss));
		LIST_INSERT_HEAD(&smtp->socks, ss, entry);
		curl_multi_assign(smtp->multi, s, ss);
	} else
		event_free(ss->ev);
	if ((ss->ev = event_new(smtp->wbase, s, ev, smtp_on_sock, smtp)) == NULL)
		fatalx("%s: event_new", __func__);
	event_add(ss->ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; libcurl is called back when it fires. */
static int
smtp_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct smtp *smtp = arg;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(smtp->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(smtp->timer, &tv);
	return 0;
}

static int
smtp_is_stopping(struct smtp *smtp)
{
	int stopping;

	pthread_mutex_lock(&smtp->mu);
	stopping = smtp->stopping;
	pthread_mutex_unlock(&smtp->mu);
	return stopping;
}

/* Hand a job with its outcome back to the loop. */
static void
job_finish(struct smtp *smtp, struct smtp_job *j)
{
	TAILQ_REMOVE(&smtp->running, j, entry);
	pthread_mutex_lock(&smtp->mu);
	TAILQ_INSERT_TAIL(&smtp->finished, j, entry);
	pthread_mutex_unlock(&smtp->mu);
	eventfd_kick(smtp->done_fd);
}

/*
 * Whether to try the next relay.  A relay that took the message ends it; so
 * does a 5xx answer to the envelope or the data (the message itself is
 * refused: another relay would refuse it too, or deliver it to fewer
 * recipients).  Anything else -- no connection, a timeout, TLS, AUTH, a 4xx
 * -- is about this relay: the next one is tried.
 */
static int
job_next(struct smtp_job *j)
{
	char url[SMTP_URL_MAX];

	if (j->ok || j->permanent || j->cur + 1 >= j->nrelays)
		return 0;
	url_redact(j->relays[j->cur + 1].url, url, sizeof(url));
	log_info("smtp: relay %s failed: %s; trying %s", j->url, j->reason, url);
	j->cur++;
	return 1;
}

#define SETOPT(opt, val)                                                                 \
	do {                                                                             \
		if ((rc = curl_easy_setopt(j->easy, opt, val)) != CURLE_OK)              \
			goto bad;                                                        \
	} while (0)

/* Start the transfer to relays[cur]: 0, or -1 with the outcome set. */
static int
job_start(struct smtp *smtp, struct smtp_job *j)
{
	const struct smtp_relay *r = &j->relays[j->cur];
	const char *why;
	int64_t total, conn;
	CURLcode rc = CURLE_OK;
	CURLMcode mrc;
	size_t i;

	url_redact(r->url, j->url, sizeof(j->url));
	j->errbuf[0] = j->last[0] = '\0';
	j->off = 0;
	j->in_auth = 0;
	if (mail_has_control(j->from)) {
		job_set(j, 0, 1, "invalid sender address: a control character");
		return -1;
	}
	for (i = 0; i < j->nrcpt; i++)
		if (j->rcpt[i][0] == '\0' || mail_has_control(j->rcpt[i])) {
			job_set(j, 0, 1, "invalid recipient address: %s",
			    j->rcpt[i][0] == '\0' ? "empty" : "a control character");
			return -1;
		}
	if ((why = relay_check(r)) != NULL) {
		job_set(j, 0, 0, "%s", why);
		return -1;
	}
	total = r->timeout_ms > 0 ? r->timeout_ms : SMTP_TIMEOUT_MS;
	conn =
	    r->connect_timeout_ms > 0 ? r->connect_timeout_ms : SMTP_CONNECT_TIMEOUT_MS;
	if (conn > total)
		conn = total;
	if (j->rcpt_list == NULL)
		for (i = 0; i < j->nrcpt; i++) {
			struct curl_slist *l =
			    curl_slist_append(j->rcpt_list, j->rcpt[i]);
			if (l == NULL)
				fatalx("%s: curl_slist_append", __func__);
			j->rcpt_list = l;
		}
	if ((j->easy = curl_easy_init()) == NULL) {
		job_set(j, 0, 0, "curl_easy_init failed");
		return -1;
	}
	SETOPT(CURLOPT_PRIVATE, j);
	SETOPT(CURLOPT_ERRORBUFFER, j->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_VERBOSE, 0L);
	SETOPT(CURLOPT_URL, r->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
	SETOPT(CURLOPT_MAIL_FROM, j->from);
	SETOPT(CURLOPT_MAIL_RCPT, j->rcpt_list);
	SETOPT(CURLOPT_UPLOAD, 1L);
	SETOPT(CURLOPT_READFUNCTION, job_read);
	SETOPT(CURLOPT_READDATA, j);
	SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->len);
	SETOPT(CURLOPT_HEADERFUNCTION, job_answer);
	SETOPT(CURLOPT_HEADERDATA, j);
	SETOPT(CURLOPT_WRITEFUNCTION, job_discard);
	SETOPT(CURLOPT_USE_SSL, (long)(r->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(CURLOPT_SSL_VERIFYPEER, r->insecure ? 0L : 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, r->insecure ? 0L : 2L);
	if (r->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, r->ca_file);
	if (r->user != NULL) {
		SETOPT(CURLOPT_USERNAME, r->user);
		SETOPT(CURLOPT_PASSWORD, r->password);
	}
	if (r->login_options != NULL)
		SETOPT(CURLOPT_LOGIN_OPTIONS, r->login_options);
	SETOPT(CURLOPT_TIMEOUT_MS, (long)total);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)conn);
	/* Also bounds the wait for the answer to QUIT, which the total does not. */
#if LIBCURL_VERSION_NUM >= 0x080600
	SETOPT(CURLOPT_SERVER_RESPONSE_TIMEOUT_MS, (long)total);
#else
	SETOPT(CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)((total + 999) / 1000));
#endif
	/*
	 * A connection is kept only while the caller has more mail for the relay;
	 * the last message of a drain closes it: nothing stays open between
	 * alerts.  A kept connection is taken up by the next message (libcurl's
	 * connection cache, per multi handle, matched on host, port and TLS).
	 */
	SETOPT(CURLOPT_FORBID_REUSE, r->keep_open ? 0L : 1L);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, smtp_opensocket);
	SETOPT(CURLOPT_OPENSOCKETDATA, smtp);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, smtp_closesocket);
	SETOPT(CURLOPT_CLOSESOCKETDATA, smtp);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* Do not wait for a hung name lookup when a transfer is cancelled. */
	SETOPT(CURLOPT_QUICK_EXIT, 1L);
#endif
	if (log_getverbose() >= 2) {
		SETOPT(CURLOPT_DEBUGFUNCTION, job_debug);
		SETOPT(CURLOPT_DEBUGDATA, j);
		SETOPT(CURLOPT_VERBOSE, 1L);
	}
	if (r->insecure)
		log_debug("smtp %s: certificate verification is off", j->url);
	if ((mrc = curl_multi_add_handle(smtp->multi, j->easy)) != CURLM_OK) {
		job_set(j, 0, 0, "curl_multi_add_handle: %s", curl_multi_strerror(mrc));
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
		return -1;
	}
	log_debug(
	    "smtp %s: sending %zu bytes to %zu recipient(s)", j->url, j->len, j->nrcpt);
	return 0;
bad:
	job_set(j, 0, 0, "libcurl refused an option: %s", curl_easy_strerror(rc));
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	return -1;
}

#undef SETOPT

/* Start the job on its current relay, or on the next ones, or finish it. */
static void
job_run(struct smtp *smtp, struct smtp_job *j)
{
	for (;;) {
		if (smtp_is_stopping(smtp)) {
			job_set(j, 0, 0, "cancelled: the SMTP client was stopped");
			break;
		}
		if (job_start(smtp, j) == 0)
			return;
		if (!job_next(j))
			break;
	}
	job_finish(smtp, j);
}

/* The relay's answer with the code, for a reason. */
static const char *
job_said(struct smtp_job *j, long code, char *buf, size_t len)
{
	if (j->last[0] != '\0' && strtol(j->last, NULL, 10) == code)
		return j->last;
	snprintf(buf, len, "%ld", code);
	return buf;
}

/* Turn libcurl's result into ok, permanent and a reason. */
static void
job_outcome(struct smtp_job *j, CURLcode rc)
{
	long code = 0, oserr = 0;
	const char *detail;
	char num[24];

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(j->easy, CURLINFO_OS_ERRNO, &oserr);
	detail = j->errbuf[0] != '\0' ? j->errbuf : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_OK:
		job_set(j, 1, 0, "%s", j->last[0] != '\0' ? j->last : "accepted");
		break;
	case CURLE_COULDNT_CONNECT:
		job_set(j, 0, 0, "cannot connect: %s",
		    oserr != 0 ? strerror((int)oserr) : detail);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		job_set(j, 0, 0, "cannot resolve the relay's name: %s", detail);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		job_set(j, 0, 0, "timed out: %s", detail);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		job_set(j, 0, 0, "TLS certificate verification failed: %s", detail);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		job_set(j, 0, 0, "cannot use the CA file: %s", detail);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		job_set(j, 0, 0, "TLS handshake failed: %s", detail);
		break;
	case CURLE_USE_SSL_FAILED:
		job_set(j, 0, 0, "the relay does not offer STARTTLS (%s)", detail);
		break;
	case CURLE_LOGIN_DENIED:
		job_set(j, 0, 0, "authentication rejected: %s",
		    code >= 400 ? job_said(j, code, num, sizeof(num)) : detail);
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		/* libcurl's result for a refused MAIL, RCPT, DATA or end of data. */
		if (code >= 400 && code < 600) {
			job_set(j, 0, code >= 500, "refused: %s (%s)",
			    job_said(j, code, num, sizeof(num)), detail);
			break;
		}
		job_set(j, 0, 0, "connection lost: %s", detail);
		break;
	default:
		if (code >= 400 && code < 600)
			job_set(j, 0, 0, "%s; the relay said: %s", detail,
			    job_said(j, code, num, sizeof(num)));
		else
			job_set(j, 0, 0, "%s", detail);
		break;
	}
}

/* A transfer ended: record the outcome, then the next relay or the loop. */
static void
job_end(struct smtp *smtp, struct smtp_job *j, CURLcode rc)
{
	job_outcome(j, rc);
	curl_multi_remove_handle(smtp->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	log_debug("smtp %s: %s: %s", j->url, j->ok ? "accepted" : "failed", j->reason);
	if (!j->ok && smtp_is_stopping(smtp)) {
		char why[SMTP_REASON_MAX];
		snprintf(why, sizeof(why), "%s", j->reason);
		job_set(j, 0, 0, "cancelled: the SMTP client was stopped (%s)", why);
	}
	if (job_next(j))
		job_run(smtp, j);
	else
		job_finish(smtp, j);
}

/* Collect the transfers libcurl finished. */
static void
smtp_check(struct smtp *smtp)
{
	struct smtp_job *j;
	CURLMsg *m;
	int left;
	char *p;

	while ((m = curl_multi_info_read(smtp->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p) != CURLE_OK)
			fatalx("%s: CURLINFO_PRIVATE", __func__);
		j = (struct smtp_job *)(void *)p;
		job_end(smtp, j, m->data.result);
	}
}

/* Stop: every transfer still running is cancelled. */
static void
smtp_worker_stop(struct smtp *smtp)
{
	struct smtp_job *j;

	smtp_check(smtp);
	while ((j = TAILQ_FIRST(&smtp->running)) != NULL) {
		if (j->easy != NULL) {
			/* Its sockets are shut down: libcurl sends nothing more. */
			curl_multi_remove_handle(smtp->multi, j->easy);
			curl_easy_cleanup(j->easy);
			j->easy = NULL;
		}
		job_set(j, 0, 0, "cancelled: the SMTP client was stopped");
		job_finish(smtp, j);
	}
	event_base_loopbreak(smtp->wbase);
}

/* Jobs were submitted, or the loop asks the worker to stop. */
static void
smtp_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct smtp *smtp = arg;
	struct smtp_jobs jobs;
	struct smtp_job *j;
	uint64_t n;
	int stopping;

	(void)what;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("%s: read", __func__);
	TAILQ_INIT(&jobs);
	pthread_mutex_lock(&smtp->mu);
	stopping = smtp->stopping;
	if (!stopping)
		TAILQ_CONCAT(&jobs, &smtp->submitted, entry);
	pthread_mutex_unlock(&smtp->mu);
	if (stopping) {
		smtp_worker_stop(smtp);
		return;
	}
	while ((j = TAILQ_FIRST(&jobs)) != NULL) {
		TAILQ_REMOVE(&jobs, j, entry);
		TAILQ_INSERT_TAIL(&smtp->running, j, entry);
		job_run(smtp, j);
	}
}

static void *
smtp_worker(void *arg)
{
	struct smtp *smtp = arg;

	event_base_loop(smtp->wbase, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* --- the loop thread --------------------------------------------------------- */

static void
job_report(struct smtp_job *j)
{
	if (j->done_any != NULL)
		j->done_any(j->arg, j->ok, j->permanent, j->cur, j->reason);
	else
		j->done(j->arg, j->ok, j->permanent, j->reason);
}

/* The worker finished jobs: call their done callbacks, oldest first. */
static void
smtp_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtp *smtp = arg;
	struct smtp_job *j;
	uint64_t n;
	int freed = 0;

	(void)what;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("%s: read", __func__);
	smtp->freed = &freed;
	for (;;) {
		pthread_mutex_lock(&smtp->mu);
		if ((j = TAILQ_FIRST(&smtp->finished)) != NULL)
			TAILQ_REMOVE(&smtp->finished, j, entry);
		pthread_mutex_unlock(&smtp->mu);
		if (j == NULL)
			break;
		job_report(j);
		job_free(j);
		/* A done callback may free the struct smtp. */
		if (freed)
			return;
	}
	smtp->freed = NULL;
}

/*
 * Start the SMTP client on the loop of base: its worker thread and libcurl's
 * multi handle.  NULL with a reason in err if it cannot.
 */
struct smtp *
smtp_new(struct event_base *base, char *err, size_t errlen)
{
	static int warned;
	curl_version_info_data *v;
	struct smtp *smtp;
	sigset_t all, old;
	CURLcode rc;
	int e;

	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(rc));
		return NULL;
	}
	v = curl_version_info(CURLVERSION_NOW);
	if (!(v->features & CURL_VERSION_SSL)) {
		snprintf(err, errlen, "libcurl %s was built without TLS", v->version);
		curl_global_cleanup();
		return NULL;
	}
	if (!(v->features & CURL_VERSION_ASYNCHDNS) && !warned++)
		log_warnx("libcurl %s resolves names blocking: give mail relays as "
		          "numeric addresses, or a lookup holds up every mail",
		    v->version);
	smtp = xcalloc(1, sizeof(*smtp));
	smtp->base = base;
	smtp->done_fd = smtp->wake_fd = -1;
	TAILQ_INIT(&smtp->submitted);
	TAILQ_INIT(&smtp->finished);
	TAILQ_INIT(&smtp->running);
	LIST_INIT(&smtp->socks);
	pthread_mutex_init(&smtp->mu, NULL);
	if ((smtp->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (smtp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto bad;
	}
	if ((smtp->wbase = event_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	smtp->done_ev =
	    event_new(base, smtp->done_fd, EV_READ | EV_PERSIST, smtp_on_done, smtp);
	smtp->wake_ev = event_new(
	    smtp->wbase, smtp->wake_fd, EV_READ | EV_PERSIST, smtp_on_wake, smtp);
	smtp->timer = evtimer_new(smtp->wbase, smtp_on_timer, smtp);
	if (smtp->done_ev == NULL || smtp->wake_ev == NULL || smtp->timer == NULL)
		fatalx("%s: event_new", __func__);
	event_add(smtp->done_ev, NULL);
	event_add(smtp->wake_ev, NULL);
	if ((smtp->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		goto bad;
	}
	curl_multi_setopt(smtp->multi, CURLMOPT_SOCKETFUNCTION, smtp_sock_cb);
	curl_multi_setopt(smtp->multi, CURLMOPT_SOCKETDATA, smtp);
	curl_multi_setopt(smtp->multi, CURLMOPT_TIMERFUNCTION, smtp_timer_cb);
	curl_multi_setopt(smtp->multi, CURLMOPT_TIMERDATA, smtp);
	/* Signals stay with the main thread: the worker starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&smtp->thread, NULL, smtp_worker, smtp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the SMTP thread: %s", strerror(e));
		goto bad;
	}
	return smtp;
bad:
	if (smtp->multi != NULL)
		curl_multi_cleanup(smtp->multi);
	if (smtp->timer != NULL)
		event_free(smtp->timer);
	if (smtp->wake_ev != NULL)
		event_free(smtp->wake_ev);
	if (smtp->done_ev != NULL)
		event_free(smtp->done_ev);
	if (smtp->wbase != NULL)
		event_base_free(smtp->wbase);
	if (smtp->done_fd != -1)
		close(smtp->done_fd);
	if (smtp->wake_fd != -1)
		close(smtp->wake_fd);
	pthread_mutex_destroy(&smtp->mu);
	free(smtp);
	curl_global_cleanup();
	return NULL;
}

/*
 * Stop the client.  Every message not yet reported gets its done callback
 * before smtp_free() returns, from inside it: a message the relay took is
 * reported ok; one still in flight is cut off and reported ok = 0,
 * permanent = 0, "cancelled: ..." -- the relay may have queued it all the
 * same if it had the whole message, so a caller that sends it again may send
 * it twice, never zero times.  Callable from a done callback; calls to
 * smtp_send() from those callbacks are refused.
 */
void
smtp_free(struct smtp *smtp)
{
	struct smtp_jobs left;
	struct smtp_job *j;
	struct smtp_sock *ss;
	size_t i;

	if (smtp == NULL || smtp->closing)
		return;
	smtp->closing = 1;
	if (smtp->freed != NULL)
		*smtp->freed = 1;
	/* Cut whatever libcurl waits on, so the worker comes back at once. */
	pthread_mutex_lock(&smtp->mu);
	smtp->stopping = 1;
	for (i = 0; i < smtp->nfds; i++)
		shutdown(smtp->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&smtp->mu);
	eventfd_kick(smtp->wake_fd);
	pthread_join(smtp->thread, NULL);

	/* The worker has ended: its side belongs to this thread now. */
	curl_multi_cleanup(smtp->multi);
	while ((ss = LIST_FIRST(&smtp->socks)) != NULL) {
		LIST_REMOVE(ss, entry);
		event_free(ss->ev);
		free(ss);
	}
	event_free(smtp->timer);
	event_free(smtp->wake_ev);
	event_base_free(smtp->wbase);
	event_free(smtp->done_ev);
	close(smtp->wake_fd);
	close(smtp->done_fd);

	TAILQ_INIT(&left);
	TAILQ_CONCAT(&left, &smtp->finished, entry);
	while ((j = TAILQ_FIRST(&smtp->submitted)) != NULL) {
		TAILQ_REMOVE(&smtp->submitted, j, entry);
		job_set(j, 0, 0, "cancelled: the SMTP client was stopped");
		TAILQ_INSERT_TAIL(&left, j, entry);
	}
	while ((j = TAILQ_FIRST(&left)) != NULL) {
		TAILQ_REMOVE(&left, j, entry);
		job_report(j);
		job_free(j);
	}
	pthread_mutex_destroy(&smtp->mu);
	free(smtp->fds);
	free(smtp);
	curl_global_cleanup();
}

/* A job holding copies of everything smtp_send() was given, or NULL (EINVAL). */
static struct smtp_job *
job_new(struct smtp *smtp, const struct smtp_relay *relays, size_t nrelays,
    const char *from, const char *const *rcpt, size_t nrcpt, const char *msg, size_t len)
{
	struct smtp_job *j;
	size_t i;

	if (smtp == NULL || smtp->closing || relays == NULL || nrelays == 0 ||
	    from == NULL || rcpt == NULL || nrcpt == 0 || (msg == NULL && len > 0)) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < nrelays; i++)
		if (relays[i].url == NULL) {
			errno = EINVAL;
			return NULL;
		}
	for (i = 0; i < nrcpt; i++)
		if (rcpt[i] == NULL) {
			errno = EINVAL;
			return NULL;
		}
	j = xcalloc(1, sizeof(*j));
	j->relays = xcalloc(nrelays, sizeof(*j->relays));
	for (i = 0; i < nrelays; i++)
		relay_copy(&j->relays[i], &relays[i]);
	j->nrelays = nrelays;
	j->from = xstrdup(from);
	j->rcpt = xcalloc(nrcpt, sizeof(*j->rcpt));
	for (i = 0; i < nrcpt; i++)
		j->rcpt[i] = xstrdup(rcpt[i]);
	j->nrcpt = nrcpt;
	j->msg = msg_copy(msg != NULL ? msg : "", len, &j->len);
	return j;
}

static void
job_submit(struct smtp *smtp, struct smtp_job *j)
{
	pthread_mutex_lock(&smtp->mu);
	TAILQ_INSERT_TAIL(&smtp->submitted, j, entry);
	pthread_mutex_unlock(&smtp->mu);
	eventfd_kick(smtp->wake_fd);
}

/*
 * Send msg (headers and body; bare LF line ends are sent as CRLF) from
 * env_from to the nrcpt addresses in rcpt through relay.  Everything is
 * copied: the caller may free it all on return.  Returns 0 and calls done
 * exactly once, later, on the loop: ok = 1 when the relay accepted the
 * message (250 after DATA), else 0 with a reason; permanent = 1 when the
 * relay refused the envelope or the data with a 5xx (a refused recipient
 * fails the whole message).  Returns -1 (EINVAL), and never calls done, for
 * a NULL argument, no recipient, or a client being freed.
 */
int
smtp_send(struct smtp *smtp, const struct smtp_relay *relay, const char *env_from,
    const char *const *rcpt, size_t nrcpt, const char *msg, size_t len,
    void (*done)(void *arg, int ok, int permanent, const char *reason), void *arg)
{
	struct smtp_job *j;

	if (done == NULL) {
		errno = EINVAL;
		return -1;
	}
	j = job_new(smtp, relay, 1, env_from, rcpt, nrcpt, msg, len);
	if (j == NULL)
		return -1;
	j->done = done;
	j->arg = arg;
	job_submit(smtp, j);
	return 0;
}

/*
 * smtp_send() through the first of nrelays relays that takes the message.
 * The next relay is tried when one cannot be reached, times out, fails TLS
 * or AUTH, or answers 4xx; a relay that accepts, or that refuses the message
 * with a 5xx (permanent), ends it.  done gets the index of the relay that
 * took the message, or of the last one tried, with that relay's reason.
 */
int
smtp_send_any(struct smtp *smtp, const struct smtp_relay *relays, size_t nrelays,
    const char *env_from, const char *const *rcpt, size_t nrcpt, const char *msg,
    size_t len,
    void (*done)(void *arg, int ok, int permanent, size_t relay, const char *reason),
    void *arg)
{
	struct smtp_job *j;

	if (done == NULL) {
		errno = EINVAL;
		return -1;
	}
	j = job_new(smtp, relays, nrelays, env_from, rcpt, nrcpt, msg, len);
	if (j == NULL)
		return -1;
	j->done_any = done;
	j->arg = arg;
	job_submit(smtp, j);
	return 0;
}
