/*
 * The state snapshot, state_dir/state.json: what sonaed knows that it cannot
 * ask a device again after a restart.  Written atomically (temporary file,
 * fsync, rename, fsync of the folder), so a crash leaves the old snapshot or
 * the new one, never half of either.
 *
 * Restored readings are marked stale until the device answers again: they
 * are the last known values, not current ones.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"

#define STATE_FILE    "state.json"
#define STATE_VERSION 1

/*
 * Replace path with data durably: write a temporary file beside it, fsync,
 * rename over, fsync the folder.
 */
int
file_write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char *tmp, *copy;
	size_t off = 0;
	int fd, dfd;

	xasprintf(&tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto bad;
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto bad;
	close(fd);
	fd = -1;
	if (rename(tmp, path) == -1)
		goto bad;
	copy = xstrdup(path);
	if ((dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	free(copy);
	free(tmp);
	return 0;
bad:
	snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

static json_t *
state_series(const struct series *s)
{
	struct sample smp;
	json_t *o;

	if (series_latest(s, &smp) == -1)
		return NULL;
	o = json_pack("{s:s, s:s, s:I, s:s}", "name", series_name(s), "kind",
	    metric_kind_name(series_kind(s)), "t_ms", (json_int_t)smp.t_ms, "quality",
	    quality_name(smp.q));
	if (series_unit(s) != NULL)
		json_object_set_new(o, "unit", json_string(series_unit(s)));
	if (series_kind(s) == MK_TEXT)
		json_object_set_new(o, "value", json_string(smp.text != NULL ? smp.text : ""));
	else
		json_object_set_new(o, "value", isfinite(smp.num) ? json_real(smp.num) : json_null());
	if (smp.reason != NULL)
		json_object_set_new(o, "reason", json_string(smp.reason));
	return o;
}

/* Write the snapshot now. */
int
state_save(struct daemon *d, char *err, size_t errlen)
{
	const struct conf *conf = daemon_conf(d);
	json_t *root, *devs;
	struct device *dev;
	char *text, *path;
	size_t i;
	int rc;

	devs = json_object();
	for (i = 0; (dev = daemon_device_at(d, i)) != NULL; i++) {
		struct device_state *st = device_state(dev);
		json_t *metrics = json_array(), *o;
		struct series *s;

		for (s = store_first(daemon_store(d), device_name(dev)); s != NULL;
		     s = store_next(s))
			if ((o = state_series(s)) != NULL)
				json_array_append_new(metrics, o);
		o = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:o}", "contact",
		    contact_name(st->contact), "missed", st->missed, "since_ms",
		    (json_int_t)st->since_ms, "last_poll_ms", (json_int_t)st->last_poll_ms,
		    "last_ok_ms", (json_int_t)st->last_ok_ms, "polls", (json_int_t)st->polls,
		    "failures", (json_int_t)st->failures, "last_status",
		    poll_status_name(st->last_status), "reason", st->reason, "metrics",
		    metrics);
		json_object_set_new(devs, device_name(dev), o);
	}
	root = json_pack("{s:i, s:I, s:{s:I, s:s}, s:o}", "version", STATE_VERSION, "saved_ms",
	    (json_int_t)time_now_ms(), "audit", "seq",
	    (json_int_t)(daemon_audit(d) ? audit_seq(daemon_audit(d)) : 0), "head",
	    daemon_audit(d) ? audit_head(daemon_audit(d)) : "", "devices", devs);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL) {
		snprintf(err, errlen, "cannot encode the snapshot");
		return -1;
	}
	xasprintf(&path, "%s/%s", conf->daemon.state_dir, STATE_FILE);
	rc = file_write_atomic(path, text, strlen(text), err, errlen);
	free(path);
	free(text);
	return rc;
}

