/*
 * sonae alerts: what happens to an incident once someone must hear of it.
 * Built so far: composing a mail (mail.c).  Routing, grouping, escalation, the
 * channels and the daemon's wiring come later (alerts/README.md).
 */
#ifndef SONAE_ALERT_H
#define SONAE_ALERT_H

#include "monitor/monitor.h"

/*
 * mail.c: composing an RFC 5322 message.  Pure functions: no clock, no
 * randomness, no I/O; the date and the random part of an id are passed in,
 * so the same inputs give the same bytes.  Strings are UTF-8; every
 * returned string is the caller's to free.
 */
#define MAIL_LINE_MAX 78 /* header lines are folded to this many characters */
#define MAIL_WORD_MAX 75 /* the longest RFC 2047 encoded-word */

/* One message; every field is borrowed from the caller. */
struct mail {
	const char *from;       /* addr-spec: "sonae@example.jp" */
	const char *from_name;  /* display name; NULL: none */
	struct conf_strings to; /* addr-specs, at least one */
	const char *subject;    /* the whole subject (mail_subject()) */
	const char *body;       /* text; any line ends; normalised to CRLF */
	const char *message_id; /* "<...@...>" (mail_message_id(), mail_thread_id()) */
	const char *thread_id;  /* the incident's thread root; NULL: none */
	uint64_t incident;      /* X-Sonae-Incident; 0: no incident */
	int64_t date_ms;        /* the Date header, in the process's time zone */
};

/* 1 if addr is a plain addr-spec (local@domain, ASCII, no quoting), else 0. */
int mail_address_valid(const char *addr);
/* The domain of addr ("example.jp" of "sonae@example.jp"), or NULL. */
const char *mail_address_domain(const char *addr);
/*
 * The Message-ID of one mail: "<sonae.INCIDENT.MS.RND@DOMAIN>", unique by
 * its time and a random number the caller draws.
 */
char *mail_message_id(const char *domain, uint64_t incident, int64_t ms, uint32_t rnd);
/*
 * The thread root of an incident: "<incident.ID.OPENED.SITEHASH@DOMAIN>",
 * the same for every mail about it.  The first mail of the incident uses it
 * as its Message-ID; later ones refer to it (In-Reply-To, References).
 */
char *mail_thread_id(
    const char *domain, const char *site, uint64_t incident, int64_t opened_ms);
/*
 * The subject: "[sonae SITE] SEVERITY #INCIDENT: TITLE", the severity in
 * capitals; without " #INCIDENT" when incident is 0.  Control characters in
 * the parts become spaces.
 */
char *mail_subject(
    const char *site, const char *severity, uint64_t incident, const char *title);
/*
 * One header field, "Name: value", folded at MAIL_LINE_MAX with CRLF and a
 * space, ending in CRLF.  A value that is not plain printable ASCII (or
 * holds "=?") is RFC 2047 B-encoded as UTF-8, in encoded-words of at most
 * MAIL_WORD_MAX characters that never split a character.  NULL with the
 * reason in err for invalid UTF-8 or a CR or LF in the value.
 */
char *mail_encode_header(const char *name, const char *value, char *err, size_t errlen);
/* The Date header's value: "Wed, 25 Nov 2026 09:00:00 +0900" (process zone). */
char *mail_date(int64_t ms, char *buf, size_t len);
/*
 * The whole message (headers, blank line, base64 body), CRLF line ends; its
 * length in *len.  NULL with the reason in err for a missing or invalid
 * address or id, invalid UTF-8, or a CR or LF inside a header value.
 */
char *mail_render(const struct mail *m, size_t *len, char *err, size_t errlen);

#endif
