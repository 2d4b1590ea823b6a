/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Byte sizes as people write them: "6G", "1028M", "512K", "4096".
 */
#ifndef VMEM_TOOLS_SIZE_H
#define VMEM_TOOLS_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text the formatters produce, with the NUL. */
#define SIZE_STR_MAX	24

bool size_parse(const char *text, uint64_t *bytes);
const char *size_format(uint64_t bytes, char buf[SIZE_STR_MAX]);
const char *size_format_iec(uint64_t bytes, char buf[SIZE_STR_MAX]);
const char *size_human(uint64_t bytes, char buf[SIZE_STR_MAX]);

#endif
