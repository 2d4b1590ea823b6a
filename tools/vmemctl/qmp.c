// SPDX-License-Identifier: GPL-2.0
/*
 * QMP client.  QEMU writes one JSON object per line: a greeting, then
 * answers ("return" or "error", carrying our "id") and asynchronous
 * events.  Lines are parsed with json-c; events met while waiting for an
 * answer go to the callback right away.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

#define QMP_READ_CHUNK		4096
#define QMP_LINE_MAX		(16 << 20)
#define QMP_ANSWER_TIMEOUT_MS	30000

struct qmp {
	int fd;
	int stop_fd;		/* readable: give up waiting (or -1) */
	char *buf;		/* bytes read, not yet parsed */
	size_t len;
	size_t cap;
	int64_t last_id;
	qmp_event_fn on_event;
	void *ctx;
	char err[512];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int qmp_fail(struct qmp *qmp, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(qmp->err, sizeof(qmp->err), fmt, ap);
	va_end(ap);
	return err;
}

struct qmp *qmp_new(qmp_event_fn on_event, void *ctx)
{
	struct qmp *qmp = calloc(1, sizeof(*qmp));

	if (!qmp)
		return NULL;
	qmp->fd = -1;
	qmp->stop_fd = -1;
	qmp->on_event = on_event;
	qmp->ctx = ctx;
	return qmp;
}

const char *qmp_errmsg(const struct qmp *qmp)
{
	return qmp->err;
}

static int qmp_grow(struct qmp *qmp)
{
	size_t cap = qmp->cap ? 2 * qmp->cap : 2 * QMP_READ_CHUNK;
	char *buf;

	if (cap > QMP_LINE_MAX)
		return qmp_fail(qmp, QMP_EPROTO, "QMP message longer than %d bytes",
				QMP_LINE_MAX);
	buf = realloc(qmp->buf, cap);
	if (!buf)
		return qmp_fail(qmp, QMP_ENOMEM, "out of memory");
	qmp->buf = buf;
	qmp->cap = cap;
	return 0;
}

/**
 * qmp_set_stop_fd() - give up waiting when fd becomes readable.
 * @qmp: the client
 * @fd: e.g. a signalfd, or -1 for none
 *
 * Waits for QEMU then fail with QMP_EINTR.
 */
void qmp_set_stop_fd(struct qmp *qmp, int fd)
{
	qmp->stop_fd = fd;
}

/* Wait until the socket is readable; 1 when it is, 0 at the deadline. */
static int qmp_poll(struct qmp *qmp, int64_t deadline)
{
	struct pollfd pfd[2] = {
		{ .fd = qmp->fd, .events = POLLIN },
		{ .fd = qmp->stop_fd, .events = POLLIN },
	};
	int64_t left;
	int ret;

	for (;;) {
		left = deadline - now_ms();
		ret = poll(pfd, 2, left <= 0 ? 0 : (int)(left > 60000 ? 60000 : left));
		if (ret < 0 && errno != EINTR)
			return qmp_fail(qmp, QMP_EIO, "poll: %s", strerror(errno));
		if (ret > 0 && pfd[1].revents)
			return qmp_fail(qmp, QMP_EINTR, "interrupted");
		if (ret > 0)
			return 1;
		if (left <= 0)
			return 0;
	}
}

/* Read what QEMU sent: 1 on data, 0 at the deadline, < 0 on errors. */
static int qmp_fill(struct qmp *qmp, int64_t deadline)
{
	ssize_t n;
	int ret;

	ret = qmp_poll(qmp, deadline);
	if (ret <= 0)
		return ret;
	if (qmp->cap - qmp->len < QMP_READ_CHUNK) {
		ret = qmp_grow(qmp);
		if (ret)
			return ret;
	}
	n = read(qmp->fd, qmp->buf + qmp->len, qmp->cap - qmp->len);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0)
		return qmp_fail(qmp, QMP_EIO, "reading from QEMU: %s",
				strerror(errno));
	if (n == 0)
		return qmp_fail(qmp, QMP_EIO, "QEMU closed the QMP connection");
	qmp->len += (size_t)n;
	return 1;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r')
			return false;
	return true;
}

