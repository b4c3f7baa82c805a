#!/usr/bin/env python3
"""A client that knows a HybridSync job's ports (and, being public, its server key) but holds no member
key. It sends each kind of message the parameter server takes to the scheduler and every server, plain
and over CURVE with a key of its own, and prints one JSON line: how many replies it got per target.

    rogue_client.py --scheduler tcp://H:P --servers tcp://H:P,... [--server-key Z85] [--only-stats]
"""
import argparse, json, struct, zmq

MAGIC, VERSION = 0x53505348, 1
KINDS = {"register": 1, "heartbeat": 5, "finished": 7, "declare": 20, "push": 21, "pull": 22, "clock": 24, "stats": 25}
WORKER, SERVER = 3, 2

def header(kind, sender_role, sender_index, seq, clock=0):
    # magic u32, version u8, kind u8, flags u16, sender u32, incarnation u32, seq u64, clock i64, sections u32
    return struct.pack("<IBBHIIQqI", MAGIC, VERSION, kind, 0, (sender_role << 24) | sender_index, 1, seq, clock, 0)

def attempt(ctx, endpoint, kinds, curve_server_key):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if curve_server_key:
        public, secret = zmq.curve_keypair()
        s.curve_serverkey = curve_server_key.encode()
        s.curve_publickey, s.curve_secretkey = public, secret
    s.connect(endpoint)
    replies = 0
    for seq, name in enumerate(kinds, start=1):
        s.send_multipart([header(KINDS[name], WORKER, 0, seq, clock=2**62 if name == "clock" else 0), b""])
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    while dict(poller.poll(1000)).get(s):
        s.recv_multipart()
        replies += 1
    s.close()
    return replies

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--scheduler", required=True)
    a.add_argument("--servers", required=True)
    a.add_argument("--server-key", default="")
    a.add_argument("--only-stats", action="store_true")
    o = a.parse_args()
    ctx = zmq.Context()
    kinds = ["stats"] if o.only_stats else list(KINDS)
    out = {}
    for target in [o.scheduler] + o.servers.split(","):
        out[target + " plain"] = attempt(ctx, target, kinds, None)
        if o.server_key and o.server_key != "none":
            out[target + " curve"] = attempt(ctx, target, kinds, o.server_key)
    ctx.term()
    print(json.dumps({"replies": out, "kinds": kinds}))

if __name__ == "__main__":
    main()
