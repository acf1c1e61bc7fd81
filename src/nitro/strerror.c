/* SPDX-License-Identifier: Apache-2.0 */
/* Readable messages, with the fix where there is one, for the Nitro driver's NE_ERR_* codes. */
#include "nitro/nitro.h"

#include <linux/nitro_enclaves.h>

#define ALLOCATOR \
	"/etc/nitro_enclaves/allocator.yaml and restart nitro-enclaves-allocator"

const char *kiln_nitro_strerror(int ne_err)
{
	switch (ne_err) {
	case NE_ERR_VCPU_ALREADY_USED:
		return "invalid CPU: the vCPU is already used by another enclave";
	case NE_ERR_VCPU_NOT_IN_CPU_POOL:
		return "invalid CPU: the CPU pool is not configured for this CPU "
		       "(set cpu_count or cpu_pool in " ALLOCATOR ")";
	case NE_ERR_VCPU_INVALID_CPU_CORE:
		return "invalid CPU: its core is invalid or outside the enclave CPU pool";
	case NE_ERR_INVALID_MEM_REGION_SIZE:
		return "memory region size is not a multiple of 2 MiB";
	case NE_ERR_INVALID_MEM_REGION_ADDR:
		return "memory region address range is invalid";
	case NE_ERR_UNALIGNED_MEM_REGION_ADDR:
		return "memory region address is not aligned to its hugepage size";
	case NE_ERR_MEM_REGION_ALREADY_USED:
		return "memory region is already used by an enclave";
	case NE_ERR_MEM_NOT_HUGE_PAGE:
		return "memory is not backed by contiguous hugepages: reserve hugepages "
		       "in " ALLOCATOR " (or set nr_hugepages)";
	case NE_ERR_MEM_DIFFERENT_NUMA_NODE:
		return "hugepages are on another NUMA node than the enclave CPU pool: reserve "
		       "them on the pool's node "
		       "(/sys/devices/system/node/nodeN/hugepages/*/nr_hugepages)";
	case NE_ERR_MEM_MAX_REGIONS:
		return "too many memory regions for the driver: reserve 1 GiB hugepages "
		       "(fewer, larger regions) or request less memory";
	case NE_ERR_NO_MEM_REGIONS_ADDED:
		return "cannot start: no memory regions were added";
	case NE_ERR_NO_VCPUS_ADDED:
		return "cannot start: no vCPUs were added";
	case NE_ERR_ENCLAVE_MEM_MIN_SIZE:
		return "enclave memory is below the driver's minimum (64 MiB): request more memory";
	case NE_ERR_FULL_CORES_NOT_USED:
		return "vCPUs do not make up full CPU cores: request both hyperthreads of "
		       "each core (an even CPU count on most instances)";
	case NE_ERR_NOT_IN_INIT_STATE:
		return "the enclave is no longer being set up (already started or terminated)";
	case NE_ERR_INVALID_VCPU:
		return "invalid CPU: the id is outside the instance's CPUs";
	case NE_ERR_NO_CPUS_AVAIL_IN_POOL:
		return "no free CPUs in the enclave CPU pool: request fewer CPUs, or set "
		       "cpu_count in " ALLOCATOR;
	case NE_ERR_INVALID_PAGE_SIZE:
		return "memory is not backed by pages whose size is a multiple of 2 MiB";
	case NE_ERR_INVALID_FLAG_VALUE:
		return "the driver refused a flags value (kernel too old for this request?)";
	case NE_ERR_INVALID_ENCLAVE_CID:
		/* ne_misc_dev.c NE_START_ENCLAVE: 1, 2 (well known), 3 (the
		 * parent VM), U32_MAX and above; 0 is "choose one" */
		return "invalid enclave CID: 1 and 2 are well-known vsock CIDs, 3 is the parent "
		       "instance's, 4294967295 and above do not fit; use 4 .. 4294967294, or 0 "
		       "to let the hypervisor choose";
	default:
		return NULL;
	}
}
