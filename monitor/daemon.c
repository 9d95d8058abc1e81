/*
 * The running daemon: configuration, devices, store, journal and control
 * socket, and the one housekeeping timer that writes the snapshot.
 *
 * Reload parses the new file completely first.  If anything is wrong the
 * running configuration stays, untouched.  Otherwise devices whose
 * configuration is equal keep everything (schedule, contact state, probe
 * state, readings); changed devices restart with their readings kept;
 * removed devices and their readings go.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/engine.h"
#include "probes/probe.h"

#define HOUSEKEEPING_MS 1000

struct daemon {
	struct event_base *base;
	struct conf *conf;
	char *conf_path;
	struct store *store;
	struct audit *audit;
	struct control *control;
	struct trap_receiver *traps;
	struct detect *detect;
	struct alerts *alerts;
	struct pb_engine *playbooks;
	struct history *history; /* from daemon_start */
	struct roster *roster;   /* the staff and the operating mode */
	struct device **devs;
	size_t ndevs;
	struct hmap *byname;
	struct event *housekeeping;
	struct event *syncer; /* the journal's group commit, end of loop turn */
	int dirty;
	int64_t saved_mono;
	int64_t started_ms;
	json_t *last_reload;
	struct complaint save_failed;
};

static void
daemon_device_changed(struct device *dev, void *arg)
{
	struct daemon *d = arg;
	const struct device_state *st = device_state(dev);

	daemon_dirty(d);
	/* Before detection: an incident this poll opens has it in its context. */
	history_poll(d->history, d->store, device_name(dev),
	    device_kinds[device_conf(dev)->kind], st->last_status == POLL_OK,
	    st->last_poll_ms);
	detect_device_changed(d->detect, dev);
}

static void
daemon_sync_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)ev;
	audit_sync(d->audit);
}

/* What the alerts engine needs of the rest of the daemon. */
static json_t *
hook_incident(void *arg, uint64_t id)
{
	struct daemon *d = arg;

	return detect_incident_json(d->detect, id);
}

static json_t *
hook_incidents(void *arg)
{
	struct daemon *d = arg;

	return detect_incidents_json(d->detect, 0);
}

static const char *
hook_mode(void *arg)
{
	return daemon_mode(arg);
}

static const struct device_conf *
hook_device(void *arg, const char *name)
{
	struct device *dev = daemon_device(arg, name);

	return dev != NULL ? device_conf(dev) : NULL;
}

/* A beacon: a Modbus point or an SNMP object, written and read back. */
static int
hook_beacon(void *arg, const struct channel_conf *c, const char *value,
    void (*done)(void *, int, const char *), void *darg)
{
	struct device *dev = daemon_device(arg, c->device);

	if (dev == NULL)
		return -1;
	if (c->point != NULL)
		return modbus_write_point(dev, c->point, strtod(value, NULL), done, darg);
	return snmp_set(dev, c->oid, c->set_type[0], value, done, darg);
}

static void
hook_mail_path(void *arg, int down, const char *reason)
{
	struct daemon *d = arg;

	detect_mail_path(d->detect, down, reason,
	    d->conf->mail.cannot_leave_severity == 0 ? CHECK_WARNING : CHECK_CRITICAL);
}

static void
hook_journal(void *arg, const char *actor, const char *event, json_t *data)
{
	daemon_journal(arg, actor, event, data);
}

static void
hook_note(void *arg, uint64_t id, const char *event, const char *text)
{
	struct daemon *d = arg;

	detect_note(d->detect, id, "sonaed", event, text);
}

/* The incident's playbook runs, for its mails (the next human step). */
static json_t *
hook_playbook_runs(void *arg, uint64_t id)
{
	struct daemon *d = arg;

	return d->playbooks != NULL ? pb_engine_incident_runs(d->playbooks, id) : NULL;
}

static const struct mode_conf *
hook_mode_conf(void *arg)
{
	struct daemon *d = arg;

	return roster_mode_conf(d->roster);
}

static size_t
hook_resolve(void *arg, const struct conf_strings *refs, struct conf_strings *out)
{
	struct daemon *d = arg;

	return roster_resolve(d->roster, refs, time_now_ms(), out);
}

