/*
 * Composing a mail: the subject, the ids that thread an incident's mails,
 * RFC 2047 headers and the whole RFC 5322 message.  No clock, no
 * randomness and no I/O here, so a test compares exact bytes.
 *
 * Choices, and why:
 *
 * - The body is UTF-8 text sent as base64, lines of 76.  Japanese text is
 *   almost all non-ASCII: quoted-printable would spend 9 characters on each
 *   3-byte character (=E5=81=9C) where base64 spends 4, and base64 needs no
 *   care for line lengths on character boundaries, trailing spaces, or lines
 *   that begin with "." or "From ".  No relay needs 8BITMIME for it.
 *
 * - A header value that is not plain ASCII is encoded whole as UTF-8
 *   B-words.  Encoding only its non-ASCII runs would keep "[sonae ...]"
 *   readable in the raw header, but the spaces between encoded-words vanish
 *   on decoding, so every boundary would need care; whole-value encoding has
 *   no such case, and every mail client shows the decoded text.
 *
 * - Threading: an incident has one root id, made from the site, the incident
 *   id and the time it opened (mail_thread_id()).  The first mail about it
 *   carries that root as its Message-ID, every later one its own
 *   Message-ID with In-Reply-To and References pointing at the root.  The
 *   opening time is in the root so that incident 12 of a site whose state
 *   was wiped does not join the thread of an older incident 12.  Clients
 *   that thread by References (Thunderbird, Apple Mail, mutt) show one
 *   thread per incident; clients that also group by subject (Gmail, Outlook)
 *   may split it where the severity in the subject changed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "alerts/alert.h"

/* A growing byte buffer; col is the length of the last line so far. */
struct buf {
	char *p;
	size_t len, cap;
	size_t col;
	int tokens; /* tokens on the current header line */
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	size_t i;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	for (i = 0; i < n; i++)
		b->col = s[i] == '\n' ? 0 : b->col + 1;
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append the base64 of the n bytes at s, on one line. */
static void
b64_add(struct buf *b, const unsigned char *s, size_t n)
{
	unsigned char out[4 * 64 + 1];
	size_t k;
	int w;

	for (; n > 0; s += k, n -= k) {
		k = n < 3 * 64 ? n : 3 * 64;
		w = EVP_EncodeBlock(out, s, (int)k);
		buf_add(b, (const char *)out, (size_t)w);
	}
}

/* The length of the UTF-8 character that starts with byte c (valid text). */
static size_t
utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	return 4;
}

static int
atext(int c)
{
	return isascii(c) && (isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int
mail_address_valid(const char *addr)
{
	const char *at, *p;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL || at == addr ||
	    strlen(addr) > 254 || at[1] == '\0')
		return 0;
	/* local part: a dot-atom */
	for (p = addr; p < at; p++)
		if (!(atext((unsigned char)*p) ||
		        (*p == '.' && p != addr && p[1] != '.' && p + 1 != at)))
			return 0;
	/* domain: letters, digits and hyphens, in labels between dots */
	for (p = at + 1; *p != '\0'; p++)
		if (!(isascii((unsigned char)*p) && isalnum((unsigned char)*p)) &&
		    *p != '-' &&
		    !(*p == '.' && p != at + 1 && p[1] != '.' && p[1] != '\0'))
			return 0;
	return 1;
}

const char *
mail_address_domain(const char *addr)
{
	const char *at;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL || at[1] == '\0')
		return NULL;
	return at + 1;
}

/* The right-hand side of an id: domain with anything unusual made "-". */
static char *
id_domain(const char *domain)
{
	char *d, *p;

	if (domain == NULL || *domain == '\0')
		return xstrdup("sonae.invalid");
	d = xstrdup(domain);
	for (p = d; *p != '\0'; p++)
		if (!(isascii((unsigned char)*p) && isalnum((unsigned char)*p)) &&
		    *p != '.')
			*p = '-';
	return d;
}

char *
mail_message_id(const char *domain, uint64_t incident, int64_t ms, uint32_t rnd)
{
	char *d = id_domain(domain), *id;

	xasprintf(&id, "<sonae.%llu.%lld.%08x@%s>", (unsigned long long)incident,
	    (long long)ms, rnd, d);
	free(d);
	return id;
}

char *
mail_thread_id(const char *domain, const char *site, uint64_t incident, int64_t opened_ms)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: the site may not be ASCII */
	char *d = id_domain(domain), *id;
	const char *p;

	for (p = site != NULL ? site : ""; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ULL;
	}
	xasprintf(&id, "<incident.%llu.%lld.%016llx@%s>", (unsigned long long)incident,
	    (long long)opened_ms, (unsigned long long)h, d);
	free(d);
	return id;
}

/* Append s with control characters (a line break in a title) as spaces. */
static void
add_clean(struct buf *b, const char *s, int upper)
{
	const unsigned char *p;
	char c;

	for (p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0'; p++) {
		c = (char)*p;
		if (*p < 0x20 || *p == 0x7f)
			c = ' ';
		else if (upper && *p < 0x80)
			c = (char)toupper(*p);
		buf_add(b, &c, 1);
	}
}

