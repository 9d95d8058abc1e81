/*
 * The control socket: a UNIX stream socket (mode 0660, group from the
 * configuration) speaking the line protocol of proto.c.
 *
 * Every connection starts with "HELLO <version>".  The caller's identity
 * comes from SO_PEERCRED, never from what it says: root, the daemon's own
 * user and members of control.operators_group may change state, everyone
 * else who can open the socket may only read.  A client that sends garbage,
 * an oversize line, or half a line and then nothing gets one error reply and
 * is disconnected; nothing it does reaches anyone else.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "monitor/monitor.h"

struct conn {
	struct control *ctl;
	struct bufferevent *bev;
	struct ctl_peer peer;
	int hello;
	int closing;
	TAILQ_ENTRY(conn) entry;
};

struct control {
	struct event_base *base;
	struct daemon *d;
	struct evconnlistener *lst;
	char *path;
	int max_line, max_clients, max_per_uid;
	int64_t idle_ms;
	char *operators_group;
	TAILQ_HEAD(, conn) conns;
	size_t nconns;
};

static void conn_free(struct conn *);

/* Is uid (with primary group gid) a member of the operators group? */
static int
peer_is_operator(const struct control *ctl, uid_t uid, gid_t gid, char *name, size_t len)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[4096], gbuf[4096];
	gid_t groups[256];
	int ngroups = 256, i;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp != NULL)
		snprintf(name, len, "%s", pw.pw_name);
	else
		snprintf(name, len, "uid%u", (unsigned)uid);
	if (uid == 0 || uid == geteuid())
		return 1;
	if (ctl->operators_group == NULL ||
	    getgrnam_r(ctl->operators_group, &gr, gbuf, sizeof(gbuf), &grp) != 0 ||
	    grp == NULL)
		return 0;
	if (gid == gr.gr_gid)
		return 1;
	if (pwp == NULL || getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) == -1)
		return 0;
	for (i = 0; i < ngroups; i++)
		if (groups[i] == gr.gr_gid)
			return 1;
	return 0;
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

/* Send the final reply and close once it is out. */
static void
conn_close_with(struct conn *c, int status, const char *text)
{
	if (c->closing)
		return;
	if (text != NULL)
		evbuffer_add_printf(
		    bufferevent_get_output(c->bev), "%d %s\n", status, text);
	/* conn_write_cb frees the connection once the reply is out. */
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
conn_reply(struct conn *c, const struct ctl_reply *r)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char *body = NULL;
	int status = r->status;

	if (status >= 0 && r->body != NULL) {
		body = json_dumps(r->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (body == NULL)
			status = ST_FAILED;
	}
	if (status >= 0)
		status = body != NULL ? 1 : 0;
	if (r->text[0] != '\0')
		evbuffer_add_printf(out, "%d %s\n", status, r->text);
	else
		evbuffer_add_printf(out, "%d %s\n", status, status < 0 ? "failed" : "ok");
	if (body != NULL) {
		evbuffer_add(out, body, strlen(body));
		evbuffer_add(out, "\n", 1);
		free(body);
	}
}

static void
conn_line(struct conn *c, const char *line, size_t len)
{
	char *argv[PROTO_MAX_ARGS], err[256];
	struct ctl_reply r;
	int argc, v;

	if (!c->hello) {
		if (len > 6 && strncmp(line, "HELLO ", 6) == 0 &&
		    sscanf(line + 6, "%d", &v) == 1 && v == SONAE_PROTO_VERSION) {
			c->hello = 1;
			evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "0 sonaed %s protocol %d %s %s\n", SONAE_VERSION,
			    SONAE_PROTO_VERSION, c->peer.actor,
			    c->peer.is_operator ? "operator" : "reader");
			return;
		}
		conn_close_with(c, ST_PROTOCOL,
		    len > 6 && strncmp(line, "HELLO ", 6) == 0
		        ? "unsupported protocol version (this sonaed speaks 1)"
		        : "expected HELLO <version> first");
		return;
	}
	if (proto_split(line, len, argv, &argc, err, sizeof(err)) == -1) {
		char msg[300];
		snprintf(msg, sizeof(msg), "malformed request: %s", err);
		conn_close_with(c, ST_PROTOCOL, msg);
		return;
	}
	memset(&r, 0, sizeof(r));
	verbs_dispatch(c->ctl->d, &c->peer, argc, argv, &r);
	proto_free_args(argv, argc);
	conn_reply(c, &r);
	json_decref(r.body);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line, msg[128];
	size_t len;

	while (
	    !c->closing && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > (size_t)c->ctl->max_line || memchr(line, '\0', len) != NULL) {
			free(line);
			snprintf(msg, sizeof(msg),
			    "line too long or holds a NUL (limit %d bytes)",
			    c->ctl->max_line);
			conn_close_with(c, ST_PROTOCOL, msg);
			return;
		}
		conn_line(c, line, len);
		free(line);
	}
	if (!c->closing && evbuffer_get_length(in) > (size_t)c->ctl->max_line) {
		snprintf(
		    msg, sizeof(msg), "line too long (limit %d bytes)", c->ctl->max_line);
		conn_close_with(c, ST_PROTOCOL, msg);
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (c->closing) {
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		conn_close_with(c, ST_PROTOCOL, "idle timeout");
		return;
	}
	if ((what & BEV_EVENT_EOF) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		/* Half a line and then EOF: the peer may still read our answer. */
		conn_close_with(c, ST_PROTOCOL, "incomplete line at end of input");
		return;
	}
	conn_free(c);
}

