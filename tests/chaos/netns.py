"""Two test hosts on this machine: network namespaces joined to the host by veth pairs.

Each host reaches the database through a small TCP proxy listening on the host side of
its veth pair (the database itself listens on 127.0.0.1 only). Cutting a host means
taking its veth link down: packets are dropped, as when a cable is pulled, and nothing
tells either side.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import threading
from dataclasses import dataclass, field


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=30)


@dataclass
class NetnsHost:
    name: str
    index: int
    host_ip: str
    guest_ip: str
    veth_host: str
    veth_guest: str

    def create(self) -> None:
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_guest)
        run("ip", "link", "set", self.veth_guest, "netns", self.name)
        run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.veth_host)
        run("ip", "link", "set", self.veth_host, "up")
        run(
            "ip",
            "netns",
            "exec",
            self.name,
            "ip",
            "addr",
            "add",
            f"{self.guest_ip}/24",
            "dev",
            self.veth_guest,
        )
        run("ip", "netns", "exec", self.name, "ip", "link", "set", self.veth_guest, "up")
        run("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def destroy(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.veth_host], capture_output=True, timeout=30)

    def cut(self) -> None:
        run("ip", "link", "set", self.veth_host, "down")

    def restore(self) -> None:
        run("ip", "link", "set", self.veth_host, "up")

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]


def remove_stale_hosts() -> None:
    """Namespaces and links left by a run that was killed before its clean-up."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    for line in listing.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if re.fullmatch(r"tw\d+h\d+", name):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
            subprocess.run(["ip", "link", "del", f"{name}a"], capture_output=True, timeout=30)


def make_hosts(count: int) -> list[NetnsHost]:
    remove_stale_hosts()
    tag = os.getpid() % 10_000
    hosts = []
    for i in range(count):
        subnet = 200 + i
        hosts.append(
            NetnsHost(
                name=f"tw{tag}h{i}",
                index=i,
                host_ip=f"10.231.{subnet}.1",
                guest_ip=f"10.231.{subnet}.2",
                veth_host=f"tw{tag}h{i}a",
                veth_guest=f"tw{tag}h{i}b",
            )
        )
    return hosts


@dataclass
class TcpProxy:
    """Forward ``listen_ip:listen_port`` to ``target``; a thread per direction per link."""

    listen_ip: str
    listen_port: int
    target: tuple[str, int]
    _server: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.listen_ip, self.listen_port))
        server.listen(64)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sockets = [a, b]
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select(sockets, [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
