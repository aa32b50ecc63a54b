/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The small harness every cmocka unit test shares: run one named case, temporary directories, skips. */
#ifndef UKEY_UNIT_TEST_H
#define UKEY_UNIT_TEST_H

/* Include after defining _GNU_SOURCE (nftw, mkdtemp) and before cmocka's own headers. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"

/*
 * ctest registers each case as its own test (tests/unit/CMakeLists.txt) and
 * runs the program as `test-x CASE`. A case that cannot run here calls
 * unit_skip(): the program then exits 77, which ctest reports as skipped
 * (SKIP_RETURN_CODE), instead of cmocka's silent pass.
 */
#define UNIT_EXIT_SKIP 77

static bool unit_skipped;

#define unit_skip(why)                                                                                                 \
	do {                                                                                                           \
		fprintf(stderr, "skipped: %s\n", (why));                                                               \
		unit_skipped = true;                                                                                   \
		skip();                                                                                                \
	} while (0)

static inline int unit_find(const struct CMUnitTest *tests, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tests[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * `--registered NAME…` checks that CMakeLists.txt registers exactly the
 * program's cases, so a case added here but not there (or misspelled
 * there) fails the build's tests instead of silently never running.
 */
static inline int unit_check_registered(const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (int a = 2; a < argc; a++)
			found = found || strcmp(argv[a], tests[i].name) == 0;
		if (!found) {
			fprintf(stderr, "case %s is not registered with ctest\n", tests[i].name);
			bad = 1;
		}
	}
	for (int a = 2; a < argc; a++)
		if (unit_find(tests, n, argv[a]) < 0) {
			fprintf(stderr, "ctest names case %s, which does not exist\n", argv[a]);
			bad = 1;
		}
	return bad;
}

/* Run every case (no argument), one case (its function name), --list or --registered. */
static inline int unit_main(const char *group, const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
	int i;

	/* UKEY_DEBUG=all shows the code's debug lines when a case fails. */
	ukey_log_setup(group);
	if (argc < 2)
		return _cmocka_run_group_tests(group, tests, n, NULL, NULL) == 0 ? 0 : 1;
	if (strcmp(argv[1], "--list") == 0) {
		for (size_t k = 0; k < n; k++)
			printf("%s\n", tests[k].name);
		return 0;
	}
	if (strcmp(argv[1], "--registered") == 0)
		return unit_check_registered(tests, n, argc, argv);
	i = unit_find(tests, n, argv[1]);
	if (i < 0) {
		fprintf(stderr, "%s: no case named %s\n", group, argv[1]);
		return 2;
	}
	if (_cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL) != 0)
		return 1;
	return unit_skipped ? UNIT_EXIT_SKIP : 0;
}

#define UNIT_MAIN(group, tests) unit_main((group), (tests), sizeof(tests) / sizeof((tests)[0]), argc, argv)

/* A fresh private directory under $TMPDIR (or /tmp); malloc'ed path, NULL on failure. */
static inline char *unit_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path;

	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	if (asprintf(&path, "%s/ukey-unit-XXXXXX", tmp) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static inline int unit_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static inline int unit_chmod_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* A case may leave a directory read-only: make it writable again before the removal pass. */
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, 0700);
	return 0;
}

/* Remove path and everything below it, not following symbolic links. */
static inline int unit_rm_rf(const char *path)
{
	if (!path)
		return 0;
	nftw(path, unit_chmod_dir, 16, FTW_PHYS);
	return nftw(path, unit_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write len bytes to path (created 0600, truncated). Returns 0 or -errno. */
static inline int unit_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (len && fwrite(data, 1, len, f) != len)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

/* "dir/name", malloc'ed; aborts the case on allocation failure. */
static inline char *unit_path(const char *dir, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", dir, name) >= 0);
	return p;
}

#endif
