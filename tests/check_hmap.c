/*
 * hmap.c: put/get/del, growth, backward-shift deletion, iteration.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define NKEYS 10000

struct item {
	char key[40];
	int n;
	int seen;
};

static struct item *
items_new(size_t n)
{
	struct item *it = calloc(n, sizeof(*it));
	size_t i;

	ck_assert_ptr_nonnull(it);
	for (i = 0; i < n; i++) {
		snprintf(it[i].key, sizeof(it[i].key), "dev%zu.metric", i);
		it[i].n = (int)i;
	}
	return it;
}

START_TEST(hmap_basic)
{
	struct hmap *m = hmap_new();
	int a = 1, b = 2, c = 3;

	ck_assert_uint_eq(hmap_count(m), 0);
	ck_assert_ptr_null(hmap_get(m, "ups1"));
	ck_assert_ptr_null(hmap_del(m, "ups1"));
	hmap_put(m, "ups1", &a);
	hmap_put(m, "ups2", &b);
	ck_assert_uint_eq(hmap_count(m), 2);
	ck_assert_ptr_eq(hmap_get(m, "ups1"), &a);
	ck_assert_ptr_eq(hmap_get(m, "ups2"), &b);
	ck_assert_ptr_null(hmap_get(m, "ups"));
	ck_assert_ptr_null(hmap_get(m, "ups12"));
	ck_assert_ptr_null(hmap_get(m, ""));

	/* Replacing keeps the count. */
	hmap_put(m, "ups1", &c);
	ck_assert_uint_eq(hmap_count(m), 2);
	ck_assert_ptr_eq(hmap_get(m, "ups1"), &c);

	/* The empty string and UTF-8 are keys like any other. */
	hmap_put(m, "", &a);
	hmap_put(m, "\xe8\xa8\x93\xe7\xb7\xb4", &b);
	ck_assert_ptr_eq(hmap_get(m, ""), &a);
	ck_assert_ptr_eq(hmap_get(m, "\xe8\xa8\x93\xe7\xb7\xb4"), &b);
	ck_assert_uint_eq(hmap_count(m), 4);

	ck_assert_ptr_eq(hmap_del(m, "ups1"), &c);
	ck_assert_ptr_null(hmap_get(m, "ups1"));
	ck_assert_ptr_null(hmap_del(m, "ups1"));
	ck_assert_uint_eq(hmap_count(m), 3);
	ck_assert_ptr_eq(hmap_get(m, "ups2"), &b);
	hmap_free(m);
	hmap_free(NULL);
}
END_TEST

START_TEST(hmap_keys_are_compared_not_pointers)
{
	struct hmap *m = hmap_new();
	char k1[] = "sensor.temp", k2[] = "sensor.temp";
	int a = 1;

	hmap_put(m, k1, &a);
	ck_assert_ptr_eq(hmap_get(m, k2), &a);
	ck_assert_ptr_eq(hmap_del(m, k2), &a);
	ck_assert_uint_eq(hmap_count(m), 0);
	hmap_free(m);
}
END_TEST

START_TEST(hmap_many_keys_grow)
{
	struct item *it = items_new(NKEYS);
	struct hmap *m = hmap_new();
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		hmap_put(m, it[i].key, &it[i]);
		ck_assert_uint_eq(hmap_count(m), i + 1);
	}
	for (i = 0; i < NKEYS; i++)
		ck_assert_msg(
		    hmap_get(m, it[i].key) == &it[i], "%s lost after growth", it[i].key);
	ck_assert_ptr_null(hmap_get(m, "dev10000.metric"));
	ck_assert_ptr_null(hmap_get(m, "dev.metric"));
	hmap_free(m);
	free(it);
}
END_TEST

/*
 * Delete every other key, then every third of the rest: with linear probing
 * a deletion that left a hole would hide keys further down their cluster.
 */
START_TEST(hmap_delete_keeps_others)
{
	struct item *it = items_new(NKEYS);
	struct hmap *m = hmap_new();
	size_t i, left = NKEYS;

	for (i = 0; i < NKEYS; i++)
		hmap_put(m, it[i].key, &it[i]);
	for (i = 0; i < NKEYS; i += 2) {
		ck_assert_ptr_eq(hmap_del(m, it[i].key), &it[i]);
		left--;
	}
	ck_assert_uint_eq(hmap_count(m), left);
	for (i = 0; i < NKEYS; i++) {
		if (i % 2 == 0)
			ck_assert_msg(
			    hmap_get(m, it[i].key) == NULL, "%s still there", it[i].key);
		else
			ck_assert_msg(hmap_get(m, it[i].key) == &it[i],
			    "%s lost by a deletion", it[i].key);
	}
	for (i = 1; i < NKEYS; i += 6) {
		ck_assert_ptr_eq(hmap_del(m, it[i].key), &it[i]);
		left--;
	}
	ck_assert_uint_eq(hmap_count(m), left);
	for (i = 1; i < NKEYS; i += 2)
		ck_assert_msg(
		    hmap_get(m, it[i].key) == ((i - 1) % 6 == 0 ? NULL : &it[i]),
		    "%s wrong after second round", it[i].key);
	/* Put back what was deleted: everything is found again. */
	for (i = 0; i < NKEYS; i++)
		if (hmap_get(m, it[i].key) == NULL)
			hmap_put(m, it[i].key, &it[i]);
	ck_assert_uint_eq(hmap_count(m), NKEYS);
	for (i = 0; i < NKEYS; i++)
		ck_assert_ptr_eq(hmap_get(m, it[i].key), &it[i]);
	/* Delete everything. */
	for (i = NKEYS; i-- > 0;)
		ck_assert_ptr_eq(hmap_del(m, it[i].key), &it[i]);
	ck_assert_uint_eq(hmap_count(m), 0);
	hmap_free(m);
	free(it);
}
END_TEST

