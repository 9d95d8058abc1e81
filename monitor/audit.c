/*
 * The audit journal: append-only JSON lines in state_dir/audit.jsonl, each
 *
 *	{"seq":N,"time":"...","actor":"...","action":"...","detail":{...},
 *	 "prev":"<hash of line N-1>","hash":"<sha256 of this line without hash>"}
 *
 * The hash covers the exact bytes of the line up to the hash field, so
 * verification needs no re-serialisation: an edited line no longer matches
 * its hash, a removed or reordered line breaks the sequence numbers and the
 * chain, and lines removed from the end are caught against the head the
 * daemon keeps in memory and in its snapshot.
 *
 * A line is written (write(2)) when it is appended, so a crash of the
 * process never loses it; it is made durable against power loss by
 * audit_sync(), which the daemon calls once at the end of every loop turn
 * that appended (a group commit: a storm of a hundred entries costs one
 * fdatasync, not a hundred) and before it answers an operator's request.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "monitor/monitor.h"

#define AUDIT_FILE   "audit.jsonl"
#define HASH_HEX     64
#define HASH_FIELD   ",\"hash\":\""
#define GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct audit {
	char *path;
	int fd;
	uint64_t seq;
	char head[HASH_HEX + 1];
	int unsynced; /* lines written since the last fdatasync */
};

static void
sha256_hex(const char *data, size_t len, char out[HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		fatalx("%s: EVP_Digest failed", __func__);
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/*
 * Split a journal line into its seq, prev and hash, checking the hash
 * against the content.  Returns 0, or -1 with the problem in why.
 */
static int
audit_parse(const char *line, size_t len, uint64_t *seq, char prev[HASH_HEX + 1],
    char hash[HASH_HEX + 1], json_t **objp, char *why, size_t whylen)
{
	const size_t tail = sizeof(HASH_FIELD) - 1 + HASH_HEX + 2; /* ,"hash":"<hex>"} */
	char computed[HASH_HEX + 1], *body;
	json_t *obj, *js, *jp;
	json_error_t jerr;
	size_t blen, i;

	if (len < tail + 2 ||
	    memcmp(line + len - tail, HASH_FIELD, sizeof(HASH_FIELD) - 1) != 0 ||
	    line[len - 2] != '"' || line[len - 1] != '}') {
		snprintf(why, whylen, "not a journal entry (no hash at the end)");
		return -1;
	}
	memcpy(hash, line + len - HASH_HEX - 2, HASH_HEX);
	hash[HASH_HEX] = '\0';
	for (i = 0; i < HASH_HEX; i++)
		if (!((hash[i] >= '0' && hash[i] <= '9') ||
		        (hash[i] >= 'a' && hash[i] <= 'f'))) {
			snprintf(why, whylen, "malformed hash");
			return -1;
		}
	blen = len - tail;
	body = xmalloc(blen + 2);
	memcpy(body, line, blen);
	body[blen] = '}';
	body[blen + 1] = '\0';
	sha256_hex(body, blen + 1, computed);
	if (strcmp(computed, hash) != 0) {
		free(body);
		snprintf(
		    why, whylen, "content does not match its hash: the line was edited");
		return -1;
	}
	obj = json_loadb(body, blen + 1, 0, &jerr);
	free(body);
	if (obj == NULL || !json_is_integer(js = json_object_get(obj, "seq")) ||
	    !json_is_string(jp = json_object_get(obj, "prev")) ||
	    strlen(json_string_value(jp)) != HASH_HEX) {
		json_decref(obj);
		snprintf(why, whylen, "malformed entry");
		return -1;
	}
	*seq = (uint64_t)json_integer_value(js);
	memcpy(prev, json_string_value(jp), HASH_HEX + 1);
	if (objp != NULL)
		*objp = obj;
	else
		json_decref(obj);
	return 0;
}

/* Drop a torn last line (a write the crash interrupted was never acknowledged). */
static int
audit_trim(int fd, const char *path, off_t *size)
{
	char c;
	off_t end = *size;

	while (end > 0) {
		if (pread(fd, &c, 1, end - 1) != 1)
			return -1;
		if (c == '\n')
			break;
		end--;
	}
	if (end == *size)
		return 0;
	log_warnx("audit journal %s: dropping a torn last line of %lld bytes", path,
	    (long long)(*size - end));
	if (ftruncate(fd, end) == -1)
		return -1;
	*size = end;
	return 0;
}

/* Open (or create) the journal in dir and find its head. */
struct audit *
audit_open(const char *dir, char *err, size_t errlen)
{
	struct audit *a = xcalloc(1, sizeof(*a));
	char buf[65536], why[256], prev[HASH_HEX + 1];
	struct stat st;
	off_t size, from;
	ssize_t n;
	char *last;

	xasprintf(&a->path, "%s/%s", dir, AUDIT_FILE);
	memcpy(a->head, GENESIS_HASH, sizeof(a->head));
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd == -1 || fstat(a->fd, &st) == -1) {
		snprintf(err, errlen, "audit journal %s: %s", a->path, strerror(errno));
		goto bad;
	}
	size = st.st_size;
	if (audit_trim(a->fd, a->path, &size) == -1) {
		snprintf(err, errlen, "audit journal %s: %s", a->path, strerror(errno));
		goto bad;
	}
	if (size == 0)
		return a;
	/* The head is the last line; entries are far shorter than the buffer. */
	from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	if ((n = pread(a->fd, buf, (size_t)(size - from), from)) != size - from) {
		snprintf(err, errlen, "audit journal %s: short read", a->path);
		goto bad;
	}
	buf[n - 1] = '\0'; /* the final newline */
	last = strrchr(buf, '\n');
	last = last != NULL ? last + 1 : buf;
	if (audit_parse(last, strlen(last), &a->seq, prev, a->head, NULL, why,
	        sizeof(why)) == -1) {
		snprintf(err, errlen, "audit journal %s: last line: %s", a->path, why);
		goto bad;
	}
	return a;
bad:
	audit_close(a);
	return NULL;
}

/* Close the journal. Takes NULL. */
void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	audit_sync(a);
	if (a->fd != -1)
		close(a->fd);
	free(a->path);
	free(a);
}

