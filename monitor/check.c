/*
 * The state machine of one checked metric, as operators of Nagios, Monit,
 * Zabbix and Prometheus know it (DOMAIN.md section 4).
 *
 * One step takes one result and runs it through, in this order:
 *
 *  1. classification (check_classify): a raw sample becomes OK, WARNING,
 *     CRITICAL or UNKNOWN.  Stale or failed samples, and samples older than
 *     stale_ms, are UNKNOWN with the reason.  Hysteresis lives here: a check
 *     that is WARNING or CRITICAL stays so while the value is still inside the
 *     separate recovery range.
 *  2. N of M: OK/WARNING/CRITICAL results go into a window of the last M; the
 *     result is CRITICAL when N of them are CRITICAL, WARNING when N are at
 *     least WARNING, else OK.  UNKNOWN bypasses the window: stale data must
 *     show at once, and says nothing about the value.
 *  3. flap detection on the last 21 results (below).
 *  4. soft and hard: a problem starts SOFT at attempt 1 and becomes HARD when
 *     it has been seen max_attempts times in a row and has lasted for_ms (the
 *     `for` hold-down); a HARD problem that changes severity stays HARD.  Every
 *     OK is HARD; an OK after a SOFT problem is a soft recovery.
 *  5. notification: when not flapping and the hard state differs from the
 *     last state notified.  While flapping nothing is notified; when flapping
 *     ends, that same rule sends the recovery (or the problem still standing)
 *     that was held back.  A hard change while flapping is reported as
 *     suppressed so the caller can record it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

static const char *const state_names[] = { "ok", "warning", "critical", "unknown" };
static const char state_letters[] = "OWCU";

/* "ok", "warning", "critical" or "unknown". */
const char *
check_state_name(enum check_state s)
{
	return (size_t)s < 4 ? state_names[s] : "?";
}

