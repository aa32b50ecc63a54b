# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared harness of the renewal tests (renew.sh, renew-faults.sh): the reference CA (tests/ca) in the case's temp
# dir, tokens whose certificate it issued, `ukey` pointed at it, and the check that the key holds one working pair.
#
# Sourced after lib.sh. Environment (set by CMake): UKEY_REFCA_BIN, besides lib.sh's.

. "$(dirname "${BASH_SOURCE[0]}")/lib-refca.sh"

# renew_ukey ARGS...: ukey with the CA configured.
renew_ukey() {
	ukey --ca-url "$CA_URL" --ca-trust "$CA/ca.pem" "$@"
}

# refca_token DAYS_LEFT [mktoken options]: a token whose certificate from the reference CA ends in DAYS_LEFT days
# (negative: expired that many days ago) and started a year before that.
refca_token() {
	local left=$1
	shift
	local nb=$(((left - 365) * DAY)) na=$((left * DAY))
	((nb < 0)) || nb=+$nb
	((na < 0)) || na=+$na
	make_token --refca "$CA" --not-before "$nb" --not-after "$na" "$@"
}

cert_json() {
	run ukey certs --json
	expect_rc 0
}

# token_objects LABEL: "cert ID", "public ID", "private ID" lines of the token's objects, sorted; the private keys
# are seen through a login with the PIN (pkcs11-tool, straight to SoftHSM2: ukey's try counter is not involved).
token_objects() {
	pkcs11-tool --module "$UKEY_SOFTHSM_MODULE" --token-label "$1" --login --pin "$PIN" --list-objects 2>/dev/null |
		awk '/^Certificate Object/ { c = "cert" } /^Public Key Object/ { c = "public" }
			/^Private Key Object/ { c = "private" } /^Data Object/ { c = "" }
			/^  ID: / && c != "" { print c, $2; c = "" }' | sort
}

# The key holds exactly one certificate, readable and for its one key pair: nothing orphaned (no second public or
# private key, no certificate without its key).
assert_one_working_pair() {
	local id label
	cert_json
	assert_json '.certificates | length' 1
	assert_json '.certificates[0].key_match' '"match"'
	id=$(jq -r '.certificates[0].id' <<<"$OUT")
	label=$(jq -r '.certificates[0].token_label' <<<"$OUT")
	run ukey keys --json
	expect_rc 0
	assert_json '[.keys[] | select(.class == "public")] | length' 1
	assert_eq "cert $id"$'\n'"private $id"$'\n'"public $id" "$(token_objects "$label")" "the objects on the key"
	cert_json # OUT holds the certificates again for the caller
}
