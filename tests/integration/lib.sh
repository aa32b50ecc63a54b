# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared harness for the integration tests: a private temp dir, SoftHSM2 tokens from mktoken, ukey runs, assertions.
#
# A test script sources this file, defines one bash function per case and
# ends with `run_case "$@"`; ctest runs `bash SCRIPT FUNCTION` (see
# CMakeLists.txt). Every case starts from nothing: its own temp dir holds the
# SoftHSM2 configuration and tokens, the state dir, HOME and XDG dirs, and is
# removed on exit. Nothing here reads or writes the user's real state.
#
# Environment (set by CMake): UKEY_BIN, UKEY_COUNTING_MODULE, UKEY_MKTOKEN,
# UKEY_SOFTHSM_MODULE.

set -euo pipefail

die() {
	printf 'SETUP ERROR: %s\n' "$*" >&2
	exit 1
}

for var in UKEY_BIN UKEY_COUNTING_MODULE UKEY_MKTOKEN UKEY_SOFTHSM_MODULE; do
	[[ -n ${!var:-} ]] || die "$var is not set (run the tests through ctest)"
done
[[ -x $UKEY_BIN ]] || die "ukey binary not found: $UKEY_BIN"
[[ -r $UKEY_COUNTING_MODULE ]] || die "counting PKCS#11 wrapper not found: $UKEY_COUNTING_MODULE"
[[ -r $UKEY_SOFTHSM_MODULE ]] ||
	die "SoftHSM2 module not found: '$UKEY_SOFTHSM_MODULE' (install softhsm2, then re-run cmake)"
for tool in jq softhsm2-util pkcs11-tool openssl; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install jq softhsm2 opensc openssl)"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/ukey-integ.XXXXXX")
export TMPDIR=$T/tmp
BG_PIDS=()

cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

# Nothing from the caller's environment may steer ukey to real tokens or real state.
unset UKEY_MODULE UKEY_TOKEN UKEY_STATE_DIR UKEY_DEBUG UKEY_COUNT_DELAY_MS
export HOME=$T/home XDG_CONFIG_HOME=$T/config XDG_STATE_HOME=$T/xdg-state XDG_CACHE_HOME=$T/cache
export LC_ALL=C.UTF-8 LANGUAGE=
mkdir -p "$TMPDIR" "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"

FIX=$T/fixture      # mktoken's DIR: softhsm2.conf, tokens/, ca/, certs/
STATE=$T/state      # ukey's --state-dir
COUNT=$T/count      # the counting wrapper's log: one `login` line per C_Login
MODULE=$UKEY_SOFTHSM_MODULE
export SOFTHSM2_CONF=$FIX/softhsm2.conf
mkdir -p "$FIX/tokens"
# The same configuration mktoken writes, written first so that a case without
# any token still has a valid, empty SoftHSM2.
cat >"$SOFTHSM2_CONF" <<EOF
directories.tokendir = $FIX/tokens
objectstore.backend = file
log.level = ERROR
EOF

# shellcheck disable=SC2034 # used by the scripts that source this file
PIN=123456     # mktoken's default user PIN
# shellcheck disable=SC2034
WRONG=000000

# ---------------------------------------------------------------- tokens

# make_token [mktoken options]: a new token in the fixture; sets SERIAL and prints nothing.
make_token() {
	SERIAL=$(UKEY_SOFTHSM_MODULE=$UKEY_SOFTHSM_MODULE "$UKEY_MKTOKEN" "$@" "$FIX") ||
		die "mktoken $* failed"
	[[ $SERIAL =~ ^[0-9a-f]{16}$ ]] || die "mktoken printed '$SERIAL', not a serial"
}

