/*
 * sonae — the daemon core: logging, configuration schema, devices and their
 * scheduler, the metric store, the audit journal, the state snapshot and the
 * control socket.  Core files never mention SNMP or Modbus: probes plug in
 * through struct probe_ops (probes/probe.h).
 */
#ifndef SONAE_MONITOR_H
#define SONAE_MONITOR_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libconfig.h>
#include <jansson.h>

struct event_base;
struct control;
struct probe_ops;
struct trap_receiver;

#define SONAE_PROTO_VERSION 1
#define SONAE_DEFAULT_CONF  "/etc/sonae/sonae.conf"

#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN         __attribute__((noreturn))

/* log.c */
void log_init(int foreground, int verbose);
void log_setverbose(int);
int log_getverbose(void);
void log_warn(const char *, ...) PRINTFLIKE(1, 2);
void log_warnx(const char *, ...) PRINTFLIKE(1, 2);
void log_info(const char *, ...) PRINTFLIKE(1, 2);
void log_debug(const char *, ...) PRINTFLIKE(1, 2);
void fatal(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
void fatalx(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
void log_libevent(int, const char *);

/*
 * Rate-limited complaints for conditions that repeat every poll: the first
 * occurrence is logged, repeats at growing intervals, and one line on
 * recovery.
 */
struct complaint {
	int64_t next_ms;
	int64_t interval_ms;
	unsigned long count;
};
void complain(struct complaint *, const char *, ...) PRINTFLIKE(2, 3);
void complain_release(struct complaint *, const char *, ...) PRINTFLIKE(2, 3);

/* util.c */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) PRINTFLIKE(2, 3);
size_t strlcpy_s(char *, const char *, size_t);
int64_t time_now_ms(void);
int64_t time_mono_ms(void);
char *time_format(int64_t, char *, size_t);
int time_parse(const char *, int64_t, int64_t *);
int duration_parse(const char *, int64_t *);
char *duration_format(int64_t, char *, size_t);
int utf8_valid(const char *, size_t);
size_t word_next(const char **);
int tz_valid(const char *);
int tz_apply(const char *);
uint32_t random_u32(void);
const char *json_str_of(const json_t *, const char *);
int64_t json_int_of(const json_t *, const char *);
json_t *json_time(int64_t);

/* hmap.c: string-keyed hash map; keys are borrowed from the values. */
struct hmap;
struct hmap *hmap_new(void);
void hmap_free(struct hmap *);
void *hmap_get(const struct hmap *, const char *);
void hmap_put(struct hmap *, const char *, void *);
void *hmap_del(struct hmap *, const char *);
size_t hmap_count(const struct hmap *);
void *hmap_next(const struct hmap *, size_t *);

/* conf.c: the schema-driven configuration loader. */
enum conf_type {
	CT_STRING,
	CT_PATH, /* string; relative paths resolve against the file's folder */
	CT_INT,
	CT_FLOAT,
	CT_BOOL,
	CT_DURATION, /* number of seconds or "500ms", "30s", "5min", "2h", "1d" */
	CT_ENUM,
	CT_STRINGS, /* array of strings */
	CT_SECRET,  /* string, or { file = "path" } read from a private file */
	CT_GROUP,   /* nested group filling the same object */
	CT_LIST,    /* list of groups, each an object of sub->size bytes */
};

#define CK_REQUIRED 0x1

struct conf_ctx;
struct conf_table;

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;
	double min, max; /* numbers; durations in seconds; strings: length */
	const char *def; /* default as config text; NULL: none */
	int flags;
	const char *const *choices;   /* CT_ENUM, NULL-terminated */
	const struct conf_table *sub; /* CT_GROUP, CT_LIST */
	const char *help;
};

/*
 * A list of objects (CT_LIST) and of strings (CT_STRINGS).  The loader
 * allocates n + 1 strings, v[n] == NULL, so a loaded list is also a
 * NULL-terminated array (check_def words); an absent key leaves v NULL.
 */
struct conf_list {
	void *items;
	size_t n;
};
struct conf_strings {
	char **v;
	size_t n;
};

struct conf_table {
	const char *name;
	const char *help;
	size_t size;
	const struct conf_key *keys;
	/* Keys the table does not list; return 1 if taken, 0 if unknown. */
	int (*extra)(struct conf_ctx *, config_setting_t *, void *);
	/* Cross-key checks after the keys are read; report with conf_error. */
	void (*check)(struct conf_ctx *, config_setting_t *, void *);
	/* Release and compare what the hooks above added to the object. */
	void (*release)(void *);
	int (*equal)(const void *, const void *);
};

/* Where a value came from, for messages that name file and line. */
struct conf_origin {
	char *file;
	unsigned int line;
};

struct device_conf {
	char *name;
	int kind; /* index into device_kinds */
	char *description;
	char *location;
	struct conf_strings tags;
	int availability;
	int64_t interval_ms;
	int64_t timeout_ms;
	int retries;
	int64_t retry_interval_ms;
	int64_t backoff_max_ms;
	int stale_after;
	struct conf_strings parents; /* devices it is reached through */
	const struct probe_ops *probe;
	void *probe_conf;
	struct conf_origin origin;
};

