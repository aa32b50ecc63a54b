/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The admin commands of ukey-refca, run by tests and `make demo` next to (or without) a running server. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "ca.h"
#include "date.h"
#include "state.h"

__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("ukey-refca: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int open_state(const char *dir, struct refca_state **st)
{
	int r = refca_state_open(dir, false, st);

	if (r < 0) {
		fprintf(stderr, "ukey-refca: '%s' is not a reference CA directory (%s); run `ukey-refca init` first.\n",
			dir, strerror(-r));
		return REFCA_EXIT_FAILURE;
	}
	return 0;
}

static void print_json(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static void add_date(cJSON *o, const char *key, long date)
{
	char buf[REFCA_DATE_STRLEN];

	refca_date_format(date, buf);
	cJSON_AddStringToObject(o, key, buf);
}

static int print_cert(const struct refca_cert *c, void *u)
{
	cJSON *o = cJSON_CreateObject();

	(void)u;
	cJSON_AddStringToObject(o, "serial", c->serial);
	cJSON_AddStringToObject(o, "subject", c->subject);
	add_date(o, "not_before", c->not_before);
	add_date(o, "not_after", c->not_after);
	add_date(o, "first_issued", c->first_issued);
	cJSON_AddStringToObject(o, "status", c->revoked ? "revoked" : "good");
	cJSON_AddStringToObject(o, "via", c->via);
	if (c->renewed_from[0])
		cJSON_AddStringToObject(o, "renewed_from", c->renewed_from);
	else
		cJSON_AddNullToObject(o, "renewed_from");
	print_json(o);
	return 0;
}

static int print_order(const struct refca_order *ord, void *u)
{
	cJSON *o = cJSON_CreateObject();

	(void)u;
	cJSON_AddStringToObject(o, "id", ord->id);
	cJSON_AddStringToObject(o, "serial", ord->serial);
	cJSON_AddStringToObject(o, "state", refca_order_state(ord));
	cJSON_AddStringToObject(o, "rule", ord->rule);
	cJSON_AddBoolToObject(o, "needs_documents", ord->needs_documents);
	cJSON_AddBoolToObject(o, "approved", ord->approved);
	cJSON_AddBoolToObject(o, "paid", ord->paid);
	cJSON_AddNumberToObject(o, "retry_after", (double)ord->retry_after);
	if (ord->issued_serial[0])
		cJSON_AddStringToObject(o, "issued_serial", ord->issued_serial);
	else
		cJSON_AddNullToObject(o, "issued_serial");
	print_json(o);
	return 0;
}

static int cmd_today(struct refca_state *st, int argc, char **argv)
{
	bool overridden;
	long day;
	char buf[REFCA_DATE_STRLEN];

	if (argc > 1)
		return fail(REFCA_EXIT_USAGE, "%s", "usage: ukey-refca admin DIR today [YYYY-MM-DD|clear]");
	if (argc == 1) {
		if (strcmp(argv[0], "clear") == 0) {
			if (refca_state_set_today(st, 0, true) < 0)
				return fail(REFCA_EXIT_FAILURE, "%s", "The clock override could not be cleared.");
		} else if (refca_date_parse(argv[0], &day) < 0) {
			return fail(REFCA_EXIT_USAGE, "'%s' is not a date (YYYY-MM-DD) or 'clear'.", argv[0]);
		} else if (refca_state_set_today(st, day, false) < 0) {
			return fail(REFCA_EXIT_FAILURE, "%s", "The clock override could not be saved.");
		}
	}
	if (refca_state_today(st, &day, &overridden) < 0)
		return fail(REFCA_EXIT_FAILURE, "%s", "The CA's date cannot be read.");
	refca_date_format(day, buf);
	printf("%s%s\n", buf, overridden ? " (overridden)" : "");
	return REFCA_EXIT_OK;
}

static int cmd_issue(const char *dir, struct refca_state *st, int argc, char **argv)
{
	const char *csr_path = NULL, *nb_s = NULL, *na_s = NULL, *fi_s = NULL, *why = NULL;
	struct refca_ca *ca = NULL;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	long nb, na, fi;
	char *pem = NULL;
	size_t pem_len;
	int r, code = REFCA_EXIT_FAILURE;

	for (int i = 0; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--csr") == 0	     ? &csr_path
				    : strcmp(argv[i], "--not-before") == 0   ? &nb_s
				    : strcmp(argv[i], "--not-after") == 0    ? &na_s
				    : strcmp(argv[i], "--first-issued") == 0 ? &fi_s
									     : NULL;

		if (!slot || i + 1 >= argc)
			return fail(REFCA_EXIT_USAGE, "%s",
				    "usage: ukey-refca admin DIR issue --csr FILE.pem --not-before YYYY-MM-DD "
				    "--not-after YYYY-MM-DD [--first-issued YYYY-MM-DD]");
		*slot = argv[++i];
	}
	if (!csr_path || !nb_s || !na_s)
		return fail(REFCA_EXIT_USAGE, "%s", "issue needs --csr, --not-before and --not-after.");
	if (refca_date_parse(nb_s, &nb) < 0)
		return fail(REFCA_EXIT_USAGE, "--not-before '%s' is not a date (YYYY-MM-DD).", nb_s);
	if (refca_date_parse(na_s, &na) < 0)
		return fail(REFCA_EXIT_USAGE, "--not-after '%s' is not a date (YYYY-MM-DD).", na_s);
	if (na < nb)
		return fail(REFCA_EXIT_USAGE, "%s", "--not-after is before --not-before.");
	fi = nb;
	if (fi_s && refca_date_parse(fi_s, &fi) < 0)
		return fail(REFCA_EXIT_USAGE, "--first-issued '%s' is not a date (YYYY-MM-DD).", fi_s);

	if ((r = refca_ca_load(dir, &ca)) < 0) {
		fprintf(stderr, "ukey-refca: the CA key and certificate in '%s' cannot be loaded (%s).\n", dir,
			strerror(-r));
		goto out;
	}
	r = refca_ca_csr_from_pem_file(csr_path, &csr, &why);
	if (r < 0) {
		fprintf(stderr, "ukey-refca: '%s': %s\n", csr_path, why ? why : "not a usable CSR.");
		code = r == -ENOENT ? REFCA_EXIT_NOT_FOUND : REFCA_EXIT_REFUSED;
		goto out;
	}
	if (refca_ca_issue(ca, st, csr, NULL, nb, na, fi, NULL, "admin", &cert) < 0 ||
	    refca_ca_pem(cert, &pem, &pem_len) < 0) {
		fprintf(stderr, "ukey-refca: the certificate could not be issued.\n");
		goto out;
	}
	fwrite(pem, 1, pem_len, stdout);
	code = REFCA_EXIT_OK;
out:
	free(pem);
	X509_free(cert);
	X509_REQ_free(csr);
	refca_ca_free(ca);
	return code;
}

static int cmd_order(struct refca_state *st, const char *what, int argc, char **argv)
{
	struct refca_order ord;
	bool approve = strcmp(what, "approve") == 0;
	int r;

	if (argc != 1)
		return fail(REFCA_EXIT_USAGE, "usage: ukey-refca admin DIR %s ORDER", what);
	r = refca_state_order_get(st, argv[0], &ord);
	if (r == -ENOENT)
		return fail(REFCA_EXIT_NOT_FOUND, "No order '%s'.", argv[0]);
	if (r < 0)
		return fail(REFCA_EXIT_FAILURE, "%s", "The orders cannot be read.");
	if (ord.issued_serial[0])
		return fail(REFCA_EXIT_REFUSED, "Order '%s' is issued already.", ord.id);
	if (approve && !ord.needs_documents)
		return fail(REFCA_EXIT_REFUSED, "Order '%s' needs no documents (only R-R5 orders are approved).",
			    ord.id);
	if (approve)
		ord.approved = true;
	else
		ord.paid = true;
	if (refca_state_order_update(st, &ord) < 0)
		return fail(REFCA_EXIT_FAILURE, "%s", "The order could not be saved.");
	printf("%s %s\n", ord.id, refca_order_state(&ord));
	return REFCA_EXIT_OK;
}

static int cmd_revoke(struct refca_state *st, int argc, char **argv)
{
	char serial[REFCA_SERIAL_HEX_MAX + 1];
	int64_t now;
	int r;

	if (argc != 1)
		return fail(REFCA_EXIT_USAGE, "%s", "usage: ukey-refca admin DIR revoke SERIAL");
	if (refca_serial_normalize(argv[0], serial) < 0)
		return fail(REFCA_EXIT_USAGE, "'%s' is not a serial (hexadecimal digits).", argv[0]);
	if ((r = refca_state_now(st, &now)) == 0)
		r = refca_state_cert_revoke(st, serial, now);
	if (r == -ENOENT)
		return fail(REFCA_EXIT_NOT_FOUND, "No certificate with serial '%s'.", serial);
	if (r == -EALREADY)
		return fail(REFCA_EXIT_REFUSED, "Certificate '%s' is revoked already.", serial);
	if (r < 0)
		return fail(REFCA_EXIT_FAILURE, "%s", "The revocation could not be saved.");
	printf("%s revoked\n", serial);
	return REFCA_EXIT_OK;
}

int refca_admin_main(int argc, char **argv)
{
	struct refca_state *st = NULL;
	const char *dir, *cmd;
	int code;

	if (argc < 2)
		return fail(REFCA_EXIT_USAGE, "%s",
			    "usage: ukey-refca admin DIR today|issue|approve|pay|revoke|orders|certs ...");
	dir = argv[0];
	cmd = argv[1];
	if (strcmp(cmd, "today") != 0 && strcmp(cmd, "issue") != 0 && strcmp(cmd, "approve") != 0 &&
	    strcmp(cmd, "pay") != 0 && strcmp(cmd, "revoke") != 0 && strcmp(cmd, "orders") != 0 &&
	    strcmp(cmd, "certs") != 0)
		return fail(REFCA_EXIT_USAGE, "Unknown admin command '%s'.", cmd);
	if ((code = open_state(dir, &st)) != 0)
		return code;
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "today") == 0)
		code = cmd_today(st, argc, argv);
	else if (strcmp(cmd, "issue") == 0)
		code = cmd_issue(dir, st, argc, argv);
	else if (strcmp(cmd, "approve") == 0 || strcmp(cmd, "pay") == 0)
		code = cmd_order(st, cmd, argc, argv);
	else if (strcmp(cmd, "revoke") == 0)
		code = cmd_revoke(st, argc, argv);
	else if (argc != 0)
		code = fail(REFCA_EXIT_USAGE, "usage: ukey-refca admin DIR %s", cmd);
	else if (strcmp(cmd, "orders") == 0)
		code = refca_state_order_each(st, NULL, print_order, NULL) < 0
			       ? fail(REFCA_EXIT_FAILURE, "%s", "The orders cannot be read.")
			       : REFCA_EXIT_OK;
	else
		code = refca_state_cert_each(st, false, print_cert, NULL) < 0
			       ? fail(REFCA_EXIT_FAILURE, "%s", "The certificates cannot be read.")
			       : REFCA_EXIT_OK;
	refca_state_free(st);
	return code;
}
