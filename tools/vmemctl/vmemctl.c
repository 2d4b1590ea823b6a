// SPDX-License-Identifier: GPL-2.0
/*
 * vmemctl - list and resize the virtio-mem devices of a running QEMU
 * over QMP.
 *
 *   vmemctl -s SOCK status
 *   vmemctl -s SOCK resize ID SIZE [--wait] [--timeout S]
 *
 * The plugged size is QEMU's "size" property of the device; the guest's
 * driver moves it towards "requested-size", which is what resize sets.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "progress.h"
#include "qmp.h"
#include "size.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_REFUSED = 4,
	EXIT_TIMEOUT = 5,
	EXIT_INTERRUPTED = 130,
};

#define GREETING_TIMEOUT_MS	5000
#define POLL_INTERVAL_MS	250
#define SIZE_EVENT		"MEMORY_DEVICE_SIZE_CHANGE"
#define PERIPHERAL_PATH		"/machine/peripheral/"

struct options {
	const char *socket;
	const char *command;
	const char *id;
	const char *size_text;
	bool json;
	bool wait;
	bool quiet;
	double timeout;		/* seconds; 0: wait for ever */
};

struct vmem_dev {
	const char *id;		/* NULL if the device has none */
	const char *memdev;
	int64_t node;
	uint64_t memaddr;
	uint64_t region;	/* max-size */
	uint64_t block;
	uint64_t requested;
	uint64_t plugged;	/* size */
};

struct dev_list {
	struct json_object *answer;	/* owns the strings of devs[] */
	struct vmem_dev *devs;
	size_t count;
};

/* What a resize is after; size change events update plugged. */
struct resize {
	const char *id;
	char *path;		/* QOM path of the device */
	uint64_t target;
	uint64_t plugged;
	double started;
};

static const char usage_text[] =
"Usage: vmemctl -s SOCK [--json] status\n"
"       vmemctl -s SOCK [--json] resize ID SIZE [--wait] [--timeout S] [--quiet]\n"
"\n"
"List and resize the virtio-mem devices of a running QEMU over QMP.\n"
"QEMU serves one client per QMP socket: give vmemctl a socket of its own,\n"
"e.g. -qmp unix:/run/vm-vmemctl.sock,server=on,wait=off\n"
"\n"
"Commands:\n"
"  status          every virtio-mem device: id, NUMA node, block size,\n"
"                  region (address and size), requested and plugged size;\n"
"                  then, for each device whose plugged size is not the\n"
"                  requested one, a line \"ID: shortfall SIZE (plugged above\n"
"                  requested)\" (or below). QEMU knows no reason: during a\n"
"                  resize it is the part not done yet; if it stays, the\n"
"                  guest's driver tells why (sysfs shortfall_reason)\n"
"  resize ID SIZE  set device ID's requested-size to SIZE: bytes, or a\n"
"                  number with K, M, G or T (binary: 1G = 1024M); a multiple\n"
"                  of the device's block size, at most its region size\n"
"\n"
"Options:\n"
"  -s, --socket SOCK  QEMU's QMP UNIX socket (required)\n"
"  -j, --json         machine-readable output on stdout\n"
"  -w, --wait         resize: wait until QEMU reports SIZE plugged, showing\n"
"                     progress on stderr (a bar on a terminal, else a line\n"
"                     a second)\n"
"  -t, --timeout S    resize: stop waiting after S seconds (implies --wait)\n"
"  -q, --quiet        resize: no progress output\n"
"  -h, --help         this text\n"
"\n"
"JSON output (sizes in bytes):\n"
"  status  [{\"id\", \"node\", \"memdev\", \"memaddr\", \"region_size\",\n"
"            \"block_size\", \"requested\", \"plugged\", \"shortfall\",\n"
"            \"shortfall_reason\"}, ...]: shortfall is the difference of\n"
"            plugged and requested, its reason null, \"plugged above\n"
"            requested\" or \"plugged below requested\"\n"
"  resize  {\"id\", \"requested\", \"plugged\", \"reached\", \"elapsed_s\"}\n"
"          (also printed when --wait times out)\n"
"\n"
"Exit status:\n"
"  0    done (resize --wait: the plugged size reached SIZE)\n"
"  1    internal error (out of memory)\n"
"  2    usage or bad input: malformed size, size not a multiple of the\n"
"       block size, size beyond the device's region, unknown device id\n"
"  3    QEMU unreachable: no socket, connection refused, no QMP greeting\n"
"       (another client holds the socket), connection lost\n"
"  4    QEMU refused the command (its error is printed)\n"
"  5    resize --wait timed out (target, plugged size, elapsed time printed)\n"
"  130  interrupted by SIGINT or SIGTERM while waiting\n";

