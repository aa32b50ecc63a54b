/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukey-refca: the reference CA of the tests and the demo (init, serve, admin); README.md documents it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "admin.h"
#include "ca.h"
#include "http.h"
#include "service.h"
#include "state.h"

static const char usage_text[] =
	"usage: ukey-refca init DIR [--key rsa|ec]\n"
	"       ukey-refca serve DIR [--port N] [--autopay] [--retry-after SECONDS]\n"
	"       ukey-refca admin DIR today [YYYY-MM-DD|clear]\n"
	"       ukey-refca admin DIR issue --csr FILE.pem --not-before YYYY-MM-DD --not-after YYYY-MM-DD\n"
	"                                  [--first-issued YYYY-MM-DD]\n"
	"       ukey-refca admin DIR approve|pay ORDER\n"
	"       ukey-refca admin DIR revoke SERIAL\n"
	"       ukey-refca admin DIR orders|certs\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return REFCA_EXIT_USAGE;
}

/* The technician's password: 24 random bytes as 32 base64url characters, in a 0600 file that must not exist. */
static int write_password(const char *dir)
{
	unsigned char raw[24];
	char text[40], path[PATH_MAX];
	int fd, n, r = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/technician.pass", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	n = EVP_EncodeBlock((unsigned char *)text, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	for (int i = 0; i < n; i++)
		text[i] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
	text[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	else if (write(fd, text, (size_t)n) != n)
		r = -EIO;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

static int cmd_init(int argc, char **argv)
{
	struct refca_state *st = NULL;
	const char *dir;
	char path[PATH_MAX];
	bool ec = true;
	int r;

	if (argc < 1)
		return usage();
	dir = argv[0];
	/* "--key rsa|ec" pairs; one loop step per pair (clang's -Wfor-loop-analysis). */
	for (int i = 1; i < argc; i += 2) {
		if (strcmp(argv[i], "--key") != 0 || i + 1 >= argc)
			return usage();
		if (strcmp(argv[i + 1], "rsa") == 0)
			ec = false;
		else if (strcmp(argv[i + 1], "ec") == 0)
			ec = true;
		else
			return usage();
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "ukey-refca: cannot create '%s': %s.\n", dir, strerror(errno));
		return REFCA_EXIT_FAILURE;
	}
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "ukey-refca: '%s' holds a CA already; init never overwrites one.\n", dir);
		return REFCA_EXIT_FAILURE;
	}
	if ((r = refca_ca_init(dir, ec)) < 0) {
		fprintf(stderr, "ukey-refca: the CA could not be created in '%s': %s.\n", dir, strerror(-r));
		return REFCA_EXIT_FAILURE;
	}
	if ((r = write_password(dir)) < 0) {
		fprintf(stderr, "ukey-refca: technician.pass could not be written: %s.\n", strerror(-r));
		return REFCA_EXIT_FAILURE;
	}
	if ((r = refca_state_open(dir, true, &st)) < 0) {
		fprintf(stderr, "ukey-refca: the state database could not be created: %s.\n", strerror(-r));
		return REFCA_EXIT_FAILURE;
	}
	refca_state_free(st);
	printf("%s/ca.pem\n", dir);
	return REFCA_EXIT_OK;
}

static int parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct refca_service svc = { .retry_after = REFCA_DEFAULT_RETRY_AFTER };
	const char *dir;
	long port = 0;
	int r, code = REFCA_EXIT_FAILURE;

	if (argc < 1)
		return usage();
	dir = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--autopay") == 0)
			svc.autopay = true;
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc &&
			 parse_long(argv[i + 1], 0, 65535, &port) == 0)
			i++;
		else if (strcmp(argv[i], "--retry-after") == 0 && i + 1 < argc &&
			 parse_long(argv[i + 1], 1, 86400, &svc.retry_after) == 0)
			i++;
		else
			return usage();
	}
	if ((r = refca_state_open(dir, false, &svc.st)) < 0) {
		fprintf(stderr, "ukey-refca: '%s' is not a reference CA directory (%s); run `ukey-refca init` first.\n",
			dir, strerror(-r));
		return REFCA_EXIT_FAILURE;
	}
	if ((r = refca_ca_load(dir, &svc.ca)) < 0) {
		fprintf(stderr, "ukey-refca: the CA key and certificate in '%s' cannot be loaded (%s).\n", dir,
			strerror(-r));
		goto out;
	}
	if ((r = refca_service_load_password(&svc, dir)) < 0) {
		fprintf(stderr, "ukey-refca: '%s/technician.pass' cannot be read (%s).\n", dir, strerror(-r));
		goto out;
	}
	if ((r = refca_http_serve(&svc, dir, (int)port)) < 0) {
		fprintf(stderr, "ukey-refca: cannot serve on 127.0.0.1:%ld: %s.\n", port, strerror(-r));
		goto out;
	}
	code = REFCA_EXIT_OK;
out:
	OPENSSL_cleanse(svc.pass_digest, sizeof(svc.pass_digest));
	refca_ca_free(svc.ca);
	refca_state_free(svc.st);
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 2, argv + 2);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "admin") == 0)
		return refca_admin_main(argc - 2, argv + 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return REFCA_EXIT_OK;
	}
	return usage();
}
