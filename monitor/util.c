/*
 * Small helpers: allocation that fails hard, time and duration text, UTF-8
 * validation, the site time zone.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/monitor.h"

/* malloc or die: running out of memory is not a condition sonaed recovers from. */
void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		fatal("%s: %zu bytes", __func__, n);
	return p;
}

/* calloc or die. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);

	if (p == NULL)
		fatal("%s: %zu x %zu bytes", __func__, nmemb, size);
	return p;
}

/* reallocarray or die. */
void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p = reallocarray(ptr, nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);

	if (p == NULL)
		fatal("%s: %zu x %zu bytes", __func__, nmemb, size);
	return p;
}

/* strdup or die. */
char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("%s", __func__);
	return p;
}

/*
 * strndup or die.  Copied by hand: s is often a slice of a buffer with no NUL
 * after it, which ASan's strndup (with strict_string_checks) reads past.
 */
char *
xstrndup(const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	char *p;

	if (nul != NULL)
		n = (size_t)(nul - s);
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* asprintf or die; returns the length. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("%s", __func__);
	return n;
}

/* Copy with truncation into a buffer of size len; returns strlen(src). */
size_t
strlcpy_s(char *dst, const char *src, size_t len)
{
	size_t n = strlen(src);

	if (len > 0) {
		size_t c = n < len - 1 ? n : len - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

/* Wall-clock time in milliseconds since the epoch. */
int64_t
time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic time in milliseconds, for intervals. */
int64_t
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Format a wall-clock time as ISO 8601 in the site's time zone, with offset. */
char *
time_format(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char date[32], off[16];
	int gmtoff;

	if (ms < 0 || localtime_r(&t, &tm) == NULL) {
		strlcpy_s(buf, "-", len);
		return buf;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	gmtoff = (int)(tm.tm_gmtoff % 86400);
	if (gmtoff == 0)
		strlcpy_s(off, "Z", sizeof(off));
	else
		snprintf(off, sizeof(off), "%c%02d:%02d", gmtoff < 0 ? '-' : '+',
		    abs(gmtoff) / 3600 % 100, (abs(gmtoff) % 3600) / 60);
	snprintf(buf, len, "%s.%03d%s", date, (int)(ms % 1000), off);
	return buf;
}

/*
 * Parse a point in time: ISO 8601 ("2026-11-25", "2026-11-25T09:00",
 * "2026-11-25 09:00:00+09:00"), read in the site's time zone unless an offset
 * is given; or a duration ("90min", "2h", "3d") meaning that long before now.
 */
int
time_parse(const char *s, int64_t now_ms, int64_t *out)
{
	struct tm tm;
	const char *p;
	int64_t d;
	time_t t;

	if (duration_parse(s, &d) == 0) {
		*out = now_ms - d;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*p == 'T' || *p == ' ') {
		const char *q = strptime(p + 1, "%H:%M:%S", &tm);
		if (q == NULL)
			q = strptime(p + 1, "%H:%M", &tm);
		if (q == NULL)
			return -1;
		p = q;
		if (*p == '.' || *p == ',') /* fractions of a second are ignored */
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
	}
	tm.tm_isdst = -1;
	if (*p == '\0') {
		if ((t = mktime(&tm)) == (time_t)-1)
			return -1;
	} else {
		int sign, hh, mm = 0;
		if (strcmp(p, "Z") == 0)
			sign = 1, hh = 0;
		else if ((*p == '+' || *p == '-') &&
		         (sscanf(p + 1, "%2d:%2d", &hh, &mm) >= 1) && hh < 24 && mm < 60)
			sign = *p == '-' ? -1 : 1;
		else
			return -1;
		t = timegm(&tm) - sign * (hh * 3600 + mm * 60);
	}
	*out = (int64_t)t * 1000;
	return 0;
}

static const struct {
	const char *suffix;
	int64_t ms;
} duration_units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "sec", 1000 },
	{ "min", 60000 },
	{ "m", 60000 },
	{ "h", 3600000 },
	{ "d", 86400000 },
};

/*
 * Parse a duration: a bare number of seconds ("5", "0.5") or numbers with
 * units ("500ms", "30s", "5min", "1h30min", "2d").
 */
int
duration_parse(const char *s, int64_t *out)
{
	double total = 0;
	const char *p = s;
	int parts = 0;

	while (*p != '\0') {
		char *end;
		double v;
		size_t i, ulen = 0;
		int64_t unit = -1;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno != 0 || !isfinite(v) || v < 0)
			return -1;
		p = end;
		while (isalpha((unsigned char)p[ulen]))
			ulen++;
		if (ulen == 0) {
			if (parts > 0 || *p != '\0')
				return -1;
			unit = 1000;
		}
		for (i = 0;
		     ulen > 0 && i < sizeof(duration_units) / sizeof(duration_units[0]);
		     i++)
			if (strlen(duration_units[i].suffix) == ulen &&
			    strncmp(p, duration_units[i].suffix, ulen) == 0)
				unit = duration_units[i].ms;
		if (unit < 0)
			return -1;
		p += ulen;
		total += v * (double)unit;
		parts++;
		if (total > 1e15)
			return -1;
	}
	if (parts == 0)
		return -1;
	*out = (int64_t)llround(total);
	return 0;
}

