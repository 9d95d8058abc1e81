/*
 * The site's `playbooks` group: the folder of playbooks, who a drill
 * notifies, and the site's values of the playbooks' parameters.
 *
 * The folder is loaded and checked with the site while the site's own file
 * is: a playbook that does not load, a parameter the site sets that no
 * playbook declares, a rule that names a playbook that is not there, or a
 * triggered playbook with a parameter nobody gave a value, is an error of
 * the configuration -- refused by `sonae validate` and by a reload, never
 * discovered at 3 a.m. when the incident opens.
 */
#include <fnmatch.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/playbook.h"

static void
param_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct pb_param_conf *p = obj;

	p->origin.file = xstrdup(conf_file(ctx, g));
	p->origin.line = (unsigned)config_setting_source_line(g);
}

static void
param_release(void *obj)
{
	struct pb_param_conf *p = obj;

	free(p->origin.file);
	p->origin.file = NULL;
}

static const struct conf_key param_keys[] = {
	{ .name = "playbook",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_param_conf, playbook),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "The playbook, by name." },
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_param_conf, name),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "One of its `parameters`." },
	{ .name = "value",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_param_conf, value),
	    .max = 4096,
	    .flags = CK_REQUIRED,
	    .help = "The site's value, as a string (`\"27\"`); it replaces the "
	            "playbook's default." },
	{ 0 },
};

static const struct conf_table param_table = {
	.name = "playbooks.parameters",
	.help = "A site's value of one playbook parameter.",
	.size = sizeof(struct pb_param_conf),
	.keys = param_keys,
	.check = param_check,
	.release = param_release,
};

static void
playbooks_release(void *obj)
{
	struct conf *conf = obj;
	size_t i;

	for (i = 0; i < conf->playbooks.nloaded; i++)
		playbook_free(conf->playbooks.loaded[i]);
	free(conf->playbooks.loaded);
	conf->playbooks.loaded = NULL;
	conf->playbooks.nloaded = 0;
}

static const struct conf_key playbooks_keys[] = {
	{ .name = "dir",
	    .type = CT_PATH,
	    .off = offsetof(struct conf, playbooks.dir),
	    .min = 1,
	    .max = 4096,
	    .help = "The folder of playbooks (docs/playbooks.md): every `*.conf` in "
	            "it, loaded and checked with this file. sonae ships eight in "
	            "`playbooks/library/`. Unset: no playbooks." },
	{ .name = "drill_to",
	    .type = CT_STRINGS,
	    .off = offsetof(struct conf, playbooks.drill_to),
	    .help = "Who a drill's `notify` steps mail, instead of anyone else "
	            "(`sonae drill`); their subjects start with 【訓練】[DRILL]. "
	            "Empty: a drill's notifications are recorded, not sent." },
	{ .name = "parameters",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, playbooks.params),
	    .sub = &param_table,
	    .max = 10000,
	    .help = "The site's values of the playbooks' parameters (hosts, "
	            "contacts, thresholds): `{ playbook; name; value; }`." },
	{ 0 },
};

const struct conf_table conf_playbooks_table = {
	.name = "playbooks",
	.help = "Emergency-response playbooks (docs/playbooks.md): where they are, "
	        "and what the site fills in.",
	.keys = playbooks_keys,
	.release = playbooks_release,
};

static const struct playbook *
loaded_named(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->playbooks.nloaded; i++)
		if (strcmp(conf->playbooks.loaded[i]->name, name) == 0)
			return conf->playbooks.loaded[i];
	return NULL;
}