static void
conn_free(struct conn *c)
{
	struct control *ctl = c->ctl;

	TAILQ_REMOVE(&ctl->conns, c, entry);
	ctl->nconns--;
	bufferevent_free(c->bev);
	free(c);
}

static void
control_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct control *ctl = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c, *o;
	struct timeval tv;
	int per_uid = 0;
	char msg[128], name[48];
	const char *refuse = NULL;

	(void)lst;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	TAILQ_FOREACH(o, &ctl->conns, entry)
	if (o->peer.uid == cred.uid)
		per_uid++;
	if (ctl->nconns >= (size_t)ctl->max_clients)
		refuse = "too many connections";
	else if (per_uid >= ctl->max_per_uid)
		refuse = "too many connections from this user";
	if (refuse != NULL) {
		snprintf(msg, sizeof(msg), "%d %s\n", ST_PROTOCOL, refuse);
		if (write(fd, msg, strlen(msg)) == -1)
			log_debug(
			    "control: refusal to uid %u not sent", (unsigned)cred.uid);
		log_warnx("control: uid %u refused: %s", (unsigned)cred.uid, refuse);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	c->peer.pid = cred.pid;
	c->peer.is_operator =
	    peer_is_operator(ctl, cred.uid, cred.gid, name, sizeof(name));
	snprintf(
	    c->peer.actor, sizeof(c->peer.actor), "%s(%u)", name, (unsigned)cred.uid);
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	ctl->nconns++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Stop reading once a line cannot be valid any more. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, (size_t)ctl->max_line + 2);
	tv.tv_sec = ctl->idle_ms / 1000;
	tv.tv_usec = (ctl->idle_ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
control_accept_error(struct evconnlistener *lst, void *arg)
{
	(void)lst;
	(void)arg;
	/* EMFILE and friends: keep serving the connections we have. */
	log_warn("control: accept");
}

static int
control_bind(const char *path, uid_t owner, gid_t gid, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	char *copy;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy_s(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return -1;
	}
	copy = xstrdup(path);
	if (mkdir(dirname(copy), 0755) == 0) {
		/* Ours to create, so the daemon's user may remove the socket at exit. */
		if (owner != (uid_t)-1 && chown(copy, owner, (gid_t)-1) == -1)
			log_warn("control socket folder %s: chown", copy);
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "control socket folder of %s: %s", path,
		    strerror(errno));
		free(copy);
		return -1;
	}
	free(copy);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by a daemon that died is replaced; a live one is not. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN) {
		snprintf(err, errlen,
		    "control socket %s: another sonaed is listening there", path);
		close(fd);
		return -1;
	}
	close(fd);
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0117); /* born 0660: no window where others can connect */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(
		    err, errlen, "control socket %s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) == -1 ||
	    (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) == -1)) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (listen(fd, 64) == -1) {
		snprintf(
		    err, errlen, "control socket %s: listen: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* Bind and listen on the control socket of conf (before privileges drop). */
struct control *
control_new(struct event_base *base, struct daemon *d, const struct conf *conf, char *err,
    size_t errlen)
{
	struct control *ctl;
	uid_t owner = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int fd;

	if (conf->control.group != NULL) {
		struct group *gr = getgrnam(conf->control.group);
		if (gr == NULL) {
			snprintf(err, errlen,
			    "control.group: no group \"%s\" on this host",
			    conf->control.group);
			return NULL;
		}
		gid = gr->gr_gid;
	}
	if (conf->daemon.user != NULL && geteuid() == 0) {
		struct passwd *pw = getpwnam(conf->daemon.user);
		if (pw != NULL)
			owner = pw->pw_uid;
	}
	if ((fd = control_bind(conf->control.socket, owner, gid, err, errlen)) == -1)
		return NULL;
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->base = base;
	ctl->d = d;
	ctl->path = xstrdup(conf->control.socket);
	TAILQ_INIT(&ctl->conns);
	control_reconf(ctl, conf);
	ctl->lst =
	    evconnlistener_new(base, control_accept, ctl, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (ctl->lst == NULL) {
		snprintf(err, errlen, "control socket: evconnlistener_new failed");
		close(fd);
		control_free(ctl);
		return NULL;
	}
	evconnlistener_set_error_cb(ctl->lst, control_accept_error);
	return ctl;
}

/* Take the limits of a reloaded configuration (the socket itself stays). */
void
control_reconf(struct control *ctl, const struct conf *conf)
{
	if (strcmp(ctl->path, conf->control.socket) != 0)
		log_warnx("control.socket changed to %s: takes effect at the next start",
		    conf->control.socket);
	ctl->max_line = conf->control.max_line;
	ctl->max_clients = conf->control.max_clients;
	ctl->max_per_uid = conf->control.max_per_uid;
	ctl->idle_ms = conf->control.idle_timeout_ms;
	free(ctl->operators_group);
	ctl->operators_group =
	    conf->control.operators_group ? xstrdup(conf->control.operators_group) : NULL;
}

/* Close every connection and the socket, and remove the socket file. Takes NULL. */
void
control_free(struct control *ctl)
{
	struct conn *c;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(c);
	if (ctl->lst != NULL) {
		evconnlistener_free(ctl->lst);
		unlink(ctl->path);
	}
	free(ctl->operators_group);
	free(ctl->path);
	free(ctl);
}

/* Connections open now; 0 without a control socket (takes NULL). */
size_t
control_clients(const struct control *ctl)
{
	return ctl != NULL ? ctl->nconns : 0;
}