static void
hook_deferred(void *arg, uint64_t incident, const char *what)
{
	struct daemon *d = arg;

	roster_defer(d->roster, incident, what, time_now_ms());
}

static const struct alerts_hooks alerts_hooks = {
	.incident = hook_incident,
	.incidents = hook_incidents,
	.mode = hook_mode,
	.device = hook_device,
	.beacon = hook_beacon,
	.mail_path = hook_mail_path,
	.journal = hook_journal,
	.note = hook_note,
	.playbook_runs = hook_playbook_runs,
	.mode_conf = hook_mode_conf,
	.resolve = hook_resolve,
	.deferred = hook_deferred,
};

/* What the playbook engine needs of the rest of the daemon. */
static int
pbhook_eval(void *arg, const struct expr *x, char *why, size_t len)
{
	struct daemon *d = arg;

	return detect_eval(d->detect, x, why, len);
}

static int
pbhook_notify(
    void *arg, const struct pb_notice *n, uint64_t *queued, char *result, size_t len)
{
	struct daemon *d = arg;
	struct alerts_notice an = {
		.incident = n->incident,
		.playbook = n->playbook,
		.run = n->run,
		.step_title = n->step_title,
		.text = n->text,
		.severity = n->severity,
		.to = n->to,
		.drill = n->drill,
		.drill_to = n->drill_to,
		.actor = n->actor,
	};

	return alerts_notice(d->alerts, &an, queued, result, len);
}

static int
pbhook_snmp_set(void *arg, const char *device, const char *oid, char type,
    const char *value, void (*done)(void *, int, const char *), void *darg)
{
	struct device *dev = daemon_device(arg, device);

	if (dev == NULL)
		return -1;
	return snmp_set(dev, oid, type, value, done, darg);
}

static int
pbhook_modbus_write(void *arg, const char *device, const char *point, double value,
    void (*done)(void *, int, const char *), void *darg)
{
	struct device *dev = daemon_device(arg, device);

	if (dev == NULL)
		return -1;
	return modbus_write_point(dev, point, value, done, darg);
}

static int
pbhook_set_mode(void *arg, const char *mode, const char *actor, const char *why,
    char *err, size_t len)
{
	return daemon_set_mode(arg, mode, actor, why, err, len);
}

static const char *
pbhook_preapproved(void *arg, const char *playbook, const char *step)
{
	struct daemon *d = arg;

	return roster_preapproved(d->roster, playbook, step);
}

static const struct pb_hooks playbook_hooks = {
	.incident = hook_incident,
	.eval = pbhook_eval,
	.notify = pbhook_notify,
	.snmp_set = pbhook_snmp_set,
	.modbus_write = pbhook_modbus_write,
	.set_mode = pbhook_set_mode,
	.journal = hook_journal,
	.note = hook_note,
	.preapproved = pbhook_preapproved,
};

static void daemon_save(struct daemon *);

/* What the roster needs: the journal, the snapshot, mail to the staff. */
static void
rhook_save(void *arg, int now)
{
	struct daemon *d = arg;

	if (now)
		daemon_save(d);
	else
		daemon_dirty(d);
}

static void
rhook_announce(void *arg, const char *title, const char *body,
    const struct conf_strings *to, const char *actor)
{
	struct daemon *d = arg;
	char err[256];

	if (alerts_announce(
	        d->alerts, "mode", title, body, to, actor, NULL, err, sizeof(err)) == -1)
		log_warnx("operating mode: the staff could not be told: %s", err);
}

static void
rhook_mode_changed(void *arg)
{
	struct daemon *d = arg;

	if (d->alerts != NULL)
		alerts_mode_changed(d->alerts);
}

static const struct roster_hooks roster_hooks = {
	.journal = hook_journal,
	.save = rhook_save,
	.announce = rhook_announce,
	.mode_changed = rhook_mode_changed,
};

static struct device *
daemon_add_device(struct daemon *d, const struct device_conf *c)
{
	struct device *dev = device_new(d->base, d->store, c);

	device_set_change_cb(dev, daemon_device_changed, d);
	return dev;
}

