#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ukey-refca's tests (ctest label "ca"): one bash function per case, each with its own CA directory and port.
#
# ctest runs `bash test-refca.sh FUNCTION` with REFCA_BIN set. Every case
# makes a fresh CA in a temp dir, starts `serve --port 0` when it needs a
# server, and stops it on exit (SIGTERM, then SIGKILL if it hangs). Dates
# are pinned with `admin today`, so no case depends on the real date.

set -euo pipefail

die() {
	printf 'SETUP ERROR: %s\n' "$*" >&2
	exit 1
}
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	if [[ -s ${T:-/nonexistent}/serve.err ]]; then
		echo '--- server log:' >&2
		tail -n 20 "$T/serve.err" >&2
	fi
	exit 1
}

[[ -n ${REFCA_BIN:-} && -x $REFCA_BIN ]] || die "REFCA_BIN is not set or not executable (run through ctest)"
for tool in openssl curl ss; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install openssl curl iproute2)"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/ukey-refca.XXXXXX")
D=$T/ca
SERVER_PID=
export LC_ALL=C.UTF-8

cleanup() {
	local rc=$?
	if [[ -n $SERVER_PID ]]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	# Under ASan/UBSan (UKEY_SANITIZE=ON) the server reports at exit: any report fails the case.
	if [[ -f $T/serve.err ]] && grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/serve.err"; then
		echo "FAIL: sanitizer report from the server:" >&2
		cat "$T/serve.err" >&2
		rc=1
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

refca() {
	"$REFCA_BIN" "$@"
}

# init_ca [--key rsa|ec]
init_ca() {
	refca init "$D" "$@" >/dev/null || die "init failed"
}

# start_ca [serve options]: serve on an ephemeral port; sets PORT, BASE, EST.
start_ca() {
	# The binary itself in the background (not a shell function): SERVER_PID is the server.
	"$REFCA_BIN" serve "$D" --port 0 "$@" >"$T/serve.out" 2>"$T/serve.err" &
	SERVER_PID=$!
	for _ in $(seq 100); do
		if [[ -s $T/serve.out ]]; then
			break
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || fail "serve exited: $(cat "$T/serve.err")"
		sleep 0.05
	done
	local line
	line=$(head -n 1 "$T/serve.out")
	[[ $line =~ ^listening\ on\ https://127\.0\.0\.1:([0-9]+)/$ ]] || fail "first line was '$line'"
	PORT=${BASH_REMATCH[1]}
	BASE=https://127.0.0.1:$PORT
	EST=$BASE/.well-known/est
}

# stop_ca: SIGTERM, and the server must exit 0.
stop_ca() {
	local rc=0
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	[[ $rc -eq 0 ]] || fail "serve exited $rc on SIGTERM"
}

set_today() {
	refca admin "$D" today "$1" >/dev/null || fail "admin today $1"
}

# day OFFSET [FROM]: the date OFFSET days after FROM (default: the pinned TODAY).
day() {
	date -u -d "${2:-$TODAY} ${1} days" +%F
}

# key_csr NAME SUBJECT [ec|rsa|rsa1024]: NAME.key, NAME.csr.pem, NAME.csr.b64 (base64 DER, as EST sends it).
key_csr() {
	local name=$1 subj=$2 kind=${3:-ec}
	case $kind in
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$name.key" 2>/dev/null ;;
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$name.key" 2>/dev/null ;;
	rsa1024) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/$name.key" 2>/dev/null ;;
	esac
	csr_for_key "$name" "$name" "$subj"
}

# csr_for_key NAME KEYNAME SUBJECT: a CSR for an existing key.
csr_for_key() {
	openssl req -new -utf8 -key "$T/$2.key" -subj "$3" -out "$T/$1.csr.pem" 2>/dev/null || die "openssl req"
	openssl req -in "$T/$1.csr.pem" -outform DER | openssl base64 >"$T/$1.csr.b64"
}

# issue NAME NOT_BEFORE NOT_AFTER [FIRST_ISSUED]: admin issue for NAME's CSR into NAME.pem; sets SERIAL.
issue() {
	local extra=()
	[[ -z ${4:-} ]] || extra=(--first-issued "$4")
	refca admin "$D" issue --csr "$T/$1.csr.pem" --not-before "$2" --not-after "$3" "${extra[@]}" >"$T/$1.pem" ||
		fail "admin issue $1"
	SERIAL=$(serial_of "$T/$1.pem")
}

serial_of() {
	openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'
}

# est_post PATH CSRNAME [curl options]: POST NAME.csr.b64; sets CODE; body in $T/body, headers in $T/hdr.
est_post() {
	local path=$1 csr=$2
	shift 2
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -D "$T/hdr" -w '%{http_code}' \
		-H 'Content-Type: application/pkcs10' --data-binary @"$T/$csr.csr.b64" "$@" "$EST/$path") ||
		fail "curl $path failed"
}

# reenroll CERTNAME CSRNAME: simplereenroll authenticated by CERTNAME.pem/.key.
reenroll() {
	est_post simplereenroll "$2" --cert "$T/$1.pem" --key "$T/$1.key"
}

# p7_cert OUT: the one certificate of the base64 PKCS#7 in $T/body, as PEM in OUT.
p7_cert() {
	openssl base64 -d -in "$T/body" | openssl pkcs7 -inform DER -print_certs -out "$1" 2>/dev/null ||
		fail "body is not a base64 PKCS#7: $(head -c 200 "$T/body")"
	[[ $(grep -c 'BEGIN CERTIFICATE' "$1") -eq 1 ]] || fail "PKCS#7 holds $(grep -c 'BEGIN CERTIFICATE' "$1") certificates"
}

# dates_of PEM: "NOTBEFORE NOTAFTER" as YYYY-MM-DD (UTC).
dates_of() {
	local nb na
	nb=$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)
	na=$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)
	echo "$(date -u -d "$nb" +%F) $(date -u -d "$na" +%F)"
}

