/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SQLite state store: schema migrations and the PIN attempt journal behind R-P1. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_STORE
#include "base/err.h"
#include "base/log.h"
#include "store.h"

struct ukey_store {
	sqlite3 *db;
	char *path;
};

/*
 * Migrations, applied in order; schema version N is reached after
 * migrations[N-1]. Append only: a shipped migration never changes.
 *
 * pin_attempt is a journal, not a counter: each attempt is a row written
 * before the PIN goes to the token. A success deletes its own row and every
 * earlier row of the token, so a wrong attempt made concurrently by another
 * process (a later row) is never wiped by this success.
 */
static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE token ("
	"  id INTEGER PRIMARY KEY,"
	"  manufacturer TEXT NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  label TEXT,"
	"  model TEXT,"
	"  first_seen TEXT NOT NULL,"
	"  last_seen TEXT NOT NULL,"
	"  UNIQUE (manufacturer, serial));"
	"CREATE TABLE pin_attempt ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  token_id INTEGER NOT NULL REFERENCES token(id) ON DELETE CASCADE,"
	"  started TEXT NOT NULL,"
	"  outcome TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (outcome IN ('pending', 'wrong', 'uncertain')));"
	"CREATE INDEX pin_attempt_token ON pin_attempt(token_id);",
	/* 2: web origins the local API trusts (ukey origin add), in canonical form */
	"CREATE TABLE origin ("
	"  origin TEXT PRIMARY KEY,"
	"  added TEXT NOT NULL);",
	/* 3: the renewal journal (issue 6): one row per renewal, its step committed before the step is taken */
	"CREATE TABLE renewal ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  serial TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('keygen', 'keypair', 'pending', 'received', 'written', 'done',"
	"    'aborted')),"
	"  old_id BLOB NOT NULL,"
	"  new_id BLOB NOT NULL,"
	"  label TEXT NOT NULL,"
	"  key_kind INTEGER NOT NULL,"
	"  order_id TEXT,"
	"  retry_at INTEGER,"
	"  cert BLOB,"
	"  created TEXT NOT NULL,"
	"  updated TEXT NOT NULL);"
	"CREATE INDEX renewal_serial ON renewal(serial);",
};

int ukey_store_schema_version(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

/* The one converter from SQLite result codes to ours. */
static int err_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -UKEY_E_STATE_CORRUPT;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_AUTH:
		return -UKEY_E_STATE_UNAVAILABLE;
	default:
		log_debug("unexpected SQLite result %d", rc);
		return -UKEY_E_INTERNAL;
	}
}

static int store_fail(struct ukey_store *store, int rc, const char *what)
{
	log_debug("%s: %s (SQLite %d)", what, store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc), rc);
	return err_from_sqlite(rc);
}

static int exec(struct ukey_store *store, const char *sql)
{
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_fail(store, rc, sql);
}

static void now_iso8601(char buf[static 32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int mkdir_p(const char *dir)
{
	char *copy = strdup(dir);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(copy, 0700) < 0 && errno != EEXIST)
		r = -errno;
out:
	free(copy);
	return r;
}

static int migrate(struct ukey_store *store)
{
	sqlite3_stmt *st = NULL;
	int version, rc, r;

	rc = sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "reading schema version");
	rc = sqlite3_step(st);
	version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (version < 0)
		return store_fail(store, rc, "reading schema version");
	if (version > ukey_store_schema_version()) {
		log_debug("schema version %d is newer than this build's %d", version, ukey_store_schema_version());
		return -UKEY_E_STATE_CORRUPT;
	}
	if (version == ukey_store_schema_version())
		return 0;

	if ((r = exec(store, "BEGIN IMMEDIATE")) < 0)
		return r;
	/* Another process may have migrated while we waited for the lock: read the version again. */
	version = -1;
	rc = sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0 || version > ukey_store_schema_version()) {
		exec(store, "ROLLBACK");
		return -UKEY_E_STATE_CORRUPT;
	}
	for (int v = version; v < ukey_store_schema_version(); v++) {
		char pragma[48];

		log_debug("migrating %s to schema version %d", store->path, v + 1);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if ((r = exec(store, migrations[v])) < 0 || (r = exec(store, pragma)) < 0) {
			exec(store, "ROLLBACK");
			return r;
		}
	}
	return exec(store, "COMMIT");
}