/* The state named s, or -1. */
int
check_state_from_name(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* Nagios-like defaults: 3 attempts, 1 of 1, no hold-down, flapping 20 % / 30 %. */
void
check_conf_defaults(struct check_conf *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->max_attempts = 3;
	cc->interval_ms = 60000;
	cc->retry_interval_ms = 15000;
	cc->n = cc->m = 1;
	cc->flap_detection = 1;
	cc->flap_low = 20;
	cc->flap_high = 30;
}

/* 0, or -1 with why the settings cannot work. */
int
check_conf_valid(const struct check_conf *cc, char *err, size_t errlen)
{
	if (cc->max_attempts < 1)
		snprintf(err, errlen, "max_attempts must be at least 1");
	else if (cc->m < 1 || cc->m > CHECK_MAX_M || cc->n < 1 || cc->n > cc->m)
		snprintf(err, errlen, "N of M needs 1 <= N <= M <= %d", CHECK_MAX_M);
	else if (cc->for_ms < 0 || cc->interval_ms < 0 || cc->retry_interval_ms < 0)
		snprintf(err, errlen, "durations cannot be negative");
	else if (cc->flap_detection && (cc->flap_low < 0 || cc->flap_high > 100 ||
	                                   cc->flap_low >= cc->flap_high))
		snprintf(err, errlen, "flapping needs 0 <= low < high <= 100 (percent)");
	else
		return 0;
	return -1;
}

/*
 * Parse a Nagios range: "10" (alert outside 0..10), "10:" (below 10),
 * "~:10" (above 10), "10:20" (outside), "@10:20" (inside).  0, or -1.
 */
int
check_range_parse(const char *s, struct check_range *r)
{
	const char *colon;
	char *end;

	memset(r, 0, sizeof(*r));
	if (*s == '@') {
		r->inside = 1;
		s++;
	}
	r->lo = 0;
	r->hi = INFINITY;
	if ((colon = strchr(s, ':')) == NULL) {
		if (*s == '\0')
			return -1;
		r->hi = strtod(s, &end);
		if (*end != '\0' || end == s || !isfinite(r->hi))
			return -1;
	} else {
		if (colon == s + 1 && *s == '~')
			r->lo = -INFINITY;
		else if (colon != s) {
			r->lo = strtod(s, &end);
			if (end != colon || !isfinite(r->lo))
				return -1;
		}
		if (colon[1] != '\0') {
			r->hi = strtod(colon + 1, &end);
			if (*end != '\0' || !isfinite(r->hi))
				return -1;
		}
	}
	if (r->lo > r->hi)
		return -1;
	r->set = 1;
	return 0;
}

/* Whether v is in the alerting part of the range (never when it is not set). */
int
check_range_alerts(const struct check_range *r, double v)
{
	int in;

	if (!r->set)
		return 0;
	in = v >= r->lo && v <= r->hi;
	return r->inside ? in : !in;
}

static int
word_listed(const char *const *list, const char *w, size_t wl)
{
	for (; list != NULL && *list != NULL; list++)
		if (strlen(*list) == wl && strncmp(*list, w, wl) == 0)
			return 1;
	return 0;
}

/* The worst state any word of text (a whole enum value, or each flag) is listed for. */
static enum check_state
classify_words(const struct check_def *d, const char *text, int flags)
{
	enum check_state st = CHECK_OK;
	const char *s = text != NULL ? text : "";
	size_t n;

	if (!flags) {
		if (word_listed(d->crit_words, s, strlen(s)))
			return CHECK_CRITICAL;
		return word_listed(d->warn_words, s, strlen(s)) ? CHECK_WARNING
		                                                : CHECK_OK;
	}
	for (n = word_next(&s); n > 0; s += n, n = word_next(&s)) {
		if (word_listed(d->crit_words, s, n))
			return CHECK_CRITICAL;
		if (word_listed(d->warn_words, s, n))
			st = CHECK_WARNING;
	}
	return st;
}

/*
 * Classify a sample of a metric of kind k (NULL: none yet) at time now, the
 * check being in state prev (for hysteresis); reason gets why when not OK.
 */
enum check_state
check_classify(const struct check_def *d, enum metric_kind k, const struct sample *smp,
    int64_t now, enum check_state prev, char *reason, size_t len)
{
	enum check_state st = CHECK_OK;
	char a[32];

	if (len > 0)
		reason[0] = '\0';
	if (smp == NULL) {
		snprintf(reason, len, "no data yet");
		return CHECK_UNKNOWN;
	}
	if (smp->q != Q_OK) {
		snprintf(reason, len, "%s: %s", quality_name(smp->q),
		    smp->reason != NULL ? smp->reason : "no reason given");
		return CHECK_UNKNOWN;
	}
	if (d->stale_ms > 0 && now - smp->t_ms > d->stale_ms) {
		snprintf(reason, len, "stale: last sample %s ago",
		    duration_format(now - smp->t_ms, a, sizeof(a)));
		return CHECK_UNKNOWN;
	}
	switch (d->kind) {
	case CHECK_NUMBER:
		if (k == MK_TEXT || !isfinite(smp->num)) {
			snprintf(reason, len, "not a number");
			return CHECK_UNKNOWN;
		}
		if (check_range_alerts(&d->crit, smp->num))
			st = CHECK_CRITICAL;
		else if (check_range_alerts(&d->warn, smp->num))
			st = CHECK_WARNING;
		/* Hysteresis: leave a problem only past its recovery range. */
		if (prev == CHECK_CRITICAL && st < CHECK_CRITICAL &&
		    check_range_alerts(&d->crit_recover, smp->num))
			st = CHECK_CRITICAL;
		if ((prev == CHECK_CRITICAL || prev == CHECK_WARNING) &&
		    st < CHECK_WARNING && check_range_alerts(&d->warn_recover, smp->num))
			st = CHECK_WARNING;
		if (st != CHECK_OK)
			snprintf(reason, len, "%g", smp->num);
		return st;
	case CHECK_BOOL:
		if (k == MK_TEXT) {
			snprintf(reason, len, "not true/false");
			return CHECK_UNKNOWN;
		}
		if (smp->num != 0) {
			snprintf(reason, len, "true");
			return d->when_true;
		}
		return CHECK_OK;
	case CHECK_ENUM:
	case CHECK_FLAGS:
		if (k != MK_TEXT) {
			snprintf(reason, len, "not text");
			return CHECK_UNKNOWN;
		}
		st = classify_words(d, smp->text, d->kind == CHECK_FLAGS);
		if (st != CHECK_OK)
			snprintf(
			    reason, len, "\"%s\"", smp->text != NULL ? smp->text : "");
		return st;
	}
	snprintf(reason, len, "bad check definition");
	return CHECK_UNKNOWN;
}

/* A check that has seen nothing: OK, hard, nothing notified. */
void
check_init(struct check *c)
{
	memset(c, 0, sizeof(*c));
	c->state = c->hard_state = c->notified = CHECK_OK;
	c->hard = 1;
	c->attempt = 1;
}

/*
 * The Nagios flap percentage of 21 states, oldest first: transition i (1
 * oldest .. 20 newest) is a change between states i-1 and i and weighs
 * 0.75 + (i-1) * 0.5/19, so recent changes count more (0.75 .. 1.25); the
 * percentage is the weighted sum of changes / 20 * 100.
 */
double
check_flap_percent(const uint8_t *states)
{
	double sum = 0;
	int i;

	for (i = 1; i < CHECK_FLAP_STATES; i++)
		if (states[i] != states[i - 1])
			sum += 0.75 + (i - 1) * 0.5 / 19.0;
	return sum / (CHECK_FLAP_STATES - 1) * 100.0;
}

/* N of M over the window: CRITICAL if N are CRITICAL, WARNING if N are >= WARNING. */
static enum check_state
n_of_m(struct check *c, const struct check_conf *cc, enum check_state r)
{
	int i, crit = 0, warn = 0, m = cc->m;

	if (m <= 1 || r == CHECK_UNKNOWN)
		return r;
	if (m > CHECK_MAX_M)
		m = CHECK_MAX_M;
	memmove(c->window + 1, c->window, CHECK_MAX_M - 1);
	c->window[0] = (uint8_t)r;
	if (c->nwindow < m)
		c->nwindow++;
	for (i = 0; i < c->nwindow && i < m; i++) {
		crit += c->window[i] == CHECK_CRITICAL;
		warn += c->window[i] == CHECK_CRITICAL || c->window[i] == CHECK_WARNING;
	}
	if (crit >= cc->n)
		return CHECK_CRITICAL;
	return warn >= cc->n ? CHECK_WARNING : CHECK_OK;
}

/*
 * One result at time now: result (already classified) with its reason.  The
 * outcome goes to out; see the top of this file for the order of the steps.
 */
void
check_step(struct check *c, const struct check_conf *cc, int64_t now,
    enum check_state result, const char *reason, struct check_step *out)
{
	enum check_state prev = c->state, prev_hard = c->hard_state, r;
	int prev_is_hard = c->hard, i, max_att;
	int64_t left = 0;

	memset(out, 0, sizeof(*out));
	if ((size_t)result > CHECK_UNKNOWN)
		result = CHECK_UNKNOWN;
	max_att = cc->max_attempts < 1 ? 1 : cc->max_attempts;
	r = n_of_m(c, cc, result);

	/* Flap history: a new check starts as if it had always been in r. */
	if (!c->started) {
		for (i = 0; i < CHECK_FLAP_STATES; i++)
			c->flap[i] = (uint8_t)r;
		c->started = 1;
		c->since_ms = now;
	}
	memmove(c->flap, c->flap + 1, CHECK_FLAP_STATES - 1);
	c->flap[CHECK_FLAP_STATES - 1] = (uint8_t)r;
	c->flap_pct = check_flap_percent(c->flap);
	if (cc->flap_detection && !c->flapping && c->flap_pct >= cc->flap_high)
		c->flapping = out->flap_started = 1;
	else if (c->flapping && (!cc->flap_detection || c->flap_pct <= cc->flap_low)) {
		c->flapping = 0;
		out->flap_stopped = 1;
	}

	if (r == CHECK_OK) {
		c->state = c->hard_state = CHECK_OK;
		c->hard = 1;
		c->attempt = 1;
		c->problem_since_ms = 0;
		c->reason[0] = '\0';
	} else {
		if (prev == CHECK_OK) {
			c->attempt = 1;
			c->problem_since_ms = now;
			c->hard = 0;
		} else if (!c->hard && c->attempt < max_att)
			c->attempt++;
		c->state = r;
		left = c->problem_since_ms + cc->for_ms - now;
		if (!c->hard && c->attempt >= max_att && left <= 0)
			c->hard = 1;
		if (c->hard)
			c->hard_state = r;
		snprintf(
		    c->reason, sizeof(c->reason), "%s", reason != NULL ? reason : "");
	}

	out->state = c->state;
	out->hard = c->hard;
	out->attempt = c->attempt;
	out->changed = c->state != prev || c->hard != prev_is_hard;
	out->hard_change = c->hard_state != prev_hard;
	if (out->changed)
		c->since_ms = now;
	out->flapping = c->flapping;
	out->flap_pct = c->flap_pct;
	if (!c->flapping && c->hard_state != c->notified) {
		out->notify = c->hard_state == CHECK_OK ? CHECK_NOTIFY_RECOVERY
		                                        : CHECK_NOTIFY_PROBLEM;
		c->notified = c->hard_state;
	} else if (c->flapping && out->hard_change)
		out->suppressed = 1;

	/* Advice: retry soon while soft, and look again when `for` runs out. */
	if (c->hard)
		out->next_check_ms = cc->interval_ms;
	else {
		out->next_check_ms = cc->retry_interval_ms;
		if (c->attempt >= max_att && left > 0 &&
		    (left < out->next_check_ms || out->next_check_ms == 0))
			out->next_check_ms = left;
	}
}

/* Classify a sample against d (check_classify) and step with the result. */
void
check_step_sample(struct check *c, const struct check_conf *cc, const struct check_def *d,
    enum metric_kind k, const struct sample *smp, int64_t now, struct check_step *out)
{
	char reason[256];
	enum check_state st =
	    check_classify(d, k, smp, now, c->state, reason, sizeof(reason));

	check_step(c, cc, now, st, reason, out);
}

static void
letters(const uint8_t *v, int n, char *out)
{
	int i;

	for (i = 0; i < n; i++)
		out[i] = state_letters[v[i] < 4 ? v[i] : 3];
	out[n] = '\0';
}

/* The state as a JSON object (for the state snapshot). */
json_t *
check_to_json(const struct check *c)
{
	char flap[CHECK_FLAP_STATES + 1], win[CHECK_MAX_M + 1];

	letters(c->flap, CHECK_FLAP_STATES, flap);
	letters(c->window, c->nwindow, win);
	return json_pack("{s:b, s:s, s:b, s:s, s:s, s:i, s:I, s:I, s:s, s:s, s:b, s:s}",
	    "started", c->started, "state", check_state_name(c->state), "hard", c->hard,
	    "hard_state", check_state_name(c->hard_state), "notified",
	    check_state_name(c->notified), "attempt", c->attempt, "since",
	    (json_int_t)c->since_ms, "problem_since", (json_int_t)c->problem_since_ms,
	    "window", win, "flap", flap, "flapping", c->flapping, "reason", c->reason);
}

static int
from_letters(const char *s, uint8_t *out, int max, int exact)
{
	int n = (int)strlen(s), i;
	const char *p;

	if (n > max || (exact && n != max))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || (p = strchr(state_letters, s[i])) == NULL)
			return -1;
		out[i] = (uint8_t)(p - state_letters);
	}
	return n;
}

