# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# The reference CA (tests/ca) for a test case: made in the case's temp dir, started and stopped on a free loopback
# port. Sourced after lib.sh by lib-renew.sh (renewal) and revocation.sh. Environment: UKEY_REFCA_BIN.

[[ -x ${UKEY_REFCA_BIN:-} ]] || die "UKEY_REFCA_BIN is not set or not executable (run the tests through ctest)"
export UKEY_REFCA_BIN
CA=$T/ca
DAY=86400
"$UKEY_REFCA_BIN" init "$CA" >/dev/null || die "ukey-refca init failed"

# ca_start [serve options]: the CA on a free loopback port; sets CA_BASE (https://127.0.0.1:PORT), CA_URL (its
# EST base) and CA_PID.
ca_start() {
	local i
	: >"$T/ca.out"
	"$UKEY_REFCA_BIN" serve "$CA" --port 0 "$@" >"$T/ca.out" 2>>"$T/ca.log" &
	CA_PID=$!
	BG_PIDS+=("$CA_PID")
	for ((i = 0; i < 100; i++)); do
		if [[ $(head -n1 "$T/ca.out") =~ ^listening\ on\ (https://127\.0\.0\.1:[0-9]+)/$ ]]; then
			CA_BASE=${BASH_REMATCH[1]}
			CA_URL=$CA_BASE/.well-known/est
			return 0
		fi
		sleep 0.05
	done
	die "ukey-refca did not start: $(cat "$T/ca.log")"
}

ca_stop() {
	kill -TERM "$CA_PID" 2>/dev/null || true
	wait "$CA_PID" 2>/dev/null || true
}