/* Build the daemon for a validated configuration (taken over). */
struct daemon *
daemon_new(struct event_base *base, struct conf *conf, const char *conf_path)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	size_t i;

	d->base = base;
	d->conf = conf;
	d->conf_path = xstrdup(conf_path);
	d->store = store_new((size_t)conf->store.history);
	d->byname = hmap_new();
	d->ndevs = conf->devices.n;
	d->devs = xcalloc(d->ndevs, sizeof(*d->devs));
	d->started_ms = time_now_ms();
	d->last_reload = json_null();
	for (i = 0; i < d->ndevs; i++) {
		d->devs[i] = daemon_add_device(d, conf_device(conf, i));
		hmap_put(d->byname, conf_device(conf, i)->name, d->devs[i]);
	}
	d->syncer = event_new(base, -1, 0, daemon_sync_cb, d);
	d->roster = roster_new(base, conf, &roster_hooks, d, d->started_ms);
	d->detect = detect_new(base, d);
	detect_configure(d->detect, conf);
	d->alerts = alerts_new(base, &alerts_hooks, d);
	alerts_configure(d->alerts, conf);
	d->playbooks = pb_engine_new(base, &playbook_hooks, d);
	pb_engine_configure(d->playbooks, conf);
	return d;
}

/*
 * Create state_dir if needed and give it to the user the daemon will run
 * as; refuse a folder that others may write to.
 */
int
daemon_prepare_state_dir(
    const struct conf *conf, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	const char *dir = conf->daemon.state_dir;
	struct stat st;

	if (mkdir(dir, 0750) == 0) {
		if (geteuid() == 0 && chown(dir, uid, gid) == -1) {
			snprintf(
			    err, errlen, "state_dir %s: chown: %s", dir, strerror(errno));
			return -1;
		}
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state_dir %s: not a folder", dir);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errlen,
		    "state_dir %s: writable by others (mode %04o); refusing", dir,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static void
daemon_save(struct daemon *d)
{
	char err[512];

	if (detect_save(d->detect, err, sizeof(err)) == -1)
		log_warnx("detection state: %s", err);
	if (alerts_save(d->alerts, err, sizeof(err)) == -1)
		log_warnx("alerts state: %s", err);
	if (state_save(d, err, sizeof(err)) == -1) {
		complain(&d->save_failed, "state snapshot: %s", err);
		return;
	}
	complain_release(&d->save_failed, "state snapshot: written again");
	d->dirty = 0;
	d->saved_mono = time_mono_ms();
}

static void
daemon_housekeeping(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)ev;
	history_tick(d->history, time_now_ms());
	if (d->dirty &&
	    time_mono_ms() - d->saved_mono >= d->conf->daemon.snapshot_interval_ms)
		daemon_save(d);
}

/*
 * Bind what needs privileges besides the control socket (the trap
 * receiver: port 162); sonaed calls this before it drops them.
 */
int
daemon_listen(struct daemon *d, char *err, size_t errlen)
{
	if (!d->conf->traps.on)
		return 0;
	if ((d->traps = trap_new(d->base, d, d->conf, err, errlen)) == NULL)
		return -1;
	return 0;
}

/*
 * Open the journal, restore the snapshot and start polling.  Runs after
 * privileges are dropped, so files are created as the daemon's user.
 */
int
daemon_start(struct daemon *d, char *err, size_t errlen)
{
	struct timeval tv = { HOUSEKEEPING_MS / 1000, (HOUSEKEEPING_MS % 1000) * 1000 };
	char why[512];
	size_t i;

	if ((d->audit = audit_open(d->conf->daemon.state_dir, err, errlen)) == NULL)
		return -1;
	d->history = history_new(d->conf->daemon.state_dir);
	if (state_restore(d, why, sizeof(why)) == -1) {
		log_warnx("%s", why);
		daemon_journal(
		    d, "sonaed", "state.problem", json_pack("{s:s}", "problem", why));
	}
	if (detect_restore(d->detect, why, sizeof(why)) == -1) {
		log_warnx("%s", why);
		daemon_journal(
		    d, "sonaed", "state.problem", json_pack("{s:s}", "problem", why));
	}
	if (alerts_start(d->alerts, why, sizeof(why)) == -1) {
		/* Incidents are still detected and journaled; mail waits. */
		log_warnx("alerts: %s; no mail can be sent", why);
		daemon_journal(
		    d, "sonaed", "state.problem", json_pack("{s:s}", "problem", why));
	}
	/* Overdue --until times and step-downs, now that mail can be queued. */
	roster_start(d->roster, time_now_ms());
	if (pb_engine_start(d->playbooks, d->conf->daemon.state_dir, why, sizeof(why)) ==
	    -1) {
		/* Runs cannot be checkpointed: they would not survive a crash. */
		log_warnx("playbooks: %s", why);
		daemon_journal(
		    d, "sonaed", "state.problem", json_pack("{s:s}", "problem", why));
	}
	for (i = 0; i < d->ndevs; i++)
		if (device_start(d->devs[i]) == -1)
			log_warnx("device \"%s\": probe refused to start",
			    device_name(d->devs[i]));
	d->housekeeping = event_new(d->base, -1, EV_PERSIST, daemon_housekeeping, d);
	event_add(d->housekeeping, &tv);
	d->saved_mono = time_mono_ms();
	daemon_journal(d, "sonaed", "daemon.start",
	    json_pack("{s:s, s:i, s:s, s:i}", "version", SONAE_VERSION, "pid",
	        (int)getpid(), "config", d->conf_path, "devices", (int)d->ndevs));
	log_info("started: site \"%s\", %zu devices, config %s", d->conf->site.name,
	    d->ndevs, d->conf_path);
	return 0;
}

/* Stop polling, write the snapshot, record the stop. */
void
daemon_shutdown(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->ndevs; i++)
		device_stop(d->devs[i]);
	if (d->audit != NULL) {
		daemon_journal(
		    d, "sonaed", "daemon.stop", json_pack("{s:i}", "pid", (int)getpid()));
		daemon_save(d);
	}
	history_flush(d->history);
}

