/*
 * The mail spool: state_dir/spool/, one file per message,
 *
 *	000000000042.msg	{"sonae_spool":1,"id":42,...,"size":1234}\n
 *				<the rendered message, 1234 bytes, CRLF lines>
 *
 * one line of JSON metadata (envelope, incident, attempts, next attempt,
 * last error and relay, the message's size), then the message exactly as it
 * goes to a relay.  One file, not a .json and .eml pair, because a single
 * rename then makes a message and its metadata appear together: there is no
 * half of a pair to reconcile after a crash.  `head -1` shows the metadata,
 * `tail -n +2` the message; the size field catches a file cut short.
 *
 * Durability:
 *
 * - spool_add() writes NAME.msg.tmp, fsyncs it, renames it to NAME.msg and
 *   fsyncs the folder; only then does it return 0 and the message count as
 *   queued.  A crash before the rename leaves a .tmp file, which the next
 *   spool_open() removes: that message was never queued, its caller never
 *   heard 0.  (A crash after the rename but before the folder's fsync may
 *   keep the file or not; the caller had not heard 0 either way.)
 * - A failed attempt rewrites the file the same way (temporary file, fsync,
 *   rename over, fsync the folder): after a crash it holds the old metadata
 *   or the new, and the message is there in both.
 * - spool_delivered() unlinks the file and fsyncs the folder; the caller
 *   calls it as soon as a relay has accepted the message (its final 250),
 *   before anything else.  The one window for a duplicate is a crash
 *   between that acceptance and the unlink reaching the disk: the message
 *   is then sent again after the restart.  (A crash or a lost connection
 *   after the message's data went out but before the relay's answer came is
 *   SMTP's own ambiguity, RFC 1047: the attempt counts as failed and is
 *   retried, so that message may arrive twice.)  Nothing in the spool sends
 *   a message twice otherwise, and nothing removes one before a relay took
 *   it.
 *
 * The folder is locked (flock) while open, so two daemons never deliver
 * from one spool; a message whose delivery is under way is marked busy
 * (spool_set_busy()) and is not due again until its attempt ends, so one
 * daemon never sends it twice at once.
 *
 * In memory only an index is kept, 24 bytes a message (id, next attempt,
 * attempts, flags); metadata and bytes are read from the file when asked
 * for.  Ids grow in the order messages are queued, across restarts too (the
 * next id follows the largest found in the folder, set-aside files
 * included): they start from 1 again only after an empty spool is reopened.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts/alert.h"

#define SPOOL_SUBDIR   "spool"
#define SPOOL_VERSION  1
#define SPOOL_HEAD_MAX (256 * 1024)       /* the metadata line */
#define SPOOL_MSG_MAX  (16 * 1024 * 1024) /* one message */
#define SPOOL_TEXT_MAX 512                /* last_error, last_relay */
#define SPOOL_CAP_MAX  (30LL * 24 * 3600 * 1000)

const struct spool_backoff spool_backoff_default = {
	.base_ms = 30 * 1000,
	.cap_ms = 30 * 60 * 1000,
	.jitter_pct = 20,
};

struct spool_entry {
	uint64_t id;
	int64_t next_ms;
	int32_t attempts;
	uint16_t gone; /* delivered; dropped at the next compaction */
	uint16_t busy; /* a delivery is under way (spool_set_busy()) */
};

struct spool {
	char *dir;
	int dfd; /* the folder: renames, fsyncs and the lock */
	struct spool_backoff backoff;
	struct spool_entry *v; /* by id */
	size_t n, cap, ngone;
	uint64_t next_id;
};

static void
spool_name(char *buf, size_t len, uint64_t id, const char *suffix)
{
	snprintf(buf, len, "%012llu.msg%s", (unsigned long long)id, suffix);
}

/* The position of id in the index, or -1. */
static ssize_t
spool_find(const struct spool *sp, uint64_t id)
{
	size_t lo = 0, hi = sp->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sp->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sp->n && sp->v[lo].id == id && !sp->v[lo].gone)
		return (ssize_t)lo;
	return -1;
}

