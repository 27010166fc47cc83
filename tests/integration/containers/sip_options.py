# SPDX-License-Identifier: GPL-3.0-or-later
"""Send one SIP OPTIONS request over UDP and print the status line of the answer.

Run on the router: python3 sip_options.py TARGET_IP [PORT] [SOURCE_IP]. SOURCE_IP (the router's
LAN address) makes the request come from the LAN side. Exit 0 when the answer is SIP/2.0 200
(Asterisk answers an out-of-dialog OPTIONS to its own address with 200 when the sender is an
identified endpoint; 401 would mean "unknown sender, authenticate", 404 "no such extension").
"""
import random
import socket
import sys


def main(argv):
    target = argv[1]
    port = int(argv[2]) if len(argv) > 2 else 5060
    source = argv[3] if len(argv) > 3 else ""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(3)
    local_ip, local_port = sock.getsockname()
    if not source:
        sock.connect((target, port))
        local_ip = sock.getsockname()[0]
    tag, branch, call = (random.getrandbits(32) for dummy in range(3))
    request = (
        "OPTIONS sip:{t}:{p} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP {l}:{lp};branch=z9hG4bK{b:x};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@{l}>;tag={g:x}\r\n"
        "To: <sip:{t}:{p}>\r\n"
        "Call-ID: {c:x}@{l}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Contact: <sip:probe@{l}:{lp}>\r\n"
        "Accept: application/sdp\r\n"
        "User-Agent: turris-containers-test\r\n"
        "Content-Length: 0\r\n\r\n"
    ).format(t=target, p=port, l=local_ip, lp=local_port, b=branch, g=tag, c=call)
    for dummy in range(3):
        sock.sendto(request.encode(), (target, port))
        try:
            data = sock.recv(65535).decode(errors="replace")
        except socket.timeout:
            continue
        status = data.split("\r\n", 1)[0]
        print(status)
        return 0 if status.startswith("SIP/2.0 200") else 1
    print("no answer from %s:%d" % (target, port))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