header() {
	tr -d '\r' <"$T/hdr" | sed -n "s/^$1: //Ip" | head -n 1
}

api() {
	curl -sS --cacert "$D/ca.pem" "$BASE/api/v1/$1"
}

# jget JSON KEY...: a value from JSON through python's json module (no jq needed).
jget() {
	/usr/bin/python3 -c 'import json,sys
v=json.loads(sys.argv[1])
for k in sys.argv[2:]:
    v=v[int(k)] if isinstance(v,list) else v[k]
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$@"
}

expect_eq() {
	[[ $2 == "$3" ]] || fail "$1: expected '$3', got '$2'"
}

expect_code() {
	[[ $CODE == "$1" ]] || fail "expected HTTP $1, got $CODE: $(head -c 400 "$T/body")"
}

# unit NAME NB NA [FI]: a unit's key, CSR and admin-issued certificate NAME.pem (subject per NAME).
unit() {
	key_csr "$1" "/O=Unit $1/CN=$1"
	issue "$@"
}

TODAY=2030-06-15

# ---------------------------------------------------------------- R-R2 window

# 89 days left (notAfter date - today = 89): renewal open, new end = old end + 1 year (R-R3).
r_r2_89_days_left_open() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -276)" "$(day 89)"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "$TODAY $(date -u -d "$(day 89) +1 year" +%F)"
}

# 90 days left: closed, 403 naming the date it opens (notAfter - 89 days, i.e. tomorrow).
r_r2_90_days_left_closed() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -275)" "$(day 90)"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 403
	expect_eq "opens_on" "$(jget "$(cat "$T/body")" opens_on)" "$(day 1)"
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" renewal-not-open
	grep -q "$(day 1)" "$T/body" || fail "the 403 does not say when renewal opens"
	expect_eq "api open" "$(jget "$(api "certs/$SERIAL")" renewal open)" false
	expect_eq "api opens_on" "$(jget "$(api "certs/$SERIAL")" renewal opens_on)" "$(day 1)"
}

# Expired 365 days ago (today - notAfter date = 365): still the plain flow, R-R4.
r_r2_expired_365_days_open() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -730)" "$(day -365)"
	expect_eq "api rule" "$(jget "$(api "certs/$SERIAL")" renewal rule)" R-R4
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "$TODAY $(date -u -d "$TODAY +1 year" +%F)"
}

