// SPDX-License-Identifier: GPL-2.0
/*
 * Runner for the vmem_logic.h unit tests. Fork mode follows CK_FORK (fork
 * unless CK_FORK=no); CK_RUN_SUITE / CK_RUN_CASE select a subset.
 * Exits non-zero when any test fails.
 */
#include "vmem_test.h"

#include <stdlib.h>

int main(void)
{
	SRunner *sr = srunner_create(vt_config_suite());
	int failed;

	srunner_add_suite(sr, vt_geometry_suite());
	srunner_add_suite(sr, vt_blocks_suite());
	srunner_add_suite(sr, vt_runs_suite());
	srunner_add_suite(sr, vt_planning_suite());
	srunner_add_suite(sr, vt_backoff_suite());
	srunner_add_suite(sr, vt_property_suite());
	srunner_add_suite(sr, vt_resp_suite());
	srunner_add_suite(sr, vt_floor_suite());
	srunner_add_suite(sr, vt_pressure_suite());
	srunner_add_suite(sr, vt_split_suite());
	srunner_add_suite(sr, vt_result_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
