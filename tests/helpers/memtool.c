// SPDX-License-Identifier: GPL-2.0
/*
 * memtool - guest-side helper for the virtio-mem test rig.
 *
 * Runs inside the test guest (static binary, busybox userland) and holds
 * memory in the ways the scenarios need:
 *
 *   memtool hold-anon MB      hold MB MiB of anonymous memory filled with a
 *                             verifiable pattern; print "ready", then verify
 *                             all of it on every SIGUSR1 ("verify ok" or
 *                             "verify FAILED at ..."); exit on SIGTERM.
 *   memtool grow-anon MB STEP grow anonymous memory to MB MiB, STEP MiB at a
 *                             time as fast as it can, each chunk filled with
 *                             a verifiable pattern: "grown N MiB" after each,
 *                             "done N MiB" at the end; then as hold-anon.
 *   memtool hold-pipes MB     hold MB MiB of unmovable kernel memory in pipe
 *                             buffers; print "ready <bytes>"; release and
 *                             exit on SIGTERM.
 *   memtool fill-file PATH MB write MB MiB of verifiable data to PATH.
 *   memtool check-file PATH   verify a file written by fill-file; print
 *                             "check ok <MB>" or "check FAILED at ...".
 *   memtool read-mapped PATH OFFSET LENGTH
 *                             read LENGTH bytes of PATH from OFFSET (both
 *                             page-aligned) through mmap, every 8-byte word
 *                             of them; print "read-mapped <bytes>".  For
 *                             /proc/vmcore: a mapping costs one call per
 *                             window where read() remaps every page.
 *
 * Every line is flushed at once so the rig can poll a redirected stdout.
 * Exit status: 0 on success, 1 on a verification failure, 2 on usage or
 * system errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define MIB			(1024UL * 1024UL)
#define CHUNK_SIZE		4096UL
#define PIPE_BYTES		(16UL * MIB)
#define FILE_MAGIC		0x766d656d66696c65ULL	/* "vmemfile" */
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* Set by the signal handler: volatile sig_atomic_t is what C allows there. */
static volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t got_term;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "memtool: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: memtool hold-anon MB\n"
		"       memtool grow-anon MB STEP_MB\n"
		"       memtool hold-pipes MB\n"
		"       memtool fill-file PATH MB\n"
		"       memtool check-file PATH\n"
		"       memtool read-mapped PATH OFFSET LENGTH\n");
	exit(2);
}

static unsigned long parse_mb(const char *arg)
{
	char *end;
	unsigned long mb;

	errno = 0;
	mb = strtoul(arg, &end, 10);
	if (errno || *end || mb == 0) {
		fprintf(stderr, "memtool: bad size in MiB: '%s'\n", arg);
		exit(2);
	}
	return mb;
}

/*
 * The word expected at byte offset @off of a region tagged @seed. Unique per
 * word, never zero for a page, so neither KSM nor the zero page can stand
 * in for the data and a misplaced page is detected, not only a lost one.
 */
static uint64_t pattern_word(uint64_t seed, uint64_t off)
{
	uint64_t x = seed ^ (off * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 31;
	return x | 1;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

/*
 * Block SIGUSR1 and SIGTERM and install handlers; the caller waits for
 * them with sigsuspend() on @waitmask, so no signal is lost between the
 * check of the flags and the wait.
 */
static void signals_setup(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		die("sigaction");

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, waitmask))
		die("sigprocmask");
	sigdelset(waitmask, SIGUSR1);
	sigdelset(waitmask, SIGTERM);
}

/* Check a region filled with @seed's pattern; say only what is wrong. */
static int anon_check(const uint64_t *mem, size_t bytes, uint64_t seed)
{
	size_t i, words = bytes / sizeof(*mem);

	for (i = 0; i < words; i++) {
		uint64_t want = pattern_word(seed, i * sizeof(*mem));

		if (mem[i] != want) {
			say("verify FAILED at offset 0x%zx: expected 0x%016" PRIx64
			    " got 0x%016" PRIx64, i * sizeof(*mem), want, mem[i]);
			return -1;
		}
	}
	return 0;
}

static int anon_verify(const uint64_t *mem, size_t bytes, uint64_t seed)
{
	if (anon_check(mem, bytes, seed))
		return -1;
	say("verify ok %zu MiB", bytes / MIB);
	return 0;
}