struct conf {
	char *path;
	struct {
		char *name;
		char *timezone;
	} site;
	struct {
		char *state_dir;
		char *user;
		int64_t snapshot_interval_ms;
	} daemon;
	struct {
		char *socket;
		char *group;
		char *operators_group;
		int max_line;
		int max_clients;
		int max_per_uid;
		int64_t idle_timeout_ms;
	} control;
	struct {
		int history;
	} store;
	struct conf_list devices; /* struct device_conf */
	struct {
		int on; /* the group is in the file */
		char *listen;
		char *community;
		int64_t log_interval_ms;
		int64_t poll_gap_ms;
	} traps;
	struct conf_list rules;       /* struct rule_conf */
	struct conf_list checks;      /* struct check_entry */
	struct conf_list maintenance; /* struct window_conf */
	struct {
		int on;        /* the group is in the file */
		char *gateway; /* the device that is this host's way out, or NULL */
		char *ups;     /* the UPS that feeds this host, or NULL */
		double disk_min_free_pct;   /* of state_dir's file system; 0: unchecked */
		int64_t clock_max_error_ms; /* 0: the clock is not checked */
		struct conf_strings local;  /* devices not reached through gateway */
	} observer;
	struct {
		char *from;              /* envelope sender and From; NULL: no mail */
		char *from_name;         /* display name, or NULL */
		struct conf_list relays; /* struct relay_conf, tried in order */
		int64_t retry_ms;        /* the first retry after a failure */
		int64_t retry_max_ms;    /* the longest wait between retries */
		int down_after_failures; /* "cannot leave the site" after so many */
		int64_t down_after_ms;   /* or when the oldest queued mail is so old */
		int rate_limit;          /* mails per recipient per rate_period; 0: off */
		int64_t rate_period_ms;
		int cannot_leave_severity; /* 0 warning, 1 critical */
	} mail;
	struct conf_list channels; /* struct channel_conf */
	struct conf_list routes;   /* struct route_conf */
	struct {
		char *dir;                    /* every *.conf is a playbook; NULL: none */
		struct conf_strings drill_to; /* drills notify only these */
		struct conf_list params;      /* struct pb_param_conf */
		/* The playbooks of dir, loaded and checked against this site. */
		struct playbook **loaded;
		size_t nloaded;
	} playbooks;
	struct conf_list staff;    /* struct staff_conf */
	struct conf_list schedule; /* struct shift_conf */
	struct conf_list modes;    /* struct mode_conf; the defaults when unset */
	struct {
		int auto_mode;   /* the mode follows the roster */
		int64_t hold_ms; /* hysteresis before stepping back down */
		char *digest_at; /* "HH:MM", site wall clock */
		int announce;    /* mail the staff when the mode changes */
	} staffing;
};

/*
 * schema_roster.c: the staff, who is on duty when, and the operating modes
 * (docs/modes.md).  Everything named is checked at load.
 */
struct staff_conf {
	char *id;    /* [a-z0-9_-], unique */
	char *name;  /* as colleagues know the person */
	char *email; /* NULL: counted, never mailed */
	struct conf_strings roles;
	int counted; /* in the headcount that sets the mode */
	struct conf_origin origin;
};
/* One shift of schedule[]: a repeating window and who is on duty in it. */
struct shift_conf {
	char *every, *duration, *comment;
	struct conf_strings on_duty, deputy; /* staff ids */
	struct window *w;                    /* parsed in the site's zone */
	struct conf_origin origin;
};
enum mode_lower {
	MODE_LOWER_DIGEST, /* a daily digest at staffing.digest_at */
	MODE_LOWER_DEFER,  /* recorded, listed when the mode ends */
};
enum mode_inspection {
	MODE_INSPECTION_SCHEDULED,
	MODE_INSPECTION_DEFERRED,
	MODE_INSPECTION_SUSPENDED,
};
/*
 * One operating mode.  Modes are in order from the ordinary (the first) to
 * the most stretched.  References (alert, copy, escalate_to) are staff ids,
 * "role:NAME", "on-duty", "deputy", "everyone" or mail addresses.
 */
struct mode_conf {
	char *name;
	char *title; /* "縮小体制 / Reduced staffing"; NULL: the name */
	int absence; /* % of counted staff unavailable that enters it; 0: declared */
	struct conf_strings alert; /* in order */
	int chain;                 /* 1: one after another; 0: all at once */
	struct conf_strings copy;  /* told at once besides */
	int64_t escalate_after_ms; /* the chain's step; the wait before escalate_to */
	struct conf_strings escalate_to; /* after the whole chain */
	int live_availability;           /* classes >= this are watched live */
	int lower;                       /* enum mode_lower: the classes below */
	struct conf_strings preapproved; /* "PLAYBOOK:STEP" patterns of confirm steps */
	int inspection;                  /* enum mode_inspection */
	struct conf_origin origin;
};
extern const char *const mode_lower_names[], *const mode_inspection_names[];
extern const struct conf_table conf_staff_table, conf_shift_table, conf_mode_table,
    conf_staffing_table;
struct staff_conf *conf_staff(const struct conf *, size_t);
struct staff_conf *conf_staff_named(const struct conf *, const char *);
struct shift_conf *conf_shift(const struct conf *, size_t);
struct mode_conf *conf_mode(const struct conf *, size_t);
struct mode_conf *conf_mode_named(const struct conf *, const char *);
/* [a-z0-9_-], 1..32 bytes: staff ids, roles and mode names. */
int roster_name_valid(const char *);
/* NULL if a mode may name ref, else why not (in buf). */
const char *roster_ref_problem(const struct conf *, const char *, char *, size_t);
void schema_roster_check(struct conf_ctx *, config_setting_t *, struct conf *);

/*
 * roster.c: the staff's availability, who is on duty now, and the operating
 * mode at runtime -- automatic from the headcount (up at once, down after
 * staffing.hold) or declared (docs/modes.md).  Functions take the time they
 * act at; with an event base one timer calls roster_tick() when due.
 */
struct roster;
struct roster_hooks {
	/* The audit journal (takes data). */
	void (*journal)(void *arg, const char *actor, const char *event, json_t *data);
	/* The roster changed: write the snapshot (now: at once, else soon). */
	void (*save)(void *arg, int now);
	/* Mail to about the mode change (alerts_announce()). */
	void (*announce)(void *arg, const char *title, const char *body,
	    const struct conf_strings *to, const char *actor);
	/*
	 * The mode is another one now (after the journal, the announcement
	 * and the snapshot): problems it holds back or watches live again are
	 * looked at at once (alerts_mode_changed()).  May be NULL.
	 */
	void (*mode_changed)(void *arg);
};
struct roster_headcount {
	int total, available, absent, absent_pct; /* counted staff */
};
/* h and conf must outlive the roster (conf until roster_configure()). */
struct roster *roster_new(struct event_base *, const struct conf *,
    const struct roster_hooks *, void *, int64_t);
