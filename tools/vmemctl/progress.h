/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Progress of a resize on stderr: a bar redrawn in place on a terminal,
 * a plain line every second otherwise.
 */
#ifndef VMEMCTL_PROGRESS_H
#define VMEMCTL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	const char *id;
	uint64_t from;		/* plugged when the resize started */
	uint64_t target;
	bool enabled;
	bool tty;
	int columns;
	double next_line;	/* no tty: when the next line is due */
	bool drawn;		/* tty: a bar is on the screen */
};

void progress_start(struct progress *p, const char *id, uint64_t from,
		    uint64_t target, bool enabled);
void progress_show(struct progress *p, uint64_t plugged, double elapsed);
void progress_end(struct progress *p, uint64_t plugged, double elapsed);

#endif
