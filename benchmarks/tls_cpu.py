"""Server CPU of TLS by key type and cipher suite, with Python's ssl module on loopback.

What the cost profiles' TLS figures are made of (sizing/models/profile.py, the ``tls:``
and ``transports:`` blocks), measured on this machine:

1. Handshakes: a server thread accepts loopback TCP connections and completes
   the TLS handshake (``SSLContext.wrap_socket``), timed with the thread's own
   CPU clock (``time.thread_time``, so waiting for the client and other
   processes on the machine do not count): full handshakes, and resumed ones
   (a session ticket from the previous connection), for an RSA-2048 and an
   ECDSA P-256 server certificate (leaf + intermediate, ``sizing.models.tls.make_test_pki``),
   for each suite: TLS 1.3 AES-256-GCM and ChaCha20-Poly1305, TLS 1.2
   ECDHE with AES-256-GCM and with ChaCha20-Poly1305 (key exchange X25519).
   Python's ssl cannot choose TLS 1.3 suites, so each suite runs in a child
   process whose OpenSSL configuration (``OPENSSL_CONF``) sets them.
2. Record crypto: encrypting and decrypting application data through memory
   BIOs (no sockets), µs per 1000 bytes in 16 kB records, and per 800-byte
   record (a SIP message: the per-record work included).
3. Transport: a server thread receives an 800-byte message and sends it back
   (as a proxy receives one message and sends one), over UDP, TCP and TLS on
   loopback: server CPU per message, the share of TLS's extra cost that TCP
   already has.

    python benchmarks/tls_cpu.py [--handshakes 200] [--rounds 5] [--json OUT.json]
    python benchmarks/tls_cpu.py --derive data/measurements/tls-cpu-python-ssl.json

``--derive`` prints, from a saved ``--json`` run and the project's Kamailio
profile measured over UDP and TLS (``models/profiles/kamailio-5.6-stateful-proxy.yaml``),
the ``tls:`` and ``transports:`` blocks of each generic profile (the derivation
is :func:`derive`, and the profiles' comments repeat it). Figures move with
the machine and its load: medians are printed, with the interquartile range.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve import cpu_model  # noqa: E402

from sizing.models import tls as tls_model  # noqa: E402
from sizing.models.tls import HOSTNAME, ThrowawayPki, make_test_pki  # noqa: E402

KEYS = ("rsa", "ecdsa")
#: The project's suite names (sizing.models.tls.SUITES) -> (TLS version, OpenSSL TLS 1.3
#: ciphersuite or TLS 1.2 cipher list). Key exchange X25519 throughout (OpenSSL's default).
SUITES = {
    "tls1.3-aes-gcm": ("1.3", "TLS_AES_256_GCM_SHA384"),
    "tls1.3-chacha20-poly1305": ("1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    "tls1.2-aes-gcm": ("1.2", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384"),
    "tls1.2-chacha20-poly1305": ("1.2", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-CHACHA20-POLY1305"),
}
MESSAGE_BYTES = 800
"""A SIP message's size for the per-record and transport figures (an INVITE with SDP is 0.8-1 kB)."""
KAMAILIO_PROFILE = ROOT / "models" / "profiles" / "kamailio-5.6-stateful-proxy.yaml"
KAMAILIO_KEY, KAMAILIO_SUITE = "ecdsa", "tls1.3-aes-gcm"
"""What Kamailio's handshakes used: tests/interop/kamailio's self-signed P-256 certificate,
TLS 1.3 with OpenSSL's default suite (its log line "sizing-tls: TLSv1.3")."""
GENERIC = ("generic-stateful-proxy", "generic-registrar", "generic-b2bua", "generic-sbc",
           "generic-media-server")


# ---------------------------------------------------------------------------
# Measuring (in a child process per suite)
# ---------------------------------------------------------------------------