void roster_free(struct roster *);
void roster_configure(struct roster *, const struct conf *, const char *, int64_t);
void roster_start(struct roster *, int64_t);
void roster_tick(struct roster *, int64_t);
const struct shift_conf *roster_shift(const struct roster *, int64_t);
size_t roster_resolve(
    const struct roster *, const struct conf_strings *, int64_t, struct conf_strings *);
void roster_headcount(const struct roster *, struct roster_headcount *);
const struct mode_conf *roster_auto_target(const struct roster *);
const char *roster_mode(const struct roster *);
const struct mode_conf *roster_mode_conf(const struct roster *);
int roster_declared(const struct roster *);
const char *roster_pending(const struct roster *, int64_t *);
int roster_set_staff(struct roster *, const char *, int, int64_t, const char *,
    const char *, int64_t, char *, size_t);
int roster_declare(
    struct roster *, const char *, const char *, const char *, int64_t, char *, size_t);
int roster_auto(struct roster *, const char *, const char *, int64_t);
void roster_defer(struct roster *, uint64_t, const char *, int64_t);
const char *roster_preapproved(const struct roster *, const char *, const char *);
json_t *roster_staff_json(const struct roster *, int64_t);
json_t *roster_staff_entry_json(const struct roster *, const char *, int64_t);
json_t *roster_mode_json(const struct roster *, int64_t);
json_t *roster_status_json(const struct roster *);
json_t *roster_to_json(const struct roster *);
int roster_from_json(struct roster *, const json_t *, char *, size_t);
void roster_restore_mode(struct roster *, const char *);

/* A site's value of a playbook's parameter (playbooks.parameters[]). */
struct pb_param_conf {
	char *playbook;
	char *name;
	char *value;
	struct conf_origin origin;
};

/* A mail relay: an SMTP server, or the local sendmail program. */
struct relay_conf {
	char *url;
	int starttls;
	char *ca_file;
	int insecure;
	char *user;
	char *password;
	char *auth; /* "PLAIN", "LOGIN", ...; NULL: libcurl picks */
	int64_t timeout_ms, connect_timeout_ms;
	struct conf_strings sendmail; /* argv, or empty */
};

/* A local channel (docs/alerts.md): syslog, a program, a beacon. */
enum channel_type { CHANNEL_SYSLOG, CHANNEL_EXEC, CHANNEL_BEACON };
struct channel_conf {
	char *name;
	int type; /* enum channel_type */
	/* syslog */
	char *socket; /* the local syslog socket, /dev/log */
	int facility; /* index into syslog_facilities */
	/* exec */
	struct conf_strings command;
	int64_t timeout_ms;
	/* beacon: a Modbus point or an SNMP object of a device */
	char *device, *point, *oid, *set_type;
	char *value, *clear; /* written while a problem lasts, and after it */
	struct conf_origin origin;
};
extern const char *const syslog_facilities[];

/* A route: which incidents reach whom, how (docs/alerts.md). */
struct escalate_conf {
	int64_t after_ms;
	struct conf_strings to;
};
struct route_conf {
	char *name;
	struct conf_strings severity, kinds, devices, rules, modes;
	int availability; /* the least availability class among the devices; 0 any */
	struct conf_strings to, channels;
	int64_t group_wait_ms, repeat_ms;
	struct conf_list escalate; /* struct escalate_conf, by after_ms */
	int cont;                  /* "continue": later routes may match too */
	int roster; /* also the current operating mode's people (modes[]) */
	struct conf_origin origin;
};
struct relay_conf *conf_relay(const struct conf *, size_t);
struct channel_conf *conf_channel(const struct conf *, size_t);
struct channel_conf *conf_channel_named(const struct conf *, const char *);
struct route_conf *conf_route(const struct conf *, size_t);
struct route_conf *conf_route_named(const struct conf *, const char *);
extern const struct conf_table conf_mail_table, conf_channel_table, conf_route_table;
void schema_alerts_check(struct conf_ctx *, config_setting_t *, struct conf *);
/* playbooks/schema_playbooks.c: the `playbooks` group, and the folder it names. */
struct playbook;
extern const struct conf_table conf_playbooks_table;
void schema_playbooks_check(struct conf_ctx *, config_setting_t *, struct conf *);

struct conf_errors {
	char **v;
	size_t n;
};

extern const struct conf_table conf_root_table;
extern const char *const device_kinds[];
extern const struct conf_table conf_device_table;

struct conf *conf_load(const char *, struct conf_errors *);
struct conf *conf_load_string(const char *, const char *, struct conf_errors *);
void conf_free(struct conf *);
int conf_equal(const struct conf_table *, const void *, const void *);
void conf_strings_free(struct conf_strings *);
int conf_strings_has(const struct conf_strings *, const char *);
void conf_strings_add(struct conf_strings *, const char *);
json_t *conf_strings_json(const struct conf_strings *);
void conf_free_object(const struct conf_table *, void *);
void conf_error(struct conf_ctx *, config_setting_t *, const char *, ...)
    PRINTFLIKE(3, 4);
void conf_key_error(struct conf_ctx *, config_setting_t *, const char *, const char *,
    ...) PRINTFLIKE(4, 5);
void conf_error_at(struct conf_ctx *, const char *, unsigned int, unsigned int,
    const char *, ...) PRINTFLIKE(5, 6);
const char *conf_dir(const struct conf_ctx *, const config_setting_t *);
const char *conf_file(const struct conf_ctx *, const config_setting_t *);
void conf_errors_clear(struct conf_errors *);
void conf_walk_section(
    struct conf_ctx *, const struct conf_table *, config_setting_t *, void *);
