/*
 * report.c: the reports of `sonae report` (docs/reports.md).  Each section
 * is written once against a small writer (headings, key-value tables,
 * tables, lists, exact text) that emits HTML or Markdown, so that both files
 * hold the same content; only the plots differ: inline SVG in HTML, a table
 * of each series' min, avg, max and last in Markdown.
 *
 * Every time is formatted here from Unix ms in the process's time zone (the
 * CLI sets it to the report's site.timezone); the header names the zone and
 * its offset once, and the tables show local times without it.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/monitor.h"
#include "monitor/ctl/report.h"

/* Flags of a cell or a paragraph. */
#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

#define F_NUM  0x1 /* a number: right-aligned */
#define F_WARN 0x2 /* needs attention: highlighted */
#define F_MONO 0x4 /* exact text (commands, hashes): monospace */

struct out {
	FILE *f;
	int md;
	int64_t now; /* the report's generated_ms: "so far" for what has not ended */
};

static const char css[] =
    "@page{size:A4;margin:14mm 12mm}\n"
    "body{font-family:\"Noto Sans CJK JP\",\"Noto Sans JP\",\"Hiragino Sans\","
    "\"Yu Gothic\",Meiryo,sans-serif;font-size:10.5pt;line-height:1.45;color:#111;"
    "max-width:200mm;margin:0 auto;padding:10px}\n"
    "h1{font-size:18pt;border-bottom:3px solid #2a4f80;margin:0 0 .3em}\n"
    "h2{font-size:13.5pt;border-left:6px solid #2a4f80;padding-left:6px;"
    "margin:1.6em 0 .5em}\n"
    "h3{font-size:11.5pt;margin:1.2em 0 .4em}\n"
    ".subject{font-size:13pt;font-weight:bold;margin:.2em 0 .6em}\n"
    "table{border-collapse:collapse;width:100%;margin:.3em 0 .9em;font-size:9.5pt}\n"
    "th,td{border:1px solid #999;padding:2px 5px;text-align:left;vertical-align:top;"
    "overflow-wrap:break-word}\n"
    "th{background:#e9eef5;font-weight:bold}\n"
    "table.kv th{width:28%}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".warn{background:#fde3e1;color:#8a0b0b;font-weight:bold}\n"
    "p.warn{padding:3px 6px;border:1px solid #d99}\n"
    ".mono,pre{font-family:\"Noto Sans Mono CJK JP\",\"DejaVu Sans Mono\",monospace}\n"
    "pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;"
    "border:1px solid #bbb;padding:4px 6px;font-size:9pt;margin:.2em 0 .8em}\n"
    ".drill{border:3px solid #b3261e;color:#b3261e;font-weight:bold;font-size:14pt;"
    "text-align:center;padding:6px;margin:.5em 0}\n"
    "ul.checklist{list-style:none;padding-left:.2em}\n"
    "ul.checklist li{margin:.2em 0}\n"
    ".box{display:inline-block;width:.9em;height:.9em;border:1.5px solid #333;"
    "margin-right:.5em;vertical-align:-.1em}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(88mm,1fr));"
    "gap:6px 12px}\n"
    "figure{margin:.3em 0;break-inside:avoid;page-break-inside:avoid}\n"
    "figcaption{font-size:9.5pt;font-weight:bold}\n"
    "svg{display:block;width:100%;height:auto;font-family:inherit}\n"
    "svg text{font-size:11px;fill:#333}\n"
    "svg .grid{stroke:#ddd;stroke-width:1}\n"
    "svg .frame{fill:#fff;stroke:#888}\n"
    "svg .line{fill:none;stroke:#1f5fa8;stroke-width:1.6}\n"
    "svg .dot{fill:#1f5fa8}\n"
    "svg .band{fill:#1f5fa8;fill-opacity:.18;stroke:none}\n"
    "svg .open{stroke:#c62828;stroke-width:1.4;stroke-dasharray:5 3}\n"
    "svg .end{stroke:#2e7d32;stroke-width:1.4;stroke-dasharray:5 3}\n"
    "svg .s-done{fill:#4c9a52}svg .s-failed{fill:#c62828}svg .s-would{fill:#7b5ea7}\n"
    "svg .s-skipped{fill:#aaa}svg .s-waiting,svg .s-running{fill:#e0a100}\n"
    "svg .s-unknown{fill:#e65100}svg .s-pending{fill:#ccc}\n"
    "footer{margin-top:2em;border-top:1px solid #999;font-size:9pt;color:#555}\n"
    "@media print{body{max-width:none;padding:0}"
    "section{break-before:page;page-break-before:always}"
    "header+section{break-before:auto;page-break-before:auto}"
    "tr,figure,pre{break-inside:avoid;page-break-inside:avoid}"
    "h2,h3{break-after:avoid;page-break-after:avoid}"
    ".warn,.drill,th,svg *{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

/* --- values ------------------------------------------------------------- */

static char *PRINTFLIKE(1, 0) vformat(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) == -1)
		fatal("%s: vasprintf", __func__);
	return s;
}

/* A rotating buffer for the short texts below: 16 may be used in one call. */
#define SLOT 512
static char *
slot(void)
{
	static char bufs[16][SLOT];
	static unsigned int k;

	return bufs[k++ % 16];
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* A string of o, "-" when it is absent or empty. */
static const char *
dash(json_t *o, const char *key)
{
	const char *s = jstr(o, key);

	return s[0] != '\0' ? s : "-";
}

static long long
jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	if (json_is_real(v) && fabs(json_real_value(v)) < 9e18)
		return (long long)json_real_value(v);
	return -1;
}

/* A count of o, "-" when it is absent. */
static const char *
cnt(json_t *o, const char *key)
{
	char *b = slot();

	if (jint(o, key) < 0)
		return "-";
	snprintf(b, SLOT, "%lld", jint(o, key));
	return b;
}

static double
jnum(json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/*
 * Times past MAX_MS (the year 5138) are no times: with them out, no
 * difference of two times overflows, in ms or as a double.
 */
#define MAX_MS INT64_C(100000000000000)

/* o's "KEY_ms", else its "KEY" read as ISO 8601; -1 if neither. */
static int64_t
jms(json_t *o, const char *key)
{
	char k[64];
	int64_t ms;

	snprintf(k, sizeof(k), "%s_ms", key);
	if ((ms = (int64_t)jint(o, k)) < 0)
		ms = report_time_parse(json_string_value(json_object_get(o, key)));
	return ms <= MAX_MS ? ms : -1;
}

static const char *
at(int64_t ms)
{
	return report_time_format(ms, slot(), SLOT);
}

/* A time of day alone when it is on the local day of day_ms. */
static const char *
at_day(int64_t ms, int64_t day_ms)
{
	const char *full = at(ms), *day = at(day_ms);

	if (ms >= 0 && day_ms >= 0 && strncmp(full, day, 10) == 0)
		return full + 11;
	return full;
}

/*
 * A duration for people: "38ms", "2.4s", "8min38s", "1h0min58s": every unit
 * from the first to the last that is not zero, so that 1h0min58s is never
 * read as 1h58min.
 */
static const char *
span(int64_t ms)
{
	static const struct {
		const char *u;
		int64_t ms;
	} units[] = { { "d", 86400000 }, { "h", 3600000 }, { "min", 60000 },
		{ "s", 1000 } };
	char *b = slot();
	size_t i, last = 0, off = 0;
	int64_t left;

	if (ms < 0)
		return "-";
	if (ms < 1000) {
		snprintf(b, SLOT, "%lldms", (long long)ms);
		return b;
	}
	if (ms < 10000) {
		snprintf(b, SLOT, "%.1fs", (double)ms / 1000.0);
		return b;
	}
	ms = (ms + 500) / 1000 * 1000;
	for (i = 0, left = ms; i < NITEMS(units); left %= units[i].ms, i++)
		if (left / units[i].ms > 0)
			last = i;
	b[0] = '\0';
	for (i = 0, left = ms; i <= last; left %= units[i].ms, i++)
		if (off > 0 || left / units[i].ms > 0)
			off += (size_t)snprintf(b + off, SLOT - off, "%lld%s",
			    (long long)(left / units[i].ms), units[i].u);
	return b;
}

/* Our words for a kind the data names ("mail"), or the name itself. */
static const char *
word(const char *const (*names)[2], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i][0]) == 0)
			return names[i][1];
	return name[0] != '\0' ? name : "-";
}

static const char *const followup_kinds[][2] = { { "unresolved", "未収束 unresolved" },
	{ "unacknowledged", "未受付 unacknowledged" }, { "run", "手順書 run" },
	{ "step", "手順 step" }, { "mail", "通知 mail" },
	{ "deferred", "保留 deferred" } };

static const char *const notification_kinds[][2] = { { "problem", "発生 problem" },
	{ "update", "更新 update" }, { "escalation", "上位連絡 escalation" },
	{ "repeat", "再通知 repeat" }, { "recovery", "復旧 recovery" },
	{ "notice", "連絡 notice" }, { "digest", "まとめ digest" },
	{ "mode", "運用モード mode" } };

/* 18195200 bit/s, not 1.81952e+07, as the CLI shows values. */
static const char *
num(double x)
{
	char *b = slot();

	if (!isfinite(x))
		return "-";
	if (fabs(x) >= 1e6 && fabs(x) < 1e15)
		snprintf(b, SLOT, "%.0f", x);
	else
		snprintf(b, SLOT, "%.6g", x == 0 ? 0.0 : x);
	return b;
}

static const char *
pct(json_t *v)
{
	char *b = slot();

	if (!json_is_number(v))
		return "-";
	snprintf(b, SLOT, "%.2f%%", json_number_value(v));
	return b;
}