char *
mail_subject_ref(
    const char *site, const char *severity, const char *ref, const char *title)
{
	struct buf b = { 0 };

	buf_adds(&b, "[sonae");
	if (site != NULL && *site != '\0') {
		buf_adds(&b, " ");
		add_clean(&b, site, 0);
	}
	buf_adds(&b, "] ");
	add_clean(&b, severity != NULL ? severity : "NOTICE", 1);
	if (ref != NULL && *ref != '\0') {
		buf_adds(&b, " ");
		add_clean(&b, ref, 0);
	}
	buf_adds(&b, ": ");
	add_clean(&b, title, 0);
	return b.p;
}

char *
mail_subject(const char *site, const char *severity, uint64_t incident, const char *title)
{
	char num[32] = "";

	if (incident != 0)
		snprintf(num, sizeof(num), "#%llu", (unsigned long long)incident);
	return mail_subject_ref(site, severity, num, title);
}

/* Refuse a header value that would break the message. */
static int
value_check(const char *name, const char *v, char *err, size_t errlen)
{
	if (strpbrk(v, "\r\n") != NULL) {
		snprintf(err, errlen, "header %s: a line break in the value", name);
		return -1;
	}
	if (!utf8_valid(v, strlen(v))) {
		snprintf(err, errlen, "header %s: not valid UTF-8", name);
		return -1;
	}
	return 0;
}

/* Printable ASCII that no decoder could take for an encoded-word. */
static int
value_plain(const char *v)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return strstr(v, "=?") == NULL;
}

static void
hdr_start(struct buf *b, const char *name)
{
	buf_adds(b, name);
	buf_adds(b, ":");
	b->tokens = 0;
}

/*
 * Append a token after a space, folding first (CRLF, then the space) if it
 * would pass the line limit and the line already holds a token.  Folding
 * only ever turns a space into CRLF + space, so unfolding gives the value
 * back exactly.
 */
static void
hdr_token(struct buf *b, const char *s, size_t n)
{
	if (b->tokens > 0 && n > 0 && b->col + 1 + n > MAIL_LINE_MAX) {
		buf_adds(b, "\r\n");
		b->tokens = 0;
	}
	buf_adds(b, " ");
	buf_add(b, s, n);
	b->tokens++;
}

static void
hdr_plain(struct buf *b, const char *v)
{
	const char *sp;

	for (;;) {
		sp = strchr(v, ' ');
		hdr_token(b, v, sp != NULL ? (size_t)(sp - v) : strlen(v));
		if (sp == NULL)
			break;
		v = sp + 1;
	}
}

/* What is left of the current line after a separating space. */
static size_t
hdr_room(const struct buf *b)
{
	return b->col + 1 < MAIL_LINE_MAX ? MAIL_LINE_MAX - b->col - 1 : 0;
}

/*
 * Append v (valid UTF-8) as encoded-words: each takes as many whole
 * characters as fit in what is left of the line, at most MAIL_WORD_MAX.
 */
static void
hdr_encoded(struct buf *b, const char *v)
{
	/* "=?UTF-8?B?" and "?=" around the base64; the least is one character */
	const size_t overhead = 12, least = overhead + 8;
	const char *p = v;
	struct buf w = { 0 };
	size_t avail, max, n, c;

	do {
		if (hdr_room(b) < least) {
			/* no room left, even right after a long name: next line */
			buf_adds(b, "\r\n");
			b->tokens = 0;
		}
		avail = hdr_room(b);
		if (avail > MAIL_WORD_MAX)
			avail = MAIL_WORD_MAX;
		max = (avail - overhead) / 4 * 3; /* bytes whose base64 fits */
		for (n = 0;
		     p[n] != '\0' && n + (c = utf8_len((unsigned char)p[n])) <= max;)
			n += c;
		w.len = 0;
		buf_adds(&w, "=?UTF-8?B?");
		b64_add(&w, (const unsigned char *)p, n);
		buf_adds(&w, "?=");
		hdr_token(b, w.p, w.len);
		p += n;
	} while (*p != '\0');
	free(w.p);
}

/* Append the value of a header: plain, or encoded when it must be. */
static void
hdr_value(struct buf *b, const char *v)
{
	if (value_plain(v))
		hdr_plain(b, v);
	else
		hdr_encoded(b, v);
}

char *
mail_encode_header(const char *name, const char *value, char *err, size_t errlen)
{
	struct buf b = { 0 };

	if (value_check(name, value, err, errlen) == -1)
		return NULL;
	hdr_start(&b, name);
	hdr_value(&b, value);
	buf_adds(&b, "\r\n");
	return b.p;
}

char *
mail_date(int64_t ms, char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
		"Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : 0);
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL)
		gmtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60; /* minutes east of UTC */
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60 % 100,
	    labs(off) % 60);
	return buf;
}

