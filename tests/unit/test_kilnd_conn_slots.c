/* SPDX-License-Identifier: Apache-2.0 */
/* kd_conn_slots: full tables refuse, concurrent claims never share a slot, stops with live connections. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "kilnd/conn_slots.h"
#include "t.h"

/* The owner: counts served and ended connections, and whether (and when) it was freed. */
struct owner {
	struct kd_conn_slots cs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int serving, ended, freed, ended_at_free;
};

static void serve(void *arg, int fd)
{
	struct owner *o = arg;
	char b;

	pthread_mutex_lock(&o->lock);
	o->serving++;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	/* An echo until EOF: the connection stays live until its peer or a stop ends it. */
	while (read(fd, &b, 1) == 1 && write(fd, &b, 1) == 1)
		;
	pthread_mutex_lock(&o->lock);
	o->ended++;
	pthread_mutex_unlock(&o->lock);
}

static void owner_free(void *arg)
{
	struct owner *o = arg;

	pthread_mutex_lock(&o->lock);
	o->freed++;
	o->ended_at_free = o->ended;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

static const struct kd_conn_ops ops = { .serve = serve, .free = owner_free };

static void owner_init(struct owner *o, int n)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	kd_conn_slots_init(&o->cs, n, &ops, o);
}

/* Until *field reaches want; false after 30 s (a hang, never a timing verdict). */
static bool wait_for(struct owner *o, const int *field, int want)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&o->lock);
	while (*field < want && rc == 0)
		rc = pthread_cond_timedwait(&o->cond, &o->lock, &until);
	rc = *field >= want;
	pthread_mutex_unlock(&o->lock);
	return rc;
}

static int freed(struct owner *o)
{
	int f;

	pthread_mutex_lock(&o->lock);
	f = o->freed;
	pthread_mutex_unlock(&o->lock);
	return f;
}

static bool echoes(int fd)
{
	char b = 'x';

	return write(fd, &b, 1) == 1 && read(fd, &b, 1) == 1 && b == 'x';
}

TEST(full_table_refuses)
{
	static struct owner o;
	int slot;

	owner_init(&o, 4);
	for (int i = 0; i < 4; i++)
		CHECK(kd_conn_slots_claim(&o.cs, 100 + i) == i);
	CHECK(kd_conn_slots_claim(&o.cs, 104) == -EBUSY);
	CHECK(o.cs.refs == 5);
	kd_conn_slots_release(&o.cs, 2);
	slot = kd_conn_slots_claim(&o.cs, 105);
	CHECK(slot == 2 && o.cs.fd[2] == 105);
	CHECK(kd_conn_slots_claim(&o.cs, 106) == -EBUSY);
	for (int i = 0; i < 4; i++)
		kd_conn_slots_release(&o.cs, i);
	CHECK(o.cs.refs == 1 && freed(&o) == 0);
	/* More than the table holds is cut to the table. */
	CHECK(o.cs.n == 4);
	kd_conn_slots_unref(&o.cs);
	CHECK(freed(&o) == 1);

	owner_init(&o, KD_CONN_SLOTS_MAX + 5);
	CHECK(o.cs.n == KD_CONN_SLOTS_MAX);
	kd_conn_slots_unref(&o.cs);
	CHECK(freed(&o) == 1);
}

#define RACERS 16
#define ROUNDS 3000
#define RACE_SLOTS 3

static struct owner race;
static atomic_int holder[RACE_SLOTS]; /* who holds each slot: 0 free, else racer + 1 */
static atomic_int held, most_held, clashes, refused;

static void *racer(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (int r = 0; r < ROUNDS; r++) {
		int expect = 0, slot = kd_conn_slots_claim(&race.cs, 1000 + me), now;

		if (slot < 0) {
			atomic_fetch_add(&refused, 1);
			continue;
		}
		if (slot >= RACE_SLOTS || !atomic_compare_exchange_strong(&holder[slot], &expect, me + 1)) {
			atomic_fetch_add(&clashes, 1);
			continue;
		}
		now = atomic_fetch_add(&held, 1) + 1;
		for (int m = atomic_load(&most_held); now > m;)
			if (atomic_compare_exchange_weak(&most_held, &m, now))
				break;
		sched_yield(); /* hold it a while: others find the table full */
		atomic_fetch_sub(&held, 1);
		atomic_store(&holder[slot], 0);
		kd_conn_slots_release(&race.cs, slot);
	}
	return NULL;
}

