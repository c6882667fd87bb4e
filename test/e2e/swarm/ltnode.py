#!/usr/bin/python3
"""A libtorrent-rasterbar 2.0 node (Debian python3-libtorrent) for the capture-daemon e2e swarm.

  --encryption forced   MSE/PE required (RC4 only): a peer "set to require encryption"
  --mode dht       a DHT node and nothing else (the private DHT's bootstrap node)
  --mode torrents  seeds / holds every --torrent SPEC, where SPEC is PATH=SAVE_DIR[:partial]
                   (partial: every piece gets priority 0, so after the hash check the node keeps
                   exactly the pieces found on disk, never downloads more, and advertises them)
  --mode lookup    a fresh node that bootstraps and runs libtorrent's own DHT get_peers for
                   --lookup INFOHASH every 500 ms until every --expect ip:port is listed (or
                   --timeout s); writes {"found": {"ip:port": ms since the session started}, ...}
                   to --status and exits (the side-by-side reference for the daemon's lookups)

Settings that make libtorrent work on 127.x.y.z (an isolated, loopback-only namespace):
dht_restrict_routing_ips / dht_restrict_search_ips off (one /24 per simulated host is still the
rule), dht_prefer_verified_node_ids and dht_enforce_node_id off (127.x cannot have a BEP 42 id),
explicit listen and outgoing interfaces, LSD / UPnP / NAT-PMP off: nothing ever tries to leave.

The node writes --status (JSON) every second: DHT node count, and per torrent its state, pieces,
and peers. It runs until SIGTERM / SIGINT.

MUST run inside the isolated network namespace made by test/e2e/run-in-namespace.sh.
"""
import argparse
import json
import os
import signal
import time
import warnings

import libtorrent as lt

warnings.filterwarnings("ignore", category=DeprecationWarning)


