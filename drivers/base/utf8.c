/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict UTF-8 validation (RFC 3629), shared by the PIN rules, the USB layer and the model database. */
#include <stdint.h>

#include "utf8.h"

bool ukey_utf8_valid(const void *data, size_t len, bool no_controls)
{
	const unsigned char *s = data;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			if (no_controls && (c < 0x20 || c == 0x7f))
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n > len - i - 1)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (no_controls && cp >= 0x80 && cp <= 0x9f))
			return false;
		i += n + 1;
	}
	return true;
}
