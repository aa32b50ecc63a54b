/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of ukey.conf parsing and of the order flags < environment < file < defaults is read in. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "base/err.h"
#include "config.h"

static int parse(const char *text, struct ukey_config *cfg, unsigned *line, const char **reason)
{
	*line = 999;
	*reason = NULL;
	return ukey_config_parse(text, strlen(text), cfg, line, reason);
}

static void parse_known_keys(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse("module = /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so\n"
			       "state-dir = /var/tmp/ukey state\n"
			       "token = 单位证书\n",
			       &cfg, &line, &reason),
			 0);
	assert_string_equal(cfg.module, "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so");
	/* Inner blanks belong to the value. */
	assert_string_equal(cfg.state_dir, "/var/tmp/ukey state");
	assert_string_equal(cfg.token, "单位证书");
	assert_null(cfg.source);
	ukey_config_clear(&cfg);
}

static void parse_comments_and_blank_lines(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse("# ukey settings\n"
			       "\n"
			       "   \t\n"
			       "  # module = /commented/out.so\n"
			       "module=/a.so\n"
			       "\n",
			       &cfg, &line, &reason),
			 0);
	assert_string_equal(cfg.module, "/a.so");
	assert_null(cfg.state_dir);
	assert_null(cfg.token);
	ukey_config_clear(&cfg);
}

static void parse_trims_whitespace(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse(" \t module \t=\t /b.so \t \n\ttoken= T1", &cfg, &line, &reason), 0);
	assert_string_equal(cfg.module, "/b.so");
	/* The last line needs no newline. */
	assert_string_equal(cfg.token, "T1");
	ukey_config_clear(&cfg);
}

/* A file saved on Windows: the CR of CRLF is not part of the value. */
static void parse_crlf_lines(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse("# from Windows\r\nmodule = /c.so\r\n\r\ntoken = T2\r\n", &cfg, &line, &reason), 0);
	assert_string_equal(cfg.module, "/c.so");
	assert_string_equal(cfg.token, "T2");
	ukey_config_clear(&cfg);
}

/* Forward compatibility: a key from a newer ukey is skipped; a later line replaces an earlier one. */
static void parse_unknown_key_ignored(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse("colour = always\nmodule = /d.so\nmodule = /e.so\n", &cfg, &line, &reason), 0);
	assert_string_equal(cfg.module, "/e.so");
	ukey_config_clear(&cfg);
}

static void parse_line_without_equals(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse("# one\nmodule = /f.so\n\nstate-dir /g\n", &cfg, &line, &reason), -UKEY_E_USAGE);
	assert_int_equal(line, 4);
	assert_non_null(reason);
	ukey_config_clear(&cfg);
	assert_int_equal(parse("\r\nnonsense\r\n", &cfg, &line, &reason), -UKEY_E_USAGE);
	assert_int_equal(line, 2);
	ukey_config_clear(&cfg);
}

static void parse_empty_value_or_key(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line;
	const char *reason;

	(void)state;
	assert_int_equal(parse("module = /h.so\ntoken =  \n", &cfg, &line, &reason), -UKEY_E_USAGE);
	assert_int_equal(line, 2);
	assert_string_equal(reason, "empty value");
	ukey_config_clear(&cfg);
	assert_int_equal(parse(" = value\n", &cfg, &line, &reason), -UKEY_E_USAGE);
	assert_int_equal(line, 1);
	assert_string_equal(reason, "empty key");
	ukey_config_clear(&cfg);
}

/* A NUL byte would cut a value short silently: the whole text is refused. */
static void parse_nul_byte_refused(void **state)
{
	static const char text[] = "module = /i.so\0/evil.so\n";
	struct ukey_config cfg = { 0 };
	unsigned line = 999;
	const char *reason = NULL;

	(void)state;
	assert_int_equal(ukey_config_parse(text, sizeof(text) - 1, &cfg, &line, &reason), -UKEY_E_USAGE);
	assert_non_null(reason);
	assert_null(cfg.module);
	ukey_config_clear(&cfg);
}

