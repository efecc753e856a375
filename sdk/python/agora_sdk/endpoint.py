"""Contacting the endpoints neurons announce on chain (docs/security.md, "Endpoints are hosts, not
URLs").

The chain refuses private addresses and local names as endpoints unless its genesis allows
them (``GET /v1/incentive``: ``allow_private_endpoints``, true on devnets), but it cannot see
what a name resolves to. ``post`` resolves the host itself, refuses the addresses the chain
refuses as literals (loopback, private, shared, link-local, multicast, reserved, IPv4-mapped)
when ``public_only``, and connects to the very address it checked, as the C neurons do."""
from __future__ import annotations

import http.client
import ipaddress
import socket
from typing import Any, Dict, Mapping, Optional

_PRIVATE = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
    "::/96", "::ffff:0:0/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32")]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class PrivateAddressError(OSError):
    """The endpoint's host resolves only to addresses this chain's endpoints may not have."""


def is_private(addr: str) -> bool:
    """True for an address inside someone's network (the ranges endpoint.c refuses), or an IPv6
    form a translator turns into one (NAT64, 6to4)."""
    ip = ipaddress.ip_address(addr.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64:
            return is_private(str(ipaddress.IPv4Address(ip.packed[12:])))
        if ip.sixtofour is not None:
            return is_private(str(ip.sixtofour))
    return any(ip.version == n.version and ip in n for n in _PRIVATE)


def url(ep: Mapping[str, Any]) -> str:
    """The URL of a metagraph endpoint {"host", "port"} (brackets around an IPv6 host)."""
    host = str(ep["host"])
    return f"http://[{host}]:{ep['port']}" if ":" in host else f"http://{host}:{ep['port']}"


def post(ep: Mapping[str, Any], path: str, body: bytes, headers: Optional[Dict[str, str]] = None,
         public_only: bool = True, timeout: float = 30.0) -> bytes:
    """POSTs body to an announced endpoint; the response body on HTTP 200, else an
    http.client.HTTPException naming the status. PrivateAddressError when public_only and every
    address the host resolves to is private; OSError when none answers."""
    host, port = str(ep["host"]), int(ep["port"])
    refused, last = [], None
    for family, _, _, _, sa in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        addr = str(sa[0])
        if public_only and is_private(addr):
            refused.append(addr)
            continue
        conn = http.client.HTTPConnection(addr, port, timeout=timeout)
        try:
            conn.request("POST", path, body, {"Host": url(ep)[7:], "Content-Type": "application/json", **(headers or {})})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise http.client.HTTPException(f"HTTP {r.status}: {data[:200]!r}")
            return data
        except OSError as e:
            last = e
        finally:
            conn.close()
    if last is None and refused:
        raise PrivateAddressError(f"{host} resolves to {refused[0]}, a loopback, private, link-local or reserved "
                                  "address; this chain's endpoints must be public")
    raise last or OSError(f"{host} resolves to no address")
