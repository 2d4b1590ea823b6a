// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized property test: a fixed-seed sequence of vmem_mb_set_plugged()
 * and vmem_mb_set_state() calls, checked after every call against a naive
 * model (one bool per sub block, one state per memory block).
 */
#include "vmem_test.h"

#include <string.h>

#define OPS 4000

struct model {
	bool plugged[VT_MAX_MB][VMEM_MAX_SBS_PER_MB];
	u8 state[VT_MAX_MB];
};

static struct vt_dev dev;
static struct model model;
static u64 rng;

/* xorshift64*: deterministic on every libc. */
static u64 rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static void check_mb(u64 idx)
{
	u64 want = 0;
	unsigned int i;
	bool all = true;

	for (i = 0; i < dev.geo.sbs_per_mb; i++) {
		if (model.plugged[idx][i])
			want |= 1ULL << i;
		else
			all = false;
	}
	EXPECT_U64(dev.mbs[idx].plugged, want);
	EXPECT_U64(dev.mbs[idx].state, model.state[idx]);
	EXPECT_BOOL(vmem_mb_all_plugged(&dev.geo, &dev.mbs[idx]), all);
}

static void check_totals(void)
{
	u64 nr[VMEM_MB_NR_STATES] = { 0 }, sbs = 0;
	unsigned int i, j;

	for (i = 0; i < dev.geo.nb_mb; i++) {
		nr[model.state[i]]++;
		for (j = 0; j < dev.geo.sbs_per_mb; j++)
			sbs += model.plugged[i][j];
	}
	EXPECT_U64(dev.b.plugged_sbs, sbs);
	for (i = 0; i < VMEM_MB_NR_STATES; i++)
		EXPECT_U64(dev.b.nr_in_state[i], nr[i]);
}

static void run(u64 block_size, u64 seed)
{
	unsigned int op, i;

	vt_dev_init(&dev, block_size, 4 * GiB, 2 * GiB);
	memset(&model, 0, sizeof(model));
	rng = seed;

	for (op = 0; op < OPS; op++) {
		const unsigned int sbs = dev.geo.sbs_per_mb;
		u64 idx = rnd_below(dev.geo.nb_mb);
		unsigned int kind = rnd_below(10);

		vt_set_ctx("sbs_per_mb=%u seed=0x%llx op=%u mb=%llu", sbs,
			   seed, op, idx);
		if (kind < 3) {
			enum vmem_mb_state st = rnd_below(VMEM_MB_NR_STATES);

			vmem_mb_set_state(&dev.b, dev.geo.first_mb_id + idx,
					  st);
			model.state[idx] = st;
		} else {
			unsigned int first, count;
			bool plugged = rnd_below(2);

			if (kind == 3) {		/* whole memory block */
				first = 0;
				count = sbs;
			} else {
				first = rnd_below(sbs);
				count = rnd_below(sbs - first + 1);
			}
			vmem_mb_set_plugged(&dev.b, dev.geo.first_mb_id + idx,
					    first, count, plugged);
			for (i = first; i < first + count; i++)
				model.plugged[idx][i] = plugged;
		}
		check_mb(idx);
		check_totals();
	}
	vt_set_ctx("sbs_per_mb=%u seed=0x%llx final", dev.geo.sbs_per_mb, seed);
	for (i = 0; i < dev.geo.nb_mb; i++)
		check_mb(i);
}

START_TEST(random_plug_and_state_ops_match_naive_model_64_sbs)
{
	run(2 * MiB, 0x5eed0001ULL);
}
END_TEST

START_TEST(random_plug_and_state_ops_match_naive_model_8_sbs)
{
	run(16 * MiB, 0x5eed0002ULL);
}
END_TEST

Suite *vt_property_suite(void)
{
	Suite *s = suite_create("property");
	TCase *tc = vt_tcase("random_vs_model");

	tcase_add_test(tc, random_plug_and_state_ops_match_naive_model_64_sbs);
	tcase_add_test(tc, random_plug_and_state_ops_match_naive_model_8_sbs);
	suite_add_tcase(s, tc);
	return s;
}
