/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * JSON checks of the sockaccelctl tests, parsed by jansson (RFC 8259), a
 * parser independent of our writer, so that "stdout parses as JSON" is
 * evidence the writer is right: one value, optionally surrounded by
 * whitespace, nothing else; no trailing garbage, truncated text, control
 * characters or invalid UTF-8 in strings, lone surrogates, leading zeros,
 * trailing commas or duplicate object keys.
 *
 * The result is a small tree that the tests query. jansson holds integers
 * as signed 64-bit, so an integer above INT64_MAX is refused rather than
 * rounded: cookies and counters stay exact.
 */
#ifndef SA_CTL_JSON_H
#define SA_CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

enum cj_type { CJ_NULL, CJ_BOOL, CJ_NUM, CJ_STR, CJ_ARR, CJ_OBJ };

struct cj {
	enum cj_type type;
	bool b;			/* CJ_BOOL */
	double d;		/* CJ_NUM, as a double */
	char *text;		/* CJ_NUM: decimal digits of an integer, a '.' in any
				 * other number; CJ_STR: decoded, NUL-terminated */
	size_t len;		/* CJ_STR: decoded length (may hold \u0000) */
	struct cj **items;	/* CJ_ARR elements, CJ_OBJ values */
	char **keys;		/* CJ_OBJ keys (decoded) */
	size_t n;
};

/* Parse @len bytes at @buf as exactly one JSON text. NULL on error, with
 * the position and the reason in @err. */
struct cj *cj_parse(const char *buf, size_t len, char *err, size_t errlen);
void cj_free(struct cj *v);

/*
 * JSON Lines: every line (each ended by '\n', none empty) is one JSON text.
 * *@out gets an array of *@n values (free with cj_lines_free).
 */
int cj_parse_lines(const char *buf, size_t len, struct cj ***out, size_t *n, char *err,
		   size_t errlen);
void cj_lines_free(struct cj **v, size_t n);

const char *cj_type_name(enum cj_type t);
/* Member @key of object @v; NULL if @v is not an object or has no such key. */
const struct cj *cj_get(const struct cj *v, const char *key);
/* Dotted path of object members, "probe.passed"; NULL when any step is missing. */
const struct cj *cj_path(const struct cj *v, const char *path);
/* The string, or NULL if @v is not a string. */
const char *cj_str(const struct cj *v);
/* An exact non-negative integer (no fraction, no exponent) into *@out. */
int cj_u64(const struct cj *v, __u64 *out);
/* The boolean into *@out; -EINVAL if @v is not a boolean. */
int cj_bool(const struct cj *v, bool *out);
/* Does array @v hold a string containing @needle? */
bool cj_array_has_substr(const struct cj *v, const char *needle);

#endif
