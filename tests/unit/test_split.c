// SPDX-License-Identifier: GPL-2.0
/*
 * vmem_request_chunk() and vmem_request_split(): a range larger than one
 * request can carry, sent to a fake device that records every request and
 * fails the one it is told to (BUSY, NACK, ERROR) -- also the undo.
 */
#include "vmem_test.h"

#include <stdlib.h>

#define BS (2 * MiB)		/* device block size in these tests */
#define ADDR (4 * GiB)
#define MAXB VMEM_MAX_BLOCKS_PER_REQ

struct fake_req {
	bool plug;
	u64 addr;
	u64 nb;
	bool acked;
};

/*
 * The fake device. Request number @fail_at (counting from 0) answers
 * @fail_rc, and so does every undo request from @undo_fail_at on (undo
 * requests counted from 0; -1: never).
 */
struct fake_dev {
	struct fake_req req[64];
	unsigned int nr;
	int fail_at;
	int fail_rc;
	int undo_fail_at;
	unsigned int undos;
	bool first_plug;
};

static int fake_send(void *ctx, bool plug, u64 addr, u64 nb)
{
	struct fake_dev *d = ctx;
	unsigned int i = d->nr++;

	ck_assert_msg(i < 64, "too many requests");
	int rc;

	d->req[i] = (struct fake_req){ plug, addr, nb, false };
	if (i == 0)
		d->first_plug = plug;
	ck_assert_msg(nb >= 1 && nb <= MAXB, "request of %llu blocks",
		      (unsigned long long)nb);
	if (plug != d->first_plug)	/* an undo request */
		rc = d->undo_fail_at >= 0 &&
		     (int)d->undos++ >= d->undo_fail_at ? d->fail_rc : 0;
	else
		rc = (int)i == d->fail_at ? d->fail_rc : 0;
	d->req[i].acked = !rc;
	return rc;
}

static struct fake_dev fake(int fail_at, int fail_rc, int undo_fail_at)
{
	return (struct fake_dev){ .fail_at = fail_at, .fail_rc = fail_rc,
				  .undo_fail_at = undo_fail_at };
}

static void expect_req(const struct fake_dev *d, unsigned int i, bool plug,
		       u64 first_block, u64 nb)
{
	vt_set_ctx("request %u: ", i);
	ck_assert_msg(i < d->nr, "%sonly %u requests", vt_ctx, d->nr);
	EXPECT_BOOL(d->req[i].plug, plug);
	EXPECT_U64(d->req[i].addr, ADDR + first_block * BS);
	EXPECT_U64(d->req[i].nb, nb);
	vt_reset_ctx();
}

/* ---- vmem_request_chunk ------------------------------------------------- */

START_TEST(chunk_is_the_rest_when_it_fits)
{
	EXPECT_U64(vmem_request_chunk(1, 1), 1);
	EXPECT_U64(vmem_request_chunk(MAXB, 1), MAXB);
	EXPECT_U64(vmem_request_chunk(100, 64), 100);
}
END_TEST

START_TEST(chunk_ends_on_a_unit_boundary)
{
	/* 65535 is odd: two blocks per sub block give 65534. */
	EXPECT_U64(vmem_request_chunk(1 << 20, 2), 65534);
	EXPECT_U64(vmem_request_chunk(1 << 20, 64), 65472);
	EXPECT_U64(vmem_request_chunk(1 << 20, 1), MAXB);
	EXPECT_U64(vmem_request_chunk(1 << 20, 0), MAXB);
}
END_TEST

/* A unit larger than a request cannot be kept whole: plain 65535. */
START_TEST(chunk_of_units_larger_than_a_request)
{
	EXPECT_U64(vmem_request_chunk(1 << 20, MAXB + 1), MAXB);
	EXPECT_U64(vmem_request_chunk(3, MAXB + 1), 3);
}
END_TEST

START_TEST(chunk_never_zero_never_too_big)
{
	u64 unit, left;

	for (unit = 0; unit < 300; unit++)
		for (left = 1; left < 3 * MAXB; left += 4099) {
			u64 c = vmem_request_chunk(left, unit);

			vt_set_ctx("unit %llu, left %llu: ",
				   (unsigned long long)unit,
				   (unsigned long long)left);
			ck_assert_msg(c >= 1 && c <= MAXB && c <= left,
				      "%schunk %llu", vt_ctx,
				      (unsigned long long)c);
			if (unit > 1 && c < left)
				EXPECT_U64(c % unit, 0);
		}
}
END_TEST

