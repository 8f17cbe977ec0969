"""This machine's loopback: the address every server of the project binds unless told
otherwise, and the test of whether an address names this machine only."""

from __future__ import annotations

import ipaddress

HOST = "127.0.0.1"  # what `make ui`, `make server` and `make serve` bind: nothing else reaches it


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IPv4/IPv6 address, brackets allowed) is this machine's
    loopback: ``localhost``, 127.0.0.0/8, ::1 or an IPv4-mapped loopback (::ffff:127.0.0.1)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:  # another host name
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # IPv6 only
    return ip.is_loopback or bool(mapped and mapped.is_loopback)
