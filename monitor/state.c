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
 * Begin replacing path durably: the data goes to a temporary file beside
 * it, and only atomic_commit() puts it in place.
 */
int
atomic_open(struct atomic_file *af, const char *path, char *err, size_t errlen)
{
	int fd;

	af->path = xstrdup(path);
	xasprintf(&af->tmp, "%s.tmp", path);
	if ((fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) == -1 ||
	    (af->f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", af->tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		free(af->tmp);
		free(af->path);
		return -1;
	}
	return 0;
}

/* Give up on an atomic_open(): the old file stays as it was. */
void
atomic_abort(struct atomic_file *af)
{
	fclose(af->f);
	unlink(af->tmp);
	free(af->tmp);
	free(af->path);
}

/* Flush, fsync, rename over the old file, fsync the folder. */
int
atomic_commit(struct atomic_file *af, char *err, size_t errlen)
{
	char *copy;
	int dfd, rc = 0;

	if (fflush(af->f) == EOF || ferror(af->f) || fsync(fileno(af->f)) == -1) {
		snprintf(err, errlen, "%s: %s", af->tmp, strerror(errno));
		atomic_abort(af);
		return -1;
	}
	fclose(af->f);
	if (rename(af->tmp, af->path) == -1) {
		snprintf(err, errlen, "%s: %s", af->path, strerror(errno));
		unlink(af->tmp);
		free(af->tmp);
		free(af->path);
		return -1;
	}
	/* The rename is durable only once the folder is. */
	copy = xstrdup(af->path);
	if ((dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		snprintf(
		    err, errlen, "%s: folder not synced: %s", af->path, strerror(errno));
		rc = -1;
	}
	if (dfd != -1)
		close(dfd);
	free(copy);
	free(af->tmp);
	free(af->path);
	return rc;
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
		json_object_set_new(
		    o, "value", json_string(smp.text != NULL ? smp.text : ""));
	else
		json_object_set_new(
		    o, "value", isfinite(smp.num) ? json_real(smp.num) : json_null());
	if (smp.reason != NULL)
		json_object_set_new(o, "reason", json_string(smp.reason));
	return o;
}

static json_t *
state_device(struct daemon *d, struct device *dev)
{
	struct device_state *st = device_state(dev);
	json_t *metrics = json_array(), *o;
	struct series *s;

	for (s = store_first(daemon_store(d), device_name(dev)); s != NULL;
	     s = store_next(s))
		if ((o = state_series(s)) != NULL)
			json_array_append_new(metrics, o);
	return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:o}", "contact",
	    contact_name(st->contact), "missed", st->missed, "since_ms",
	    (json_int_t)st->since_ms, "last_poll_ms", (json_int_t)st->last_poll_ms,
	    "last_ok_ms", (json_int_t)st->last_ok_ms, "polls", (json_int_t)st->polls,
	    "failures", (json_int_t)st->failures, "last_status",
	    poll_status_name(st->last_status), "reason", st->reason, "metrics", metrics);
}

/*
 * Write the snapshot now.  It is streamed one device at a time, so that a
 * site of thousands of devices never holds the whole document in memory.
 */
int
state_save(struct daemon *d, char *err, size_t errlen)
{
	const struct conf *conf = daemon_conf(d);
	struct audit *a = daemon_audit(d);
	struct atomic_file af;
	struct device *dev;
	json_t *head;
	char *path;
	size_t i;
	int rc;

	xasprintf(&path, "%s/%s", conf->daemon.state_dir, STATE_FILE);
	rc = atomic_open(&af, path, err, errlen);
	free(path);
	if (rc == -1)
		return -1;
	/* "mode" as before, for older readers; "roster" has the whole of it. */
	head = json_pack("{s:i, s:I, s:{s:I, s:s}, s:s, s:o}", "version", STATE_VERSION,
	    "saved_ms", (json_int_t)time_now_ms(), "audit", "seq",
	    (json_int_t)(a ? audit_seq(a) : 0), "head", a ? audit_head(a) : "", "mode",
	    daemon_mode(d), "roster", roster_to_json(daemon_roster(d)));
	/* The head object without its closing brace, then "devices":{...}}. */
	rc = json_dumpf(head, af.f, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(head);
	if (rc == 0 && fseek(af.f, -1, SEEK_CUR) == 0)
		fputs(",\"devices\":{", af.f);
	for (i = 0; rc == 0 && (dev = daemon_device_at(d, i)) != NULL; i++) {
		json_t *key = json_string(device_name(dev)), *o = state_device(d, dev);
		if (i > 0)
			fputc(',', af.f);
		rc = json_dumpf(key, af.f, JSON_ENCODE_ANY);
		fputc(':', af.f);
		rc |= json_dumpf(o, af.f, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(key);
		json_decref(o);
	}
	fputs("}}\n", af.f);
	if (rc != 0) {
		snprintf(err, errlen, "cannot encode the snapshot");
		atomic_abort(&af);
		return -1;
	}
	return atomic_commit(&af, err, errlen);
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

		if (name == NULL || kind == NULL ||
		    (k = metric_kind_from_name(kind)) == -1)
			continue;
		memset(&smp, 0, sizeof(smp));
		smp.t_ms = json_integer_value(json_object_get(m, "t_ms"));
		smp.q = Q_STALE;
		smp.reason =
		    q != NULL && strcmp(q, "ok") != 0 && reason != NULL ? reason : why;
		if (k == MK_TEXT)
			smp.text = json_is_string(v) ? json_string_value(v) : "";
		else
			smp.num = json_is_number(v) ? json_number_value(v) : NAN;
		series_update(
		    store_series(daemon_store(d), device_name(dev), name, k, unit), &smp);
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
		snprintf(err, errlen, "snapshot %s:%d: %s; set aside as %s", path,
		    jerr.line, jerr.text, aside);
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
	if (json_is_object(json_object_get(root, "roster"))) {
		if (roster_from_json(daemon_roster(d), json_object_get(root, "roster"),
		        err, errlen) == -1)
			rc = -1;
	} else if (json_is_string(json_object_get(root, "mode")))
		roster_restore_mode(
		    daemon_roster(d), json_string_value(json_object_get(root, "mode")));
	o = json_object_get(root, "audit");
	if (daemon_audit(d) != NULL && json_is_object(o)) {
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
		if (seq > audit_seq(daemon_audit(d))) {
			snprintf(err, errlen,
			    "audit journal ends at seq %llu but the snapshot saw seq "
			    "%llu: "
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