/* Make the lines appended so far durable (fdatasync); 0, or -1. */
int
audit_sync(struct audit *a)
{
	if (a == NULL || !a->unsynced || a->fd == -1)
		return 0;
	if (fdatasync(a->fd) == -1) {
		log_warn("audit journal %s: fdatasync", a->path);
		return -1;
	}
	a->unsynced = 0;
	return 0;
}

/*
 * Append one entry (durable after the next audit_sync()).  detail is taken
 * over (may be NULL).  Returns -1 if it could not be written; the head does not move.
 */
int
audit_append(struct audit *a, const char *actor, const char *action, json_t *detail)
{
	char ts[64], hash[HASH_HEX + 1], *body = NULL, *line = NULL;
	json_t *obj;
	size_t blen;
	ssize_t n;
	off_t before;
	int rc = -1;

	obj = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s}", "seq", (json_int_t)(a->seq + 1),
	    "time", time_format(time_now_ms(), ts, sizeof(ts)), "actor", actor, "action",
	    action, "detail", detail != NULL ? detail : json_object(), "prev", a->head);
	if (obj == NULL) {
		log_warnx("%s: cannot encode entry for %s", __func__, action);
		return -1;
	}
	body = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (body == NULL)
		return -1;
	blen = strlen(body);
	sha256_hex(body, blen, hash);
	xasprintf(&line, "%.*s%s%s\"}\n", (int)(blen - 1), body, HASH_FIELD, hash);
	before = lseek(a->fd, 0, SEEK_END);
	n = write(a->fd, line, strlen(line));
	if (n != (ssize_t)strlen(line)) {
		log_warn("audit journal %s: cannot append %s", a->path, action);
		if (before >= 0 && ftruncate(a->fd, before) == -1)
			log_warn("audit journal %s: cannot undo a torn write", a->path);
		goto out;
	}
	a->seq++;
	a->unsynced = 1;
	memcpy(a->head, hash, sizeof(a->head));
	rc = 0;
out:
	free(body);
	free(line);
	return rc;
}

/* Sequence number of the last entry (0: empty journal). */
uint64_t
audit_seq(const struct audit *a)
{
	return a->seq;
}

/* Hash of the last entry. */
const char *
audit_head(const struct audit *a)
{
	return a->head;
}

