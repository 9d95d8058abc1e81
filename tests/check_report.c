/*
 * report.c (monitor/ctl): escaping, times in the site's zone, the plots'
 * edge cases (no points, one, constant, gaps, huge values and counts), and
 * every section of the three reports with its data, from the fixtures in
 * tests/data/reports/.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "monitor/ctl/report.h"
#include "tests/testutil.h"

/* 2026-11-25T00:00:00Z */
#define T_20261125_0000Z INT64_C(1795564800000)

typedef void (*emit_fn)(FILE *, const void *);

/* What fn writes, as a string (caller frees). */
static char *
capture(emit_fn fn, const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void
emit_html(FILE *f, const void *s)
{
	report_html_escape(f, s);
}

static void
emit_md(FILE *f, const void *s)
{
	report_md_escape(f, s);
}

static const struct {
	const char *in, *html, *md;
} escapes[] = {
	{ "<script>alert('x')</script>",
	    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
	    "\\<script\\>alert('x')\\</script\\>" },
	{ "R&D \"棟\"", "R&amp;D &quot;棟&quot;", "R&D \"棟\"" },
	{ "&amp; &#39;", "&amp;amp; &amp;#39;", "\\&amp; \\&#39;" },
	{ "a|b\nc", "a|b\nc", "a\\|b<br>c" },
	{ "*bold* `code` [link](javascript:x) [kind]",
	    "*bold* `code` [link](javascript:x) [kind]",
	    "\\*bold\\* \\`code\\` [link\\](javascript:x) [kind]" },
	{ "bell\a\x1b[31m", "bell[31m", "bell??[31m" },
	{ "tab\there", "tab\there", "tab here" },
	{ "停電対応 / Power outage", "停電対応 / Power outage",
	    "停電対応 / Power outage" },
	{ "", "", "" },
};

START_TEST(escaping)
{
	size_t i;

	for (i = 0; i < NELEM(escapes); i++) {
		char *h = capture(emit_html, escapes[i].in),
		     *m = capture(emit_md, escapes[i].in);
		ck_assert_msg(strcmp(h, escapes[i].html) == 0, "html of \"%s\": \"%s\"",
		    escapes[i].in, h);
		ck_assert_msg(strcmp(m, escapes[i].md) == 0, "md of \"%s\": \"%s\"",
		    escapes[i].in, m);
		free(h);
		free(m);
	}
}
END_TEST

START_TEST(times_in_zone)
{
	char buf[64];

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_str_eq(report_time_format(T_20261125_0000Z, buf, sizeof(buf)),
	    "2026-11-25 09:00:00");
	ck_assert_str_eq(
	    report_zone_format("Asia/Tokyo", T_20261125_0000Z, buf, sizeof(buf)),
	    "Asia/Tokyo (UTC+09:00)");
	ck_assert_str_eq(
	    report_zone_format(NULL, T_20261125_0000Z, buf, sizeof(buf)), "UTC+09:00");
	ck_assert_int_eq(tz_apply("UTC"), 0);
	ck_assert_str_eq(report_time_format(T_20261125_0000Z, buf, sizeof(buf)),
	    "2026-11-25 00:00:00");
	ck_assert_str_eq(report_zone_format("UTC", T_20261125_0000Z, buf, sizeof(buf)),
	    "UTC (UTC+00:00)");
	ck_assert_int_eq(tz_apply("America/New_York"), 0);
	ck_assert_str_eq(report_time_format(T_20261125_0000Z, buf, sizeof(buf)),
	    "2026-11-24 19:00:00");
	ck_assert_str_eq(
	    report_zone_format("America/New_York", T_20261125_0000Z, buf, sizeof(buf)),
	    "America/New_York (UTC-05:00)");
	ck_assert_str_eq(report_time_format(-1, buf, sizeof(buf)), "-");
}
END_TEST

START_TEST(time_parsing)
{
	ck_assert_int_eq(
	    report_time_parse("2026-11-25T09:00:00.250+09:00"), T_20261125_0000Z + 250);
	ck_assert_int_eq(report_time_parse("2026-11-25T00:00:00.000Z"), T_20261125_0000Z);
	ck_assert_int_eq(
	    report_time_parse("2026-11-24T19:00:01-05:00"), T_20261125_0000Z + 1000);
	ck_assert_int_eq(report_time_parse("2h"), -1);
	ck_assert_int_eq(report_time_parse("tomorrow"), -1);
	ck_assert_int_eq(report_time_parse(""), -1);
	ck_assert_int_eq(report_time_parse(NULL), -1);
}
END_TEST

START_TEST(stats)
{
	static const double t[] = { 0, 1, 2, 3, 4 }, v[] = { NAN, 1, INFINITY, 3, NAN };
	struct report_series s = { "x", NULL, 5, t, v, NULL, NULL };
	struct report_stats st;

	ck_assert_uint_eq(report_stats(&s, &st), 2);
	ck_assert(st.min == 1 && st.max == 3 && st.avg == 2 && st.last == 3);
	s.n = 0;
	ck_assert_uint_eq(report_stats(&s, &st), 0);
	ck_assert(isnan(st.min) && isnan(st.avg));
}
END_TEST

START_TEST(axis)
{
	static const struct {
		double min, max;
	} cases[] = { { 0, 0 }, { 5, 5 }, { -3, -3 }, { 0, 97 }, { 12.3, 12.31 },
		{ -40, 85 }, { 2400, 216 }, { 1e-300, 1e-300 }, { -1e308, 1e308 },
		{ 1.7e308, 1.7e308 } };
	struct report_axis ax;
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		double lo = fmin(cases[i].min, cases[i].max),
		       hi = fmax(cases[i].min, cases[i].max);
		ck_assert_int_eq(report_axis(cases[i].min, cases[i].max, &ax), 0);
		ck_assert_msg(isfinite(ax.lo) && isfinite(ax.hi) && ax.lo < ax.hi,
		    "[%g, %g]: axis %g to %g", cases[i].min, cases[i].max, ax.lo, ax.hi);
		ck_assert_msg(ax.lo <= lo && ax.hi >= hi, "[%g, %g] not within %g to %g",
		    cases[i].min, cases[i].max, ax.lo, ax.hi);
		ck_assert(ax.step >= 0 && isfinite(ax.step));
		if (ax.step > 0)
			ck_assert_msg((ax.hi - ax.lo) / ax.step <= 12,
			    "[%g, %g]: %g ticks", cases[i].min, cases[i].max,
			    (ax.hi - ax.lo) / ax.step);
	}
	/* Constant values sit inside the axis, not on its edge. */
	ck_assert_int_eq(report_axis(5, 5, &ax), 0);
	ck_assert(ax.lo < 5 && ax.hi > 5);
	ck_assert_int_eq(report_axis(0, 97, &ax), 0);
	ck_assert(ax.lo == 0 && ax.hi == 100 && ax.step == 25);
	ck_assert_int_eq(report_axis(NAN, 1, &ax), -1);
	ck_assert_int_eq(report_axis(0, INFINITY, &ax), -1);
}
END_TEST

