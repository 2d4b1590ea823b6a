// SPDX-License-Identifier: GPL-2.0
/*
 * One vocabulary for results: vmem_result_from_errno(), vmem_result_action()
 * and its table, vmem_resp_to_result(). The expectations are written out
 * here, not read from the table, so a changed row shows up.
 */
#include "vmem_test.h"

#include <string.h>

static const struct {
	int rc;
	enum vmem_result res;
	enum vmem_action act;
	const char *reason;
} expected[] = {
	{ 0, VMEM_RES_OK, VMEM_ACT_DONE, NULL },
	{ VMEM_RESTART, VMEM_RES_RESTART, VMEM_ACT_RESTART, NULL },
	{ VMEM_DEV_BUSY, VMEM_RES_DEV_BUSY, VMEM_ACT_BACK_OFF,
	  "device busy, retrying" },
	{ VMEM_MEM_BUSY, VMEM_RES_MEM_BUSY, VMEM_ACT_BACK_OFF,
	  "memory in use, retrying" },
	{ -ENOMEM, VMEM_RES_NO_MEMORY, VMEM_ACT_BACK_OFF,
	  "out of guest memory, retrying" },
	{ VMEM_NO_SPACE, VMEM_RES_NO_SPACE, VMEM_ACT_WAIT_CONFIG,
	  "usable region exhausted" },
	{ VMEM_NACK, VMEM_RES_NACK, VMEM_ACT_WAIT_CONFIG,
	  "device refused plug" },
	{ VMEM_ONLINE_FAILED, VMEM_RES_ONLINE_FAILED, VMEM_ACT_BACK_OFF,
	  "onlining added memory failed, retrying" },
	{ VMEM_REMOVE_FAILED, VMEM_RES_REMOVE_FAILED, VMEM_ACT_BACK_OFF,
	  "removing unplugged memory failed, retrying" },
	{ VMEM_FLOOR, VMEM_RES_FLOOR, VMEM_ACT_GUEST_NEEDS,
	  "guest needs the memory" },
	{ VMEM_PRESSURE, VMEM_RES_PRESSURE, VMEM_ACT_GUEST_NEEDS,
	  "guest needs the memory: under memory pressure" },
	{ -EIO, VMEM_RES_ERROR, VMEM_ACT_STOP,
	  "device stopped after an error" },
};

static void expect_reason(const char *got, const char *want)
{
	if (!want)
		ck_assert_msg(!got, "%sreason %s, expected none", vt_ctx, got);
	else
		ck_assert_msg(got && !strcmp(got, want),
			      "%sreason \"%s\", expected \"%s\"", vt_ctx,
			      got ? got : "(none)", want);
}

START_TEST(result_every_errno_has_its_meaning_and_action)
{
	unsigned int i;

	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const char *reason = "unset";

		vt_set_ctx("rc %d: ", expected[i].rc);
		EXPECT_INT(vmem_result_from_errno(expected[i].rc),
			   expected[i].res);
		EXPECT_INT(vmem_result_action(expected[i].res, &reason),
			   expected[i].act);
		expect_reason(reason, expected[i].reason);
	}
}
END_TEST

/* Every result is in the table above, so no row goes unchecked. */
START_TEST(result_table_is_covered_by_the_expectations)
{
	unsigned int r, i;

	for (r = 0; r < VMEM_RES_NR; r++) {
		bool seen = false;

		for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
			seen |= expected[i].res == (enum vmem_result)r;
		ck_assert_msg(seen, "result %u has no expectation", r);
	}
}
END_TEST

/* Any other errno, sent or from a response, means driver and device disagree. */
START_TEST(result_unknown_errnos_stop_the_driver)
{
	static const int others[] = { -EPROTO, -EINVAL, -ENODEV, -EFAULT, 1,
				      -4095 };
	const char *reason;
	unsigned int i;

	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		vt_set_ctx("rc %d: ", others[i]);
		EXPECT_INT(vmem_result_from_errno(others[i]), VMEM_RES_ERROR);
	}
	EXPECT_INT(vmem_result_action((enum vmem_result)VMEM_RES_NR, &reason),
		   VMEM_ACT_STOP);
	EXPECT_INT(vmem_result_action((enum vmem_result)-1, &reason),
		   VMEM_ACT_STOP);
	expect_reason(reason, "device stopped after an error");
}
END_TEST

/* Only transient failures are retried, and only they say "retrying". */
START_TEST(result_back_off_is_exactly_the_retrying_ones)
{
	unsigned int r;

	for (r = 0; r < VMEM_RES_NR; r++) {
		const char *reason;
		enum vmem_action act = vmem_result_action(r, &reason);
		bool retrying = reason && strstr(reason, "retrying");

		vt_set_ctx("result %u: ", r);
		EXPECT_BOOL(act == VMEM_ACT_BACK_OFF, retrying);
	}
}
END_TEST

/* A response means the same through either mapping. */
START_TEST(result_responses_map_like_their_errnos)
{
	unsigned int t;

	EXPECT_INT(vmem_resp_to_result(VMEM_RESP_ACK), VMEM_RES_OK);
	EXPECT_INT(vmem_resp_to_result(VMEM_RESP_NACK), VMEM_RES_NACK);
	EXPECT_INT(vmem_resp_to_result(VMEM_RESP_BUSY), VMEM_RES_DEV_BUSY);
	EXPECT_INT(vmem_resp_to_result(VMEM_RESP_ERROR), VMEM_RES_ERROR);
	for (t = 0; t < 300; t++) {
		vt_set_ctx("type %u: ", t);
		EXPECT_INT(vmem_resp_to_result(t),
			   vmem_result_from_errno(vmem_resp_to_errno(t)));
	}
	EXPECT_INT(vmem_resp_to_result(0xffffffffU), VMEM_RES_ERROR);
}
END_TEST

Suite *vt_result_suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc = vt_tcase("result");

	tcase_add_test(tc, result_every_errno_has_its_meaning_and_action);
	tcase_add_test(tc, result_table_is_covered_by_the_expectations);
	tcase_add_test(tc, result_unknown_errnos_stop_the_driver);
	tcase_add_test(tc, result_back_off_is_exactly_the_retrying_ones);
	tcase_add_test(tc, result_responses_map_like_their_errnos);
	suite_add_tcase(s, tc);
	return s;
}
