/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukeyd: the local agent — the loopback WebSocket API and page for the CA's portal, over the same core as ukey. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/err.h"
#include "base/log.h"
#include "config.h"
#include "pin.h"
#include "server.h"

#ifndef UKEY_DATADIR
#define UKEY_DATADIR "/usr/local/share"
#endif

#define UKEY_DEFAULT_PORT 24801
/* ukeyd's own exit code (README, "Exit codes"): a loopback address it must serve is taken, so it does not start. */
#define UKEYD_EXIT_ADDRESS_TAKEN 9

static struct ukey_server *running;

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		ukey_server_stop(running);
}

static void help(void)
{
	printf("Usage: ukeyd [OPTIONS]\n"
	       "\n"
	       "The ukey agent: serves the local page and the WebSocket API (see PROTOCOL.md) on\n"
	       "127.0.0.1 and ::1 only, for the CA's portal and for local programs. When the port\n"
	       "is taken on either address it does not start (exit 9).\n"
	       "\n"
	       "  --port N          port (default %d; 0 picks a free one and prints it)\n"
	       "  --module PATH     PKCS#11 module (default %s; env UKEY_MODULE)\n"
	       "  --state-dir DIR   PIN tries and allowed origins (default $XDG_STATE_HOME/ukey)\n"
	       "  --ca-url URL      the CA's EST base for renew.start (env UKEY_CA_URL, ukey.conf ca-url)\n"
	       "  --ca-trust PEM    trust anchors for the CA's TLS certificate (env UKEY_CA_TRUST)\n"
	       "  --session-idle S  a signing session ends after S seconds without a sign (default 600;\n"
	       "                    session-idle in ukey.conf)\n"
	       "  --config FILE     settings file (default $XDG_CONFIG_HOME/ukey/ukey.conf)\n"
	       "  --runtime-dir DIR where the API token for local programs is written\n"
	       "                    (default $XDG_RUNTIME_DIR/ukey)\n"
	       "  --web-dir DIR     the page and the SDK (default: next to the binary, else installed)\n"
	       "  --foreground      stay in the foreground (always; for systemd and scripts)\n"
	       "  -h, --help, --version\n",
	       UKEY_DEFAULT_PORT, UKEY_DEFAULT_MODULE);
}

/* The web files next to the binary in a build tree (build/share/ukey/web), else the installed ones. */
static char *default_web_dir(void)
{
	char exe[PATH_MAX], *slash, *dir = NULL;
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (asprintf(&dir, "%s/../share/ukey/web", exe) >= 0 && stat(dir, &st) == 0 &&
			    S_ISDIR(st.st_mode))
				return dir;
			free(dir);
		}
	}
	return strdup(UKEY_DATADIR "/ukey/web");
}

/*
 * A fresh random API token each start, in a file only this user can read:
 * a local program proves it runs as this user by reading it. Browsers
 * cannot read files, and always send an Origin, so pages never get here.
 */