# ---------------------------------------------------------------- R-R3 / R-R4 validity

# R-R3: not expired (30 days left): new notAfter = old notAfter + 1 year, notBefore = today.
r_r3_unexpired_extends_old_end() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -335)" "$(day 30)"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "$TODAY $(date -u -d "$(day 30) +1 year" +%F)"
	openssl verify -CAfile "$D/ca.pem" -attime "$(date -u -d "$TODAY 12:00" +%s)" "$T/new.pem" >/dev/null ||
		fail "the renewed certificate does not chain to ca.pem"
}

# R-R3 on the last valid day (0 days left) still extends the old end.
r_r3_last_day_extends_old_end() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -365)" "$TODAY"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "$TODAY $(date -u -d "$TODAY +1 year" +%F)"
}

# R-R3 with an old end on 29 February: one year later is 28 February.
r_r3_feb_29_becomes_feb_28() {
	init_ca
	TODAY=2027-12-15
	set_today $TODAY
	start_ca --autopay
	unit u 2027-02-28 2028-02-29
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "2027-12-15 2029-02-28"
}

# R-R4: expired 10 days: one year from the day of download, not from the old end.
r_r4_expired_one_year_from_download() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -375)" "$(day -10)"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "$TODAY $(date -u -d "$TODAY +1 year" +%F)"
}

# R-D4: the renewed certificate keeps the unit's first-issue date; the subject is unchanged.
r_d4_first_issued_carries_over() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	key_csr u "/O=Unit u/CN=u"
	issue u "$(day -300)" "$(day 65)" 2025-03-01
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	local s
	s=$(serial_of "$T/new.pem")
	expect_eq "first_issued" "$(jget "$(api "certs/$s")" first_issued)" 2025-03-01
	expect_eq "renewed_from" "$(jget "$(api "certs/$s")" renewed_from)" "$SERIAL"
	expect_eq "subject" "$(openssl x509 -in "$T/new.pem" -noout -subject)" \
		"$(openssl x509 -in "$T/u.pem" -noout -subject)"
}

# ---------------------------------------------------------------- R-R5 / R-R6 orders

# Expired 366 days: 202 documents-required with an order id, until `admin approve`; then issued (R-R4 dates).
r_r5_expired_366_days_documents_then_approve() {
	init_ca
	set_today $TODAY
	start_ca --autopay --retry-after 7
	unit u "$(day -731)" "$(day -366)"
	expect_eq "api rule" "$(jget "$(api "certs/$SERIAL")" renewal rule)" R-R5
	expect_eq "api open" "$(jget "$(api "certs/$SERIAL")" renewal open)" false
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 202
	local order
	order=$(header x-ukey-order)
	[[ $order =~ ^[0-9a-f]{16}$ ]] || fail "X-Ukey-Order is '$order'"
	expect_eq "Retry-After" "$(header retry-after)" 7
	expect_eq "state" "$(jget "$(api "orders/$order")" state)" documents-required
	reenroll u u2
	expect_code 202
	expect_eq "same order" "$(header x-ukey-order)" "$order"
	refca admin "$D" approve "$order" >/dev/null || fail "admin approve"
	expect_eq "state" "$(jget "$(api "orders/$order")" state)" approved
	set_today "$(day 3)"
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity (day of download)" "$(dates_of "$T/new.pem")" "$(day 3) $(date -u -d "$(day 3) +1 year" +%F)"
	expect_eq "state" "$(jget "$(api "orders/$order")" state)" issued
}

