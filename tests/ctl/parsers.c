// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The checkers the sockaccelctl tests rely on, checked themselves: the
 * JSON parser (jansson, strict) accepts valid texts and refuses truncated
 * ones, trailing garbage and the usual near-misses; the JSON Lines splitter and
 * the Prometheus text checker refuse what they should. A checker that
 * accepts anything would make "--json output parses" prove nothing.
 * Needs no root and no kernel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include "ctl_helpers.h"

static const char *const json_good[] = {
	"{}", "[]", " {\"a\": [1, -2, 3.5, 1e3, -0.0e-2, true, false, null]} \n",
	"\"x\"", "0", "-0", "[\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"]", "[\"\xc3\xa9\"]",
	"{\"error\":\"can't open the map '/x/sock_hash': No such file or directory\"}",
	"{\"a\":{\"b\":{\"c\":[{}]}}}", "9223372036854775807",
};

static const char *const json_bad[] = {
	"", " ", "{", "[", "{\"a\":", "{\"a\":1", "{\"a\":1,", "[1,2", "\"abc", "tru", "nul",
	"{\"a\":1} x", "{\"a\":1}{}", "{}\n{}", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}",
	"01", "1.", ".5", "+1", "1e", "0x10", "NaN", "Infinity", "-", "[1 2]",
	"{\"a\" 1}", "{\"a\":1 \"b\":2}", "\"tab\there\"", "\"\\x\"", "\"\\u12\"",
	"\"\\ud800\"", "\"\\udc00\"", "\"\xff\"", "\"\xc0\xaf\"", "{\"a\":1,\"a\":2}",
	"[1]]", "\xef\xbb\xbf{}",
};

static const char prom_good[] =
	"# HELP sockaccel_msgs_redirected_total messages redirected\n"
	"# TYPE sockaccel_msgs_redirected_total counter\n"
	"sockaccel_msgs_redirected_total 12\n"
	"# a comment\n"
	"\n"
	"# HELP sockaccel_map_entries sockets in the map\n"
	"# TYPE sockaccel_map_entries gauge\n"
	"sockaccel_map_entries{map=\"sock_hash\",x=\"a\\\"b\"} 4 1700000000000\n"
	"sockaccel_map_entries{map=\"other\"} -1.5e3\n"
	"# HELP lat latency\n"
	"# TYPE lat histogram\n"
	"lat_bucket{le=\"+Inf\"} 3\n"
	"lat_sum 0.5\n"
	"lat_count 3\n";

static const struct {
	const char *text;
	const char *why;
} prom_bad[] = {
	{ "", "empty" },
	{ "# HELP a_total x\n# TYPE a_total counter\na_total 1", "no final newline" },
	{ "a_total 1\n", "no HELP/TYPE" },
	{ "# TYPE a_total counter\na_total 1\n", "no HELP" },
	{ "# HELP a_total x\na_total 1\n", "no TYPE" },
	{ "# HELP a x\n# TYPE a counter\na 1\n", "counter without _total" },
	{ "# HELP a_total x\n# TYPE a_total counter\na_total x\n", "value not a number" },
	{ "# HELP a_total x\n# TYPE a_total counter\na_total 0x10\n", "hex value" },
	{ "# HELP a_total x\n# TYPE a_total counter\na_total\n", "no value" },
	{ "# HELP a_total x\n# TYPE a_total counter\na_total -1\n", "negative counter" },
	{ "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n", "name starts with a digit" },
	{ "# HELP a-b x\n# TYPE a-b gauge\na-b 1\n", "'-' in a name" },
	{ "# HELP a x\n# TYPE a gauge\na 1 2 3\n", "garbage after the timestamp" },
	{ "# HELP a x\n# TYPE a gauge\na{l=\"v} 1\n", "unterminated label value" },
	{ "# HELP a x\n# TYPE a gauge\na 1\na 2\n", "duplicate sample" },
	{ "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n", "two TYPE lines" },
	{ "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
	  "lines of a metric not contiguous" },
	{ "# HELP a x\n# TYPE a meter\na 1\n", "unknown type" },
	{ "# HELP a x\n# TYPE a gauge\n", "HELP/TYPE without sample" },
};