static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("vmemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int qmp_exit_code(int err)
{
	switch (err) {
	case QMP_EREFUSED:
		return EXIT_REFUSED;
	case QMP_EINTR:
		return EXIT_INTERRUPTED;
	case QMP_ENOMEM:
		return EXIT_FAIL;
	default:
		return EXIT_UNREACHABLE;
	}
}

/* Print what went wrong; interruptions are reported by the waiter. */
static int qmp_failed(struct qmp *qmp, int err, const char *doing)
{
	if (err == QMP_EINTR)
		return EXIT_INTERRUPTED;
	if (err == QMP_EREFUSED)
		return fail(EXIT_REFUSED, "QEMU refused to %s: %s", doing,
			    qmp_errmsg(qmp));
	return fail(qmp_exit_code(err), "%s", qmp_errmsg(qmp));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- options ------------------------------------------------------------ */

static bool parse_seconds(const char *text, double *seconds)
{
	char *end;

	*seconds = strtod(text, &end);
	return end != text && !*end && isfinite(*seconds) && *seconds > 0;
}

static int parse_flags(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:jwt:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt->socket = optarg;
			break;
		case 'j':
			opt->json = true;
			break;
		case 'w':
			opt->wait = true;
			break;
		case 't':
			if (!parse_seconds(optarg, &opt->timeout))
				return fail(EXIT_USAGE, "bad timeout '%s': expected seconds > 0",
					    optarg);
			opt->wait = true;
			break;
		case 'q':
			opt->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(EXIT_OK);
		case ':':
			return fail(EXIT_USAGE, "option %s needs a value (see vmemctl --help)",
				    argv[optind - 1]);
		default:
			if (optopt)
				return fail(EXIT_USAGE, "unknown option -%c (see vmemctl --help)",
					    optopt);
			return fail(EXIT_USAGE, "unknown option %s (see vmemctl --help)",
				    argv[optind - 1]);
		}
	}
	return EXIT_OK;
}

static int parse_words(int argc, char **argv, struct options *opt)
{
	int words = argc - optind;

	if (words < 1)
		return fail(EXIT_USAGE, "no command given (see vmemctl --help)");
	opt->command = argv[optind];
	if (!strcmp(opt->command, "status")) {
		if (words != 1)
			return fail(EXIT_USAGE, "status takes no arguments");
		if (opt->wait || opt->quiet)
			return fail(EXIT_USAGE, "--wait, --timeout and --quiet are for resize");
		return EXIT_OK;
	}
	if (!strcmp(opt->command, "resize")) {
		if (words != 3)
			return fail(EXIT_USAGE, "resize takes ID and SIZE (see vmemctl --help)");
		opt->id = argv[optind + 1];
		opt->size_text = argv[optind + 2];
		return EXIT_OK;
	}
	return fail(EXIT_USAGE, "unknown command '%s' (see vmemctl --help)",
		    opt->command);
}

static int parse_args(int argc, char **argv, struct options *opt)
{
	int ret = parse_flags(argc, argv, opt);

	if (ret)
		return ret;
	ret = parse_words(argc, argv, opt);
	if (ret)
		return ret;
	if (!opt->socket)
		return fail(EXIT_USAGE, "no QMP socket given: use -s SOCK");
	return EXIT_OK;
}

/* ---- devices ------------------------------------------------------------ */

static bool json_u64(struct json_object *obj, const char *key, uint64_t *val)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*val = json_object_get_uint64(v);
	return true;
}

