/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SQLite storage of the reference CA; every row read back is checked like any other input. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "date.h"
#include "state.h"

/* A database row larger than this is not one the CA wrote. */
#define REFCA_STATE_MAX_FIELD (64 * 1024)

struct refca_state {
	sqlite3 *db;
};

static const char schema[] = "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
			     "CREATE TABLE IF NOT EXISTS certs("
			     " serial TEXT PRIMARY KEY, subject TEXT NOT NULL,"
			     " not_before TEXT NOT NULL, not_after TEXT NOT NULL, first_issued TEXT NOT NULL,"
			     " issued_at INTEGER NOT NULL, via TEXT NOT NULL, renewed_from TEXT NOT NULL,"
			     " revoked_at INTEGER, der BLOB NOT NULL);"
			     "CREATE TABLE IF NOT EXISTS orders("
			     " id TEXT PRIMARY KEY, serial TEXT NOT NULL UNIQUE, rule TEXT NOT NULL,"
			     " needs_documents INTEGER NOT NULL, approved INTEGER NOT NULL, paid INTEGER NOT NULL,"
			     " created INTEGER NOT NULL, retry_after INTEGER NOT NULL, issued_serial TEXT NOT NULL);"
			     "INSERT OR IGNORE INTO settings(key, value) VALUES ('schema', 'refca-1');";

/* One converter at the library boundary: expected codes become errno values, the rest -EIO. */
static int err_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

int refca_state_open(const char *dir, bool create, struct refca_state **ret)
{
	struct refca_state *st;
	char path[PATH_MAX];
	char *value = NULL;
	int rc, r;

	if ((size_t)snprintf(path, sizeof(path), "%s/state.db", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), NULL);
	if (rc != SQLITE_OK) {
		r = err_from_sqlite(rc);
		goto fail;
	}
	/* The server and `admin` share the file: wait for each other rather than fail. */
	sqlite3_busy_timeout(st->db, 5000);
	if (create && (rc = sqlite3_exec(st->db, schema, NULL, NULL, NULL)) != SQLITE_OK) {
		r = err_from_sqlite(rc);
		goto fail;
	}
	sqlite3_exec(st->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL);
	r = refca_state_get_setting(st, "schema", &value);
	if (r < 0 || strcmp(value, "refca-1") != 0) {
		r = -EIO;
		goto fail;
	}
	free(value);
	*ret = st;
	return 0;
fail:
	free(value);
	refca_state_free(st);
	return r;
}

struct refca_state *refca_state_free(struct refca_state *st)
{
	if (!st)
		return NULL;
	sqlite3_close(st->db);
	free(st);
	return NULL;
}

static int prepare(struct refca_state *st, const char *sql, sqlite3_stmt **ret)
{
	return err_from_sqlite(sqlite3_prepare_v2(st->db, sql, -1, ret, NULL));
}

/* Copy a text column into a fixed buffer; a NULL, too long or non-text column is -EIO (not ours). */
static int column_copy(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	int n = sqlite3_column_bytes(s, col);

	if (!t || n < 0 || (size_t)n >= size)
		return -EIO;
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n)
		return -EIO;
	return 0;
}

static int column_date(sqlite3_stmt *s, int col, long *ret)
{
	char buf[REFCA_DATE_STRLEN];

	if (column_copy(s, col, buf, sizeof(buf)) < 0 || refca_date_parse(buf, ret) < 0)
		return -EIO;
	return 0;
}

int refca_state_get_setting(struct refca_state *st, const char *key, char **ret)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = prepare(st, "SELECT value FROM settings WHERE key = ?1", &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		int n = sqlite3_column_bytes(s, 0);

		if (!t || n < 0 || n > REFCA_STATE_MAX_FIELD) {
			r = -EIO;
		} else {
			char *v = malloc((size_t)n + 1);

			if (!v) {
				r = -ENOMEM;
			} else {
				memcpy(v, t, (size_t)n);
				v[n] = '\0';
				*ret = v;
				r = 0;
			}
		}
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : err_from_sqlite(rc);
	}
	sqlite3_finalize(s);
	return r;
}

