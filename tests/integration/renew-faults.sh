#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey renew` when the CA, the network, the key or the disk misbehaves (issue 6, "Bad input and faults"): each case
# shows a clear one-line message with a stable exit code and JSON error id, and that nothing is lost — the old
# certificate and key still work, and once the fault is gone `ukey renew --resume` (or `--abort`) leaves exactly
# one working pair and no orphan objects.
#
# The CA is the real reference CA (tests/ca, ukey-refca) wherever it can produce the fault: stopped (SIGSTOP) for
# a CA that accepts connections and never answers, its database locked for a 5xx, no --autopay for 202 forever,
# its own server certificate swapped for an expired or wrongly named one, a revoked client certificate. Only the
# answers no honest CA gives (a garbage body, a wrong content type, a PKCS#7 for another key or from another CA)
# come from the stand-in tests/ca/fault-ca, and each such case says so.
#
# CA faults already in renew.sh: CA down (connection refused), server certificate not trusted, wrong PIN.
#
# Environment (set by CMake): UKEY_BIN, UKEY_REFCA_BIN, UKEY_FAULT_CA, UKEY_MKTOKEN, UKEY_SOFTHSM_MODULE,
# UKEY_COUNTING_MODULE.

# The disk-full cases mount a tmpfs as the state dir: root, in a mount namespace of their own, so that even a
# case killed by ctest's timeout leaves no mount behind.
if [[ ${1:-} == *disk_full* && -z ${UKEY_RENEW_MOUNT_NS:-} ]]; then
	if [[ $EUID -ne 0 ]]; then
		printf 'FAIL: the disk-full cases must run as root: they mount a small tmpfs as the state dir (unshare -m, mount -t tmpfs). CI runs them as root.\n' >&2
		exit 1
	fi
	UKEY_RENEW_MOUNT_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-renew.sh"

[[ -r ${UKEY_FAULT_CA:-} ]] || die "UKEY_FAULT_CA is not set or not readable (run the tests through ctest)"
[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 not found (apt-get install python3)"
command -v ss >/dev/null || die "ss not found (apt-get install iproute2)"

# ---------------------------------------------------------------- helpers

# Teardown: the background processes first (a stopped CA, a renewal, the stand-in: they may hold the state
# store), then the state tmpfs if a case mounted one, then lib.sh's cleanup.
STATE_MOUNTED=
faults_cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	BG_PIDS=()
	if [[ -n $STATE_MOUNTED ]]; then
		umount "$STATE" 2>/dev/null || umount -l "$STATE" || true
	fi
	cleanup
}
trap faults_cleanup EXIT

# renew_at URL ARGS...: ukey against the EST base URL, trusting the reference CA.
renew_at() {
	local url=$1
	shift
	ukey --ca-url "$url" --ca-trust "$CA/ca.pem" "$@"
}

# remember_old_pair: notes the key's one certificate (serial, CKA_ID) before the fault.
remember_old_pair() {
	cert_json
	assert_json '.certificates | length' 1
	OLD_CERT=$(jq -r '.certificates[0].serial' <<<"$OUT")
	OLD_ID=$(jq -r '.certificates[0].id' <<<"$OUT")
	OLD_END=$(jq -r '.certificates[0].not_after[0:10]' <<<"$OUT")
}

