#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey pin change` under the lockout: a wrong old PIN is a wrong try (R-P1), a locked key changes nothing (R-P2).
#
# The counting wrapper counts C_Login only; a PIN change is one C_SetPIN and
# no C_Login, so what a change did to the token is checked by logging in
# with the old and new PIN directly (pkcs11-tool on SoftHSM2, which never
# locks), not through the count.

. "$(dirname "$0")/lib.sh"

NEW=654321

# token_accepts PIN: SoftHSM2 itself (not ukey) accepts PIN as the user PIN.
token_accepts() {
	pkcs11-tool --module "$UKEY_SOFTHSM_MODULE" --token-label ukey-test --login --pin "$1" --list-objects \
		>/dev/null 2>&1
}

# R-P1: a wrong old PIN is a wrong try: tries left drop by one, the PIN stays.
wrong_old_pin_counts() {
	make_token
	change "$WRONG" "$NEW"
	expect_rc 3
	assert_contains "$ERR" "9 tries left" "message after a wrong old PIN"
	expect_tries 9
	change "$WRONG" "$NEW" --json
	expect_rc 3
	assert_json .error.tries_left 8
	expect_tries 8
	token_accepts "$PIN" || fail "the PIN changed after wrong old PINs"
	token_accepts "$NEW" && fail "the new PIN was set although the old PIN was wrong"
	true
}

# The right old PIN changes the PIN: the new one verifies, the old one is wrong.
right_old_pin_changes() {
	make_token
	change "$PIN" "$NEW"
	expect_rc 0
	assert_contains "$OUT" "PIN changed" "pin change output"
	verify "$NEW"
	expect_rc 0
	verify "$PIN"
	expect_rc 3
	expect_tries 9
	change "$NEW" "$PIN" --json
	expect_rc 0
	assert_json .result '"changed"'
	assert_json .tries_left 10
	verify "$PIN"
	expect_rc 0
}

# A new PIN shorter than the token allows (SoftHSM2: 4) is refused before the
# token sees it: exit 2, the PIN is unchanged and no try is used (nor refunded).
new_pin_too_short_rejected() {
	make_token
	use_counting
	verify "$WRONG"
	expect_rc 3
	expect_tries 9
	change "$PIN" 123
	expect_rc 2
	expect_tries 9
	assert_logins 1 "after the refused change"
	token_accepts "$PIN" || fail "the PIN changed although the new PIN was refused"
	token_accepts 123 && fail "the too-short PIN was set"
	verify "$PIN"
	expect_rc 0
}

# R-P1: a successful change is a right PIN: the count of wrong tries resets.
change_success_resets_count() {
	local _
	make_token
	for _ in 1 2 3; do
		verify "$WRONG"
		expect_rc 3
	done
	expect_tries 7
	change "$PIN" "$NEW"
	expect_rc 0
	expect_tries 10
}

# R-P2: a locked key refuses a change (exit 4) without asking the token:
# no C_Login reaches the module, and the PIN on the token is unchanged
# (so no C_SetPIN reached it either).
change_when_locked_refused() {
	make_token
	use_counting
	lock_token
	assert_logins 10 "ten wrong PINs"
	change "$PIN" "$NEW"
	expect_rc 4
	change "$PIN" "$NEW" --json
	expect_rc 4
	assert_json .error.rule '"R-P2"'
	assert_logins 10 "pin change on a locked key"
	token_accepts "$PIN" || fail "the PIN changed on a locked key"
	token_accepts "$NEW" && fail "the new PIN was set on a locked key"
	expect_tries 0
}

run_case "$@"