static const char *json_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One query-memory-devices entry: 1 if virtio-mem, 0 if not, -1 if odd. */
static int dev_from_json(struct json_object *entry, struct vmem_dev *dev)
{
	struct json_object *data;
	const char *type = json_str(entry, "type");
	uint64_t node = 0;

	if (!type || !json_object_object_get_ex(entry, "data", &data))
		return -1;
	if (strcmp(type, "virtio-mem"))
		return 0;
	dev->id = json_str(data, "id");
	dev->memdev = json_str(data, "memdev");
	if (!json_u64(data, "memaddr", &dev->memaddr) ||
	    !json_u64(data, "max-size", &dev->region) ||
	    !json_u64(data, "block-size", &dev->block) ||
	    !json_u64(data, "requested-size", &dev->requested) ||
	    !json_u64(data, "size", &dev->plugged) ||
	    !json_u64(data, "node", &node))
		return -1;
	dev->node = (int64_t)node;
	return 1;
}

static void dev_list_free(struct dev_list *list)
{
	free(list->devs);
	json_object_put(list->answer);
	memset(list, 0, sizeof(*list));
}

static int dev_list_fill(struct dev_list *list)
{
	size_t i, entries = json_object_array_length(list->answer);
	int ret;

	list->devs = calloc(entries ? entries : 1, sizeof(*list->devs));
	if (!list->devs)
		return fail(EXIT_FAIL, "out of memory");
	for (i = 0; i < entries; i++) {
		ret = dev_from_json(json_object_array_get_idx(list->answer, i),
				    &list->devs[list->count]);
		if (ret < 0)
			return fail(EXIT_UNREACHABLE,
				    "odd entry %zu in QEMU's query-memory-devices", i);
		list->count += (size_t)ret;
	}
	return EXIT_OK;
}

static int query_devices(struct qmp *qmp, struct dev_list *list)
{
	int err;

	memset(list, 0, sizeof(*list));
	err = qmp_execute(qmp, "query-memory-devices", NULL, &list->answer);
	if (err)
		return qmp_failed(qmp, err, "list memory devices");
	if (!json_object_is_type(list->answer, json_type_array))
		return fail(EXIT_UNREACHABLE,
			    "query-memory-devices did not answer with a list");
	return dev_list_fill(list);
}

static const struct vmem_dev *find_dev(const struct dev_list *list,
				       const char *id)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		if (list->devs[i].id && !strcmp(list->devs[i].id, id))
			return &list->devs[i];
	return NULL;
}

static int unknown_dev(const struct dev_list *list, const char *id)
{
	char known[256] = "";
	size_t i, len = 0;

	for (i = 0; i < list->count && len < sizeof(known); i++)
		len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
					i ? ", " : "",
					list->devs[i].id ? list->devs[i].id : "(no id)");
	if (!list->count)
		return fail(EXIT_USAGE, "no virtio-mem device '%s': QEMU has none",
			    id);
	return fail(EXIT_USAGE, "no virtio-mem device '%s' (QEMU has: %s)", id,
		    known);
}

/* ---- status ------------------------------------------------------------- */

/*
 * What QEMU shows of a shortfall: the plugged size differs from the
 * requested one. Return: the difference, and in *@reason which side it is
 * on (NULL when there is none).
 */
static uint64_t dev_shortfall(const struct vmem_dev *dev, const char **reason)
{
	if (dev->plugged > dev->requested) {
		*reason = "plugged above requested";
		return dev->plugged - dev->requested;
	}
	if (dev->plugged < dev->requested) {
		*reason = "plugged below requested";
		return dev->requested - dev->plugged;
	}
	*reason = NULL;
	return 0;
}

static struct json_object *dev_to_json(const struct vmem_dev *dev)
{
	struct json_object *obj = json_object_new_object();
	const char *reason;
	uint64_t shortfall = dev_shortfall(dev, &reason);