# Without --autopay: 202 payment-required, the same order on every retry, issued after `admin pay`.
r_r6_payment_required_until_paid_same_order() {
	init_ca
	set_today $TODAY
	start_ca
	unit u "$(day -320)" "$(day 45)"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 202
	local order
	order=$(header x-ukey-order)
	[[ -n $order ]] || fail "no X-Ukey-Order"
	[[ $(header retry-after) =~ ^[0-9]+$ ]] || fail "Retry-After is '$(header retry-after)'"
	expect_eq "state" "$(jget "$(cat "$T/body")" state)" payment-required
	reenroll u u2
	expect_code 202
	expect_eq "same order" "$(header x-ukey-order)" "$order"
	expect_eq "one order" "$(refca admin "$D" orders | wc -l)" 1
	expect_eq "orders?serial" "$(jget "$(api "orders?serial=$SERIAL")" orders 0 id)" "$order"
	expect_eq "orders?serial=other" "$(jget "$(api "orders?serial=00ab")" orders)" "[]"
	refca admin "$D" pay "$order" >/dev/null || fail "admin pay"
	expect_eq "state" "$(jget "$(api "orders/$order")" state)" paid
	reenroll u u2
	expect_code 200
	p7_cert "$T/new.pem"
	expect_eq "validity" "$(dates_of "$T/new.pem")" "$TODAY $(date -u -d "$(day 45) +1 year" +%F)"
	expect_eq "state" "$(jget "$(api "orders/$order")" state)" issued
}

# A client that lost the answer retries: the same key gets the same certificate, never a second extension.
r_r3_retry_after_issue_same_certificate() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -335)" "$(day 30)"
	key_csr n "/O=Unit u/CN=u"
	reenroll u n
	expect_code 200
	p7_cert "$T/new1.pem"
	set_today "$(day 5)"
	reenroll u n
	expect_code 200
	p7_cert "$T/new2.pem"
	expect_eq "same certificate" "$(serial_of "$T/new2.pem")" "$(serial_of "$T/new1.pem")"
	key_csr m "/O=Unit u/CN=u"
	reenroll u m
	expect_code 200
	p7_cert "$T/new3.pem"
	expect_eq "same validity" "$(dates_of "$T/new3.pem")" "$(dates_of "$T/new1.pem")"
}

# ---------------------------------------------------------------- EST

est_cacerts_pkcs7() {
	init_ca
	start_ca
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$EST/cacerts")
	expect_code 200
	expect_eq "content type" "$(header content-type)" application/pkcs7-mime
	expect_eq "transfer encoding" "$(header content-transfer-encoding)" base64
	p7_cert "$T/ca-from-est.pem"
	expect_eq "the CA certificate" "$(openssl x509 -in "$T/ca-from-est.pem" -noout -fingerprint -sha256)" \
		"$(openssl x509 -in "$D/ca.pem" -noout -fingerprint -sha256)"
	openssl x509 -in "$D/ca.pem" -noout -subject | grep -q 'CN = ukey Reference CA' || fail "CA subject"
}

est_csrattrs() {
	init_ca
	start_ca
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$EST/csrattrs")
	expect_code 200
	expect_eq "content type" "$(header content-type)" application/csrattrs
	openssl base64 -d -in "$T/body" | openssl asn1parse -inform DER >"$T/asn1" || fail "csrattrs not DER"
	grep -q ':ecdsa-with-SHA256' "$T/asn1" || fail "no ecdsa-with-SHA256 in csrattrs"
	grep -q ':sha256WithRSAEncryption' "$T/asn1" || fail "no sha256WithRSAEncryption in csrattrs"
}

