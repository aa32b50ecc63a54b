/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: an origin as `ukey origin add` and the Origin header give it, through ukey_origin_normalize(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "origin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), out[UKEY_ORIGIN_MAX], again[UKEY_ORIGIN_MAX];

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	/* The canonical form is a fixed point, fits its buffer, and is http(s) only. */
	if (ukey_origin_normalize(in, out, sizeof(out)) == 0 &&
	    (strlen(out) >= sizeof(out) || ukey_origin_normalize(out, again, sizeof(again)) != 0 ||
	     strcmp(out, again) != 0 || (strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)))
		abort();
	free(in);
	return 0;
}
