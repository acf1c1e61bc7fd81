#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 10,000 concurrent egress flows held in a sim enclave; RSS growth < 64 KiB per flow.
KILN_FLOWS=10000 KILN_FLOWS_HOLD_S=10 exec bash "$(dirname "$0")/../integration/net_flows.sh" "$@"
