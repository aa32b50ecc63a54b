#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one token-layer case on two fresh SoftHSM2 tokens (RSA-2048 and EC P-256) in a temp dir.
set -euo pipefail
case=$1 bin=$2 mktoken=$3 module=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export SOFTHSM2_CONF=$dir/softhsm2.conf UKEY_SOFTHSM_MODULE=$module
rsa=$("$mktoken" --label rsa --pin 123456 "$dir")
ec=$("$mktoken" --label ec --key ec --pin 123456 "$dir")
"$bin" "$case" "$module" 123456 "$rsa" "$ec" "$dir/certs"
