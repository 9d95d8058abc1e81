/*
 * sonae alerts: what happens to an incident once someone must hear of it:
 * routes, grouping and escalation (notify.c), composing a mail (mail.c), the
 * durable spool it waits in until a relay accepts it (spool.c), the relays
 * (smtp.c, sendmail.c, deliver.c) and the local channels (notify.c, child.c).
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
/* 1 if s holds a control character (a CR or LF would end an SMTP command). */
int mail_has_control(const char *s);
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
 * The same with ref in the place of "#INCIDENT", as it is (control characters
 * become spaces): "[sonae SITE] SEVERITY REF: TITLE"; nothing for a NULL or
 * empty ref.  A playbook's notice without an incident says "playbook NAME".
 */
char *mail_subject_ref(
    const char *site, const char *severity, const char *ref, const char *title);
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

/*
 * spool.c: the durable mail spool, state_dir/spool/, one file per message.
 * A message is queued once spool_add() returned 0, and stays until
 * spool_delivered() after a relay accepted it.  Only a small index lives in
 * memory; message bytes are read from disk when asked for.
 */
struct spool;

/* Retry schedule: base * 2^(attempts-1), capped, less up to jitter_pct %. */
struct spool_backoff {
	int64_t base_ms; /* after the first failure */
	int64_t cap_ms;  /* the longest wait */
	int jitter_pct;  /* 0..100: how much earlier a retry may come */
};
/* 30 s, doubling to 30 min, up to 20 % earlier. */
extern const struct spool_backoff spool_backoff_default;

/* One queued message, as spool_get() reads it; spool_msg_free() frees. */
struct spool_msg {
	uint64_t id;
	uint64_t incident;
	char *env_from;           /* the envelope sender; "" for <> */
	struct conf_strings rcpt; /* envelope recipients, NULL-terminated */
	int64_t created_ms;
	int attempts;        /* failed delivery attempts so far */
	int64_t next_ms;     /* not to be tried before */
	int64_t last_try_ms; /* the last failed attempt; 0: none */
	char *last_error;    /* why it failed; NULL: never tried */
	char *last_relay;    /* where; NULL: never tried */
	char *data;          /* the rendered message (mail_render()) */
	size_t len;
};

/* Open (creating it, 0750) state_dir/spool; backoff NULL: the default. */
struct spool *spool_open(
    const char *state_dir, const struct spool_backoff *backoff, char *err, size_t errlen);
/* Close the spool. Takes NULL. */
void spool_close(struct spool *sp);
void spool_set_backoff(struct spool *sp, const struct spool_backoff *backoff);
/* Queue a message durably; its id in *id.  0, or -1 with why in err. */
int spool_add(struct spool *sp, const char *env_from, const struct conf_strings *rcpt,
    uint64_t incident, const char *msg, size_t len, int64_t now_ms, uint64_t *id,
    char *err, size_t errlen);
/* The message id with its bytes; NULL with why in err. */
struct spool_msg *spool_get(struct spool *sp, uint64_t id, char *err, size_t errlen);
/* The same without the message's bytes (data NULL, len 0): the metadata only. */
struct spool_msg *spool_get_head(struct spool *sp, uint64_t id, char *err, size_t errlen);
void spool_msg_free(struct spool_msg *m);
/*
 * A delivery attempt failed: count it, keep the relay and the reason, and
 * schedule the next one (spool_backoff_delay() with rnd); the file is
 * rewritten durably.  The next attempt's time in *next_ms if not NULL.
 */
int spool_attempt_failed(struct spool *sp, uint64_t id, const char *relay,
    const char *reason, int64_t now_ms, uint32_t rnd, int64_t *next_ms, char *err,
    size_t errlen);
/* A relay accepted the message: remove it for good.  0, or -1 with why. */
int spool_delivered(struct spool *sp, uint64_t id, char *err, size_t errlen);
/*
 * A delivery of id is under way (busy 1) or over (0): a busy message is not
 * due.  spool_attempt_failed() ends it too.  Memory only: after a restart
 * nothing is busy.
 */
