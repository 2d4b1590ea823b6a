// SPDX-License-Identifier: GPL-2.0
/* vmem_resp_to_errno(): what each device response means to the driver. */
#include "vmem_test.h"

START_TEST(resp_ack_is_success)
{
	EXPECT_U64((u64)vmem_resp_to_errno(VMEM_RESP_ACK), 0);
}
END_TEST

START_TEST(resp_nack_means_plug_refused)
{
	EXPECT_U64((u64)vmem_resp_to_errno(VMEM_RESP_NACK), (u64)-EPERM);
}
END_TEST

START_TEST(resp_busy_means_try_again)
{
	EXPECT_U64((u64)vmem_resp_to_errno(VMEM_RESP_BUSY), (u64)-EAGAIN);
}
END_TEST

START_TEST(resp_error_means_state_mismatch)
{
	EXPECT_U64((u64)vmem_resp_to_errno(VMEM_RESP_ERROR), (u64)-EIO);
}
END_TEST

START_TEST(resp_unknown_types_are_protocol_errors)
{
	static const unsigned int bad[] = { 4, 5, 0x100, 0xffff, 0xffffffffU };
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vt_set_ctx("type %#x", bad[i]);
		EXPECT_U64((u64)vmem_resp_to_errno(bad[i]), (u64)-EPROTO);
	}
}
END_TEST

Suite *vt_resp_suite(void)
{
	Suite *s = suite_create("resp");
	TCase *tc = vt_tcase("resp_to_errno");

	tcase_add_test(tc, resp_ack_is_success);
	tcase_add_test(tc, resp_nack_means_plug_refused);
	tcase_add_test(tc, resp_busy_means_try_again);
	tcase_add_test(tc, resp_error_means_state_mismatch);
	tcase_add_test(tc, resp_unknown_types_are_protocol_errors);
	suite_add_tcase(s, tc);
	return s;
}