def _contexts(pki: ThrowawayPki, suite: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Client and server contexts of ``suite`` (TLS 1.3 suites come from OPENSSL_CONF)."""
    version, ciphers = SUITES[suite]
    return tls_model._contexts(pki, version, mutual=False,  # type: ignore[arg-type]
                               ciphers=ciphers if version == "1.2" else None,
                               encrypt_then_mac=True, num_tickets=2)


def _quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return {"median": median, "q1": q1, "q3": q3, "n": len(values)}


def handshakes(pki: ThrowawayPki, suite: str, n: int) -> dict[str, object]:
    """Server CPU µs of ``n`` full and ``n`` resumed handshakes on loopback TCP (each)."""
    cctx, sctx = _contexts(pki, suite)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    times: list[float] = []
    ciphers: set[str] = set()
    failure: list[BaseException] = []

    def serve(count: int) -> None:
        try:
            for _ in range(count):
                t0 = time.thread_time_ns()
                conn, _ = listener.accept()
                tls = sctx.wrap_socket(conn, server_side=True)  # the handshake
                times.append((time.thread_time_ns() - t0) / 1e3)
                tls.sendall(b"x")  # lets the client read the TLS 1.3 tickets
                tls.recv(1)
                tls.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the client side
            failure.append(exc)

    out: dict[str, object] = {}
    session = None
    for kind in ("warm-up", "full", "resumed"):
        count = 10 if kind == "warm-up" else n
        times.clear()
        server = threading.Thread(target=serve, args=(count,))
        server.start()
        resumed = 0
        for _ in range(count):
            with socket.create_connection(("127.0.0.1", port)) as raw:
                tls = cctx.wrap_socket(raw, server_hostname=HOSTNAME,
                                       session=session if kind == "resumed" else None)
                tls.recv(1)
                resumed += tls.session_reused
                ciphers.add(tls.cipher()[0])
                session = tls.session
                tls.sendall(b"y")
                tls.close()
        server.join()
        if failure:
            raise RuntimeError(f"{suite}: server failed: {failure[0]!r}")
        if kind == "resumed" and resumed != count:
            raise RuntimeError(f"{suite}: {count - resumed} of {count} handshakes did not resume")
        if kind != "warm-up":
            out[f"{kind}_us"] = list(times)
    listener.close()
    out["cipher"] = ", ".join(sorted(ciphers))
    return out


def record_crypto(pki: ThrowawayPki, suite: str, rounds: int = 5) -> dict[str, object]:
    """Encrypt and decrypt µs per 1000 bytes (16 kB records) and per MESSAGE_BYTES record."""
    pair = tls_model._Pair(*_contexts(pki, suite))
    pair.handshake()
    client, server = pair.client, pair.server
    out: dict[str, object] = {}
    for name, size, count in (("bulk", 16384, 2000), ("message", MESSAGE_BYTES, 20000)):
        data = b"s" * size
        enc: list[float] = []
        dec: list[float] = []
        for _ in range(rounds):
            t0 = time.thread_time_ns()
            for _ in range(count):
                client.write(data)
            t1 = time.thread_time_ns()
            pair.s_in.write(pair.c_out.read())
            t2 = time.thread_time_ns()
            got = 0
            while got < count * size:
                got += len(server.read(65536))
            t3 = time.thread_time_ns()
            unit = count * size / 1000 if name == "bulk" else count
            enc.append((t1 - t0) / 1e3 / unit)
            dec.append((t3 - t2) / 1e3 / unit)
        key = "per_kbyte_us" if name == "bulk" else f"per_{MESSAGE_BYTES}_bytes_us"
        out[f"encrypt_{key}"] = enc
        out[f"decrypt_{key}"] = dec
    return out


def transport_echo(pki: ThrowawayPki, suite: str, n: int = 2000) -> dict[str, float]:
    """Server CPU µs per MESSAGE_BYTES message received and sent back, by transport."""
    out: dict[str, float] = {}
    data = b"m" * MESSAGE_BYTES
    cctx, sctx = _contexts(pki, suite)
    for transport in ("udp", "tcp", "tls"):
        spent: list[int] = []
        if transport == "udp":
            server_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            server_sock.bind(("127.0.0.1", 0))
            address = server_sock.getsockname()

            def serve(sock: socket.socket = server_sock, spent: list[int] = spent) -> None:
                t0 = time.thread_time_ns()
                for _ in range(n):
                    msg, peer = sock.recvfrom(65536)
                    sock.sendto(msg, peer)
                spent.append(time.thread_time_ns() - t0)

            thread = threading.Thread(target=serve)
            thread.start()
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(n):
                client.sendto(data, address)
                client.recvfrom(65536)
            thread.join()
            client.close()
            server_sock.close()
        else:
            listener = socket.create_server(("127.0.0.1", 0))

            def serve_stream(tls: bool = transport == "tls", lsock: socket.socket = listener,
                             spent: list[int] = spent) -> None:
                conn, _ = lsock.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = sctx.wrap_socket(conn, server_side=True) if tls else conn
                t0 = time.thread_time_ns()
                for _ in range(n):
                    got = b""
                    while len(got) < MESSAGE_BYTES:
                        got += sock.recv(MESSAGE_BYTES - len(got))
                    sock.sendall(got)
                spent.append(time.thread_time_ns() - t0)
                sock.close()

            thread = threading.Thread(target=serve_stream)
            thread.start()
            raw = socket.create_connection(listener.getsockname())
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = cctx.wrap_socket(raw, server_hostname=HOSTNAME) if transport == "tls" else raw
            for _ in range(n):
                sock.sendall(data)
                got = b""
                while len(got) < MESSAGE_BYTES:
                    got += sock.recv(MESSAGE_BYTES - len(got))
            thread.join()
            sock.close()
            listener.close()
        out[f"{transport}_us"] = spent[0] / 1e3 / n
    return out


def worker(suite: str, pki_dirs: dict[str, str], n: int, echo: bool) -> dict[str, object]:
    pkis = {key: _load_pki(Path(d), key) for key, d in pki_dirs.items()}
    result: dict[str, object] = {"suite": suite, "version": SUITES[suite][0],
                                 "handshakes": {k: handshakes(pkis[k], suite, n) for k in KEYS},
                                 "records": record_crypto(pkis["rsa"], suite)}
    if echo:
        result["transport"] = transport_echo(pkis["rsa"], suite)
    return result


def _load_pki(directory: Path, key: str) -> ThrowawayPki:
    return ThrowawayPki(directory, key, directory / "ca.pem", directory / "chain.pem",  # type: ignore[arg-type]
                        directory / "leaf.key", ())


def _openssl_conf(directory: Path, ciphersuite: str) -> Path:
    """An OpenSSL configuration whose system default sets the TLS 1.3 ciphersuite."""
    path = directory / f"openssl-{ciphersuite}.cnf"
    path.write_text("openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
                    "[ssl_sect]\nsystem_default = system_default_sect\n"
                    f"[system_default_sect]\nCiphersuites = {ciphersuite}\n")
    return path


# ---------------------------------------------------------------------------
# Running, printing, deriving
# ---------------------------------------------------------------------------


def machine() -> str:
    model = cpu_model()
    virt = ""
    if shutil.which("systemd-detect-virt"):
        proc = subprocess.run(["systemd-detect-virt", "--vm"], capture_output=True, text=True,
                              check=False)
        virt = f", {proc.stdout.strip().upper()} guest" if proc.returncode == 0 else ""
    distro = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = ", " + line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} logical cores{virt}{distro}, Python "
            f"{platform.python_version()}, {ssl.OPENSSL_VERSION}")


def run(n: int, rounds: int) -> dict[str, object]:
    """``rounds`` rounds, each measuring every suite in turn (``n / rounds`` handshakes per
    case), so a change of the machine's load in between touches every suite alike."""
    raw: dict[str, list[dict]] = {suite: [] for suite in SUITES}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        dirs = {key: str(make_test_pki(base / key, key).directory) for key in KEYS}  # type: ignore[arg-type]
        for round_ in range(rounds):
            for suite, (version, ciphers) in SUITES.items():
                env = dict(os.environ)
                if version == "1.3":
                    env["OPENSSL_CONF"] = str(_openssl_conf(base, ciphers))
                args = [sys.executable, __file__, "--worker", suite, "--pki", json.dumps(dirs),
                        "--handshakes", str(max(n // rounds, 4))]
                if suite == "tls1.3-aes-gcm":
                    args.append("--echo")
                proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
                if proc.returncode:
                    raise SystemExit(f"{suite}: {proc.stderr.strip()}")
                raw[suite].append(json.loads(proc.stdout))
            print(f"round {round_ + 1} of {rounds} measured", file=sys.stderr)
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(), "handshakes_per_case": n, "rounds": rounds,
            "message_bytes": MESSAGE_BYTES,
            "command": "python benchmarks/tls_cpu.py " + " ".join(sys.argv[1:]),
            "suites": [_combine(parts) for parts in raw.values()]}


def _combine(parts: list[dict]) -> dict[str, object]:
    """One suite's rounds: quartiles of every handshake, medians of the crypto and echo rounds."""
    first = parts[0]
    out: dict[str, object] = {"suite": first["suite"], "version": first["version"], "handshakes": {}}
    for key in KEYS:
        out["handshakes"][key] = {  # type: ignore[index]
            f"{kind}_us": _quartiles([t for p in parts for t in p["handshakes"][key][f"{kind}_us"]])
            for kind in ("full", "resumed")}
        out["handshakes"][key]["cipher"] = first["handshakes"][key]["cipher"]  # type: ignore[index]
    out["records"] = {k: statistics.median([v for p in parts for v in p["records"][k]])
                      for k in first["records"]}
    if "transport" in first:
        out["transport"] = {k: statistics.median([p["transport"][k] for p in parts])
                            for k in first["transport"]}
    return out


def table(data: dict) -> str:
    lines = [f"{data['date']}, {data['machine']}",
             f"server CPU per handshake, µs: median (interquartile range) of {data['handshakes_per_case']}",
             "",
             f"{'suite':<26} {'key':<6} {'full':>22} {'resumed':>22} {'negotiated'}"]
    for s in data["suites"]:
        for key in KEYS:
            h = s["handshakes"][key]
            cells = [f"{h[k]['median']:>6.0f} ({h[k]['q1']:.0f}-{h[k]['q3']:.0f})"
                     for k in ("full_us", "resumed_us")]
            lines.append(f"{s['suite']:<26} {key:<6} {cells[0]:>22} {cells[1]:>22} {h['cipher']}")
    m = data["message_bytes"]
    lines += ["", "record crypto (memory BIOs): µs per 1000 B in 16 kB records; µs per "
              f"{m} B record", f"{'suite':<26} {'encrypt/kB':>11} {'decrypt/kB':>11} "
              f"{'encrypt/msg':>12} {'decrypt/msg':>12}"]
    for s in data["suites"]:
        r = s["records"]
        lines.append(f"{s['suite']:<26} {r['encrypt_per_kbyte_us']:>11.2f} "
                     f"{r['decrypt_per_kbyte_us']:>11.2f} {r[f'encrypt_per_{m}_bytes_us']:>12.2f} "
                     f"{r[f'decrypt_per_{m}_bytes_us']:>12.2f}")
    for s in data["suites"]:
        if "transport" in s:
            t = s["transport"]
            lines += ["", f"server CPU per {m} B message received and sent back (loopback, "
                      f"{s['suite']}): UDP {t['udp_us']:.1f} µs, TCP {t['tcp_us']:.1f} µs, "
                      f"TLS {t['tls_us']:.1f} µs"]
    return "\n".join(lines)


def _suite(data: dict, name: str) -> dict:
    return next(s for s in data["suites"] if s["suite"] == name)


def derive(data: dict, kamailio: dict, per_message_us: float) -> dict[str, object]:
    """The ``tls:`` and ``transports:`` blocks of a profile whose UDP message costs
    ``per_message_us``, from a run of this benchmark and the Kamailio profile fitted
    over UDP and TLS in one fit (one static load):

    - per message over TLS: Kamailio's TLS/UDP ratio, as a factor on every message;
    - over TCP: the same factor's extra times the share of TLS's extra CPU that TCP
      already has in this benchmark's loopback echo (connection handling, not crypto);
    - handshakes: this benchmark's crypto CPU for the key, suite and kind, plus the
      connection set-up Kamailio spends beyond its own handshake's crypto (its
      measured full handshake less this benchmark's for Kamailio's key and suite),
      scaled by the profile's message cost over Kamailio's (set-up is message-like
      work: accept, buffers, a worker), the same for full and resumed handshakes;
    - record crypto: this benchmark's encrypt + decrypt per 1000 B of the suite / 2
      (a host decrypts what it receives and encrypts what it sends; the simulator
      charges per byte received and per byte sent).
    """
    udp = kamailio["per_message_us"]["default"]
    tls_extra = kamailio["transports"]["tls"]["per_message_us"]
    factor = (udp + tls_extra) / udp
    echo = next(s["transport"] for s in data["suites"] if "transport" in s)
    tcp_share = max(0.0, (echo["tcp_us"] - echo["udp_us"]) / (echo["tls_us"] - echo["udp_us"]))
    kam_hs = kamailio["tls"]["handshake_full_us"]
    setup_kam = kam_hs - _suite(data, KAMAILIO_SUITE)["handshakes"][KAMAILIO_KEY]["full_us"]["median"]
    setup = setup_kam * per_message_us / udp
    handshakes_table: dict[str, dict[str, dict[str, float]]] = {}
    records: dict[str, float] = {}
    for s in data["suites"]:
        for key in KEYS:
            h = s["handshakes"][key]
            handshakes_table.setdefault(key, {})[s["suite"]] = {
                "full_us": _round(h["full_us"]["median"] + setup),
                "resumed_us": _round(h["resumed_us"]["median"] + setup)}
        r = s["records"]
        records[s["suite"]] = round((r["encrypt_per_kbyte_us"] + r["decrypt_per_kbyte_us"]) / 2, 2)
    default = handshakes_table["rsa"]["tls1.3-aes-gcm"]
    return {
        "transports": {"tcp": {"factor": round(1 + (factor - 1) * tcp_share, 2)},
                       "tls": {"factor": round(factor, 2)}},
        "tls": {"handshake_full_us": default["full_us"],
                "handshake_resumed_us": default["resumed_us"],
                "per_kbyte_us": records["tls1.3-aes-gcm"],
                "handshakes": handshakes_table, "suite_per_kbyte_us": records},
        "_derivation": {"kamailio_udp_us": udp, "kamailio_tls_extra_us": tls_extra,
                        "tls_factor": factor, "tcp_share_of_tls_extra": tcp_share,
                        "kamailio_handshake_us": kam_hs, "kamailio_setup_us": setup_kam,
                        "setup_us": setup},
    }


def _round(value: float) -> int:
    """To 10 µs (these figures spread by 10-20 % on the machine they were measured on)."""
    return int(round(value, -1))


def profile_text(block: dict) -> str:
    """The ``transports:`` and ``tls:`` blocks as a profile writes them, a line per suite."""
    lines = ["transports:"]
    lines += [f"  {t}: {{factor: {v['factor']}}}" for t, v in block["transports"].items()]
    tls = block["tls"]
    lines += ["tls:", f"  source: {tls['source']}" if "source" in tls else "",
              f"  handshake_full_us: {tls['handshake_full_us']}",
              f"  handshake_resumed_us: {tls['handshake_resumed_us']}",
              f"  per_kbyte_us: {tls['per_kbyte_us']}", "  handshakes:"]
    for key, by_suite in tls["handshakes"].items():
        lines.append(f"    {key}:")
        lines += [f"      {suite}: {{full_us: {v['full_us']}, resumed_us: {v['resumed_us']}}}"
                  for suite, v in by_suite.items()]
    lines.append("  suite_per_kbyte_us:")
    lines += [f"    {suite}: {v}" for suite, v in tls["suite_per_kbyte_us"].items()]
    return "\n".join(line for line in lines if line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=200, help="handshakes per case")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds over every suite (interleaved against the machine's drift)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--derive", type=Path, help="print the generic profiles' blocks from this JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--pki", help=argparse.SUPPRESS)
    parser.add_argument("--echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.pki), args.handshakes, args.echo)))
        return
    if args.derive:
        data = json.loads(args.derive.read_text())
        kamailio = yaml.safe_load(KAMAILIO_PROFILE.read_text())
        print(f"# from {args.derive} ({data['date']}, {data['machine']}) and {KAMAILIO_PROFILE.name}")
        for name in GENERIC:
            profile = yaml.safe_load((ROOT / "models" / "profiles" / f"{name}.yaml").read_text())
            block = derive(data, kamailio, profile["per_message_us"]["default"])
            d = block.pop("_derivation")
            print(f"\n# {name}: {profile['per_message_us']['default']} µs per UDP message; TLS factor "
                  f"{d['tls_factor']:.3f}, TCP's share of TLS's extra {d['tcp_share_of_tls_extra']:.2f}, "
                  f"Kamailio's set-up {d['kamailio_setup_us']:.0f} µs, this profile's "
                  f"{d['setup_us']:.0f} µs")
            print(profile_text(block))
        return
    data = run(args.handshakes, args.rounds)
    print(table(data))
    if args.json:
        args.json.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