# assert_old_pair_works: the old certificate is still on the key, readable and for its key pair, and the old
# private key still signs what the old certificate verifies (pkcs11-tool on the token, openssl with the PEM that
# mktoken kept): the unit can go on working while the renewal waits.
assert_old_pair_works() {
	local rc=$RC out=$OUT err=$ERR
	cert_json
	assert_json "[.certificates[] | select(.serial == \"$OLD_CERT\" and .id == \"$OLD_ID\" and .key_match == \"match\")] | length" 1
	printf 'renewal test data\n' >"$T/sign.in"
	pkcs11-tool --module "$UKEY_SOFTHSM_MODULE" --token-label ukey-test --login --pin "$PIN" --sign --id "$OLD_ID" \
		-m SHA256-RSA-PKCS -i "$T/sign.in" -o "$T/sign.sig" >/dev/null 2>"$T/sign.err" ||
		fail "the old private key no longer signs: $(cat "$T/sign.err")"
	openssl x509 -in "$FIX/certs/$SERIAL.pem" -noout -pubkey >"$T/old.pub"
	openssl dgst -sha256 -verify "$T/old.pub" -signature "$T/sign.sig" "$T/sign.in" >/dev/null ||
		fail "the old certificate does not verify what the old key signed"
	RC=$rc OUT=$out ERR=$err
}

# assert_error CODE ID: the last `… --json` run exited CODE with error id ID and a message on one line that ends
# a sentence; no sanitizer report on stderr.
assert_error() {
	expect_rc "$1"
	assert_json '.error.id' "\"$2\""
	assert_json '.error.exit_code' "$1"
	local msg
	msg=$(jq -r '.error.message' <<<"$OUT")
	[[ $msg =~ ^[^[:cntrl:]]+[.]$ ]] || fail "error message: not one line ending in a full stop: '$msg'"
	printf '  error %s (exit %s): %s\n' "$2" "$1" "$msg"
	# Under -DUKEY_SANITIZE=ON a report must not hide behind an expected failure.
	assert_not_contains "$ERR" "Sanitizer" "stderr"
	assert_not_contains "$ERR" "runtime error:" "stderr"
}

# assert_no_renewal_left: no renewal is journaled any more (`ukey orders` lists none).
assert_no_renewal_left() {
	run ukey orders --json
	expect_rc 0
	assert_json '.renewals | length' 0
}

# resume_at URL: `ukey renew --resume` with the fault gone; then the key holds exactly one working pair, the new
# one, renewed once (R-R3: the old end + 1 year), and no renewal is left.
resume_at() {
	run -i "$PIN"$'\n' renew_at "$1" renew --resume --json
	expect_rc 0
	assert_json '.result' '"renewed"'
	assert_one_working_pair
	assert_json "[.certificates[] | select(.serial == \"$OLD_CERT\")] | length" 0
	assert_json '.certificates[0].not_after[0:10]' "\"$(date -u -d "$OLD_END +1 year" +%Y-%m-%d)\""
	assert_no_renewal_left
}

# ca_pause / ca_continue: the reference CA stopped and continued (SIGSTOP/SIGCONT). Stopped, it still accepts TCP
# connections (the kernel's backlog) and never answers: a CA that hangs.
ca_pause() {
	kill -STOP "$CA_PID"
}
ca_continue() {
	kill -CONT "$CA_PID"
}

