/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey diagnose`: a key brought in as damaged, checked layer by layer; verdict, warranty, fee, report (R-D1…R-D7). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "cli.h"
#include "devices.h"
#include "diagnose.h"
#include "i18n.h"
#include "objects.h"
#include "report.h"

static bool chinese(void)
{
	const char *lc = setlocale(LC_MESSAGES, NULL), *lang = getenv("LANGUAGE");

	return (lang && strncmp(lang, "zh", 2) == 0) || (lc && strncmp(lc, "zh", 2) == 0);
}

/* Software cannot see the light: ask the person at the terminal, once. Not a terminal: unknown. */
static enum ukey_led ask_led(void)
{
	char line[64];
	enum ukey_led led;

	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
		return UKEY_LED_UNKNOWN;
	for (int i = 0; i < 3; i++) {
		fputs(_("What does the key's indicator light do? [off/blinking/steady, Enter: don't know] "), stderr);
		if (!fgets(line, sizeof(line), stdin))
			return UKEY_LED_UNKNOWN;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			return UKEY_LED_UNKNOWN;
		if (ukey_led_parse(line, &led) == 0)
			return led;
	}
	return UKEY_LED_UNKNOWN;
}

/* Write text to path (0644: a report is for printing and attaching) through a temporary file and rename. */
static int write_file(const char *path, const char *text)
{
	char *tmp = NULL;
	size_t len = strlen(text);
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

/* The report and its JSON, kept with a timestamp in the state directory (reports/). */
static int save_reports(struct cli *c, const char *html, const char *json, time_t now, char **ret_html, char **ret_json)
{
	char stamp[32], *dir = NULL, *h = NULL, *j = NULL;
	struct tm tm;
	int r;

	if (!c->cfg.state_dir)
		return -UKEY_E_STATE_UNAVAILABLE;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (asprintf(&dir, "%s/reports", c->cfg.state_dir) < 0)
		return -ENOMEM;
	if (mkdir(c->cfg.state_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	if (asprintf(&h, "%s/diagnose-%s-%ld.html", dir, stamp, (long)getpid()) < 0 ||
	    asprintf(&j, "%s/diagnose-%s-%ld.json", dir, stamp, (long)getpid()) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = write_file(h, html)) < 0 || (r = write_file(j, json)) < 0)
		goto out;
	*ret_html = h;
	*ret_json = j;
	h = j = NULL;
out:
	free(dir);
	free(h);
	free(j);
	return r;
}

static const char *status_word(enum ukey_check_status s)
{
	switch (s) {
	case UKEY_CHECK_PASS:
		return _("pass");
	case UKEY_CHECK_WARN:
		return _("warn");
	case UKEY_CHECK_FAIL:
		return _("FAIL");
	default:
		return _("skip");
	}
}

static void print_text(const struct ukey_diagnosis *dg, const char *html_path)
{
	bool zh = chinese();

	if (dg->have_token)
		printf(_("Diagnosis of \"%s\" (serial %s)%s%s\n\n"), cli_safe(dg->token.label),
		       cli_safe(dg->token.serial), dg->model[0] ? ", " : "", cli_safe(dg->model));
	else
		printf(_("Diagnosis%s%s\n\n"), dg->model[0] ? ": " : "", cli_safe(dg->model));
	for (size_t i = 0; i < dg->n_checks; i++) {
		const struct ukey_check *ck = &dg->checks[i];

		printf("  %-12s %-5s %s: %s\n", ck->layer, status_word(ck->status), _(ck->title),
		       cli_safe(ck->evidence));
		if (ck->fix)
			printf("  %-12s       -> %s\n", "", _(ck->fix));
	}
	printf(_("\nVerdict: %s\n  %s\n"), ukey_verdict_id(dg->verdict),
	       zh ? ukey_verdict_text(dg->verdict)->zh : ukey_verdict_text(dg->verdict)->en);
	printf(_("Light: %s\n"), ukey_led_id(dg->led));
	if (dg->note[0])
		printf(_("Note: %s\n"), dg->note);
	if (dg->warranty_known && dg->in_warranty)
		printf(_("Warranty (R-D4): first issued %s (%s); in warranty, which ends at the start of %s.\n"),
		       dg->first_issued,
		       strcmp(dg->first_issued_source, "flag") == 0 ? _("as given") : _("read from the key"),
		       dg->warranty_until);
	else if (dg->warranty_known)
		printf(_("Warranty (R-D4): first issued %s (%s); out of warranty since %s.\n"), dg->first_issued,
		       strcmp(dg->first_issued_source, "flag") == 0 ? _("as given") : _("read from the key"),
		       dg->warranty_until);
	else
		printf("%s\n", _("Warranty (R-D4): first issue date unknown: give --first-issued YYYY-MM-DD."));
	if (dg->media_fault && dg->in_warranty)
		printf("%s\n", _("Fee: free replacement; the new certificate keeps the original validity (R-D5)."));
	else if (dg->media_fault)
		printf(_("Fee: %d CNY media fee, no service fee (R-D6).\n"), dg->fee_cny);
	else if (dg->verdict == UKEY_VERDICT_LOCKED)
		printf("%s\n", _("Fee: none, unlocking is free (R-P3)."));
	else if (dg->service && (dg->verdict == UKEY_VERDICT_REVOKED || dg->verdict == UKEY_VERDICT_EXPIRED))
		/* Not a replacement: the next service has its own fee (the guide's). */
		printf(_("Fee: %s (%s).\n"), chinese() ? dg->service->fee.zh : dg->service->fee.en, dg->service->rule);
	else
		printf(_("No replacement needed; a new key on request costs the %d CNY media fee (R-D6).\n"),
		       UKEY_MEDIA_FEE_CNY);
	if (dg->service)
		printf(_("Next: %s %s. Bring the original key (R-D7); see 'ukey guide %s'.\n"), dg->service->rule,
		       zh ? dg->service->name.zh : dg->service->name.en, dg->service->rule);
	if (html_path)
		printf(_("Report: %s\n"), html_path);
}

int cmd_diagnose(struct cli *c, int argc, char **argv)
{
	struct ukey_diagnose_input in = { .max_tries = c->max_tries, .token = c->cfg.token };
	struct ukey_diagnosis *dg = NULL;
	struct ukey_model_db *db = NULL;
	struct ukey_store *store = NULL;
	char *html = NULL, *json = NULL, *msg = NULL, *saved_html = NULL, *saved_json = NULL;
	cJSON *doc = NULL;
	time_t now = time(NULL);
	int r;

	if (argc > 1)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("'%s' takes no arguments: see 'ukey --help'."),
				argv[0]);
	if (c->diag_led && ukey_led_parse(c->diag_led, &in.led) < 0)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("--led is off, blinking or steady, not \"%s\"."),
				cli_safe(c->diag_led));
	if (c->diag_first_issued && !ukey_date_valid(c->diag_first_issued))
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("--first-issued is a date YYYY-MM-DD, not \"%s\"."),
				cli_safe(c->diag_first_issued));
	if ((r = ukey_models_load(&db, &msg)) < 0) {
		r = cli_fail(c, r, NULL, NULL, _("The token model database cannot be used: %s."),
			     msg ? cli_safe(msg) : ukey_strerror(r));
		free(msg);
		return r;
	}
	if (!c->diag_led && !c->json)
		in.led = ask_led();
	in.first_issued = c->diag_first_issued;
	in.module = c->cfg.module;
	/* A module that does not load is a finding (ENVIRONMENT), not the end of the diagnosis. */
	in.module_error = c->p11 ? 0 : ukey_p11_load(c->cfg.module, &c->p11);
	in.p11 = in.module_error < 0 ? NULL : c->p11;
	if (cli_store(c, &store) == 0)
		in.store = store;
	in.models = db;
	in.now = now;
	/* R-V: revocation through the CA trust, CRLs cached in the state directory; --offline: the cache only. */
	in.check_revocation = true;
	in.offline = c->offline;
	in.ca_trust = c->cfg.ca_trust;
	in.state_dir = c->cfg.state_dir;
	dg = calloc(1, sizeof(*dg));
	if (!dg) {
		r = cli_fail_default(c, -ENOMEM);
		goto out;
	}
	if ((r = ukey_diagnose(&in, dg)) < 0) {
		if (r == -UKEY_E_TOKEN_AMBIGUOUS)
			cli_fail(c, r, NULL, NULL, _("Several keys are inserted: pick one with --token SERIAL."));
		else
			cli_fail_default(c, r);
		goto out;
	}
	doc = ukey_json_diagnosis(dg, now);
	html = ukey_report_html(doc);
	json = cJSON_Print(doc);
	if (!doc || !html || !json) {
		r = cli_fail_default(c, -ENOMEM);
		goto out;
	}
	if (c->diag_report && (r = write_file(c->diag_report, html)) < 0) {
		cli_fail(c, r, NULL, NULL, _("The report cannot be written to %s: %s."), cli_safe(c->diag_report),
			 _(ukey_strerror(r)));
		goto out;
	}
	/* A copy in the state directory is a convenience: its failure is said, not fatal. */
	if (save_reports(c, html, json, now, &saved_html, &saved_json) < 0 && !c->json)
		fprintf(stderr, _("ukey: the report could not be kept in %s/reports.\n"),
			c->cfg.state_dir ? c->cfg.state_dir : "?");
	if (c->json) {
		cJSON *rep = cJSON_AddObjectToObject(doc, "report");

		if (c->diag_report)
			cJSON_AddStringToObject(rep, "file", c->diag_report);
		else
			cJSON_AddNullToObject(rep, "file");
		if (saved_html) {
			cJSON_AddStringToObject(rep, "html", saved_html);
			cJSON_AddStringToObject(rep, "json", saved_json);
		}
		cli_print_json(doc);
		doc = NULL;
	} else {
		print_text(dg, c->diag_report ? c->diag_report : saved_html);
	}
	r = 0;
out:
	cJSON_Delete(doc);
	free(html);
	free(json);
	free(saved_html);
	free(saved_json);
	free(dg);
	ukey_model_db_free(db);
	return r;
}