/* The first position holding an id greater than id. */
static size_t
spool_after(const struct spool *sp, uint64_t id)
{
	size_t lo = 0, hi = sp->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sp->v[mid].id <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
spool_push(struct spool *sp, uint64_t id, int64_t next_ms, int attempts)
{
	if (sp->n == sp->cap) {
		sp->cap = sp->cap != 0 ? sp->cap * 2 : 64;
		sp->v = xreallocarray(sp->v, sp->cap, sizeof(*sp->v));
	}
	sp->v[sp->n].id = id;
	sp->v[sp->n].next_ms = next_ms;
	sp->v[sp->n].attempts = attempts;
	sp->v[sp->n].gone = 0;
	sp->v[sp->n].busy = 0;
	sp->n++;
}

/* Forget a message; the index is compacted when half of it is gone. */
static void
spool_drop(struct spool *sp, size_t i)
{
	size_t j, k;

	sp->v[i].gone = 1;
	if (++sp->ngone < 64 || sp->ngone < sp->n / 2)
		return;
	for (j = k = 0; j < sp->n; j++)
		if (!sp->v[j].gone)
			sp->v[k++] = sp->v[j];
	sp->n = k;
	sp->ngone = 0;
	if (sp->cap > 64 && sp->n * 2 < sp->cap) {
		sp->cap = sp->n * 2 > 64 ? sp->n * 2 : 64;
		sp->v = xreallocarray(sp->v, sp->cap, sizeof(*sp->v));
	}
}

/* Due: its time has come, or it is further ahead than any wait (the clock went back). */
static int
spool_due(const struct spool *sp, const struct spool_entry *e, int64_t now_ms)
{
	return !e->gone && !e->busy &&
	       (e->next_ms <= now_ms || e->next_ms - now_ms > sp->backoff.cap_ms);
}

static int
spool_sync_dir(struct spool *sp, char *err, size_t errlen)
{
	if (fsync(sp->dfd) == -1) {
		snprintf(err, errlen, "spool %s: fsync: %s", sp->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* A copy of text cut to SPOOL_TEXT_MAX bytes of valid UTF-8, controls as spaces. */
static char *
clean_text(const char *text)
{
	const char *p = text != NULL ? text : "";
	char *out = xmalloc(SPOOL_TEXT_MAX + 1);
	size_t n = 0, c;

	while (*p != '\0') {
		unsigned char u = (unsigned char)*p;
		c = u < 0x80 ? 1 : (u & 0xe0) == 0xc0 ? 2 : (u & 0xf0) == 0xe0 ? 3 : 4;
		if (c > 1 && (strnlen(p, c) < c || !utf8_valid(p, c)))
			c = 0; /* not a character: one '?' for the byte */
		if (n + (c != 0 ? c : 1) > SPOOL_TEXT_MAX)
			break;
		if (c == 0)
			out[n++] = '?';
		else if (c == 1)
			out[n++] = u < 0x20 || u == 0x7f ? ' ' : (char)u;
		else {
			memcpy(out + n, p, c);
			n += c;
		}
		p += c != 0 ? c : 1;
	}
	out[n] = '\0';
	return out;
}

static int
is_int(const json_t *o, const char *key, json_int_t min)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= min;
}

static int
is_text_or_null(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return v == NULL || json_is_null(v) || json_is_string(v);
}

/* The metadata's shape; NULL if good, else what is wrong. */
static const char *
spool_head_problem(const json_t *h, uint64_t id, size_t bodylen)
{
	json_t *rcpt = json_object_get(h, "rcpt"), *r;
	size_t i;

	if (!json_is_object(h))
		return "the metadata is not a JSON object";
	if (json_integer_value(json_object_get(h, "sonae_spool")) != SPOOL_VERSION)
		return "not a spool file of this version";
	if (!is_int(h, "id", 1) ||
	    (uint64_t)json_integer_value(json_object_get(h, "id")) != id)
		return "the id does not match the file name";
	if (!is_int(h, "incident", 0) || !json_is_string(json_object_get(h, "from")) ||
	    !is_int(h, "created_ms", 0) || !is_int(h, "attempts", 0) ||
	    !is_int(h, "next_ms", 0) || !is_int(h, "size", 0) ||
	    !is_text_or_null(h, "last_error") || !is_text_or_null(h, "last_relay"))
		return "a field is missing or of the wrong type";
	if (!json_is_array(rcpt) || json_array_size(rcpt) == 0)
		return "no recipients";
	json_array_foreach(rcpt, i, r)
	{
		if (!json_is_string(r))
			return "a recipient is not text";
	}
	if (bodylen > SPOOL_MSG_MAX)
		return "the message is too large";
	if ((uint64_t)json_integer_value(json_object_get(h, "size")) != bodylen)
		return "the message is not as long as its metadata says (cut short)";
	return NULL;
}

/*
 * Read and check the metadata of message id.  On success the file stays
 * open in *fdp (if not NULL) and the message is at *off, *len bytes.  NULL
 * with why, and *missing set when the file is not there.
 */
static json_t *
spool_read_head(int dfd, uint64_t id, int *fdp, off_t *off, size_t *len, int *missing,
    char *why, size_t whylen)
{
	char name[64], *buf = NULL, *nl = NULL;
	size_t have = 0, cap = 0;
	const char *problem;
	json_error_t jerr;
	json_t *h = NULL;
	struct stat st;
	ssize_t r;
	int fd;

	*missing = 0;
	spool_name(name, sizeof(name), id, "");
	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		*missing = errno == ENOENT;
		snprintf(why, whylen, "%s: %s", name, strerror(errno));
		goto bad;
	}
	while (nl == NULL && have < SPOOL_HEAD_MAX) {
		if (have == cap) {
			cap = cap != 0 ? cap * 4 : 4096;
			buf = xreallocarray(buf, cap, 1);
		}
		if ((r = pread(fd, buf + have, cap - have, (off_t)have)) == -1) {
			snprintf(why, whylen, "%s: %s", name, strerror(errno));
			goto bad;
		}
		if (r == 0)
			break;
		nl = memchr(buf + have, '\n', (size_t)r);
		have += (size_t)r;
	}
	if (nl == NULL) {
		snprintf(why, whylen, "%s: no metadata line", name);
		goto bad;
	}
	if ((h = json_loadb(buf, (size_t)(nl - buf), 0, &jerr)) == NULL) {
		snprintf(why, whylen, "%s: metadata: %s", name, jerr.text);
		goto bad;
	}
	*off = (off_t)(nl - buf) + 1;
	*len = (size_t)(st.st_size - *off);
	if ((problem = spool_head_problem(h, id, *len)) != NULL) {
		snprintf(why, whylen, "%s: %s", name, problem);
		goto bad;
	}
	free(buf);
	if (fdp != NULL)
		*fdp = fd;
	else
		close(fd);
	return h;
bad:
	json_decref(h);
	free(buf);
	if (fd != -1)
		close(fd);
	return NULL;
}

/* Rename a file that cannot be read out of the way, and say so. */
static void
spool_set_aside(int dfd, const char *dir, const char *name, const char *why)
{
	char aside[NAME_MAX + 32];
	int n = snprintf(
	    aside, sizeof(aside), "%s.damaged-%lld", name, (long long)time_now_ms());

	if (n < 0 || (size_t)n >= sizeof(aside) || n > NAME_MAX)
		log_warnx("spool %s: %s; name too long to set it aside", dir, why);
	else if (renameat(dfd, name, dfd, aside) == -1)
		log_warn("spool %s: %s; cannot set it aside", dir, why);
	else
		log_warnx("spool %s: %s; set aside as %s", dir, why, aside);
}

/*
 * Write metadata h and the message (from msg, or len bytes of srcfd at off)
 * durably as message id, through atomic_open() and atomic_commit():
 * NAME.msg.tmp, fsync, rename to NAME.msg, fsync of the folder.
 */
static int
spool_write(struct spool *sp, uint64_t id, const json_t *h, const char *msg, int srcfd,
    off_t off, size_t len, char *err, size_t errlen)
{
	char *line = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER), *path;
	char name[64], chunk[65536];
	struct atomic_file af;
	size_t done = 0, n;
	ssize_t r = 0;
	int rc;

	spool_name(name, sizeof(name), id, "");
	if (line == NULL || strlen(line) >= SPOOL_HEAD_MAX) {
		/* Refused now rather than found unreadable after a restart. */
		snprintf(err, errlen, "spool %s: %s: %s", sp->dir, name,
		    line == NULL ? "cannot encode the metadata"
		                 : "the metadata (recipients) is too long");
		free(line);
		return -1;
	}
	xasprintf(&path, "%s/%s", sp->dir, name);
	rc = atomic_open(&af, path, err, errlen);
	free(path);
	if (rc == -1) {
		free(line);
		return -1;
	}
	fprintf(af.f, "%s\n", line);
	free(line);
	if (msg != NULL)
		fwrite(msg, 1, len, af.f);
	while (msg == NULL && done < len) {
		n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
		if ((r = pread(srcfd, chunk, n, off + (off_t)done)) <= 0)
			break;
		fwrite(chunk, 1, (size_t)r, af.f);
		done += (size_t)r;
	}
	if (r < 0 || (msg == NULL && done < len) || ferror(af.f)) {
		snprintf(err, errlen, "spool %s: %s: %s", sp->dir, name,
		    r < 0 || ferror(af.f) ? strerror(errno)
		                          : "shorter than its metadata says");
		atomic_abort(&af);
		return -1;
	}
	return atomic_commit(&af, err, errlen);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Read the folder: index the messages, drop temporary files, set aside damage. */
static int
spool_scan(struct spool *sp, char *err, size_t errlen)
{
	uint64_t id, max = 0;
	struct dirent *de;
	char why[512], base[64];
	const char *end;
	size_t len;
	off_t off;
	int missing, changed = 0;
	json_t *h;
	DIR *d;

	if ((d = opendir(sp->dir)) == NULL) {
		snprintf(err, errlen, "spool %s: %s", sp->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue; /* ".", "..", and whatever is not ours */
		errno = 0;
		id = strtoull(de->d_name, NULL, 10);
		spool_name(base, sizeof(base), id, "");
		if (errno != 0 || strncmp(de->d_name, base, strlen(base)) != 0)
			continue; /* not a name spool_name() makes: not ours */
		end = de->d_name + strlen(base);
		if (strcmp(end, ".tmp") == 0) {
			/* Interrupted before its rename: it was never queued. */
			if (unlinkat(sp->dfd, de->d_name, 0) == -1)
				log_warn("spool %s: unlink %s", sp->dir, de->d_name);
			else
				log_info("spool %s: removed %s, a message never queued "
				         "(interrupted while it was written)",
				    sp->dir, de->d_name);
			changed = 1;
			continue;
		}
		if (*end != '\0' && strncmp(end, ".damaged-", 9) != 0)
			continue; /* not ours */
		if (id > max)
			max = id; /* set-aside files keep their ids out of reuse */
		if (*end != '\0')
			continue;
		if (id == 0 || (h = spool_read_head(sp->dfd, id, NULL, &off, &len,
		                    &missing, why, sizeof(why))) == NULL) {
			if (id == 0)
				snprintf(why, sizeof(why), "%s: id 0", de->d_name);
			spool_set_aside(sp->dfd, sp->dir, de->d_name, why);
			changed = 1;
			continue;
		}
		spool_push(sp, id, json_integer_value(json_object_get(h, "next_ms")),
		    (int)json_integer_value(json_object_get(h, "attempts")));
		json_decref(h);
	}
	closedir(d);
	if (sp->n > 1)
		qsort(sp->v, sp->n, sizeof(*sp->v), entry_cmp);
	sp->next_id = max + 1;
	if (changed)
		fsync(sp->dfd);
	return 0;
}

struct spool *
spool_open(
    const char *state_dir, const struct spool_backoff *backoff, char *err, size_t errlen)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	int pfd;

	sp->dfd = -1;
	spool_set_backoff(sp, backoff);
	xasprintf(&sp->dir, "%s/%s", state_dir, SPOOL_SUBDIR);
	if (mkdir(sp->dir, 0750) == 0) {
		/* The new folder's name must survive a power cut too. */
		if ((pfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
			fsync(pfd);
			close(pfd);
		}
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "spool %s: %s", sp->dir, strerror(errno));
		goto bad;
	}
	if ((sp->dfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "spool %s: %s", sp->dir, strerror(errno));
		goto bad;
	}
	if (flock(sp->dfd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen, "spool %s: %s", sp->dir,
		    errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
		goto bad;
	}
	if (spool_scan(sp, err, errlen) == -1)
		goto bad;
	return sp;
bad:
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->dfd != -1)
		close(sp->dfd);
	free(sp->v);
	free(sp->dir);
	free(sp);
}

/* Change the retry schedule; NULL: the default.  Values are kept sane. */
void
spool_set_backoff(struct spool *sp, const struct spool_backoff *backoff)
{
	struct spool_backoff b = backoff != NULL ? *backoff : spool_backoff_default;

	if (b.cap_ms > SPOOL_CAP_MAX)
		b.cap_ms = SPOOL_CAP_MAX;
	if (b.base_ms > SPOOL_CAP_MAX)
		b.base_ms = SPOOL_CAP_MAX;
	if (b.base_ms < 1)
		b.base_ms = 1;
	if (b.base_ms > b.cap_ms)
		b.cap_ms = b.base_ms;
	if (b.jitter_pct < 0)
		b.jitter_pct = 0;
	if (b.jitter_pct > 100)
		b.jitter_pct = 100;
	sp->backoff = b;
}

/*
 * The wait after the attempts-th failure in a row: base, doubled for each
 * failure before, at most cap; then up to jitter_pct % earlier, by rnd.
 */
int64_t
spool_backoff_delay(const struct spool_backoff *b, int attempts, uint32_t rnd)
{
	int64_t d = b->base_ms, jit;
	int i;

	if (attempts < 1)
		return 0;
	for (i = 1; i < attempts && d < b->cap_ms; i++)
		d *= 2;
	if (d > b->cap_ms)
		d = b->cap_ms;
	jit = d / 100 * b->jitter_pct + d % 100 * b->jitter_pct / 100;
	return d - (int64_t)(((uint64_t)jit * rnd) >> 32);
}

int
spool_add(struct spool *sp, const char *env_from, const struct conf_strings *rcpt,
    uint64_t incident, const char *msg, size_t len, int64_t now_ms, uint64_t *id,
    char *err, size_t errlen)
{
	json_t *h, *to;
	uint64_t nid;
	size_t i;
	int rc;

	if (env_from == NULL || (*env_from != '\0' && !mail_address_valid(env_from))) {
		snprintf(err, errlen, "envelope sender: not an address: \"%s\"",
		    env_from != NULL ? env_from : "");
		return -1;
	}
	if (rcpt == NULL || rcpt->n == 0) {
		snprintf(err, errlen, "no recipient");
		return -1;
	}
	for (i = 0; i < rcpt->n; i++)
		if (!mail_address_valid(rcpt->v[i])) {
			snprintf(err, errlen, "recipient: not an address: \"%s\"",
			    rcpt->v[i] != NULL ? rcpt->v[i] : "");
			return -1;
		}
	if (msg == NULL || len == 0 || len > SPOOL_MSG_MAX) {
		snprintf(err, errlen, "message of %zu bytes (1 to %d)",
		    msg != NULL ? len : 0, SPOOL_MSG_MAX);
		return -1;
	}
	if (incident > INT64_MAX || now_ms < 0) {
		snprintf(err, errlen, "incident or time out of range");
		return -1;
	}
	to = json_array();
	for (i = 0; i < rcpt->n; i++)
		json_array_append_new(to, json_string(rcpt->v[i]));
	nid = sp->next_id++; /* used or not: a failed add leaves a gap, never a reuse */
	h = json_pack("{s:i, s:I, s:I, s:s, s:o, s:I, s:i, s:I, s:I, s:n, s:n, s:I}",
	    "sonae_spool", SPOOL_VERSION, "id", (json_int_t)nid, "incident",
	    (json_int_t)incident, "from", env_from, "rcpt", to, "created_ms",
	    (json_int_t)now_ms, "attempts", 0, "next_ms", (json_int_t)now_ms,
	    "last_try_ms", (json_int_t)0, "last_error", "last_relay", "size",
	    (json_int_t)len);
	rc = spool_write(sp, nid, h, msg, -1, 0, len, err, errlen);
	json_decref(h);
	if (rc == -1)
		return -1;
	spool_push(sp, nid, now_ms, 0);
	if (id != NULL)
		*id = nid;
	return 0;
}

/* A message the index lists but the folder lost or damaged: drop it. */
static void
spool_lost(struct spool *sp, size_t i, int missing, const char *why)
{
	char name[64];

	spool_name(name, sizeof(name), sp->v[i].id, "");
	if (missing)
		log_warnx("spool %s: %s vanished from the folder", sp->dir, name);
	else
		spool_set_aside(sp->dfd, sp->dir, name, why);
	spool_drop(sp, i);
}

static char *
text_or_null(const json_t *h, const char *key)
{
	const char *s = json_string_value(json_object_get(h, key));

	return s != NULL ? xstrdup(s) : NULL;
}

/* Message id: its metadata, and its bytes when data is 1. */
static struct spool_msg *
spool_load(struct spool *sp, uint64_t id, int data, char *err, size_t errlen)
{
	ssize_t i = spool_find(sp, id), r;
	struct spool_msg *m;
	char why[512];
	int fd, missing;
	size_t len, k, n;
	json_t *h, *rcpt;
	off_t off;

	if (i == -1) {
		snprintf(
		    err, errlen, "no message %llu in the spool", (unsigned long long)id);
		return NULL;
	}
	if ((h = spool_read_head(
	         sp->dfd, id, &fd, &off, &len, &missing, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "spool %s: %s", sp->dir, why);
		spool_lost(sp, (size_t)i, missing, why);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->id = id;
	m->incident = (uint64_t)json_integer_value(json_object_get(h, "incident"));
	m->env_from = xstrdup(json_string_value(json_object_get(h, "from")));
	rcpt = json_object_get(h, "rcpt");
	m->rcpt.n = json_array_size(rcpt);
	m->rcpt.v = xcalloc(m->rcpt.n + 1, sizeof(char *));
	for (k = 0; k < m->rcpt.n; k++)
		m->rcpt.v[k] = xstrdup(json_string_value(json_array_get(rcpt, k)));
	m->created_ms = json_integer_value(json_object_get(h, "created_ms"));
	m->attempts = sp->v[i].attempts; /* the index is ahead if a rewrite failed */
	m->next_ms = sp->v[i].next_ms;
	m->last_try_ms = json_integer_value(json_object_get(h, "last_try_ms"));
	m->last_error = text_or_null(h, "last_error");
	m->last_relay = text_or_null(h, "last_relay");
	json_decref(h);
	if (!data) {
		close(fd);
		return m;
	}
	m->data = xmalloc(len + 1);
	for (n = 0; n < len; n += (size_t)r)
		if ((r = pread(fd, m->data + n, len - n, off + (off_t)n)) <= 0) {
			snprintf(err, errlen, "spool %s: message %llu: %s", sp->dir,
			    (unsigned long long)id,
			    r == 0 ? "short read" : strerror(errno));
			close(fd);
			spool_msg_free(m);
			return NULL;
		}
	m->data[len] = '\0';
	m->len = len;
	close(fd);
	return m;
}

struct spool_msg *
spool_get(struct spool *sp, uint64_t id, char *err, size_t errlen)
{
	return spool_load(sp, id, 1, err, errlen);
}

struct spool_msg *
spool_get_head(struct spool *sp, uint64_t id, char *err, size_t errlen)
{
	return spool_load(sp, id, 0, err, errlen);
}

void
spool_msg_free(struct spool_msg *m)
{
	if (m == NULL)
		return;
	free(m->env_from);
	conf_strings_free(&m->rcpt);
	free(m->last_error);
	free(m->last_relay);
	free(m->data);
	free(m);
}

int
spool_attempt_failed(struct spool *sp, uint64_t id, const char *relay, const char *reason,
    int64_t now_ms, uint32_t rnd, int64_t *next_ms, char *err, size_t errlen)
{
	ssize_t i = spool_find(sp, id);
	struct spool_entry *e;
	char why[512], *text;
	int fd, missing, rc;
	size_t len;
	json_t *h;
	off_t off;

	if (i == -1) {
		snprintf(
		    err, errlen, "no message %llu in the spool", (unsigned long long)id);
		return -1;
	}
	/* The index first: even if the rewrite fails, no retry storm. */
	e = &sp->v[i];
	e->busy = 0;
	if (e->attempts < INT32_MAX)
		e->attempts++;
	e->next_ms = now_ms + spool_backoff_delay(&sp->backoff, e->attempts, rnd);
	if (next_ms != NULL)
		*next_ms = e->next_ms;
	if ((h = spool_read_head(
	         sp->dfd, id, &fd, &off, &len, &missing, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "spool %s: %s", sp->dir, why);
		spool_lost(sp, (size_t)i, missing, why);
		return -1;
	}
	json_object_set_new(h, "attempts", json_integer(e->attempts));
	json_object_set_new(h, "next_ms", json_integer(e->next_ms));
	json_object_set_new(h, "last_try_ms", json_integer(now_ms));
	text = clean_text(reason);
	json_object_set_new(h, "last_error", json_string(text));
	free(text);
	text = clean_text(relay);
	json_object_set_new(h, "last_relay", json_string(text));
	free(text);
	rc = spool_write(sp, id, h, NULL, fd, off, len, err, errlen);
	close(fd);
	json_decref(h);
	return rc;
}

int
spool_delivered(struct spool *sp, uint64_t id, char *err, size_t errlen)
{
	ssize_t i = spool_find(sp, id);
	char name[64];

	if (i == -1) {
		snprintf(
		    err, errlen, "no message %llu in the spool", (unsigned long long)id);
		return -1;
	}
	spool_name(name, sizeof(name), id, "");
	if (unlinkat(sp->dfd, name, 0) == -1 && errno != ENOENT) {
		/*
		 * It stays on disk and would go again after a restart; at least
		 * this run never sends it twice.
		 */
		snprintf(err, errlen, "spool %s: unlink %s: %s", sp->dir, name,
		    strerror(errno));
		spool_drop(sp, (size_t)i);
		return -1;
	}
	spool_drop(sp, (size_t)i);
	return spool_sync_dir(sp, err, errlen);
}

void
spool_set_busy(struct spool *sp, uint64_t id, int busy)
{
	ssize_t i = spool_find(sp, id);

	if (i != -1)
		sp->v[i].busy = busy != 0;
}

void
spool_hurry(struct spool *sp, int64_t now_ms)
{
	size_t i;

	for (i = 0; i < sp->n; i++)
		if (!sp->v[i].gone && sp->v[i].next_ms > now_ms)
			sp->v[i].next_ms = now_ms;
}

size_t
spool_count(const struct spool *sp)
{
	return sp->n - sp->ngone;
}

uint64_t
spool_first(const struct spool *sp)
{
	return spool_next(sp, 0);
}

uint64_t
spool_next(const struct spool *sp, uint64_t id)
{
	size_t i;

	for (i = spool_after(sp, id); i < sp->n; i++)
		if (!sp->v[i].gone)
			return sp->v[i].id;
	return 0;
}

uint64_t
spool_first_due(const struct spool *sp, int64_t now_ms)
{
	return spool_next_due(sp, 0, now_ms);
}

uint64_t
spool_next_due(const struct spool *sp, uint64_t id, int64_t now_ms)
{
	size_t i;

	for (i = spool_after(sp, id); i < sp->n; i++)
		if (spool_due(sp, &sp->v[i], now_ms))
			return sp->v[i].id;
	return 0;
}

int64_t
spool_next_wakeup(const struct spool *sp, int64_t now_ms)
{
	int64_t t = INT64_MAX;
	size_t i;

	for (i = 0; i < sp->n; i++) {
		if (sp->v[i].gone || sp->v[i].busy)
			continue; /* a busy one hears from its delivery */
		if (spool_due(sp, &sp->v[i], now_ms))
			return now_ms;
		if (sp->v[i].next_ms < t)
			t = sp->v[i].next_ms;
	}
	return t;
}

size_t
spool_memory(const struct spool *sp)
{
	return sizeof(*sp) + sp->cap * sizeof(*sp->v) + strlen(sp->dir) + 1;
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

static json_t *
spool_msg_json(const struct spool *sp, const struct spool_entry *e)
{
	char why[512], ts[64];
	size_t len;
	off_t off;
	json_t *h, *o, *v;
	int missing;

	o = json_pack("{s:I}", "id", (json_int_t)e->id);
	if ((h = spool_read_head(
	         sp->dfd, e->id, NULL, &off, &len, &missing, why, sizeof(why))) == NULL) {
		json_object_set_new(o, "error", json_string(why));
		return o;
	}
	json_object_set(o, "incident", json_object_get(h, "incident"));
	json_object_set(o, "from", json_object_get(h, "from"));
	json_object_set(o, "rcpt", json_object_get(h, "rcpt"));
	v = json_object_get(h, "created_ms");
	json_object_set_new(o, "created",
	    json_string(time_format(json_integer_value(v), ts, sizeof(ts))));
	json_object_set(o, "created_ms", v);
	json_object_set_new(o, "size", json_integer((json_int_t)len));
	json_object_set_new(o, "attempts", json_integer(e->attempts));
	json_object_set_new(o, "sending", json_boolean(e->busy));
	json_object_set_new(
	    o, "next_attempt", json_string(time_format(e->next_ms, ts, sizeof(ts))));
	json_object_set_new(o, "next_attempt_ms", json_integer(e->next_ms));
	v = json_object_get(h, "last_try_ms");
	if (json_integer_value(v) > 0) {
		json_object_set_new(o, "last_try",
		    json_string(time_format(json_integer_value(v), ts, sizeof(ts))));
		json_object_set(o, "last_try_ms", v);
	}
	json_object_set_new(o, "last_error",
	    json_is_string(v = json_object_get(h, "last_error")) ? json_incref(v)
	                                                         : json_null());
	json_object_set_new(o, "last_relay",
	    json_is_string(v = json_object_get(h, "last_relay")) ? json_incref(v)
	                                                         : json_null());
	json_decref(h);
	return o;
}

json_t *
spool_json(const struct spool *sp, size_t max)
{
	json_t *msgs = json_array();
	size_t i;

	for (i = 0; i < sp->n && json_array_size(msgs) < max; i++)
		if (!sp->v[i].gone)
			json_array_append_new(msgs, spool_msg_json(sp, &sp->v[i]));
	return json_pack(
	    "{s:I, s:o}", "count", (json_int_t)spool_count(sp), "messages", msgs);
}
