/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the state store: creating its directory and database, schema versions, damage, WAL. */
#define _GNU_SOURCE
#include "unit-test.h"

#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "base/err.h"
#include "store.h"

/* nobody:nogroup, for the cases that need permission bits to bite when the tests run as root. */
#define NOBODY_ID 65534

static int setup(void **state)
{
	char *dir = unit_mkdtemp();

	*state = dir;
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	unit_rm_rf(*state);
	free(*state);
	return 0;
}

static void assert_mode(const char *path, mode_t mode)
{
	struct stat st;

	if (stat(path, &st) < 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s has mode %04o, expected %04o", path, (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

/* Open path with SQLite itself (not through the store) and read one integer or text pragma. */
static int sql_pragma_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *sql_pragma_text(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A missing state directory is created with every missing parent, each private to the user. */
static void creates_nested_dir_0700(void **state)
{
	const char *tmp = *state;
	char *a = unit_path(tmp, "a"), *ab = unit_path(tmp, "a/b"), *abc = unit_path(tmp, "a/b/c");
	struct ukey_store *store = NULL;
	mode_t old = umask(022);

	assert_int_equal(ukey_store_open(abc, &store), 0);
	umask(old);
	assert_non_null(store);
	assert_mode(a, 0700);
	assert_mode(ab, 0700);
	assert_mode(abc, 0700);
	ukey_store_free(store);
	free(a);
	free(ab);
	free(abc);
}

/* state.db is readable by its owner only, whatever the umask. */
static void creates_db_0600(void **state)
{
	const char *tmp = *state;
	char *db = unit_path(tmp, "state.db");
	struct ukey_store *store = NULL;
	mode_t old = umask(0);

	assert_int_equal(ukey_store_open(tmp, &store), 0);
	umask(old);
	assert_string_equal(ukey_store_path(store), db);
	assert_mode(db, 0600);
	ukey_store_free(store);
	free(db);
}

/* The WAL and shared-memory files hold the same data as the database: they must be as private. */
static void wal_and_shm_files_0600(void **state)
{
	const char *tmp = *state;
	char *wal = unit_path(tmp, "state.db-wal"), *shm = unit_path(tmp, "state.db-shm");
	struct ukey_store *store = NULL;
	mode_t old = umask(0);

	assert_int_equal(ukey_store_open(tmp, &store), 0);
	umask(old);
	/* Both exist while a connection is open in WAL mode. */
	assert_mode(wal, 0600);
	assert_mode(shm, 0600);
	ukey_store_free(store);
	free(wal);
	free(shm);
}

static void schema_version_after_open(void **state)
{
	const char *tmp = *state;
	char *db = unit_path(tmp, "state.db");
	struct ukey_store *store = NULL;

	assert_true(ukey_store_schema_version() >= 1);
	assert_int_equal(ukey_store_open(tmp, &store), 0);
	assert_int_equal(sql_pragma_int(db, "PRAGMA user_version"), ukey_store_schema_version());
	ukey_store_free(store);
	/* Opening again (already migrated) keeps it and works. */
	assert_int_equal(ukey_store_open(tmp, &store), 0);
	assert_int_equal(sql_pragma_int(db, "PRAGMA user_version"), ukey_store_schema_version());
	ukey_store_free(store);
	free(db);
}

/* A database written by a newer ukey is refused, not downgraded or written to. */
static void newer_schema_is_corrupt(void **state)
{
	const char *tmp = *state;
	char *db = unit_path(tmp, "state.db");
	struct ukey_store *store = (struct ukey_store *)&store;
	sqlite3 *sq = NULL;
	char sql[64];
	int newer = ukey_store_schema_version() + 1;

	assert_int_equal(sqlite3_open(db, &sq), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
	assert_int_equal(sqlite3_exec(sq, "CREATE TABLE future (x); ", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(sq);

	assert_int_equal(ukey_store_open(tmp, &store), -UKEY_E_STATE_CORRUPT);
	/* ret_ parameters are written only on success. */
	assert_ptr_equal(store, (struct ukey_store *)&store);
	assert_int_equal(sql_pragma_int(db, "PRAGMA user_version"), newer);
	free(db);
}

/* A state.db that is not a database is reported as damaged, and left as it was for inspection. */
static void garbage_file_is_corrupt(void **state)
{
	const char *tmp = *state;
	char *db = unit_path(tmp, "state.db");
	struct ukey_store *store = NULL;
	char garbage[4096], back[sizeof(garbage) + 1];
	FILE *f;

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = "this is not a database\n"[i % 23];
	assert_int_equal(unit_write_file(db, garbage, sizeof(garbage)), 0);
	assert_int_equal(ukey_store_open(tmp, &store), -UKEY_E_STATE_CORRUPT);
	assert_null(store);
	f = fopen(db, "re");
	assert_non_null(f);
	assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(garbage));
	fclose(f);
	assert_memory_equal(back, garbage, sizeof(garbage));
	free(db);
}

/* Even a few bytes of text are not a database. */
static void short_garbage_file_is_corrupt(void **state)
{
	const char *tmp = *state;
	char *db = unit_path(tmp, "state.db");
	struct ukey_store *store = NULL;

	assert_int_equal(unit_write_file(db, "hello\n", 6), 0);
	assert_int_equal(ukey_store_open(tmp, &store), -UKEY_E_STATE_CORRUPT);
	assert_null(store);
	free(db);
}

/* A state directory below a regular file can never be created. */
static void dir_under_file_unavailable(void **state)
{
	const char *tmp = *state;
	char *file = unit_path(tmp, "file"), *dir = unit_path(tmp, "file/ukey");
	struct ukey_store *store = NULL;

	assert_int_equal(unit_write_file(file, "x", 1), 0);
	assert_int_equal(ukey_store_open(dir, &store), -UKEY_E_STATE_UNAVAILABLE);
	assert_null(store);
	free(file);
	free(dir);
}

/* A directory in which no file can be created, for any user, root included. */
static void unwritable_proc_dir_unavailable(void **state)
{
	struct ukey_store *store = NULL;

	(void)state;
	assert_int_equal(ukey_store_open("/proc", &store), -UKEY_E_STATE_UNAVAILABLE);
	assert_null(store);
}

/*
 * Read-only state directories (chmod 0500), once empty and once holding a
 * store made earlier. Permission bits do not stop root, so when the tests
 * run as root the checks run in a child that drops to nobody first.
 * Returns the child's exit code: 0 passed, 1.. the failed check, 77 no way
 * to drop privileges.
 */
static int read_only_checks(const char *tmp)
{
	char *empty = NULL, *filled = NULL;
	struct ukey_store *store = NULL;
	int r, code = 0;

	if (asprintf(&empty, "%s/empty", tmp) < 0 || asprintf(&filled, "%s/filled", tmp) < 0)
		return 10;
	if (mkdir(empty, 0700) < 0 || chmod(empty, 0500) < 0)
		return 11;
	r = ukey_store_open(empty, &store);
	if (r != -UKEY_E_STATE_UNAVAILABLE || store) {
		fprintf(stderr, "empty read-only dir: %d (%s)\n", r, ukey_err_id(r));
		code = 1;
		goto out;
	}
	if ((r = ukey_store_open(filled, &store)) < 0)
		return 12;
	store = ukey_store_free(store);
	if (chmod(filled, 0500) < 0)
		return 13;
	r = ukey_store_open(filled, &store);
	if (r >= 0) {
		/* Reading may work; what must not happen is a PIN attempt that was not recorded. */
		int64_t id;

		r = ukey_store_pin_attempt_begin(store, "BJCA", "A0000001", "Unit A", "UK-1", 10, &id);
		store = ukey_store_free(store);
		if (r >= 0) {
			fprintf(stderr, "PIN attempt recorded in a read-only store: %d\n", r);
			code = 2;
			goto out;
		}
	}
	if (r != -UKEY_E_STATE_UNAVAILABLE) {
		fprintf(stderr, "store in read-only dir: %d (%s)\n", r, ukey_err_id(r));
		code = 3;
	}
out:
	ukey_store_free(store);
	free(empty);
	free(filled);
	return code;
}

static void read_only_dir_unavailable(void **state)
{
	const char *tmp = *state;
	bool root = geteuid() == 0;
	pid_t pid;
	int status;

	if (root && chown(tmp, NOBODY_ID, NOBODY_ID) < 0)
		unit_skip("running as root and cannot hand the temporary directory to nobody");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (root && (setgroups(0, NULL) < 0 || setgid(NOBODY_ID) < 0 || setuid(NOBODY_ID) < 0))
			_exit(UNIT_EXIT_SKIP);
		_exit(read_only_checks(tmp));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == UNIT_EXIT_SKIP)
		unit_skip("running as root and cannot drop privileges to nobody");
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* WAL lets the CLI read while ukeyd writes; it is a property of the database file, so another reader sees it. */
static void wal_journal_mode_on(void **state)
{
	const char *tmp = *state;
	char *db = unit_path(tmp, "state.db"), *mode;
	struct ukey_store *store = NULL;

	assert_int_equal(ukey_store_open(tmp, &store), 0);
	mode = sql_pragma_text(db, "PRAGMA journal_mode");
	assert_non_null(mode);
	assert_string_equal(mode, "wal");
	free(mode);
	ukey_store_free(store);
	free(db);
}

/* ukey_store_free is NULL-safe and returns NULL, so `s = ukey_store_free(s)` is the idiom. */
static void free_null_safe(void **state)
{
	(void)state;
	assert_null(ukey_store_free(NULL));
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		CASE(creates_nested_dir_0700),
		CASE(creates_db_0600),
		CASE(wal_and_shm_files_0600),
		CASE(schema_version_after_open),
		CASE(newer_schema_is_corrupt),
		CASE(garbage_file_is_corrupt),
		CASE(short_garbage_file_is_corrupt),
		CASE(dir_under_file_unavailable),
		cmocka_unit_test(unwritable_proc_dir_unavailable),
		CASE(read_only_dir_unavailable),
		CASE(wal_journal_mode_on),
		cmocka_unit_test(free_null_safe),
	};

	return UNIT_MAIN("store", tests);
}
