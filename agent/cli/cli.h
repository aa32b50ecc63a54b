/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the ukey CLI's commands share: options, the loaded module, the store, and how they report. */
#ifndef UKEY_CLI_H
#define UKEY_CLI_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "core.h"
#include "p11.h"
#include "pin.h"
#include "revocation.h"
#include "store.h"

struct cli {
	struct ukey_config cfg; /* module, state dir, default token after flags/env/file */
	bool json;
	struct ukey_p11 *p11; /* loaded on first use by cli_p11() */
	struct ukey_store *store;
	int store_error; /* why store is NULL, once cli_store() was called */
	bool store_tried;
	unsigned max_tries;
	unsigned watch_seconds; /* `ukey watch --for N`: end after N seconds (0: until a signal) */
	bool watch_probe; /* `ukey watch`: ask each new card a SELECT to tell a mute one (--no-probe: don't) */
	const char *diag_led; /* `ukey diagnose --led` */
	const char *diag_first_issued; /* `ukey diagnose --first-issued` */
	const char *diag_report; /* `ukey diagnose --report FILE.html` */
	enum { CLI_RENEW_RUN, CLI_RENEW_CHECK, CLI_RENEW_RESUME, CLI_RENEW_ABORT } renew_mode;
	bool renew_force; /* `ukey renew --force`: a technician renews outside R-R2's window */
	bool offline; /* --offline: no network for revocation (R-V), the cached CRLs only */
	struct ukey_revocation *revocation; /* `ukey certs`: the checker, while cmd_certs runs; NULL: none */
};

/* cli_p11: the loaded module, loading it on first use. Reports a failure itself. */
int cli_p11(struct cli *c, struct ukey_p11 **ret);

/* cli_store: the state store, opened on first use. Does not report (callers decide how bad it is). */
int cli_store(struct cli *c, struct ukey_store **ret);

/* cli_core: the core context of this command (module loaded, store opened when it can be). Reports failures. */
int cli_core(struct cli *c, struct ukey_core *ret);

/* cli_report: report a core failure with its one sentence (ukey_failure_message), rule and PIN state. Returns f->r. */
int cli_report(struct cli *c, const struct ukey_failure *f);

/* cli_token: the one token the command is about (--token, or the only one inserted). Reports failures. */
int cli_token(struct cli *c, struct ukey_token_info *ret);

/*
 * cli_fail: report failure r once, in the user's language: as
 * "ukey: sentence" on stderr, or with --json as {"error": {…}} on stdout.
 * rule (may be NULL) names the service rule, pin (may be NULL) adds the
 * tries left. fmt is the sentence (already translated). Returns r.
 */
int cli_fail(struct cli *c, int r, const char *rule, const struct ukey_pin_state *pin, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* cli_fail_default: report r with its sentence from the core's table, with this command's context. Returns r. */
int cli_fail_default(struct cli *c, int r);

/*
 * cli_safe: s made safe for a terminal: C0/C1 control characters and DEL
 * (escape sequences from a hostile label or certificate) become '?'. The
 * result lives in one of 8 rotating static buffers (512 bytes, truncated).
 */
const char *cli_safe(const char *s);

/* cli_print_json: print and free a JSON document on stdout. */
void cli_print_json(cJSON *doc);

/* The commands. argv[0] is the command word. Return 0 or a negative error already reported. */
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_certs(struct cli *c, int argc, char **argv);
int cmd_keys(struct cli *c, int argc, char **argv);
int cmd_pin(struct cli *c, int argc, char **argv);
int cmd_origin(struct cli *c, int argc, char **argv);
int cmd_guide(struct cli *c, int argc, char **argv);
int cmd_devices(struct cli *c, int argc, char **argv);
int cmd_watch(struct cli *c, int argc, char **argv);
int cmd_diagnose(struct cli *c, int argc, char **argv);
int cmd_renew(struct cli *c, int argc, char **argv);
int cmd_orders(struct cli *c, int argc, char **argv);

#endif