int refca_state_set_setting(struct refca_state *st, const char *key, const char *value)
{
	sqlite3_stmt *s = NULL;
	int r;

	if (value)
		r = prepare(st,
			    "INSERT INTO settings(key, value) VALUES (?1, ?2) "
			    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			    &s);
	else
		r = prepare(st, "DELETE FROM settings WHERE key = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	r = err_from_sqlite(sqlite3_step(s));
	sqlite3_finalize(s);
	return r;
}

int refca_state_next_number(struct refca_state *st, const char *key, long *ret)
{
	char *v = NULL, buf[32];
	long n = 0;
	int r;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -EBUSY;
	r = refca_state_get_setting(st, key, &v);
	if (r == 0) {
		char *end;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || *end || n < 0 || n >= LONG_MAX)
			r = -EIO;
	} else if (r == -ENOENT) {
		r = 0;
	}
	free(v);
	if (r == 0) {
		n++;
		snprintf(buf, sizeof(buf), "%ld", n);
		r = refca_state_set_setting(st, key, buf);
	}
	if (r < 0 || sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return r < 0 ? r : -EIO;
	}
	*ret = n;
	return 0;
}

int refca_state_today(struct refca_state *st, long *ret_today, bool *ret_overridden)
{
	char *v = NULL;
	long day;
	int r = refca_state_get_setting(st, "today", &v);

	if (r == -ENOENT) {
		*ret_today = refca_date_today_utc();
		if (ret_overridden)
			*ret_overridden = false;
		return 0;
	}
	if (r < 0)
		return r;
	r = refca_date_parse(v, &day) < 0 ? -EIO : 0;
	free(v);
	if (r < 0)
		return r;
	*ret_today = day;
	if (ret_overridden)
		*ret_overridden = true;
	return 0;
}

int refca_state_set_today(struct refca_state *st, long date, bool clear)
{
	char buf[REFCA_DATE_STRLEN];

	if (clear)
		return refca_state_set_setting(st, "today", NULL);
	refca_date_format(date, buf);
	return refca_state_set_setting(st, "today", buf);
}

int refca_state_now(struct refca_state *st, int64_t *ret_now)
{
	int64_t real = (int64_t)time(NULL);
	long today;
	int r;

	if ((r = refca_state_today(st, &today, NULL)) < 0)
		return r;
	*ret_now = refca_date_start(today) + (real - refca_date_start(refca_date_of(real)));
	return 0;
}

void refca_cert_free(struct refca_cert *c)
{
	if (!c)
		return;
	free(c->subject);
	free(c->der);
	free(c);
}

int refca_state_cert_add(struct refca_state *st, const struct refca_cert *c)
{
	char nb[REFCA_DATE_STRLEN], na[REFCA_DATE_STRLEN], fi[REFCA_DATE_STRLEN];
	sqlite3_stmt *s = NULL;
	int r;

	if (c->der_len > REFCA_STATE_MAX_FIELD)
		return -E2BIG;
	if ((r = prepare(st,
			 "INSERT INTO certs(serial, subject, not_before, not_after, first_issued, issued_at, via,"
			 " renewed_from, revoked_at, der) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)",
			 &s)) < 0)
		return r;
	refca_date_format(c->not_before, nb);
	refca_date_format(c->not_after, na);
	refca_date_format(c->first_issued, fi);
	sqlite3_bind_text(s, 1, c->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, nb, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, na, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, fi, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, c->issued_at);
	sqlite3_bind_text(s, 7, c->via, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, c->renewed_from, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 9, c->der, (int)c->der_len, SQLITE_STATIC);
	r = err_from_sqlite(sqlite3_step(s));
	sqlite3_finalize(s);
	return r;
}

#define CERT_COLUMNS                                                                                                   \
	"serial, subject, not_before, not_after, first_issued, issued_at, via, renewed_from, revoked_at, der"