# simpleenroll: 401 + WWW-Authenticate without or with wrong credentials; with them, R-S1: one year from today.
est_simpleenroll_needs_basic_auth() {
	init_ca --key rsa
	set_today $TODAY
	start_ca
	key_csr u "/O=Unit u/CN=u" rsa
	est_post simpleenroll u
	expect_code 401
	header www-authenticate | grep -q '^Basic ' || fail "no WWW-Authenticate: Basic"
	est_post simpleenroll u -u technician:wrong
	expect_code 401
	est_post simpleenroll u -u "someone:$(cat "$D/technician.pass")"
	expect_code 401
	est_post simpleenroll u -u "technician:$(cat "$D/technician.pass")"
	expect_code 200
	header content-type | grep -q '^application/pkcs7-mime; *smime-type=certs-only' || fail "content type"
	p7_cert "$T/u.pem"
	expect_eq "validity" "$(dates_of "$T/u.pem")" "$TODAY $(date -u -d "$TODAY +1 year" +%F)"
	local s
	s=$(serial_of "$T/u.pem")
	[[ ${#s} -eq 32 ]] || fail "serial '$s' is not 16 bytes"
	expect_eq "first_issued" "$(jget "$(api "certs/$s")" first_issued)" "$TODAY"
	openssl x509 -in "$T/u.pem" -noout -text >"$T/text"
	grep -q 'TLS Web Client Authentication' "$T/text" || fail "no clientAuth EKU"
	grep -q 'Key Encipherment' "$T/text" || fail "RSA certificate without keyEncipherment"
	grep -q "URI:$BASE/crl/ca.crl" "$T/text" || fail "no CDP"
	grep -q "OCSP - URI:$BASE/ocsp" "$T/text" || fail "no AIA OCSP"
	[[ $(stat -c %a "$D/technician.pass") == 600 ]] || fail "technician.pass is not 0600"
	[[ $(stat -c %a "$D/ca.key") == 600 ]] || fail "ca.key is not 0600"
}

# lws 4.1 leaves Expect: 100-continue unanswered; the CA answers it, so a client does not stall a second.
est_expect_100_continue_answered() {
	init_ca
	start_ca
	key_csr u "/O=Unit u/CN=u"
	est_post simpleenroll u -u "technician:$(cat "$D/technician.pass")" -H 'Expect: 100-continue' -v 2>"$T/verbose"
	expect_code 200
	grep -q '< HTTP/1.1 100 Continue' "$T/verbose" || fail "no 100 Continue"
}

est_reenroll_needs_client_cert() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -335)" "$(day 30)"
	est_post simplereenroll u
	expect_code 403
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" client-certificate-required
	# The technician's password is no substitute for the certificate.
	est_post simplereenroll u -u "technician:$(cat "$D/technician.pass")"
	expect_code 403
}

# A certificate from another CA with the same subject is refused.
est_foreign_client_cert_refused() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	key_csr u "/O=Unit u/CN=u"
	openssl req -x509 -key "$T/u.key" -subj "/O=Unit u/CN=u" -days 30 -out "$T/u.pem" 2>/dev/null
	reenroll u u
	expect_code 403
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" client-certificate-refused
}

# RFC 7030 4.2.2: the CSR's subject must be the client certificate's.
est_reenroll_subject_must_match() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -335)" "$(day 30)"
	csr_for_key other u "/O=Unit u/CN=someone else"
	reenroll u other
	expect_code 400
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" subject-mismatch
}

est_revoked_client_refused() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	unit u "$(day -335)" "$(day 30)"
	refca admin "$D" revoke "$SERIAL" >/dev/null || fail "admin revoke"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 403
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" client-certificate-revoked
	expect_eq "status" "$(jget "$(api "certs/$SERIAL")" status)" revoked
	local rc=0
	refca admin "$D" revoke "$SERIAL" 2>/dev/null || rc=$?
	expect_eq "revoke twice exit code" "$rc" 4
}

# ---------------------------------------------------------------- CRL and OCSP

crl_lists_revoked() {
	init_ca
	set_today $TODAY
	start_ca
	unit a "$(day -10)" "$(day 355)"
	local sa=$SERIAL
	unit b "$(day -10)" "$(day 355)"
	local sb=$SERIAL
	refca admin "$D" revoke "$sa" >/dev/null
	curl -sS --cacert "$D/ca.pem" -o "$T/ca.crl" -D "$T/hdr" "$BASE/crl/ca.crl"
	expect_eq "content type" "$(header content-type)" application/pkix-crl
	openssl crl -inform DER -in "$T/ca.crl" -noout -text >"$T/crl.txt" || fail "not a DER CRL"
	openssl crl -inform DER -in "$T/ca.crl" -CAfile "$D/ca.pem" -noout 2>&1 | grep -q 'verify OK' ||
		fail "CRL signature does not verify"
	local ua ub
	ua=$(tr 'a-f' 'A-F' <<<"$sa")
	ub=$(tr 'a-f' 'A-F' <<<"$sb")
	grep -q "Serial Number: $ua" "$T/crl.txt" || fail "revoked $sa not listed"
	if grep -q "Serial Number: $ub" "$T/crl.txt"; then
		fail "good $sb listed"
	fi
	local next
	next=$(openssl crl -inform DER -in "$T/ca.crl" -noout -nextupdate | cut -d= -f2)
	expect_eq "nextUpdate" "$(date -u -d "$next" +%F)" "$(day 7)"
}