const char *conf_ctx_path(const struct conf_ctx *);
void *conf_ctx_arg(const struct conf_ctx *);
struct conf_errors *conf_ctx_errors(const struct conf_ctx *);
int conf_load_table(
    const char *, const struct conf_table *, void *, void *, struct conf_errors *);
void conf_doc(FILE *);
struct device_conf *conf_device(const struct conf *, size_t);
char *secret_read_file(const char *, char *, size_t);

/* store.c: latest sample per metric plus a bounded history ring. */
enum quality {
	Q_OK,
	Q_STALE,
	Q_ERROR,
};
enum metric_kind {
	MK_NUMBER,
	MK_BOOL,
	MK_TEXT,
};
struct sample {
	int64_t t_ms;
	double num;
	const char *text; /* MK_TEXT */
	enum quality q;
	const char *reason; /* why not Q_OK */
};
struct hist_point {
	int64_t t_ms;
	double v;
};
struct store;
struct series;
struct store *store_new(size_t);
void store_free(struct store *);
void store_set_history(struct store *, size_t);
struct series *store_series(
    struct store *, const char *, const char *, enum metric_kind, const char *);
struct series *store_lookup(const struct store *, const char *);
struct series *store_first(const struct store *, const char *);
struct series *store_next(const struct series *);
size_t store_count(const struct store *);
void store_drop_device(struct store *, const char *);
void store_degrade_device(struct store *, const char *, enum quality, const char *);
void series_update(struct series *, const struct sample *);
void store_set_watch(struct store *, void (*)(struct series *, void *), void *);
void store_reset_watch(struct store *);
uint64_t store_generation(const struct store *);
void *series_watch(const struct series *);
void series_set_watch(struct series *, void *);
const char *series_key(const struct series *);
const char *series_device(const struct series *);
const char *series_name(const struct series *);
const char *series_unit(const struct series *);
enum metric_kind series_kind(const struct series *);
int series_latest(const struct series *, struct sample *);
size_t series_history(const struct series *, struct hist_point *, size_t);
json_t *sample_value_json(enum metric_kind, const struct sample *);
const char *quality_name(enum quality);
int quality_from_name(const char *);
const char *metric_kind_name(enum metric_kind);
int metric_kind_from_name(const char *);

/*
 * expr.c: the rule expression language (docs/rules.md).  An expression is
 * compiled once, at configuration load, into a flat tree; evaluating it
 * allocates nothing and reaches the world only through struct expr_resolver,
 * so the daemon wires it to the store and the tests to a fake.
 */
enum expr_type {
	EXPR_UNKNOWN, /* no value, with a reason; propagates, Kleene for && || */
	EXPR_NUMBER,
	EXPR_BOOL,
	EXPR_TEXT,
};
/* Unit dimensions; literals are held in the base unit (seconds, volts...). */
enum expr_unit {
	EU_NONE,  /* a bare number: compares with anything */
	EU_TIME,  /* s (ms, min, h, d convert) */
	EU_PCT,   /* % */
	EU_TEMP,  /* degC */
	EU_VOLT,  /* V */
	EU_OTHER, /* a metric unit the language has no literal for */
};
struct expr_value {
	enum expr_type type;
	enum expr_unit unit;
	double num;         /* EXPR_NUMBER; EXPR_BOOL: 0 or 1 */
	const char *text;   /* EXPR_TEXT, borrowed */
	const char *reason; /* EXPR_UNKNOWN: why, borrowed (static or the resolver's) */
	const char *dev;    /* EXPR_UNKNOWN: the metric it came from, or NULL */
	const char *metric;
};
/* One selector of an aggregate: kind=ups, tag=..., role=wan, availability>=2. */
enum expr_sel_key { ES_KIND, ES_TAG, ES_ROLE, ES_AVAILABILITY };
enum expr_sel_op { ES_EQ, ES_NE, ES_LT, ES_LE, ES_GT, ES_GE };
struct expr_sel_term {
	enum expr_sel_key key;
	enum expr_sel_op op; /* not ES_EQ only for availability */
	char *value;         /* kind, tag and role names */
	int num;             /* availability */
};
struct expr_select {
	struct expr_sel_term *terms; /* all must hold */
	size_t nterms;
	char *text;  /* canonical: "kind=ups,tag=server-room" */
	void *bound; /* the caller's cache (expr_select_bind) */
};
/* A metric an expression reads: an input to index rules by. */
struct expr_ref {
	char *device; /* NULL: relative to each member of select */
	char *metric;
	char *key;                        /* "device.metric" or "metric" */
	const struct expr_select *select; /* relative refs: the aggregate's devices */
	void *bound;                      /* the caller's cache (expr_ref_bind) */
};
/*
 * A member of a selection: a device, and for link roles the prefix that turns
 * a relative metric into the link's ("up" -> "uplink_up").
 */
struct expr_member {
	const char *device;
	const char *prefix; /* "" or NULL for devices */
	void *handle;       /* the resolver's own */
};
/*
 * What the resolver hands back for a metric.  num is in the base unit: the
 * resolver applies the scale expr_unit_from_name() gives (ms -> s), to
 * history points too.
 */
