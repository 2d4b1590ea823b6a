// SPDX-License-Identifier: GPL-2.0
/*
 * vmemstat - show the virtio-mem driver's state inside a guest: per device
 * the mode, sizes and shortfall (sysfs), the memory blocks with a map of
 * their sub blocks, and the request counters (debugfs). Like lsmem for the
 * memory the driver manages.
 *
 *   vmemstat [-a] [-c] [-n] [DEVICE...]
 *
 * DEVICE is a virtio device name (virtio0); default: every device bound to
 * the virtio_mem driver. Needs debugfs mounted for the block map and the
 * counters.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "size.h"

#define DRIVER_DIR "/sys/bus/virtio/drivers/virtio_mem"
#define DEBUGFS_DIR "/sys/kernel/debug/virtio_mem"

static int show_unused;		/* -a: list unused memory blocks too */
static int show_counters;	/* -c: request and retry counters */
static int use_color = -1;	/* -n: no colour; default: colour on a tty */

/* Read a one-line attribute into buf without its newline; 0 on success. */
static int read_attr(const char *dev, const char *name, char *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), DRIVER_DIR "/%s/%s", dev, name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static unsigned long long attr_u64(const char *dev, const char *name)
{
	char buf[64];

	if (read_attr(dev, name, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 0);
}

static void print_header(const char *dev)
{
	char mode[16] = "?", reason[128] = "none";
	char a[SIZE_STR_MAX], b[SIZE_STR_MAX], c[SIZE_STR_MAX], d[SIZE_STR_MAX];
	unsigned long long shortfall = attr_u64(dev, "shortfall");

	read_attr(dev, "mode", mode, sizeof(mode));
	read_attr(dev, "shortfall_reason", reason, sizeof(reason));
	printf("%s: %s, device block %s, %s %s, region %#llx +%s\n", dev,
	       strcmp(mode, "bbm") ? "Sub Block Mode" : "Big Block Mode",
	       size_format_iec(attr_u64(dev, "block_size"), a),
	       strcmp(mode, "bbm") ? "sub block" : "big block",
	       size_format_iec(attr_u64(dev, strcmp(mode, "bbm") ?
					 "sub_block_size" : "big_block_size"),
			       b),
	       attr_u64(dev, "region_addr"),
	       size_format_iec(attr_u64(dev, "region_size"), c));
	printf("  plugged %s, requested %s",
	       size_format_iec(attr_u64(dev, "plugged_size"), a),
	       size_format_iec(attr_u64(dev, "requested_size"), d));
	if (shortfall)
		printf(", short by %s: %s", size_format_iec(shortfall, b),
		       reason);
	printf("\n");
}

/* One debugfs line "memoryN STATE MAP" as a table row. */
static void print_block(const char *line, unsigned long long sb_size)
{
	char name[32], state[32], map[160];
	unsigned long long plugged = 0;
	char sz[SIZE_STR_MAX];
	size_t i;

	if (sscanf(line, "%31s %31s %159s", name, state, map) != 3)
		return;
	if (!show_unused && !strcmp(state, "unused"))
		return;
	for (i = 0; map[i]; i++)
		plugged += map[i] == '#';
	printf("  %-12s %-15s %9s  ", name, state,
	       size_format_iec(plugged * sb_size, sz));
	for (i = 0; map[i]; i++) {
		if (use_color)
			fputs(map[i] == '#' ? "\033[32m#\033[0m" : "\033[2m.\033[0m",
			      stdout);
		else
			putchar(map[i]);
	}
	printf("\n");
}

static int print_debugfs(const char *dev)
{
	unsigned long long sb_size = attr_u64(dev, "sub_block_size");
	char path[512], line[512];
	FILE *f;

	snprintf(path, sizeof(path), DEBUGFS_DIR "/%s/blocks", dev);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "vmemstat: %s: %s (is debugfs mounted?)\n", path,
			strerror(errno));
		return -1;
	}
	printf("  %-12s %-15s %9s  %s\n", "BLOCK", "STATE", "PLUGGED",
	       "SUB BLOCKS (# plugged, . unplugged)");
	while (fgets(line, sizeof(line), f))
		print_block(line, sb_size);
	fclose(f);

	if (!show_counters)
		return 0;
	snprintf(path, sizeof(path), DEBUGFS_DIR "/%s/stats", dev);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "vmemstat: %s: %s\n", path, strerror(errno));
		return -1;
	}
	printf("  counters:");
	while (fgets(line, sizeof(line), f)) {
		char key[64];
		long long val;

		/* Zero counters are noise; memory block counts are above. */
		if (sscanf(line, "%63s %lld", key, &val) == 2 && val &&
		    strncmp(key, "memory_blocks_", 14))
			printf(" %s=%lld", key, val);
	}
	printf("\n");
	fclose(f);
	return 0;
}

static int show_device(const char *dev)
{
	char probe[16];
	int rc = read_attr(dev, "mode", probe, sizeof(probe));

	if (rc) {
		fprintf(stderr, "vmemstat: %s: not a device of the virtio_mem driver (%s)\n",
			dev, strerror(-rc));
		return -1;
	}
	print_header(dev);
	return print_debugfs(dev);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: vmemstat [-a] [-c] [-n] [DEVICE...]\n"
		"  -a  list unused memory blocks too\n"
		"  -c  show request and retry counters\n"
		"  -n  no colour\n"
		"DEVICE: virtio device name (virtio0); default: all devices of\n"
		"the virtio_mem driver. Exit status 1 when one cannot be shown.\n");
}

int main(int argc, char **argv)
{
	struct dirent *de;
	int opt, rc = 0, found = 0;
	DIR *dir;

	while ((opt = getopt(argc, argv, "acnh")) != -1) {
		switch (opt) {
		case 'a':
			show_unused = 1;
			break;
		case 'c':
			show_counters = 1;
			break;
		case 'n':
			use_color = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (use_color < 0)
		use_color = isatty(STDOUT_FILENO);

	if (optind < argc) {
		for (; optind < argc; optind++)
			rc |= show_device(argv[optind]);
		return rc ? 1 : 0;
	}

	dir = opendir(DRIVER_DIR);
	if (!dir) {
		fprintf(stderr, "vmemstat: %s: %s (is virtio_mem loaded?)\n",
			DRIVER_DIR, strerror(errno));
		return 1;
	}
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "virtio", 6))
			continue;
		found = 1;
		rc |= show_device(de->d_name);
	}
	closedir(dir);
	if (!found) {
		fprintf(stderr, "vmemstat: no device is bound to virtio_mem\n");
		return 1;
	}
	return rc ? 1 : 0;
}
