/*
 * A string-keyed hash map: open addressing, linear probing, backward-shift
 * deletion (no tombstones).  Keys are borrowed: they must live as long as
 * their entry, which is natural when the key is a field of the value.
 */
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

struct hmap_slot {
	const char *key;
	void *val;
	uint32_t hash;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

static uint32_t
hmap_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* Create an empty map. */
struct hmap *
hmap_new(void)
{
	struct hmap *m = xcalloc(1, sizeof(*m));

	m->cap = 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	return m;
}

/* Free the map (not the values). Takes NULL. */
void
hmap_free(struct hmap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

static size_t
hmap_find(const struct hmap *m, const char *key, uint32_t h)
{
	size_t i = h & (m->cap - 1);

	while (m->slots[i].key != NULL) {
		if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return i;
}

static void
hmap_grow(struct hmap *m)
{
	struct hmap_slot *old = m->slots;
	size_t i, oldcap = m->cap;

	m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key != NULL) {
			size_t j = old[i].hash & (m->cap - 1);
			while (m->slots[j].key != NULL)
				j = (j + 1) & (m->cap - 1);
			m->slots[j] = old[i];
		}
	}
	free(old);
}

/* Look up key; NULL if absent. */
void *
hmap_get(const struct hmap *m, const char *key)
{
	size_t i = hmap_find(m, key, hmap_hash(key));

	return m->slots[i].key != NULL ? m->slots[i].val : NULL;
}

/* Insert or replace key's value. */
void
hmap_put(struct hmap *m, const char *key, void *val)
{
	uint32_t h = hmap_hash(key);
	size_t i;

	if ((m->count + 1) * 4 > m->cap * 3)
		hmap_grow(m);
	i = hmap_find(m, key, h);
	if (m->slots[i].key == NULL)
		m->count++;
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->slots[i].hash = h;
}

/* Remove key; returns its value or NULL. */
void *
hmap_del(struct hmap *m, const char *key)
{
	size_t i = hmap_find(m, key, hmap_hash(key)), j;
	void *val;

	if (m->slots[i].key == NULL)
		return NULL;
	val = m->slots[i].val;
	m->count--;
	/* Shift later members of the cluster back so lookups never stop early. */
	j = i;
	for (;;) {
		size_t home;
		m->slots[i].key = NULL;
		do {
			j = (j + 1) & (m->cap - 1);
			if (m->slots[j].key == NULL)
				return val;
			home = m->slots[j].hash & (m->cap - 1);
		} while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
		m->slots[i] = m->slots[j];
		i = j;
	}
}

/* Number of entries. */
size_t
hmap_count(const struct hmap *m)
{
	return m->count;
}

/*
 * Iterate: start with *pos = 0; returns the next value or NULL at the end.
 * The map must not change during a walk.
 */
void *
hmap_next(const struct hmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		const struct hmap_slot *sl = &m->slots[(*pos)++];
		if (sl->key != NULL)
			return sl->val;
	}
	return NULL;
}
