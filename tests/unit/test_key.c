// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The user-space key builder must produce what the BPF side stores. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "key.h"
#include "unit.h"

static struct sockaddr_in v4(const char *a, unsigned short port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a, unsigned short port)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

int main(void)
{
	struct sockaddr_in l4 = v4("127.0.0.1", 47002), r4 = v4("127.0.0.2", 47001);
	struct sockaddr_in6 l6 = v6("::1", 5000), r6 = v6("::1", 6000);
	struct sockaddr_in6 lm = v6("::ffff:127.0.0.1", 47002), rm = v6("::ffff:127.0.0.2", 47001);
	struct sa_sock_key k, km, peer, back;
	struct sockaddr_un { sa_family_t f; char p[8]; } un = { AF_UNIX, "x" };

	CHECK_EQ(sa_key_from_addrs((struct sockaddr *)&l4, (struct sockaddr *)&r4, 7, &k), 0, "v4");
	CHECK_EQ(k.family, SA_AF_INET, "family");
	CHECK_EQ(k.sport, 47002, "sport host order");
	CHECK_EQ(k.dport, 47001, "dport host order");
	CHECK_EQ(k.sip[0], htonl(0x7f000001), "sip network order");
	CHECK_EQ(k.dip[0], htonl(0x7f000002), "dip network order");
	CHECK(k.sip[1] == 0 && k.sip[2] == 0 && k.sip[3] == 0 && k.pad == 0, "rest zero");
	CHECK_EQ(k.netns, 7, "netns cookie");

	/* A dual-stack listener's child (v4-mapped) must key like the v4 peer. */
	CHECK_EQ(sa_key_from_addrs((struct sockaddr *)&lm, (struct sockaddr *)&rm, 7, &km), 0,
		 "v4-mapped");
	CHECK(memcmp(&k, &km, sizeof(k)) == 0, "v4-mapped normalised to AF_INET, byte-identical");

	CHECK_EQ(sa_key_from_addrs((struct sockaddr *)&l6, (struct sockaddr *)&r6, 9, &k), 0, "v6");
	CHECK_EQ(k.family, SA_AF_INET6, "v6 family");
	CHECK_EQ(k.sip[3], htonl(1), "::1 last word");
	CHECK_EQ(k.sport, 5000, "v6 sport");

	sa_key_mirror(&k, &peer);
	CHECK_EQ(peer.sport, 6000, "mirror swaps ports");
	CHECK_EQ(peer.dport, 5000, "mirror swaps ports");
	CHECK_EQ(peer.netns, 9, "mirror keeps netns");
	sa_key_mirror(&peer, &back);
	CHECK(memcmp(&k, &back, sizeof(k)) == 0, "mirror twice is identity");

	CHECK_EQ(sa_key_from_addrs((struct sockaddr *)&un, (struct sockaddr *)&r4, 0, &k),
		 -EAFNOSUPPORT, "AF_UNIX refused");
	CHECK_EQ(sa_key_from_addrs((struct sockaddr *)&l4, (struct sockaddr *)&r6, 0, &k),
		 -EAFNOSUPPORT, "mixed families refused");
	return unit_done("test_key");
}