ocsp_good_and_revoked() {
	init_ca
	set_today "$(date -u +%F)"
	TODAY=$(date -u +%F)
	start_ca
	unit a "$(day -10)" "$(day 355)"
	local sa=$SERIAL
	unit b "$(day -10)" "$(day 355)"
	refca admin "$D" revoke "$SERIAL" >/dev/null
	openssl ocsp -issuer "$D/ca.pem" -cert "$T/a.pem" -url "$BASE/ocsp" -CAfile "$D/ca.pem" \
		>"$T/ocsp-a" 2>&1 || fail "openssl ocsp (a): $(cat "$T/ocsp-a")"
	grep -q "Response verify OK" "$T/ocsp-a" || fail "response (a) not verified: $(cat "$T/ocsp-a")"
	grep -q "$T/a.pem: good" "$T/ocsp-a" || fail "a not good: $(cat "$T/ocsp-a")"
	openssl ocsp -issuer "$D/ca.pem" -cert "$T/b.pem" -url "$BASE/ocsp" -CAfile "$D/ca.pem" \
		>"$T/ocsp-b" 2>&1 || fail "openssl ocsp (b): $(cat "$T/ocsp-b")"
	grep -q "$T/b.pem: revoked" "$T/ocsp-b" || fail "b not revoked: $(cat "$T/ocsp-b")"
	# A serial this CA never issued is unknown, never good.
	openssl ocsp -issuer "$D/ca.pem" -serial 0x1234 -url "$BASE/ocsp" -CAfile "$D/ca.pem" \
		>"$T/ocsp-u" 2>&1 || fail "openssl ocsp (unknown): $(cat "$T/ocsp-u")"
	grep -q ": unknown" "$T/ocsp-u" || fail "unknown serial not unknown: $(cat "$T/ocsp-u")"
	[[ -n $sa ]]
}

# ---------------------------------------------------------------- hostile input and the listener

binds_loopback_only() {
	init_ca
	start_ca
	local lines
	lines=$(ss -Hltn "sport = :$PORT")
	[[ -n $lines ]] || fail "nothing listens on $PORT"
	while read -r _ _ _ local _; do
		expect_eq "listening address" "$local" "127.0.0.1:$PORT"
	done <<<"$lines"
	# TLS 1.2 at least.
	if curl -sS --cacert "$D/ca.pem" --tlsv1.0 --tls-max 1.1 -o /dev/null "$EST/cacerts" 2>/dev/null; then
		fail "TLS 1.1 accepted"
	fi
	curl -sS --cacert "$D/ca.pem" --tlsv1.2 --tls-max 1.2 -o /dev/null "$EST/cacerts" || fail "TLS 1.2 refused"
	# The server certificate is valid for every loopback name.
	curl -sS --cacert "$D/ca.pem" -o /dev/null --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/api/v1/today" ||
		fail "server certificate not valid for localhost"
}

