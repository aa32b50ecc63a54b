/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PIN entry without echo and without stdio buffers, so the PIN exists only in the caller's buffer. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/err.h"
#include "pin-input.h"

/* Read up to the end of the line byte by byte; an overlong line is drained and rejected. */
static int read_line(int fd, char *buf, size_t size, bool *ret_eof_first)
{
	size_t n = 0;
	bool overflow = false;
	char c;

	*ret_eof_first = false;
	for (;;) {
		ssize_t k = read(fd, &c, 1);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0) {
			if (n == 0 && !overflow)
				*ret_eof_first = true;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 >= size) {
			overflow = true;
			continue;
		}
		buf[n++] = c;
	}
	c = 0;
	/* A line from a Windows editor ends in CR LF. */
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (overflow) {
		OPENSSL_cleanse(buf, size);
		return -UKEY_E_PIN_INVALID;
	}
	return 0;
}

/* The terminal state to restore if a signal ends the program at the prompt (echo must come back). */
static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void restore_and_reraise(int sig)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

int ukey_pin_read(const char *prompt, char *buf, size_t size)
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa = { .sa_handler = restore_and_reraise }, old_sa[5];
	struct termios old, quiet;
	bool eof_first;
	int r;

	if (!isatty(STDIN_FILENO)) {
		r = read_line(STDIN_FILENO, buf, size, &eof_first);
		if (r == 0 && eof_first)
			return -UKEY_E_NO_TERMINAL;
		return r;
	}
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -errno;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	saved_termios = old;
	termios_saved = 1;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaction(signals[i], &sa, &old_sa[i]);
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
		r = -errno;
	else
		r = read_line(STDIN_FILENO, buf, size, &eof_first);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	termios_saved = 0;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaction(signals[i], &old_sa[i], NULL);
	if (r < 0)
		return r;
	fputc('\n', stderr);
	if (r == 0 && eof_first)
		return -UKEY_E_CANCELLED;
	return r;
}
