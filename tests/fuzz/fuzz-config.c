/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: ukey.conf text (a user-editable file) through ukey_config_parse(). */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ukey_config cfg = { 0 };
	const char *reason = NULL;
	unsigned line = 0;

	ukey_config_parse((const char *)data, size, &cfg, &line, &reason);
	ukey_config_clear(&cfg);
	return 0;
}