struct expr_sample {
	enum expr_type type; /* EXPR_UNKNOWN: no such metric or no sample yet */
	enum expr_unit unit;
	double num; /* EXPR_BOOL: 0 or 1 */
	const char *text;
	int64_t t_ms;
	enum quality q;
	const char *reason; /* why q is not Q_OK, or why there is no sample */
};
struct expr_resolver {
	/* The latest sample of ref (of member m for relative refs); 0, or -1 if none. */
	int (*lookup)(void *arg, const struct expr_ref *ref, const struct expr_member *m,
	    struct expr_sample *out);
	/*
	 * History (the store's ring) of a numeric or bool metric: up to max points,
	 * the newest, oldest first, with t_ms >= since_ms, preceded by the newest
	 * point older than since_ms when there is one and room for it.
	 */
	size_t (*history)(void *arg, const struct expr_ref *ref,
	    const struct expr_member *m, int64_t since_ms, struct hist_point *out,
	    size_t max);
	/* Member i of the selection (0, 1, ...): 1 and *out, or 0 past the last. */
	int (*member)(
	    void *arg, const struct expr_select *sel, size_t i, struct expr_member *out);
	/* Whether rule name is active: 1, 0, or -1 unknown (no such rule yet). */
	int (*active)(void *arg, const char *name);
	void *arg;
	int64_t now_ms; /* wall time of this evaluation */
};
struct expr;
struct expr *expr_compile(const char *text, const char *file, unsigned int line,
    unsigned int col, const char *label, char *err, size_t errlen);
void expr_free(struct expr *);
const char *expr_text(const struct expr *);
int expr_eval(const struct expr *, const struct expr_resolver *, struct expr_value *);
size_t expr_nrefs(const struct expr *);
const struct expr_ref *expr_ref(const struct expr *, size_t);
void expr_ref_bind(struct expr *, size_t, void *);
size_t expr_nselects(const struct expr *);
const struct expr_select *expr_select(const struct expr *, size_t);
void expr_select_bind(struct expr *, size_t, void *);
size_t expr_nrules(const struct expr *);
const char *expr_rule(const struct expr *, size_t);
int expr_uses_time(const struct expr *);
enum expr_unit expr_unit_from_name(const char *, double *);
const char *expr_unit_name(enum expr_unit);
const char *expr_type_name(enum expr_type);
int expr_select_match(const struct expr_select *, const char *, int, const char *const *,
    size_t, const char *);
char *expr_value_format(const struct expr_value *, char *, size_t);

/*
 * check.c: the state of one checked metric (DOMAIN.md section 4): a raw value
 * classified into OK / WARNING / CRITICAL / UNKNOWN, then N of M, soft and
 * hard states, the `for` hold-down and flap detection.  A plain struct and a
 * step function, no clock and no I/O, so the daemon embeds one per check and
 * the tests drive it with tables; it survives restarts as JSON.
 */
enum check_state {
	CHECK_OK,
	CHECK_WARNING,
	CHECK_CRITICAL,
	CHECK_UNKNOWN,
};
/* A Nagios range: alerts outside [lo, hi], or inside it when inside is set. */
struct check_range {
	int set;
	int inside;
	double lo, hi; /* -INFINITY / INFINITY for open ends */
};
enum check_kind {
	CHECK_NUMBER, /* warn and crit ranges */
	CHECK_BOOL,   /* when_true when the value is true */
	CHECK_ENUM,   /* the whole value in warn_words or crit_words */
	CHECK_FLAGS,  /* any word (space or comma separated) in them ("OB LB") */
};
struct check_def {
	enum check_kind kind;
	struct check_range warn, crit;
	/*
	 * Hysteresis: once WARNING (CRITICAL), the check stays there while the
	 * value is still in warn_recover (crit_recover), alerting ranges too.
	 */
	struct check_range warn_recover, crit_recover;
	enum check_state when_true;
	const char *const *warn_words; /* NULL-terminated, or NULL */
	const char *const *crit_words;
	int64_t stale_ms; /* a sample older than this is UNKNOWN; 0: no limit */
};
#define CHECK_FLAP_STATES 21
#define CHECK_MAX_M       16
struct check_conf {
	int max_attempts;          /* non-OK results in a row before HARD (>= 1) */
	int64_t interval_ms;       /* next check when OK or HARD */
	int64_t retry_interval_ms; /* next check while SOFT */
	int n, m;                  /* N of the last M results (1 <= n <= m <= 16) */
	int64_t for_ms;            /* a problem must last this long before HARD */
	int flap_detection;
	double flap_low, flap_high; /* stop at <= low %, start at >= high % */
};
/* The state; plain data so the owner embeds it and it round-trips through JSON. */
struct check {
	int started;
	enum check_state state; /* soft or hard */
	int hard;
	enum check_state hard_state;
	enum check_state notified; /* last state a notification went out for */
	int attempt;
	int64_t since_ms;            /* state or hardness last changed */
	int64_t problem_since_ms;    /* this run of non-OK results began; 0 when OK */
	uint8_t window[CHECK_MAX_M]; /* N of M: results, newest first */
	int nwindow;
	uint8_t flap[CHECK_FLAP_STATES]; /* states, oldest first */
	int flapping;
	double flap_pct;
	char reason[256];
};
enum check_notify {
	CHECK_NOTIFY_NONE,
	CHECK_NOTIFY_PROBLEM,
	CHECK_NOTIFY_RECOVERY,
};
struct check_step {
	enum check_state state;
	int hard;
	int changed;     /* state or hardness changed */
	int hard_change; /* the hard state changed */
	enum check_notify notify;
	int suppressed; /* a hard change not notified: flapping */
	int flapping, flap_started, flap_stopped;
	double flap_pct;
	int attempt;
	int64_t next_check_ms; /* advice: check again in this long */
};
const char *check_state_name(enum check_state);
int check_state_from_name(const char *);
void check_conf_defaults(struct check_conf *);
int check_conf_valid(const struct check_conf *, char *, size_t);
int check_range_parse(const char *, struct check_range *);
int check_range_alerts(const struct check_range *, double);
enum check_state check_classify(const struct check_def *, enum metric_kind,
    const struct sample *, int64_t, enum check_state, char *, size_t);
void check_init(struct check *);
void check_step(struct check *, const struct check_conf *, int64_t, enum check_state,
    const char *, struct check_step *);
void check_step_sample(struct check *, const struct check_conf *,
    const struct check_def *, enum metric_kind, const struct sample *, int64_t,
    struct check_step *);