START_TEST(decimate)
{
	size_t n = 100000, i, k, *idx = calloc(n, sizeof(*idx));
	double *v = calloc(n, sizeof(*v));
	int seen_spike = 0, seen_dip = 0, seen_gap = 0;

	for (i = 0; i < n; i++)
		v[i] = sin((double)i / 500.0);
	v[5000] = 1e6;
	v[70001] = -1e6;
	v[30000] = NAN;
	k = report_decimate(v, n, REPORT_MAX_POINTS, idx);
	ck_assert_uint_le(k, REPORT_MAX_POINTS);
	ck_assert_uint_ge(k, REPORT_MAX_POINTS / 2);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_uint_eq(idx[k - 1], n - 1);
	for (i = 0; i < k; i++) {
		if (i > 0)
			ck_assert_msg(idx[i] > idx[i - 1], "not in order at %zu", i);
		seen_spike |= idx[i] == 5000;
		seen_dip |= idx[i] == 70001;
		seen_gap |= idx[i] == 30000;
	}
	ck_assert_msg(seen_spike && seen_dip, "the extremes must survive decimation");
	ck_assert_msg(seen_gap, "a gap must survive decimation");
	/* Few points: all of them. */
	ck_assert_uint_eq(report_decimate(v, 10, REPORT_MAX_POINTS, idx), 10);
	ck_assert_uint_eq(idx[9], 9);
	ck_assert_uint_eq(report_decimate(v, 0, REPORT_MAX_POINTS, idx), 0);
	free(v);
	free(idx);
}
END_TEST

struct plot_arg {
	const struct report_series *s;
	int64_t from, to, open, end;
};

static void
emit_plot(FILE *f, const void *arg)
{
	const struct plot_arg *a = arg;

	report_plot_svg(f, a->s, a->from, a->to, a->open, a->end);
}

