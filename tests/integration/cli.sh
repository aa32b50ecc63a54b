#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The ukey command line: options anywhere, help and version, usage errors, `list --json`, and no PIN ever shown or stored.

. "$(dirname "$0")/lib.sh"

# Global options are accepted after the command too.
options_after_command() {
	local first
	make_token --label first
	first=$SERIAL
	make_token --label second
	run "$UKEY_BIN" pin status --json --token "$first" --module "$MODULE" --state-dir "$STATE"
	expect_rc 0
	assert_json .serial "\"$first\""
	assert_json .label '"first"'
	run "$UKEY_BIN" list --state-dir "$STATE" --json --module "$MODULE"
	expect_rc 0
	assert_json '.tokens | length' 2
	run -i "$PIN"$'\n' "$UKEY_BIN" pin verify --token second --module "$MODULE" --json --state-dir "$STATE"
	expect_rc 0
	assert_json .result '"verified"'
}

help_exits_0() {
	run "$UKEY_BIN" --help
	expect_rc 0
	assert_contains "$OUT" "Usage: ukey" "--help"
	assert_contains "$OUT" "Exit codes" "--help"
	run "$UKEY_BIN" -h
	expect_rc 0
	run "$UKEY_BIN" list --help
	expect_rc 0
	assert_contains "$OUT" "Usage: ukey" "list --help"
}

