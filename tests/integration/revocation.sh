#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Revocation (R-V) in `ukey certs` and `ukey diagnose` against the reference CA (tests/ca): OCSP over HTTPS
# from the certificate's AIA, the CRL from its CDP (verified, cached until nextUpdate), and every way of not
# knowing (CA down, --offline, no issuer, stale or future answers) shown as "unknown", never "good".
#
# The reference CA puts both an OCSP URL and a CDP in what it issues. The CRL path uses a certificate made
# here from the same CA key, key pair, subject and serial but with the CDP only (crl_only_cert), so that the
# CA's own CRL and `admin revoke` apply to it.
#
# Environment (set by CMake): UKEY_BIN, UKEY_REFCA_BIN, UKEY_MKTOKEN, UKEY_SOFTHSM_MODULE, UKEY_COUNTING_MODULE.

. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-refca.sh"

# diagnose: pcscd is "not running" on every machine alike (a software token needs none).
export PCSCLITE_CSOCK_NAME=$T/no-pcscd.comm

# ca_requests PATH: how many requests for PATH the CA has logged.
ca_requests() {
	grep -c "\"$1\"" "$T/ca.log" || true
}

# refca_token [mktoken options]: a token with a certificate from the running reference CA (its AIA and CDP
# point at it); sets SERIAL (the token's) and CERT_SERIAL (the certificate's, hex).
refca_token() {
	make_token --refca "$CA" "$@"
	CERT_SERIAL=$(openssl x509 -in "$FIX/certs/$SERIAL.pem" -noout -serial | cut -d= -f2)
}

revoke() {
	"$UKEY_REFCA_BIN" admin "$CA" revoke "$CERT_SERIAL" >/dev/null || die "admin revoke $CERT_SERIAL failed"
}

# crl_only_cert: the token's certificate replaced by one from the same CA for the same key pair, subject and
# serial whose only revocation pointer is the CDP (no AIA): OCSP cannot be asked, the CRL must answer.
crl_only_cert() {
	local pem=$FIX/certs/$SERIAL.pem
	openssl x509 -in "$pem" -noout -pubkey >"$T/pub.pem"
	cat >"$T/ext.cnf" <<EOF
[v3]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, nonRepudiation
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:$CA_BASE/crl/ca.crl
EOF
	openssl x509 -new -force_pubkey "$T/pub.pem" -subj "/C=CN/O=Test Org/CN=Test Unit" -CA "$CA/ca.pem" \
		-CAkey "$CA/ca.key" -set_serial "0x$CERT_SERIAL" -extfile "$T/ext.cnf" -extensions v3 -days 100 \
		-outform DER -out "$T/crl-only.der" 2>"$T/openssl.err" || die "openssl x509: $(cat "$T/openssl.err")"
	local p11=(pkcs11-tool --module "$UKEY_SOFTHSM_MODULE" --token-label ukey-test --login --pin "$PIN")
	"${p11[@]}" --delete-object --type cert --id 01 >/dev/null 2>&1 || die "deleting the certificate failed"
	"${p11[@]}" --write-object "$T/crl-only.der" --type cert --id 01 --label ukey-test >/dev/null 2>&1 ||
		die "writing the CDP-only certificate failed"
}

# rev_json [ukey options]: `ukey certs --json` with the CA trust; OUT holds the first certificate's revocation.
rev_json() {
	run ukey --ca-trust "$CA/ca.pem" certs --json "$@"
	expect_rc 0
	OUT=$(jq -c '.certificates[0].revocation' <<<"$OUT")
}

rev_text() {
	run ukey --ca-trust "$CA/ca.pem" certs "$@"
	expect_rc 0
}

# assert_unknown WHY: not good, not revoked, and says why.
assert_unknown() {
	assert_json .status '"unknown"'
	assert_json .why "\"$1\""
	assert_json .source null
	assert_json .revoked_at null
}

# ---------------------------------------------------------------- OCSP