def log(name, *a):
    print(time.strftime("%H:%M:%S"), f"[{name}]", *a, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--listen", required=True, help="ip:port or [ipv6]:port[,...] (TCP + uTP; each also carries a DHT node of its family)")
    ap.add_argument("--bootstrap", default="", help="DHT bootstrap host:port[,...] (an IPv6 node by a name /etc/hosts maps); empty for the bootstrap node itself")
    ap.add_argument("--mode", choices=["dht", "torrents", "lookup"], default="dht")
    ap.add_argument("--lookup", default="", help="infohash (hex) for --mode lookup")
    ap.add_argument("--expect", default="", help="ip:port[,...] that --mode lookup waits for")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds, --mode lookup")
    ap.add_argument("--torrent", action="append", default=[], help="PATH=SAVE_DIR[:partial]")
    ap.add_argument("--no-dht", action="store_true", help="no DHT at all (a peer only announced by a helper)")
    ap.add_argument("--announce-interval", type=int, default=60, help="seconds between DHT announces of each torrent")
    ap.add_argument("--encryption", choices=["enabled", "forced"], default="enabled",
                    help="forced: MSE/PE with RC4 only, in and out; a plaintext handshake is dropped")
    ap.add_argument("--transport", choices=["both", "utp-only", "tcp-only"], default="both",
                    help="utp-only: no TCP in or out (a peer reachable over uTP alone, BEP 29)")
    ap.add_argument("--status", required=True)
    a = ap.parse_args()

    listen = [x.strip() for x in a.listen.split(",") if x.strip()]
    first_ip = listen[0].rsplit(":", 1)[0].strip("[]")  # "[fd00:cd::2]:6882" -> fd00:cd::2
    cats = lt.alert.category_t
    settings = {
        "listen_interfaces": ",".join(listen),
        "outgoing_interfaces": first_ip if len(listen) == 1 else "",
        "enable_dht": not a.no_dht,
        "dht_bootstrap_nodes": a.bootstrap,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_enforce_node_id": False,
        "dht_prefer_verified_node_ids": False,
        "dht_ignore_dark_internet": False,
        "allow_multiple_connections_per_ip": True,
        "dht_announce_interval": a.announce_interval,
        # enc_policy: 0 forced, 1 enabled; enc_level: 1 plaintext, 2 rc4, 3 both
        "out_enc_policy": 0 if a.encryption == "forced" else 1,
        "in_enc_policy": 0 if a.encryption == "forced" else 1,
        "allowed_enc_level": 2 if a.encryption == "forced" else 3,
        "enable_incoming_tcp": a.transport != "utp-only",
        "enable_outgoing_tcp": a.transport != "utp-only",
        "enable_incoming_utp": a.transport != "tcp-only",
        "enable_outgoing_utp": a.transport != "tcp-only",
        "alert_mask": int(cats.error_notification | cats.status_notification | cats.dht_notification
                          | (cats.dht_operation_notification if a.mode == "lookup" else 0)),
    }
    ses = lt.session(settings)
    log(a.name, f"libtorrent {lt.__version__} mode={a.mode} listen={a.listen} dht={'off' if a.no_dht else 'on'} "
                f"bootstrap={a.bootstrap or '-'}")

    if a.mode == "lookup":
        return lookup(ses, a)

    handles = []
    for spec in a.torrent:
        path, rest = spec.split("=", 1)
        partial = rest.endswith(":partial")
        save = rest[: -len(":partial")] if partial else rest
        ti = lt.torrent_info(path)
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = save
        if partial:
            atp.piece_priorities = [0] * ti.num_pieces()
        h = ses.add_torrent(atp)
        handles.append((h, str(ti.info_hashes().v1), ti.num_pieces(), partial))
        log(a.name, f"added {ti.info_hashes().v1} pieces={ti.num_pieces()} partial={partial} save={save}")

    stop = {"flag": False}

    def on_sig(*_):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)

    quiet = {"dht_stats_alert", "state_update_alert", "session_stats_alert", "dht_get_peers_alert",
             "dht_announce_alert", "dht_outgoing_get_peers_alert", "dht_pkt_alert", "dht_log_alert"}
    next_status = 0.0
    while not stop["flag"]:
        ses.wait_for_alert(250)
        for al in ses.pop_alerts():
            t = type(al).__name__
            if t not in quiet:
                log(a.name, f"{t}: {al.message()}")
        now = time.time()
        if now >= next_status:
            st = {"name": a.name, "time": now, "version": lt.__version__, "dht_nodes": ses.status().dht_nodes,
                  "torrents": []}
            for h, ih, n, partial in handles:
                s = h.status()
                st["torrents"].append({
                    "infohash": ih, "state": str(s.state).split(".")[-1], "num_pieces": s.num_pieces,
                    "total_pieces": n, "partial": partial, "is_seeding": s.is_seeding,
                    "checked": s.state not in (lt.torrent_status.checking_files,
                                               lt.torrent_status.checking_resume_data),
                    "peers": [f"{p.ip[0]}:{p.ip[1]} {p.client}" for p in h.get_peer_info()],
                })
            tmp = a.status + ".tmp"
            with open(tmp, "w") as f:
                json.dump(st, f)
            os.replace(tmp, a.status)
            next_status = now + 1
    log(a.name, "stopping")
    del ses


def lookup(ses, a):
    """libtorrent's own iterative get_peers (session.dht_get_peers), repeated until all expected are listed."""
    t0 = time.time()
    target = lt.sha1_hash(bytes.fromhex(a.lookup))
    expect = set(x.strip() for x in a.expect.split(",") if x.strip())
    found = {}
    replies = 0
    next_query = 0.0
    first_nodes_ms = None
    while time.time() - t0 < a.timeout and not expect.issubset(found):
        now = time.time()
        if first_nodes_ms is None and ses.status().dht_nodes > 0:
            first_nodes_ms = round((now - t0) * 1000)
        if now >= next_query and ses.status().dht_nodes > 0:
            ses.dht_get_peers(target)
            next_query = now + 0.5
        ses.wait_for_alert(50)
        for al in ses.pop_alerts():
            if isinstance(al, lt.dht_get_peers_reply_alert) and str(al.info_hash) == a.lookup.lower():
                replies += 1
                for ip, port in al.peers():
                    key = f"{ip}:{port}"
                    if key not in found:
                        found[key] = round((time.time() - t0) * 1000)
    result = {"found": found, "expected": sorted(expect), "complete": expect.issubset(found),
              "firstDhtNodeMs": first_nodes_ms, "replies": replies, "elapsedMs": round((time.time() - t0) * 1000),
              "version": lt.__version__}
    tmp = a.status + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, a.status)
    log(a.name, f"lookup {'complete' if result['complete'] else 'INCOMPLETE'}: {json.dumps(result)}")
    del ses


if __name__ == "__main__":
    main()