/* ---- vmem_request_split: everything goes through ------------------------ */

START_TEST(split_small_range_is_one_request)
{
	struct fake_dev d = fake(-1, 0, -1);
	u64 changed = 7;

	EXPECT_ERR(vmem_request_split(fake_send, &d, true, ADDR, 64, BS, 2,
				      &changed), 0);
	EXPECT_U64(changed, 64);
	EXPECT_U64(d.nr, 1);
	expect_req(&d, 0, true, 0, 64);
}
END_TEST

START_TEST(split_large_range_into_contiguous_requests)
{
	struct fake_dev d = fake(-1, 0, -1);
	u64 changed;

	EXPECT_ERR(vmem_request_split(fake_send, &d, false, ADDR,
				      2 * 65534 + 10, BS, 2, &changed), 0);
	EXPECT_U64(changed, 2 * 65534 + 10);
	EXPECT_U64(d.nr, 3);
	expect_req(&d, 0, false, 0, 65534);
	expect_req(&d, 1, false, 65534, 65534);
	expect_req(&d, 2, false, 2 * 65534, 10);
}
END_TEST

/* ---- PLUG failing half way: undone ------------------------------------- */

START_TEST(split_plug_busy_half_way_is_undone)
{
	struct fake_dev d = fake(1, -EAGAIN, -1);
	u64 changed;

	EXPECT_ERR(vmem_request_split(fake_send, &d, true, ADDR, 3 * 65534,
				      BS, 2, &changed), -EAGAIN);
	EXPECT_U64(changed, 0);
	EXPECT_U64(d.nr, 3);
	expect_req(&d, 0, true, 0, 65534);
	expect_req(&d, 1, true, 65534, 65534);
	/* The first request, and only it, is unplugged again. */
	expect_req(&d, 2, false, 0, 65534);
}
END_TEST

START_TEST(split_plug_refused_at_once_needs_no_undo)
{
	struct fake_dev d = fake(0, -EPERM, -1);
	u64 changed;

	EXPECT_ERR(vmem_request_split(fake_send, &d, true, ADDR, 3 * 65534,
				      BS, 2, &changed), -EPERM);
	EXPECT_U64(changed, 0);
	EXPECT_U64(d.nr, 1);
}
END_TEST

/*
 * Two requests went through, the third failed, and the undo fails at its
 * first or its second request: the state of the two is not known any more.
 */
START_TEST(split_plug_whose_undo_fails_is_an_error)
{
	int undo_fail_at;

	for (undo_fail_at = 0; undo_fail_at <= 1; undo_fail_at++) {
		struct fake_dev d = fake(2, -EAGAIN, undo_fail_at);
		u64 changed;
		int i;

		EXPECT_ERR(vmem_request_split(fake_send, &d, true, ADDR,
					      3 * 65534, BS, 2, &changed), -EIO);
		EXPECT_U64(changed, 2 * 65534);
		for (i = 0; i <= undo_fail_at; i++)
			expect_req(&d, 3 + i, false, i * 65534ULL, 65534);
		EXPECT_U64(d.nr, 4 + undo_fail_at);
	}
}
END_TEST

/* ---- UNPLUG failing half way: never re-plugged ------------------------- */

START_TEST(split_unplug_busy_half_way_keeps_the_head_unplugged)
{
	struct fake_dev d = fake(1, -EAGAIN, -1);
	u64 changed;

	EXPECT_ERR(vmem_request_split(fake_send, &d, false, ADDR, 3 * 65534,
				      BS, 2, &changed), -EAGAIN);
	/* No PLUG is sent: a shrinking device would refuse it. */
	EXPECT_U64(d.nr, 2);
	expect_req(&d, 0, false, 0, 65534);
	expect_req(&d, 1, false, 65534, 65534);
	EXPECT_U64(changed, 65534);
	/* Whole sub blocks of two device blocks each. */
	EXPECT_U64(changed % 2, 0);
}
END_TEST