	json_object_object_add(obj, "id",
			       dev->id ? json_object_new_string(dev->id) : NULL);
	json_object_object_add(obj, "node", json_object_new_int64(dev->node));
	json_object_object_add(obj, "memdev", dev->memdev ?
			       json_object_new_string(dev->memdev) : NULL);
	json_object_object_add(obj, "memaddr",
			       json_object_new_uint64(dev->memaddr));
	json_object_object_add(obj, "region_size",
			       json_object_new_uint64(dev->region));
	json_object_object_add(obj, "block_size",
			       json_object_new_uint64(dev->block));
	json_object_object_add(obj, "requested",
			       json_object_new_uint64(dev->requested));
	json_object_object_add(obj, "plugged",
			       json_object_new_uint64(dev->plugged));
	json_object_object_add(obj, "shortfall",
			       json_object_new_uint64(shortfall));
	json_object_object_add(obj, "shortfall_reason",
			       reason ? json_object_new_string(reason) : NULL);
	return obj;
}

static void print_json(struct json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
					     JSON_C_TO_STRING_SPACED |
					     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

static void status_json(const struct dev_list *list)
{
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < list->count; i++)
		json_object_array_add(arr, dev_to_json(&list->devs[i]));
	print_json(arr);
}

static int id_width(const struct dev_list *list)
{
	int width = 2;
	size_t i;

	for (i = 0; i < list->count; i++)
		if (list->devs[i].id && (int)strlen(list->devs[i].id) > width)
			width = (int)strlen(list->devs[i].id);
	return width;
}

static void status_row(const struct vmem_dev *dev, int idw)
{
	char block[SIZE_STR_MAX], region[SIZE_STR_MAX];
	char requested[SIZE_STR_MAX], plugged[SIZE_STR_MAX];

	printf("%-*s %4lld %6s  0x%016llx %8s %10s %10s  %s\n", idw,
	       dev->id ? dev->id : "-", (long long)dev->node,
	       size_format(dev->block, block),
	       (unsigned long long)dev->memaddr,
	       size_format(dev->region, region),
	       size_format(dev->requested, requested),
	       size_format(dev->plugged, plugged),
	       dev->memdev ? dev->memdev : "-");
}

/* Below the table: "vm0: shortfall 2G (plugged above requested)". */
static void status_shortfall(const struct vmem_dev *dev)
{
	char size[SIZE_STR_MAX];
	const char *reason;
	uint64_t shortfall = dev_shortfall(dev, &reason);

	if (shortfall)
		printf("%s: shortfall %s (%s)\n", dev->id ? dev->id : "-",
		       size_format(shortfall, size), reason);
}

static void status_table(const struct dev_list *list)
{
	int idw = id_width(list);
	size_t i;

	if (!list->count) {
		printf("no virtio-mem devices\n");
		return;
	}
	printf("%-*s %4s %6s  %-18s %8s %10s %10s  %s\n", idw, "ID", "NODE",
	       "BLOCK", "MEMADDR", "REGION", "REQUESTED", "PLUGGED", "MEMDEV");
	for (i = 0; i < list->count; i++)
		status_row(&list->devs[i], idw);
	for (i = 0; i < list->count; i++)
		status_shortfall(&list->devs[i]);
}

static int cmd_status(struct qmp *qmp, const struct options *opt)
{
	struct dev_list list;
	int ret = query_devices(qmp, &list);

	if (!ret) {
		if (opt->json)
			status_json(&list);
		else
			status_table(&list);
	}
	dev_list_free(&list);
	return ret;
}

/* ---- resize ------------------------------------------------------------- */

static int check_size(const struct vmem_dev *dev, uint64_t size)
{
	char want[SIZE_STR_MAX], have[SIZE_STR_MAX];

	if (size % dev->block)
		return fail(EXIT_USAGE, "%s is not a multiple of %s's block size %s",
			    size_format(size, want), dev->id,
			    size_format(dev->block, have));
	if (size > dev->region)
		return fail(EXIT_USAGE, "%s exceeds %s's region size %s",
			    size_format(size, want), dev->id,
			    size_format(dev->region, have));
	return EXIT_OK;
}

