/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey-refca admin DIR COMMAND`: the clock override, issuing by hand, approving, paying, revoking, listing. */
#ifndef REFCA_ADMIN_H
#define REFCA_ADMIN_H

/* Exit codes of ukey-refca (README.md). */
enum refca_exit {
	REFCA_EXIT_OK = 0,
	REFCA_EXIT_FAILURE = 1, /* I/O, OpenSSL or database failure; DIR not usable */
	REFCA_EXIT_USAGE = 2, /* bad command line */
	REFCA_EXIT_NOT_FOUND = 3, /* unknown order or serial */
	REFCA_EXIT_REFUSED = 4, /* refused input: bad CSR, already revoked, nothing to approve */
};

/* refca_admin_main: run `admin DIR COMMAND ARGS...`; argv[0] is DIR. Returns an exit code. */
int refca_admin_main(int argc, char **argv);

#endif