static char *
plot(const double *t, const double *v, size_t n, int64_t open_ms)
{
	struct report_series s = { "ups1.runtime_s <&>", "s", n, t, v, NULL, NULL };
	struct plot_arg a = { &s, -1, -1, open_ms, -1 };

	return capture(emit_plot, &a);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

/* The y coordinates of the first polyline's points; how many there are. */
static size_t
polyline_ys(const char *svg, double *ys, size_t max)
{
	const char *p = strstr(svg, "<polyline"), *end;
	size_t n = 0;

	if (p == NULL || (p = strstr(p, "points=\"")) == NULL)
		return 0;
	p += 8;
	end = strchr(p, '"');
	while (p < end && n < max) {
		double x, y;
		int used;
		if (sscanf(p, "%lf,%lf%n", &x, &y, &used) != 2)
			break;
		ys[n++] = y;
		p += used;
		while (*p == ' ')
			p++;
	}
	return n;
}

/* Drawable: no NaN or inf printed as a coordinate, the label escaped. */
static void
assert_sane(const char *svg)
{
	ck_assert_msg(
	    strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL, "%s", svg);
	ck_assert_ptr_nonnull(strstr(svg, "<svg"));
	ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
	ck_assert_ptr_nonnull(strstr(svg, "ups1.runtime_s &lt;&amp;&gt;"));
}

START_TEST(plot_empty)
{
	static const double t[] = { 1, 2 }, v[] = { NAN, NAN };
	char *svg = plot(t, v, 0, -1);

	assert_sane(svg);
	ck_assert_ptr_nonnull(strstr(svg, "no data"));
	ck_assert_ptr_null(strstr(svg, "<polyline"));
	free(svg);
	svg = plot(t, v, 2, -1); /* only gaps */
	assert_sane(svg);
	ck_assert_ptr_nonnull(strstr(svg, "no data"));
	free(svg);
}
END_TEST

START_TEST(plot_one_point)
{
	static const double t[] = { (double)T_20261125_0000Z }, v[] = { 42 };
	char *svg = plot(t, v, 1, -1);

	assert_sane(svg);
	ck_assert_ptr_null(strstr(svg, "<polyline"));
	ck_assert_uint_eq(count(svg, "<circle"), 1);
	ck_assert_ptr_nonnull(strstr(svg, "min 42"));
	free(svg);
}
END_TEST

START_TEST(plot_constant)
{
	double t[50], v[50], ys[64];
	size_t i, n;
	char *svg;

	for (i = 0; i < 50; i++) {
		t[i] = (double)(T_20261125_0000Z + (int64_t)i * 60000);
		v[i] = 100;
	}
	svg = plot(t, v, 50, -1);
	assert_sane(svg);
	n = polyline_ys(svg, ys, 64);
	ck_assert_uint_eq(n, 50);
	for (i = 0; i < n; i++) {
		ck_assert(ys[i] == ys[0]);
		/* Inside the frame (top 24, bottom 210 - 32), not on an edge. */
		ck_assert(ys[i] > 24 && ys[i] < 178);
	}
	free(svg);
}
END_TEST

START_TEST(plot_gaps)
{
	static const double v[] = { 1, 2, NAN, 4, 5, INFINITY, 7, NAN, NAN, 9, 10 };
	double t[NELEM(v)];
	size_t i;
	char *svg;

	for (i = 0; i < NELEM(v); i++)
		t[i] = (double)(T_20261125_0000Z + (int64_t)i * 1000);
	svg = plot(t, v, NELEM(v), T_20261125_0000Z + 3000);
	assert_sane(svg);
	/* 1-2, 4-5, 9-10 are lines; 7 alone is a dot. */
	ck_assert_uint_eq(count(svg, "<polyline"), 3);
	ck_assert_uint_eq(count(svg, "<circle"), 1);
	/* The incident's opening is marked. */
	ck_assert_ptr_nonnull(strstr(svg, "class=\"open\""));
	ck_assert_ptr_nonnull(strstr(svg, "max 10"));
	free(svg);
}
END_TEST

START_TEST(plot_bad_times)
{
	static const double t[] = { NAN, INFINITY, NAN }, v[] = { 1, 2, 3 };
	static const double t2[] = { 1e300, (double)T_20261125_0000Z, -1e300 },
	                    v2[] = { 1, 2, 3 };
	char *svg = plot(t, v, 3, -1);

	/* Values without times: nothing to draw. */
	assert_sane(svg);
	ck_assert_ptr_nonnull(strstr(svg, "no data"));
	free(svg);
	svg = plot(t2, v2, 3, T_20261125_0000Z);
	assert_sane(svg);
	ck_assert_uint_eq(count(svg, "<circle"), 1); /* the others are gaps */
	free(svg);
}
END_TEST

START_TEST(plot_huge)
{
	static const double v[] = { -1e308, 1e308, 0, 1.7e308, -1.7e308 };
	double t[NELEM(v)], ys[8];
	size_t i, n;
	char *svg;

	for (i = 0; i < NELEM(v); i++)
		t[i] = (double)(T_20261125_0000Z + (int64_t)i * 1000);
	svg = plot(t, v, NELEM(v), -1);
	assert_sane(svg);
	n = polyline_ys(svg, ys, 8);
	ck_assert_uint_eq(n, NELEM(v));
	for (i = 0; i < n; i++)
		ck_assert(ys[i] >= 24 && ys[i] <= 178);
	free(svg);
}
END_TEST

START_TEST(plot_many_points)
{
	size_t n = 200000, i, k;
	double *t = calloc(n, sizeof(*t)), *v = calloc(n, sizeof(*v)), *ys;
	char *svg;

	for (i = 0; i < n; i++) {
		t[i] = (double)(T_20261125_0000Z + (int64_t)i * 1000);
		v[i] = 2400 - (double)i / 100.0;
	}
	svg = plot(t, v, n, -1);
	assert_sane(svg);
	ck_assert_uint_eq(count(svg, "<polyline"), 1);
	ys = calloc(n, sizeof(*ys));
	k = polyline_ys(svg, ys, n);
	ck_assert_uint_le(k, REPORT_MAX_POINTS);
	ck_assert_uint_ge(k, 100);
	ck_assert_msg(strlen(svg) < 64 * 1024, "%zu bytes of SVG", strlen(svg));
	free(ys);
	free(svg);
	free(t);
	free(v);
}
END_TEST

static json_t *
fixture(const char *name)
{
	const char *src = getenv("SONAE_SRC");
	json_error_t jerr;
	json_t *r;
	char *path;

	ck_assert_msg(src != NULL, "SONAE_SRC is not set");
	xasprintf(&path, "%s/tests/data/reports/%s.json", src, name);
	r = json_load_file(path, 0, &jerr);
	ck_assert_msg(r != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
	free(path);
	return r;
}

static char *
render(json_t *r, enum report_format fmt)
{
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(report_render(r, fmt, f, err, sizeof(err)) == 0, "%s", err);
	fclose(f);
	return buf;
}

static void
assert_has(const char *doc, const char *const *want, size_t n, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_assert_msg(
		    strstr(doc, want[i]) != NULL, "%s: no \"%s\"", what, want[i]);
}

/* One file for a browser: nothing fetched from anywhere, no script. */
static void
assert_self_contained(const char *html)
{
	static const char *const never[] = { "<script", "src=", "href=", "url(",
		"@import", "<link", "<img", "nan,", "NaN" };
	size_t i;

	for (i = 0; i < NELEM(never); i++)
		ck_assert_msg(
		    strstr(html, never[i]) == NULL, "html has \"%s\"", never[i]);
	ck_assert_ptr_nonnull(strstr(html, "<html lang=\"ja\">"));
	ck_assert_ptr_nonnull(strstr(html, "<meta charset=\"utf-8\">"));
	ck_assert_ptr_nonnull(strstr(html, "@media print"));
	ck_assert_ptr_nonnull(strstr(html, "size:A4"));
	ck_assert_ptr_nonnull(strstr(html, "</html>\n"));
}

static const char *const incident_html[] = {
	"id=\"summary\"",
	"id=\"timeline\"",
	"id=\"readings\"",
	"id=\"notifications\"",
	"id=\"runs\"",
	"id=\"decisions\"",
	"id=\"modes\"",
	"id=\"followups\"",
	"インシデント事後報告書 / Incident after-action report",
	"概要 / Summary",
	"タイムライン / Timeline",
	"計測値 / Readings",
	"通知と配送 / Notifications and delivery",
	"手順書の実行 / Playbook runs",
	"判断と確認 / Decisions and confirmations",
	"運用モードの変更 / Mode changes",
	"未完了の事項 / Open follow-ups",
	"Asia/Tokyo (UTC+09:00)",
	"停電: ups1 がバッテリー運転中 (ups1 on battery)",
	"重大 critical",
	"2026-11-25 20:01:00", /* opened, in Tokyo */
	"2026-11-25 21:05:00", /* resolved */
	"1h4min",              /* how long */
	"ups1, srv-room-temp",
	"Mode at open</th><td>normal</td>",
	"<svg class=\"plot\"",
	"<polyline class=\"line\" points=\"",
	"ups1.runtime_s",
	"srv-room-temp.temp",
	"class=\"open\"",
	"class=\"end\"",
	"550 5.1.1 &lt;kanri@example.jp&gt;",
	"失敗 failed",
	"<svg class=\"gantt\"",
	"実行 / Run #3: power-outage (停電対応 / Power outage)",
	"実行 / Run #4: battery-critical",
	"sato(1001)",
	"tanaka(1002)",
	"suzuki(1003)",
	"facilities 庁舎管理へ連絡 (Call facilities)",
	"20:09:40", /* facilities confirmed, the run's day: the time alone */
	"8min38s",
	"1h0min58s", /* run 3, not "1h58s" */
	"発生 problem (#41)",
	"<td>battery-critical</td><td>回復 recovered</td>",
	"app-srv.example.lan: still answering after 5min (deadline)",
	"中止 aborted",
	"R&amp;D 棟 &lt;別系統&gt;",
	"normal → emergency",
	"<ul class=\"checklist\">",
	"<span class=\"box\"></span>[通知 mail] mail #44 to kanri@example.jp",
	"みどり電機 | 保守窓口",
};

static const char *const incident_md[] = {
	"# インシデント事後報告書 / Incident after-action report",
	"## 概要 / Summary",
	"## タイムライン / Timeline",
	"## 計測値 / Readings",
	"## 通知と配送 / Notifications and delivery",
	"## 手順書の実行 / Playbook runs",
	"### 実行 / Run #3: power-outage (停電対応 / Power outage)",
	"## 判断と確認 / Decisions and confirmations",
	"## 運用モードの変更 / Mode changes",
	"## 未完了の事項 / Open follow-ups",
	"| 時刻 / Time | 実施者 / Actor | 事象 / Event | 内容 / Text "
	"|\n|---|---|---|---|",
	"| 2026-11-25 20:03:10 | sato(1001) | ack | 停電を確認、庁舎管理へ連絡します |",
	/* the plots as a table of min / avg / max / last */
	"| ups1.runtime_s | s | 171 | 216 |",
	"| ups1.output_v | V | 171 | 100 | 100 | 100 | 100 |",
	"- [ ] [通知 mail] mail #44 to kanri@example.jp not delivered: 550 5.1.1 "
	"Recipient "
	"address rejected \\| 宛先を更新",
	"みどり電機 \\| 保守窓口",
	"R&D 棟 \\<別系統\\>",
	"\\<kanri@example.jp\\>",
	"**⚠ 失敗 failed**",
	"| 7 | vendor 保守事業者へ連絡 (Contact the vendor) | confirm | suzuki(1003) | "
	"20:47:10 | 20:55:30 | 8min20s | 完了 done: yes: 保守事業者 (みどり電機 \\| "
	"保守窓口) "
	"へ連絡、明朝 UPS を点検 |",
	"| 1 | notify 停電を通知 (Notify: on battery) | notify | sonaed (自動 auto) |",
	"| 6 | stopped 停止完了を通知 (Notify: shutdown done) | notify | - | - | - | - | "
	"未実施 pending |",
};

START_TEST(incident_sections)
{
	json_t *r = fixture("incident");
	char *html, *md;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	assert_self_contained(html);
	assert_has(html, incident_html, NELEM(incident_html), "incident.html");
	assert_has(md, incident_md, NELEM(incident_md), "incident.md");
	/* Six series: all plotted (at most 8), key ones first. */
	ck_assert_uint_eq(count(html, "<svg class=\"plot\""), 6);
	ck_assert(strstr(html, "ups1.runtime_s (s)") < strstr(html, "ups1.load_pct (%)"));
	ck_assert_ptr_null(strstr(md, "<svg"));
	ck_assert_ptr_null(strstr(md, "<polyline"));
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

START_TEST(incident_utc)
{
	json_t *r = fixture("incident");
	char *html, *md;

	ck_assert_int_eq(tz_apply("UTC"), 0);
	json_object_set_new(json_object_get(r, "site"), "timezone", json_string("UTC"));
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	ck_assert_ptr_nonnull(strstr(html, "UTC (UTC+00:00)"));
	ck_assert_ptr_nonnull(strstr(html, "2026-11-25 11:01:00")); /* opened */
	ck_assert_ptr_null(strstr(html, "2026-11-25 20:01:00"));
	ck_assert_ptr_nonnull(strstr(md, "| 2026-11-25 11:03:10 | sato(1001) | ack |"));
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

START_TEST(incident_script_title)
{
	json_t *r = fixture("incident"), *inc = json_object_get(r, "incident");
	char *html, *md;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	json_object_set_new(inc, "title",
	    json_string("<script>alert(\"x\")</script> & 停電 </title><b>"));
	json_object_set_new(
	    json_object_get(r, "site"), "name", json_string("A&B <i>町</i>"));
	json_object_set_new(r, "version", json_string("0.<i>1"));
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	assert_self_contained(html);
	ck_assert_ptr_nonnull(
	    strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 停電 "
	                 "&lt;/title&gt;&lt;b&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "A&amp;B &lt;i&gt;町&lt;/i&gt;"));
	ck_assert_ptr_null(strstr(html, "<b>"));
	ck_assert_ptr_null(strstr(html, "<i>"));
	ck_assert_ptr_nonnull(strstr(md, "\\<script\\>alert(\"x\")\\</script\\> & 停電"));
	/* The version is the daemon's text too, in the header and at the foot. */
	ck_assert_ptr_null(strstr(md, "<i>"));
	ck_assert_ptr_nonnull(strstr(md, "sonae 0.\\<i\\>1: 2026-11-26 09:00:00"));
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

static const char *const drill_html[] = {
	"【訓練】訓練報告書 / Drill report",
	"<div class=\"drill\">【訓練】DRILL",
	"id=\"summary\"",
	"id=\"steps\"",
	"id=\"would-run\"",
	"id=\"notifications\"",
	"id=\"decisions\"",
	"id=\"followups\"",
	"実行されなかった操作 / Would have run",
	"訓練の通知 / Drill notices",
	"#7 【訓練】drill",
	"<pre>would run: test-srv.example.lan: /usr/bin/ssh -o BatchMode=yes "
	"sonae-shutdown@test-srv.example.lan sudo /sbin/poweroff</pre>",
	"<pre>would run: /usr/local/sbin/sonae-power-on test-srv.example.lan</pre>",
	"【訓練】未実行 not run",
	"alice(1000)",
	"bob(1001)",
	"2026-11-20 10:00:00",
	"33min40s",
	"送信待ち queued",
	"421 4.7.0 Try again later",
	"[通知 mail] drill notice #121",
	"<svg class=\"gantt\"",
};

static const char *const drill_md[] = {
	"# 【訓練】訓練報告書 / Drill report",
	"> **【訓練】DRILL**",
	"## 実行されなかった操作 / Would have run",
	"```\nwould run: test-srv.example.lan: /usr/bin/ssh -o BatchMode=yes "
	"sonae-shutdown@test-srv.example.lan sudo /sbin/poweroff\n```",
	"- [ ] [通知 mail] drill notice #121",
	"bob(1001)",
};

START_TEST(drill_sections)
{
	json_t *r = fixture("drill");
	char *html, *md;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	assert_self_contained(html);
	assert_has(html, drill_html, NELEM(drill_html), "drill.html");
	assert_has(md, drill_md, NELEM(drill_md), "drill.md");
	ck_assert_uint_eq(count(html, "<pre>would run: "), 6);
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

static const char *const inspection_html[] = {
	"自己点検報告書 / Self-inspection report",
	"id=\"summary\"",
	"id=\"config\"",
	"id=\"devices\"",
	"id=\"ups\"",
	"id=\"playbooks\"",
	"id=\"modes\"",
	"id=\"audit\"",
	"id=\"failed-alerts\"",
	"id=\"incidents\"",
	"対象期間 / Period: 2026-10-27 00:00:00 – 2026-11-26 00:00:00",
	"/etc/sonae/sonae.conf",
	"正常 valid",
	"<td class=\"num warn\">97.80%</td>", /* core-sw contact */
	"<td class=\"num warn\">98.20%</td>", /* lgwan-router quality */
	"<td class=\"num\">99.96%</td>",      /* srv-room-temp: fine */
	"<svg class=\"plot\"",
	"<path class=\"band\" d=\"M",
	"ups1.runtime_s",
	"ups1.charge_pct",
	"-2.3 s/日 (day)",
	"<li class=\"warn\">cooling-failure</li>",
	"<li class=\"warn\">cyber-incident</li>",
	"<li class=\"warn\">fire</li>",
	"未訓練 / never drilled",
	"失敗 failed", /* earthquake's last drill */
	"<td>on_site 3, reachable 5</td>",
	"検証済 verified",
	"9f2c4e81a7d05b3368e1c2f0b94d7a5e0c13f8b2d6a49e7c5b1f03d82e6a9c47",
	"550 5.1.1 &lt;kanri@example.jp&gt;",
	"5 (重大 critical 2, 警告 warning 3, 収束 resolved 5)",
};

static const char *const inspection_md[] = {
	"# 自己点検報告書 / Self-inspection report",
	"## 機器の接続とデータ品質 / Device contact and data quality",
	"| core-sw | switch | 本庁舎 3F サーバ室 ラック A | 43200 | 42250 | 950 | **⚠ "
	"97.80%** |",
	"| ups1.runtime_s | s | 719 | 216 |",
	"- **⚠ cooling-failure**",
	"## 監査ログの検証 / Audit journal verification",
};

START_TEST(inspection_sections)
{
	json_t *r = fixture("inspection");
	char *html, *md, base[64];

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	assert_self_contained(html);
	assert_has(html, inspection_html, NELEM(inspection_html), "inspection.html");
	assert_has(md, inspection_md, NELEM(inspection_md), "inspection.md");
	ck_assert_uint_eq(count(html, "<svg class=\"plot\""), 2);
	ck_assert_int_eq(report_basename(r, base, sizeof(base)), 0);
	ck_assert_str_eq(base, "inspection-20261125");
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

START_TEST(basenames)
{
	json_t *r;
	char base[64];

	r = fixture("incident");
	ck_assert_int_eq(report_basename(r, base, sizeof(base)), 0);
	ck_assert_str_eq(base, "incident-12");
	json_decref(r);
	r = fixture("drill");
	ck_assert_int_eq(report_basename(r, base, sizeof(base)), 0);
	ck_assert_str_eq(base, "drill-7");
	json_decref(r);
	r = json_pack("{s:s}", "report", "summary");
	ck_assert_int_eq(report_basename(r, base, sizeof(base)), -1);
	json_decref(r);
}
END_TEST

/* More series than plots: the key ones are drawn, every one is in the table. */
START_TEST(many_series)
{
	json_t *r = fixture("incident"), *list, *p;
	char *html, *md, name[32];
	size_t i;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	list = json_object_get(json_object_get(r, "readings"), "series");
	json_array_clear(list);
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "m%02zu", i);
		p = json_pack("[[I, f], [I, f]]", (json_int_t)T_20261125_0000Z, (double)i,
		    (json_int_t)T_20261125_0000Z + 60000, (double)i + 1);
		/* The last two are the key ones: they must be among the plots. */
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:n, s:b, s:o}", "device", "ups1",
		              "metric", name, "unit", "key", i >= 10, "points", p));
	}
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	ck_assert_uint_eq(count(html, "<svg class=\"plot\""), REPORT_MAX_PLOTS);
	ck_assert_ptr_nonnull(strstr(html, "<figcaption>ups1.m10</figcaption>"));
	ck_assert_ptr_nonnull(strstr(html, "<figcaption>ups1.m11</figcaption>"));
	ck_assert_ptr_null(strstr(html, "<figcaption>ups1.m09</figcaption>"));
	ck_assert_ptr_nonnull(strstr(html, "8 series plotted, all in the table"));
	for (i = 0; i < 12; i++) {
		char row[64];
		snprintf(row, sizeof(row), "| ups1.m%02zu | - | 2 | %zu | ", i, i);
		ck_assert_msg(strstr(md, row) != NULL, "md: no \"%s\"", row);
		snprintf(row, sizeof(row), "<td>ups1.m%02zu</td>", i);
		ck_assert_msg(strstr(html, row) != NULL, "html: no \"%s\"", row);
	}
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

/* What a run's JSON says never becomes markup; long titles stay UTF-8. */
START_TEST(run_fields_are_text)
{
	json_t *r = fixture("drill"), *run = json_object_get(r, "run");
	json_t *step = json_array_get(json_object_get(run, "steps"), 0);
	char *html, *md, title[700] = "";
	size_t i;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	json_object_set_new(step, "state", json_string("x\"><script>"));
	json_object_set_new(step, "id", json_string("あいうえおかきくけこさしすせそ"));
	for (i = 0; i < 200; i++)
		strcat(title, "訓");
	json_object_set_new(run, "title_ja", json_string(title));
	html = render(r, REPORT_HTML);
	md = render(r, REPORT_MD);
	assert_self_contained(html);
	ck_assert(utf8_valid(html, strlen(html)));
	ck_assert(utf8_valid(md, strlen(md)));
	/* Its bar is a pending one; a recorded, not run step's is "would". */
	ck_assert_ptr_nonnull(strstr(html, "<rect class=\"s-pending\""));
	ck_assert_ptr_nonnull(strstr(html, "<rect class=\"s-would\""));
	ck_assert_ptr_nonnull(strstr(html, "x&quot;&gt;&lt;script&gt;"));
	/* 22 bytes of the id in the chart: 7 characters, none cut in half. */
	ck_assert_ptr_nonnull(strstr(html, ">あいうえおかき</text>"));
	free(html);
	free(md);
	json_decref(r);
}
END_TEST

/* What sonaed might send when there is little to say: no crash, "none". */
START_TEST(sparse)
{
	static const char *const docs[] = {
		"{\"report\": \"incident\", \"incident\": {}}",
		"{\"report\": \"incident\", \"incident\": {\"id\": 3, \"timeline\": 5}, "
		"\"readings\": {\"series\": [{\"points\": [[1, null], \"x\", [null, "
		"2]]}, {}]}, "
		"\"runs\": [{\"steps\": [{}], \"log\": [{}]}], \"followups\": [{}]}",
		"{\"report\": \"drill\", \"run\": {\"steps\": []}}",
		"{\"report\": \"inspection\"}",
		"{\"report\": \"inspection\", \"ups\": [{\"runtime\": [[1, 2, 3]], "
		"\"charge\": 7}], \"devices\": [{}], \"playbooks\": [{}], \"audit\": {}}",
	};
	enum report_format fmts[] = { REPORT_HTML, REPORT_MD };
	size_t i, k;

	for (i = 0; i < NELEM(docs); i++) {
		json_error_t jerr;
		json_t *r = json_loads(docs[i], 0, &jerr);
		ck_assert_msg(r != NULL, "%s: %s", docs[i], jerr.text);
		for (k = 0; k < NELEM(fmts); k++) {
			char *out = render(r, fmts[k]);
			ck_assert_msg(strstr(out, "なし / none") != NULL ||
			                  strstr(out, "no data") != NULL,
			    "%s", docs[i]);
			ck_assert_ptr_null(strstr(out, "(null)"));
			free(out);
		}
		json_decref(r);
	}
}
END_TEST

START_TEST(not_a_report)
{
	static const char *const docs[] = { "{}", "{\"report\": \"status\"}",
		"{\"report\": \"incident\"}", "{\"report\": \"drill\", \"run\": 3}",
		"[1]" };
	size_t i;

	for (i = 0; i < NELEM(docs); i++) {
		json_t *r = json_loads(docs[i], 0, NULL);
		char *buf = NULL, err[256] = "";
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		ck_assert_int_eq(report_render(r, REPORT_HTML, f, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "not a sonae report"));
		fclose(f);
		ck_assert_uint_eq(len, 0);
		free(buf);
		json_decref(r);
	}
}
END_TEST

static Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, escaping);
	tcase_add_test(tc, times_in_zone);
	tcase_add_test(tc, time_parsing);
	tcase_add_test(tc, stats);
	tcase_add_test(tc, axis);
	tcase_add_test(tc, decimate);
	tcase_add_test(tc, plot_empty);
	tcase_add_test(tc, plot_one_point);
	tcase_add_test(tc, plot_constant);
	tcase_add_test(tc, plot_gaps);
	tcase_add_test(tc, plot_bad_times);
	tcase_add_test(tc, plot_huge);
	tcase_add_test(tc, plot_many_points);
	tcase_add_test(tc, incident_sections);
	tcase_add_test(tc, incident_utc);
	tcase_add_test(tc, incident_script_title);
	tcase_add_test(tc, drill_sections);
	tcase_add_test(tc, inspection_sections);
	tcase_add_test(tc, basenames);
	tcase_add_test(tc, many_series);
	tcase_add_test(tc, run_fields_are_text);
	tcase_add_test(tc, sparse);
	tcase_add_test(tc, not_a_report);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(report_suite());
}