double check_flap_percent(const uint8_t *);
json_t *check_to_json(const struct check *);
int check_from_json(struct check *, const json_t *, char *, size_t);

/*
 * window.c: maintenance windows, one-off or recurring on the local wall clock
 * of an IANA time zone, for the devices chosen by name, kind or tag.  Plain
 * data: whoever holds windows decides what they suppress (docs/maintenance.md).
 */
enum window_repeat {
	WR_ONCE,
	WR_DAILY,
	WR_WEEKLY,
	WR_MONTHLY,
};
#define WINDOW_LAST_DAY (-1) /* mday: the last day of each month */
struct window {
	char *id;
	char *zone; /* IANA time zone the wall-clock times are in */
	enum window_repeat repeat;
	int64_t start_ms, end_ms; /* WR_ONCE: [start, end) */
	int start_min;            /* recurring: local start, minutes after midnight */
	unsigned int weekdays;    /* WR_WEEKLY: bit 0 Sunday .. bit 6 Saturday */
	int mday;                 /* WR_MONTHLY: 1..31 or WINDOW_LAST_DAY */
	int64_t duration_ms;      /* recurring: elapsed time from each start */
	struct conf_strings devices, kinds, tags;
	char *comment;
	char *created_by;
	int64_t created_ms;
};
/* The text a window is made from, as the CLI and the config give it; NULL: absent. */
struct window_text {
	const char *start; /* "2026-12-01 22:00", "2026-12-01T22:00+09:00", "now" */
	const char *end;
	const char
	    *every; /* "sun 02:00", "mon-fri 22:00", "daily 12:00", "monthly 1 22:00" */
	const char *duration; /* "for": "2h", "30min" */
};
enum window_target {
	WT_DEVICE,
	WT_KIND,
	WT_TAG,
};
enum window_notify {
	WN_NONE,     /* stay quiet */
	WN_PROBLEM,  /* notify the problem now, as if it had just begun */
	WN_RECOVERY, /* notify the recovery of a problem people were told about */
};
struct window *window_parse(
    const struct window_text *, const char *, int64_t, char *, size_t);
void window_free(struct window *);
int window_add_target(struct window *, enum window_target, const char *, char *, size_t);
int window_check(const struct window *, char *, size_t);
int window_matches(
    const struct window *, const char *, const char *, const struct conf_strings *);
int window_active(const struct window *, int64_t);
int64_t window_next_change(const struct window *, int64_t);
const struct window *window_covers(
    struct window *const *, size_t, const struct device_conf *, int64_t);
enum window_notify window_end_notify(int, int);
char *window_every_format(const struct window *, char *, size_t);
char *window_time_format(const struct window *, int64_t, char *, size_t);
char *window_describe(const struct window *, char *, size_t);
json_t *window_to_json(const struct window *);
struct window *window_from_json(const json_t *, char *, size_t);

/*
 * Detection configuration (schema_detect.c): rules, checks, configured
 * maintenance windows and the observer.  Expressions, ranges and windows are
 * compiled when the file is loaded, so a running daemon never meets a bad one.
 */
struct detect_keys {
	char *name;
	char *description;
	char *playbook;               /* started on a HARD problem; NULL: none */
	struct conf_strings inhibits; /* detector name patterns (fnmatch) */
	struct check_conf cc;         /* attempts, retry, N of M, for, flapping */
	struct conf_origin origin;
};
struct rule_conf {
	struct detect_keys k;
	char *when_text;
	char *recover_text; /* NULL: the rule recovers when `when` is false */
	int severity;       /* CHECK_WARNING or CHECK_CRITICAL */
	struct expr *when, *recover;
};
struct check_entry {
	struct detect_keys k;
	char *metric;         /* "ups1.status", or "status" with select */
	char *select;         /* NULL, or "kind=ups,tag=x": one per device */
	struct check_def def; /* word lists point into the two below */
	struct conf_strings warn_words, crit_words;
	struct conf_strings targets; /* the "device.metric" keys, expanded at load */
	char *warn_text, *crit_text; /* the ranges as written (parsed into def) */
	char *warn_recover_text, *crit_recover_text;
};
struct window_conf {
	char *id;
	char *every, *duration, *comment;
	struct conf_strings devices, kinds, tags;
	struct window *w; /* parsed at load in the site's zone, targets added */
	struct conf_origin origin;
};

struct rule_conf *conf_rule(const struct conf *, size_t);
struct check_entry *conf_check(const struct conf *, size_t);
struct window_conf *conf_window(const struct conf *, size_t);
extern const struct conf_table conf_rule_table, conf_check_table, conf_window_table;
extern const struct conf_table conf_observer_table;
/* The checks across keys, once the whole file is read (schema.c's root check). */
void schema_detect_check(struct conf_ctx *, config_setting_t *, struct conf *);
/*
 * Compile the expression text of setting s as FILE:LINE:COL: label: reason
 * on error; with site, its devices must be site's (other layers' files).
 */
struct expr *schema_detect_compile(struct conf_ctx *, config_setting_t *, const char *,
    const char *, const struct conf *);

/* device.c: a configured device, its poll schedule and poll results. */
enum poll_status {
	POLL_OK,
	POLL_TIMEOUT,  /* no answer in time */
	POLL_REFUSED,  /* connection refused or unreachable */
	POLL_AUTH,     /* credentials rejected */
	POLL_PROTOCOL, /* the device answered garbage */
	POLL_ERROR,    /* anything else */
};
enum contact {
	CONTACT_PENDING, /* not polled yet */
	CONTACT_OK,
	CONTACT_MISSED, /* polls missed, fewer than stale_after in a row */
	CONTACT_LOST,   /* stale_after polls missed in a row: metrics are stale */
};
struct device_state {
	enum contact contact;
	int missed;           /* polls missed in a row */
	int64_t last_poll_ms; /* wall time of the last completed poll */
	int64_t last_ok_ms;
	int64_t since_ms; /* when the contact state last changed */
	uint64_t polls, failures;
	enum poll_status last_status;
	char reason[256];
	uint64_t traps;       /* traps received from it */
	int64_t last_trap_ms; /* wall time of the last one */
	char last_trap[160];  /* what it was ("ups-on-battery") */
};
struct device;
struct poll;
const char *poll_status_name(enum poll_status);
const char *contact_name(enum contact);
int contact_from_name(const char *);
struct device *device_new(
    struct event_base *, struct store *, const struct device_conf *);
