/*
 * mail.c: composing a message.  The exact bytes of a Japanese alert, RFC
 * 2047 encoded-words decoded back (at most 75 characters, never half a
 * character), folding at 78, the subject's format, the ids that thread one
 * incident, the Date header in several zones, the body's line ends and
 * base64, and the refusals (invalid UTF-8, header injection, bad addresses).
 * The last test has Python's email parser read what we wrote.
 */
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts/alert.h"
#include "tests/testutil.h"

#define JST_0900 1795564800000LL /* 2026-11-25 09:00:00 +0900 */

static char *to_one[] = { "tanaka@example.jp", NULL };

/* A decoded base64 text (no line breaks), or NULL if it is not base64. */
static char *
b64_decode(const char *s, size_t n, size_t *outlen)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(n / 4 * 3 + 1);
	size_t i, o = 0, k;
	uint32_t v;

	if (n % 4 != 0) {
		free(out);
		return NULL;
	}
	for (i = 0; i < n; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			const char *p = s[i + k] != '\0' ? strchr(set, s[i + k]) : NULL;
			if (s[i + k] == '=' && i + 4 == n && k >= 2)
				p = set; /* padding: decodes as zero bits */
			if (p == NULL) {
				free(out);
				return NULL;
			}
			v = v << 6 | (uint32_t)(p - set);
		}
		out[o++] = (char)(v >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(v >> 8 & 0xff);
		if (s[i + 3] != '=')
			out[o++] = (char)(v & 0xff);
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* The first n characters of s as a new string. */
static char *
dup_n(const char *s, size_t n)
{
	return xstrndup(s, n);
}

/*
 * Check one header field as mail_encode_header() makes it: lines of at most
 * 78 characters, ending in CRLF, continuation lines starting with a space;
 * return the value as a reader gets it (unfolded, encoded-words decoded),
 * checking that every encoded-word is at most 75 characters and decodes to
 * whole UTF-8 characters on its own.
 */
static char *
header_value(const char *field, const char *name, int *encoded)
{
	size_t nlen = strlen(name), len, wl;
	char *unfolded = xmalloc(strlen(field) + 1), *out, *w, *dec;
	const char *p = field, *eol, *q;
	size_t u = 0;
	int line = 0;

	ck_assert_msg(strncmp(field, name, nlen) == 0 && field[nlen] == ':', "%s", field);
	while (*p != '\0') {
		eol = strstr(p, "\r\n");
		ck_assert_msg(eol != NULL, "a line without CRLF: %s", p);
		/* Longer only when there is no space to fold at: one long word. */
		q = line == 0 ? p + nlen + 2 : p + 1;
		ck_assert_msg(eol - p <= MAIL_LINE_MAX ||
		                  (q < eol && !memchr(q, ' ', (size_t)(eol - q))),
		    "a line of %d characters: %.*s", (int)(eol - p), (int)(eol - p), p);
		ck_assert_msg(memchr(p, '\n', (size_t)(eol - p)) == NULL &&
		                  memchr(p, '\r', (size_t)(eol - p)) == NULL,
		    "a bare CR or LF");
		if (line++ > 0) {
			ck_assert_msg(*p == ' ', "a continuation line without a space");
			ck_assert_msg(strspn(p, " ") < (size_t)(eol - p), "a blank line");
		}
		memcpy(unfolded + u, p, (size_t)(eol - p));
		u += (size_t)(eol - p);
		p = eol + 2;
	}
	unfolded[u] = '\0';
	ck_assert_msg(unfolded[nlen + 1] == ' ', "no space after the colon");
	p = unfolded + nlen + 2;
	*encoded = strncmp(p, "=?", 2) == 0;
	if (!*encoded) {
		out = xstrdup(p);
		free(unfolded);
		return out;
	}
	/* encoded-words separated by single spaces */
	out = xcalloc(1, strlen(p) + 1);
	len = 0;
	while (*p != '\0') {
		ck_assert_msg(
		    strncmp(p, "=?UTF-8?B?", 10) == 0, "not an encoded-word: %s", p);
		q = strstr(p + 10, "?=");
		ck_assert_ptr_nonnull(q);
		wl = (size_t)(q + 2 - p);
		ck_assert_msg(
		    wl <= MAIL_WORD_MAX, "an encoded-word of %zu characters", wl);
		w = dup_n(p + 10, (size_t)(q - p - 10));
		dec = b64_decode(w, strlen(w), &wl);
		ck_assert_msg(dec != NULL, "bad base64: %s", w);
		ck_assert_msg(utf8_valid(dec, wl), "a word splits a character: %s", w);
		memcpy(out + len, dec, wl);
		len += wl;
		free(dec);
		free(w);
		p = q + 2;
		if (*p == ' ')
			p++;
		else
			ck_assert_int_eq(*p, '\0');
	}
	out[len] = '\0';
	free(unfolded);
	return out;
}

/* The header name's field in msg (up to and including its last CRLF). */
static char *
find_field(const char *msg, const char *name)
{
	char *key, *out;
	const char *p, *end;

	xasprintf(&key, "\r\n%s:", name);
	p = strstr(msg, key);
	free(key);
	if (p == NULL)
		return NULL;
	p += 2;
	for (end = p; (end = strstr(end, "\r\n")) != NULL && end[2] == ' '; end += 2)
		;
	out = dup_n(p, (size_t)(end + 2 - p));
	return out;
}

static const char expect_first[] =
    "Date: Wed, 25 Nov 2026 09:00:00 +0900\r\n"
    "From: =?UTF-8?B?c29uYWUg55uj6KaW?= <sonae@example.jp>\r\n"
    "To: tanaka@example.jp\r\n"
    "Subject: =?UTF-8?B?W3NvbmFlIOacrOW6geiIjl0gQ1JJVElDQUwgIzEyOiDlgZzpm7s6IFVQ?=\r\n"
    " =?UTF-8?B?UyDjgYzjg5Djg4Pjg4bjg6rjg7zpgYvou6LkuK0=?=\r\n"
    "Message-ID: <incident.12.1795564800000.3a7d2347a7fc7d55@example.jp>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "X-Sonae-Incident: 12\r\n"
    "\r\n"
    "5YGc6Zu744KS5qSc55+l44GX44G+44GX44Gf44CCDQpVUFMgdXBzMSDjgYzjg5Djg4Pjg4bjg6rj\r\n"
    "g7zpgYvou6LjgavliIfjgormm7/jgo/jgorjgb7jgZfjgZ/jgIINCg0K5a++5b+cOiDmiYvpoIbm\r\n"
    "m7ggUDEg44Gr5b6T44Gj44Gm44GP44Gg44GV44GE44CCDQo=\r\n";

static const char body_ja[] = "停電を検知しました。\n"
                              "UPS ups1 がバッテリー運転に切り替わりました。\n"
                              "\n"
                              "対応: 手順書 P1 に従ってください。";

/* The first mail of incident 12 at a site in Tokyo: every byte. */
START_TEST(mail_render_japanese_exact)
{
	char *subject =
	    mail_subject("本庁舎", "critical", 12, "停電: UPS がバッテリー運転中");
	char *thread = mail_thread_id("example.jp", "本庁舎", 12, JST_0900);
	struct mail m = { 0 };
	char err[256], *msg;
	size_t len;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_str_eq(
	    subject, "[sonae 本庁舎] CRITICAL #12: 停電: UPS がバッテリー運転中");
	m.from = "sonae@example.jp";
	m.from_name = "sonae 監視";
	m.to.v = to_one;
	m.to.n = 1;
	m.subject = subject;
	m.body = body_ja;
	m.message_id = thread;
	m.thread_id = thread;
	m.incident = 12;
	m.date_ms = JST_0900;
	msg = mail_render(&m, &len, err, sizeof(err));
	ck_assert_msg(msg != NULL, "%s", err);
	ck_assert_uint_eq(len, strlen(expect_first));
	ck_assert_str_eq(msg, expect_first);
	free(msg);
	/* The same inputs, the same bytes. */
	msg = mail_render(&m, &len, err, sizeof(err));
	ck_assert_str_eq(msg, expect_first);
	free(msg);
	free(subject);
	free(thread);
}
END_TEST

static const struct {
	const char *name;
	const char *value;
	int encoded;
} header_cases[] = {
	{ "Subject", "UPS on battery", 0 },
	{ "Subject", "", 0 },
	{ "Subject",
	    "This is a long plain ASCII subject line that has to be folded somewhere "
	    "near the end, and then once more because it goes on and on for a while",
	    0 },
	{ "Subject",
	    "averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryveryvery"
	    "longwordwithoutspaces and more",
	    0 },
	{ "Subject", "two  spaces   and a trailing one ", 0 },
	{ "Subject", "=?UTF-8?B?looks encoded?=", 1 },
	{ "Subject", "tab\there", 1 },
	{ "Subject", "停電", 1 },
	{ "Subject", "[sonae 本庁舎] CRITICAL #12: 停電: UPS がバッテリー運転中", 1 },
	{ "Subject",
	    "[sonae 第二庁舎サーバー室] WARNING #4096: "
	    "サーバー室の温度が上昇しています（吸気温度 29.5 ℃、空調停止の可能性）"
	    "。直ちに空調設備と UPS の状態を確認してください。",
	    1 },
	{ "Subject", "絵文字 🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥 ok", 1 },
	{ "Subject", "aé", 1 },
	{ "X-A-Very-Long-Header-Name-That-Leaves-Little-Room-On-The-Line-For-Words",
	    "停電が発生しました", 1 },
	{ "From", "sonae 監視", 1 },
};

/* Every line fits, every word decodes to whole characters, the value comes back. */
START_TEST(mail_encode_header_roundtrip)
{
	char err[256], *field, *value;
	int encoded;

	field = mail_encode_header(
	    header_cases[_i].name, header_cases[_i].value, err, sizeof(err));
	ck_assert_msg(field != NULL, "%s", err);
	value = header_value(field, header_cases[_i].name, &encoded);
	ck_assert_int_eq(encoded, header_cases[_i].encoded);
	ck_assert_str_eq(value, header_cases[_i].value);
	free(value);
	free(field);
}
END_TEST

/* Words are as long as the line allows: only the last one of a value is short. */
START_TEST(mail_encode_header_packs_words)
{
	static const char v[] = "サーバー室の温度が上昇しています。サーバー室の温度が上昇"
	                        "しています。サーバー室の温度が上昇しています。";
	char err[256], *field = mail_encode_header("Subject", v, err, sizeof(err));
	const char *p, *eol;
	int lines = 0;

	ck_assert_ptr_nonnull(field);
	for (p = field; (eol = strstr(p, "\r\n")) != NULL; p = eol + 2) {
		lines++;
		/* 42 bytes on the first line (77 characters), then 45 (73) */
		if (eol[2] != '\0')
			ck_assert_int_eq(eol - p, lines == 1 ? 77 : 73);
	}
	/* 153 bytes: 42 + 45 + 45 + 21. */
	ck_assert_int_eq(lines, 4);
	free(field);
}
END_TEST

static const struct {
	const char *site, *severity;
	uint64_t incident;
	const char *title, *want;
} subject_cases[] = {
	{ "本庁舎", "critical", 12, "停電", "[sonae 本庁舎] CRITICAL #12: 停電" },
	{ "hq", "Warning", 7, "inlet 29.5 degC",
	    "[sonae hq] WARNING #7: inlet 29.5 degC" },
	{ "hq", "recovered", 7, "inlet 26 degC",
	    "[sonae hq] RECOVERED #7: inlet 26 degC" },
	{ "hq", "test", 0, "notify-test", "[sonae hq] TEST: notify-test" },
	{ NULL, "ok", 3, "x", "[sonae] OK #3: x" },
	{ "", "ok", 3, "x", "[sonae] OK #3: x" },
	{ "hq", "critical", 18446744073709551615ULL, "max",
	    "[sonae hq] CRITICAL #18446744073709551615: max" },
	{ "h\nq", "crit\rical", 1, "line one\r\nline two\tend",
	    "[sonae h q] CRIT ICAL #1: line one  line two end" },
	{ "hq", NULL, 1, NULL, "[sonae hq] NOTICE #1: " },
};

START_TEST(mail_subject_format)
{
	char *s = mail_subject(subject_cases[_i].site, subject_cases[_i].severity,
	    subject_cases[_i].incident, subject_cases[_i].title);

	ck_assert_str_eq(s, subject_cases[_i].want);
	free(s);
}
END_TEST

/* A reference other than "#INCIDENT": as it is, not in capitals, cleaned. */
START_TEST(mail_subject_reference)
{
	static const struct {
		const char *ref, *want;
	} cases[] = {
		{ "playbook power-outage",
		    "[sonae hq] WARNING playbook power-outage: 停電" },
		{ "#12", "[sonae hq] WARNING #12: 停電" },
		{ "a\r\nb", "[sonae hq] WARNING a  b: 停電" },
		{ "", "[sonae hq] WARNING: 停電" },
		{ NULL, "[sonae hq] WARNING: 停電" },
	};
	size_t i;
	char *s;

	for (i = 0; i < NELEM(cases); i++) {
		s = mail_subject_ref("hq", "warning", cases[i].ref, "停電");
		ck_assert_str_eq(s, cases[i].want);
		free(s);
	}
}
END_TEST

static char *
render(struct mail *m)
{
	char err[256], *msg;
	size_t len;

	msg = mail_render(m, &len, err, sizeof(err));
	ck_assert_msg(msg != NULL, "%s", err);
	ck_assert_uint_eq(len, strlen(msg));
	return msg;
}

/* The first mail of an incident is the thread's root; later ones refer to it. */
START_TEST(mail_threading)
{
	char *thread = mail_thread_id("example.jp", "本庁舎", 12, JST_0900);
	char *again = mail_thread_id("example.jp", "本庁舎", 12, JST_0900);
	char *other_site = mail_thread_id("example.jp", "分庁舎", 12, JST_0900);
	char *other_inc = mail_thread_id("example.jp", "本庁舎", 13, JST_0900);
	char *reused = mail_thread_id("example.jp", "本庁舎", 12, JST_0900 + 86400000);
	char *id2 = mail_message_id("example.jp", 12, JST_0900 + 60000, 0xdeadbeef);
	char *id3 = mail_message_id("example.jp", 12, JST_0900 + 60000, 0xdeadbef0);
	char *id4 = mail_message_id(NULL, 12, JST_0900, 1);
	char *id5 = mail_message_id("bad host\r\n", 12, JST_0900, 1);
	char *msg, *f;
	struct mail m = { 0 };

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	ck_assert_str_eq(thread, again);
	ck_assert_str_ne(thread, other_site);
	ck_assert_str_ne(thread, other_inc);
	ck_assert_str_ne(thread, reused);
	ck_assert_str_eq(id2, "<sonae.12.1795564860000.deadbeef@example.jp>");
	ck_assert_str_ne(id2, id3);
	ck_assert_str_eq(id4, "<sonae.12.1795564800000.00000001@sonae.invalid>");
	ck_assert_str_eq(id5, "<sonae.12.1795564800000.00000001@bad-host-->");

	m.from = "sonae@example.jp";
	m.to.v = to_one;
	m.to.n = 1;
	m.subject = "[sonae 本庁舎] CRITICAL #12: 停電";
	m.body = "x";
	m.incident = 12;
	m.date_ms = JST_0900;
	/* first mail: the root itself, no references */
	m.message_id = thread;
	m.thread_id = thread;
	msg = render(&m);
	f = find_field(msg, "Message-ID");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(strlen(f), strlen("Message-ID: ") + strlen(thread) + 2);
	ck_assert_ptr_nonnull(strstr(f, thread));
	free(f);
	ck_assert_ptr_null(find_field(msg, "In-Reply-To"));
	ck_assert_ptr_null(find_field(msg, "References"));
	free(msg);
	/* a later mail: its own id, a reply to the root */
	m.message_id = id2;
	m.subject = "[sonae 本庁舎] RECOVERED #12: 停電";
	msg = render(&m);
	f = find_field(msg, "Message-ID");
	ck_assert_ptr_nonnull(strstr(f, id2));
	free(f);
	f = find_field(msg, "In-Reply-To");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(f, thread));
	free(f);
	f = find_field(msg, "References");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(f, thread));
	free(f);
	free(msg);
	/* no thread at all (a test mail) */
	m.thread_id = NULL;
	m.incident = 0;
	msg = render(&m);
	ck_assert_ptr_null(find_field(msg, "In-Reply-To"));
	ck_assert_ptr_null(find_field(msg, "X-Sonae-Incident"));
	free(msg);
	free(thread);
	free(again);
	free(other_site);
	free(other_inc);
	free(reused);
	free(id2);
	free(id3);
	free(id4);
	free(id5);
}
END_TEST