/*
 * Backward-shift in a small table: keys collide into one cluster that wraps
 * around the end of the slot array; deleting any one must keep the rest.
 */
START_TEST(hmap_delete_in_cluster)
{
	struct item *it = items_new(12);
	size_t victim, i;

	for (victim = 0; victim < 12; victim++) {
		struct hmap *m = hmap_new(); /* 16 slots: 12 keys make clusters */
		for (i = 0; i < 12; i++)
			hmap_put(m, it[i].key, &it[i]);
		ck_assert_ptr_eq(hmap_del(m, it[victim].key), &it[victim]);
		for (i = 0; i < 12; i++)
			ck_assert_msg(
			    hmap_get(m, it[i].key) == (i == victim ? NULL : &it[i]),
			    "deleting %s: %s wrong", it[victim].key, it[i].key);
		hmap_free(m);
	}
	free(it);
}
END_TEST

START_TEST(hmap_iterate_each_once)
{
	struct item *it = items_new(NKEYS);
	struct hmap *m = hmap_new();
	struct item *v;
	size_t i, pos = 0, n = 0;

	for (i = 0; i < NKEYS; i++)
		hmap_put(m, it[i].key, &it[i]);
	for (i = 0; i < NKEYS; i += 3)
		hmap_del(m, it[i].key);
	while ((v = hmap_next(m, &pos)) != NULL) {
		ck_assert_msg(v->n % 3 != 0, "deleted %s visited", v->key);
		v->seen++;
		n++;
	}
	ck_assert_uint_eq(n, hmap_count(m));
	for (i = 0; i < NKEYS; i++)
		ck_assert_msg(it[i].seen == (i % 3 == 0 ? 0 : 1), "%s visited %d times",
		    it[i].key, it[i].seen);
	/* The end stays the end. */
	ck_assert_ptr_null(hmap_next(m, &pos));

	/* An empty map has nothing to visit. */
	hmap_free(m);
	m = hmap_new();
	pos = 0;
	ck_assert_ptr_null(hmap_next(m, &pos));
	hmap_free(m);
	free(it);
}
END_TEST

/* FNV-1a, as in hmap.c: used only to pick keys that collide on purpose. */
static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/*
 * Keys whose home slots in a 16-slot table are 14, 15 and 0: their cluster
 * wraps around the end of the array, the case where backward shift has to
 * compare positions modulo the size.
 */
START_TEST(hmap_delete_wrapping_cluster)
{
	static const unsigned homes[] = { 14, 15, 15, 14, 0, 15, 0, 1 };
	char keys[8][16];
	size_t i, j, victim;
	int k = 0;

	for (i = 0; i < 8; i++) {
		do
			snprintf(keys[i], sizeof(keys[i]), "k%d", k++);
		while ((fnv1a(keys[i]) & 15) != homes[i]);
	}
	for (victim = 0; victim < 8; victim++) {
		struct hmap *m = hmap_new();
		for (i = 0; i < 8; i++)
			hmap_put(m, keys[i], keys[i]);
		ck_assert_ptr_eq(hmap_del(m, keys[victim]), keys[victim]);
		for (i = 0; i < 8; i++)
			ck_assert_msg(
			    hmap_get(m, keys[i]) == (i == victim ? NULL : keys[i]),
			    "deleting %s (home %u): %s (home %u) wrong", keys[victim],
			    homes[victim], keys[i], homes[i]);
		/* Then the others one by one, each time checking the rest. */
		for (i = 0; i < 8; i++) {
			if (i == victim)
				continue;
			ck_assert_ptr_eq(hmap_del(m, keys[i]), keys[i]);
			for (j = i + 1; j < 8; j++)
				if (j != victim)
					ck_assert_ptr_eq(hmap_get(m, keys[j]), keys[j]);
		}
		ck_assert_uint_eq(hmap_count(m), 0);
		hmap_free(m);
	}
}
END_TEST

static Suite *
hmap_suite(void)
{
	Suite *s = suite_create("hmap");
	TCase *tc = tcase_create("hmap");

	tcase_add_test(tc, hmap_basic);
	tcase_add_test(tc, hmap_keys_are_compared_not_pointers);
	tcase_add_test(tc, hmap_many_keys_grow);
	tcase_add_test(tc, hmap_delete_keeps_others);
	tcase_add_test(tc, hmap_delete_in_cluster);
	tcase_add_test(tc, hmap_delete_wrapping_cluster);
	tcase_add_test(tc, hmap_iterate_each_once);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(hmap_suite());
}
