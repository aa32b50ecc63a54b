/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukey: the command line for USB certificate keys — options and dispatch. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_CLI
#include "base/err.h"
#include "base/log.h"
#include "cli.h"
#include "i18n.h"
#include "objects.h"

#ifndef UKEY_VERSION
#define UKEY_VERSION "0.0.0"
#endif

static void help(void)
{
	printf(_("Usage: ukey [OPTIONS] COMMAND [ARGS]\n"
		 "\n"
		 "Commands:\n"
		 "  list              keys inserted: label, serial, model, PIN tries left, certificates\n"
		 "  certs             certificates on the keys: subject, issuer, validity, days left, status,\n"
		 "                    revocation (OCSP, else the CRL; --offline: cached CRLs only)\n"
		 "  keys              key objects on the keys: type, id, label\n"
		 "  pin status        PIN tries left, or locked\n"
		 "  pin verify        check the PIN (reads it from the terminal or one line of stdin)\n"
		 "  pin change        change the PIN (current, new, and the new again at a terminal;\n"
		 "                    two lines, current then new, from a pipe)\n"
		 "  guide [SERVICE]   the CA's services (R-S1..R-S8): where, fee, what to bring\n"
		 "  origin add URL    let web pages of this origin use the local agent (ukeyd)\n"
		 "  origin remove URL\n"
		 "  origin list\n"
		 "  devices           every token-like USB device, reader and card: model, ATR,\n"
		 "                    and what is missing (driver, module, permission, pcscd)\n"
		 "  watch             keys, readers and cards as they come and go, one line each\n"
		 "                    (--for SECONDS to stop; --no-probe: don't test new cards)\n"
		 "  diagnose          a key brought in as damaged: checks from this computer down to\n"
		 "                    the certificate, the verdict (R-D1..R-D3 or not the key),\n"
		 "                    warranty and fee; --led off|blinking|steady, --first-issued\n"
		 "                    YYYY-MM-DD, --report FILE.html\n"
		 "  renew             renew the key's certificate online (R-R): PIN, new key pair\n"
		 "                    on the key, the CA, the new certificate written, the old one\n"
		 "                    removed; --check (eligibility), --resume, --abort, --force\n"
		 "  orders            renewals under way and orders waiting at the CA\n"
		 "\n"
		 "Options (before or after the command):\n"
		 "  --module PATH     PKCS#11 module (default %s; env UKEY_MODULE)\n"
		 "  --token SEL       the key to use: its serial or its label (env UKEY_TOKEN)\n"
		 "  --state-dir DIR   where PIN tries are counted (default $XDG_STATE_HOME/ukey;\n"
		 "                    env UKEY_STATE_DIR)\n"
		 "  --config FILE     settings file (default $XDG_CONFIG_HOME/ukey/ukey.conf)\n"
		 "  --ca-url URL      the CA's EST base (env UKEY_CA_URL; ca-url in ukey.conf)\n"
		 "  --ca-trust PEM    trust anchors for the CA's TLS certificate (env UKEY_CA_TRUST)\n"
		 "  --offline         no network for revocation checks: cached CRLs only\n"
		 "  --json            one JSON document on stdout\n"
		 "  -h, --help        this text\n"
		 "  --version         the version\n"
		 "\n"
		 "Exit codes: 0 success, 1 other error, 2 usage, 3 wrong PIN, 4 PIN locked,\n"
		 "5 no key or key not found, 6 the CA cannot be used, 7 renewal not open,\n"
		 "8 the renewal waits at the CA.\n"),
	       UKEY_DEFAULT_MODULE);
}

enum {
	OPT_MODULE = 0x100,
	OPT_TOKEN,
	OPT_STATE_DIR,
	OPT_CONFIG,
	OPT_JSON,
	OPT_VERSION,
	OPT_FOR,
	OPT_NO_PROBE,
	OPT_LED,
	OPT_FIRST_ISSUED,
	OPT_REPORT,
	OPT_CHECK,
	OPT_RESUME,
	OPT_ABORT,
	OPT_FORCE,
	OPT_CA_URL,
	OPT_CA_TRUST,
	OPT_OFFLINE,
};