static const struct {
	const char *zone;
	int64_t ms;
	const char *want;
} date_cases[] = {
	{ "Asia/Tokyo", JST_0900, "Wed, 25 Nov 2026 09:00:00 +0900" },
	{ "Asia/Tokyo", JST_0900 + 999, "Wed, 25 Nov 2026 09:00:00 +0900" },
	{ "Asia/Tokyo", 1798729199000LL, "Thu, 31 Dec 2026 23:59:59 +0900" },
	{ "America/New_York", JST_0900, "Tue, 24 Nov 2026 19:00:00 -0500" },
	{ "America/New_York", 1783036800000LL, "Thu, 02 Jul 2026 20:00:00 -0400" },
	{ "America/St_Johns", JST_0900, "Tue, 24 Nov 2026 20:30:00 -0330" },
	{ "Asia/Kolkata", JST_0900, "Wed, 25 Nov 2026 05:30:00 +0530" },
	{ "UTC", JST_0900, "Wed, 25 Nov 2026 00:00:00 +0000" },
	{ "UTC", 0, "Thu, 01 Jan 1970 00:00:00 +0000" },
};

/* The Date header in the process's zone, with its numeric offset. */
START_TEST(mail_date_zones)
{
	struct mail m = { 0 };
	char buf[64], *msg, *f, *want;

	ck_assert_int_eq(tz_apply(date_cases[_i].zone), 0);
	ck_assert_str_eq(
	    mail_date(date_cases[_i].ms, buf, sizeof(buf)), date_cases[_i].want);
	m.from = "sonae@example.jp";
	m.to.v = to_one;
	m.to.n = 1;
	m.subject = "s";
	m.message_id = "<a@b>";
	m.date_ms = date_cases[_i].ms;
	msg = render(&m);
	xasprintf(&want, "Date: %s\r\n", date_cases[_i].want);
	ck_assert_int_eq(strncmp(msg, want, strlen(want)), 0);
	f = find_field(msg, "From");
	ck_assert_str_eq(f, "From: sonae@example.jp\r\n");
	free(f);
	free(want);
	free(msg);
}
END_TEST