int ukey_store_open(const char *dir, struct ukey_store **ret_store)
{
	struct ukey_store *store;
	int rc, r;

	r = mkdir_p(dir);
	if (r < 0)
		return log_debug_errno(-UKEY_E_STATE_UNAVAILABLE, "creating '%s': %s", dir, strerror(-r));
	store = calloc(1, sizeof(*store));
	if (!store)
		return -ENOMEM;
	if (asprintf(&store->path, "%s/state.db", dir) < 0) {
		free(store);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(store->path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = store_fail(store, rc, "opening the state database");
		goto fail;
	}
	chmod(store->path, 0600);
	sqlite3_busy_timeout(store->db, UKEY_STORE_BUSY_MS);
	sqlite3_extended_result_codes(store->db, 1);
	/* WAL lets the CLI read while ukeyd writes; FULL makes every committed attempt durable. */
	if ((r = exec(store, "PRAGMA journal_mode = WAL")) < 0 || (r = exec(store, "PRAGMA synchronous = FULL")) < 0 ||
	    (r = exec(store, "PRAGMA foreign_keys = ON")) < 0 || (r = migrate(store)) < 0)
		goto fail;
	*ret_store = store;
	return 0;
fail:
	ukey_store_free(store);
	return r;
}

struct ukey_store *ukey_store_free(struct ukey_store *store)
{
	if (!store)
		return NULL;
	sqlite3_close(store->db);
	free(store->path);
	free(store);
	return NULL;
}

const char *ukey_store_path(const struct ukey_store *store)
{
	return store->path;
}

/* Count the counted attempts of a token; 0 for a token never seen. Needs no transaction. */
static int count_failures(struct ukey_store *store, const char *manufacturer, const char *serial)
{
	static const char sql[] = "SELECT count(*) FROM pin_attempt a JOIN token t ON a.token_id = t.id"
				  " WHERE t.manufacturer = ?1 AND t.serial = ?2";
	sqlite3_stmt *st = NULL;
	int rc, n;

	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "counting PIN attempts");
	sqlite3_bind_text(st, 1, manufacturer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return n < 0 ? store_fail(store, rc, "counting PIN attempts") : n;
}

int ukey_store_pin_failures(struct ukey_store *store, const char *manufacturer, const char *serial)
{
	return count_failures(store, manufacturer, serial);
}

static int step_done(struct ukey_store *store, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_fail(store, rc, what);
}

static int token_upsert(struct ukey_store *store, const char *manufacturer, const char *serial, const char *label,
			const char *model, int64_t *ret_id)
{
	static const char sql[] =
		"INSERT INTO token (manufacturer, serial, label, model, first_seen, last_seen)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
		" ON CONFLICT (manufacturer, serial) DO UPDATE SET label = ?3, model = ?4, last_seen = ?5"
		" RETURNING id";
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	now_iso8601(now);
	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "recording the token");
	sqlite3_bind_text(st, 1, manufacturer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_fail(store, rc, "recording the token");
	}
	*ret_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int ukey_store_pin_attempt_begin(struct ukey_store *store, const char *manufacturer, const char *serial,
				 const char *label, const char *model, unsigned limit, int64_t *ret_attempt)
{
	sqlite3_stmt *st = NULL;
	int64_t token_id = 0, attempt;
	char now[32];
	int n, rc, r;

	if ((r = exec(store, "BEGIN IMMEDIATE")) < 0)
		return r;
	n = count_failures(store, manufacturer, serial);
	if (n < 0) {
		r = n;
		goto rollback;
	}
	/* R-P1/R-P2: at the limit nothing reaches the token, not even the right PIN. */
	if ((unsigned)n >= limit) {
		r = -UKEY_E_PIN_LOCKED;
		goto rollback;
	}
	if ((r = token_upsert(store, manufacturer, serial, label, model, &token_id)) < 0)
		goto rollback;
	now_iso8601(now);
	rc = sqlite3_prepare_v2(store->db, "INSERT INTO pin_attempt (token_id, started) VALUES (?1, ?2)", -1, &st,
				NULL);
	if (rc != SQLITE_OK) {
		r = store_fail(store, rc, "recording the PIN attempt");
		goto rollback;
	}
	sqlite3_bind_int64(st, 1, token_id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	if ((r = step_done(store, st, "recording the PIN attempt")) < 0)
		goto rollback;
	attempt = sqlite3_last_insert_rowid(store->db);
	/* Only a committed attempt may go to the token: a failed COMMIT means no attempt at all. */
	if ((r = exec(store, "COMMIT")) < 0)
		goto rollback;
	*ret_attempt = attempt;
	return n + 1;
rollback:
	sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int ukey_store_pin_attempt_end(struct ukey_store *store, int64_t attempt, enum ukey_attempt_outcome outcome)
{
	const char *sql;
	sqlite3_stmt *st = NULL;
	int rc;

	switch (outcome) {
	case UKEY_ATTEMPT_SUCCESS:
		sql = "DELETE FROM pin_attempt WHERE id <= ?1"
		      " AND token_id = (SELECT token_id FROM pin_attempt WHERE id = ?1)";
		break;
	case UKEY_ATTEMPT_WRONG:
		sql = "UPDATE pin_attempt SET outcome = 'wrong' WHERE id = ?1";
		break;
	case UKEY_ATTEMPT_UNCERTAIN:
		sql = "UPDATE pin_attempt SET outcome = 'uncertain' WHERE id = ?1";
		break;
	case UKEY_ATTEMPT_NOT_EVALUATED:
		sql = "DELETE FROM pin_attempt WHERE id = ?1";
		break;
	default:
		return -UKEY_E_USAGE;
	}
	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "recording the PIN outcome");
	sqlite3_bind_int64(st, 1, attempt);
	return step_done(store, st, "recording the PIN outcome");
}

int ukey_store_pin_reset(struct ukey_store *store, const char *manufacturer, const char *serial)
{
	static const char sql[] = "DELETE FROM pin_attempt WHERE token_id IN"
				  " (SELECT id FROM token WHERE manufacturer = ?1 AND serial = ?2)";
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "resetting the PIN counter");
	sqlite3_bind_text(st, 1, manufacturer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
	return step_done(store, st, "resetting the PIN counter");
}

static int origin_exec(struct ukey_store *store, const char *sql, const char *origin, const char *what)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	now_iso8601(now);
	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, what);
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(st) > 1)
		sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_fail(store, rc, what);
	return sqlite3_changes(store->db);
}