/* UKEY_CONFIG_MAX_SIZE bytes are read; one more is refused before parsing. */
static void parse_size_cap(void **state)
{
	struct ukey_config cfg = { 0 };
	unsigned line = 999;
	const char *reason = NULL;
	char *text = malloc(UKEY_CONFIG_MAX_SIZE + 1);
	static const char head[] = "module = /j.so\n";

	(void)state;
	assert_non_null(text);
	memset(text, '\n', UKEY_CONFIG_MAX_SIZE + 1);
	memcpy(text, head, sizeof(head) - 1);
	assert_int_equal(ukey_config_parse(text, UKEY_CONFIG_MAX_SIZE, &cfg, &line, &reason), 0);
	assert_string_equal(cfg.module, "/j.so");
	ukey_config_clear(&cfg);
	assert_int_equal(ukey_config_parse(text, UKEY_CONFIG_MAX_SIZE + 1, &cfg, &line, &reason), -UKEY_E_USAGE);
	assert_non_null(reason);
	assert_null(cfg.module);
	ukey_config_clear(&cfg);
	free(text);
}

/* The environment of ukey_config_load(), restored after each case. */
static const char *const env_vars[] = {
	"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "UKEY_MODULE", "UKEY_STATE_DIR", "UKEY_TOKEN",
};

struct env_fixture {
	char *dir;
	char *saved[sizeof(env_vars) / sizeof(env_vars[0])];
};

static int env_setup(void **state)
{
	struct env_fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || !(fx->dir = unit_mkdtemp())) {
		free(fx);
		return -1;
	}
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const char *v = getenv(env_vars[i]);

		fx->saved[i] = v ? strdup(v) : NULL;
		unsetenv(env_vars[i]);
	}
	/* HOME is the temporary directory, so nothing of the real user's is read. */
	setenv("HOME", fx->dir, 1);
	*state = fx;
	return 0;
}

static int env_teardown(void **state)
{
	struct env_fixture *fx = *state;

	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		if (fx->saved[i])
			setenv(env_vars[i], fx->saved[i], 1);
		else
			unsetenv(env_vars[i]);
		free(fx->saved[i]);
	}
	unit_rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

/* Write XDG_CONFIG_HOME/ukey/ukey.conf under the fixture's directory and point XDG_CONFIG_HOME there. */
static char *write_conf(struct env_fixture *fx, const char *text)
{
	char *xdg = unit_path(fx->dir, "config"), *sub = unit_path(xdg, "ukey"), *conf = unit_path(sub, "ukey.conf");

	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(unit_write_file(conf, text, strlen(text)), 0);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	free(xdg);
	free(sub);
	return conf;
}

static void load_file_from_xdg_config_home(void **state)
{
	struct env_fixture *fx = *state;
	char *conf = write_conf(fx, "module = /file.so\nstate-dir = /file-state\ntoken = FILE\n");
	struct ukey_config cfg = { 0 };

	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_string_equal(cfg.module, "/file.so");
	assert_string_equal(cfg.state_dir, "/file-state");
	assert_string_equal(cfg.token, "FILE");
	assert_non_null(cfg.source);
	assert_string_equal(cfg.source, conf);
	ukey_config_clear(&cfg);
	free(conf);
}

static void load_env_overrides_file(void **state)
{
	struct env_fixture *fx = *state;
	char *conf = write_conf(fx, "module = /file.so\nstate-dir = /file-state\ntoken = FILE\n");
	struct ukey_config cfg = { 0 };

	setenv("UKEY_MODULE", "/env.so", 1);
	setenv("UKEY_STATE_DIR", "/env-state", 1);
	setenv("UKEY_TOKEN", "ENV", 1);
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_string_equal(cfg.module, "/env.so");
	assert_string_equal(cfg.state_dir, "/env-state");
	assert_string_equal(cfg.token, "ENV");
	ukey_config_clear(&cfg);
	/* An empty variable is unset, not an empty setting. */
	setenv("UKEY_MODULE", "", 1);
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_string_equal(cfg.module, "/file.so");
	ukey_config_clear(&cfg);
	free(conf);
}

/* No file, no variables: p11-kit's proxy module and the XDG state directory. */
static void load_defaults(void **state)
{
	struct env_fixture *fx = *state;
	struct ukey_config cfg = { 0 };
	char *xdg_state = unit_path(fx->dir, "xdg-state"), *expected = unit_path(xdg_state, "ukey");

	setenv("XDG_STATE_HOME", xdg_state, 1);
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_string_equal(cfg.module, UKEY_DEFAULT_MODULE);
	assert_string_equal(cfg.module, "p11-kit-proxy.so");
	assert_string_equal(cfg.state_dir, expected);
	assert_null(cfg.token);
	assert_null(cfg.source);
	ukey_config_clear(&cfg);
	free(xdg_state);
	free(expected);
}

