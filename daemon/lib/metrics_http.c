// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * /metrics for Prometheus, served by libmicrohttpd's own polling thread.
 * Only GET (and HEAD) of /metrics answers 200; other paths 404, other
 * methods 405. The text is metrics.h's, as `sockaccelctl stats --prometheus`
 * prints it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

/* Room for many scrapers; past it libmicrohttpd closes a new connection at
 * once. An idle or stalled client is dropped after the timeout. */
#define METRICS_CONN_MAX	128
#define METRICS_TIMEOUT_S	10
#define METRICS_BACKLOG		64

struct sa_metrics_http {
	struct MHD_Daemon *mhd;
	char pin_dir[PATH_MAX];
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, char *body,
			     size_t len, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* MUST_FREE: libmicrohttpd frees @body (malloc'd) with the response */
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int code,
				  const char *text)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply(conn, code, body, strlen(body), "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	const struct sa_metrics_http *h = cls;
	char why[SA_PIN_WHY_LEN + 2];
	struct sa_metrics m;
	size_t len = 0;
	char *body = NULL;
	FILE *f;

	/* answered on the first call, from the headers alone: a request body
	 * is never read */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics\n");
	if (sa_metrics_read(h->pin_dir, &m, why, sizeof(why) - 1)) {
		strcat(why, "\n");
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	}
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	sa_metrics_print(f, &m);
	if (fclose(f)) {
		free(body);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* libmicrohttpd's logger: its format strings are its own */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	p_debug("metrics: %s", line);
}

/* Our own socket, so that a bind error reaches the log with its errno. */
static int listen_on(const struct sa_listen *l, char *err, size_t len)
{
	struct sockaddr_storage ss = {};
	socklen_t sl;
	char where[64];
	int fd, one = 1, ret;

	sa_listen_format(l, where, sizeof(where));
	if (l->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, l->addr, 16);
		s6->sin6_port = htons(l->port);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, l->addr, 4);
		s4->sin_port = htons(l->port);
		sl = sizeof(*s4);
	}
	fd = socket((int)l->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, len, "metrics_listen %s: can't create a socket: %s%s", where,
			 strerror(errno), errno == EAFNOSUPPORT ? " (sockaccel.service allows only "
			 "AF_UNIX and AF_NETLINK: add RestrictAddressFamilies=AF_INET AF_INET6 in "
			 "a drop-in, see docs/operations.md)" : "");
		return ret;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, METRICS_BACKLOG) < 0) {
		ret = -errno;
		snprintf(err, len, "metrics_listen %s: can't listen: %s (%s)", where,
			 strerror(errno), errno == EADDRINUSE ? "another process has that port; "
			 "pick another in sockaccel.conf" : errno == EADDRNOTAVAIL ?
			 "not an address of this host; pick one it has" :
			 "check metrics_listen in sockaccel.conf");
		close(fd);
		return ret;
	}
	return fd;
}

int sa_metrics_http_start(const struct sa_listen *l, const char *pin_dir,
			  struct sa_metrics_http **out, char *err, size_t len)
{
	struct sa_metrics_http *h;
	char where[64];
	int fd, ret;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, len, "metrics: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(h->pin_dir, sizeof(h->pin_dir), "%s", pin_dir);
	fd = listen_on(l, err, len);
	if (fd < 0) {
		ret = fd;
		goto cleanup;
	}
	/* an internal epoll thread: every connection is non-blocking, so one
	 * that stalls mid-request holds a slot until the timeout, nothing more */
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, on_request, h,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_CONN_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_END);
	if (!h->mhd) {
		ret = -EIO;
		sa_listen_format(l, where, sizeof(where));
		snprintf(err, len, "metrics_listen %s: libmicrohttpd did not start (run with "
			 "--verbose for its log)", where);
		close(fd);
		goto cleanup;
	}
	*out = h;
	return 0;
cleanup:
	free(h);
	return ret;
}

void sa_metrics_http_stop(struct sa_metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);	/* closes the listening socket too */
	free(h);
}
