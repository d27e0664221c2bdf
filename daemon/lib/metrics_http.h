/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_METRICS_HTTP_H
#define SA_METRICS_HTTP_H

#include <stddef.h>

#include "config.h"

/*
 * GET /metrics over HTTP (metrics_listen in sockaccel.conf), served by
 * libmicrohttpd in a thread of its own: a slow, idle or malformed client
 * costs that thread a connection slot, never sockacceld's event loop.
 */
struct sa_metrics_http;

/* Listen on @l and serve the metrics pinned in @pin_dir. On error returns a
 * negative errno and writes the address, the reason and the fix to @err. */
int sa_metrics_http_start(const struct sa_listen *l, const char *pin_dir,
			  struct sa_metrics_http **out, char *err, size_t len);
/* Close the listener and every connection, join the thread. NULL-safe. */
void sa_metrics_http_stop(struct sa_metrics_http *h);

#endif