/* Many threads claiming and releasing: a slot is never handed to two, the count ends where it began. */
TEST(concurrent_claims)
{
	pthread_t t[RACERS];

	owner_init(&race, RACE_SLOTS);
	for (int i = 0; i < RACERS; i++)
		CHECK(pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&clashes) == 0);
	CHECK(atomic_load(&most_held) >= 1 && atomic_load(&most_held) <= RACE_SLOTS);
	CHECK(race.cs.refs == 1 && freed(&race) == 0);
	for (int i = 0; i < RACE_SLOTS; i++)
		CHECK(race.cs.fd[i] == -1);
	fprintf(stderr, "  (%d claims refused while the table was full)\n", atomic_load(&refused));
	kd_conn_slots_unref(&race.cs);
	CHECK(freed(&race) == 1);
}

/* A connection in its own thread; the test's end of it in *peer. */
static int adopt_pair(struct owner *o, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	*peer = sv[0];
	return kd_conn_slots_adopt(&o->cs, sv[1]);
}

/* n connections being served in a table of slots. */
static void serve_n(struct owner *o, int slots, int *peer, int n)
{
	owner_init(o, slots);
	for (int i = 0; i < n; i++)
		CHECK(adopt_pair(o, &peer[i]) == 0);
	CHECK(wait_for(o, &o->serving, n));
}

/* A refused connection: -EBUSY, and its fd closed (the peer reads EOF). */
static void check_refused(struct owner *o)
{
	int extra[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, extra) == 0);
	CHECK(kd_conn_slots_adopt(&o->cs, extra[1]) == -EBUSY);
	CHECK(strstr(kiln_errmsg(), "too many connections or stopping") != NULL);
	CHECK(read(extra[0], &(char){ 0 }, 1) == 0);
	close(extra[0]);
}

/* A stop without cut refuses new connections and leaves the live ones to their peers' EOF. */
TEST(stop_keeps_live_connections)
{
	static struct owner o;
	int peer[3];

	serve_n(&o, 3, peer, 3);
	check_refused(&o); /* full */
	kd_conn_slots_stop(&o.cs, false);
	check_refused(&o);
	kd_conn_slots_unref(&o.cs); /* the owner's: the connections hold theirs */
	for (int i = 0; i < 3; i++)
		CHECK(echoes(peer[i]));
	CHECK(freed(&o) == 0);
	for (int i = 0; i < 3; i++)
		close(peer[i]);
	CHECK(wait_for(&o, &o.freed, 1));
	CHECK(o.freed == 1 && o.ended_at_free == 3);
}

/* A stop with cut shuts the live connections down; the owner goes with the last of them. */
TEST(stop_cuts_live_connections)
{
	static struct owner o;
	int peer[4];

	serve_n(&o, 8, peer, 4);
	kd_conn_slots_ref(&o.cs); /* as an acceptor would hold one */
	kd_conn_slots_stop(&o.cs, true);
	check_refused(&o); /* stopped, with free slots */
	for (int i = 0; i < 4; i++)
		CHECK(read(peer[i], &(char){ 0 }, 1) == 0);
	kd_conn_slots_unref(&o.cs); /* the acceptor's */
	kd_conn_slots_unref(&o.cs); /* the owner's */
	CHECK(wait_for(&o, &o.freed, 1));
	CHECK(o.freed == 1 && o.ended_at_free == 4);
	for (int i = 0; i < 4; i++)
		close(peer[i]);
}

int main(void)
{
	RUN(full_table_refuses);
	RUN(concurrent_claims);
	RUN(stop_keeps_live_connections);
	RUN(stop_cuts_live_connections);
	return t_done();
}
