// SPDX-License-Identifier: GPL-2.0
/*
 * Resize progress: the share of the way from the plugged size at the
 * start to the target, for growing and shrinking alike.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"
#include "size.h"

#define BAR_MIN		10
#define BAR_MAX		50
#define LINE_MAX_LEN	256

static int terminal_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

void progress_start(struct progress *p, const char *id, uint64_t from,
		    uint64_t target, bool enabled)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->from = from;
	p->target = target;
	p->enabled = enabled;
	p->tty = isatty(STDERR_FILENO);
	p->columns = p->tty ? terminal_columns() : 80;
}

static int progress_percent(const struct progress *p, uint64_t plugged)
{
	double total = (double)p->target - (double)p->from;
	double done = (double)plugged - (double)p->from;
	double pct;

	if (p->target == p->from || plugged == p->target)
		return 100;
	pct = 100.0 * done / total;
	if (pct < 0.0)
		return 0;
	return pct > 99.0 ? 99 : (int)pct;
}

/* "42%  plugged 1.5G, target 4G, 3.2s" */
static void progress_text(const struct progress *p, uint64_t plugged,
			  double elapsed, char *buf, size_t len)
{
	char now[SIZE_STR_MAX], want[SIZE_STR_MAX];

	snprintf(buf, len, "%3d%%  plugged %s, target %s, %.1fs",
		 progress_percent(p, plugged), size_human(plugged, now),
		 size_human(p->target, want), elapsed);
}

static void progress_draw_bar(struct progress *p, uint64_t plugged,
			      double elapsed)
{
	char text[LINE_MAX_LEN], bar[BAR_MAX + 1];
	int width, filled;

	progress_text(p, plugged, elapsed, text, sizeof(text));
	width = p->columns - (int)strlen(p->id) - (int)strlen(text) - 6;
	width = width > BAR_MAX ? BAR_MAX : width;
	width = width < BAR_MIN ? BAR_MIN : width;
	filled = progress_percent(p, plugged) * width / 100;
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '.', (size_t)(width - filled));
	bar[width] = '\0';
	fprintf(stderr, "\r%s [%s] %s\033[K", p->id, bar, text);
	fflush(stderr);
	p->drawn = true;
}

static void progress_print_line(const struct progress *p, uint64_t plugged,
				double elapsed)
{
	char text[LINE_MAX_LEN];

	progress_text(p, plugged, elapsed, text, sizeof(text));
	fprintf(stderr, "%s: %s\n", p->id, text);
}

/**
 * progress_show() - report the plugged size while waiting.
 * @p: progress state
 * @plugged: QEMU's plugged size now
 * @elapsed: seconds since the resize was requested
 *
 * Call it often: the bar is redrawn each time, lines are rate-limited.
 */
void progress_show(struct progress *p, uint64_t plugged, double elapsed)
{
	if (!p->enabled)
		return;
	if (p->tty) {
		progress_draw_bar(p, plugged, elapsed);
		return;
	}
	if (elapsed < p->next_line)
		return;
	progress_print_line(p, plugged, elapsed);
	while (p->next_line <= elapsed)
		p->next_line += 1.0;
}

/* Final state: the bar stays on its own line; a last line otherwise. */
void progress_end(struct progress *p, uint64_t plugged, double elapsed)
{
	if (!p->enabled)
		return;
	if (p->tty) {
		progress_draw_bar(p, plugged, elapsed);
		fputc('\n', stderr);
		return;
	}
	progress_print_line(p, plugged, elapsed);
}
