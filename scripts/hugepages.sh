#!/usr/bin/env bash
# Reserves 512 2 MiB hugepages (1 GiB) and mounts hugetlbfs at /dev/hugepages when it is
# not mounted. Never lowers an existing reservation. Optional: rvsd also runs with
# --no-huge; exits non-zero (changing nothing else) when hugepages are unavailable.
set -euo pipefail

want=${HUGEPAGES:-512}
sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages

if [ ! -w "$sysfs" ]; then
	echo "hugepages: $sysfs not writable (not root, or no 2 MiB hugepage support)" >&2
	exit 1
fi
have=$(cat "$sysfs")
if [ "$have" -lt "$want" ]; then
	echo "$want" >"$sysfs"
	have=$(cat "$sysfs")
fi
if [ "$have" -lt "$want" ]; then
	echo "hugepages: only $have of $want 2 MiB pages could be reserved (memory fragmented?)" >&2
	exit 1
fi

if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
fi
free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
echo "hugepages: $have x 2 MiB reserved ($free free), hugetlbfs at /dev/hugepages"