/* The body part of a rendered message, decoded. */
static char *
body_of(const char *msg, size_t *len)
{
	const char *p = strstr(msg, "\r\n\r\n"), *eol;
	char *b64 = xcalloc(1, strlen(msg) + 1), *out;
	size_t n = 0;

	ck_assert_ptr_nonnull(p);
	for (p += 4; *p != '\0'; p = eol + 2) {
		eol = strstr(p, "\r\n");
		ck_assert_ptr_nonnull(eol);
		ck_assert_int_le(eol - p, 76);
		if (eol[2] != '\0')
			ck_assert_int_eq(eol - p, 76);
		memcpy(b64 + n, p, (size_t)(eol - p));
		n += (size_t)(eol - p);
	}
	out = b64_decode(b64, n, len);
	ck_assert_ptr_nonnull(out);
	free(b64);
	return out;
}

static const struct {
	const char *in, *out;
} body_cases[] = {
	{ "", "" },
	{ "one line", "one line\r\n" },
	{ "a\nb\r\nc\rd\n", "a\r\nb\r\nc\r\nd\r\n" },
	{ "\n\n", "\r\n\r\n" },
	{ "\r\r\n", "\r\n\r\n" },
	{ "日本語\n行", "日本語\r\n行\r\n" },
};

/* Any line ends become CRLF, the text ends with one, base64 in lines of 76. */
START_TEST(mail_body_lines)
{
	struct mail m = { 0 };
	char *msg, *body;
	size_t len;

	m.from = "sonae@example.jp";
	m.to.v = to_one;
	m.to.n = 1;
	m.subject = "s";
	m.message_id = "<a@b>";
	m.body = body_cases[_i].in;
	msg = render(&m);
	body = body_of(msg, &len);
	ck_assert_uint_eq(len, strlen(body_cases[_i].out));
	ck_assert_str_eq(body, body_cases[_i].out);
	free(body);
	free(msg);
}
END_TEST