# ca_port: the reference CA's port, from CA_URL.
ca_port() {
	[[ $CA_URL =~ ^https://127\.0\.0\.1:([0-9]+)/ ]] || die "no port in '$CA_URL'"
	printf '%s\n' "${BASH_REMATCH[1]}"
}

# renew_in_background: `ukey renew --json` with the PIN piped in, against the reference CA, in the background;
# RENEW_PID. finish_renewal collects it into RC, OUT, ERR.
renew_in_background() {
	(printf '%s\n' "$PIN" | exec "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" --ca-url "$CA_URL" \
		--ca-trust "$CA/ca.pem" renew --json >"$T/bg.out" 2>"$T/bg.err") &
	RENEW_PID=$!
	BG_PIDS+=("$RENEW_PID")
	LAST_CMD="ukey renew --json (in the background)"
}
finish_renewal() {
	RC=0
	wait "$RENEW_PID" || RC=$?
	OUT=$(cat "$T/bg.out")
	ERR=$(cat "$T/bg.err")
	printf '+ %s  => exit %s\n' "$LAST_CMD" "$RC"
}

# wait_for_request: until the background renewal has its connection to the (stopped) CA open, i.e. it has done
# every token step before the request (login, keygen, CSR, the TLS key) and waits in the network.
wait_for_request() {
	local i port
	port=$(ca_port)
	for ((i = 0; i < 1500; i++)); do
		if [[ -n $(ss -Htn state established "dport = :$port") ]]; then
			sleep 0.2 # the ClientHello on its way; nothing else touches the key until the CA answers
			return 0
		fi
		kill -0 "$RENEW_PID" 2>/dev/null || fail "ukey renew ended before reaching the CA: $(cat "$T/bg.out" "$T/bg.err")"
		sleep 0.02
	done
	fail "ukey renew did not connect to the CA within 30 s: $(cat "$T/bg.err")"
}

# fault_start FAULT...: the stand-in tests/ca/fault-ca with the reference CA's server certificate (so ukey trusts
# it as it trusts ukey-refca), answering with FAULT (see fault-ca); sets FAULT_URL and FAULT_PID.
fault_start() {
	local i
	: >"$T/fault.out"
	/usr/bin/python3 "$UKEY_FAULT_CA" --cert "$CA/server.pem" --key "$CA/server.key" "$@" \
		>"$T/fault.out" 2>>"$T/fault.log" &
	FAULT_PID=$!
	BG_PIDS+=("$FAULT_PID")
	for ((i = 0; i < 200; i++)); do
		if [[ $(head -n1 "$T/fault.out") =~ ^listening\ on\ https://127\.0\.0\.1:([0-9]+)/$ ]]; then
			FAULT_URL=https://127.0.0.1:${BASH_REMATCH[1]}/.well-known/est
			return 0
		fi
		kill -0 "$FAULT_PID" 2>/dev/null || die "fault-ca ended: $(cat "$T/fault.log")"
		sleep 0.05
	done
	die "fault-ca did not start: $(cat "$T/fault.log")"
}

fault_stop() {
	kill -TERM "$FAULT_PID" 2>/dev/null || true
	wait "$FAULT_PID" 2>/dev/null || true
}

# fault_served N: the stand-in answered N requests (so the fault really was seen).
fault_served() {
	local n
	n=$(grep -c '^fault-ca: POST "/.well-known/est/simplereenroll" -> ' "$T/fault.log" || true)
	assert_eq "$1" "$n" "requests the stand-in answered ($(cat "$T/fault.log"))"
}

# server_cert SAN NOT_BEFORE NOT_AFTER: replaces the reference CA's TLS server certificate and key (DIR/server.pem,
# DIR/server.key, read by `serve`) with ones signed by the same CA key — so the trust is right and only what
# the case changes (the name, the dates) is wrong. Dates as `openssl ca` takes them: YYMMDDHHMMSSZ.
server_cert() {
	local san=$1 nb=$2 na=$3 d=$T/server-ca
	mkdir -p "$d/new"
	: >"$d/index.txt"
	cat >"$d/openssl.cnf" <<EOF
[ca]
default_ca = server_ca
[server_ca]
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
default_md = sha256
policy = policy
unique_subject = no
[policy]
commonName = supplied
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" \
		-subj "/CN=ukey-refca fault" -out "$d/server.csr" 2>"$d/err" || die "openssl req: $(cat "$d/err")"
	openssl ca -batch -config "$d/openssl.cnf" -cert "$CA/ca.pem" -keyfile "$CA/ca.key" -extensions server \
		-rand_serial -notext -startdate "$nb" -enddate "$na" -in "$d/server.csr" -out "$d/server.pem" \
		2>"$d/err" || die "openssl ca: $(cat "$d/err")"
	cp "$d/server.pem" "$CA/server.pem"
	cp "$d/server.key" "$CA/server.key"
}

# utc_time SECONDS_FROM_NOW: YYMMDDHHMMSSZ.
utc_time() {
	date -u -d "@$(($(date +%s) + $1))" +%y%m%d%H%M%SZ
}

# ---------------------------------------------------------------- the CA hangs

# A CA that accepts the connection and never answers (the reference CA stopped): ukey gives up after its timeout
# (UKEY_CA_TIMEOUT_S, 30 s) with exit 6 ca-unreachable, well within a minute; the old pair works; once the CA
# answers again, --resume finishes with one pair.
ca_slow_times_out() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	ca_pause
	local t0=$SECONDS
	run -i "$PIN"$'\n' renew_ukey renew --json
	local took=$((SECONDS - t0))
	ca_continue
	assert_error 6 ca-unreachable
	printf 'gave up after %s s\n' "$took"
	((took >= 25)) || fail "gave up after $took s: before its timeout, so not on the timeout"
	((took < 60)) || fail "took $took s to give up on a CA that does not answer (60 s at most)"
	assert_old_pair_works
	resume_at "$CA_URL"
}

# ---------------------------------------------------------------- the CA fails or refuses

# The CA fails with a 5xx: the reference CA answers 500 "internal" when its own database is locked past its 5 s
# busy timeout (another writer holds it): exit 6 ca-failed; the old pair works; once unlocked, --resume finishes.
ca_5xx_failed() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	/usr/bin/python3 -c 'import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(120)' "$CA/state.db" >"$T/lock.out" 2>&1 &
	local lock=$!
	BG_PIDS+=("$lock")
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -s $T/lock.out ]] && break
		sleep 0.05
	done
	[[ $(cat "$T/lock.out") == locked ]] || die "could not lock the CA's database: $(cat "$T/lock.out")"
	run -i "$PIN"$'\n' renew_ukey renew --json
	kill -KILL "$lock"
	wait "$lock" 2>/dev/null || true
	assert_error 6 ca-failed
	assert_contains "$(cat "$T/ca.log")" '"/.well-known/est/simplereenroll" -> 500' "the CA's log"
	assert_old_pair_works
	resume_at "$CA_URL"
}