/* A list of strings as "a, b" (allocated). */
static char *
joined(json_t *list)
{
	char *s = xstrdup(""), *t;
	size_t i;

	for (i = 0; i < json_array_size(list); i++) {
		const char *e = json_string_value(json_array_get(list, i));
		xasprintf(&t, "%s%s%s", s, i > 0 ? ", " : "", e != NULL ? e : "?");
		free(s);
		s = t;
	}
	return s;
}

/* Cut s to at most max bytes, never inside a UTF-8 character. */
static char *
cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return s;
	for (n = max; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		;
	s[n] = '\0';
	return s;
}

/* An object as "on_site 3, reachable 5" (allocated; "" if it is none). */
static char *
pairs(json_t *obj)
{
	char *s = xstrdup(""), *t, *v;
	const char *key;
	json_t *x;

	json_object_foreach(obj, key, x)
	{
		if (json_is_string(x))
			v = xstrdup(json_string_value(x));
		else if ((v = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			v = xstrdup("?");
		xasprintf(&t, "%s%s%s %s", s, s[0] != '\0' ? ", " : "", key, v);
		free(s);
		free(v);
		s = t;
	}
	return s;
}

/* "停電対応 / Power outage"; either alone when the other is missing. */
static const char *
titles(json_t *o)
{
	const char *ja = jstr(o, "title_ja"), *en = jstr(o, "title_en");
	char *b = slot();

	if (ja[0] != '\0' && en[0] != '\0')
		snprintf(b, SLOT, "%s / %s", ja, en);
	else
		snprintf(b, SLOT, "%s", ja[0] != '\0' ? ja : en[0] != '\0' ? en : "-");
	return cut(b, SLOT - 2); /* snprintf may have cut a character */
}

int64_t
report_time_parse(const char *s)
{
	const char *p;
	int64_t ms;
	int k;

	/* Not time_parse()'s durations: "2h" is no point in time here. */
	if (s == NULL || strlen(s) < 10 || s[4] != '-' || time_parse(s, 0, &ms) == -1)
		return -1;
	if ((p = strchr(s, '.')) != NULL)
		for (p++, k = 100; *p >= '0' && *p <= '9' && k > 0; p++, k /= 10)
			ms += (*p - '0') * k;
	return ms;
}

char *
report_time_format(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || localtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

char *
report_zone_format(const char *zone, int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	off = tm.tm_gmtoff;
	if (zone != NULL && zone[0] != '\0')
		snprintf(buf, len, "%s (UTC%c%02ld:%02ld)", zone, off < 0 ? '-' : '+',
		    labs(off) / 3600, labs(off) % 3600 / 60);
	else
		snprintf(buf, len, "UTC%c%02ld:%02ld", off < 0 ? '-' : '+',
		    labs(off) / 3600, labs(off) % 3600 / 60);
	return buf;
}

/* --- escaping ----------------------------------------------------------- */

void
report_html_escape(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if (c >= 0x20 && c != 0x7f)
				fputc(c, f);
			else if (c == '\n' || c == '\t')
				fputc(c, f);
		}
	}
}

/* An HTML entity starts at s ("&amp;", "&#39;"): Markdown would decode it. */
static int
entity_at(const char *s)
{
	size_t n = 1;

	if (*s != '&')
		return 0;
	if (s[n] == '#')
		n++;
	while (isalnum((unsigned char)s[n]))
		n++;
	return n > 1 && s[n] == ';';
}

void
report_md_escape(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			fputs("<br>", f);
		else if (c < 0x20 || c == 0x7f)
			fputc(c == '\t' ? ' ' : '?', f);
		else if (strchr("\\`*<>|", c) != NULL || entity_at(s) ||
		         (c == ']' && (s[1] == '(' || s[1] == '[' || s[1] == ':')))
			fprintf(f, "\\%c", c);
		else
			fputc(c, f);
	}
}

/* --- the writer --------------------------------------------------------- */

static void PRINTFLIKE(2, 3) put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(o->f, fmt, ap);
	va_end(ap);
}

static void
text(struct out *o, const char *s)
{
	if (o->md)
		report_md_escape(o->f, s);
	else
		report_html_escape(o->f, s);
}

static void PRINTFLIKE(2, 3) textf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	text(o, s);
	free(s);
}

static void
section_begin(struct out *o, const char *id, const char *ja, const char *en)
{
	if (o->md)
		put(o, "\n## %s / %s\n\n", ja, en);
	else
		put(o, "<section id=\"%s\">\n<h2>%s / %s</h2>\n", id, ja, en);
}

static void
section_end(struct out *o)
{
	if (!o->md)
		put(o, "</section>\n");
}

static void PRINTFLIKE(2, 3) subheading(struct out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	put(o, o->md ? "\n### " : "<h3>");
	text(o, s);
	put(o, o->md ? "\n\n" : "</h3>\n");
	free(s);
}

static void PRINTFLIKE(3, 4) para(struct out *o, int flags, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (o->md) {
		put(o, "%s", flags & F_WARN ? "**⚠ " : "");
		text(o, s);
		put(o, "%s\n\n", flags & F_WARN ? "**" : "");
	} else {
		put(o, "<p%s>", flags & F_WARN ? " class=\"warn\"" : "");
		text(o, s);
		put(o, "</p>\n");
	}
	free(s);
}

static void
none(struct out *o)
{
	para(o, 0, "なし / none");
}

static void
table_begin(struct out *o, const char *cls, size_t n, const char *const *heads)
{
	size_t i;

	if (o->md) {
		for (i = 0; i < n; i++)
			put(o, "| %s ", heads[i]);
		put(o, "|\n");
		for (i = 0; i < n; i++)
			put(o, "|---");
		put(o, "|\n");
		return;
	}
	put(o, "<table%s%s%s>\n<thead><tr>", cls ? " class=\"" : "", cls ? cls : "",
	    cls ? "\"" : "");
	for (i = 0; i < n; i++)
		put(o, "<th>%s</th>", heads[i]);
	put(o, "</tr></thead>\n<tbody>\n");
}

static void
row_begin(struct out *o)
{
	put(o, o->md ? "|" : "<tr>");
}

static void PRINTFLIKE(3, 4) cell(struct out *o, int flags, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (o->md) {
		put(o, " %s", flags & F_WARN ? "**⚠ " : "");
		text(o, s);
		put(o, "%s |", flags & F_WARN ? "**" : "");
	} else {
		const char *sp = "";
		put(o, "<td");
		if (flags & (F_NUM | F_WARN | F_MONO)) {
			put(o, " class=\"");
			if (flags & F_NUM)
				put(o, "%snum", sp), sp = " ";
			if (flags & F_WARN)
				put(o, "%swarn", sp), sp = " ";
			if (flags & F_MONO)
				put(o, "%smono", sp);
			put(o, "\"");
		}
		put(o, ">");
		text(o, s);
		put(o, "</td>");
	}
	free(s);
}

static void
row_end(struct out *o)
{
	put(o, o->md ? "\n" : "</tr>\n");
}

static void
table_end(struct out *o)
{
	put(o, o->md ? "\n" : "</tbody></table>\n");
}

static void
kv_begin(struct out *o)
{
	static const char *const heads[] = { "項目 / Item", "内容 / Value" };

	table_begin(o, "kv", 2, heads);
}

/* A row of a key-value table: label is ours, the value is escaped. */
static void PRINTFLIKE(4, 5)
    kv(struct out *o, const char *label, int flags, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (o->md)
		put(o, "| %s |", label);
	else
		put(o, "<tr><th>%s</th>", label);
	cell(o, flags, "%s", s);
	row_end(o);
	free(s);
}

static void
list_begin(struct out *o, int checklist)
{
	if (!o->md)
		put(o, "<ul%s>\n", checklist ? " class=\"checklist\"" : "");
}

/* An item of a list: a checkbox to tick on paper when box is set. */
static void PRINTFLIKE(4, 5) item(struct out *o, int box, int flags, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (o->md) {
		put(o, "- %s%s", box ? "[ ] " : "", flags & F_WARN ? "**⚠ " : "");
		text(o, s);
		put(o, "%s\n", flags & F_WARN ? "**" : "");
	} else {
		put(o, "<li%s>%s", flags & F_WARN ? " class=\"warn\"" : "",
		    box ? "<span class=\"box\"></span>" : "");
		text(o, s);
		put(o, "</li>\n");
	}
	free(s);
}

static void
list_end(struct out *o)
{
	put(o, o->md ? "\n" : "</ul>\n");
}

