/* endpoint.h — what a neuron may announce as its endpoint, and which addresses are private.
 * Kept apart from incentive.h so that the HTTP client (api/http.c) can refuse to connect to a
 * private address without taking in the state machine. */
#ifndef AGORA_INCENTIVE_ENDPOINT_H
#define AGORA_INCENTIVE_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

/* Checks an announced endpoint host (endpoint.c): a host name, an IPv4 literal or an IPv6
 * literal (no brackets), and unless allow_private, not a loopback, private, link-local or
 * reserved address nor a local name. 0 or AG_E_BAD_ENDPOINT with a message. */
int ag_endpoint_check(const char *host, size_t len, int allow_private);
/* "http://host:port", with brackets around an IPv6 host. */
void ag_endpoint_url(const char *host, unsigned port, char *out, size_t cap);
/* 1 when an address (4 bytes IPv4 or 16 bytes IPv6, network order) is loopback, private,
 * link-local, shared, multicast, reserved or IPv4-mapped (the ranges ag_endpoint_check refuses
 * as literals), or an IPv6 form a translator turns into such an IPv4 address (NAT64 of one,
 * 6to4 of one, IPv4-compatible ::/96, the local-use NAT64 prefix). For connections only: the
 * chain's rule for literals stays as it is. 0 for a public address (or another length). */
int ag_endpoint_addr_private(const uint8_t *addr, size_t len);

#endif
