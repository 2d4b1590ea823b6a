// SPDX-License-Identifier: GPL-2.0
/*
 * Sizes: binary units (1K = 1024 bytes) as QEMU and the kernel use them.
 * The host tool (vmemctl) and the guest tool (vmemstat) both use this file.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "size.h"

static const char size_units[] = "KMGTPE";

static int unit_shift(char c)
{
	const char *u = strchr(size_units, toupper((unsigned char)c));

	if (!c || !u)
		return -1;
	return 10 * (int)(u - size_units + 1);
}

/* After the unit letter: nothing, "B" or "iB" ("4G", "4GB", "4GiB"). */
static bool unit_suffix_ok(const char *s)
{
	if (*s == 'i' || *s == 'I')
		s++;
	if (*s == 'b' || *s == 'B')
		s++;
	return *s == '\0';
}

/**
 * size_parse() - parse "6G", "1028M", "512K", "4096" or "4096B".
 * @text: the size as the user wrote it
 * @bytes: where the value goes
 *
 * Return: false if @text is not a size or does not fit in 64 bits.
 */
bool size_parse(const char *text, uint64_t *bytes)
{
	uint64_t value = 0;
	const char *s = text;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		if (value > (UINT64_MAX - 9) / 10)
			return false;
		value = value * 10 + (uint64_t)(*s - '0');
	}
	if (*s == 'b' || *s == 'B') {
		s++;
	} else if (*s) {
		shift = unit_shift(*s);
		if (shift < 0 || !unit_suffix_ok(s + 1))
			return false;
		s = "";
	}
	if (*s)
		return false;
	if (shift && value > UINT64_MAX >> shift)
		return false;
	*bytes = value << shift;
	return true;
}

/*
 * The one formatter of exact sizes: the largest unit that divides @bytes,
 * written "1028M" or, with @iec, "1028 MiB" (bytes: "1000" or "1000 B").
 */
static const char *format_exact(uint64_t bytes, char buf[SIZE_STR_MAX],
				bool iec)
{
	int i;

	for (i = (int)strlen(size_units) - 1; i >= 0 && bytes; i--) {
		int shift = 10 * (i + 1);

		if (!(bytes & ((1ULL << shift) - 1))) {
			snprintf(buf, SIZE_STR_MAX, "%llu%s%c%s",
				 (unsigned long long)(bytes >> shift),
				 iec ? " " : "", size_units[i], iec ? "iB" : "");
			return buf;
		}
	}
	snprintf(buf, SIZE_STR_MAX, "%llu%s", (unsigned long long)bytes,
		 iec ? " B" : "");
	return buf;
}

/**
 * size_format() - exact size in the largest unit that divides it.
 * @bytes: the size
 * @buf: at least SIZE_STR_MAX bytes
 *
 * 1077936128 gives "1028M", 4294967296 gives "4G", 0 gives "0", 1000 "1000".
 * Return: @buf
 */
const char *size_format(uint64_t bytes, char buf[SIZE_STR_MAX])
{
	return format_exact(bytes, buf, false);
}

/**
 * size_format_iec() - as size_format(), for people: "1028 MiB", "4 GiB",
 * "0 B".
 * @bytes: the size
 * @buf: at least SIZE_STR_MAX bytes
 *
 * Return: @buf
 */
const char *size_format_iec(uint64_t bytes, char buf[SIZE_STR_MAX])
{
	return format_exact(bytes, buf, true);
}

/**
 * size_human() - short size for progress output: exact when that takes at
 * most four digits ("1028M", "256M"), else one decimal ("1.5G").
 * @bytes: the size
 * @buf: at least SIZE_STR_MAX bytes
 *
 * Return: @buf
 */
const char *size_human(uint64_t bytes, char buf[SIZE_STR_MAX])
{
	double value = (double)bytes;
	size_t len;
	int i = -1;

	if (strlen(size_format(bytes, buf)) <= 5)
		return buf;
	while (value >= 1024.0 && size_units[i + 1]) {
		value /= 1024.0;
		i++;
	}
	if (i < 0)
		return buf;
	snprintf(buf, SIZE_STR_MAX, "%.1f", value);
	len = strlen(buf);
	if (len > 2 && !strcmp(buf + len - 2, ".0"))
		len -= 2;
	snprintf(buf + len, SIZE_STR_MAX - len, "%c", size_units[i]);
	return buf;
}