/* The XDG spec: a relative XDG_STATE_HOME is invalid and ignored; $HOME/.local/state is used. */
static void load_relative_xdg_state_home_ignored(void **state)
{
	struct env_fixture *fx = *state;
	struct ukey_config cfg = { 0 };
	char *expected = unit_path(fx->dir, ".local/state/ukey");

	setenv("XDG_STATE_HOME", "relative/state", 1);
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_string_equal(cfg.state_dir, expected);
	ukey_config_clear(&cfg);
	unsetenv("XDG_STATE_HOME");
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_string_equal(cfg.state_dir, expected);
	ukey_config_clear(&cfg);
	free(expected);
}

/* The same for XDG_CONFIG_HOME: a relative one is ignored and $HOME/.config/ukey/ukey.conf is read. */
static void load_relative_xdg_config_home_ignored(void **state)
{
	struct env_fixture *fx = *state;
	char *config = unit_path(fx->dir, ".config"), *sub = unit_path(config, "ukey"),
	     *conf = unit_path(sub, "ukey.conf");
	struct ukey_config cfg = { 0 };

	assert_int_equal(mkdir(config, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(unit_write_file(conf, "token = HOME-CONF\n", 18), 0);
	setenv("XDG_CONFIG_HOME", "relative/config", 1);
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_non_null(cfg.token);
	assert_string_equal(cfg.token, "HOME-CONF");
	ukey_config_clear(&cfg);
	free(config);
	free(sub);
	free(conf);
}

/* Without a usable HOME there is no default state directory: left unset, so PIN commands refuse clearly. */
static void load_without_home_leaves_state_dir_unset(void **state)
{
	struct ukey_config cfg = { 0 };

	(void)state;
	unsetenv("HOME");
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_null(cfg.state_dir);
	assert_string_equal(cfg.module, UKEY_DEFAULT_MODULE);
	ukey_config_clear(&cfg);
	setenv("HOME", "relative-home", 1);
	assert_int_equal(ukey_config_load(NULL, &cfg), 0);
	assert_null(cfg.state_dir);
	ukey_config_clear(&cfg);
}

/* A malformed default file is an error (with file:line on stderr), not silently skipped. */
static void load_malformed_file_fails(void **state)
{
	struct env_fixture *fx = *state;
	char *conf = write_conf(fx, "module = /k.so\nthis line is wrong\n");
	struct ukey_config cfg = { 0 };

	assert_int_equal(ukey_config_load(NULL, &cfg), -UKEY_E_USAGE);
	ukey_config_clear(&cfg);
	free(conf);
}

/* A file named explicitly must exist; the default one may be missing. */
static void load_missing_explicit_file_fails(void **state)
{
	struct env_fixture *fx = *state;
	char *missing = unit_path(fx->dir, "no-such.conf");
	struct ukey_config cfg = { 0 };

	assert_int_equal(ukey_config_load(missing, &cfg), -UKEY_E_USAGE);
	ukey_config_clear(&cfg);
	free(missing);
}

/* A file above the cap is refused when loaded too, not truncated to its first UKEY_CONFIG_MAX_SIZE bytes. */
static void load_oversized_file_fails(void **state)
{
	struct env_fixture *fx = *state;
	size_t len = UKEY_CONFIG_MAX_SIZE + 10;
	char *text = malloc(len + 1), *conf;
	struct ukey_config cfg = { 0 };

	assert_non_null(text);
	memset(text, '\n', len);
	text[len] = '\0';
	memcpy(text, "module = /l.so", 14);
	conf = write_conf(fx, text);
	assert_int_equal(ukey_config_load(conf, &cfg), -UKEY_E_USAGE);
	ukey_config_clear(&cfg);
	free(conf);
	free(text);
}

#define ENV_CASE(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_known_keys),
		cmocka_unit_test(parse_comments_and_blank_lines),
		cmocka_unit_test(parse_trims_whitespace),
		cmocka_unit_test(parse_crlf_lines),
		cmocka_unit_test(parse_unknown_key_ignored),
		cmocka_unit_test(parse_line_without_equals),
		cmocka_unit_test(parse_empty_value_or_key),
		cmocka_unit_test(parse_nul_byte_refused),
		cmocka_unit_test(parse_size_cap),
		ENV_CASE(load_file_from_xdg_config_home),
		ENV_CASE(load_env_overrides_file),
		ENV_CASE(load_defaults),
		ENV_CASE(load_relative_xdg_state_home_ignored),
		ENV_CASE(load_relative_xdg_config_home_ignored),
		ENV_CASE(load_without_home_leaves_state_dir_unset),
		ENV_CASE(load_malformed_file_fails),
		ENV_CASE(load_missing_explicit_file_fails),
		ENV_CASE(load_oversized_file_fails),
	};

	return UNIT_MAIN("config", tests);
}