static void
state_restore_device(struct daemon *d, struct device *dev, json_t *o, int64_t saved_ms)
{
	struct device_state *st = device_state(dev);
	json_t *metrics = json_object_get(o, "metrics"), *m;
	char ts[64], why[128];
	size_t i;

	st->missed = (int)json_integer_value(json_object_get(o, "missed"));
	st->since_ms = json_integer_value(json_object_get(o, "since_ms"));
	st->last_poll_ms = json_integer_value(json_object_get(o, "last_poll_ms"));
	st->last_ok_ms = json_integer_value(json_object_get(o, "last_ok_ms"));
	st->polls = (uint64_t)json_integer_value(json_object_get(o, "polls"));
	st->failures = (uint64_t)json_integer_value(json_object_get(o, "failures"));
	if (json_is_string(json_object_get(o, "reason")))
		snprintf(st->reason, sizeof(st->reason), "%s",
		    json_string_value(json_object_get(o, "reason")));
	snprintf(why, sizeof(why), "restored from the snapshot of %s; not polled since",
	    time_format(saved_ms, ts, sizeof(ts)));
	json_array_foreach(metrics, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *kind = json_string_value(json_object_get(m, "kind"));
		const char *unit = json_string_value(json_object_get(m, "unit"));
		const char *q = json_string_value(json_object_get(m, "quality"));
		const char *reason = json_string_value(json_object_get(m, "reason"));
		json_t *v = json_object_get(m, "value");
		struct sample smp;
		int k;

		if (name == NULL || kind == NULL || (k = metric_kind_from_name(kind)) == -1)
			continue;
		memset(&smp, 0, sizeof(smp));
		smp.t_ms = json_integer_value(json_object_get(m, "t_ms"));
		smp.q = Q_STALE;
		smp.reason = q != NULL && strcmp(q, "ok") != 0 && reason != NULL ? reason : why;
		if (k == MK_TEXT)
			smp.text = json_is_string(v) ? json_string_value(v) : "";
		else
			smp.num = json_is_number(v) ? json_number_value(v) : NAN;
		series_update(store_series(daemon_store(d), device_name(dev), name, k, unit),
		    &smp);
	}
}

/*
 * Load the snapshot, if any, into the devices of the running configuration.
 * A damaged snapshot is set aside (renamed) and reported, never fatal.
 */
int
state_restore(struct daemon *d, char *err, size_t errlen)
{
	const struct conf *conf = daemon_conf(d);
	json_t *root, *devs, *o;
	json_error_t jerr;
	struct device *dev;
	char *path, *aside;
	int64_t saved;
	size_t i;
	int rc = 0;

	xasprintf(&path, "%s/%s", conf->daemon.state_dir, STATE_FILE);
	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		if (access(path, F_OK) == -1) {
			free(path);
			return 0;
		}
		xasprintf(&aside, "%s.damaged-%lld", path, (long long)time_now_ms());
		snprintf(err, errlen, "snapshot %s:%d: %s; set aside as %s", path, jerr.line,
		    jerr.text, aside);
		if (rename(path, aside) == -1)
			log_warn("rename %s", path);
		free(aside);
		free(path);
		return -1;
	}
	if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION) {
		snprintf(err, errlen, "snapshot %s: unknown version; ignored", path);
		rc = -1;
		goto out;
	}
	saved = json_integer_value(json_object_get(root, "saved_ms"));
	devs = json_object_get(root, "devices");
	for (i = 0; (dev = daemon_device_at(d, i)) != NULL; i++)
		if (json_is_object(o = json_object_get(devs, device_name(dev))))
			state_restore_device(d, dev, o, saved);
	o = json_object_get(root, "audit");
	if (daemon_audit(d) != NULL && json_is_object(o)) {
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
		if (seq > audit_seq(daemon_audit(d))) {
			snprintf(err, errlen,
			    "audit journal ends at seq %llu but the snapshot saw seq %llu: "
			    "entries were removed from its end",
			    (unsigned long long)audit_seq(daemon_audit(d)),
			    (unsigned long long)seq);
			rc = -1;
		}
	}
out:
	json_decref(root);
	free(path);
	return rc;
}
