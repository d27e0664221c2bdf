// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The JSON writer's output, byte for byte. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json_writer.h"
#include "unit.h"

int main(void)
{
	char buf[512] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	json_writer_t *jw = jsonw_new(f);

	jsonw_start_object(jw);
	jsonw_string_field(jw, "s", "a\"b\\c\n\x01");
	jsonw_uint_field(jw, "u", 18446744073709551615ull);
	jsonw_int_field(jw, "i", -5);
	jsonw_bool_field(jw, "b", true);
	jsonw_name(jw, "f");
	jsonw_float(jw, 1.5);
	jsonw_name(jw, "nan");
	jsonw_float(jw, NAN);
	jsonw_name(jw, "a");
	jsonw_start_array(jw);
	jsonw_uint(jw, 1);
	jsonw_start_object(jw);
	jsonw_end_object(jw);
	jsonw_null(jw);
	jsonw_end_array(jw);
	jsonw_end_object(jw);
	jsonw_destroy(&jw);
	fclose(f);
	CHECK_STR(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"u\":18446744073709551615,\"i\":-5,"
		  "\"b\":true,\"f\":1.500,\"nan\":null,\"a\":[1,{},null]}\n", "document");
	CHECK(jw == NULL, "destroy clears the pointer");

	memset(buf, 0, sizeof(buf));
	f = fmemopen(buf, sizeof(buf), "w");
	jw = jsonw_new(f);
	jsonw_destroy(&jw);
	fclose(f);
	CHECK_STR(buf, "", "nothing written, no stray newline");
	return unit_done("test_json_writer");
}
