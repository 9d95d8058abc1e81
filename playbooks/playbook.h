/*
 * sonae playbooks — emergency-response procedures as configuration files
 * (docs/playbooks.md).  This header is the file format and its loader: a
 * playbook is plain data, checked whole when it is loaded, so the engine
 * that runs it (engine.c) never meets a step it cannot follow.
 */
#ifndef SONAE_PLAYBOOK_H
#define SONAE_PLAYBOOK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "monitor/monitor.h"

enum pb_step_type {
	PB_NOTIFY,
	PB_EXEC,
	PB_WAIT,
	PB_CONFIRM,
	PB_SET_MODE,
	PB_SNMP_SET,
	PB_MODBUS_WRITE,
	PB_SHUTDOWN_TIER,
	PB_RUN_PLAYBOOK,
};
#define PB_NTYPES (PB_RUN_PLAYBOOK + 1)

enum pb_on_failure {
	PB_FAIL_ABORT,    /* the run stops, failed */
	PB_FAIL_CONTINUE, /* the next step */
	PB_FAIL_GOTO,     /* the step goto_step */
};

/* A parameter: ${name} in the steps' strings; a site or a run gives its value. */
struct pb_param {
	char *name;
	char *description;
	char *def;      /* the default as text ("10", "ict@example.jp"); NULL: none */
	int def_number; /* the default was written as a number */
	struct conf_origin origin;
};

/* A host of a shutdown tier: how to shut it down, how to see it is down. */
struct pb_host {
	char *name;
	struct conf_strings command; /* argv, absolute path */
	struct conf_strings check;   /* argv; exit 0: the host is down */
};

/* One step.  Keys of other types stay empty (the loader refuses them). */
struct pb_step {
	char *id; /* unique in the playbook */
	int type; /* enum pb_step_type */
	char *title;
	char *when_text; /* NULL: always */
	struct expr *when;
	int64_t timeout_ms; /* 0: none (exec: 60 s unless set) */
	int retries;
	char *on_failure_text;
	enum pb_on_failure on_failure;
	size_t goto_step; /* PB_FAIL_GOTO: index in the playbook's steps */
	int idempotent;   /* safe to run again after an interruption */
	int destructive;  /* derived from type: drills only record it */
	/* notify */
	char *text;
	int severity; /* 0: the incident's, 1 warning, 2 critical */
	struct conf_strings to;
	/* exec */
	struct conf_strings command;
	char *user; /* run as; NULL: the daemon's user */
	int output_max;
	/* wait */
	char *until_text;
	struct expr *until;
	int64_t for_ms;
	/* confirm */
	char *question;
	struct conf_strings who; /* "operators" or user names */
	int approver_differs;
	char *default_text; /* "yes", "no" or NULL */
	int default_answer; /* 1 yes, 0 no, -1 none */
	/* set-mode */
	char *mode;
	/* snmp-set, modbus-write */
	char *device;
	char *oid, *set_type; /* snmp-set */
	char *point;          /* modbus-write */
	char *value;          /* as written; modbus-write: a number */
	double value_num;
	/* shutdown-tier */
	char *tier;
	struct conf_list hosts; /* struct pb_host */
	int64_t deadline_ms;
	/* run-playbook */
	char *playbook;
	struct conf_origin origin;
};

struct playbook {
	char *name;
	char *title_ja, *title_en;
	char *description;
	struct conf_strings triggers; /* rule-name patterns (fnmatch) */
	struct conf_list params;      /* struct pb_param */
	struct conf_list steps;       /* struct pb_step, in order */
	struct conf_origin origin;    /* the file and the line of `name` */
};

/* playbook.c */
extern const char *const pb_step_types[];
extern const char *const pb_incident_facts[];
/*
 * Load and check one playbook file; the devices of expressions and writes
 * must be site's (NULL: not checked).  NULL with every problem added to
 * errs as FILE:LINE: key: reason.  The caller frees it with playbook_free().
 */
struct playbook *playbook_load(const char *, const struct conf *, struct conf_errors *);
void playbook_free(struct playbook *);
/*
 * Every *.conf of dir, in name order, names unique across files: 0 and *out
 * (an array of *n, the caller frees each and the array), or -1 with errs
 * and nothing in *out (a folder is taken whole).
 */
int playbook_load_dir(const char *, const struct conf *, struct playbook ***, size_t *,
    struct conf_errors *);
struct pb_step *playbook_step(const struct playbook *, size_t);
struct pb_param *playbook_param(const struct playbook *, size_t);
struct pb_step *playbook_step_named(const struct playbook *, const char *);
struct pb_param *playbook_param_named(const struct playbook *, const char *);
/* What `sonae playbook NAME` shows: titles, triggers, parameters, steps. */
json_t *playbook_json(const struct playbook *);

/*
 * The value of ${name}: a parameter's for this run (NULL: its default) or
 * an incident fact's ("incident.id"; NULL: there is none).
 */
typedef const char *(*pb_lookup_fn)(void *, const char *);
/*
 * Expand the ${name} of text (a parameter of pb or incident.id, .title,
 * .severity; "$${" is a literal "${") into *out (caller frees): 0, or -1
 * with why in err for an unknown name or one without a value.
 */
int pb_expand(
    const struct playbook *, const char *, pb_lookup_fn, void *, char **, char *, size_t);

/* schema_playbooks.c: the site's `playbooks` group and its folder. */
/* A parameter's value for a run: the site's, else the default; NULL: none. */
const char *pb_site_value(const struct conf *, const struct playbook *, const char *);
/* Whether one of the playbook's triggers (fnmatch patterns) names rule. */
int pb_triggered_by(const struct playbook *, const char *rule);
/* The site's loaded playbook of that name, or NULL. */
const struct playbook *pb_conf_playbook(const struct conf *, const char *);

#endif