# The CA holds the order forever (no --autopay: payment-required, 202 every time): exit 8 at each try, one order
# at the CA and one in `ukey orders` with the same id across every resume, the old pair works throughout; --abort
# then leaves the old pair alone on the key.
ca_202_forever() {
	ca_start --retry-after 1
	refca_token 30
	remember_old_pair
	local order='' try got
	for try in 1 2 3 4; do
		if ((try == 1)); then
			run -i "$PIN"$'\n' renew_ukey renew --json
		else
			run -i "$PIN"$'\n' renew_ukey renew --resume --json
		fi
		assert_error 8 renew-pending
		run ukey orders --json
		expect_rc 0
		assert_json '.renewals | length' 1
		assert_json '.renewals[0].state' '"pending"'
		got=$(jq -r '.renewals[0].order' <<<"$OUT")
		[[ $got =~ ^[0-9a-f]+$ ]] || fail "no order id kept: '$got'"
		[[ -z $order ]] || assert_eq "$order" "$got" "the order after try $try"
		order=$got
		assert_old_pair_works
	done
	"$UKEY_REFCA_BIN" admin "$CA" orders >"$T/orders" || fail "admin orders failed"
	assert_eq 1 "$(wc -l <"$T/orders")" "orders at the CA ($(cat "$T/orders"))"
	assert_eq "\"$order\"" "$(jq -c .id "$T/orders")" "the CA's order"
	run -i "$PIN"$'\n' renew_ukey renew --abort
	expect_rc 0
	assert_one_working_pair
	assert_json '.certificates[0].serial' "\"$OLD_CERT\""
	assert_no_renewal_left
}

