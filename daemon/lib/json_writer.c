// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"
#include "log.h"

#define JSONW_DEPTH_MAX 32

struct json_writer {
	FILE *out;
	unsigned int depth;
	bool first[JSONW_DEPTH_MAX];	/* no element yet at this depth */
	bool after_name;		/* a value completes "name": */
	bool wrote;			/* anything at all written */
	int err;			/* first misuse; nothing is written after it */
};

json_writer_t *jsonw_new(FILE *f)
{
	json_writer_t *self = calloc(1, sizeof(*self));

	if (!self)
		return NULL;
	self->out = f;
	self->first[0] = true;
	return self;
}

/*
 * A caller's bug is not hidden by output that happens to parse: the document
 * stops where it went wrong, and the error is logged and returned.
 */
static void jsonw_fail(json_writer_t *self, int err, const char *why)
{
	if (self->err)
		return;
	self->err = err;
	p_err("JSON output: %s (a bug in sockaccel)", why);
}

int jsonw_destroy(json_writer_t **self)
{
	json_writer_t *w = *self;
	int err;

	if (!w)
		return 0;
	/* bpftool's balance check: every object and array is closed */
	if (w->depth || w->after_name)
		jsonw_fail(w, -EINVAL, "the document ends inside an object or array");
	if (w->wrote && !w->err)
		fputc('\n', w->out);
	if (fflush(w->out) == EOF && !w->err)
		w->err = -errno;
	err = w->err;
	free(w);
	*self = NULL;
	return err;
}

/* Separator before a new element (not after a name). */
static bool jsonw_sep(json_writer_t *self)
{
	if (self->err)
		return false;
	self->wrote = true;
	if (self->after_name) {
		self->after_name = false;
		return true;
	}
	if (!self->first[self->depth])
		fputc(',', self->out);
	self->first[self->depth] = false;
	return true;
}

static void jsonw_open(json_writer_t *self, char c)
{
	if (self->depth + 1 >= JSONW_DEPTH_MAX) {
		jsonw_fail(self, -E2BIG, "nested deeper than the writer's limit");
		return;
	}
	if (!jsonw_sep(self))
		return;
	fputc(c, self->out);
	self->depth++;
	self->first[self->depth] = true;
}

static void jsonw_close(json_writer_t *self, char c)
{
	if (self->err)
		return;
	if (!self->depth || self->after_name) {
		jsonw_fail(self, -EINVAL, "a close without its open, or after a name");
		return;
	}
	self->depth--;
	fputc(c, self->out);
}

void jsonw_start_object(json_writer_t *self) { jsonw_open(self, '{'); }
void jsonw_end_object(json_writer_t *self) { jsonw_close(self, '}'); }
void jsonw_start_array(json_writer_t *self) { jsonw_open(self, '['); }
void jsonw_end_array(json_writer_t *self) { jsonw_close(self, ']'); }

static void jsonw_quoted(json_writer_t *self, const char *s)
{
	fputc('"', self->out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"': fputs("\\\"", self->out); break;
		case '\\': fputs("\\\\", self->out); break;
		case '\n': fputs("\\n", self->out); break;
		case '\t': fputs("\\t", self->out); break;
		case '\r': fputs("\\r", self->out); break;
		default:
			if (c < 0x20)
				fprintf(self->out, "\\u%04x", c);
			else
				fputc(c, self->out);
		}
	}
	fputc('"', self->out);
}

void jsonw_name(json_writer_t *self, const char *name)
{
	if (!jsonw_sep(self))
		return;
	jsonw_quoted(self, name);
	fputc(':', self->out);
	self->after_name = true;
}

void jsonw_string(json_writer_t *self, const char *value)
{
	if (!jsonw_sep(self))
		return;
	jsonw_quoted(self, value ? value : "");
}

void jsonw_uint(json_writer_t *self, __u64 value)
{
	if (!jsonw_sep(self))
		return;
	fprintf(self->out, "%llu", (unsigned long long)value);
}

void jsonw_int(json_writer_t *self, __s64 value)
{
	if (!jsonw_sep(self))
		return;
	fprintf(self->out, "%lld", (long long)value);
}

void jsonw_float(json_writer_t *self, double value)
{
	if (!jsonw_sep(self))
		return;
	if (isfinite(value))
		fprintf(self->out, "%.3f", value);
	else
		fputs("null", self->out);
}

void jsonw_bool(json_writer_t *self, bool value)
{
	if (!jsonw_sep(self))
		return;
	fputs(value ? "true" : "false", self->out);
}

void jsonw_null(json_writer_t *self)
{
	if (!jsonw_sep(self))
		return;
	fputs("null", self->out);
}

void jsonw_string_field(json_writer_t *self, const char *name, const char *value)
{
	jsonw_name(self, name);
	jsonw_string(self, value);
}

void jsonw_uint_field(json_writer_t *self, const char *name, __u64 value)
{
	jsonw_name(self, name);
	jsonw_uint(self, value);
}

void jsonw_int_field(json_writer_t *self, const char *name, __s64 value)
{
	jsonw_name(self, name);
	jsonw_int(self, value);
}

void jsonw_bool_field(json_writer_t *self, const char *name, bool value)
{
	jsonw_name(self, name);
	jsonw_bool(self, value);
}