START_TEST(mail_body_long)
{
	struct mail m = { 0 };
	char *text = xcalloc(1, 3 * 1000 + 1), *msg, *body;
	size_t len, i;

	for (i = 0; i < 1000; i++)
		memcpy(text + 3 * i, "電", 3);
	m.from = "sonae@example.jp";
	m.to.v = to_one;
	m.to.n = 1;
	m.subject = "s";
	m.message_id = "<a@b>";
	m.body = text;
	msg = render(&m);
	body = body_of(msg, &len);
	ck_assert_uint_eq(len, 3002);
	ck_assert_int_eq(memcmp(body, text, 3000), 0);
	free(body);
	free(msg);
	free(text);
}
END_TEST

static char *to_bad_inject[] = { "a@example.jp>, evil@example.com", NULL };
static char *to_bad_space[] = { "a b@example.jp", NULL };
static char *to_bad_crlf[] = { "a@example.jp\r\nBcc: evil@example.com", NULL };
static char *to_two[] = { "a@example.jp", "b@example.jp", NULL };

enum field { F_SUBJECT, F_BODY, F_FROM_NAME, F_FROM, F_TO, F_ID, F_THREAD };
static const struct {
	enum field field;
	const char *value;
	char **to;
	const char *why;
} refuse_cases[] = {
	{ F_SUBJECT, "bad \xff byte", NULL, "header Subject: not valid UTF-8" },
	{ F_SUBJECT, "half \xe5\x81 char", NULL, "header Subject: not valid UTF-8" },
	{ F_SUBJECT, "overlong \xc0\xaf", NULL, "header Subject: not valid UTF-8" },
	{ F_SUBJECT, "hi\r\nBcc: evil@example.com", NULL,
	    "header Subject: a line break in the value" },
	{ F_SUBJECT, "hi\nthere", NULL, "header Subject: a line break in the value" },
	{ F_SUBJECT, "hi\rthere", NULL, "header Subject: a line break in the value" },
	{ F_SUBJECT, NULL, NULL, "no subject" },
	{ F_FROM_NAME, "sonae\r\nBcc: evil@example.com", NULL,
	    "header From: a line break in the value" },
	{ F_FROM_NAME, "\xed\xa0\x80", NULL, "header From: not valid UTF-8" },
	{ F_BODY, "text \xfe", NULL, "the body is not valid UTF-8" },
	{ F_FROM, "sonae", NULL, "from: not an address: \"sonae\"" },
	{ F_FROM, "sonae@example.jp\r\nBcc: x@y", NULL, NULL },
	{ F_FROM, NULL, NULL, "from: not an address: \"\"" },
	{ F_TO, NULL, to_bad_inject, NULL },
	{ F_TO, NULL, to_bad_space, NULL },
	{ F_TO, NULL, to_bad_crlf, NULL },
	{ F_TO, NULL, NULL, "no recipient" },
	{ F_ID, "no-brackets@example.jp", NULL, NULL },
	{ F_ID, "<a@b>\r\nBcc: x@y", NULL, NULL },
	{ F_ID, "<no-at>", NULL, NULL },
	{ F_THREAD, "<a b@c>", NULL, NULL },
};