START_TEST(split_unplug_error_first_changes_nothing)
{
	struct fake_dev d = fake(0, -EIO, -1);
	u64 changed;

	EXPECT_ERR(vmem_request_split(fake_send, &d, false, ADDR, 10, BS, 1,
				      &changed), -EIO);
	EXPECT_U64(changed, 0);
	EXPECT_U64(d.nr, 1);
}
END_TEST

/*
 * Any range, unit and failing request: requests go forward through the
 * range without gaps or overlap, an undo goes forward from its start, and
 * what "changed" reports covers what the device was left with.
 */
START_TEST(split_any_failure_leaves_a_known_state)
{
	static const int rcs[] = { -EAGAIN, -EPERM, -EIO, -EPROTO };
	unsigned int iter;

	srand(1234);
	for (iter = 0; iter < 20000; iter++) {
		u64 unit = 1 + (u64)(rand() % 70);
		u64 nb = 1 + (u64)rand() % (5 * MAXB);
		bool plug = rand() & 1;
		int fail_at = rand() % 7 - 1;
		int fail_rc = rcs[rand() % 4];
		struct fake_dev d = fake(fail_at, fail_rc, rand() % 4 - 1);
		/* Device state: blocks [undone, done) changed. */
		u64 changed, done = 0, undone = 0;
		bool undoing = false;
		unsigned int i;
		int rc;

		vt_set_ctx("iter %u (%s %llu blocks, unit %llu, fail %d): ",
			   iter, plug ? "plug" : "unplug",
			   (unsigned long long)nb, (unsigned long long)unit,
			   fail_at);
		rc = vmem_request_split(fake_send, &d, plug, ADDR, nb, BS,
					unit, &changed);
		for (i = 0; i < d.nr; i++) {
			u64 first = (d.req[i].addr - ADDR) / BS;

			if (d.req[i].plug == plug) {
				ck_assert_msg(!undoing && first == done,
					      "%srequest %u out of order",
					      vt_ctx, i);
				if (d.req[i].acked)
					done += d.req[i].nb;
				continue;
			}
			undoing = true;
			ck_assert_msg(plug, "%san UNPLUG was undone", vt_ctx);
			ck_assert_msg(first == undone &&
				      first + d.req[i].nb <= done,
				      "%sundo %u out of order", vt_ctx, i);
			if (d.req[i].acked)
				undone += d.req[i].nb;
		}
		if (!rc) {
			EXPECT_U64(done, nb);
			EXPECT_U64(changed, nb);
			EXPECT_BOOL(undoing, false);
		} else if (!plug) {
			EXPECT_U64(changed, done);
			if (unit <= MAXB)
				EXPECT_U64(changed % unit, 0);
		} else if (undone == done) {
			EXPECT_U64(changed, 0);
			EXPECT_ERR(rc, fail_rc);
		} else {
			EXPECT_ERR(rc, -EIO);
			EXPECT_U64(changed, done);
		}
	}
}
END_TEST

Suite *vt_split_suite(void)
{
	Suite *s = suite_create("split");
	TCase *tc = vt_tcase("chunk");

	tcase_add_test(tc, chunk_is_the_rest_when_it_fits);
	tcase_add_test(tc, chunk_ends_on_a_unit_boundary);
	tcase_add_test(tc, chunk_of_units_larger_than_a_request);
	tcase_add_test(tc, chunk_never_zero_never_too_big);
	suite_add_tcase(s, tc);

	tc = vt_tcase("request_split");
	tcase_add_test(tc, split_small_range_is_one_request);
	tcase_add_test(tc, split_large_range_into_contiguous_requests);
	tcase_add_test(tc, split_plug_busy_half_way_is_undone);
	tcase_add_test(tc, split_plug_refused_at_once_needs_no_undo);
	tcase_add_test(tc, split_plug_whose_undo_fails_is_an_error);
	tcase_add_test(tc, split_unplug_busy_half_way_keeps_the_head_unplugged);
	tcase_add_test(tc, split_unplug_error_first_changes_nothing);
	tcase_add_test(tc, split_any_failure_leaves_a_known_state);
	suite_add_tcase(s, tc);
	return s;
}
