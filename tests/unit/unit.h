/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Tiny assertion helpers for the unprivileged unit tests. */
#ifndef SA_UNIT_H
#define SA_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond, what) do {							\
	unit_checks++;								\
	if (!(cond)) {								\
		unit_failures++;						\
		fprintf(stderr, "%s:%d: FAIL %s: %s\n", __FILE__, __LINE__, what, #cond); \
	}									\
} while (0)

#define CHECK_EQ(a, b, what) do {						\
	long long a_ = (long long)(a), b_ = (long long)(b);			\
	unit_checks++;								\
	if (a_ != b_) {								\
		unit_failures++;						\
		fprintf(stderr, "%s:%d: FAIL %s: %s == %lld, expected %lld\n",	\
			__FILE__, __LINE__, what, #a, a_, b_);			\
	}									\
} while (0)

#define CHECK_STR(a, b, what) do {						\
	const char *a_ = (a), *b_ = (b);					\
	unit_checks++;								\
	if (!a_ || strcmp(a_, b_) != 0) {					\
		unit_failures++;						\
		fprintf(stderr, "%s:%d: FAIL %s: '%s', expected '%s'\n",	\
			__FILE__, __LINE__, what, a_ ? a_ : "(null)", b_);	\
	}									\
} while (0)

/* A test with no checks has proven nothing: that is a failure too. */
static inline int unit_done(const char *name)
{
	if (unit_checks == 0) {
		fprintf(stderr, "%s: no checks ran\n", name);
		return 1;
	}
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