/* Invalid UTF-8, line breaks in header values and bad addresses: refused. */
START_TEST(mail_render_refuses)
{
	struct mail m = { 0 };
	char err[256] = "", *msg;
	size_t len = 12345, n;

	m.from = "sonae@example.jp";
	m.to.v = to_two;
	m.to.n = 2;
	m.subject = "s";
	m.body = "b";
	m.message_id = "<a@b>";
	switch (refuse_cases[_i].field) {
	case F_SUBJECT:
		m.subject = refuse_cases[_i].value;
		break;
	case F_BODY:
		m.body = refuse_cases[_i].value;
		break;
	case F_FROM_NAME:
		m.from_name = refuse_cases[_i].value;
		break;
	case F_FROM:
		m.from = refuse_cases[_i].value;
		break;
	case F_TO:
		for (n = 0; refuse_cases[_i].to != NULL && refuse_cases[_i].to[n] != NULL;
		     n++)
			;
		m.to.v = refuse_cases[_i].to;
		m.to.n = n;
		break;
	case F_ID:
		m.message_id = refuse_cases[_i].value;
		break;
	case F_THREAD:
		m.thread_id = refuse_cases[_i].value;
		break;
	}
	msg = mail_render(&m, &len, err, sizeof(err));
	ck_assert_ptr_null(msg);
	ck_assert_msg(err[0] != '\0', "no reason given");
	if (refuse_cases[_i].why != NULL)
		ck_assert_str_eq(err, refuse_cases[_i].why);
}
END_TEST