# The CA refuses the client certificate (the old certificate revoked at the CA: 403 client-certificate-revoked):
# exit 6 ca-refused, the CA's reason shown; nothing changed but the journaled new pair, which --abort removes.
ca_refuses_revoked_client_cert() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	"$UKEY_REFCA_BIN" admin "$CA" revoke "$OLD_CERT" >/dev/null || fail "admin revoke failed"
	run -i "$PIN"$'\n' renew_ukey renew --json
	assert_error 6 ca-refused
	assert_contains "$(jq -r .error.message <<<"$OUT")" "The client certificate is revoked" "the CA's reason"
	run -i "$PIN"$'\n' renew_ukey renew --resume
	expect_rc 6
	assert_contains "$ERR" "The CA refused the renewal: The client certificate is revoked" "the text form"
	assert_old_pair_works
	run -i "$PIN"$'\n' renew_ukey renew --abort
	expect_rc 0
	assert_one_working_pair
	assert_json '.certificates[0].serial' "\"$OLD_CERT\""
	assert_no_renewal_left
}

# ---------------------------------------------------------------- answers no honest CA gives (stand-in)

# 200 with the EST content type and a body that is not a PKCS#7 (valid base64 of random bytes). Stand-in
# fault-ca: the reference CA never sends such a body. Exit 6 ca-bad-response; the old pair works; with the real CA,
# --resume finishes.
garbage_body_bad_response() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	head -c 600 /dev/urandom | base64 >"$T/garbage"
	fault_start --respond 200 'application/pkcs7-mime; smime-type=certs-only' "$T/garbage"
	run -i "$PIN"$'\n' renew_at "$FAULT_URL" renew --json
	fault_stop
	assert_error 6 ca-bad-response
	fault_served 1
	assert_old_pair_works
	resume_at "$CA_URL"
}

# 200 with text/html (a proxy's or portal's page where the certificate should be). Stand-in fault-ca: the
# reference CA never answers with HTML. Exit 6 ca-bad-response; the old pair works; --resume finishes.
wrong_content_type_bad_response() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	printf '<!DOCTYPE html>\n<html><body><p>Please log in to continue.</p></body></html>\n' >"$T/page.html"
	fault_start --respond 200 'text/html; charset=utf-8' "$T/page.html"
	run -i "$PIN"$'\n' renew_at "$FAULT_URL" renew --json
	fault_stop
	assert_error 6 ca-bad-response
	fault_served 1
	assert_old_pair_works
	resume_at "$CA_URL"
}

# A well-formed certs-only PKCS#7 whose certificate is for ANOTHER key: issued by the reference CA itself
# (`admin issue`, same subject, so the chain and the name are right and only the key is wrong). Stand-in
# fault-ca serves it: the reference CA always certifies the CSR's key. Refused before anything is written
# (ca-bad-response): the key holds only the old certificate; --abort removes the new pair.
pkcs7_for_another_key_refused() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	openssl req -new -newkey rsa:2048 -nodes -keyout "$T/other.key" -subj '/C=CN/O=Test Org/CN=Test Unit' \
		-out "$T/other.csr" 2>/dev/null || die "openssl req failed"
	"$UKEY_REFCA_BIN" admin "$CA" issue --csr "$T/other.csr" --not-before "$(date -u +%Y-%m-%d)" \
		--not-after "$(date -u -d '+1 year' +%Y-%m-%d)" >"$T/other.pem" || die "admin issue failed"
	openssl crl2pkcs7 -nocrl -certfile "$T/other.pem" -outform DER | base64 >"$T/other.p7" ||
		die "openssl crl2pkcs7 failed"
	fault_start --respond 200 'application/pkcs7-mime; smime-type=certs-only' "$T/other.p7"
	UKEY_DEBUG=core run -i "$PIN"$'\n' renew_at "$FAULT_URL" renew --json
	fault_stop
	assert_error 6 ca-bad-response
	assert_contains "$ERR" "the issued certificate is not for the new key" "the check that refused it (debug log)"
	fault_served 1
	# Nothing written: the one certificate is the old one, beside the journaled new key pair (no certificate).
	cert_json
	assert_json '[.certificates[].serial]' "[\"$OLD_CERT\"]"
	run ukey orders --json
	assert_json '.renewals[0].state' '"keypair"'
	assert_old_pair_works
	run -i "$PIN"$'\n' renew_at "$FAULT_URL" renew --abort
	expect_rc 0
	assert_contains "$OUT" "the new key pair is removed" "what --abort did"
	assert_one_working_pair
	assert_json '.certificates[0].serial' "\"$OLD_CERT\""
	assert_no_renewal_left
}

