#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# EKS launch-template user data for enclave nodes (the alternative to the chart's
# nodeSetup DaemonSet): Nitro Enclaves allocator with CPU_COUNT vCPUs and
# MEMORY_MIB MiB (reserved as hugepages), before the kubelet starts, so it
# counts those hugepages. Put it in a MIME part of the launch template's user
# data (docs/kubernetes.md); EKS runs the bootstrap after it. The node group's
# labels and taint (aws-nitro-enclaves-k8s-dp=enabled,
# enclave.kiln/nitro=true:NoSchedule) are set on the node group itself.
set -euo pipefail
CPU_COUNT=${CPU_COUNT:-2}
MEMORY_MIB=${MEMORY_MIB:-2048}
ALLOCATOR=/etc/nitro_enclaves/allocator.yaml

if command -v dnf >/dev/null; then
	dnf install -y aws-nitro-enclaves-cli
else
	amazon-linux-extras install -y aws-nitro-enclaves-cli
fi
sed -i "s/^cpu_count:.*/cpu_count: $CPU_COUNT/; s/^memory_mib:.*/memory_mib: $MEMORY_MIB/" "$ALLOCATOR"
systemctl enable nitro-enclaves-allocator.service
systemctl restart nitro-enclaves-allocator.service
echo "kiln: allocator ready: $CPU_COUNT vCPUs, $MEMORY_MIB MiB"
