/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small QMP client: one UNIX socket, one command at a time, events
 * handed to a callback as they arrive.
 */
#ifndef VMEMCTL_QMP_H
#define VMEMCTL_QMP_H

#include <json-c/json.h>

/* Return values below zero: what went wrong (see qmp_errmsg()). */
enum qmp_err {
	QMP_EIO = -1,		/* cannot reach QEMU, or it stopped talking */
	QMP_EPROTO = -2,	/* QEMU said something we did not expect */
	QMP_EREFUSED = -3,	/* QEMU answered the command with an error */
	QMP_EINTR = -4,		/* the stop descriptor became readable */
	QMP_ENOMEM = -5,
};

typedef void (*qmp_event_fn)(void *ctx, const char *name,
			     struct json_object *data);

struct qmp;

struct qmp *qmp_new(qmp_event_fn on_event, void *ctx);
int qmp_connect(struct qmp *qmp, const char *path, int timeout_ms);
void qmp_set_stop_fd(struct qmp *qmp, int fd);
int qmp_execute(struct qmp *qmp, const char *cmd, struct json_object *args,
		struct json_object **ret);
int qmp_wait_events(struct qmp *qmp, int timeout_ms);
const char *qmp_errmsg(const struct qmp *qmp);
void qmp_close(struct qmp *qmp);

#endif
