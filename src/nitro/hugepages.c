/* SPDX-License-Identifier: Apache-2.0 */
/* The hugepage sizes a host offers, read from sysfs, as the enclave memory allocator uses them. */
#include "nitro/nitro.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/*
 * Where the kernel lists its hugepage sizes: one directory per registered
 * size, "hugepages-<N>kB", globally and again per NUMA node (the directory
 * AWS's nitro-enclaves-allocator reserves in). On x86_64 that is 2 MiB and
 * 1 GiB; on arm64 with 4K pages 64K, 2M, 32M and 1G; with 64K pages 2M,
 * 512M and 16G.
 */
#define GLOBAL_DIR "/kernel/mm/hugepages"
#define NODES_DIR "/devices/system/node"

/* Used when sysfs lists nothing (no hugetlbfs, or a bare test tree): every
 * size nitro-cli tries, largest first (resource_manager.rs HUGE_PAGE_MAP). */
static const uint64_t nitro_cli_sizes[] = {
	UINT64_C(16) << 30, UINT64_C(2) << 30, UINT64_C(1) << 30, UINT64_C(512) << 20,
	UINT64_C(256) << 20, UINT64_C(32) << 20, UINT64_C(16) << 20, UINT64_C(8) << 20,
	UINT64_C(2) << 20,
};

/* "hugepages-2048kB" -> 2 MiB; 0 for anything else (names are the kernel's,
 * but parsed strictly all the same). */
static uint64_t dir_page_size(const char *name)
{
	uint64_t kb = 0;
	const char *p = name + strlen("hugepages-");
	size_t digits = 0;

	if (strncmp(name, "hugepages-", strlen("hugepages-")) != 0)
		return 0;
	for (; *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
		kb = kb * 10 + (uint64_t)(*p - '0');
	if (digits == 0 || digits == 12 || strcmp(p, "kB") != 0)
		return 0;
	return kb << 10;
}

/* The driver takes only pages of at least 2 MiB, a multiple of 2 MiB
 * (NE_ERR_INVALID_PAGE_SIZE otherwise); mmap needs a power of two. */
bool kiln_nitro_page_size_usable(uint64_t size)
{
	return size >= KILN_NITRO_PAGE_2M && (size & (size - 1)) == 0;
}

/* Insert size into the descending list sizes[0..*n) unless it is there. */
static void add_size(uint64_t *sizes, size_t max, size_t *n, uint64_t size)
{
	size_t i = 0;

	while (i < *n && sizes[i] > size)
		i++;
	if ((i < *n && sizes[i] == size) || *n == max)
		return;
	memmove(&sizes[i + 1], &sizes[i], (*n - i) * sizeof(*sizes));
	sizes[i] = size;
	(*n)++;
}

static void scan_dir(const char *path, uint64_t *sizes, size_t max, size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		uint64_t size = dir_page_size(e->d_name);

		if (kiln_nitro_page_size_usable(size))
			add_size(sizes, max, n, size);
	}
	closedir(d);
}

/* Every node's hugepages directory: sizes a node lists count even when the
 * global directory is missing (as in a minimal sysfs tree). */
static void scan_nodes(const char *sysfs, uint64_t *sizes, size_t max, size_t *n)
{
	char path[512];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s" NODES_DIR, sysfs);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		unsigned node;
		char end;

		if (sscanf(e->d_name, "node%u%c", &node, &end) != 1)
			continue;
		snprintf(path, sizeof(path), "%s" NODES_DIR "/node%u/hugepages", sysfs, node);
		scan_dir(path, sizes, max, n);
	}
	closedir(d);
}

size_t kiln_nitro_hugepage_sizes(const char *sysfs, uint64_t *sizes, size_t max)
{
	char path[512];
	size_t n = 0;

	if (!sysfs)
		sysfs = "/sys";
	snprintf(path, sizeof(path), "%s" GLOBAL_DIR, sysfs);
	scan_dir(path, sizes, max, &n);
	scan_nodes(sysfs, sizes, max, &n);
	if (n > 0)
		return n;
	for (size_t i = 0; i < sizeof(nitro_cli_sizes) / sizeof(nitro_cli_sizes[0]) && n < max; i++)
		sizes[n++] = nitro_cli_sizes[i];
	return n;
}