# A certificate the CA has not revoked: good, from a verified OCSP answer, with its update times.
good_via_ocsp() {
	ca_start
	refca_token
	rev_json
	assert_json .status '"good"'
	assert_json .source '"ocsp"'
	assert_json .why null
	assert_json .revoked_at null
	assert_json '.checked_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' true
	assert_json '.next_update != null' true
	rev_text
	assert_contains "$OUT" "Revocation: good (OCSP)" "text line"
	[[ $(ca_requests /ocsp) -ge 1 ]] || fail "no OCSP request reached the CA"
}

# R-V2: revoked at the CA → OCSP says so, with the time; the text says it can no longer be used (R-V1).
revoked_via_ocsp() {
	ca_start
	refca_token
	revoke
	rev_json
	assert_json .status '"revoked"'
	assert_json .source '"ocsp"'
	assert_json ".revoked_at | startswith(\"$(date -u +%Y-%m-%d)\")" true
	# The reference CA gives no reason code: null, not a guess.
	assert_json .reason null
	assert_json .why null
	rev_text
	assert_contains "$OUT" "Revocation: REVOKED on $(date -u +%Y-%m-%d)" "text line with the date"
	assert_contains "$OUT" "reason not given; OCSP" "reason and source"
	assert_contains "$OUT" "R-V1" "rule"
}

# The CA is down and nothing is cached: unknown (unreachable), never good.
ca_down_unknown_never_good() {
	ca_start
	refca_token
	ca_stop
	rev_json
	assert_unknown unreachable
	rev_text
	assert_contains "$OUT" "Revocation: unknown (the OCSP responder and the CRL cannot be reached)" "text"
	assert_not_contains "$OUT" "Revocation: good" "never good"
}

# --offline with no cache: unknown (offline), and no request at all reaches the CA.
offline_without_cache_unknown() {
	ca_start
	refca_token
	rev_json --offline
	assert_unknown offline
	assert_eq 0 "$(ca_requests /ocsp)" "OCSP requests while offline"
	assert_eq 0 "$(ca_requests /crl/ca.crl)" "CRL requests while offline"
	rev_text --offline
	assert_contains "$OUT" "Revocation: unknown (offline, and no current CRL in the cache)" "text"
}

# Without the CA's certificate in the trust the answers cannot be verified: unknown (no-issuer).
no_trust_unknown_no_issuer() {
	ca_start
	refca_token
	run ukey certs --json
	expect_rc 0
	OUT=$(jq -c '.certificates[0].revocation' <<<"$OUT")
	assert_unknown no-issuer
	# Another CA's certificate as the trust: the same.
	run ukey --ca-trust "$FIX/ca/ca.pem" certs --json
	expect_rc 0
	OUT=$(jq -c '.certificates[0].revocation' <<<"$OUT")
	assert_unknown no-issuer
	# A certificate without AIA and CDP (mktoken's demo CA): nothing to ask.
	make_token --label plain
	run ukey --ca-trust "$FIX/ca/ca.pem" --token plain certs --json
	expect_rc 0
	OUT=$(jq -c '.certificates[0].revocation' <<<"$OUT")
	assert_unknown no-url
}

# The CA's clock 30 days behind: its OCSP answer and CRL are past their nextUpdate → stale, not good.
stale_answers_unknown() {
	ca_start
	refca_token
	"$UKEY_REFCA_BIN" admin "$CA" today "$(date -u -d '-30 days' +%Y-%m-%d)" >/dev/null
	rev_json
	assert_unknown stale
	assert_eq "" "$(ls "$STATE/crl" 2>/dev/null)" "a stale CRL is not cached"
}

# The CA's clock 30 days ahead: answers from the future are not verifiable (a wrong clock or a forgery).
future_answers_not_verifiable() {
	ca_start
	refca_token
	"$UKEY_REFCA_BIN" admin "$CA" today "$(date -u -d '+30 days' +%Y-%m-%d)" >/dev/null
	rev_json
	assert_unknown not-verifiable
}

# ---------------------------------------------------------------- CRL