static int write_api_token(const char *runtime_dir, char token[static 65], char **ret_path)
{
	unsigned char raw[32];
	char *path = NULL, *tmp = NULL;
	int fd = -1, r;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	struct stat st;

	if (mkdir(runtime_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* An existing directory must be ours and private: another user must not read or swap the token. */
	if (lstat(runtime_dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return -EPERM;
	if ((st.st_mode & 0077) && chmod(runtime_dir, 0700) < 0)
		return -errno;
	if (asprintf(&path, "%s/api-token", runtime_dir) < 0 || asprintf(&tmp, "%s/.api-token.new", runtime_dir) < 0) {
		free(path);
		return -ENOMEM;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, token, 64) != 64 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		free(path);
		return r ? r : -EIO;
	}
	close(fd);
	free(tmp);
	*ret_path = path;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_PORT = 0x100,
		OPT_MODULE,
		OPT_STATE_DIR,
		OPT_CONFIG,
		OPT_RUNTIME_DIR,
		OPT_WEB_DIR,
		OPT_FG,
		OPT_VERSION,
		OPT_CA_URL,
		OPT_CA_TRUST,
		OPT_SESSION_IDLE
	};
	static const struct option options[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "module", required_argument, NULL, OPT_MODULE },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
		{ "web-dir", required_argument, NULL, OPT_WEB_DIR },
		{ "foreground", no_argument, NULL, OPT_FG },
		{ "ca-url", required_argument, NULL, OPT_CA_URL },
		{ "ca-trust", required_argument, NULL, OPT_CA_TRUST },
		{ "session-idle", required_argument, NULL, OPT_SESSION_IDLE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	const char *flag_config = NULL, *flag_runtime = NULL, *flag_web = NULL;
	struct ukey_config_flags flags = { 0 };
	struct ukey_config cfg = { 0 };
	struct ukey_server_config scfg = { .port = UKEY_DEFAULT_PORT, .max_tries = UKEY_PIN_MAX_TRIES_DEFAULT };
	struct ukey_server *srv = NULL;
	struct rlimit no_core = { 0, 0 };
	char token[65] = "", *runtime_dir = NULL, *token_path = NULL, *web_dir = NULL, *end;
	const char *env;
	int opt, r = 0, exit_code = -1;
	long port;
	unsigned long idle = 0;

	/* PINs pass through this process: no core dump may carry one to disk. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	ukey_log_setup("ukeyd");
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_PORT:
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *end || port < 0 || port > 65535) {
				fprintf(stderr, "ukeyd: --port wants a number from 0 to 65535, not \"%s\".\n", optarg);
				return UKEY_EXIT_USAGE;
			}
			scfg.port = (int)port;
			break;
		case OPT_MODULE:
			flags.module = optarg;
			break;
		case OPT_STATE_DIR:
			flags.state_dir = optarg;
			break;
		case OPT_CONFIG:
			flag_config = optarg;
			break;
		case OPT_RUNTIME_DIR:
			flag_runtime = optarg;
			break;
		case OPT_WEB_DIR:
			flag_web = optarg;
			break;
		case OPT_FG:
			break;
		case OPT_CA_URL:
			flags.ca_url = optarg;
			break;
		case OPT_CA_TRUST:
			flags.ca_trust = optarg;
			break;
		case OPT_SESSION_IDLE:
			errno = 0;
			idle = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || idle == 0 || idle > 86400) {
				fprintf(stderr, "ukeyd: --session-idle wants seconds from 1 to 86400, not \"%s\".\n",
					optarg);
				return UKEY_EXIT_USAGE;
			}
			break;
		case 'h':
			help();
			return UKEY_EXIT_OK;
		case OPT_VERSION:
			printf("ukeyd %s\n", UKEY_VERSION);
			return UKEY_EXIT_OK;
		default:
			fprintf(stderr, "ukeyd: unknown option: see 'ukeyd --help'.\n");
			return UKEY_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ukeyd: unexpected argument \"%s\": see 'ukeyd --help'.\n", argv[optind]);
		return UKEY_EXIT_USAGE;
	}
	if ((r = ukey_config_load(flag_config, &cfg)) < 0 || (r = ukey_config_override(&cfg, &flags)) < 0)
		goto out;
	if (flag_runtime)
		runtime_dir = strdup(flag_runtime);
	else if ((env = getenv("XDG_RUNTIME_DIR")) && env[0] == '/')
		r = asprintf(&runtime_dir, "%s/ukey", env) < 0 ? -ENOMEM : 0;
	if (!runtime_dir) {
		fprintf(stderr, "ukeyd: no runtime directory for the API token: set XDG_RUNTIME_DIR or pass "
				"--runtime-dir.\n");
		r = -UKEY_E_USAGE;
		goto out;
	}
	if ((r = write_api_token(runtime_dir, token, &token_path)) < 0) {
		if (r == -EPERM)
			fprintf(stderr,
				"ukeyd: \"%s\" is not a directory of yours (or is a link): choose another with "
				"--runtime-dir.\n",
				runtime_dir);
		else
			fprintf(stderr, "ukeyd: cannot write the API token in \"%s\": %s.\n", runtime_dir,
				ukey_strerror(r));
		goto out;
	}
	web_dir = flag_web ? strdup(flag_web) : default_web_dir();
	scfg.web_dir = web_dir;
	scfg.state_dir = cfg.state_dir;
	scfg.module = cfg.module;
	scfg.ca_url = cfg.ca_url;
	scfg.ca_trust = cfg.ca_trust;
	scfg.api_token = token;
	scfg.session_idle_s = idle ? (unsigned)idle : cfg.session_idle_s;
	if ((env = getenv("UKEY_POLL_MS")))
		scfg.poll_ms = (unsigned)strtoul(env, NULL, 10);
	r = ukey_server_new(&scfg, &srv);
	if (r == -UKEY_E_MODULE_LOAD) {
		fprintf(stderr, "ukeyd: cannot load the PKCS#11 module \"%s\": check --module or UKEY_MODULE.\n",
			cfg.module);
		goto out;
	} else if (r == -EADDRINUSE) {
		/* Half-bound, the other address could be another user's server passing for the agent's own page. */
		fprintf(stderr,
			"ukeyd: port %d is taken on 127.0.0.1 or [::1] (another ukeyd, another program, or another "
			"user), so ukeyd does not start; stop that program or choose another port with --port.\n",
			scfg.port);
		r = 0;
		exit_code = UKEYD_EXIT_ADDRESS_TAKEN;
		goto out;
	} else if (r < 0) {
		fprintf(stderr, "ukeyd: cannot listen on 127.0.0.1:%d: %s.\n", scfg.port, ukey_strerror(r));
		goto out;
	}
	running = srv;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ukeyd: listening on http://127.0.0.1:%d/ (API ws://127.0.0.1:%d/api), API token in %s\n",
	       ukey_server_port(srv), ukey_server_port(srv), token_path);
	fflush(stdout);
	ukey_server_run(srv);
	log_info("stopping");
out:
	running = NULL;
	ukey_server_free(srv);
	if (token_path)
		unlink(token_path);
	OPENSSL_cleanse(token, sizeof(token));
	free(token_path);
	free(runtime_dir);
	free(web_dir);
	ukey_config_clear(&cfg);
	return exit_code >= 0 ? exit_code : ukey_err_exit_code(r);
}
