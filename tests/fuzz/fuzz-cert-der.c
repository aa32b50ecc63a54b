/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: certificate objects read from a token (hostile input) through ukey_cert_info_from_der(). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "p11.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukey_cert_info c;

	memset(&c, 0, sizeof(c));
	if (ukey_cert_info_from_der(data, size, &c) == 0)
		ukey_cert_info_clear(&c);
	return 0;
}
