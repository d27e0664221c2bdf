// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Prometheus text of the counters and gauges: one definition for the
 * CLI and the daemon's /metrics. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "metrics.h"
#include "pins.h"

int sa_metrics_read(const char *pin_dir, struct sa_metrics *m, char *why, size_t len)
{
	int fd, err;

	memset(m, 0, sizeof(*m));
	fd = sa_pin_open(pin_dir, SA_PIN_COUNTERS, why, len);
	if (fd < 0)
		return fd;
	err = sa_counters_read(fd, m->cnt);
	close(fd);
	if (err) {
		snprintf(why, len, "can't read the counters '%s/%s': %s", pin_dir,
			 SA_PIN_COUNTERS, strerror(-err));
		return err;
	}
	/* best effort, as ever: a gauge that can't be read shows 0 */
	sa_state_read_gauges(pin_dir, &m->gauges);
	return 0;
}

/* Prometheus text exposition format 0.0.4; node_exporter's textfile
 * collector reads it as is. */
void sa_metrics_print(FILE *out, const struct sa_metrics *m)
{
	const struct sa_state *st = &m->gauges;

	for (int i = 0; i < SA_CNT_MAX; i++) {
		const struct sa_counter_desc *d = &sa_counter_descs[i];

		fprintf(out, "# HELP sockaccel_%s_total %s\n", d->name, d->help);
		fprintf(out, "# TYPE sockaccel_%s_total counter\n", d->name);
		fprintf(out, "sockaccel_%s_total %llu\n", d->name, (unsigned long long)m->cnt[i]);
	}
	fprintf(out, "# HELP sockaccel_map_entries sockets in the SOCKHASH now\n");
	fprintf(out, "# TYPE sockaccel_map_entries gauge\n");
	fprintf(out, "sockaccel_map_entries %u\n", st->entries);
	fprintf(out, "# HELP sockaccel_map_max_entries capacity of the SOCKHASH\n");
	fprintf(out, "# TYPE sockaccel_map_max_entries gauge\n");
	fprintf(out, "sockaccel_map_max_entries %u\n", st->max_entries);
	fprintf(out, "# HELP sockaccel_draining 1 while the redirect switch is off\n");
	fprintf(out, "# TYPE sockaccel_draining gauge\n");
	fprintf(out, "sockaccel_draining %d\n", st->draining ? 1 : 0);
}