int main(void)
{
	struct cj *v = NULL, **lines = NULL;
	struct prom p = {};
	char err[256];
	size_t n = 0;
	__u64 u = 0;
	bool b = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned int i = 0; i < sizeof(json_good) / sizeof(json_good[0]); i++) {
		v = cj_parse(json_good[i], strlen(json_good[i]), err, sizeof(err));
		if (!v)
			tl_fail_msg(__FILE__, __LINE__, "valid JSON refused: '%s': %s", json_good[i],
				    err);
		cj_free(v);
	}
	for (unsigned int i = 0; i < sizeof(json_bad) / sizeof(json_bad[0]); i++) {
		v = cj_parse(json_bad[i], strlen(json_bad[i]), err, sizeof(err));
		if (v)
			tl_fail_msg(__FILE__, __LINE__, "invalid JSON accepted: case %u", i);
		else
			tl_log("refused as it should: case %u: %s", i, err);
		cj_free(v);
	}
	/* an embedded NUL byte in the text is not whitespace */
	v = cj_parse("{}\0", 3, err, sizeof(err));
	ASSERT_TRUE(v == NULL, "JSON with a NUL byte after the value is refused");

	/* every prefix of a valid document is refused: truncation never passes */
	{
		const char *doc = "{\"verdict\":\"healthy\",\"reasons\":[],\"probe\":{\"passed\":true},"
				  "\"n\":[1,2.5,\"a\\u0041\"]}";

		for (size_t len = 0; len < strlen(doc); len++) {
			v = cj_parse(doc, len, err, sizeof(err));
			if (v)
				tl_fail_msg(__FILE__, __LINE__, "truncated JSON accepted: '%.*s'",
					    (int)len, doc);
			cj_free(v);
			v = NULL;
		}
		v = cj_parse(doc, strlen(doc), err, sizeof(err));
		ASSERT_TRUE(v != NULL, "the whole document parses");
		ASSERT_JSON_STR(v, "verdict", "healthy", "string member");
		ASSERT_JSON_BOOL(v, "probe.passed", true, "nested boolean member");
		ASSERT_TRUE(cj_path(v, "probe.missing") == NULL, "missing member is NULL");
		ASSERT_EQ(cj_get(v, "n")->n, 3, "array length");
		ASSERT_TRUE(strcmp(cj_get(v, "n")->items[2]->text, "aA") == 0, "\\u0041 decoded");
		ASSERT_TRUE(cj_u64(cj_get(v, "n")->items[1], &u) != 0, "2.5 is not a u64");
		ASSERT_OK(cj_bool(cj_path(v, "probe.passed"), &b), "cj_bool");
		cj_free(v);
		v = NULL;
	}
	v = cj_parse("9223372036854775807", 19, err, sizeof(err));
	ASSERT_TRUE(v != NULL, "INT64_MAX parses");
	ASSERT_OK(cj_u64(v, &u), "cj_u64(INT64_MAX)");
	ASSERT_TRUE(u == 9223372036854775807ULL, "INT64_MAX exact");
	cj_free(v);
	/* refused, never rounded to a double that cj_u64 would misread */
	v = cj_parse("18446744073709551615", 20, err, sizeof(err));
	ASSERT_TRUE(v == NULL, "an integer past INT64_MAX is refused");
	v = cj_parse("-1", 2, err, sizeof(err));
	ASSERT_TRUE(v != NULL, "-1 parses");
	ASSERT_TRUE(cj_u64(v, &u) != 0, "-1 is not a u64");
	cj_free(v);
	v = NULL;

	/* JSON Lines */
	ASSERT_OK(cj_parse_lines("{\"a\":1}\n{\"a\":2}\n", 16, &lines, &n, err, sizeof(err)),
		  "two JSON lines");
	ASSERT_EQ(n, 2, "number of JSON lines");
	cj_lines_free(lines, n);
	lines = NULL;
	ASSERT_TRUE(cj_parse_lines("{\"a\":1}\n{\"a\":2}", 15, &lines, &n, err, sizeof(err)) != 0,
		    "JSON Lines: an unterminated last line is refused");
	ASSERT_TRUE(cj_parse_lines("{\"a\":1}\n\n", 9, &lines, &n, err, sizeof(err)) != 0,
		    "JSON Lines: an empty line is refused");
	ASSERT_TRUE(cj_parse_lines("{\"a\":1}{\"a\":2}\n", 15, &lines, &n, err, sizeof(err)) != 0,
		    "JSON Lines: two values on one line are refused");

	/* Prometheus */
	ASSERT_OK(prom_parse(prom_good, strlen(prom_good), &p, err, sizeof(err)),
		  "valid Prometheus text");
	ASSERT_EQ(p.n, 6, "samples in the valid Prometheus text");
	ASSERT_TRUE(prom_find(&p, "sockaccel_msgs_redirected_total") &&
		    prom_find(&p, "sockaccel_msgs_redirected_total")->value == 12, "counter value");
	prom_free(&p);
	for (unsigned int i = 0; i < sizeof(prom_bad) / sizeof(prom_bad[0]); i++) {
		if (prom_parse(prom_bad[i].text, strlen(prom_bad[i].text), &p, err, sizeof(err)) == 0) {
			tl_fail_msg(__FILE__, __LINE__, "invalid Prometheus text accepted (%s)",
				    prom_bad[i].why);
			prom_free(&p);
		} else {
			tl_log("refused as it should (%s): %s", prom_bad[i].why, err);
		}
	}
cleanup:
	cj_free(v);
	prom_free(&p);
	tl_log("%s parsers", tl_failures() ? "FAIL" : "PASS");
	return tl_failures() ? 1 : 0;
}