# A certificate for the right key and subject from ANOTHER CA (mktoken's demo CA): its chain does not verify
# against --ca-trust: exit 6 ca-untrusted. Stand-in fault-ca signs the CSR with that CA: the reference CA signs
# only with its own key. The old pair works; with the real CA, --resume finishes.
pkcs7_from_another_ca_untrusted() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	[[ -r $FIX/ca/ca.pem && -r $FIX/ca/ca.key ]] || die "mktoken's demo CA is missing"
	fault_start --sign "$FIX/ca/ca.pem" "$FIX/ca/ca.key"
	UKEY_DEBUG=core run -i "$PIN"$'\n' renew_at "$FAULT_URL" renew --json
	fault_stop
	assert_error 6 ca-untrusted
	assert_contains "$ERR" "the issued certificate does not chain to the trust" "the check that refused it (debug log)"
	fault_served 1
	assert_old_pair_works
	resume_at "$CA_URL"
}

# ---------------------------------------------------------------- the CA's server certificate

# The reference CA serves an EXPIRED server certificate (from its own CA key, right names): exit 6 ca-untrusted,
# no request reaches it; the old pair works; with its right certificate back, --resume finishes.
server_cert_expired_untrusted() {
	refca_token 30
	remember_old_pair
	cp "$CA/server.pem" "$T/good-server.pem"
	cp "$CA/server.key" "$T/good-server.key"
	server_cert 'IP:127.0.0.1, DNS:localhost' "$(utc_time $((-100 * DAY)))" "$(utc_time $((-1 * DAY)))"
	# Only the dates are wrong: the chain and the name verify once time is not checked.
	openssl verify -no_check_time -verify_ip 127.0.0.1 -CAfile "$CA/ca.pem" "$CA/server.pem" >/dev/null ||
		die "the expired server certificate is wrong in more than its dates"
	! openssl verify -CAfile "$CA/ca.pem" "$CA/server.pem" >/dev/null 2>&1 || die "the server certificate is not expired"
	ca_start --autopay
	run -i "$PIN"$'\n' renew_ukey renew --json
	assert_error 6 ca-untrusted
	assert_not_contains "$(cat "$T/ca.log")" simplereenroll "the CA's log"
	assert_old_pair_works
	ca_stop
	cp "$T/good-server.pem" "$CA/server.pem"
	cp "$T/good-server.key" "$CA/server.key"
	ca_start --autopay
	resume_at "$CA_URL"
}

# The reference CA serves a certificate for the WRONG NAME (DNS:example.com only, valid, from its own CA key):
# exit 6 ca-untrusted, no request reaches it; the old pair works.
server_cert_wrong_name_untrusted() {
	refca_token 30
	remember_old_pair
	server_cert 'DNS:example.com' "$(utc_time $((-1 * DAY)))" "$(utc_time $((365 * DAY)))"
	# Only the name is wrong: the chain and the dates verify.
	openssl verify -CAfile "$CA/ca.pem" "$CA/server.pem" >/dev/null || die "the server certificate does not verify"
	! openssl verify -verify_ip 127.0.0.1 -CAfile "$CA/ca.pem" "$CA/server.pem" >/dev/null 2>&1 ||
		die "the server certificate is valid for 127.0.0.1"
	ca_start --autopay
	run -i "$PIN"$'\n' renew_ukey renew --json
	assert_error 6 ca-untrusted
	assert_not_contains "$(cat "$T/ca.log")" simplereenroll "the CA's log"
	assert_old_pair_works
	run -i "$PIN"$'\n' renew_ukey renew --abort
	expect_rc 0
	assert_one_working_pair
	assert_json '.certificates[0].serial' "\"$OLD_CERT\""
	assert_no_renewal_left
}