static int cmd_hold_anon(unsigned long mb)
{
	size_t i, bytes = mb * MIB, words = bytes / sizeof(uint64_t);
	uint64_t seed = (uint64_t)getpid() << 32 | 0x616e6f6eU;
	sigset_t waitmask;
	uint64_t *mem;
	int failed = 0;

	signals_setup(&waitmask);
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	for (i = 0; i < words; i++)
		mem[i] = pattern_word(seed, i * sizeof(*mem));
	say("ready %lu MiB anon", mb);

	while (!got_term) {
		sigsuspend(&waitmask);
		if (got_usr1) {
			got_usr1 = 0;
			if (anon_verify(mem, bytes, seed))
				failed = 1;
		}
	}
	say("exit");
	return failed;
}

/*
 * A workload whose memory grows: @step_mb MiB chunks, each mapped and filled
 * on its own, until @mb MiB are held. The chunks are verified together on
 * SIGUSR1.
 */
static int cmd_grow_anon(unsigned long mb, unsigned long step_mb)
{
	size_t chunk = step_mb * MIB, nchunks = (mb + step_mb - 1) / step_mb;
	uint64_t seed = (uint64_t)getpid() << 32 | 0x67726f77U;
	size_t i, held = 0, n = 0;
	sigset_t waitmask;
	uint64_t **mem;
	int failed = 0;

	signals_setup(&waitmask);
	mem = calloc(nchunks, sizeof(*mem));
	if (!mem)
		die("calloc");
	while (held < mb * MIB) {
		size_t bytes = mb * MIB - held < chunk ? mb * MIB - held : chunk;

		mem[n] = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem[n] == MAP_FAILED)
			die("mmap");
		for (i = 0; i < bytes / sizeof(uint64_t); i++)
			mem[n][i] = pattern_word(seed + n, i * sizeof(uint64_t));
		held += bytes;
		n++;
		say("grown %zu MiB", held / MIB);
	}
	say("done %zu MiB", held / MIB);

	while (!got_term) {
		sigsuspend(&waitmask);
		if (!got_usr1)
			continue;
		got_usr1 = 0;
		for (i = 0, held = 0; i < n; i++) {
			size_t bytes = mb * MIB - held < chunk ?
				       mb * MIB - held : chunk;

			if (anon_check(mem[i], bytes, seed + i)) {
				failed = 1;
				break;
			}
			held += bytes;
		}
		if (i == n)
			say("verify ok %zu MiB", held / MIB);
	}
	say("exit");
	return failed;
}

/* Allow big pipes: root may exceed the limits, but raise them anyway. */
static void pipes_raise_limits(size_t pipes)
{
	static const char * const knobs[][2] = {
		{ "/proc/sys/fs/pipe-max-size", "16777216" },
		{ "/proc/sys/fs/pipe-user-pages-soft", "0" },
		{ "/proc/sys/fs/pipe-user-pages-hard", "0" },
	};
	struct rlimit rl;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		int fd = open(knobs[i][0], O_WRONLY);

		if (fd < 0)
			continue;
		if (write(fd, knobs[i][1], strlen(knobs[i][1])) < 0)
			fprintf(stderr, "memtool: %s: %s\n", knobs[i][0],
				strerror(errno));
		close(fd);
	}

	rl.rlim_cur = rl.rlim_max = 2 * pipes + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit(RLIMIT_NOFILE)");
}

/*
 * Fill one pipe with whole pages until it is full or @want bytes are in it.
 * Each write of CHUNK_SIZE bytes takes one new page of pipe buffer, and
 * pipe buffer pages are unmovable kernel allocations.
 */
static size_t pipe_fill(int wfd, size_t want)
{
	static char chunk[CHUNK_SIZE];
	size_t held = 0;

	memset(chunk, 0x5a, sizeof(chunk));
	while (held < want) {
		ssize_t n = write(wfd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EAGAIN)
				break;
			die("write(pipe)");
		}
		held += n;
	}
	return held;
}

