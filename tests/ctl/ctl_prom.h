/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small checker for the Prometheus text exposition format 0.0.4, as
 * node_exporter's textfile collector reads it. Beyond the grammar it
 * enforces what the sockaccelctl tests require:
 *  - every sample is preceded by a "# HELP" and a "# TYPE" line for its
 *    metric name (at most one of each per name);
 *  - metric and label names match [a-zA-Z_:][a-zA-Z0-9_:]* ([a-zA-Z_]... for labels);
 *  - values (and timestamps) are numbers; counters are >= 0 and named *_total;
 *  - the lines of one metric are contiguous, no sample appears twice, and
 *    the text ends with a newline.
 */
#ifndef SA_CTL_PROM_H
#define SA_CTL_PROM_H

#include <stddef.h>

struct prom_sample {
	char *name;
	char *labels;	/* "" or the text between the braces */
	char *type;	/* from its # TYPE line */
	double value;
};

struct prom {
	struct prom_sample *v;
	size_t n;
};

/* 0, or -EINVAL with the line number and reason in @err. */
int prom_parse(const char *buf, size_t len, struct prom *p, char *err, size_t errlen);
void prom_free(struct prom *p);
/* The sample named @name (without labels), or NULL. */
const struct prom_sample *prom_find(const struct prom *p, const char *name);

#endif