# No OCSP URL: the CRL from the CDP, verified and cached under its URL's SHA-256; then, the CA down, the cached
# CRL is used until its nextUpdate, online and --offline.
crl_cached_and_used_when_ca_down() {
	ca_start
	refca_token
	crl_only_cert
	rev_json
	assert_json .status '"good"'
	assert_json .source '"crl"'
	assert_json .cached false
	local next cache
	next=$(jq -r .next_update <<<"$OUT")
	cache=$STATE/crl/$(printf '%s' "$CA_BASE/crl/ca.crl" | sha256sum | cut -d' ' -f1).der
	[[ -s $cache ]] || fail "CRL not cached at $cache: $(ls -la "$STATE/crl" 2>&1)"
	openssl crl -inform DER -in "$cache" -noout -CAfile "$CA/ca.pem" 2>&1 | grep -q "verify OK" ||
		fail "the cached file is not the CA's CRL"
	assert_eq 0 "$(ca_requests /ocsp)" "OCSP requests for a certificate without AIA"
	ca_stop
	rev_json
	assert_json .status '"good"'
	assert_json .source '"crl"'
	assert_json .cached true
	assert_json .next_update "\"$next\""
	rev_json --offline
	assert_json .status '"good"'
	assert_json .cached true
	rev_text --offline
	assert_contains "$OUT" "Revocation: good (cached CRL, next update ${next:0:10})" "text"
}

# R-V2 on the CRL: the serial listed → revoked, with the time from the CRL entry.
crl_lists_revoked() {
	ca_start
	refca_token
	revoke
	crl_only_cert
	rev_json
	assert_json .status '"revoked"'
	assert_json .source '"crl"'
	assert_json ".revoked_at | startswith(\"$(date -u +%Y-%m-%d)\")" true
	assert_json .why null
}

# A tampered cache file is not believed: the CRL is fetched again (online), or the answer is unknown (offline).
crl_cache_tampered_not_believed() {
	ca_start
	refca_token
	crl_only_cert
	rev_json
	assert_json .source '"crl"'
	local cache
	cache=$(ls "$STATE"/crl/*.der)
	# Flip one byte inside the signature at the end.
	printf '\xff' | dd of="$cache" bs=1 seek=$(($(stat -c %s "$cache") - 5)) conv=notrunc status=none
	rev_json --offline
	assert_unknown offline
	rev_json
	assert_json .status '"good"'
	assert_json .cached false
	rev_json --offline
	assert_json .cached true
}

# ---------------------------------------------------------------- diagnose

diagnose_json() {
	run ukey --ca-trust "$CA/ca.pem" diagnose --json --led steady "$@"
	expect_rc 0
}

check_status() {
	assert_json "[.checks[] | select(.id == \"$1\") | .status][0]" "\"$2\""
}

# R-V1: a revoked certificate is not damage: verdict REVOKED, next a new issue (R-S1); before: revocation passes.
diagnose_revoked_is_revoked() {
	ca_start
	refca_token
	diagnose_json
	assert_json .verdict.code '"HEALTHY"'
	check_status revocation pass
	revoke
	diagnose_json
	assert_json .verdict.code '"REVOKED"'
	assert_json .verdict.media_fault false
	assert_json .service.rule '"R-S1"'
	check_status revocation fail
	assert_json '[.checks[] | select(.id == "revocation") | .evidence | test("revoked at")][0]' true
	run ukey --ca-trust "$CA/ca.pem" diagnose --led steady
	expect_rc 0
	assert_contains "$OUT" "Verdict: REVOKED" "text verdict"
}

# Revoked and expired: REVOKED wins over EXPIRED (renewal cannot revive a revoked certificate).
diagnose_revoked_and_expired_is_revoked() {
	ca_start
	refca_token --not-before "-$((400 * DAY))" --not-after "-$((10 * DAY))"
	revoke
	diagnose_json
	assert_json .verdict.code '"REVOKED"'
	check_status cert-validity fail
	check_status revocation fail
}

# Unknown never decides: the CA down, the revocation check is skipped (not passed) and the key is HEALTHY.
diagnose_ca_down_skipped_not_passed() {
	ca_start
	refca_token
	ca_stop
	diagnose_json
	assert_json .verdict.code '"HEALTHY"'
	check_status revocation skipped
	assert_json '[.checks[] | select(.id == "revocation") | .evidence | test("unreachable")][0]' true
}

run_case "$@"