/*
 * Restore a state written by check_to_json; 0, or -1 with why (c is then
 * a fresh check).  The flap percentage is recomputed, not trusted.
 */
int
check_from_json(struct check *c, const json_t *j, char *err, size_t errlen)
{
	const char *state, *hard_state, *notified, *win, *flap, *reason;
	int started, hard, flapping, attempt, s, hs, ns;
	json_int_t since, psince;
	json_error_t je;

	check_init(c);
	if (json_unpack_ex((json_t *)(uintptr_t)j, &je, JSON_STRICT,
	        "{s:b, s:s, s:b, s:s, s:s, s:i, s:I, s:I, s:s, s:s, s:b, s:s}", "started",
	        &started, "state", &state, "hard", &hard, "hard_state", &hard_state,
	        "notified", &notified, "attempt", &attempt, "since", &since,
	        "problem_since", &psince, "window", &win, "flap", &flap, "flapping",
	        &flapping, "reason", &reason) == -1) {
		snprintf(err, errlen, "check state: %s", je.text);
		return -1;
	}
	if ((s = check_state_from_name(state)) < 0 ||
	    (hs = check_state_from_name(hard_state)) < 0 ||
	    (ns = check_state_from_name(notified)) < 0) {
		snprintf(err, errlen, "check state: unknown state name");
		goto bad;
	}
	if (attempt < 1 || attempt > 1000000) {
		snprintf(err, errlen, "check state: attempt %d out of range", attempt);
		goto bad;
	}
	if ((c->nwindow = from_letters(win, c->window, CHECK_MAX_M, 0)) < 0 ||
	    from_letters(flap, c->flap, CHECK_FLAP_STATES, 1) < 0) {
		snprintf(err, errlen, "check state: bad window or flap history");
		goto bad;
	}
	c->started = started;
	c->state = (enum check_state)s;
	c->hard = hard;
	c->hard_state = (enum check_state)hs;
	c->notified = (enum check_state)ns;
	c->attempt = attempt;
	c->since_ms = since;
	c->problem_since_ms = psince;
	c->flapping = flapping;
	c->flap_pct = check_flap_percent(c->flap);
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	return 0;
bad:
	check_init(c);
	return -1;
}