void device_free(struct device *);
const struct device_conf *device_conf(const struct device *);
void device_set_conf(struct device *, const struct device_conf *);
const char *device_name(const struct device *);
struct device_state *device_state(struct device *);
struct event_base *device_base(const struct device *);
void *device_probe_data(const struct device *);
void device_set_probe_data(struct device *, void *);
void device_set_change_cb(struct device *, void (*)(struct device *, void *), void *);
int64_t device_next_poll_ms(const struct device *);
int device_start(struct device *);
void device_stop(struct device *);
int device_poll_now(struct device *);
int device_trap(struct device *, const char *, int64_t);
int64_t device_backoff(const struct device_conf *, int, uint32_t);
void poll_number(struct poll *, const char *, double, const char *);
void poll_bool(struct poll *, const char *, int);
void poll_text(struct poll *, const char *, const char *);
void poll_invalid(struct poll *, const char *, enum metric_kind, const char *,
    const char *, ...) PRINTFLIKE(5, 6);
void poll_done(struct poll *, enum poll_status, const char *, ...) PRINTFLIKE(3, 4);

/* audit.c: the append-only, hash-chained journal. */
struct audit;
struct audit_problem {
	unsigned long line;
	char what[256];
};
struct audit *audit_open(const char *, char *, size_t);
void audit_close(struct audit *);
int audit_append(struct audit *, const char *, const char *, json_t *);
int audit_sync(struct audit *);
uint64_t audit_seq(const struct audit *);
const char *audit_head(const struct audit *);
int audit_verify(
    const char *, uint64_t, const char *, unsigned long *, struct audit_problem *);
json_t *audit_read(const char *, int64_t, size_t);
const char *audit_path(const struct audit *);

/* proto.c: the control line protocol, shared by sonaed and sonae. */
#define PROTO_MAX_ARGS 32
enum {
	ST_FAILED = -1,   /* refused or failed: one-line reason */
	ST_USAGE = -2,    /* unknown verb or bad arguments */
	ST_DENIED = -3,   /* needs an operator */
	ST_PROTOCOL = -4, /* malformed, oversize or half-sent line; connection closed */
};
int proto_split(const char *, size_t, char **, int *, char *, size_t);
void proto_free_args(char **, int);
char *proto_join(int, char *const *);

/* daemon.c: the running daemon. */
struct daemon;
struct daemon *daemon_new(struct event_base *, struct conf *, const char *);
int daemon_listen(struct daemon *, char *, size_t);
int daemon_start(struct daemon *, char *, size_t);
int daemon_prepare_state_dir(const struct conf *, uid_t, gid_t, char *, size_t);
void daemon_free(struct daemon *);
int daemon_reload(struct daemon *, const char *, char *, size_t);
void daemon_shutdown(struct daemon *);
const struct conf *daemon_conf(const struct daemon *);
const char *daemon_conf_path(const struct daemon *);
struct store *daemon_store(const struct daemon *);
struct audit *daemon_audit(const struct daemon *);
struct device *daemon_device(const struct daemon *, const char *);
struct device *daemon_device_at(const struct daemon *, size_t);
size_t daemon_device_count(const struct daemon *);
int64_t daemon_started_ms(const struct daemon *);
json_t *daemon_last_reload(const struct daemon *);
void daemon_dirty(struct daemon *);
int daemon_journal(struct daemon *, const char *, const char *, json_t *);
void daemon_set_control(struct daemon *, struct control *);
struct control *daemon_control(const struct daemon *);
struct trap_receiver *daemon_traps(const struct daemon *);
struct detect *daemon_detect(const struct daemon *);
struct alerts *daemon_alerts(const struct daemon *);
void daemon_alert(struct daemon *, uint64_t, int64_t, const char *);
const char *daemon_mode(const struct daemon *);
int daemon_set_mode(
    struct daemon *, const char *, const char *, const char *, char *, size_t);
struct roster *daemon_roster(const struct daemon *);
void daemon_playbooks(
    struct daemon *, uint64_t, const char *, const char *, const char *, const char *);
struct pb_engine *daemon_playbook_engine(const struct daemon *);
struct history;
struct history *daemon_history(const struct daemon *);

/*
 * detect.c: the detection layer.  Detectors (rules, checks, one
 * "unreachable:DEVICE" per device, and the observer: this host's own health)
 * are stepped when one of their inputs changes, found through an index from
 * metric to detector; their HARD changes open, change and resolve incidents,
 * subject to inhibition, parents, the observer and maintenance windows.  Its
 * state (check states, incidents, windows) lives in state_dir/detect.json,
 * rewritten at the end of every loop turn that changed it.
 *
 * Operator actions take the caller as actor, record it in the incident's
 * timeline and the audit journal, and return 0, or -1 with why in err.
 */
