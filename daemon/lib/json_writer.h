/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_JSON_WRITER_H
#define SA_JSON_WRITER_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

/*
 * A streaming JSON writer in the manner of bpftool's: commas and nesting are
 * tracked for the caller, strings are escaped. Names are written with
 * jsonw_name() before a value inside an object.
 */
typedef struct json_writer json_writer_t;

json_writer_t *jsonw_new(FILE *f);
/*
 * Ends the document with a newline; NULL is fine. 0, or the first misuse
 * (logged when it happened): -EINVAL for an unbalanced document, -E2BIG for
 * nesting past the limit; output stops at a misuse. -errno if the stream
 * could not be flushed.
 */
int jsonw_destroy(json_writer_t **self);

void jsonw_start_object(json_writer_t *self);
void jsonw_end_object(json_writer_t *self);
void jsonw_start_array(json_writer_t *self);
void jsonw_end_array(json_writer_t *self);
void jsonw_name(json_writer_t *self, const char *name);

void jsonw_string(json_writer_t *self, const char *value);
void jsonw_uint(json_writer_t *self, __u64 value);
void jsonw_int(json_writer_t *self, __s64 value);
void jsonw_float(json_writer_t *self, double value);
void jsonw_bool(json_writer_t *self, bool value);
void jsonw_null(json_writer_t *self);

/* name + value in one call */
void jsonw_string_field(json_writer_t *self, const char *name, const char *value);
void jsonw_uint_field(json_writer_t *self, const char *name, __u64 value);
void jsonw_int_field(json_writer_t *self, const char *name, __s64 value);
void jsonw_bool_field(json_writer_t *self, const char *name, bool value);

#endif