/* Path of the journal file. */
const char *
audit_path(const struct audit *a)
{
	return a->path;
}

/*
 * Verify a journal file: every hash, the sequence and the chain, and that it
 * ends at head_seq/head_hash (head_seq 0: not checked).  Returns 0, or -1
 * with the first problem and its line number.
 */
int
audit_verify(const char *path, uint64_t head_seq, const char *head_hash,
    unsigned long *entries, struct audit_problem *pb)
{
	char prev[HASH_HEX + 1], hash[HASH_HEX + 1], last[HASH_HEX + 1], why[200];
	uint64_t seq, expect = 1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int rc = 0;

	memset(pb, 0, sizeof(*pb));
	*entries = 0;
	memcpy(last, GENESIS_HASH, sizeof(last));
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && head_seq == 0)
			return 0;
		snprintf(pb->what, sizeof(pb->what), "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		pb->line++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (audit_parse(line, (size_t)len, &seq, prev, hash, NULL, why,
		        sizeof(why)) == -1) {
			snprintf(pb->what, sizeof(pb->what), "%s", why);
			goto fail;
		}
		if (seq > expect) {
			snprintf(pb->what, sizeof(pb->what),
			    "seq %llu where %llu was expected: entries were removed or "
			    "reordered "
			    "before it",
			    (unsigned long long)seq, (unsigned long long)expect);
			goto fail;
		}
		if (seq < expect) {
			snprintf(pb->what, sizeof(pb->what),
			    "seq %llu where %llu was expected: lines were reordered or "
			    "duplicated",
			    (unsigned long long)seq, (unsigned long long)expect);
			goto fail;
		}
		if (strcmp(prev, last) != 0) {
			snprintf(pb->what, sizeof(pb->what),
			    "seq %llu does not chain to the line before it: a line was "
			    "replaced",
			    (unsigned long long)seq);
			goto fail;
		}
		memcpy(last, hash, sizeof(last));
		expect++;
		(*entries)++;
	}
	if (head_seq > 0 && (expect - 1 != head_seq || strcmp(last, head_hash) != 0)) {
		pb->line++;
		snprintf(pb->what, sizeof(pb->what),
		    "the journal ends at seq %llu but the daemon last wrote seq %llu: "
		    "entries were removed or replaced at the end",
		    (unsigned long long)(expect - 1), (unsigned long long)head_seq);
		goto fail;
	}
	pb->line = 0;
	goto out;
fail:
	rc = -1;
out:
	free(line);
	fclose(f);
	return rc;
}

/* Entries at or after since_ms (oldest first), at most max of the newest. */
json_t *
audit_read(const char *path, int64_t since_ms, size_t max)
{
	json_t *all = json_array(), **ring = NULL;
	char prev[HASH_HEX + 1], hash[HASH_HEX + 1], why[200];
	char *line = NULL;
	size_t cap = 0, n = 0, i;
	ssize_t len;
	FILE *f;

	if (max == 0 || (f = fopen(path, "re")) == NULL)
		return all;
	/* The newest max entries, in a ring: a long journal costs one pass. */
	while ((len = getline(&line, &cap, f)) != -1) {
		json_t *obj = NULL, *t;
		uint64_t seq;
		int64_t ms;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (audit_parse(line, (size_t)len, &seq, prev, hash, &obj, why,
		        sizeof(why)) == -1) {
			/* Shown as it is: verify says what is wrong with it. */
			obj = json_pack("{s:s, s:s}", "invalid", why, "line", line);
		} else {
			json_object_set_new(obj, "hash", json_string(hash));
			t = json_object_get(obj, "time");
			if (since_ms > 0 && json_is_string(t) &&
			    time_parse(json_string_value(t), 0, &ms) == 0 &&
			    ms < since_ms) {
				json_decref(obj);
				continue;
			}
		}
		if (n < max)
			ring = xreallocarray(ring, n + 1, sizeof(*ring));
		else
			json_decref(ring[n % max]);
		ring[n % max] = obj;
		n++;
	}
	for (i = n > max ? n - max : 0; i < n; i++)
		json_array_append_new(all, ring[i % max]);
	free(ring);
	free(line);
	fclose(f);
	return all;
}