int ukey_store_origin_add(struct ukey_store *store, const char *origin)
{
	return origin_exec(store, "INSERT OR IGNORE INTO origin (origin, added) VALUES (?1, ?2)", origin,
			   "adding an origin");
}

int ukey_store_origin_remove(struct ukey_store *store, const char *origin)
{
	return origin_exec(store, "DELETE FROM origin WHERE origin = ?1", origin, "removing an origin");
}

int ukey_store_origin_allowed(struct ukey_store *store, const char *origin)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(store->db, "SELECT 1 FROM origin WHERE origin = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "reading the origins");
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(store, rc, "reading the origins");
}

int ukey_store_origin_list(struct ukey_store *store, char ***ret_origins)
{
	sqlite3_stmt *st = NULL;
	char **list = NULL;
	int n = 0, rc;

	rc = sqlite3_prepare_v2(store->db, "SELECT origin FROM origin ORDER BY origin", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "reading the origins");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **grown = realloc(list, (size_t)(n + 2) * sizeof(*list));

		if (!grown || !(grown[n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
			list = grown ? grown : list;
			rc = SQLITE_NOMEM;
			break;
		}
		list = grown;
		list[++n] = NULL;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		for (int i = 0; i < n; i++)
			free(list[i]);
		free(list);
		return store_fail(store, rc, "reading the origins");
	}
	*ret_origins = list;
	return n;
}

static const char *const renewal_state_ids[] = {
	[UKEY_RENEWAL_KEYGEN] = "keygen",     [UKEY_RENEWAL_KEYPAIR] = "keypair", [UKEY_RENEWAL_PENDING] = "pending",
	[UKEY_RENEWAL_RECEIVED] = "received", [UKEY_RENEWAL_WRITTEN] = "written", [UKEY_RENEWAL_DONE] = "done",
	[UKEY_RENEWAL_ABORTED] = "aborted",
};

const char *ukey_renewal_state_id(enum ukey_renewal_state state)
{
	if ((size_t)state >= sizeof(renewal_state_ids) / sizeof(renewal_state_ids[0]))
		return "unknown";
	return renewal_state_ids[state];
}

/* A state read from the database; a value this version does not know is damage. */
static int renewal_state_from_id(const char *id, enum ukey_renewal_state *ret)
{
	for (size_t i = 0; id && i < sizeof(renewal_state_ids) / sizeof(renewal_state_ids[0]); i++)
		if (strcmp(id, renewal_state_ids[i]) == 0) {
			*ret = (enum ukey_renewal_state)i;
			return 0;
		}
	return -UKEY_E_STATE_CORRUPT;
}

void ukey_renewal_clear(struct ukey_renewal *r)
{
	free(r->cert);
	memset(r, 0, sizeof(*r));
}

static void now_text(char buf[static 32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ukey_store_renewal_begin(struct ukey_store *store, struct ukey_renewal *r)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc, e;

	if ((e = exec(store, "BEGIN IMMEDIATE")) < 0)
		return e;
	/* One renewal at a time per key: a second one would make a second key pair. */
	rc = sqlite3_prepare_v2(store->db,
				"SELECT 1 FROM renewal WHERE serial = ?1 AND state NOT IN ('done', 'aborted')", -1, &st,
				NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->serial, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc == SQLITE_ROW) {
			exec(store, "ROLLBACK");
			return -EEXIST;
		}
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		goto fail;
	now_text(now);
	rc = sqlite3_prepare_v2(
		store->db,
		"INSERT INTO renewal (serial, state, old_id, new_id, label, key_kind, created, updated) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, r->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ukey_renewal_state_id(r->state), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, r->old_id, (int)r->old_id_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, r->new_id, (int)r->new_id_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->label, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, r->key_kind);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	r->id = sqlite3_last_insert_rowid(store->db);
	return exec(store, "COMMIT");
fail:
	e = store_fail(store, rc, "starting a renewal");
	exec(store, "ROLLBACK");
	return e;
}

int ukey_store_renewal_update(struct ukey_store *store, const struct ukey_renewal *r)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	now_text(now);
	rc = sqlite3_prepare_v2(store->db,
				"UPDATE renewal SET state = ?2, order_id = ?3, retry_at = ?4, cert = ?5, updated = ?6 "
				"WHERE id = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "recording a renewal step");
	sqlite3_bind_int64(st, 1, r->id);
	sqlite3_bind_text(st, 2, ukey_renewal_state_id(r->state), -1, SQLITE_STATIC);
	if (r->order[0])
		sqlite3_bind_text(st, 3, r->order, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->retry_at);
	if (r->cert)
		sqlite3_bind_blob(st, 5, r->cert, (int)r->cert_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_fail(store, rc, "recording a renewal step");
	return sqlite3_changes(store->db) == 1 ? 0 : -ENOENT;
}

static int renewal_from_row(sqlite3_stmt *st, struct ukey_renewal *r)
{
	const void *b;
	int n;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	snprintf(r->serial, sizeof(r->serial), "%s", (const char *)sqlite3_column_text(st, 1));
	if (renewal_state_from_id((const char *)sqlite3_column_text(st, 2), &r->state) < 0)
		return -UKEY_E_STATE_CORRUPT;
	/* Rows are ours, but the file is the user's: lengths are checked like any input. */
	n = sqlite3_column_bytes(st, 3);
	b = sqlite3_column_blob(st, 3);
	if (n < 0 || (size_t)n > sizeof(r->old_id) || (n && !b))
		return -UKEY_E_STATE_CORRUPT;
	memcpy(r->old_id, b, (size_t)n);
	r->old_id_len = (size_t)n;
	n = sqlite3_column_bytes(st, 4);
	b = sqlite3_column_blob(st, 4);
	if (n <= 0 || (size_t)n > sizeof(r->new_id) || !b)
		return -UKEY_E_STATE_CORRUPT;
	memcpy(r->new_id, b, (size_t)n);
	r->new_id_len = (size_t)n;
	snprintf(r->label, sizeof(r->label), "%s", (const char *)sqlite3_column_text(st, 5));
	r->key_kind = sqlite3_column_int(st, 6);
	if (sqlite3_column_type(st, 7) == SQLITE_TEXT)
		snprintf(r->order, sizeof(r->order), "%s", (const char *)sqlite3_column_text(st, 7));
	r->retry_at = sqlite3_column_int64(st, 8);
	n = sqlite3_column_bytes(st, 9);
	b = sqlite3_column_blob(st, 9);
	if (n > 0 && b) {
		if (!(r->cert = malloc((size_t)n)))
			return -ENOMEM;
		memcpy(r->cert, b, (size_t)n);
		r->cert_len = (size_t)n;
	}
	return 0;
}

#define RENEWAL_COLUMNS "id, serial, state, old_id, new_id, label, key_kind, order_id, retry_at, cert"

int ukey_store_renewal_active(struct ukey_store *store, const char *serial, struct ukey_renewal *ret)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(store->db,
				"SELECT " RENEWAL_COLUMNS " FROM renewal WHERE serial = ?1 AND state NOT IN ('done', "
				"'aborted') ORDER BY id DESC LIMIT 1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "reading the renewal journal");
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = renewal_from_row(st, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_fail(store, rc, "reading the renewal journal");
	sqlite3_finalize(st);
	return r;
}

int ukey_store_renewal_list(struct ukey_store *store, struct ukey_renewal **ret)
{
	sqlite3_stmt *st = NULL;
	struct ukey_renewal *list = NULL;
	int n = 0, rc, r = 0;

	rc = sqlite3_prepare_v2(store->db,
				"SELECT " RENEWAL_COLUMNS " FROM renewal WHERE state NOT IN ('done', 'aborted') "
				"ORDER BY id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(store, rc, "reading the renewal journal");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 256) {
		struct ukey_renewal *grown = realloc(list, (size_t)(n + 1) * sizeof(*list));

		if (!grown) {
			r = -ENOMEM;
			break;
		}
		list = grown;
		if ((r = renewal_from_row(st, &list[n])) < 0)
			break;
		n++;
	}
	sqlite3_finalize(st);
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_fail(store, rc, "reading the renewal journal");
	if (r < 0) {
		for (int i = 0; i < n; i++)
			ukey_renewal_clear(&list[i]);
		free(list);
		return r;
	}
	*ret = list;
	return n;
}
