/*
 * Logging: stderr in the foreground, syslog otherwise.  libevent's own
 * messages are routed here too (log_libevent).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "monitor/monitor.h"

static int log_foreground = 1;
static int log_verbose;

/* Start logging; in the background messages go to syslog's daemon facility. */
void
log_init(int foreground, int verbose)
{
	log_foreground = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog("sonaed", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	tzset();
}

/* Set how chatty the log is: 0 info, 1 and more debug. */
void
log_setverbose(int v)
{
	log_verbose = v;
}

/* Return the current verbosity. */
int
log_getverbose(void)
{
	return log_verbose;
}

static void
vlog(int pri, const char *fmt, va_list ap)
{
	if (pri == LOG_DEBUG && log_verbose < 1)
		return;
	if (log_foreground) {
		char ts[64];
		time_format(time_now_ms(), ts, sizeof(ts));
		flockfile(stderr);
		fprintf(stderr, "%s sonaed: ", ts);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	} else
		vsyslog(pri, fmt, ap);
}

static void
logit(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void
vwarn_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) == -1) {
		vlog(pri, fmt, ap);
		return;
	}
	logit(pri, "%s: %s", msg, strerror(saved));
	free(msg);
}

/* Log a warning followed by the text of errno. */
void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn_errno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* Log an informational message. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

/* Log a debug message (only with -v). */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* Log with errno text and exit: start-up failures and broken invariants only. */
void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn_errno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log and exit: start-up failures and broken invariants only. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

/* event_set_log_callback() target: libevent's messages join ours. */
void
log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

#define COMPLAIN_FIRST_MS 60000
#define COMPLAIN_MAX_MS   (24 * 3600 * 1000)

/*
 * Report a repeating failure: now, then after 1 min, 2 min, 4 min ... up to a
 * day, with the number of repeats in between.
 */
void
complain(struct complaint *c, const char *fmt, ...)
{
	int64_t now = time_mono_ms();
	va_list ap;
	char *msg;

	c->count++;
	if (c->next_ms != 0 && now < c->next_ms)
		return;
	c->interval_ms = c->interval_ms == 0 ? COMPLAIN_FIRST_MS : c->interval_ms * 2;
	if (c->interval_ms > COMPLAIN_MAX_MS)
		c->interval_ms = COMPLAIN_MAX_MS;
	c->next_ms = now + c->interval_ms;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (c->count > 1)
		log_warnx("%s (%lu times so far)", msg ? msg : fmt, c->count);
	else
		log_warnx("%s", msg ? msg : fmt);
	free(msg);
}

/* The failure behind complain() is over: say so once and reset. */
void
complain_release(struct complaint *c, const char *fmt, ...)
{
	va_list ap;

	if (c->count == 0)
		return;
	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
	c->count = 0;
	c->next_ms = 0;
	c->interval_ms = 0;
}