static int cert_from_row(sqlite3_stmt *s, struct refca_cert **ret)
{
	struct refca_cert *c = calloc(1, sizeof(*c));
	const unsigned char *subject;
	const void *der;
	int n, dn;

	if (!c)
		return -ENOMEM;
	subject = sqlite3_column_text(s, 1);
	n = sqlite3_column_bytes(s, 1);
	der = sqlite3_column_blob(s, 9);
	dn = sqlite3_column_bytes(s, 9);
	if (column_copy(s, 0, c->serial, sizeof(c->serial)) < 0 || !subject || n < 0 || n > REFCA_STATE_MAX_FIELD ||
	    column_date(s, 2, &c->not_before) < 0 || column_date(s, 3, &c->not_after) < 0 ||
	    column_date(s, 4, &c->first_issued) < 0 || column_copy(s, 6, c->via, sizeof(c->via)) < 0 ||
	    column_copy(s, 7, c->renewed_from, sizeof(c->renewed_from)) < 0 || !der || dn <= 0 ||
	    dn > REFCA_STATE_MAX_FIELD)
		goto corrupt;
	c->issued_at = sqlite3_column_int64(s, 5);
	c->revoked = sqlite3_column_type(s, 8) != SQLITE_NULL;
	c->revoked_at = c->revoked ? sqlite3_column_int64(s, 8) : 0;
	c->subject = strndup((const char *)subject, (size_t)n);
	c->der = malloc((size_t)dn);
	if (!c->subject || !c->der) {
		refca_cert_free(c);
		return -ENOMEM;
	}
	memcpy(c->der, der, (size_t)dn);
	c->der_len = (size_t)dn;
	*ret = c;
	return 0;
corrupt:
	refca_cert_free(c);
	return -EIO;
}

int refca_state_cert_get(struct refca_state *st, const char *serial, struct refca_cert **ret)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = prepare(st, "SELECT " CERT_COLUMNS " FROM certs WHERE serial = ?1", &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = cert_from_row(s, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : err_from_sqlite(rc);
	sqlite3_finalize(s);
	return r;
}

int refca_state_cert_revoke(struct refca_state *st, const char *serial, int64_t when)
{
	struct refca_cert *c = NULL;
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = refca_state_cert_get(st, serial, &c)) < 0)
		return r;
	r = c->revoked ? -EALREADY : 0;
	refca_cert_free(c);
	if (r < 0)
		return r;
	if ((r = prepare(st, "UPDATE certs SET revoked_at = ?2 WHERE serial = ?1 AND revoked_at IS NULL", &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, when);
	r = err_from_sqlite(sqlite3_step(s));
	sqlite3_finalize(s);
	return r;
}

int refca_state_cert_each(struct refca_state *st, bool revoked_only, int (*fn)(const struct refca_cert *c, void *u),
			  void *u)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = prepare(st,
			 revoked_only ? "SELECT " CERT_COLUMNS " FROM certs WHERE revoked_at IS NOT NULL ORDER BY rowid"
				      : "SELECT " CERT_COLUMNS " FROM certs ORDER BY rowid",
			 &s)) < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct refca_cert *c = NULL;

		if ((r = cert_from_row(s, &c)) < 0)
			break;
		r = fn(c, u);
		refca_cert_free(c);
		if (r < 0)
			break;
	}
	if (rc != SQLITE_ROW)
		r = err_from_sqlite(rc);
	sqlite3_finalize(s);
	return r;
}

#define ORDER_COLUMNS "id, serial, rule, needs_documents, approved, paid, created, retry_after, issued_serial"

static int order_from_row(sqlite3_stmt *s, struct refca_order *ret)
{
	struct refca_order o = { 0 };

	if (column_copy(s, 0, o.id, sizeof(o.id)) < 0 || column_copy(s, 1, o.serial, sizeof(o.serial)) < 0 ||
	    column_copy(s, 2, o.rule, sizeof(o.rule)) < 0 ||
	    column_copy(s, 8, o.issued_serial, sizeof(o.issued_serial)) < 0)
		return -EIO;
	o.needs_documents = sqlite3_column_int(s, 3) != 0;
	o.approved = sqlite3_column_int(s, 4) != 0;
	o.paid = sqlite3_column_int(s, 5) != 0;
	o.created = sqlite3_column_int64(s, 6);
	o.retry_after = (long)sqlite3_column_int64(s, 7);
	*ret = o;
	return 0;
}

