#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# PostgreSQL on encrypted storage (the FUSE frontend over the storage channel, on this host):
# initdb, pgbench -i, pgbench -T, stop, unmount and remount, start, pgbench again, row count.
source "$(dirname "$0")/../lib/common.sh"
B=$KILN_ROOT/build/tools
PG=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || skip "needs root and /dev/fuse"
[ -n "$PG" ] && [ -x "$PG/pgbench" ] && id postgres >/dev/null 2>&1 ||
	skip "PostgreSQL is not installed (scripts/deps)"
SECS=${KILN_PG_SECS:-10}
S=$T/store M=$T/mnt SOCK=$T/sock
mkdir -p "$S" "$M" "$SOCK"
chmod 755 "$T"
chown postgres "$SOCK"
PORT=$((20000 + RANDOM % 10000))
defer 'runuser -u postgres -- "$PG/pg_ctl" -D "$M/pg" -m immediate stop >/dev/null 2>&1'
defer 'umount -l "$M" 2>/dev/null'

mnt() {
	: >"$T/mount.out"
	"$B/kiln_fs_mount" --channel "$@" "$S" "$M" >>"$T/mount.out" 2>>"$T/mount.err" &
	MPID=$!
	for _ in $(seq 600); do grep -q " $M fuse.kiln " /proc/mounts && return 0; \
		kill -0 $MPID 2>/dev/null || return 1; sleep 0.05; done
	return 1
}
pg() { runuser -u postgres -- "$@"; }
start() {
	pg "$PG/pg_ctl" -D "$M/pg" -l "$SOCK/pg.log" -w -t 120 \
		-o "-k $SOCK -p $PORT -c listen_addresses=''" start >/dev/null ||
		fail "postgres did not start: $(tail -5 "$SOCK/pg.log")"
}
bench() { # pgbench -T SECS: no failed transactions
	pg "$PG/pgbench" -h "$SOCK" -p "$PORT" -T "$SECS" postgres >"$T/bench.out" 2>&1 ||
		fail "pgbench: $(tail -5 "$T/bench.out")"
	grep -E "^(number of failed transactions: 0|tps)" "$T/bench.out" | head -2
}

# pg_ctl -w returns once the postmaster's pid file is gone; its last
# children may still be leaving the mount (EBUSY) for a moment under load.
unmount() {
	local i
	for i in $(seq 50); do
		umount "$M" 2>/dev/null && { wait $MPID; return; }
		sleep 0.1
	done
	umount "$M" && wait $MPID
}
mnt --create || fail "mount: $(cat "$T/mount.err")"
mkdir "$M/pg" && chown postgres "$M/pg" && chmod 700 "$M/pg"
pg "$PG/initdb" -D "$M/pg" -A trust >"$T/initdb.log" 2>&1 || fail "initdb: $(tail -5 "$T/initdb.log")"
start
pg "$PG/pgbench" -h "$SOCK" -p "$PORT" -i -s 2 postgres >"$T/init.out" 2>&1 ||
	fail "pgbench -i: $(tail -5 "$T/init.out")"
bench
pg "$PG/pg_ctl" -D "$M/pg" -w stop >/dev/null || fail "postgres stop"
unmount || fail "unmount: $(tail -2 "$T/mount.err")"

mnt || fail "remount: $(cat "$T/mount.err")"
start
bench
n=$(pg "$PG/psql" -h "$SOCK" -p "$PORT" -At -c 'select count(*) from pgbench_accounts' postgres)
assert_eq "$n" 200000 "pgbench_accounts rows after the remount"
pg "$PG/pg_ctl" -D "$M/pg" -w stop >/dev/null || fail "postgres stop"
unmount || fail "final unmount: $(tail -2 "$T/mount.err")"
echo "postgres on encrypted storage: initdb, pgbench, remount, pgbench ok"