/* Parse and drop the first line of the buffer; *msg is NULL if blank. */
static int qmp_take_line(struct qmp *qmp, char *nl, struct json_object **msg)
{
	enum json_tokener_error jerr = json_tokener_success;
	size_t used = (size_t)(nl - qmp->buf) + 1;

	*nl = '\0';
	*msg = NULL;
	if (!blank(qmp->buf))
		*msg = json_tokener_parse_verbose(qmp->buf, &jerr);
	qmp->len -= used;
	memmove(qmp->buf, qmp->buf + used, qmp->len);
	if (jerr != json_tokener_success)
		return qmp_fail(qmp, QMP_EPROTO, "bad JSON from QEMU: %s",
				json_tokener_error_desc(jerr));
	if (*msg && !json_object_is_type(*msg, json_type_object)) {
		json_object_put(*msg);
		*msg = NULL;
		return qmp_fail(qmp, QMP_EPROTO, "QMP message is not an object");
	}
	return 0;
}

/* Next message from QEMU: 1 with *msg set, 0 at the deadline, < 0. */
static int qmp_read(struct qmp *qmp, int64_t deadline, struct json_object **msg)
{
	char *nl;
	int ret;

	for (;;) {
		nl = qmp->len ? memchr(qmp->buf, '\n', qmp->len) : NULL;
		if (nl) {
			ret = qmp_take_line(qmp, nl, msg);
			if (ret)
				return ret;
			if (*msg)
				return 1;
			continue;
		}
		ret = qmp_fill(qmp, deadline);
		if (ret <= 0)
			return ret;
	}
}

/* Hand an event to the callback; false if msg is not an event. */
static bool qmp_dispatch_event(struct qmp *qmp, struct json_object *msg)
{
	struct json_object *name, *data = NULL;

	if (!json_object_object_get_ex(msg, "event", &name))
		return false;
	json_object_object_get_ex(msg, "data", &data);
	if (qmp->on_event && json_object_is_type(name, json_type_string))
		qmp->on_event(qmp->ctx, json_object_get_string(name), data);
	return true;
}