int refca_state_order_add(struct refca_state *st, const struct refca_order *o)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = prepare(st, "INSERT INTO orders(" ORDER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &s)) <
	    0)
		return r;
	sqlite3_bind_text(s, 1, o->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, o->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, o->rule, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, o->needs_documents);
	sqlite3_bind_int(s, 5, o->approved);
	sqlite3_bind_int(s, 6, o->paid);
	sqlite3_bind_int64(s, 7, o->created);
	sqlite3_bind_int64(s, 8, o->retry_after);
	sqlite3_bind_text(s, 9, o->issued_serial, -1, SQLITE_STATIC);
	r = err_from_sqlite(sqlite3_step(s));
	sqlite3_finalize(s);
	return r;
}

static int order_one(struct refca_state *st, const char *sql, const char *key, struct refca_order *ret)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = prepare(st, sql, &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = order_from_row(s, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : err_from_sqlite(rc);
	sqlite3_finalize(s);
	return r;
}

int refca_state_order_get(struct refca_state *st, const char *id, struct refca_order *ret)
{
	return order_one(st, "SELECT " ORDER_COLUMNS " FROM orders WHERE id = ?1", id, ret);
}

int refca_state_order_by_serial(struct refca_state *st, const char *serial, struct refca_order *ret)
{
	return order_one(st, "SELECT " ORDER_COLUMNS " FROM orders WHERE serial = ?1", serial, ret);
}

int refca_state_order_update(struct refca_state *st, const struct refca_order *o)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = prepare(st, "UPDATE orders SET approved = ?2, paid = ?3, issued_serial = ?4 WHERE id = ?1", &s)) < 0)
		return r;
	sqlite3_bind_text(s, 1, o->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, o->approved);
	sqlite3_bind_int(s, 3, o->paid);
	sqlite3_bind_text(s, 4, o->issued_serial, -1, SQLITE_STATIC);
	r = err_from_sqlite(sqlite3_step(s));
	if (r == 0 && sqlite3_changes(st->db) != 1)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}

int refca_state_order_each(struct refca_state *st, const char *serial, int (*fn)(const struct refca_order *o, void *u),
			   void *u)
{
	sqlite3_stmt *s = NULL;
	int rc, r;

	if ((r = prepare(st,
			 serial ? "SELECT " ORDER_COLUMNS " FROM orders WHERE serial = ?1 OR issued_serial = ?1 "
				  "ORDER BY rowid"
				: "SELECT " ORDER_COLUMNS " FROM orders ORDER BY rowid",
			 &s)) < 0)
		return r;
	if (serial)
		sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct refca_order o;

		if ((r = order_from_row(s, &o)) < 0 || (r = fn(&o, u)) < 0)
			break;
	}
	if (rc != SQLITE_ROW)
		r = err_from_sqlite(rc);
	sqlite3_finalize(s);
	return r;
}

const char *refca_order_state(const struct refca_order *o)
{
	if (o->issued_serial[0])
		return "issued";
	if (o->needs_documents && !o->approved)
		return "documents-required"; /* R-R5 */
	if (!o->paid)
		return "payment-required"; /* R-R6 */
	return o->needs_documents ? "approved" : "paid";
}

int refca_serial_normalize(const char *in, char out[REFCA_SERIAL_HEX_MAX + 1])
{
	size_t n, i = 0, k = 0;

	if (!in)
		return -EINVAL;
	n = strlen(in);
	if (n == 0 || n > REFCA_SERIAL_HEX_MAX)
		return -EINVAL;
	for (size_t j = 0; j < n; j++) {
		char ch = in[j];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
			return -EINVAL;
	}
	while (i + 1 < n && in[i] == '0')
		i++;
	for (; i < n; i++)
		out[k++] = (char)(in[i] >= 'A' && in[i] <= 'F' ? in[i] - 'A' + 'a' : in[i]);
	out[k] = '\0';
	return 0;
}