/* Exact text, as it was recorded: a fence longer than any run of ` in it. */
static void
code(struct out *o, const char *s)
{
	size_t run = 0, longest = 0, i;
	const char *p;

	if (!o->md) {
		put(o, "<pre>");
		text(o, s);
		put(o, "</pre>\n");
		return;
	}
	for (p = s; *p != '\0'; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	for (i = 0; i < (longest < 3 ? 3 : longest + 1); i++)
		put(o, "`");
	put(o, "\n%s%s", s, s[0] != '\0' && s[strlen(s) - 1] == '\n' ? "" : "\n");
	for (i = 0; i < (longest < 3 ? 3 : longest + 1); i++)
		put(o, "`");
	put(o, "\n\n");
}

/* --- plots -------------------------------------------------------------- */

size_t
report_stats(const struct report_series *s, struct report_stats *st)
{
	double sum = 0;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->min = st->max = st->avg = st->last = NAN;
	for (i = 0; i < s->n; i++) {
		double v = s->v[i];
		if (!isfinite(v))
			continue;
		if (st->n == 0 || v < st->min)
			st->min = v;
		if (st->n == 0 || v > st->max)
			st->max = v;
		sum += v / 1024.0; /* no overflow near DBL_MAX */
		st->last = v;
		st->n++;
	}
	if (st->n > 0)
		st->avg = sum / (double)st->n * 1024.0;
	if (st->n > 0 && !isfinite(st->avg))
		st->avg = st->max;
	return st->n;
}

static double
nice_step(double raw)
{
	double e = pow(10, floor(log10(raw))), f = raw / e;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e;
}

int
report_axis(double min, double max, struct report_axis *ax)
{
	double step;

	if (!isfinite(min) || !isfinite(max))
		return -1;
	if (min > max) {
		double t = min;
		min = max;
		max = t;
	}
	if (min == max) {
		double v = min, pad = v != 0 ? fabs(v) * 0.1 : 1;
		min = isfinite(v - pad) ? v - pad : v;
		max = isfinite(v + pad) ? v + pad : v;
	}
	ax->lo = min;
	ax->hi = max;
	ax->step = 0;
	if (!isfinite(max - min))
		return 0; /* -1e308 to 1e308: the ends, no ticks between */
	step = nice_step((max - min) / 4);
	if (!isfinite(step) || step <= 0 || !isfinite(floor(min / step) * step) ||
	    !isfinite(ceil(max / step) * step))
		return 0;
	ax->lo = floor(min / step) * step;
	ax->hi = ceil(max / step) * step;
	ax->step = step;
	return 0;
}

static void
add_sorted(size_t *v, size_t *n, size_t x)
{
	size_t i, j;

	if (x == SIZE_MAX)
		return;
	for (i = 0; i < *n && v[i] < x; i++)
		;
	if (i < *n && v[i] == x)
		return;
	for (j = *n; j > i; j--)
		v[j] = v[j - 1];
	v[i] = x;
	(*n)++;
}

size_t
report_decimate(const double *v, size_t n, size_t max, size_t *idx)
{
	size_t nb, b, i, k = 0;

	if (max < 6)
		max = 6;
	if (n <= max) {
		for (i = 0; i < n; i++)
			idx[i] = i;
		return n;
	}
	/* 3 per bucket, and the first and last points: at most max. */
	nb = (max - 2) / 3;
	for (b = 0; b < nb; b++) {
		size_t from = n * b / nb, to = n * (b + 1) / nb;
		size_t imin = SIZE_MAX, imax = SIZE_MAX, igap = SIZE_MAX, pick[5], np = 0;
		for (i = from; i < to; i++) {
			if (!isfinite(v[i])) {
				if (igap == SIZE_MAX)
					igap = i;
				continue;
			}
			if (imin == SIZE_MAX || v[i] < v[imin])
				imin = i;
			if (imax == SIZE_MAX || v[i] > v[imax])
				imax = i;
		}
		add_sorted(pick, &np, imin);
		add_sorted(pick, &np, imax);
		add_sorted(pick, &np, igap);
		if (b == 0)
			add_sorted(pick, &np, 0);
		if (b == nb - 1)
			add_sorted(pick, &np, n - 1);
		for (i = 0; i < np; i++)
			idx[k++] = pick[i];
	}
	return k;
}

/* Plot geometry, in the viewBox's units. */
#define PW 640
#define PH 210
#define PL 64
#define PR 14
#define PT 24
#define PB 32

struct frame {
	double x, y, w, h; /* the plot area */
	int64_t t0, t1;    /* time at its left and right */
	double lo, hi;     /* value at its bottom and top */
};

static double
fx(const struct frame *fr, double t)
{
	return fr->x + (t - (double)fr->t0) / (double)(fr->t1 - fr->t0) * fr->w;
}

static double
fy(const struct frame *fr, double v)
{
	/* Halves: hi - lo may not fit in a double, hi/2 - lo/2 does. */
	double y =
	    fr->y + (fr->hi * 0.5 - v * 0.5) / (fr->hi * 0.5 - fr->lo * 0.5) * fr->h;

	if (!isfinite(y))
		return fr->y + fr->h;
	return y < fr->y ? fr->y : y > fr->y + fr->h ? fr->y + fr->h : y;
}

static const int64_t time_steps[] = { 1000, 5000, 10000, 30000, 60000, 120000, 300000,
	600000, 900000, 1800000, 3600000, 7200000, 10800000, 21600000, 43200000, 86400000,
	172800000, 604800000, INT64_C(2592000000) };

/* Time ticks along the bottom of fr, on round local times. */
static void
time_ticks(FILE *f, const struct frame *fr)
{
	int64_t spanms = fr->t1 - fr->t0, step = time_steps[NITEMS(time_steps) - 1], off,
	        t;
	time_t tt = (time_t)(fr->t0 / 1000);
	struct tm tm;
	size_t i;
	int k;

	for (i = 0; i < NITEMS(time_steps); i++)
		if (spanms / time_steps[i] <= 6) {
			step = time_steps[i];
			break;
		}
	if (spanms / step > 12)
		step = spanms / 6;
	off = localtime_r(&tt, &tm) != NULL ? (int64_t)tm.tm_gmtoff * 1000 : 0;
	t = fr->t0 + off;
	t = (t / step + (t % step != 0)) * step - off;
	for (k = 0; t <= fr->t1 && k < 16; t += step, k++) {
		char label[32];
		double x = fx(fr, (double)t);
		tt = (time_t)(t / 1000);
		if (localtime_r(&tt, &tm) == NULL)
			continue;
		strftime(label, sizeof(label),
		    step >= 86400000    ? "%m/%d"
		    : step < 60000      ? "%H:%M:%S"
		    : spanms > 86400000 ? "%m/%d %H:%M"
		                        : "%H:%M",
		    &tm);
		fprintf(f,
		    "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		    x, fr->y, x, fr->y + fr->h + 4, x, fr->y + fr->h + 16, label);
	}
}

/* A time a plot can place: from 1970 to MAX_MS (NaN is not one). */
static int
when_ok(double t)
{
	return t >= 0 && t <= (double)MAX_MS;
}

/* The points of idx[0..n) as polylines, broken where a point is a gap. */
static void
polylines(FILE *f, const struct frame *fr, const double *t, const double *v,
    const size_t *idx, size_t n)
{
	size_t i = 0, j, k;

	while (i < n) {
		while (i < n && (!isfinite(v[idx[i]]) || !when_ok(t[idx[i]])))
			i++;
		for (j = i; j < n && isfinite(v[idx[j]]) && when_ok(t[idx[j]]); j++)
			;
		if (j - i == 1)
			fprintf(f,
			    "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>\n",
			    fx(fr, t[idx[i]]), fy(fr, v[idx[i]]));
		else if (j - i > 1) {
			fprintf(f, "<polyline class=\"line\" points=\"");
			for (k = i; k < j; k++)
				fprintf(f, "%s%.1f,%.1f", k > i ? " " : "",
				    fx(fr, t[idx[k]]), fy(fr, v[idx[k]]));
			fprintf(f, "\"/>\n");
		}
		i = j;
	}
}

/* The band between lo and hi under the line, broken at gaps. */
static void
band(FILE *f, const struct frame *fr, const struct report_series *s, const size_t *idx,
    size_t n)
{
	size_t i = 0, j, k;

	while (i < n) {
		while (i < n && (!isfinite(s->lo[idx[i]]) || !isfinite(s->hi[idx[i]]) ||
		                    !when_ok(s->t[idx[i]])))
			i++;
		for (j = i; j < n && isfinite(s->lo[idx[j]]) && isfinite(s->hi[idx[j]]) &&
		            when_ok(s->t[idx[j]]);
		     j++)
			;
		if (j - i > 1) {
			fprintf(f, "<path class=\"band\" d=\"");
			for (k = i; k < j; k++)
				fprintf(f, "%c%.1f,%.1f", k == i ? 'M' : 'L',
				    fx(fr, s->t[idx[k]]), fy(fr, s->hi[idx[k]]));
			for (k = j; k > i; k--)
				fprintf(f, "L%.1f,%.1f", fx(fr, s->t[idx[k - 1]]),
				    fy(fr, s->lo[idx[k - 1]]));
			fprintf(f, "Z\"/>\n");
		}
		i = j;
	}
}

static void
vmark(FILE *f, const struct frame *fr, int64_t t, const char *cls, const char *label)
{
	double x;

	if (t < fr->t0 || t > fr->t1)
		return;
	x = fx(fr, (double)t);
	fprintf(f,
	    "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
	    cls, x, fr->y, x, fr->y + fr->h, x + (x > fr->x + fr->w / 2 ? -3 : 3),
	    fr->y + 12, x > fr->x + fr->w / 2 ? "end" : "start", label);
}

void
report_plot_svg(FILE *f, const struct report_series *s, int64_t from, int64_t to,
    int64_t open_ms, int64_t end_ms)
{
	struct frame fr = { PL, PT, PW - PL - PR, PH - PT - PB, 0, 0, 0, 0 };
	struct report_stats st;
	struct report_axis ax;
	double tmin = NAN, tmax = NAN, vmin, vmax;
	size_t i, n, *idx;
	int k;

	fprintf(f,
	    "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d "
	    "%d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"",
	    PW, PH, PW, PH);
	report_html_escape(f, s->label);
	fprintf(f,
	    "\">\n<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
	    PL, PT, PW - PL - PR, PH - PT - PB);
	if (from > MAX_MS || to > MAX_MS)
		from = to = -1;
	/* The range of what is drawn: points with a time and a value. */
	report_stats(s, &st);
	vmin = vmax = NAN;
	for (i = 0; i < s->n; i++) {
		if (!when_ok(s->t[i]) || !isfinite(s->v[i]))
			continue;
		if (isnan(vmin) || s->v[i] < vmin)
			vmin = s->v[i];
		if (isnan(vmax) || s->v[i] > vmax)
			vmax = s->v[i];
		if (isnan(tmin) || s->t[i] < tmin)
			tmin = s->t[i];
		if (isnan(tmax) || s->t[i] > tmax)
			tmax = s->t[i];
		if (s->lo != NULL && isfinite(s->lo[i]) && s->lo[i] < vmin)
			vmin = s->lo[i];
		if (s->hi != NULL && isfinite(s->hi[i]) && s->hi[i] > vmax)
			vmax = s->hi[i];
	}
	if (isnan(tmin)) {
		fprintf(f,
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">データなし / no "
		    "data</text>\n</svg>\n",
		    PL + (PW - PL - PR) / 2, PT + (PH - PT - PB) / 2);
		return;
	}
	/* The report's period, widened to the data; a lone instant gets a minute. */
	fr.t0 = from >= 0 && (isnan(tmin) || (double)from < tmin) ? from : (int64_t)tmin;
	fr.t1 = to >= 0 && (isnan(tmax) || (double)to > tmax) ? to : (int64_t)tmax;
	if (fr.t1 <= fr.t0) {
		fr.t0 -= 30000;
		fr.t1 = fr.t0 + 60000;
	}
	report_axis(vmin, vmax, &ax);
	fr.lo = ax.lo;
	fr.hi = ax.hi;
	for (k = 0; k <= 20; k++) {
		double v = ax.step > 0 ? ax.lo + k * ax.step : k == 0 ? ax.lo : ax.hi;
		if (v > ax.hi + ax.step * 1e-9 || (ax.step == 0 && k > 1))
			break;
		fprintf(f,
		    "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
		    "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
		    PL - 4, fy(&fr, v), PW - PR, fy(&fr, v), PL - 6, fy(&fr, v) + 4,
		    num(v));
	}
	time_ticks(f, &fr);
	idx = xcalloc(s->n < REPORT_MAX_POINTS ? s->n : REPORT_MAX_POINTS, sizeof(*idx));
	n = report_decimate(s->v, s->n, REPORT_MAX_POINTS, idx);
	if (s->lo != NULL && s->hi != NULL)
		band(f, &fr, s, idx, n);
	polylines(f, &fr, s->t, s->v, idx, n);
	free(idx);
	vmark(f, &fr, open_ms, "open", "発生 open");
	vmark(f, &fr, end_ms, "end", "収束 end");
	fprintf(f, "<text x=\"4\" y=\"14\">");
	report_html_escape(f, s->unit != NULL ? s->unit : "");
	fprintf(f, "</text><text x=\"%d\" y=\"14\" text-anchor=\"end\">最小 min %s",
	    PW - PR, num(st.min));
	fprintf(f, " / 最大 max %s ", num(st.max));
	report_html_escape(f, s->unit != NULL ? s->unit : "");
	fprintf(f, "</text>\n</svg>\n");
}

/* --- series from the JSON ----------------------------------------------- */

struct series {
	struct report_series s;
	double *t, *v, *lo, *hi;
	char *label;
};

/* [[t, v], ...] or, with band, [[t, min, avg, max], ...]; label is copied. */
static void
series_load(
    struct series *sr, json_t *points, int with_band, const char *label, const char *unit)
{
	size_t i, n = json_array_size(points);

	memset(sr, 0, sizeof(*sr));
	sr->t = xcalloc(n + 1, sizeof(double));
	sr->v = xcalloc(n + 1, sizeof(double));
	if (with_band) {
		sr->lo = xcalloc(n + 1, sizeof(double));
		sr->hi = xcalloc(n + 1, sizeof(double));
	}
	for (i = 0; i < n; i++) {
		json_t *p = json_array_get(points, i);
		sr->t[i] = jnum(json_array_get(p, 0));
		if (with_band) {
			sr->lo[i] = jnum(json_array_get(p, 1));
			sr->v[i] = jnum(json_array_get(p, 2));
			sr->hi[i] = jnum(json_array_get(p, 3));
		} else
			sr->v[i] = jnum(json_array_get(p, 1));
	}
	sr->label = xstrdup(label);
	sr->s.label = sr->label;
	sr->s.unit = unit;
	sr->s.n = n;
	sr->s.t = sr->t;
	sr->s.v = sr->v;
	sr->s.lo = sr->lo;
	sr->s.hi = sr->hi;
}

static void
series_clear(struct series *sr)
{
	free(sr->t);
	free(sr->v);
	free(sr->lo);
	free(sr->hi);
	free(sr->label);
}

static const char *const stats_heads[] = { "系列 / Series", "単位 / Unit",
	"点数 / Points", "最小 / Min", "平均 / Avg", "最大 / Max", "最終 / Last" };

/* A row of the series table; a band's min and max are those of the band. */
static void
stats_row(struct out *o, const struct series *sr)
{
	struct report_stats st;
	size_t i;

	report_stats(&sr->s, &st);
	for (i = 0; sr->lo != NULL && i < sr->s.n; i++) {
		if (isfinite(sr->lo[i]) && (!isfinite(st.min) || sr->lo[i] < st.min))
			st.min = sr->lo[i];
		if (isfinite(sr->hi[i]) && (!isfinite(st.max) || sr->hi[i] > st.max))
			st.max = sr->hi[i];
	}
	row_begin(o);
	cell(o, 0, "%s", sr->label);
	cell(o, 0, "%s", sr->s.unit != NULL ? sr->s.unit : "-");
	cell(o, F_NUM, "%zu", st.n);
	cell(o, F_NUM, "%s", num(st.min));
	cell(o, F_NUM, "%s", num(st.avg));
	cell(o, F_NUM, "%s", num(st.max));
	cell(o, F_NUM, "%s", num(st.last));
	row_end(o);
}

static void
figure(struct out *o, const struct series *sr, int64_t from, int64_t to, int64_t open_ms,
    int64_t end_ms)
{
	put(o, "<figure><figcaption>");
	text(o, sr->label);
	if (sr->s.unit != NULL)
		textf(o, " (%s)", sr->s.unit);
	put(o, "</figcaption>\n");
	report_plot_svg(o->f, &sr->s, from, to, open_ms, end_ms);
	put(o, "</figure>\n");
}

/* --- the head and foot of every report ---------------------------------- */

static void
doc_begin(struct out *o, json_t *r, const char *ja, const char *en, const char *subject,
    int drill)
{
	json_t *site = json_object_get(r, "site");
	int64_t gen = jms(r, "generated");
	char zone[128];

	report_zone_format(json_string_value(json_object_get(site, "timezone")),
	    gen >= 0 ? gen : 0, zone, sizeof(zone));
	if (o->md) {
		put(o, "# %s%s / %s\n\n**", drill ? "【訓練】" : "", ja, en);
		text(o, subject);
		put(o, "**\n\n");
		if (drill)
			put(o, "> **【訓練】DRILL**: "
			       "訓練です。破壊的な操作は実行されていません / "
			       "This was a drill: nothing destructive ran.\n\n");
	} else {
		put(o, "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta "
		       "charset=\"utf-8\">\n<meta name=\"viewport\" "
		       "content=\"width=device-width, initial-scale=1\">\n<meta "
		       "name=\"generator\" content=\"sonae ");
		text(o, jstr(r, "version"));
		put(o, "\">\n<title>%s%s / %s: ", drill ? "【訓練】" : "", ja, en);
		text(o, subject);
		put(o,
		    "</title>\n<style>\n%s</style>\n</head>\n<body "
		    "class=\"report-%s%s\">\n"
		    "<header>\n<h1>%s%s / %s</h1>\n<p class=\"subject\">",
		    css, jstr(r, "report"), drill ? " drill-report" : "",
		    drill ? "【訓練】" : "", ja, en);
		text(o, subject);
		put(o, "</p>\n");
		if (drill)
			put(o, "<div class=\"drill\">【訓練】DRILL: "
			       "訓練です。破壊的な操作は実行されていません / This was a "
			       "drill: nothing destructive ran</div>\n");
	}
	kv_begin(o);
	kv(o, "施設 / Site", 0, "%s", dash(site, "name"));
	kv(o, "作成 / Generated", 0, "%s", at(gen));
	kv(o, "時刻の表記 / Times in", 0, "%s", zone);
	kv(o, "作成元 / By", 0, "sonae %s", dash(r, "version"));
	table_end(o);
	if (!o->md)
		put(o, "</header>\n");
}

static void
doc_end(struct out *o, json_t *r)
{
	if (o->md) {
		put(o, "\n---\n\nsonae ");
		textf(o, "%s: %s", jstr(r, "version"), at(jms(r, "generated")));
		put(o, "\n");
	} else {
		put(o, "<footer>sonae ");
		text(o, jstr(r, "version"));
		put(o, ": %s</footer>\n</body>\n</html>\n", at(jms(r, "generated")));
	}
}

/* --- parts the reports share -------------------------------------------- */

static const char *
run_state(json_t *run)
{
	static const char *const names[][2] = { { "running", "実行中 running" },
		{ "done", "完了 done" }, { "failed", "失敗 failed" },
		{ "aborted", "中止 aborted" } };
	const char *s = jstr(run, "state");
	size_t i;

	for (i = 0; i < NITEMS(names); i++)
		if (strcmp(s, names[i][0]) == 0)
			return names[i][1];
	return dash(run, "state");
}

static const char *
step_state(json_t *s)
{
	static const char *const names[][2] = { { "done", "完了 done" },
		{ "failed", "失敗 failed" }, { "skipped", "省略 skipped" },
		{ "pending", "未実施 pending" }, { "running", "実行中 running" },
		{ "waiting", "回答待ち waiting" }, { "unknown", "不明 unknown" } };
	const char *st = jstr(s, "state");
	size_t i;

	if (json_is_true(json_object_get(s, "would_run")))
		return "【訓練】未実行 not run";
	for (i = 0; i < NITEMS(names); i++)
		if (strcmp(st, names[i][0]) == 0)
			return names[i][1];
	return dash(s, "state");
}

static int
step_bad(json_t *s)
{
	const char *st = jstr(s, "state");

	return strcmp(st, "failed") == 0 || strcmp(st, "unknown") == 0 ||
	       strcmp(st, "waiting") == 0;
}

/* The class of a step's Gantt bar: one of ours, whatever the state says. */
static const char *
step_class(json_t *s)
{
	static const char *const states[] = { "done", "failed", "skipped", "running",
		"waiting", "unknown" };
	size_t i;

	if (json_is_true(json_object_get(s, "would_run")))
		return "would";
	for (i = 0; i < NITEMS(states); i++)
		if (strcmp(jstr(s, "state"), states[i]) == 0)
			return states[i];
	return "pending";
}

/* One bar per step, from its start to its end (or now), on the run's time. */
static void
gantt(struct out *o, json_t *run)
{
	json_t *steps = json_object_get(run, "steps"), *s;
	struct frame fr;
	int64_t t0 = -1, t1 = -1;
	size_t i, rows = json_array_size(steps);
	int h;

	json_array_foreach(steps, i, s)
	{
		int64_t a = jms(s, "started"), b = jms(s, "ended");
		if (a < 0)
			continue;
		if (b < 0)
			b = o->now > a ? o->now : a;
		if (t0 < 0 || a < t0)
			t0 = a;
		if (b > t1)
			t1 = b;
	}
	if (t0 < 0 || rows == 0)
		return;
	if (t1 - t0 < 1000)
		t1 = t0 + 1000;
	h = 16 + (int)rows * 18 + 28;
	fr.x = 150;
	fr.y = 12;
	fr.w = PW - 150 - PR;
	fr.h = (double)rows * 18;
	fr.t0 = t0;
	fr.t1 = t1;
	fr.lo = fr.hi = 0;
	put(o,
	    "<figure><figcaption>所要時間 / Gantt</figcaption>\n<svg class=\"gantt\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
	    "height=\"%d\" role=\"img\" aria-label=\"Gantt\">\n",
	    PW, h, PW, h);
	time_ticks(o->f, &fr);
	json_array_foreach(steps, i, s)
	{
		int64_t a = jms(s, "started"), b = jms(s, "ended");
		double y = fr.y + (double)i * 18, x0, x1;
		char *id = xstrdup(jstr(s, "id"));
		put(o, "<text x=\"4\" y=\"%.1f\">", y + 13);
		text(o, cut(id, 22));
		put(o, "</text>\n");
		free(id);
		if (a < 0)
			continue;
		if (b < 0)
			b = o->now > a ? o->now : a;
		x0 = fx(&fr, (double)a);
		x1 = fx(&fr, (double)b);
		put(o,
		    "<rect class=\"s-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"13\"><title>",
		    step_class(s), x0, y + 2, x1 - x0 < 2 ? 2 : x1 - x0);
		textf(o, "%s: %s, %s", jstr(s, "id"), step_state(s),
		    span(jint(s, "duration_ms")));
		put(o, "</title></rect>\n");
	}
	put(o, "</svg></figure>\n");
}

/* The run's head: playbook, state, who asked and why, when, progress. */
static void
run_summary(struct out *o, json_t *run)
{
	json_t *pr = json_object_get(run, "progress");
	int64_t a = jms(run, "started"), b = jms(run, "ended");

	kv_begin(o);
	kv(o, "実行 / Run", 0, "#%lld%s", jint(run, "id"),
	    json_is_true(json_object_get(run, "drill")) ? " 【訓練】drill" : "");
	kv(o, "手順書 / Playbook", 0, "%s (%s)", dash(run, "playbook"), titles(run));
	if (jint(run, "incident") > 0)
		kv(o, "インシデント / Incident", 0, "#%lld", jint(run, "incident"));
	kv(o, "状態 / State", strcmp(jstr(run, "state"), "done") != 0 ? F_WARN : 0, "%s",
	    run_state(run));
	kv(o, "依頼者 / Requested by", 0, "%s", dash(run, "requested_by"));
	kv(o, "理由 / Reason", 0, "%s", dash(run, "reason"));
	kv(o, "開始 / Started", 0, "%s", at(a));
	kv(o, "終了 / Ended", 0, "%s", b >= 0 ? at(b) : "未了 / not ended");
	kv(o, "所要 / Duration", 0, "%s", a >= 0 && b >= a ? span(b - a) : "-");
	if (json_is_object(pr))
		kv(o, "進捗 / Progress", 0,
		    "%lld / %lld 完了 done, %lld 失敗 failed, %lld 省略 skipped, %lld "
		    "未実施 pending",
		    jint(pr, "done"), jint(pr, "total"), jint(pr, "failed"),
		    jint(pr, "skipped"), jint(pr, "pending"));
	table_end(o);
}

/* The steps of a run: who did each, when it started and ended, its result. */
static void
run_steps(struct out *o, json_t *run)
{
	static const char *const heads[] = { "#", "手順 / Step", "種別 / Type",
		"実施者 / Actor", "開始 / Start", "終了 / End", "所要 / Duration",
		"結果 / Result" };
	json_t *steps = json_object_get(run, "steps"), *log = json_object_get(run, "log"),
	       *s;
	int64_t day = jms(run, "started");
	size_t i, outputs = 0;

	if (!o->md)
		gantt(o, run);
	if (json_array_size(steps) == 0) {
		none(o);
		return;
	}
	table_begin(o, "steps", NITEMS(heads), heads);
	json_array_foreach(steps, i, s)
	{
		int64_t a = jms(s, "started"), b = jms(s, "ended");
		char *res;
		if (json_is_string(json_object_get(s, "result")))
			xasprintf(&res, "%s: %s", step_state(s), jstr(s, "result"));
		else
			res = xstrdup(step_state(s));
		row_begin(o);
		cell(o, F_NUM, "%zu", i + 1);
		cell(o, 0, "%s %s", jstr(s, "id"), jstr(s, "title"));
		cell(o, 0, "%s", dash(s, "type"));
		/* No person answered: sonaed ran it, as the run's log says. */
		cell(o, 0, "%s",
		    json_is_string(json_object_get(s, "actor")) ? jstr(s, "actor")
		    : a >= 0                                    ? "sonaed (自動 auto)"
		                                                : "-");
		cell(o, F_NUM, "%s", a >= 0 ? at_day(a, day) : "-");
		cell(o, F_NUM, "%s", b >= 0 ? at_day(b, day) : "-");
		cell(o, F_NUM, "%s", span(jint(s, "duration_ms")));
		if (jint(s, "attempts") > 1)
			cell(o, step_bad(s) ? F_WARN : 0, "%s (試行 attempts %lld)", res,
			    jint(s, "attempts"));
		else
			cell(o, step_bad(s) ? F_WARN : 0, "%s", res);
		row_end(o);
		free(res);
		outputs += json_is_string(json_object_get(s, "output"));
	}
	table_end(o);
	if (outputs > 0) {
		para(o, 0, "出力 / Output");
		json_array_foreach(steps, i, s)
		{
			if (!json_is_string(json_object_get(s, "output")))
				continue;
			para(o, 0, "%s:", jstr(s, "id"));
			code(o, jstr(s, "output"));
		}
	}
	if (json_array_size(log) > 0) {
		static const char *const lh[] = { "時刻 / Time", "実施者 / Actor",
			"事象 / Event", "内容 / Text" };
		json_t *e;
		para(o, 0, "実行記録 / Run log");
		table_begin(o, "log", NITEMS(lh), lh);
		json_array_foreach(log, i, e)
		{
			row_begin(o);
			cell(o, F_NUM, "%s", at(jms(e, "time")));
			cell(o, 0, "%s", dash(e, "actor"));
			cell(o, 0, "%s", dash(e, "event"));
			cell(o, 0, "%s", jstr(e, "text"));
			row_end(o);
		}
		table_end(o);
	}
}

static void
notifications(struct out *o, json_t *list, const char *ja, const char *en)
{
	static const char *const heads[] = { "時刻 / Time", "種別 / What", "宛先 / To",
		"状態 / Status", "配送 / Delivered", "中継 / Relay", "試行 / Attempts",
		"エラー / Error" };
	json_t *n;
	size_t i;

	section_begin(o, "notifications", ja, en);
	if (json_array_size(list) == 0) {
		none(o);
		section_end(o);
		return;
	}
	table_begin(o, NULL, NITEMS(heads), heads);
	json_array_foreach(list, i, n)
	{
		const char *st = jstr(n, "status");
		char *to = joined(json_object_get(n, "to"));
		row_begin(o);
		cell(o, F_NUM, "%s", at(jms(n, "time")));
		if (jint(n, "queued") > 0)
			cell(o, 0, "%s (#%lld)",
			    word(notification_kinds, NITEMS(notification_kinds),
			        jstr(n, "what")),
			    jint(n, "queued"));
		else
			cell(o, 0, "%s",
			    word(notification_kinds, NITEMS(notification_kinds),
			        jstr(n, "what")));
		cell(o, 0, "%s", to[0] != '\0' ? to : "-");
		cell(o, strcmp(st, "delivered") != 0 ? F_WARN : 0, "%s",
		    strcmp(st, "delivered") == 0 ? "配送済 delivered"
		    : strcmp(st, "failed") == 0  ? "失敗 failed"
		    : strcmp(st, "queued") == 0  ? "送信待ち queued"
		                                 : dash(n, "status"));
		cell(o, F_NUM, "%s", at(jms(n, "delivered")));
		cell(o, 0, "%s", dash(n, "relay"));
		cell(
		    o, F_NUM, "%lld", jint(n, "attempts") >= 0 ? jint(n, "attempts") : 0);
		cell(o, 0, "%s", dash(n, "error"));
		row_end(o);
		free(to);
	}
	table_end(o);
	section_end(o);
}

/* A section of {time, actor, event, text} entries: a timeline, decisions. */
static void
event_section(struct out *o, const char *id, const char *ja, const char *en, json_t *list)
{
	static const char *const heads[] = { "時刻 / Time", "実施者 / Actor",
		"事象 / Event", "内容 / Text" };
	json_t *d;
	size_t i;

	section_begin(o, id, ja, en);
	if (json_array_size(list) == 0)
		none(o);
	else {
		table_begin(o, NULL, NITEMS(heads), heads);
		json_array_foreach(list, i, d)
		{
			row_begin(o);
			cell(o, F_NUM, "%s", at(jms(d, "time")));
			cell(o, 0, "%s", dash(d, "actor"));
			cell(o, 0, "%s", dash(d, "event"));
			cell(o, 0, "%s", jstr(d, "text"));
			row_end(o);
		}
		table_end(o);
	}
	section_end(o);
}

static void
decisions(struct out *o, json_t *list)
{
	event_section(o, "decisions", "判断と確認", "Decisions and confirmations", list);
}

static void
followups(struct out *o, json_t *list)
{
	json_t *f;
	size_t i;

	section_begin(o, "followups", "未完了の事項", "Open follow-ups");
	if (json_array_size(list) == 0)
		para(o, 0, "なし: すべて完了 / none: everything is closed");
	else {
		list_begin(o, 1);
		json_array_foreach(list, i, f) item(o, 1, 0, "[%s] %s",
		    word(followup_kinds, NITEMS(followup_kinds), jstr(f, "kind")),
		    jstr(f, "text"));
		list_end(o);
	}
	section_end(o);
}

static void
mode_changes(struct out *o, json_t *list, int headcount)
{
	static const char *const heads[] = { "時刻 / Time", "変更 / Change",
		"実施者 / Actor", "理由 / Why", "人員 / Headcount" };
	json_t *m;
	size_t i;

	if (json_array_size(list) == 0) {
		para(o, 0, "変更なし / no changes");
		return;
	}
	table_begin(o, NULL, NITEMS(heads) - !headcount, heads);
	json_array_foreach(list, i, m)
	{
		row_begin(o);
		cell(o, F_NUM, "%s", at(jms(m, "time")));
		cell(o, 0, "%s → %s", dash(m, "from"), dash(m, "to"));
		cell(o, 0, "%s", dash(m, "actor"));
		cell(o, 0, "%s", jstr(m, "why"));
		if (headcount) {
			char *hc = pairs(json_object_get(m, "headcount"));
			cell(o, 0, "%s", hc[0] != '\0' ? hc : "-");
			free(hc);
		}
		row_end(o);
	}
	table_end(o);
}

/* --- incident ----------------------------------------------------------- */

static void
incident_summary(struct out *o, json_t *r, json_t *inc)
{
	json_t *ack = json_object_get(inc, "acknowledged"),
	       *res = json_object_get(inc, "resolved"),
	       *folded = json_object_get(inc, "folded");
	int64_t opened = jms(inc, "opened"), resolved = jms(res, "time");
	char *devs = joined(json_object_get(inc, "devices"));

	section_begin(o, "summary", "概要", "Summary");
	kv_begin(o);
	kv(o, "番号 / ID", 0, "#%lld", jint(inc, "id"));
	kv(o, "件名 / Title", 0, "%s", dash(inc, "title"));
	kv(o, "規則 / Rule", 0, "%s (%s)", dash(inc, "rule"), dash(inc, "source"));
	kv(o, "重大度 / Severity",
	    strcmp(jstr(inc, "severity"), "critical") == 0 ? F_WARN : 0, "%s",
	    strcmp(jstr(inc, "severity"), "critical") == 0  ? "重大 critical"
	    : strcmp(jstr(inc, "severity"), "warning") == 0 ? "警告 warning"
	                                                    : dash(inc, "severity"));
	kv(o, "状態 / State", json_is_object(res) ? 0 : F_WARN, "%s",
	    strcmp(jstr(inc, "state"), "resolved") == 0       ? "収束 resolved"
	    : strcmp(jstr(inc, "state"), "acknowledged") == 0 ? "対応中 acknowledged"
	    : strcmp(jstr(inc, "state"), "open") == 0         ? "発生中 open"
	                                                      : dash(inc, "state"));
	kv(o, "発生 / Opened", 0, "%s", at(opened));
	if (json_is_object(ack))
		kv(o, "受付 / Acknowledged", 0, "%s, %s: %s", at(jms(ack, "time")),
		    dash(ack, "by"), jstr(ack, "text"));
	else
		kv(o, "受付 / Acknowledged", 0, "-");
	if (json_is_object(res))
		kv(o, "収束 / Resolved", 0, "%s, %s: %s", at(resolved), dash(res, "by"),
		    jstr(res, "text"));
	else
		kv(o, "収束 / Resolved", F_WARN, "未収束 / not resolved");
	if (opened >= 0 && resolved >= opened)
		kv(o, "継続時間 / Duration", 0, "%s", span(resolved - opened));
	else if (opened >= 0 && o->now >= opened)
		kv(o, "継続時間 / Duration", 0, "%s 以上 (継続中) / so far (ongoing)",
		    span(o->now - opened));
	kv(o, "機器 / Devices", 0, "%s", devs[0] != '\0' ? devs : "-");
	kv(o, "発生時の運用モード / Mode at open", 0, "%s",
	    dash(json_object_get(r, "modes"), "at_open"));
	kv(o, "手順書 / Playbook", 0, "%s", dash(inc, "playbook"));
	if (json_is_integer(json_object_get(inc, "merged_into")))
		kv(o, "統合先 / Merged into", 0, "#%lld", jint(inc, "merged_into"));
	if (json_is_string(json_object_get(inc, "maintenance")))
		kv(o, "保守時間帯 / Maintenance", 0, "%s", jstr(inc, "maintenance"));
	table_end(o);
	free(devs);
	if (json_array_size(folded) > 0) {
		static const char *const heads[] = { "統合した検知 / Folded detectors",
			"状態 / State", "以降 / Since", "理由 / Reason" };
		json_t *f;
		size_t i;
		table_begin(o, NULL, NITEMS(heads), heads);
		json_array_foreach(folded, i, f)
		{
			row_begin(o);
			cell(o, 0, "%s", dash(f, "detector"));
			cell(o, 0, "%s",
			    strcmp(jstr(f, "state"), "active") == 0 ? "継続 active"
			    : strcmp(jstr(f, "state"), "recovered") == 0
			        ? "回復 recovered"
			        : dash(f, "state"));
			cell(o, F_NUM, "%s", at(jms(f, "since")));
			cell(o, 0, "%s", jstr(f, "reason"));
			row_end(o);
		}
		table_end(o);
	}
	section_end(o);
}

static void
incident_timeline(struct out *o, json_t *inc)
{
	event_section(
	    o, "timeline", "タイムライン", "Timeline", json_object_get(inc, "timeline"));
}

static void
incident_readings(struct out *o, json_t *inc, json_t *rd)
{
	json_t *list = json_object_get(rd, "series"),
	       *snap = json_object_get(inc, "snapshot"), *v;
	int64_t from = jms(rd, "from"), to = jms(rd, "to"), opened = jms(inc, "opened"),
	        resolved = jms(json_object_get(inc, "resolved"), "time");
	size_t n = json_array_size(list), i, plotted = 0;
	struct series *ss = xcalloc(n + 1, sizeof(*ss));
	const char *key;
	int pass;

	section_begin(o, "readings", "計測値", "Readings");
	if (json_object_size(snap) > 0) {
		static const char *const heads[] = { "発生時の値 / At opening",
			"値 / Value", "単位 / Unit", "品質 / Quality", "時刻 / Time" };
		table_begin(o, NULL, NITEMS(heads), heads);
		json_object_foreach(snap, key, v)
		{
			json_t *x = json_object_get(v, "value");
			row_begin(o);
			cell(o, 0, "%s", key);
			if (json_is_number(x))
				cell(o, F_NUM, "%s", num(json_number_value(x)));
			else if (json_is_boolean(x))
				cell(o, F_NUM, "%s", json_is_true(x) ? "true" : "false");
			else
				cell(o, F_NUM, "%s", dash(v, "value"));
			cell(o, 0, "%s", dash(v, "unit"));
			cell(o, strcmp(jstr(v, "quality"), "ok") != 0 ? F_WARN : 0, "%s",
			    dash(v, "quality"));
			cell(o, F_NUM, "%s", at(jms(v, "time")));
			row_end(o);
		}
		table_end(o);
	}
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(list, i);
		char *label;
		xasprintf(&label, "%s.%s", dash(s, "device"), dash(s, "metric"));
		series_load(&ss[i], json_object_get(s, "points"), 0, label,
		    json_string_value(json_object_get(s, "unit")));
		free(label);
	}
	if (n == 0)
		para(o, 0, "計測値なし / no readings");
	if (json_is_true(json_object_get(rd, "truncated")))
		para(o, F_WARN, "計測値の一部のみ / the readings were cut short");
	if (n > 0 && !o->md) {
		/* Small multiples: the key series first, at most REPORT_MAX_PLOTS. */
		put(o, "<div class=\"plots\">\n");
		for (pass = 0; pass < 2; pass++)
			for (i = 0; i < n && plotted < REPORT_MAX_PLOTS; i++) {
				int k = json_is_true(
				    json_object_get(json_array_get(list, i), "key"));
				if (k != (pass == 0))
					continue;
				figure(o, &ss[i], from, to, opened, resolved);
				plotted++;
			}
		put(o, "</div>\n");
		if (plotted < n)
			para(o, 0,
			    "図は %zu 系列まで、他は下表 / %zu series plotted, all in "
			    "the table",
			    plotted, plotted);
	}
	if (n > 0) {
		para(o, 0, "%s から %s まで / from %s to %s", at(from), at(to), at(from),
		    at(to));
		table_begin(o, NULL, NITEMS(stats_heads), stats_heads);
		for (pass = 0; pass < 2; pass++)
			for (i = 0; i < n; i++)
				if (json_is_true(json_object_get(
				        json_array_get(list, i), "key")) == (pass == 0))
					stats_row(o, &ss[i]);
		table_end(o);
	}
	for (i = 0; i < n; i++)
		series_clear(&ss[i]);
	free(ss);
	section_end(o);
}

static void
incident_report(struct out *o, json_t *r)
{
	json_t *inc = json_object_get(r, "incident"), *runs = json_object_get(r, "runs"),
	       *run, *modes = json_object_get(r, "modes");
	size_t i;
	char *subject;

	xasprintf(&subject, "#%lld %s", jint(inc, "id"), jstr(inc, "title"));
	doc_begin(
	    o, r, "インシデント事後報告書", "Incident after-action report", subject, 0);
	free(subject);
	incident_summary(o, r, inc);
	incident_timeline(o, inc);
	incident_readings(o, inc, json_object_get(r, "readings"));
	notifications(o, json_object_get(r, "notifications"), "通知と配送",
	    "Notifications and delivery");
	section_begin(o, "runs", "手順書の実行", "Playbook runs");
	if (json_array_size(runs) == 0)
		none(o);
	json_array_foreach(runs, i, run)
	{
		subheading(o, "実行 / Run #%lld: %s (%s)", jint(run, "id"),
		    dash(run, "playbook"), titles(run));
		run_summary(o, run);
		run_steps(o, run);
	}
	section_end(o);
	decisions(o, json_object_get(r, "decisions"));
	section_begin(o, "modes", "運用モードの変更", "Mode changes");
	para(o, 0, "発生時 / At open: %s", dash(modes, "at_open"));
	mode_changes(o, json_object_get(modes, "changes"), 0);
	section_end(o);
	followups(o, json_object_get(r, "followups"));
	doc_end(o, r);
}

/* --- drill -------------------------------------------------------------- */

static void
drill_report(struct out *o, json_t *r)
{
	json_t *run = json_object_get(r, "run"), *w,
	       *would = json_object_get(r, "would_run");
	size_t i;
	char *subject;

	xasprintf(&subject, "#%lld %s (%s)", jint(run, "id"), jstr(run, "playbook"),
	    titles(run));
	doc_begin(o, r, "訓練報告書", "Drill report", subject, 1);
	free(subject);
	section_begin(o, "summary", "概要", "Summary");
	run_summary(o, run);
	section_end(o);
	section_begin(o, "steps", "手順の実施", "Steps");
	run_steps(o, run);
	section_end(o);
	section_begin(o, "would-run", "実行されなかった操作", "Would have run");
	para(o, 0,
	    "訓練のため実行せず記録した操作 (記録のとおり) / Recorded and not run, "
	    "exactly as recorded");
	if (json_array_size(would) == 0)
		none(o);
	json_array_foreach(would, i, w)
	{
		subheading(o, "%s: %s", dash(w, "step"), jstr(w, "title"));
		code(o, jstr(w, "text"));
	}
	section_end(o);
	notifications(
	    o, json_object_get(r, "notifications"), "訓練の通知", "Drill notices");
	decisions(o, json_object_get(r, "decisions"));
	followups(o, json_object_get(r, "followups"));
	doc_end(o, r);
}

/* --- inspection --------------------------------------------------------- */

static int
below(json_t *v, double limit)
{
	return json_is_number(v) && json_number_value(v) < limit;
}

#define GOOD_PCT 99.0 /* contact or data quality below this is flagged */

static void
inspection_summary(struct out *o, json_t *r)
{
	json_t *cfg = json_object_get(r, "config"), *audit = json_object_get(r, "audit"),
	       *inc = json_object_get(r, "incidents"), *d,
	       *devs = json_object_get(r, "devices");
	size_t i, poor = 0, nd = json_array_size(json_object_get(r, "never_drilled")),
	          failed = json_array_size(json_object_get(r, "failed_alerts"));

	json_array_foreach(devs, i, d) poor +=
	    below(json_object_get(d, "contact_pct"), GOOD_PCT) ||
	    below(json_object_get(d, "quality_pct"), GOOD_PCT);
	section_begin(o, "summary", "概要", "Summary");
	kv_begin(o);
	kv(o, "対象期間 / Period", 0, "%s – %s",
	    at(jms(json_object_get(r, "period"), "from")),
	    at(jms(json_object_get(r, "period"), "to")));
	kv(o, "設定 / Configuration",
	    json_is_true(json_object_get(cfg, "ok")) ? 0 : F_WARN, "%s",
	    json_is_true(json_object_get(cfg, "ok")) ? "正常 valid" : "誤りあり errors");
	kv(o, "監査ログ / Audit journal",
	    json_is_true(json_object_get(audit, "ok")) ? 0 : F_WARN, "%s",
	    json_is_true(json_object_get(audit, "ok")) ? "検証済 verified"
	                                               : "不整合 BROKEN");
	kv(o, "機器 / Devices", poor > 0 ? F_WARN : 0, "%zu (99%% 未満 below 99%%: %zu)",
	    json_array_size(devs), poor);
	kv(o, "未訓練の手順書 / Never drilled", nd > 0 ? F_WARN : 0, "%zu", nd);
	kv(o, "送信失敗 / Failed alerts", failed > 0 ? F_WARN : 0, "%zu", failed);
	kv(o, "インシデント / Incidents", 0,
	    "%s (重大 critical %s, 警告 warning %s, 収束 resolved %s)",
	    cnt(inc, "opened"), cnt(inc, "critical"), cnt(inc, "warning"),
	    cnt(inc, "resolved"));
	kv(o, "運用モード / Mode now", 0, "%s",
	    dash(json_object_get(r, "modes"), "current"));
	table_end(o);
	section_end(o);
}

static void
inspection_config(struct out *o, json_t *cfg)
{
	json_t *errs = json_object_get(cfg, "errors"), *e;
	size_t i;

	section_begin(o, "config", "設定の妥当性", "Configuration validity");
	kv_begin(o);
	kv(o, "ファイル / File", F_MONO, "%s", dash(cfg, "file"));
	kv(o, "結果 / Result", json_is_true(json_object_get(cfg, "ok")) ? 0 : F_WARN,
	    "%s",
	    json_is_true(json_object_get(cfg, "ok")) ? "正常 valid"
	                                             : "誤りあり / has errors");
	table_end(o);
	if (json_array_size(errs) > 0) {
		list_begin(o, 0);
		json_array_foreach(errs, i, e) item(o, 0, F_WARN, "%s",
		    json_string_value(e) ? json_string_value(e) : "?");
		list_end(o);
	}
	section_end(o);
}

static void
inspection_devices(struct out *o, json_t *devs)
{
	static const char *const heads[] = { "機器 / Device", "種別 / Kind",
		"設置場所 / Location", "ポーリング / Polls", "応答 / Answered",
		"欠測 / Missed", "接続率 / Contact", "標本 / Samples", "不良 / Bad",
		"品質 / Quality", "現況 / Now" };
	json_t *d;
	size_t i;

	section_begin(
	    o, "devices", "機器の接続とデータ品質", "Device contact and data quality");
	para(o, 0, "99%% 未満を強調 / below 99%% is highlighted");
	if (json_array_size(devs) == 0)
		none(o);
	else {
		table_begin(o, NULL, NITEMS(heads), heads);
		json_array_foreach(devs, i, d)
		{
			json_t *c = json_object_get(d, "contact_pct"),
			       *q = json_object_get(d, "quality_pct");
			row_begin(o);
			cell(o, 0, "%s", dash(d, "name"));
			cell(o, 0, "%s", dash(d, "kind"));
			cell(o, 0, "%s", dash(d, "location"));
			cell(o, F_NUM, "%s", cnt(d, "polls"));
			cell(o, F_NUM, "%s", cnt(d, "answered"));
			cell(o, F_NUM, "%s", cnt(d, "missed"));
			cell(o, F_NUM | (below(c, GOOD_PCT) ? F_WARN : 0), "%s", pct(c));
			cell(o, F_NUM, "%s", cnt(d, "samples"));
			cell(o, F_NUM, "%s", cnt(d, "bad"));
			cell(o, F_NUM | (below(q, GOOD_PCT) ? F_WARN : 0), "%s", pct(q));
			if (json_is_string(json_object_get(d, "since")))
				cell(o,
				    strcmp(jstr(d, "contact"), "ok") != 0 ? F_WARN : 0,
				    "%s (%s)", dash(d, "contact"), at(jms(d, "since")));
			else
				cell(o,
				    strcmp(jstr(d, "contact"), "ok") != 0 ? F_WARN : 0,
				    "%s", dash(d, "contact"));
			row_end(o);
		}
		table_end(o);
	}
	section_end(o);
}

static void
inspection_ups(struct out *o, json_t *r)
{
	json_t *ups = json_object_get(r, "ups"), *u,
	       *period = json_object_get(r, "period");
	int64_t from = jms(period, "from"), to = jms(period, "to");
	size_t i;

	section_begin(o, "ups", "UPS バッテリー", "UPS battery");
	para(o, 0,
	    "1時間ごとの平均 (線) と最小–最大 (帯) / hourly average (line) and "
	    "min–max (band)");
	if (json_array_size(ups) == 0)
		none(o);
	json_array_foreach(ups, i, u)
	{
		struct series rt, ch;
		json_t *tr = json_object_get(u, "trend_s_per_day");
		char *l1, *l2;

		subheading(o, "%s", dash(u, "device"));
		kv_begin(o);
		kv(o, "期首の稼働時間 / First runtime", F_NUM, "%s s",
		    num(jnum(json_object_get(u, "first_runtime_s"))));
		kv(o, "期末の稼働時間 / Last runtime", F_NUM, "%s s",
		    num(jnum(json_object_get(u, "last_runtime_s"))));
		kv(o, "傾向 / Trend", F_NUM | (below(tr, 0) ? F_WARN : 0),
		    "%s%s s/日 (day)",
		    json_is_number(tr) && json_number_value(tr) > 0 ? "+" : "",
		    num(jnum(tr)));
		table_end(o);
		xasprintf(&l1, "%s.runtime_s", dash(u, "device"));
		xasprintf(&l2, "%s.charge_pct", dash(u, "device"));
		series_load(&rt, json_object_get(u, "runtime"), 1, l1, "s");
		series_load(&ch, json_object_get(u, "charge"), 1, l2, "%");
		free(l1);
		free(l2);
		if (!o->md) {
			put(o, "<div class=\"plots\">\n");
			figure(o, &rt, from, to, -1, -1);
			figure(o, &ch, from, to, -1, -1);
			put(o, "</div>\n");
		}
		table_begin(o, NULL, NITEMS(stats_heads), stats_heads);
		stats_row(o, &rt);
		stats_row(o, &ch);
		table_end(o);
		series_clear(&rt);
		series_clear(&ch);
	}
	section_end(o);
}

static void
inspection_playbooks(struct out *o, json_t *r)
{
	static const char *const heads[] = { "手順書 / Playbook", "名称 / Title",
		"最終訓練 / Last drill", "結果 / Result" };
	json_t *pbs = json_object_get(r, "playbooks"),
	       *never = json_object_get(r, "never_drilled"), *p;
	size_t i;

	section_begin(o, "playbooks", "手順書の訓練", "Playbook drills");
	if (json_array_size(pbs) == 0)
		none(o);
	else {
		table_begin(o, NULL, NITEMS(heads), heads);
		json_array_foreach(pbs, i, p)
		{
			json_t *ld = json_object_get(p, "last_drill"),
			       *ok = json_object_get(p, "last_drill_ok");
			row_begin(o);
			cell(o, 0, "%s", dash(p, "name"));
			cell(o, 0, "%s", titles(p));
			if (json_is_object(ld))
				cell(o, 0, "#%lld %s", jint(ld, "id"),
				    at(jms(ld, "started")));
			else
				cell(o, F_WARN, "未訓練 / never drilled");
			if (json_is_object(ld))
				cell(o, json_is_true(ok) ? 0 : F_WARN, "%s",
				    run_state(ld));
			else
				cell(o, F_WARN, "-");
			row_end(o);
		}
		table_end(o);
	}
	subheading(o, "未訓練の手順書 / Never drilled");
	if (json_array_size(never) == 0)
		para(o, 0, "なし: すべて訓練済み / none: every playbook was drilled");
	else {
		list_begin(o, 0);
		json_array_foreach(never, i, p) item(o, 0, F_WARN, "%s",
		    json_string_value(p) ? json_string_value(p) : "?");
		list_end(o);
	}
	section_end(o);
}

static void
inspection_audit(struct out *o, json_t *a)
{
	json_t *head = json_object_get(a, "head");
	int ok = json_is_true(json_object_get(a, "ok"));

	section_begin(o, "audit", "監査ログの検証", "Audit journal verification");
	kv_begin(o);
	kv(o, "ファイル / Journal", F_MONO, "%s", dash(a, "journal"));
	kv(o, "結果 / Result", ok ? 0 : F_WARN, "%s",
	    ok ? "正常: ハッシュ連鎖を確認 / ok: hash chain verified"
	       : "不整合 / BROKEN");
	kv(o, "記録数 / Entries", F_NUM, "%s", cnt(a, "entries"));
	if (json_is_object(head))
		kv(o, "末尾 / Head", F_MONO, "seq %lld %s", jint(head, "seq"),
		    dash(head, "hash"));
	if (!ok)
		kv(o, "問題 / Problem", F_WARN, "line %lld: %s", jint(a, "line"),
		    dash(a, "problem"));
	table_end(o);
	section_end(o);
}

static void
inspection_failed(struct out *o, json_t *list)
{
	static const char *const heads[] = { "時刻 / Time", "番号 / Queued",
		"インシデント / Incident", "中継 / Relay", "理由 / Reason",
		"恒久 / Permanent" };
	json_t *a;
	size_t i;

	section_begin(o, "failed-alerts", "送信に失敗した通知", "Failed alerts");
	if (json_array_size(list) == 0)
		none(o);
	else {
		table_begin(o, NULL, NITEMS(heads), heads);
		json_array_foreach(list, i, a)
		{
			row_begin(o);
			cell(o, F_NUM, "%s", at(jms(a, "time")));
			cell(o, F_NUM, "#%lld", jint(a, "queued"));
			if (jint(a, "incident") > 0)
				cell(o, F_NUM, "#%lld", jint(a, "incident"));
			else
				cell(o, F_NUM, "-");
			cell(o, 0, "%s", dash(a, "relay"));
			cell(o, F_WARN, "%s", dash(a, "reason"));
			cell(o, 0, "%s",
			    json_is_true(json_object_get(a, "permanent")) ? "はい yes"
			                                                  : "いいえ no");
			row_end(o);
		}
		table_end(o);
	}
	section_end(o);
}

static void
inspection_report(struct out *o, json_t *r)
{
	json_t *period = json_object_get(r, "period"),
	       *inc = json_object_get(r, "incidents"),
	       *modes = json_object_get(r, "modes");
	char *subject;

	xasprintf(&subject, "対象期間 / Period: %s – %s", at(jms(period, "from")),
	    at(jms(period, "to")));
	doc_begin(o, r, "自己点検報告書", "Self-inspection report", subject, 0);
	free(subject);
	inspection_summary(o, r);
	inspection_config(o, json_object_get(r, "config"));
	inspection_devices(o, json_object_get(r, "devices"));
	inspection_ups(o, r);
	inspection_playbooks(o, r);
	section_begin(o, "modes", "運用モードの履歴", "Mode history");
	para(o, 0, "現在 / Now: %s", dash(modes, "current"));
	mode_changes(o, json_object_get(modes, "history"), 1);
	section_end(o);
	inspection_audit(o, json_object_get(r, "audit"));
	inspection_failed(o, json_object_get(r, "failed_alerts"));
	section_begin(o, "incidents", "インシデント件数", "Incidents");
	kv_begin(o);
	kv(o, "発生 / Opened", F_NUM, "%s", cnt(inc, "opened"));
	kv(o, "重大 / Critical", F_NUM, "%s", cnt(inc, "critical"));
	kv(o, "警告 / Warning", F_NUM, "%s", cnt(inc, "warning"));
	kv(o, "収束 / Resolved", F_NUM, "%s", cnt(inc, "resolved"));
	table_end(o);
	section_end(o);
	doc_end(o, r);
}

/* --- entry points ------------------------------------------------------- */

int
report_render(json_t *r, enum report_format fmt, FILE *f, char *err, size_t errlen)
{
	const char *kind = jstr(r, "report");
	struct out o = { f, fmt == REPORT_MD, jms(r, "generated") };

	if (strcmp(kind, "incident") == 0 &&
	    json_is_object(json_object_get(r, "incident")))
		incident_report(&o, r);
	else if (strcmp(kind, "drill") == 0 && json_is_object(json_object_get(r, "run")))
		drill_report(&o, r);
	else if (strcmp(kind, "inspection") == 0)
		inspection_report(&o, r);
	else {
		snprintf(err, errlen,
		    "not a sonae report: \"report\" is not incident (with \"incident\"), "
		    "drill (with \"run\") or inspection");
		return -1;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "write error");
		return -1;
	}
	return 0;
}

int
report_basename(json_t *r, char *buf, size_t len)
{
	const char *kind = jstr(r, "report");
	int64_t ms;
	time_t t;
	struct tm tm;

	if (strcmp(kind, "incident") == 0 &&
	    jint(json_object_get(r, "incident"), "id") >= 0)
		snprintf(buf, len, "incident-%lld",
		    jint(json_object_get(r, "incident"), "id"));
	else if (strcmp(kind, "drill") == 0 && jint(json_object_get(r, "run"), "id") >= 0)
		snprintf(buf, len, "drill-%lld", jint(json_object_get(r, "run"), "id"));
	else if (strcmp(kind, "inspection") == 0) {
		if ((ms = jms(json_object_get(r, "period"), "to")) < 0 &&
		    (ms = jms(r, "generated")) < 0)
			return -1;
		/* The period's last day: one that ends at midnight ends the day before.
		 */
		t = (time_t)((ms > 0 ? ms - 1 : 0) / 1000);
		if (localtime_r(&t, &tm) == NULL)
			return -1;
		strftime(buf, len, "inspection-%Y%m%d", &tm);
	} else
		return -1;
	return 0;
}