/* Free the daemon and everything it owns. Takes NULL. */
void
daemon_free(struct daemon *d)
{
	size_t i;

	if (d == NULL)
		return;
	control_free(d->control);
	trap_free(d->traps);
	pb_engine_free(d->playbooks);
	alerts_free(d->alerts);
	detect_free(d->detect);
	history_free(d->history);
	roster_free(d->roster);
	if (d->housekeeping != NULL)
		event_free(d->housekeeping);
	if (d->syncer != NULL)
		event_free(d->syncer);
	for (i = 0; i < d->ndevs; i++)
		device_free(d->devs[i]);
	free(d->devs);
	hmap_free(d->byname);
	store_free(d->store);
	audit_close(d->audit);
	conf_free(d->conf);
	json_decref(d->last_reload);
	free(d->conf_path);
	free(d);
}

static json_t *
names_json(const char *const *names, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

/*
 * The trap receiver after a reload: opened, moved, kept or closed.  Binding
 * a new address may fail (port 162 after the privilege drop): that is
 * logged and the receiver stays where it was; the reload itself goes on.
 */
static void
daemon_reload_traps(struct daemon *d, const struct conf *nc)
{
	char err[512];

	if (!nc->traps.on) {
		if (d->traps != NULL)
			log_info("traps: receiver closed (no traps group any more)");
		trap_free(d->traps);
		d->traps = NULL;
	} else if (d->traps == NULL) {
		if ((d->traps = trap_new(d->base, d, nc, err, sizeof(err))) == NULL)
			log_warnx("%s; no trap receiver", err);
	} else
		trap_reconf(d->traps, nc, err, sizeof(err));
}

/*
 * Reload the configuration file.  Returns 0 with a summary in msg, or -1
 * with the reason (the running configuration is kept whole).
 */
int
daemon_reload(struct daemon *d, const char *actor, char *msg, size_t msglen)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *nc, *oc;
	struct device **ndevs;
	struct hmap *nbyname;
	const char **added, **removed, **changed;
	size_t nadded = 0, nremoved = 0, nchanged = 0, nkept = 0, i;
	json_t *o;
	char ts[64];

	if ((nc = conf_load(d->conf_path, &errs)) == NULL) {
		json_t *list = json_array();
		for (i = 0; i < errs.n; i++) {
			log_warnx("reload refused: %s", errs.v[i]);
			json_array_append_new(list, json_string(errs.v[i]));
		}
		snprintf(msg, msglen,
		    "configuration refused (%zu error%s; first: %s); the running "
		    "configuration is kept",
		    errs.n, errs.n == 1 ? "" : "s", errs.n > 0 ? errs.v[0] : "?");
		json_decref(d->last_reload);
		d->last_reload = json_pack("{s:o, s:s, s:b, s:O}", "time",
		    json_string(time_format(time_now_ms(), ts, sizeof(ts))), "actor",
		    actor, "ok", 0, "errors", list);
		daemon_journal(d, actor, "config.reload",
		    json_pack("{s:b, s:s, s:o}", "ok", 0, "config", d->conf_path,
		        "errors", list));
		conf_errors_clear(&errs);
		return -1;
	}
	if (tz_apply(nc->site.timezone) == -1)
		log_warnx("site.timezone %s: cannot apply", nc->site.timezone);
	store_set_history(d->store, (size_t)nc->store.history);
	if (d->control != NULL)
		control_reconf(d->control, nc);
	daemon_reload_traps(d, nc);

	added = xcalloc(nc->devices.n, sizeof(char *));
	changed = xcalloc(nc->devices.n, sizeof(char *));
	removed = xcalloc(d->ndevs, sizeof(char *));
	ndevs = xcalloc(nc->devices.n, sizeof(*ndevs));
	nbyname = hmap_new();
	for (i = 0; i < nc->devices.n; i++)
		hmap_put(nbyname, conf_device(nc, i)->name, conf_device(nc, i));
	/* Devices no longer in the file go first, with their readings. */
	for (i = 0; i < d->ndevs; i++) {
		const char *name = device_name(d->devs[i]);
		if (hmap_get(nbyname, name) == NULL) {
			removed[nremoved++] = name; /* the old conf lives until the end */
			hmap_del(d->byname, name);
			store_drop_device(d->store, name);
			device_free(d->devs[i]);
		}
	}
	for (i = 0; i < nc->devices.n; i++) {
		const struct device_conf *c = conf_device(nc, i);
		struct device *old = hmap_del(d->byname, c->name);

		if (old != NULL && conf_equal(&conf_device_table, device_conf(old), c)) {
			device_set_conf(old, c);
			ndevs[i] = old;
			nkept++;
		} else {
			if (old != NULL) {
				device_free(old);
				changed[nchanged++] = c->name;
			} else
				added[nadded++] = c->name;
			ndevs[i] = daemon_add_device(d, c);
			if (device_start(ndevs[i]) == -1)
				log_warnx(
				    "device \"%s\": probe refused to start", c->name);
		}
		hmap_put(nbyname, c->name, ndevs[i]);
	}
	o = json_pack("{s:b, s:s, s:o, s:o, s:o, s:i}", "ok", 1, "config", d->conf_path,
	    "added", names_json(added, nadded), "changed", names_json(changed, nchanged),
	    "removed", names_json(removed, nremoved), "unchanged", (int)nkept);
	hmap_free(d->byname);
	free(d->devs);
	d->byname = nbyname;
	d->devs = ndevs;
	d->ndevs = nc->devices.n;
	detect_configure(d->detect, nc);
	alerts_configure(d->alerts, nc);
	pb_engine_configure(d->playbooks, nc);
	oc = d->conf;
	d->conf = nc;
	/* Availability of staff still configured is kept; the mode follows. */
	roster_configure(d->roster, nc, actor, time_now_ms());
	conf_free(oc);

	snprintf(msg, msglen,
	    "reloaded: %zu added, %zu changed, %zu removed, %zu unchanged", nadded,
	    nchanged, nremoved, nkept);
	log_info("%s (by %s)", msg, actor);
	json_decref(d->last_reload);
	d->last_reload = json_deep_copy(o);
	json_object_set_new(d->last_reload, "time",
	    json_string(time_format(time_now_ms(), ts, sizeof(ts))));
	json_object_set_new(d->last_reload, "actor", json_string(actor));
	daemon_journal(d, actor, "config.reload", o);
	free(added);
	free(changed);
	free(removed);
	daemon_dirty(d);
	return 0;
}