static int usage_error(struct cli *c, const char *what)
{
	return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("%s: see 'ukey --help'."), what);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "module", required_argument, NULL, OPT_MODULE },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "no-probe", no_argument, NULL, OPT_NO_PROBE },
		{ "led", required_argument, NULL, OPT_LED },
		{ "first-issued", required_argument, NULL, OPT_FIRST_ISSUED },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "abort", no_argument, NULL, OPT_ABORT },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "ca-url", required_argument, NULL, OPT_CA_URL },
		{ "ca-trust", required_argument, NULL, OPT_CA_TRUST },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ 0 },
	};
	struct ukey_config_flags flags = { 0 };
	const char *flag_config = NULL;
	struct cli c = { .max_tries = UKEY_PIN_MAX_TRIES_DEFAULT, .watch_probe = true };
	char *end;
	struct rlimit no_core = { 0, 0 };
	bool show_help = false, show_version = false;
	int opt, r;

	/* A PIN lives in this process for a moment: no core dump may carry it to disk. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	ukey_i18n_setup();
	ukey_log_setup("ukey");

	opterr = 0;
	/* GNU getopt permutes: global options are accepted before and after the command. */
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_MODULE:
			flags.module = optarg;
			break;
		case OPT_TOKEN:
			flags.token = optarg;
			break;
		case OPT_STATE_DIR:
			flags.state_dir = optarg;
			break;
		case OPT_CONFIG:
			flag_config = optarg;
			break;
		case OPT_JSON:
			c.json = true;
			break;
		case 'h':
			show_help = true;
			break;
		case OPT_VERSION:
			show_version = true;
			break;
		case OPT_FOR:
			errno = 0;
			c.watch_seconds = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || c.watch_seconds == 0 || c.watch_seconds > 86400) {
				r = usage_error(&c, _("--for takes a number of seconds from 1 to 86400"));
				return ukey_err_exit_code(r);
			}
			break;
		case OPT_NO_PROBE:
			c.watch_probe = false;
			break;
		case OPT_LED:
			c.diag_led = optarg;
			break;
		case OPT_FIRST_ISSUED:
			c.diag_first_issued = optarg;
			break;
		case OPT_REPORT:
			c.diag_report = optarg;
			break;
		case OPT_CHECK:
			c.renew_mode = CLI_RENEW_CHECK;
			break;
		case OPT_RESUME:
			c.renew_mode = CLI_RENEW_RESUME;
			break;
		case OPT_ABORT:
			c.renew_mode = CLI_RENEW_ABORT;
			break;
		case OPT_FORCE:
			c.renew_force = true;
			break;
		case OPT_CA_URL:
			flags.ca_url = optarg;
			break;
		case OPT_CA_TRUST:
			flags.ca_trust = optarg;
			break;
		case OPT_OFFLINE:
			c.offline = true;
			break;
		default:
			r = usage_error(&c, optopt ? _("Unknown or incomplete option") : _("Unknown option"));
			return ukey_err_exit_code(r);
		}
	}
	if (show_help) {
		help();
		return UKEY_EXIT_OK;
	}
	if (show_version) {
		printf("ukey %s\n", UKEY_VERSION);
		return UKEY_EXIT_OK;
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		help();
		return UKEY_EXIT_USAGE;
	}

	r = ukey_config_load(flag_config, &c.cfg);
	if (r >= 0)
		r = ukey_config_override(&c.cfg, &flags);
	if (r < 0) {
		r = r == -UKEY_E_USAGE ? usage_error(&c, _("Invalid configuration")) : cli_fail_default(&c, r);
		goto out;
	}

	if (strcmp(argv[0], "list") == 0)
		r = cmd_list(&c, argc, argv);
	else if (strcmp(argv[0], "certs") == 0)
		r = cmd_certs(&c, argc, argv);
	else if (strcmp(argv[0], "keys") == 0)
		r = cmd_keys(&c, argc, argv);
	else if (strcmp(argv[0], "guide") == 0)
		r = cmd_guide(&c, argc, argv);
	else if (strcmp(argv[0], "origin") == 0)
		r = cmd_origin(&c, argc, argv);
	else if (strcmp(argv[0], "pin") == 0)
		r = cmd_pin(&c, argc, argv);
	else if (strcmp(argv[0], "devices") == 0)
		r = cmd_devices(&c, argc, argv);
	else if (strcmp(argv[0], "watch") == 0)
		r = cmd_watch(&c, argc, argv);
	else if (strcmp(argv[0], "diagnose") == 0)
		r = cmd_diagnose(&c, argc, argv);
	else if (strcmp(argv[0], "renew") == 0)
		r = cmd_renew(&c, argc, argv);
	else if (strcmp(argv[0], "orders") == 0)
		r = cmd_orders(&c, argc, argv);
	else if (strcmp(argv[0], "help") == 0) {
		help();
		r = 0;
	} else
		r = usage_error(&c, _("Unknown command"));
out:
	ukey_store_free(c.store);
	ukey_p11_free(c.p11);
	ukey_config_clear(&c.cfg);
	return ukey_err_exit_code(r);
}
