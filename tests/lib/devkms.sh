# SPDX-License-Identifier: Apache-2.0
# Test helpers for kiln dev-kms: start one on a random port, the test credentials, Debian's clients.

# Debian's awscli and python3-boto3 (not whatever else is first on PATH).
DEVKMS_AWS=${KILN_TEST_AWS:-/usr/bin/aws}
DEVKMS_PY=${KILN_TEST_PYTHON:-/usr/bin/python3}

# devkms_start STATE_DIR [ARGS...]: runs dev-kms in the background on a free
# random port in 20000-29999 of $DEVKMS_HOST (default 127.0.0.1); sets
# DEVKMS_URL, DEVKMS_PORT, DEVKMS_PID, DEVKMS_LOG and exports the client
# settings (test credentials, CA bundle, region).
devkms_start() {
	local dir=$1 port try host=${DEVKMS_HOST:-127.0.0.1}
	shift
	mkdir -p "$dir"
	DEVKMS_LOG=$dir.log
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 10000))
		: >"$DEVKMS_LOG" # before the background job opens it: the wait below reads it
		kiln dev-kms --listen "$host:$port" --state-dir "$dir" "$@" >"$DEVKMS_LOG" 2>&1 &
		DEVKMS_PID=$!
		# Ready when it prints its listening line (or gone when the port was taken).
		while kill -0 "$DEVKMS_PID" 2>/dev/null && ! grep -q "listening on" "$DEVKMS_LOG"; do
			sleep 0.05
		done
		if grep -q "listening on" "$DEVKMS_LOG"; then
			defer "kill $DEVKMS_PID"
			DEVKMS_URL=https://$host:$port
			DEVKMS_PORT=$port
			export AWS_ACCESS_KEY_ID=AKIDEVKMSTEST0000000
			export AWS_SECRET_ACCESS_KEY=devkms-test-secret-key-not-for-production
			export AWS_CA_BUNDLE=$dir/ca.pem AWS_DEFAULT_REGION=us-east-1
			export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
			unset AWS_PROFILE AWS_SESSION_TOKEN
			return 0
		fi
		grep -q "Address already in use" "$DEVKMS_LOG" || fail "dev-kms did not start: $(cat "$DEVKMS_LOG")"
	done
	fail "dev-kms: no free port"
}
