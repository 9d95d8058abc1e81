/*
 * sonaed: the sonae daemon.
 *
 *	sonaed [-fnv] [-c FILE]	run (-f: foreground, -n: validate and exit)
 *	sonaed -R		print the configuration reference
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"

static void NORETURN
usage(void)
{
	fprintf(stderr, "usage: sonaed [-fnv] [-c FILE]\n"
	                "       sonaed -R\n");
	exit(2);
}

struct signals {
	struct daemon *d;
	struct event_base *base;
};

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct signals *s = arg;
	char msg[512];

	(void)ev;
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		daemon_reload(s->d, "signal", msg, sizeof(msg));
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s: exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		event_base_loopbreak(s->base);
		break;
	}
}

/* Drop root for the user in the configuration, for good. */
static void
drop_privileges(const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", pw->pw_name);
	if (setuid(0) == 0)
		fatalx("privileges could be regained after dropping them");
	log_info("running as %s", pw->pw_name);
}

int
main(int argc, char **argv)
{
	const char *conf_path = SONAE_DEFAULT_CONF;
	char *abs_path = NULL;
	struct conf_errors errs = { NULL, 0 };
	struct passwd *pw = NULL;
	struct event_base *base;
	struct event_config *evcfg;
	struct event *sigs[4];
	struct signals sg;
	struct control *ctl;
	struct daemon *d;
	struct conf *conf;
	int ch, foreground = 0, check = 0, verbose = 0, i;
	char err[512];
	const int signos[4] = { SIGHUP, SIGTERM, SIGINT, 0 };

	while ((ch = getopt(argc, argv, "c:fnvRV")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'R':
			conf_doc(stdout);
			return 0;
		case 'V':
			printf("sonaed %s\n", SONAE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(1, verbose);
	/* Reload re-reads this path after daemon(3) moved us to "/". */
	if ((abs_path = realpath(conf_path, NULL)) != NULL)
		conf_path = abs_path;
	if ((conf = conf_load(conf_path, &errs)) == NULL) {
		size_t k;
		for (k = 0; k < errs.n; k++)
			fprintf(stderr, "%s\n", errs.v[k]);
		fprintf(stderr, "%s: %zu error%s; not started\n", conf_path, errs.n,
		    errs.n == 1 ? "" : "s");
		conf_errors_clear(&errs);
		free(abs_path);
		return 1;
	}
	if (check) {
		printf("%s: ok (%zu devices)\n", conf_path, conf->devices.n);
		conf_free(conf);
		free(abs_path);
		return 0;
	}
	if (tz_apply(conf->site.timezone) == -1)
		fatalx("site.timezone %s: unknown", conf->site.timezone);
	if (conf->daemon.user != NULL && geteuid() == 0 &&
	    (pw = getpwnam(conf->daemon.user)) == NULL)
		fatalx("daemon.user: no user \"%s\" on this host", conf->daemon.user);
	if (daemon_prepare_state_dir(conf, pw ? pw->pw_uid : geteuid(),
	        pw ? pw->pw_gid : getegid(), err, sizeof(err)) == -1)
		fatalx("%s", err);

	if (!foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(0, verbose);
	}
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(log_libevent);
	/*
	 * Precise timers: a playbook's "wait 5 min" or a confirm's deadline is
	 * a promise to people, and the default coarse clock can fire a few
	 * milliseconds early.
	 */
	if ((evcfg = event_config_new()) == NULL ||
	    event_config_set_flag(evcfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (base = event_base_new_with_config(evcfg)) == NULL)
		fatalx("event_base_new failed");
	event_config_free(evcfg);

	d = daemon_new(base, conf, conf_path);
	if ((ctl = control_new(base, d, conf, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	daemon_set_control(d, ctl);
	if (daemon_listen(d, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (pw != NULL)
		drop_privileges(pw);
	if (daemon_start(d, err, sizeof(err)) == -1)
		fatalx("%s", err);

	sg.d = d;
	sg.base = base;
	for (i = 0; signos[i] != 0; i++) {
		sigs[i] = evsignal_new(base, signos[i], on_signal, &sg);
		evsignal_add(sigs[i], NULL);
	}
	event_base_dispatch(base);

	daemon_shutdown(d);
	for (i = 0; signos[i] != 0; i++)
		event_free(sigs[i]);
	daemon_free(d);
	event_base_free(base);
	free(abs_path);
	log_info("stopped");
	return 0;
}
