#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 100 crash rounds of encrypted storage (SIGKILL mid-workload, fsync'd writes must survive).
KILN_STORAGE_CRASH_ROUNDS=100 exec bash "$(dirname "$0")/../integration/storage_crash.sh" "$@"