static int qmp_send(struct qmp *qmp, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;

	while (len) {
		n = send(qmp->fd, text, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qmp_fail(qmp, QMP_EIO, "sending to QEMU: %s",
					strerror(errno));
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

static int qmp_send_command(struct qmp *qmp, const char *cmd,
			    struct json_object *args)
{
	struct json_object *req = json_object_new_object();
	char *line;
	int ret;

	if (!req) {
		json_object_put(args);
		return qmp_fail(qmp, QMP_ENOMEM, "out of memory");
	}
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	json_object_object_add(req, "id", json_object_new_int64(++qmp->last_id));
	ret = asprintf(&line, "%s\n",
		       json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
	if (ret < 0)
		return qmp_fail(qmp, QMP_ENOMEM, "out of memory");
	ret = qmp_send(qmp, line);
	free(line);
	return ret;
}

static bool qmp_is_answer(struct qmp *qmp, struct json_object *msg)
{
	struct json_object *id;

	return json_object_object_get_ex(msg, "id", &id) &&
	       json_object_is_type(id, json_type_int) &&
	       json_object_get_int64(id) == qmp->last_id;
}

static int qmp_answer(struct qmp *qmp, const char *cmd,
		      struct json_object *msg, struct json_object **ret)
{
	struct json_object *val, *desc;

	if (json_object_object_get_ex(msg, "return", &val)) {
		if (ret)
			*ret = json_object_get(val);
		return 0;
	}
	if (!json_object_object_get_ex(msg, "error", &val))
		return qmp_fail(qmp, QMP_EPROTO, "odd answer to %s: %s", cmd,
				json_object_to_json_string(msg));
	if (!json_object_object_get_ex(val, "desc", &desc))
		desc = val;
	return qmp_fail(qmp, QMP_EREFUSED, "%s", json_object_get_string(desc));
}

/**
 * qmp_execute() - run one QMP command and wait for its answer.
 * @qmp: connected client
 * @cmd: command name
 * @args: its arguments (consumed), or NULL
 * @ret: where the "return" value goes (the caller puts it), or NULL
 *
 * Events that arrive meanwhile go to the event callback.
 * Return: 0, or a negative enum qmp_err (QMP_EREFUSED: QEMU's error
 * description is in qmp_errmsg()).
 */
int qmp_execute(struct qmp *qmp, const char *cmd, struct json_object *args,
		struct json_object **ret)
{
	int64_t deadline = now_ms() + QMP_ANSWER_TIMEOUT_MS;
	struct json_object *msg;
	int err;

	err = qmp_send_command(qmp, cmd, args);
	while (!err) {
		err = qmp_read(qmp, deadline, &msg);
		if (err == 0)
			return qmp_fail(qmp, QMP_EIO, "no answer to %s from QEMU in %d s",
					cmd, QMP_ANSWER_TIMEOUT_MS / 1000);
		if (err < 0)
			return err;
		err = 0;
		if (!qmp_dispatch_event(qmp, msg) && qmp_is_answer(qmp, msg)) {
			err = qmp_answer(qmp, cmd, msg, ret);
			json_object_put(msg);
			return err;
		}
		json_object_put(msg);
	}
	return err;
}

/**
 * qmp_wait_events() - wait for events and hand them to the callback.
 * @qmp: connected client
 * @timeout_ms: how long to wait for the first one
 *
 * Return: the number of events handled (0: none came in time), or a
 * negative enum qmp_err.
 */
int qmp_wait_events(struct qmp *qmp, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct json_object *msg;
	int events = 0;
	int ret;

	for (;;) {
		ret = qmp_read(qmp, events ? 0 : deadline, &msg);
		if (ret <= 0)
			return ret ? ret : events;
		if (qmp_dispatch_event(qmp, msg))
			events++;
		json_object_put(msg);
	}
}

static int qmp_greeting(struct qmp *qmp, const char *path, int timeout_ms)
{
	struct json_object *msg;
	bool is_qmp;
	int ret;

	ret = qmp_read(qmp, now_ms() + timeout_ms, &msg);
	if (ret == 0)
		return qmp_fail(qmp, QMP_EIO,
				"no QMP greeting on %s in %d s (QEMU serves one client per -qmp socket: is another one connected?)",
				path, timeout_ms / 1000);
	if (ret < 0)
		return ret;
	is_qmp = json_object_object_get_ex(msg, "QMP", NULL);
	json_object_put(msg);
	if (!is_qmp)
		return qmp_fail(qmp, QMP_EPROTO, "%s does not speak QMP", path);
	return 0;
}

/**
 * qmp_connect() - connect, read the greeting, leave negotiation mode.
 * @qmp: a client from qmp_new()
 * @path: QEMU's QMP UNIX socket
 * @timeout_ms: how long to wait for the greeting
 *
 * Return: 0, or a negative enum qmp_err.
 */
int qmp_connect(struct qmp *qmp, const char *path, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return qmp_fail(qmp, QMP_EIO, "socket path too long: %s", path);
	strcpy(addr.sun_path, path);
	qmp->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (qmp->fd < 0)
		return qmp_fail(qmp, QMP_EIO, "socket: %s", strerror(errno));
	if (connect(qmp->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return qmp_fail(qmp, QMP_EIO, "cannot connect to QMP socket %s: %s",
				path, strerror(errno));
	ret = qmp_greeting(qmp, path, timeout_ms);
	if (ret)
		return ret;
	return qmp_execute(qmp, "qmp_capabilities", NULL, NULL);
}

/* Disconnect (QEMU then serves its next client) and free everything. */
void qmp_close(struct qmp *qmp)
{
	if (!qmp)
		return;
	if (qmp->fd >= 0) {
		shutdown(qmp->fd, SHUT_RDWR);
		close(qmp->fd);
	}
	free(qmp->buf);
	free(qmp);
}