/*
 * Append to the audit journal; a journal that cannot be written is logged
 * loudly but never stops the daemon.
 */
int
daemon_journal(struct daemon *d, const char *actor, const char *action, json_t *detail)
{
	if (d->audit == NULL) {
		json_decref(detail);
		return -1;
	}
	if (audit_append(d->audit, actor, action, detail) == -1)
		return -1;
	if (d->syncer != NULL)
		event_active(d->syncer, 0, 0);
	daemon_dirty(d);
	return 0;
}

/* Something in the snapshot changed: write it within snapshot_interval. */
void
daemon_dirty(struct daemon *d)
{
	d->dirty = 1;
}

/* The running configuration. */
const struct conf *
daemon_conf(const struct daemon *d)
{
	return d->conf;
}

/* The configuration file, re-read on reload. */
const char *
daemon_conf_path(const struct daemon *d)
{
	return d->conf_path;
}

/* The metric store. */
struct store *
daemon_store(const struct daemon *d)
{
	return d->store;
}

/* The audit journal, or NULL before start. */
struct audit *
daemon_audit(const struct daemon *d)
{
	return d->audit;
}

/* The device named name, or NULL. */
struct device *
daemon_device(const struct daemon *d, const char *name)
{
	return hmap_get(d->byname, name);
}