static int qom_set_requested(struct qmp *qmp, struct resize *rs)
{
	struct json_object *args = json_object_new_object();
	char size[SIZE_STR_MAX], doing[128];
	int err;

	json_object_object_add(args, "path", json_object_new_string(rs->path));
	json_object_object_add(args, "property",
			       json_object_new_string("requested-size"));
	json_object_object_add(args, "value", json_object_new_uint64(rs->target));
	err = qmp_execute(qmp, "qom-set", args, NULL);
	if (!err)
		return EXIT_OK;
	snprintf(doing, sizeof(doing), "set %s's requested-size to %s", rs->id,
		 size_format(rs->target, size));
	return qmp_failed(qmp, err, doing);
}

/* QEMU's plugged size into rs->plugged; 0 or a negative enum qmp_err. */
static int qom_get_plugged(struct qmp *qmp, struct resize *rs)
{
	struct json_object *args = json_object_new_object();
	struct json_object *val = NULL;
	int err;

	json_object_object_add(args, "path", json_object_new_string(rs->path));
	json_object_object_add(args, "property", json_object_new_string("size"));
	err = qmp_execute(qmp, "qom-get", args, &val);
	if (!err)
		rs->plugged = json_object_get_uint64(val);	/* an int in QAPI */
	json_object_put(val);
	return err;
}

/* MEMORY_DEVICE_SIZE_CHANGE: data {id, size, qom-path}. */
static void on_event(void *ctx, const char *name, struct json_object *data)
{
	struct resize *rs = ctx;
	const char *id, *path;

	if (!rs->path || strcmp(name, SIZE_EVENT) || !data)
		return;
	id = json_str(data, "id");
	path = json_str(data, "qom-path");
	if ((id && !strcmp(id, rs->id)) || (path && !strcmp(path, rs->path)))
		json_u64(data, "size", &rs->plugged);
}

static void resize_report(const struct resize *rs, bool json, bool reached)
{
	char want[SIZE_STR_MAX], have[SIZE_STR_MAX];
	double elapsed = now_s() - rs->started;
	struct json_object *obj;
	char secs[32];

	if (!json) {
		if (reached)
			printf("%s: plugged %s, requested %s, reached in %.1fs\n",
			       rs->id, size_format(rs->plugged, have),
			       size_format(rs->target, want), elapsed);
		else
			printf("%s: requested %s, plugged %s\n", rs->id,
			       size_format(rs->target, want),
			       size_format(rs->plugged, have));
		return;
	}
	snprintf(secs, sizeof(secs), "%.2f", elapsed);
	obj = json_object_new_object();
	json_object_object_add(obj, "id", json_object_new_string(rs->id));
	json_object_object_add(obj, "requested", json_object_new_uint64(rs->target));
	json_object_object_add(obj, "plugged", json_object_new_uint64(rs->plugged));
	json_object_object_add(obj, "reached",
			       json_object_new_boolean(rs->plugged == rs->target));
	json_object_object_add(obj, "elapsed_s",
			       json_object_new_double_s(elapsed, secs));
	print_json(obj);
}

/*
 * While waiting, SIGINT and SIGTERM end the wait with a report: they are
 * blocked and read from a signalfd that stops the QMP client's waits.
 * Return: the signalfd, or -1 (then they keep their default action).
 */
static int catch_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Sleep until a size change event or the next poll; < 0 on errors. */
static int wait_step(struct qmp *qmp, const struct options *opt,
		     double elapsed)
{
	double left = opt->timeout - elapsed;
	int wait_ms = POLL_INTERVAL_MS;
	int ret;

	if (opt->timeout > 0 && left * 1000 < wait_ms)
		wait_ms = (int)(left * 1000) + 1;
	ret = qmp_wait_events(qmp, wait_ms);
	return ret < 0 ? ret : 0;
}

/* 0: reached, 1: timed out, < 0: enum qmp_err. */
static int wait_loop(struct qmp *qmp, struct resize *rs,
		     const struct options *opt, struct progress *bar)
{
	double elapsed;
	int err;

	for (;;) {
		err = qom_get_plugged(qmp, rs);
		if (err)
			return err;
		elapsed = now_s() - rs->started;
		if (rs->plugged == rs->target)
			return 0;
		if (opt->timeout > 0 && elapsed >= opt->timeout)
			return 1;
		progress_show(bar, rs->plugged, elapsed);
		err = wait_step(qmp, opt, elapsed);
		if (err)
			return err;
	}
}

