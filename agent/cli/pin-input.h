/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a PIN: from the terminal without echo, or one line from a pipe; never from argv. */
#ifndef UKEY_PIN_INPUT_H
#define UKEY_PIN_INPUT_H

#include <stddef.h>

/*
 * ukey_pin_read: read one PIN into buf (size bytes, NUL-terminated, the
 * line end removed). When standard input is a terminal, prompt on stderr
 * and read with echo off; otherwise read one line from standard input,
 * unbuffered, so no copy stays in a stdio buffer. The caller wipes buf.
 * Returns 0; -UKEY_E_PIN_INVALID when the line does not fit in buf;
 * -UKEY_E_NO_TERMINAL when standard input is closed or empty;
 * -UKEY_E_CANCELLED on Ctrl-D at the prompt; -errno on read errors.
 */
int ukey_pin_read(const char *prompt, char *buf, size_t size);

#endif