garbage_csr_400() {
	init_ca
	set_today $TODAY
	start_ca
	local auth=(-u "technician:$(cat "$D/technician.pass")")
	printf 'not base64 at all!!' >"$T/g1.csr.b64"
	est_post simpleenroll g1 "${auth[@]}"
	expect_code 400
	head -c 300 /dev/urandom | openssl base64 >"$T/g2.csr.b64"
	est_post simpleenroll g2 "${auth[@]}"
	expect_code 400
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" bad-csr
	# A CSR whose signature was broken after signing: no proof of possession.
	key_csr g3 "/O=Unit g/CN=g"
	openssl req -in "$T/g3.csr.pem" -outform DER >"$T/g3.der"
	/usr/bin/python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-5]^=1; open(sys.argv[1],"wb").write(b)' "$T/g3.der"
	openssl base64 -in "$T/g3.der" >"$T/g3.csr.b64"
	est_post simpleenroll g3 "${auth[@]}"
	expect_code 400
	grep -q 'signature' "$T/body" || fail "no signature reason: $(cat "$T/body")"
	# Key types: RSA 1024 is refused with a reason.
	key_csr g4 "/O=Unit g/CN=g" rsa1024
	est_post simpleenroll g4 "${auth[@]}"
	expect_code 400
	expect_eq "error" "$(jget "$(cat "$T/body")" error)" key-rejected
	# Wrong content type.
	key_csr g5 "/O=Unit g/CN=g"
	est_post simpleenroll g5 "${auth[@]}" -H 'Content-Type: text/plain'
	expect_code 415
	# A body over 64 KiB is refused before it is read.
	head -c 70000 /dev/zero | tr '\0' 'A' >"$T/g6.csr.b64"
	est_post simpleenroll g6 "${auth[@]}"
	expect_code 413
	# The server is still serving.
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -w '%{http_code}' "$EST/cacerts")
	expect_code 200
	# admin issue refuses the same garbage with exit code 4.
	printf 'garbage\n' >"$T/g7.csr.pem"
	local rc=0
	refca admin "$D" issue --csr "$T/g7.csr.pem" --not-before 2030-01-01 --not-after 2031-01-01 \
		>/dev/null 2>"$T/err" || rc=$?
	expect_eq "admin issue exit code" "$rc" 4
	[[ $(wc -l <"$T/err") -eq 1 ]] || fail "error is not one line: $(cat "$T/err")"
}

# `admin today` changes what a RUNNING server computes, without a restart; `today clear` goes back.
clock_override_followed_by_running_server() {
	init_ca
	set_today $TODAY
	start_ca --autopay
	expect_eq "today" "$(jget "$(api today)" today)" "$TODAY"
	expect_eq "overridden" "$(jget "$(api today)" overridden)" true
	unit u "$(day -270)" "$(day 95)"
	csr_for_key u2 u "/O=Unit u/CN=u"
	reenroll u u2
	expect_code 403
	set_today "$(day 6)" # 89 days left now
	expect_eq "today" "$(jget "$(api today)" today)" "$(day 6)"
	expect_eq "api open" "$(jget "$(api "certs/$SERIAL")" renewal open)" true
	reenroll u u2
	expect_code 200
	refca admin "$D" today clear >/dev/null
	expect_eq "cleared" "$(jget "$(api today)" today)" "$(date -u +%F)"
	expect_eq "overridden" "$(jget "$(api today)" overridden)" false
}

sigterm_exits_0() {
	init_ca
	start_ca
	curl -sS --cacert "$D/ca.pem" -o /dev/null "$EST/cacerts"
	stop_ca
	grep -q 'GET "/.well-known/est/cacerts" -> 200' "$T/serve.err" || fail "no request log line"
}

api_unknown_and_bad_input() {
	init_ca
	start_ca
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -w '%{http_code}' "$BASE/api/v1/certs/00ff")
	expect_code 404
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -w '%{http_code}' "$BASE/api/v1/certs/xyz")
	expect_code 400
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -w '%{http_code}' "$BASE/api/v1/orders/nothex")
	expect_code 400
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -w '%{http_code}' "$BASE/nothing")
	expect_code 404
	CODE=$(curl -sS --cacert "$D/ca.pem" -o "$T/body" -w '%{http_code}' -X POST --data x "$EST/cacerts")
	expect_code 405
	local rc=0
	refca admin "$D" approve 0123456789abcdef 2>/dev/null || rc=$?
	expect_eq "unknown order exit code" "$rc" 3
	rc=0
	refca admin "$D" today 2030-02-30 2>/dev/null || rc=$?
	expect_eq "bad date exit code" "$rc" 2
}

case_name=${1:-}
[[ -n $case_name ]] && declare -F "$case_name" >/dev/null || die "unknown case '${case_name}'"
"$case_name"
echo "PASS: $case_name"