static int wait_until_plugged(struct qmp *qmp, struct resize *rs,
			      const struct options *opt)
{
	int stop_fd = catch_signals();
	struct progress bar;
	int ret;

	qmp_set_stop_fd(qmp, stop_fd);
	progress_start(&bar, rs->id, rs->plugged, rs->target, !opt->quiet);
	ret = wait_loop(qmp, rs, opt, &bar);
	/* The bar ends its line before any message. */
	progress_end(&bar, rs->plugged, now_s() - rs->started);
	qmp_set_stop_fd(qmp, -1);
	if (stop_fd >= 0)
		close(stop_fd);
	if (ret < 0)
		return qmp_failed(qmp, ret, "read the plugged size");
	return ret ? EXIT_TIMEOUT : EXIT_OK;
}

static int wait_failed(const struct resize *rs, int code)
{
	char want[SIZE_STR_MAX], have[SIZE_STR_MAX];

	return fail(code, "%s after %.1fs: %s plugged %s of requested %s",
		    code == EXIT_TIMEOUT ? "timed out" : "interrupted",
		    now_s() - rs->started, rs->id,
		    size_format(rs->plugged, have),
		    size_format(rs->target, want));
}

static int resize_and_wait(struct qmp *qmp, struct resize *rs,
			   const struct options *opt)
{
	int ret;

	ret = qom_set_requested(qmp, rs);
	if (ret)
		return ret;
	rs->started = now_s();
	if (!opt->wait) {
		ret = qom_get_plugged(qmp, rs);
		if (ret)
			return qmp_failed(qmp, ret, "read the plugged size");
		resize_report(rs, opt->json, false);
		return EXIT_OK;
	}
	ret = wait_until_plugged(qmp, rs, opt);
	if (ret == EXIT_OK || ret == EXIT_TIMEOUT)
		resize_report(rs, opt->json, ret == EXIT_OK);
	if (ret == EXIT_TIMEOUT || ret == EXIT_INTERRUPTED)
		return wait_failed(rs, ret);
	return ret;
}

static int cmd_resize(struct qmp *qmp, struct resize *rs,
		      const struct options *opt)
{
	const struct vmem_dev *dev;
	struct dev_list list;
	int ret;

	ret = query_devices(qmp, &list);
	if (ret)
		goto out;
	dev = find_dev(&list, opt->id);
	ret = dev ? check_size(dev, rs->target) : unknown_dev(&list, opt->id);
	if (ret)
		goto out;
	rs->plugged = dev->plugged;
	if (asprintf(&rs->path, PERIPHERAL_PATH "%s", opt->id) < 0) {
		rs->path = NULL;
		ret = fail(EXIT_FAIL, "out of memory");
		goto out;
	}
	ret = resize_and_wait(qmp, rs, opt);
out:
	dev_list_free(&list);
	return ret;
}

/* ---- main --------------------------------------------------------------- */

static int run(const struct options *opt, struct resize *rs)
{
	struct qmp *qmp = qmp_new(on_event, rs);
	int ret;

	if (!qmp)
		return fail(EXIT_FAIL, "out of memory");
	ret = qmp_connect(qmp, opt->socket, GREETING_TIMEOUT_MS);
	if (ret)
		ret = qmp_failed(qmp, ret, "start a QMP session");
	else if (!strcmp(opt->command, "status"))
		ret = cmd_status(qmp, opt);
	else
		ret = cmd_resize(qmp, rs, opt);
	qmp_close(qmp);
	return ret;
}

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct resize rs = { 0 };
	int ret;

	ret = parse_args(argc, argv, &opt);
	if (ret)
		return ret;
	if (opt.size_text && !size_parse(opt.size_text, &rs.target))
		return fail(EXIT_USAGE,
			    "bad size '%s': expected bytes or a number with K, M, G or T",
			    opt.size_text);
	rs.id = opt.id;
	ret = run(&opt, &rs);
	free(rs.path);
	return ret;
}
