/*
 * The detection layer (skeleton: the engine follows).
 */
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

struct detect {
	struct event_base *base;
	struct daemon *d;
};

static const char *const ack_kind_names[] = { "normal", "sticky", "expiring" };

const char *
ack_kind_name(enum ack_kind k)
{
	return (size_t)k < 3 ? ack_kind_names[k] : "?";
}

struct detect *
detect_new(struct event_base *base, struct daemon *d)
{
	struct detect *e = xcalloc(1, sizeof(*e));

	e->base = base;
	e->d = d;
	return e;
}

void
detect_free(struct detect *e)
{
	free(e);
}

void
detect_configure(struct detect *e, const struct conf *conf)
{
	(void)e;
	(void)conf;
}

int
detect_restore(struct detect *e, char *err, size_t errlen)
{
	(void)e;
	(void)err;
	(void)errlen;
	return 0;
}

int
detect_save(struct detect *e, char *err, size_t errlen)
{
	(void)e;
	(void)err;
	(void)errlen;
	return 0;
}

void
detect_device_changed(struct detect *e, struct device *dev)
{
	(void)e;
	(void)dev;
}

json_t *
detect_status_json(struct detect *e)
{
	(void)e;
	return json_object();
}

json_t *
detect_incidents_json(struct detect *e, int all)
{
	(void)e;
	(void)all;
	return json_pack("{s:[]}", "incidents");
}

json_t *
detect_incident_json(struct detect *e, uint64_t id)
{
	(void)e;
	(void)id;
	return NULL;
}

json_t *
detect_detectors_json(struct detect *e)
{
	(void)e;
	return json_pack("{s:[]}", "detectors");
}

int
detect_ack(struct detect *e, uint64_t id, const char *actor, enum ack_kind k,
    int64_t expire_ms, const char *text, char *err, size_t errlen)
{
	(void)e, (void)actor, (void)k, (void)expire_ms, (void)text;
	snprintf(err, errlen, "no incident %llu", (unsigned long long)id);
	return -1;
}

int
detect_declare(struct detect *e, const char *kind, enum check_state sev,
    const char *actor, const char *text, uint64_t *id, char *err, size_t errlen)
{
	(void)e, (void)kind, (void)sev, (void)actor, (void)text, (void)id;
	snprintf(err, errlen, "not yet");
	return -1;
}

int
detect_resolve(struct detect *e, uint64_t id, const char *actor, const char *text,
    char *err, size_t errlen)
{
	(void)e, (void)actor, (void)text;
	snprintf(err, errlen, "no incident %llu", (unsigned long long)id);
	return -1;
}

int
detect_window_add(
    struct detect *e, struct window *w, const char *actor, char *err, size_t errlen)
{
	(void)e, (void)actor;
	window_free(w);
	snprintf(err, errlen, "not yet");
	return -1;
}

int
detect_window_remove(struct detect *e, const char *id, const char *actor,
    const char *text, char *err, size_t errlen)
{
	(void)e, (void)actor, (void)text;
	snprintf(err, errlen, "no window %s", id);
	return -1;
}

json_t *
detect_windows_json(struct detect *e)
{
	(void)e;
	return json_pack("{s:[]}", "windows");
}