static int cmd_hold_pipes(unsigned long mb)
{
	size_t want = mb * MIB, held = 0;
	size_t pipes = (want + PIPE_BYTES - 1) / PIPE_BYTES;
	sigset_t waitmask;

	signals_setup(&waitmask);
	pipes_raise_limits(pipes);

	while (held < want) {
		int fds[2];
		size_t got;

		if (pipe2(fds, O_NONBLOCK))
			die("pipe2");
		if (fcntl(fds[1], F_SETPIPE_SZ, (int)PIPE_BYTES) < 0)
			die("fcntl(F_SETPIPE_SZ)");
		got = pipe_fill(fds[1], want - held);
		if (got == 0) {
			fprintf(stderr, "memtool: pipe took no data\n");
			exit(2);
		}
		held += got;
		/* both ends stay open until exit: that is the point */
	}
	say("ready %zu bytes in pipes", held);

	while (!got_term)
		sigsuspend(&waitmask);
	say("released");
	return 0;
}

/*
 * File layout: 4 KiB blocks; each starts with FILE_MAGIC and its block
 * index, the rest of the block is pattern_word(index, offset).
 */
static void file_block_make(uint64_t *blk, uint64_t index)
{
	size_t i, words = CHUNK_SIZE / sizeof(*blk);

	blk[0] = FILE_MAGIC;
	blk[1] = index;
	for (i = 2; i < words; i++)
		blk[i] = pattern_word(index, i * sizeof(*blk));
}

static int cmd_fill_file(const char *path, unsigned long mb)
{
	uint64_t blk[CHUNK_SIZE / sizeof(uint64_t)];
	uint64_t index, blocks = mb * MIB / CHUNK_SIZE;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	for (index = 0; index < blocks; index++) {
		file_block_make(blk, index);
		if (write(fd, blk, sizeof(blk)) != sizeof(blk))
			die("write(file)");
	}
	if (close(fd))
		die("close(file)");
	say("filled %lu MiB", mb);
	return 0;
}

static int cmd_check_file(const char *path)
{
	uint64_t want[CHUNK_SIZE / sizeof(uint64_t)];
	uint64_t got[CHUNK_SIZE / sizeof(uint64_t)];
	uint64_t index = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	while ((n = read(fd, got, sizeof(got))) == sizeof(got)) {
		file_block_make(want, index);
		if (memcmp(want, got, sizeof(got))) {
			say("check FAILED at block %" PRIu64
			    " (offset 0x%" PRIx64 ")", index,
			    index * CHUNK_SIZE);
			close(fd);
			return 1;
		}
		index++;
	}
	if (n < 0)
		die("read(file)");
	close(fd);
	if (n != 0 || index == 0) {
		say("check FAILED: size is not a whole number of blocks");
		return 1;
	}
	say("check ok %" PRIu64 " MiB", index * CHUNK_SIZE / MIB);
	return 0;
}

#define READ_WINDOW		(64UL * MIB)

static int cmd_read_mapped(const char *path, const char *offset_arg,
			   const char *length_arg)
{
	uint64_t offset = strtoull(offset_arg, NULL, 0);
	uint64_t length = strtoull(length_arg, NULL, 0);
	long page = sysconf(_SC_PAGESIZE);
	uint64_t done = 0, sum = 0;
	int fd;

	if (offset % page || length % page) {
		fprintf(stderr, "memtool: offset and length must be page-aligned\n");
		return 2;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	while (done < length) {
		size_t len = length - done < READ_WINDOW ? length - done :
			     READ_WINDOW;
		const volatile uint64_t *word;
		void *map;
		size_t i;

		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, offset + done);
		if (map == MAP_FAILED)
			die("mmap");
		word = map;
		for (i = 0; i < len / sizeof(*word); i++)
			sum += word[i];
		munmap(map, len);
		done += len;
	}
	close(fd);
	/* The sum only makes the loads happen; what counts is that they did. */
	say("read-mapped %" PRIu64 " (sum %" PRIx64 ")", done, sum);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "hold-anon") && argc == 3)
		return cmd_hold_anon(parse_mb(argv[2]));
	if (!strcmp(argv[1], "grow-anon") && argc == 4)
		return cmd_grow_anon(parse_mb(argv[2]), parse_mb(argv[3]));
	if (!strcmp(argv[1], "hold-pipes") && argc == 3)
		return cmd_hold_pipes(parse_mb(argv[2]));
	if (!strcmp(argv[1], "fill-file") && argc == 4)
		return cmd_fill_file(argv[2], parse_mb(argv[3]));
	if (!strcmp(argv[1], "check-file") && argc == 3)
		return cmd_check_file(argv[2]);
	if (!strcmp(argv[1], "read-mapped") && argc == 5)
		return cmd_read_mapped(argv[2], argv[3], argv[4]);
	usage();
	return 2;
}
