/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One strict UTF-8 check for every layer that takes text from outside (PINs, USB strings, the model database). */
#ifndef UKEY_UTF8_H
#define UKEY_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * ukey_utf8_valid: whether s[0..len) is well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). With no_controls
 * C0 and C1 control characters and DEL are refused too (text for a
 * terminal or a token); a NUL byte is then refused as well.
 */
bool ukey_utf8_valid(const void *s, size_t len, bool no_controls);

#endif