START_TEST(mail_encode_header_refuses)
{
	char err[256];

	ck_assert_ptr_null(mail_encode_header("Subject", "a\r\nb", err, sizeof(err)));
	ck_assert_str_eq(err, "header Subject: a line break in the value");
	ck_assert_ptr_null(mail_encode_header("Subject", "a\xff", err, sizeof(err)));
	ck_assert_str_eq(err, "header Subject: not valid UTF-8");
}
END_TEST

static const struct {
	const char *addr;
	int valid;
} address_cases[] = {
	{ "tanaka@example.jp", 1 },
	{ "t.tanaka+sonae@mail.example.lg.jp", 1 },
	{ "o'brien@example.com", 1 },
	{ "a@b", 1 },
	{ "", 0 },
	{ "tanaka", 0 },
	{ "@example.jp", 0 },
	{ "tanaka@", 0 },
	{ ".tanaka@example.jp", 0 },
	{ "tanaka.@example.jp", 0 },
	{ "ta..naka@example.jp", 0 },
	{ "tanaka@example..jp", 0 },
	{ "tanaka@.example.jp", 0 },
	{ "tanaka@example.jp.", 0 },
	{ "tan aka@example.jp", 0 },
	{ "tanaka@exa mple.jp", 0 },
	{ "<tanaka@example.jp>", 0 },
	{ "tanaka@example.jp,x@y", 0 },
	{ "田中@example.jp", 0 },
	{ "\"quoted\"@example.jp", 0 },
	{ "tanaka@[192.0.2.1]", 0 },
};