version_exits_0() {
	run "$UKEY_BIN" --version
	expect_rc 0
	[[ $OUT =~ ^ukey\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version: expected 'ukey X.Y.Z', actual '$OUT'"
}

# Usage errors exit 2, in text and in --json.
unknown_command_exits_2() {
	run ukey frobnicate
	expect_rc 2
	assert_contains "$ERR" "Unknown command" "message"
	run ukey frobnicate --json
	expect_rc 2
	assert_json .error.exit_code 2
	assert_json .error.id '"usage"'
	run ukey pin frobnicate
	expect_rc 2
	run ukey pin
	expect_rc 2
	run "$UKEY_BIN"
	expect_rc 2
}

unknown_option_exits_2() {
	run ukey --frobnicate list
	expect_rc 2
	run ukey list --frobnicate
	expect_rc 2
	run "$UKEY_BIN" list --module
	expect_rc 2
	run ukey list extra-argument
	expect_rc 2
}

# `ukey list --json`: label, serial, model, PIN tries left / max / locked, number of certificates.
list_json_fields() {
	make_token --label cli-key --extra-cert
	verify "$WRONG"
	expect_rc 3
	verify "$WRONG"
	expect_rc 3
	run ukey list --json
	expect_rc 0
	assert_json '.tokens | length' 1
	assert_json '.tokens[0].label' '"cli-key"'
	assert_json '.tokens[0].serial' "\"$SERIAL\""
	assert_json '.tokens[0].model' '"SoftHSM v2"'
	assert_json '.tokens[0].pin.tries_left' 8
	assert_json '.tokens[0].pin.max_tries' 10
	assert_json '.tokens[0].pin.locked' false
	assert_json '.tokens[0].certificates' 2
	run ukey list
	expect_rc 0
	assert_contains "$OUT" "cli-key" "ukey list text"
	assert_contains "$OUT" "8 of 10 tries left" "ukey list text"
}

# No PIN (right, wrong or new) appears in any output, even with all debug
# logging on, nor in any file of the state dir.
pin_never_shown_or_stored() {
	local right=5813217 wrong=9274031 new=6620194 secret f
	make_token --pin "$right"
	export UKEY_DEBUG=all
	: >"$T/all-output"
	verify "$wrong"
	expect_rc 3
	printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/all-output"
	verify "$wrong" --json
	expect_rc 3
	printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/all-output"
	verify "$right"
	expect_rc 0
	printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/all-output"
	change "$right" "$new" --json
	expect_rc 0
	printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/all-output"
	change "$new" "$right"
	expect_rc 0
	printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/all-output"
	run ukey list --json
	printf '%s\n%s\n' "$OUT" "$ERR" >>"$T/all-output"
	unset UKEY_DEBUG
	grep -q "debug:" "$T/all-output" || fail "UKEY_DEBUG=all produced no debug output: the check would prove nothing"
	for secret in "$right" "$wrong" "$new"; do
		if grep -a -n -F "$secret" "$T/all-output"; then
			fail "a PIN ($secret) appears in ukey's output"
		fi
		while IFS= read -r -d '' f; do
			if grep -a -q -F "$secret" "$f"; then
				fail "a PIN ($secret) is stored in $f"
			fi
		done < <(find "$STATE" -type f -print0)
	done
	[[ -e $STATE/state.db ]] || fail "no state.db: the check would prove nothing"
}

# Messages in Simplified Chinese for the portal's users: gettext catalogue, a private zh_CN locale
# compiled into the temp dir (localedef), so the system's locales are not touched.
messages_in_chinese() {
	local loc=$T/locale
	[[ -d /usr/share/i18n/locales ]] || die "the Debian package 'locales' is missing (localedef sources)"
	mkdir -p "$loc"
	localedef -i zh_CN -f UTF-8 "$loc/zh_CN.UTF-8" 2>/dev/null || die "localedef zh_CN.UTF-8 failed"
	make_token --label 单位密钥
	LOCPATH=$loc LC_ALL=zh_CN.UTF-8 run "$UKEY_BIN" --module /nonexistent/module.so list
	expect_rc 1
	assert_contains "$ERR" "无法加载 PKCS#11 模块" "module error in Chinese"
	LOCPATH=$loc LC_ALL=zh_CN.UTF-8 run -i "$WRONG"$'\n' ukey pin verify
	expect_rc 3
	assert_contains "$ERR" "密码错误" "wrong-PIN message in Chinese"
	assert_contains "$ERR" "9" "tries left in the Chinese message"
	# --json keeps stable English ids whatever the language.
	LOCPATH=$loc LC_ALL=zh_CN.UTF-8 run -i "$WRONG"$'\n' ukey pin verify --json
	assert_json .error.id '"pin-incorrect"'
	assert_json .error.tries_left 8
	# And the list columns line up by display width with a Chinese label (two columns per character).
	LOCPATH=$loc LC_ALL=zh_CN.UTF-8 run ukey list
	expect_rc 0
	local header row
	header=$(sed -n 1p "$T/out")
	row=$(sed -n 2p "$T/out")
	[[ $(LC_ALL=C.UTF-8 awk '{print index($0, "SoftHSM")}' <<<"$row") -gt 0 ]] || fail "no SoftHSM in row: $row"
	local w_head w_row
	w_head=$(printf '%s' "${header%%型号*}" | LOCPATH=$loc LC_ALL=zh_CN.UTF-8 wc -L)
	w_row=$(printf '%s' "${row%%SoftHSM*}" | LOCPATH=$loc LC_ALL=zh_CN.UTF-8 wc -L)
	assert_eq "$w_row" "$w_head" "display column of MODEL"
}

# `ukey keys` lists key objects with their type and id; private keys stay hidden without a PIN.
keys_lists_key_objects() {
	make_token --label rsa --extra-cert
	local rsa=$SERIAL
	make_token --label ec --key ec
	run ukey keys --json --token "$rsa"
	expect_rc 0
	assert_json '[.keys[] | .id] | sort | join(",")' '"01,02"'
	assert_json '[.keys[] | .key_type] | unique | join(",")' '"RSA-2048"'
	assert_json '[.keys[] | .class] | unique | join(",")' '"public"'
	run ukey keys --token ec
	expect_rc 0
	assert_contains "$OUT" "EC-P-256" "EC key type"
	assert_contains "$OUT" "Private keys stay hidden" "note on private keys"
	run ukey keys --token nosuchkey
	expect_rc 5
}

# Without --module ukey uses p11-kit's proxy, which loads every registered module (SoftHSM2's among
# them); the proxy hands each caller its own instance, which ukey must initialise itself.
default_module_is_p11_kit_proxy() {
	[[ -e /usr/share/p11-kit/modules/softhsm2.module ]] || die "softhsm2 is not registered with p11-kit"
	make_token --label via-proxy
	run "$UKEY_BIN" --state-dir "$STATE" list --json
	expect_rc 0
	assert_json '[.tokens[] | select(.serial == "'"$SERIAL"'") | .label] | join(",")' '"via-proxy"'
	run -i "$WRONG"$'\n' "$UKEY_BIN" --state-dir "$STATE" --token "$SERIAL" pin verify --json
	expect_rc 3
	assert_json .error.tries_left 9
	run -i "$PIN"$'\n' "$UKEY_BIN" --state-dir "$STATE" --token "$SERIAL" pin verify
	expect_rc 0
}

run_case "$@"