void spool_set_busy(struct spool *sp, uint64_t id, int busy);
/* Make every queued message due now (a relay answers again). */
void spool_hurry(struct spool *sp, int64_t now_ms);
int64_t spool_backoff_delay(const struct spool_backoff *b, int attempts, uint32_t rnd);
size_t spool_count(const struct spool *sp);
/* Ids in increasing order (the order they were queued); 0 after the last. */
uint64_t spool_first(const struct spool *sp);
uint64_t spool_next(const struct spool *sp, uint64_t id);
/* The same, only messages due at now_ms. */
uint64_t spool_first_due(const struct spool *sp, int64_t now_ms);
uint64_t spool_next_due(const struct spool *sp, uint64_t id, int64_t now_ms);
/* When the next message falls due; INT64_MAX for an empty spool. */
int64_t spool_next_wakeup(const struct spool *sp, int64_t now_ms);
/* Bytes of memory the spool holds (its index): bounded, bodies never count. */
size_t spool_memory(const struct spool *sp);
const char *spool_dir(const struct spool *sp);
/* {"count": N, "messages": [the first max, in id order]}, for `sonae queue`. */
json_t *spool_json(const struct spool *sp, size_t max);

/*
 * child.c: running a program from argv on the daemon's loop, never through
 * a shell, never blocking.  argv[0] is an absolute path; the program gets a
 * small fixed environment (PATH, LANG=C.UTF-8, the daemon's TZ) plus env,
 * its own process group, stdin from input (else /dev/null), stdout and
 * stderr together in one pipe, and no other descriptor.  SIGPIPE from a
 * program that stops reading never reaches the daemon.
 */
struct child_result {
	int exited; /* 1: it exited, status is its exit code */
	int status;
	int signal;    /* killed by this signal, or 0 */
	int timed_out; /* 1: killed because timeout_ms passed */
	/* stdout and stderr together, the first output_max bytes, NUL-terminated. */
	const char *output;
	size_t output_len;
	int truncated; /* more output was discarded */
	/*
	 * One line: "exit 0", "exit 75", "killed by signal 9", "timed out after
	 * 30 s", "cannot run /x: No such file or directory" (exited, signal and
	 * timed_out are then 0).  Like output, valid during the callback.
	 */
	const char *reason;
};

struct child_opts {
	const char *const *argv; /* argv[0] an absolute path; NULL-terminated */
	const char *const *env;  /* extra NAME=VALUE entries, NULL-terminated, or NULL */
	const char *input;       /* written to stdin, then closed; NULL: /dev/null */
	size_t input_len;
	int64_t timeout_ms; /* 0: 60 s; then SIGTERM to the group, SIGKILL 2 s later */
	size_t output_max;  /* 0: 64 KiB */
};

/*
 * Start opts->argv; everything is copied.  0, and done(arg, result) is
 * called exactly once, later, on the loop, once the process was reaped and
 * its output closed -- also when it could not be run (exec failed).  -1 with
 * why in err, and done never called, for a relative or missing argv[0], a
 * bad env entry, or pipes that cannot be made.
 */
int child_run(struct event_base *, const struct child_opts *,
    void (*done)(void *arg, const struct child_result *), void *arg, char *err,
    size_t errlen);
/* Stop the child whose done() argument is arg (done() still follows): 0, or -1. */
int child_stop(void *arg);
/* The process (and group) id of the child whose done() argument is arg, or -1. */
long child_pid(void *arg);
/* Children started and not reaped yet (for tests and status). */
size_t child_running(void);

/* smtp.c: the SMTP transport, libcurl on a thread of its own. */
struct smtp;

#define SMTP_TIMEOUT_MS         60000 /* a whole transfer, when the relay says 0 */
#define SMTP_CONNECT_TIMEOUT_MS 10000 /* connecting, when the relay says 0 */

