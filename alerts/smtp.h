/*
 * alerts/smtp.h: the SMTP transport (alerts/smtp.c).  These declarations move
 * into alerts/alert.h when the alerts library is put together; until then
 * this header is the transport's public face.
 */
#ifndef SONAE_SMTP_H
#define SONAE_SMTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct smtp;

#define SMTP_TIMEOUT_MS         60000 /* a whole transfer, when the relay says 0 */
#define SMTP_CONNECT_TIMEOUT_MS 10000 /* connecting, when the relay says 0 */

/*
 * One mail relay, as plain data.  smtp_send() copies it: the caller may free
 * it when the call returns.  Start from smtp_relay_init(), which turns
 * certificate verification on; a zeroed struct has verify = 0.
 */
struct smtp_relay {
	/*
	 * smtp://host:port (plain, or STARTTLS with starttls = 1) or
	 * smtps://host:port (TLS from the first byte).  An optional path is the
	 * name this host gives in EHLO (smtp://192.0.2.25:25/sonae.example.org);
	 * without one libcurl says "localhost".  No user:password@ in it.
	 */
	const char *url;
	int starttls;               /* 0 off, 1 required (CURLUSESSL_ALL); smtp:// only */
	const char *ca_file;        /* PEM file of trusted CAs; NULL: the system store */
	int verify;                 /* verify the certificate and the name; default 1 */
	const char *user;           /* NULL: no AUTH */
	const char *password;       /* already read from its secret file by the caller */
	const char *login_options;  /* "AUTH=PLAIN", "AUTH=LOGIN"; NULL: libcurl picks */
	int64_t timeout_ms;         /* whole transfer; 0: SMTP_TIMEOUT_MS */
	int64_t connect_timeout_ms; /* 0: SMTP_CONNECT_TIMEOUT_MS */
};

/* smtp.c */
void smtp_relay_init(struct smtp_relay *);
struct smtp *smtp_new(struct event_base *, char *, size_t);
void smtp_free(struct smtp *);
int smtp_send(struct smtp *, const struct smtp_relay *, const char *env_from,
    const char *const *rcpt, size_t nrcpt, const char *msg, size_t len,
    void (*done)(void *arg, int ok, int permanent, const char *reason), void *arg);
int smtp_send_any(struct smtp *, const struct smtp_relay *relays, size_t nrelays,
    const char *env_from, const char *const *rcpt, size_t nrcpt, const char *msg,
    size_t len,
    void (*done)(void *arg, int ok, int permanent, size_t relay, const char *reason),
    void *arg);

#endif