START_TEST(mail_address_check)
{
	ck_assert_msg(
	    mail_address_valid(address_cases[_i].addr) == address_cases[_i].valid, "%s",
	    address_cases[_i].addr);
}
END_TEST

START_TEST(mail_address_domain_of)
{
	ck_assert_str_eq(mail_address_domain("sonae@example.jp"), "example.jp");
	ck_assert_ptr_null(mail_address_domain("sonae"));
	ck_assert_ptr_null(mail_address_domain("sonae@"));
	ck_assert_ptr_null(mail_address_domain(NULL));
}
END_TEST

/*
 * Python's email parser (policy=default: RFC 6532 aware) reads what we wrote:
 * the decoded subject, the sender's name, the threading headers and the
 * body must come back as they went in.
 */
START_TEST(mail_python_reads_it)
{
	static const char script[] =
	    "import email, email.policy, sys\n"
	    "m = email.message_from_binary_file(open(sys.argv[1], 'rb'),"
	    " policy=email.policy.default)\n"
	    "want = open(sys.argv[2], encoding='utf-8').read().split('\\x1e')\n"
	    "got = [str(m['Subject']), m['From'].addresses[0].display_name,"
	    " m['From'].addresses[0].addr_spec, str(m['In-Reply-To']),"
	    " m.get_content().replace('\\r\\n', '\\n'), str(m['To'])]\n"
	    "assert not m.defects, m.defects\n"
	    "for g, w in zip(got, want):\n"
	    "    assert g == w, (g, w)\n"
	    "assert len(got) == len(want)\n";
	const char *dir = testutil_tmpdir("check-mail");
	char *subject = mail_subject("第二庁舎 サーバー室", "warning", 4096,
	    "吸気温度が 29.5 ℃ に上昇（空調停止の可能性）。UPS と空調の状態を確認して"
	    "ください \"quoted\" =?not?= encoded");
	char *thread = mail_thread_id("example.jp", "第二庁舎", 4096, JST_0900);
	char *id = mail_message_id("example.jp", 4096, JST_0900 + 1, 7);
	char *to[] = { "tanaka@example.jp", "suzuki@example.jp", "sato@example.jp",
		"takahashi@example.jp", "watanabe@example.jp", NULL };
	char *msg, *want, *path, *wpath, *spath, *cmd;
	struct mail m = { 0 };
	size_t len;
	int rc;

	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	m.from = "sonae@example.jp";
	m.from_name = "sonae 監視 \"第二\"";
	m.to.v = to;
	m.to.n = 5;
	m.subject = subject;
	m.body = "温度: 29.5 ℃\n"
	         ". a line that starts with a dot\n"
	         "From the server room\n";
	m.message_id = id;
	m.thread_id = thread;
	m.incident = 4096;
	m.date_ms = JST_0900;
	msg = render(&m);
	len = strlen(msg);
	path = testutil_path(dir, "m.eml");
	testutil_write_data(path, msg, len);
	xasprintf(&want,
	    "%s\x1esonae 監視 \"第二\"\x1esonae@example.jp\x1e%s\x1e%s\x1e%s", subject,
	    thread,
	    "温度: 29.5 ℃\n"
	    ". a line that starts with a dot\n"
	    "From the server room\n",
	    "tanaka@example.jp, suzuki@example.jp, sato@example.jp, "
	    "takahashi@example.jp, watanabe@example.jp");
	wpath = testutil_write(dir, "want.txt", want);
	spath = testutil_write(dir, "check.py", script);
	xasprintf(&cmd, "python3 %s %s %s", spath, path, wpath);
	rc = system(cmd);
	ck_assert_msg(
	    WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "python3 disagrees: %s", msg);
	free(cmd);
	free(spath);
	free(wpath);
	free(want);
	free(path);
	free(msg);
	free(subject);
	free(thread);
	free(id);
	testutil_rmdir();
}
END_TEST

static Suite *
mail_suite(void)
{
	Suite *s = suite_create("mail");
	TCase *tc = tcase_create("mail");

	tcase_add_test(tc, mail_render_japanese_exact);
	tcase_add_loop_test(tc, mail_encode_header_roundtrip, 0, NELEM(header_cases));
	tcase_add_test(tc, mail_encode_header_packs_words);
	tcase_add_test(tc, mail_encode_header_refuses);
	tcase_add_loop_test(tc, mail_subject_format, 0, NELEM(subject_cases));
	tcase_add_test(tc, mail_subject_reference);
	tcase_add_test(tc, mail_threading);
	tcase_add_loop_test(tc, mail_date_zones, 0, NELEM(date_cases));
	tcase_add_loop_test(tc, mail_body_lines, 0, NELEM(body_cases));
	tcase_add_test(tc, mail_body_long);
	tcase_add_loop_test(tc, mail_render_refuses, 0, NELEM(refuse_cases));
	tcase_add_loop_test(tc, mail_address_check, 0, NELEM(address_cases));
	tcase_add_test(tc, mail_address_domain_of);
	tcase_add_test(tc, mail_python_reads_it);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(mail_suite());
}