# ---------------------------------------------------------------- the key is pulled

# SoftHSM2 has no pull; moving the token's directory away is one (see badinput.sh): a process that has the token
# open gets CKR_GENERAL_ERROR from it, a new one does not see it. The key is pulled while ukey waits for the CA
# (stopped): the TLS handshake then needs the old key to sign, and cannot. Exit 5 token-removed (not a CA
# error); --resume without the key: exit 5 and nothing changes; re-inserted, --resume finishes with one pair.
token_pulled_while_waiting_for_ca() {
	ca_start --autopay
	refca_token 30
	remember_old_pair
	ca_pause
	renew_in_background
	wait_for_request
	local dir
	dir=$(token_dir "$SERIAL")
	mv "$dir" "$T/pulled-token"
	ca_continue
	finish_renewal
	assert_error 5 token-removed
	run -i "$PIN"$'\n' renew_ukey renew --resume --json
	assert_error 5 no-token
	mv "$T/pulled-token" "$dir"
	run ukey orders --json
	assert_json '.renewals[0].state' '"keypair"'
	assert_old_pair_works
	resume_at "$CA_URL"
}

# ---------------------------------------------------------------- the state store's disk is full
#
# The state dir is a 2 MiB tmpfs; "full" is a file filling it to ENOSPC. The journal is the renewal's memory: a
# renewal that cannot write it must not touch the key (or, mid-way, stop before the next step on the key).

mount_state_tmpfs() {
	mkdir -p "$STATE"
	mount -t tmpfs -o size=2m,mode=0700 ukey-test-state "$STATE" || die "mount -t tmpfs failed"
	STATE_MOUNTED=1
}
fill_state() {
	dd if=/dev/zero of="$STATE/filler" bs=64k 2>/dev/null || true
	[[ $(df --output=avail -B1 "$STATE" | tail -n1 | tr -d ' ') == 0 ]] || die "the state tmpfs is not full"
}
free_state() {
	rm -f "$STATE/filler"
}

# Full before the renewal starts: `ukey renew` refuses before the key is touched (the PIN try cannot be counted,
# R-P1, and the journal cannot be written): exit 1 state-unavailable, the key's objects exactly as they were, no
# journal; with space again, the renewal goes through.
disk_full_before_renewal_refused() {
	mount_state_tmpfs
	ca_start --autopay
	refca_token 30
	remember_old_pair
	status_json # the state db exists, as after any earlier use
	local before
	before=$(token_objects ukey-test)
	fill_state
	run -i "$PIN"$'\n' renew_ukey renew --json
	assert_error 1 state-unavailable
	assert_eq "$before" "$(token_objects ukey-test)" "the objects on the key"
	assert_old_pair_works
	free_state
	assert_no_renewal_left
	run -i "$PIN"$'\n' renew_ukey renew --json
	expect_rc 0
	assert_one_working_pair
}

# The disk fills while ukey waits for the CA (stopped): the certificate comes back but its journal record
# ("received") cannot be written, so ukey stops before writing it to the key: exit 1 state-unavailable, the old
# pair works; with space again, --resume gets the same certificate from the CA and finishes with one pair.
disk_full_mid_renewal_then_resume() {
	mount_state_tmpfs
	ca_start --autopay
	refca_token 30
	remember_old_pair
	ca_pause
	UKEY_DEBUG=store renew_in_background
	wait_for_request
	fill_state
	ca_continue
	finish_renewal
	assert_error 1 state-unavailable
	assert_contains "$ERR" "recording a renewal step: database or disk is full" "what failed (debug log)"
	cert_json
	assert_json '[.certificates[].serial]' "[\"$OLD_CERT\"]"
	assert_old_pair_works
	free_state
	resume_at "$CA_URL"
}

run_case "$@"