struct detect;
struct detect *detect_new(struct event_base *, struct daemon *);
void detect_free(struct detect *);
/* Build the detectors of conf; same-named detectors keep their state. */
void detect_configure(struct detect *, const struct conf *);
int detect_restore(struct detect *, char *, size_t);
int detect_save(struct detect *, char *, size_t);
/* After a poll of dev was committed to the store (or contact changed). */
void detect_device_changed(struct detect *, struct device *);
json_t *detect_status_json(struct detect *);
json_t *detect_incidents_json(struct detect *, int);
int detect_eval(struct detect *, const struct expr *, char *, size_t);
json_t *detect_incident_json(struct detect *, uint64_t);
json_t *detect_detectors_json(struct detect *);
enum ack_kind {
	ACK_NORMAL,   /* cleared when the incident's state changes */
	ACK_STICKY,   /* until the incident resolves */
	ACK_EXPIRING, /* until a time, or earlier as ACK_NORMAL */
};
int detect_ack(struct detect *, uint64_t, const char *, enum ack_kind, int64_t,
    const char *, char *, size_t);
int detect_declare(struct detect *, const char *, enum check_state, const char *,
    const char *, uint64_t *, char *, size_t);
int detect_resolve(struct detect *, uint64_t, const char *, const char *, char *, size_t);
/* Takes the window (window_parse + window_add_target) and gives it an id. */
int detect_window_add(struct detect *, struct window *, const char *, char *, size_t);
int detect_window_remove(
    struct detect *, const char *, const char *, const char *, char *, size_t);
json_t *detect_windows_json(struct detect *);
/* A timeline line from another layer; the incident of alerts' mail path. */
#define MAIL_RULE "mail-undeliverable"
void detect_note(struct detect *, uint64_t, const char *, const char *, const char *);
void detect_mail_path(struct detect *, int, const char *, enum check_state);
const char *ack_kind_name(enum ack_kind);

/* state.c: the atomic state snapshot in state_dir. */
int state_save(struct daemon *, char *, size_t);
int state_restore(struct daemon *, char *, size_t);
struct atomic_file {
	FILE *f;
	char *tmp;
	char *path;
};
int atomic_open(struct atomic_file *, const char *, char *, size_t);
int atomic_commit(struct atomic_file *, char *, size_t);
void atomic_abort(struct atomic_file *);

/* control.c: the control socket server. */
struct control;
struct ctl_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int is_operator;
	char actor[64];
};
struct control *control_new(
    struct event_base *, struct daemon *, const struct conf *, char *, size_t);
void control_free(struct control *);
void control_reconf(struct control *, const struct conf *);
size_t control_clients(const struct control *);

/* verbs.c: the table of control verbs. */
struct ctl_reply {
	int status;     /* lines that follow, or ST_* */
	char text[512]; /* the status line's text */
	json_t *body;   /* the one JSON document that follows, or NULL */
};
int verbs_dispatch(
    struct daemon *, const struct ctl_peer *, int, char **, struct ctl_reply *);
json_t *verbs_device_json(struct daemon *, struct device *, int);
/*
 * The argument readers of the detection verbs, for the tests: 0, or one of
 * these with why in err (both are usage errors; the first kind shows the
 * verb's usage line too).
 */
#define VERBS_BAD_USAGE (-1) /* the request's shape: missing or unknown words */
#define VERBS_BAD_VALUE (-2) /* a value that does not read */
int verbs_parse_id(const char *, uint64_t *);
int verbs_check_text(const char *, char *, size_t);
int verbs_parse_expire(const char *, int64_t, int64_t *, char *, size_t);
int verbs_ack_args(int, char **, int64_t, uint64_t *, enum ack_kind *, int64_t *,
    const char **, char *, size_t);
int verbs_declare_args(
    int, char **, const char **, enum check_state *, const char **, char *, size_t);
int verbs_maintenance_args(
    int, char **, const char *, int64_t, struct window **, char *, size_t);
int verbs_staff_set_args(int, char **, int64_t, const char **, int *, int64_t *,
    const char **, char *, size_t);

/*
 * history.c: what the reports need that the store forgets.  While an
 * incident is open, every good numeric sample of its devices goes to
 * state_dir/readings/ID.jsonl (after the store's ring of them, the context
 * before it opened); every device's polls and samples are counted by the
 * hour into state_dir/history/YYYY-MM.jsonl (UTC), a line per device when
 * the hour ends, with min/avg/max of a UPS's runtime and charge.
 */
#define HISTORY_READINGS_MAX 50000 /* lines of one incident's readings file */
enum hist_metric {
	HM_RUNTIME, /* runtime_s */
	HM_CHARGE,  /* charge_pct */
	HM_N,
};
extern const char *const history_metrics[];
struct hist_agg {
	double min, max, sum;
	uint64_t n;
};
/* One device's hour: a line of the month file, or the counters of this hour. */
struct hist_hour {
	int64_t hour_ms;
	const char *device;
	uint64_t polls, answered, missed, samples, good, bad;
	struct hist_agg m[HM_N];
};
struct history *history_new(const char *);
void history_free(struct history *);
void history_set_max_lines(struct history *, size_t);
void history_incident_open(
    struct history *, uint64_t, const struct conf_strings *, struct store *);
void history_incident_close(struct history *, uint64_t);
void history_poll(
    struct history *, struct store *, const char *, const char *, int, int64_t);
void history_tick(struct history *, int64_t);
void history_flush(struct history *);
void history_live(struct history *, void (*)(const struct hist_hour *, void *), void *);
int history_hour_parse(const char *, size_t, struct hist_hour *, char *, size_t);
void hist_agg_add(struct hist_agg *, double);
void hist_agg_merge(struct hist_agg *, const struct hist_agg *);
char *history_readings_path(const char *, uint64_t);
char *history_month_path(const char *, int64_t);

/* report_data.c: the documents of `sonae report` (docs/cli.md). */
json_t *report_incident(struct daemon *, uint64_t, char *, size_t);
json_t *report_drill(struct daemon *, uint64_t, char *, size_t);
json_t *report_inspection(struct daemon *, int64_t, int64_t, char *, size_t);
json_t *report_readings(const char *, uint64_t, const json_t *);
int report_trend(const int64_t *, const double *, size_t, double *);
json_t *report_audit_verify(struct audit *);

#endif