/*
 * The next word of a list separated by spaces, tabs or commas ("OB LB",
 * "smoke,door"): moves *s to its first character and returns its length,
 * 0 at the end.  Step over it with *s += length.
 */
size_t
word_next(const char **s)
{
	size_t n;

	while (**s == ' ' || **s == '\t' || **s == ',')
		(*s)++;
	for (n = 0;
	     (*s)[n] != '\0' && (*s)[n] != ' ' && (*s)[n] != '\t' && (*s)[n] != ','; n++)
		;
	return n;
}

/* Format a duration the way duration_parse reads it: "500ms", "1h30min". */
char *
duration_format(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *u;
		int64_t ms;
	} parts[] = { { "d", 86400000 }, { "h", 3600000 }, { "min", 60000 },
		{ "s", 1000 } };
	size_t i, off = 0;

	buf[0] = '\0';
	if (ms < 0)
		ms = 0;
	if (ms < 1000 || ms % 1000 != 0) {
		/* Exact to the millisecond, so what is written reads back the same. */
		if (ms < 1000)
			snprintf(buf, len, "%lldms", (long long)ms);
		else {
			char frac[8];
			size_t n;
			snprintf(frac, sizeof(frac), "%03lld", (long long)(ms % 1000));
			for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
				frac[n - 1] = '\0';
			snprintf(buf, len, "%lld.%ss", (long long)(ms / 1000), frac);
		}
		return buf;
	}
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]) && off < len; i++) {
		if (ms >= parts[i].ms) {
			int n = snprintf(buf + off, len - off, "%lld%s",
			    (long long)(ms / parts[i].ms), parts[i].u);
			if (n < 0)
				break;
			off += (size_t)n;
			ms %= parts[i].ms;
		}
	}
	return buf;
}

/* Return 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t n, i;
		uint32_t cp;

		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0)
			n = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if ((size_t)(end - p) <= n)
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* Return 1 if name is a time zone this machine knows ("Asia/Tokyo", "UTC"). */
int
tz_valid(const char *name)
{
	char path[512];
	struct stat st;

	if (strcmp(name, "UTC") == 0)
		return 1;
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL)
		return 0;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Make name the process's time zone.  Returns -1 if the zone is unknown, so
 * that a typo never silently turns into UTC.
 */
int
tz_apply(const char *name)
{
	if (!tz_valid(name))
		return -1;
	if (setenv("TZ", name, 1) == -1)
		return -1;
	tzset();
	return 0;
}

/*
 * A random 32-bit number for jitter (not for secrets): xorshift64*, seeded
 * once from getrandom(2), so that scheduling a poll costs no system call.
 */
uint32_t
random_u32(void)
{
	static uint64_t state;

	while (state == 0) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != sizeof(state))
			state = (uint64_t)time_mono_ms() ^ ((uint64_t)getpid() << 32);
		state |= state == 0;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 2685821657736338717ULL) >> 32);
}

/* A member of a JSON object as a string, or NULL (absent, not a string). */
const char *
json_str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A member of a JSON object as an integer, or 0 (absent, not an integer). */
int64_t
json_int_of(const json_t *o, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(o, key));
}

/* A time as sonae shows it in JSON (time_format()), or null for ms <= 0. */
json_t *
json_time(int64_t ms)
{
	char ts[64];

	if (ms <= 0)
		return json_null();
	return json_string(time_format(ms, ts, sizeof(ts)));
}
