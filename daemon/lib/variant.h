/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_VARIANT_H
#define SA_VARIANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "sockaccel.h"

/*
 * Which variant of the programs this kernel accepts. Every optional feature
 * (enum sa_feature) is probed by loading the real programs with it switched
 * on, without pins, so nothing on the system changes; the chosen set is
 * loaded the same way once more before any pin is touched. Only the basic
 * redirect (sockops insertion, sk_msg redirect with the netns-safe key) is
 * required.
 *
 * Test-only: SOCKACCEL_TEST_REFUSE=feature[,feature...] (names as
 * sa_feature_name gives them, or "base") makes the probe treat those as
 * refused by the kernel, so every rung of the ladder is tested on any kernel.
 */
#define SA_TEST_REFUSE_ENV	"SOCKACCEL_TEST_REFUSE"

struct sa_variant_opts {
	const char *object_path;	/* NULL: the built-in objects */
	bool unbounded_ok;		/* memory_bound = off in the configuration */
};

struct sa_variant {
	bool kfuncs;			/* built-in object with kfunc calls */
	__u32 wanted;			/* SA_FEAT_* tried */
	__u32 loaded;			/* SA_FEAT_* the programs will run with */
	__u32 refused;			/* SA_FEAT_* refused, reason[] says why */
	bool unbounded_by_config;
	char reason[SA_FEAT_SLOTS][SA_FEAT_REASON_LEN];
	char base_reason[512];		/* why even the basic redirect was refused */
};

/*
 * Probe and choose. 0 on success; -ENOTSUP when the basic redirect is
 * refused (base_reason has the verifier's words); -ENOSPC when no memory
 * bound loads and the configuration does not allow running without one.
 */
int sa_variant_choose(const struct sa_variant_opts *o, struct sa_variant *v);

/* Open the object @v chose (or @object_path) with its features set;
 * not loaded. NULL with errno set on failure. */
struct bpf_object *sa_variant_open(const struct sa_variant *v, const char *object_path,
				   const char *pin_root);

const char *sa_feature_name(__u32 bit);
/* What a user loses without the feature, one sentence. */
const char *sa_feature_loss(__u32 bit);
/* "base+peer_bound+demote+..." for @loaded. */
void sa_variant_describe(__u32 loaded, char *buf, size_t len);

/* One line a feature and the closing "variant: ..." line (what tests and
 * the VM harness match), for --preflight; @err is what choose returned. */
void sa_variant_print(const struct sa_variant *v, int err, FILE *out);

/* The record kept in the pinned "features" map, and back. */
void sa_variant_record(const struct sa_variant *v, struct sa_features *rec);

/* Each refused or missing feature as "name: what is lost (reason)", for
 * status and the journal; returns how many lines were written. */
unsigned int sa_features_missing(const struct sa_features *rec, char (*lines)[512],
				 unsigned int max);

#endif