/* The site's value of a playbook's parameter, or NULL. */
static const struct pb_param_conf *
site_value(const struct conf *conf, const char *playbook, const char *name)
{
	size_t i;

	for (i = 0; i < conf->playbooks.params.n; i++) {
		const struct pb_param_conf *p =
		    (const struct pb_param_conf *)conf->playbooks.params.items + i;
		if (p->playbook != NULL && p->name != NULL &&
		    strcmp(p->playbook, playbook) == 0 && strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

/* Whether a rule or a trigger starts pb on its own (so every value is needed). */
static int
started_by_site(const struct conf *conf, const struct playbook *pb)
{
	size_t i;

	if (pb->triggers.n > 0)
		return 1;
	for (i = 0; i < conf->rules.n; i++) {
		const char *n = conf_rule(conf, i)->k.playbook;
		if (n != NULL && strcmp(n, pb->name) == 0)
			return 1;
	}
	for (i = 0; i < conf->checks.n; i++) {
		const char *n = conf_check(conf, i)->k.playbook;
		if (n != NULL && strcmp(n, pb->name) == 0)
			return 1;
	}
	return 0;
}

static void
rule_refs_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf,
    const char *list, size_t n, struct detect_keys *(*at)(const struct conf *, size_t))
{
	config_setting_t *l = config_setting_get_member(root, list);
	size_t i;

	for (i = 0; i < n; i++) {
		const struct detect_keys *k = at(conf, i);
		config_setting_t *item, *s;
		if (k->playbook == NULL || loaded_named(conf, k->playbook) != NULL)
			continue;
		item = l != NULL ? config_setting_get_elem(l, (unsigned)i) : NULL;
		s = item != NULL ? config_setting_get_member(item, "playbook") : NULL;
		if (conf->playbooks.dir == NULL)
			conf_error(ctx, s != NULL ? s : root,
			    "\"%s\": no playbooks are configured (playbooks.dir)",
			    k->playbook);
		else
			conf_error(ctx, s != NULL ? s : root, "\"%s\" is not in %s",
			    k->playbook, conf->playbooks.dir);
	}
}

static struct detect_keys *
rule_keys(const struct conf *conf, size_t i)
{
	return &conf_rule(conf, i)->k;
}

static struct detect_keys *
check_keys(const struct conf *conf, size_t i)
{
	return &conf_check(conf, i)->k;
}

/*
 * Load the folder once the rest of the file is read (devices are needed to
 * check expressions and writes), then check what refers to playbooks.
 */
void
schema_playbooks_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	config_setting_t *g = config_setting_get_member(root, "playbooks");
	config_setting_t *plist =
	    g != NULL ? config_setting_get_member(g, "parameters") : NULL;
	size_t i, k;

	if (conf->playbooks.dir != NULL &&
	    playbook_load_dir(conf->playbooks.dir, conf, &conf->playbooks.loaded,
	        &conf->playbooks.nloaded, conf_ctx_errors(ctx)) == -1)
		return; /* its errors say why; the references would only repeat them */
	rule_refs_check(ctx, root, conf, "rules", conf->rules.n, rule_keys);
	rule_refs_check(ctx, root, conf, "checks", conf->checks.n, check_keys);
	for (i = 0; i < conf->playbooks.drill_to.n; i++)
		if (!mail_address_valid(conf->playbooks.drill_to.v[i]))
			conf_error(ctx, config_setting_get_member(g, "drill_to"),
			    "\"%s\" is not a plain address (local@domain)",
			    conf->playbooks.drill_to.v[i]);
	for (i = 0; i < conf->playbooks.params.n; i++) {
		const struct pb_param_conf *p =
		    (const struct pb_param_conf *)conf->playbooks.params.items + i;
		config_setting_t *item =
		    plist != NULL ? config_setting_get_elem(plist, (unsigned)i) : NULL;
		const struct playbook *pb;
		if (p->playbook == NULL || p->name == NULL)
			continue; /* reported: required */
		if ((pb = loaded_named(conf, p->playbook)) == NULL)
			conf_error(ctx, item, "playbook \"%s\" is not in %s", p->playbook,
			    conf->playbooks.dir != NULL ? conf->playbooks.dir
			                                : "any folder (playbooks.dir)");
		else if (playbook_param_named(pb, p->name) == NULL)
			conf_error(ctx, item, "playbook \"%s\" has no parameter \"%s\"",
			    p->playbook, p->name);
		else if (site_value(conf, p->playbook, p->name) != p)
			conf_error(ctx, item, "%s.%s is already set at %s:%u",
			    p->playbook, p->name,
			    site_value(conf, p->playbook, p->name)->origin.file,
			    site_value(conf, p->playbook, p->name)->origin.line);
	}
	for (i = 0; i < conf->playbooks.nloaded; i++) {
		const struct playbook *pb = conf->playbooks.loaded[i];
		for (k = 0; k < pb->steps.n; k++) {
			const struct pb_step *s = playbook_step(pb, k);
			if (s->type == PB_RUN_PLAYBOOK &&
			    loaded_named(conf, s->playbook) == NULL)
				conf_error_at(ctx, s->origin.file, s->origin.line, 0,
				    "playbook: \"%s\" is not in %s", s->playbook,
				    conf->playbooks.dir);
		}
		if (!started_by_site(conf, pb))
			continue; /* `sonae run --set` may still give what is missing */
		for (k = 0; k < pb->params.n; k++) {
			const struct pb_param *pp = playbook_param(pb, k);
			if (pp->def == NULL &&
			    site_value(conf, pb->name, pp->name) == NULL)
				conf_error_at(ctx, pp->origin.file, pp->origin.line, 0,
				    "parameter %s has no default and the site gives no "
				    "value (playbooks.parameters), yet the playbook "
				    "starts "
				    "on its own",
				    pp->name);
		}
	}
}

/* The value of a parameter for a run: the site's, else the default (NULL: none). */
const char *
pb_site_value(const struct conf *conf, const struct playbook *pb, const char *name)
{
	const struct pb_param_conf *p = site_value(conf, pb->name, name);
	const struct pb_param *pp;

	if (p != NULL)
		return p->value;
	pp = playbook_param_named(pb, name);
	return pp != NULL ? pp->def : NULL;
}

/* Whether pb's triggers name rule (fnmatch patterns). */
int
pb_triggered_by(const struct playbook *pb, const char *rule)
{
	size_t i;

	for (i = 0; i < pb->triggers.n; i++)
		if (fnmatch(pb->triggers.v[i], rule, 0) == 0)
			return 1;
	return 0;
}

/* The loaded playbook of that name in conf, or NULL. */
const struct playbook *
pb_conf_playbook(const struct conf *conf, const char *name)
{
	return loaded_named(conf, name);
}