/*
 * One mail relay, as plain data.  smtp_send() copies it: the caller may free
 * it when the call returns.  Start from smtp_relay_init(), which turns
 * certificate verification on; so does a zeroed struct (insecure = 0).
 */
struct smtp_relay {
	/*
	 * smtp://host:port (plain, or STARTTLS with starttls = 1) or
	 * smtps://host:port (TLS from the first byte).  An optional path is the
	 * name this host gives in EHLO (smtp://192.0.2.25:25/sonae.example.org);
	 * without one libcurl says "localhost".  No user:password@ in it.
	 */
	const char *url;
	int starttls;         /* 0 off, 1 required (CURLUSESSL_ALL); smtp:// only */
	const char *ca_file;  /* PEM file of trusted CAs; NULL: the system store */
	int insecure;         /* 1: do not verify the certificate (never by default) */
	const char *user;     /* NULL: no AUTH */
	const char *password; /* already read from its secret file by the caller */
	const char *login_options;  /* "AUTH=PLAIN", "AUTH=LOGIN"; NULL: libcurl picks */
	int64_t timeout_ms;         /* whole transfer; 0: SMTP_TIMEOUT_MS */
	int64_t connect_timeout_ms; /* 0: SMTP_CONNECT_TIMEOUT_MS */
	/*
	 * 1: leave the connection open for the next message to the same relay
	 * (deliver.c sets it while more mail is due, so a drain rides one
	 * connection); 0: close it after this message.
	 */
	int keep_open;
	/*
	 * argv of a local sendmail program (e.g. {"/usr/sbin/sendmail", "-i",
	 * NULL}); when not NULL this relay hands mail to it and url is only a
	 * label (may be NULL).  timeout_ms bounds the program's run.
	 */
	const char *const *sendmail;
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

/*
 * sendmail.c: handing a message to a local sendmail program (child_run()):
 * argv, then "-f" env_from (none when env_from is ""), "--" and the
 * recipients; the message on stdin.  Exit 0 is acceptance; EX_DATAERR (65)
 * and EX_NOUSER (67) are a permanent refusal; any other exit, a signal, a
 * timeout or a program that cannot run is transient.  Returns 0 and calls
 * done exactly once, later, on the loop, with the exit and the first line
 * of the program's output in reason; -1 (EINVAL), and done never called,
 * for a NULL argument or no recipient.  Everything is copied.
 */
int sendmail_send(struct event_base *, const char *const *argv, int64_t timeout_ms,
    const char *env_from, const char *const *rcpt, size_t nrcpt, const char *msg,
    size_t len, void (*done)(void *arg, int ok, int permanent, const char *reason),
    void *arg);

/*
 * deliver.c: delivery from the spool through the relays, on the daemon's
 * loop.  One message at a time, in id order, through the relays in order
 * (smtp_send(), or sendmail_send() for a sendmail relay), the next one
 * after a transient failure; spool_delivered() as soon as one accepts it.  A
 * transient failure ends the round (the path is down: the rest waits) until
 * the spool's backoff says; a permanent refusal is recorded and the message
 * kept (giving up is decided elsewhere).  "Alerts cannot leave the site":
 * after N consecutive failed attempts, or when the oldest queued message is
 * older than T, the callback is called with down 1, once; with down 0, once,
 * when a relay accepts a message again.  notify.c raises it as the incident
 * mail-undeliverable.
 */
struct deliver;

#define DELIVER_DOWN_FAILURES 3      /* consecutive failed attempts */
#define DELIVER_DOWN_AGE_MS   300000 /* the oldest queued message, 5 min */

/*
 * relays are copied (their strings and sendmail argv too).  The spool and
 * the smtp client must outlive the engine; free the engine before either.
 * smtp may be NULL when every relay is a sendmail relay.
 */
struct deliver *deliver_new(struct event_base *, struct spool *, struct smtp *,
    const struct smtp_relay *relays, size_t nrelays, char *err, size_t errlen);
/* Takes NULL.  An attempt under way is left to finish, its outcome ignored. */
void deliver_free(struct deliver *);
/* A message was queued or a relay may be back: make everything due, look now. */
void deliver_kick(struct deliver *);
void deliver_set_down_failures(struct deliver *, int n);
void deliver_set_down_age(struct deliver *, int64_t ms);
void deliver_set_callback(
    struct deliver *, void (*cb)(void *arg, int down, const char *reason), void *arg);
int deliver_down(const struct deliver *);
/*
 * Told of every attempt's outcome, on the loop, after the spool recorded it:
 * message id, its incident (0: none), accepted, refused for good, the relay
 * and its answer or why not (for the journal).
 */
typedef void deliver_observer(void *arg, uint64_t id, uint64_t incident, int ok,
    int permanent, const char *relay, const char *reason);
void deliver_set_observer(struct deliver *, deliver_observer *, void *arg);
/*
 * {"queued", "in_flight" (an id or 0), "down", "down_since" (ms, 0),
 * "down_reason", "consecutive_failures", "delivered", "failed", "refused",
 * "last_error", "last_relay"}
 */
json_t *deliver_json(const struct deliver *);

/*
 * notify.c: the alerts engine.  Routes, group wait, reminders, escalation,
 * recovery, rate limits and digests; mail through the spool, and the local
 * channels (syslog, exec, beacon).  The daemon gives it what it needs of the
 * rest through hooks; its state lives in state_dir/alerts.json.
 */
struct alerts;

struct alerts_hooks {
	/* One incident in full (detect_incident_json()), or NULL. */
	json_t *(*incident)(void *arg, uint64_t id);
	/* {"incidents": [the open ones]} */
	json_t *(*incidents)(void *arg);
	/* The current operating mode ("normal"). */
	const char *(*mode)(void *arg);
	/* A configured device, or NULL. */
	const struct device_conf *(*device)(void *arg, const char *name);
	/*
	 * Write value to a beacon channel's device; done(darg, ok, reason)
	 * follows exactly once on the loop, unless it returns -1.
	 */
	int (*beacon)(void *arg, const struct channel_conf *, const char *value,
	    void (*done)(void *darg, int ok, const char *reason), void *darg);
	/* Mail cannot leave the site (down 1), or leaves again (0). */
	void (*mail_path)(void *arg, int down, const char *reason);
	/* The audit journal. */
	void (*journal)(void *arg, const char *actor, const char *event, json_t *data);
	/* A line in incident id's timeline. */
	void (*note)(void *arg, uint64_t id, const char *event, const char *text);
	/*
	 * The playbook runs of incident id: {"runs": [RUN_SUMMARY...]}
	 * (playbooks/, the `runs` verb's shape), or NULL (no engine, none).
	 * Incident mails show where each run that is not a drill stands and
	 * what it waits for from a human.  May be NULL.
	 */
	json_t *(*playbook_runs)(void *arg, uint64_t id);
	/*
	 * The operating mode's configuration now (monitor/roster.c), or NULL
	 * (no roster: routes' own `to` only).  Routes with `roster` take their
	 * people from it; its live_availability decides which problems are
	 * told live.  May be NULL.
	 */
	const struct mode_conf *(*mode_conf)(void *arg);
	/*
	 * The mail addresses of the people refs name who are available now
	 * (roster_resolve()), appended to out in order without repeats; how
	 * many were added.  May be NULL with mode_conf.
	 */
	size_t (*resolve)(
	    void *arg, const struct conf_strings *refs, struct conf_strings *out);
	/*
	 * A problem the mode does not tell live (a lower availability class):
	 * what is put off ("incident 12 (leak-2f, class 1): daily digest"),
	 * listed when the mode ends.  May be NULL.
	 */
	void (*deferred)(void *arg, uint64_t incident, const char *what);
};

/* hooks must outlive the engine. */
struct alerts *alerts_new(struct event_base *, const struct alerts_hooks *, void *arg);
void alerts_free(struct alerts *);
/* The configuration (kept by the caller while it is in use). */
void alerts_configure(struct alerts *, const struct conf *);
/* Open the spool and the SMTP client, restore alerts.json, start delivery. */
int alerts_start(struct alerts *, char *err, size_t errlen);
/* Write alerts.json if it changed (also done at the end of every loop turn). */
int alerts_save(struct alerts *, char *err, size_t errlen);
/* detect.c decided to tell: what is "problem" or "recovery". */
void alerts_incident(struct alerts *, uint64_t id, int64_t opened_ms, const char *what);
/*
 * The operating mode changed: problems it held back that the new mode
 * watches live are told now (monitor/roster.c calls it; the engine also
 * notices a change on its own within TICK_MAX_MS).
 */
void alerts_mode_changed(struct alerts *);
/*
 * When the daily digest at "HH:MM" on the wall clock of zone (an IANA name)
 * goes out next, strictly after `after` (ms); DST days as maintenance
 * windows have them.
 */
int64_t alerts_digest_next(const char *zone, const char *at, int64_t after);
/* `sonae notify-test`: a mail to to (NULL: every route's `to`), queued. */
int alerts_test(struct alerts *, const char *to, const char *actor, uint64_t *id,
    char *err, size_t errlen);
/* `sonae queue`: {"delivery": ..., "spool": {"count", "messages"}}. */
json_t *alerts_queue_json(struct alerts *, size_t max);
/* {"queued", "mail_down", "incidents", "held", "mails"} for `sonae status`. */
json_t *alerts_status_json(struct alerts *);

/*
 * A playbook's `notify` step (playbooks/): a mail through the alert
 * routes, queued at once.  Every pointer is borrowed for the call.
 */
struct alerts_notice {
	uint64_t incident;      /* 0: none (a run started by hand without an incident) */
	const char *playbook;   /* the playbook's name */
	uint64_t run;           /* the run id */
	const char *step_title; /* the step's title, expanded */
	const char *text;       /* the message, expanded */
	/* CHECK_WARNING or CHECK_CRITICAL; 0: the incident's (warning without one) */
	int severity;
	const struct conf_strings
	    *to;   /* explicit addresses; NULL/empty: the routes decide */
	int drill; /* 1: a drill: only drill_to, subject prefixed */
	const struct conf_strings *drill_to;
	const char *actor; /* who caused it, for the journal; NULL: "sonaed" */
};
/*
 * Queue a playbook's notice (docs/alerts.md, "Playbook notices"): 0 and a
 * one-line result ("queued #12 to a@x, b@y"), the spool id in *queued (0
 * when only local channels were told), or -1 with why in result, and then
 * nobody was told.  Without `to` the recipients are those of the routes
 * the incident takes at the notice's severity (without an incident: the
 * routes that ask nothing but the severity and the mode), and their syslog
 * and exec channels run too; a drill goes only to drill_to.  Neither the
 * group wait nor the rate limit holds a notice back: it is an explicit
 * step of an emergency procedure.  Journaled as notify.playbook.
 */
int alerts_notice(struct alerts *, const struct alerts_notice *, uint64_t *queued,
    char *result, size_t len);
/*
 * Mail people about something that is not an incident: the operating mode
 * changed.  Subject "[sonae SITE] KIND: TITLE" (KIND in capitals), queued at
 * once to every address of to, not rate-limited; journaled as
 * notify.announce by actor.  0 and the spool id in *queued, or -1 with why.
 */
int alerts_announce(struct alerts *, const char *kind, const char *title,
    const char *body, const struct conf_strings *to, const char *actor, uint64_t *queued,
    char *err, size_t errlen);

#endif