/* "<left@right>" in printable ASCII, no spaces or extra brackets. */
static int
msgid_valid(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0, i;

	if (n < 5 || n > 250 || id[0] != '<' || id[n - 1] != '>' ||
	    strchr(id, '@') == NULL)
		return 0;
	for (i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return 0;
	}
	return 1;
}

/* A display name: a quoted string when plain, else encoded-words. */
static void
hdr_phrase(struct buf *b, const char *name)
{
	struct buf q = { 0 };
	const char *p;

	if (!value_plain(name)) {
		hdr_encoded(b, name);
		return;
	}
	buf_adds(&q, "\"");
	for (p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_adds(&q, "\\");
		buf_add(&q, p, 1);
	}
	buf_adds(&q, "\"");
	hdr_token(b, q.p, q.len);
	free(q.p);
}

/* The body as CRLF lines (CR, LF and CRLF all end a line), base64, 76 a line. */
static void
body_add(struct buf *b, const char *text)
{
	struct buf t = { 0 };
	const char *p;
	size_t i, n;

	for (p = text; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n') {
			buf_adds(&t, "\r\n");
			if (*p == '\r' && p[1] == '\n')
				p++;
		} else
			buf_add(&t, p, 1);
	}
	if (t.len > 0 && t.p[t.len - 1] != '\n')
		buf_adds(&t, "\r\n");
	for (i = 0; i < t.len; i += 57) { /* 57 bytes: 76 characters of base64 */
		n = t.len - i < 57 ? t.len - i : 57;
		b64_add(b, (const unsigned char *)t.p + i, n);
		buf_adds(b, "\r\n");
	}
	free(t.p);
}

char *
mail_render(const struct mail *m, size_t *len, char *err, size_t errlen)
{
	const char *body = m->body != NULL ? m->body : "";
	struct buf b = { 0 };
	char date[64], num[32], *tok;
	size_t i;

	if (!mail_address_valid(m->from)) {
		snprintf(err, errlen, "from: not an address: \"%s\"",
		    m->from != NULL ? m->from : "");
		return NULL;
	}
	if (m->to.n == 0) {
		snprintf(err, errlen, "no recipient");
		return NULL;
	}
	for (i = 0; i < m->to.n; i++)
		if (!mail_address_valid(m->to.v[i])) {
			snprintf(err, errlen, "to: not an address: \"%s\"",
			    m->to.v[i] != NULL ? m->to.v[i] : "");
			return NULL;
		}
	if (!msgid_valid(m->message_id) ||
	    (m->thread_id != NULL && !msgid_valid(m->thread_id))) {
		snprintf(err, errlen, "a message id is not of the form <left@right>");
		return NULL;
	}
	if (m->subject == NULL) {
		snprintf(err, errlen, "no subject");
		return NULL;
	}
	if (value_check("Subject", m->subject, err, errlen) == -1 ||
	    (m->from_name != NULL &&
	        value_check("From", m->from_name, err, errlen) == -1))
		return NULL;
	if (!utf8_valid(body, strlen(body))) {
		snprintf(err, errlen, "the body is not valid UTF-8");
		return NULL;
	}

	hdr_start(&b, "Date");
	hdr_plain(&b, mail_date(m->date_ms, date, sizeof(date)));
	hdr_start(&b, "\r\nFrom");
	if (m->from_name != NULL && *m->from_name != '\0') {
		hdr_phrase(&b, m->from_name);
		xasprintf(&tok, "<%s>", m->from);
	} else
		tok = xstrdup(m->from);
	hdr_token(&b, tok, strlen(tok));
	free(tok);
	hdr_start(&b, "\r\nTo");
	for (i = 0; i < m->to.n; i++) {
		xasprintf(&tok, "%s%s", m->to.v[i], i + 1 < m->to.n ? "," : "");
		hdr_token(&b, tok, strlen(tok));
		free(tok);
	}
	hdr_start(&b, "\r\nSubject");
	hdr_value(&b, m->subject);
	hdr_start(&b, "\r\nMessage-ID");
	hdr_token(&b, m->message_id, strlen(m->message_id));
	if (m->thread_id != NULL && strcmp(m->thread_id, m->message_id) != 0) {
		hdr_start(&b, "\r\nIn-Reply-To");
		hdr_token(&b, m->thread_id, strlen(m->thread_id));
		hdr_start(&b, "\r\nReferences");
		hdr_token(&b, m->thread_id, strlen(m->thread_id));
	}
	buf_adds(&b, "\r\n");
	buf_adds(&b, "MIME-Version: 1.0\r\n"
	             "Content-Type: text/plain; charset=UTF-8\r\n"
	             "Content-Transfer-Encoding: base64\r\n"
	             "Auto-Submitted: auto-generated\r\n");
	if (m->incident != 0) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)m->incident);
		buf_adds(&b, "X-Sonae-Incident: ");
		buf_adds(&b, num);
		buf_adds(&b, "\r\n");
	}
	buf_adds(&b, "\r\n");
	body_add(&b, body);
	*len = b.len;
	return b.p;
}

/* 1 if s holds a control character (a CR or LF would end an SMTP command). */
int
mail_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}