/* The i-th device in configuration order, or NULL past the end. */
struct device *
daemon_device_at(const struct daemon *d, size_t i)
{
	return i < d->ndevs ? d->devs[i] : NULL;
}

/* Number of devices. */
size_t
daemon_device_count(const struct daemon *d)
{
	return d->ndevs;
}

/* When the daemon started (wall clock). */
int64_t
daemon_started_ms(const struct daemon *d)
{
	return d->started_ms;
}

/* The outcome of the last reload (JSON null if none). */
json_t *
daemon_last_reload(const struct daemon *d)
{
	return d->last_reload;
}

/* Attach the control socket (bound before privileges were dropped). */
void
daemon_set_control(struct daemon *d, struct control *ctl)
{
	d->control = ctl;
}

/* The control socket. */
struct control *
daemon_control(const struct daemon *d)
{
	return d->control;
}

/* The detection layer. */
struct detect *
daemon_detect(const struct daemon *d)
{
	return d->detect;
}

/* The trap receiver, or NULL. */
struct trap_receiver *
daemon_traps(const struct daemon *d)
{
	return d->traps;
}

/* The alerts engine. */
struct alerts *
daemon_alerts(const struct daemon *d)
{
	return d->alerts;
}

/* The detection layer decided to tell people about an incident. */
void
daemon_alert(struct daemon *d, uint64_t id, int64_t opened_ms, const char *what)
{
	if (d->alerts != NULL)
		alerts_incident(d->alerts, id, opened_ms, what);
}

/* The operating mode now (roster.c): routes' `modes` match its name. */
const char *
daemon_mode(const struct daemon *d)
{
	return roster_mode(d->roster);
}

/*
 * A playbook's set-mode step: a declared mode, with the run's requester as
 * actor; an unknown mode is refused so that the step fails.
 */
int
daemon_set_mode(struct daemon *d, const char *mode, const char *actor, const char *why,
    char *err, size_t errlen)
{
	return roster_declare(d->roster, mode, actor, why, time_now_ms(), err, errlen);
}

/* The staff roster and the operating mode. */
struct roster *
daemon_roster(const struct daemon *d)
{
	return d->roster;
}

/* detect.c: an incident opened; its playbooks start (playbooks/engine.c). */
void
daemon_playbooks(struct daemon *d, uint64_t id, const char *rule, const char *playbook,
    const char *actor, const char *held)
{
	if (d->playbooks != NULL)
		pb_engine_incident(d->playbooks, id, rule, playbook, actor, held);
}

/* The playbook engine. */
struct pb_engine *
daemon_playbook_engine(const struct daemon *d)
{
	return d->playbooks;
}

/* What the reports need recorded (history.c), or NULL before start. */
struct history *
daemon_history(const struct daemon *d)
{
	return d->history;
}