# token_dir SERIAL: SoftHSM2's directory of that token (its UUID name ends in the serial).
token_dir() {
	local s=$1 d
	d=("$FIX"/tokens/*-"${s:0:4}-${s:4:12}")
	if ((${#d[@]} != 1)) || [[ ! -d ${d[0]} ]]; then
		die "no single token directory for serial $s: ${d[*]}"
	fi
	printf '%s\n' "${d[0]}"
}

# use_counting: from now on ukey talks to SoftHSM2 through the counting wrapper.
use_counting() {
	MODULE=$UKEY_COUNTING_MODULE
	export UKEY_COUNT_REAL=$UKEY_SOFTHSM_MODULE UKEY_COUNT_FILE=$COUNT
}

# logins: how many C_Login calls reached the module so far.
logins() {
	if [[ -e $COUNT ]]; then
		wc -l <"$COUNT" | tr -d ' '
	else
		echo 0
	fi
}

# ---------------------------------------------------------------- running

# run [-i INPUT] CMD...: runs CMD with INPUT (or nothing) on stdin; sets RC, OUT, ERR.
run() {
	local input='' has_input=0
	if [[ $1 == -i ]]; then
		input=$2
		has_input=1
		shift 2
	fi
	LAST_CMD=$*
	set +e
	if ((has_input)); then
		printf '%s' "$input" | "$@" >"$T/out" 2>"$T/err"
		RC=${PIPESTATUS[1]}
	else
		"$@" </dev/null >"$T/out" 2>"$T/err"
		RC=$?
	fi
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	printf '+ %s  => exit %s\n' "$LAST_CMD" "$RC"
}

# ukey ARGS...: the binary with this case's module and state dir.
ukey() {
	"$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" "$@"
}

# verify PIN [ARGS...]: `ukey pin verify` with PIN as one line on stdin.
verify() {
	local pin=$1
	shift
	run -i "$pin"$'\n' ukey pin verify "$@"
}

# change OLD NEW [ARGS...]: `ukey pin change` with the two lines a pipe gives.
change() {
	local old=$1 new=$2
	shift 2
	run -i "$old"$'\n'"$new"$'\n' ukey pin change "$@"
}

# status_json [ARGS...]: `ukey pin status --json`, must succeed; the JSON is in OUT.
status_json() {
	run ukey pin status --json "$@"
	expect_rc 0
}

# ---------------------------------------------------------------- assertions

fail() {
	{
		printf 'FAIL: %s\n' "$*"
		if [[ -n ${LAST_CMD:-} ]]; then
			printf '  last command: %s\n  exit code: %s\n' "$LAST_CMD" "${RC:-}"
			printf '  stdout:\n%s\n' "$(sed 's/^/    | /' <<<"${OUT:-}")"
			printf '  stderr:\n%s\n' "$(sed 's/^/    | /' <<<"${ERR:-}")"
		fi
	} >&2
	exit 1
}

# expect_rc CODE: the last run exited with CODE.
expect_rc() {
	[[ $RC == "$1" ]] || fail "exit code: expected $1, actual $RC"
}

# assert_exit CODE [-i INPUT] CMD...: run, then expect_rc.
assert_exit() {
	local code=$1
	shift
	run "$@"
	expect_rc "$code"
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[[ $1 == "$2" ]] || fail "$3: expected '$1', actual '$2'"
}

# assert_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_contains() {
	[[ $1 == *"$2"* ]] || fail "$3: expected to contain '$2', actual '$1'"
}

# assert_not_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_not_contains() {
	[[ $1 != *"$2"* ]] || fail "$3: must not contain '$2', actual '$1'"
}

# assert_json FILTER EXPECTED: jq -c FILTER on the last stdout equals EXPECTED
# (strings come out quoted: assert_json .status '"valid"').
assert_json() {
	local actual
	actual=$(jq -c "$1" <<<"$OUT" 2>&1) || fail "stdout is not the JSON expected ($1: $actual)"
	[[ $actual == "$2" ]] || fail "JSON $1: expected $2, actual $actual"
}

# assert_logins N WHAT: exactly N C_Login calls reached the module.
assert_logins() {
	local n
	n=$(logins)
	[[ $n == "$1" ]] || fail "C_Login calls reaching the module ($2): expected $1, actual $n"
}

# expect_tries N: `ukey pin status --json` says N tries left and not locked (0: locked).
expect_tries() {
	status_json "${@:2}"
	assert_json .tries_left "$1"
	if (($1 == 0)); then
		assert_json .locked true
	else
		assert_json .locked false
	fi
}

# lock_token: nine plus one wrong PINs (R-P1), each checked; leaves the key locked.
lock_token() {
	local _
	for _ in 1 2 3 4 5 6 7 8 9; do
		verify "$WRONG" "$@"
		expect_rc 3
	done
	verify "$WRONG" "$@"
	expect_rc 3
	expect_tries 0 "$@"
}

# ---------------------------------------------------------------- driver

# run_case FUNCTION: runs one case in this process; the exit status is the verdict.
run_case() {
	[[ $# -eq 1 ]] || die "usage: bash $(basename "$0") CASE_FUNCTION"
	declare -F "$1" >/dev/null || die "no case '$1' in $(basename "$0")"
	"$1"
	printf 'PASS: %s\n' "$1"
}
