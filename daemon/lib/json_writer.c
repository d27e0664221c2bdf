// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

#define JSONW_DEPTH_MAX 32

struct json_writer {
	FILE *out;
	unsigned int depth;
	bool first[JSONW_DEPTH_MAX];	/* no element yet at this depth */
	bool after_name;		/* a value completes "name": */
	bool wrote;			/* anything at all written */
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

void jsonw_destroy(json_writer_t **self)
{
	if (!*self)
		return;
	if ((*self)->wrote)
		fputc('\n', (*self)->out);
	fflush((*self)->out);
	free(*self);
	*self = NULL;
}

/* Separator before a new element (not after a name). */
static void jsonw_sep(json_writer_t *self)
{
	self->wrote = true;
	if (self->after_name) {
		self->after_name = false;
		return;
	}
	if (!self->first[self->depth])
		fputc(',', self->out);
	self->first[self->depth] = false;
}

static void jsonw_open(json_writer_t *self, char c)
{
	jsonw_sep(self);
	fputc(c, self->out);
	if (self->depth + 1 < JSONW_DEPTH_MAX)
		self->depth++;
	self->first[self->depth] = true;
}

static void jsonw_close(json_writer_t *self, char c)
{
	if (self->depth > 0)
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
	jsonw_sep(self);
	jsonw_quoted(self, name);
	fputc(':', self->out);
	self->after_name = true;
}

void jsonw_string(json_writer_t *self, const char *value)
{
	jsonw_sep(self);
	jsonw_quoted(self, value ? value : "");
}

void jsonw_printf(json_writer_t *self, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	jsonw_string(self, buf);
}

void jsonw_uint(json_writer_t *self, __u64 value)
{
	jsonw_sep(self);
	fprintf(self->out, "%llu", (unsigned long long)value);
}

void jsonw_int(json_writer_t *self, __s64 value)
{
	jsonw_sep(self);
	fprintf(self->out, "%lld", (long long)value);
}

void jsonw_float(json_writer_t *self, double value)
{
	jsonw_sep(self);
	if (isfinite(value))
		fprintf(self->out, "%.3f", value);
	else
		fputs("null", self->out);
}

void jsonw_bool(json_writer_t *self, bool value)
{
	jsonw_sep(self);
	fputs(value ? "true" : "false", self->out);
}

void jsonw_null(json_writer_t *self)
{
	jsonw_sep(self);
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
