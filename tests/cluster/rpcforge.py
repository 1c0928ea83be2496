"""rpcforge - a small forger of dynkv RPC frames for black-box tests.

Speaks the wire format of framework/rpc/rpc_frame.h and the handshake and
frame MACs of framework/rpc/rpc_auth.h, written again from those headers
(standard library only; the frame tag's AES-128-GMAC calls the system's
libcrypto, which dynkv needs anyway, through ctypes), so a test can play a
node with or without the cluster key, tamper with frames, replay them, or
send half of one.

    c = Conn(("127.0.13.1", 20001))
    c.handshake("n2", cluster="dynkv", key=rpc_key(read_key_file(path)))
    t, rid, body = c.request(GET_REPLICA, lp(b"k"))
"""

import ctypes
import ctypes.util
import hashlib
import hmac
import os
import socket
import struct
import time

MAGIC = 0x4B44
FRAME_VERSION = 1
PROTO_VERSION = 3
HEADER_LEN = 24
TAG_LEN = 16
NO_CRC, CRC_OPTIONAL = 0x2, 0x4  # frame flags (rpc_frame.h)

HELLO, HELLO_ACK, ERROR, PUT_REPLICA, GET_REPLICA, REPLICA_VALUE, ACK = 1, 2, 3, 4, 5, 6, 7
PING, PONG, FORWARD_WRITE, FORWARD_RESULT = 8, 9, 10, 11
AUTH = 24


# -- CRC-32C (Castagnoli), masked as in util/crc32c.h ------------------------

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# -- body fields ---------------------------------------------------------------

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def svarint(v):
    return varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)


def lp(b):
    if isinstance(b, str):
        b = b.encode()
    return varint(len(b)) + b


def read_varint(buf, off):
    v = shift = 0
    while True:
        b = buf[off]
        off += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, off


def frame(mtype, body=b"", request_id=0, flags=0):
    hdr = struct.pack("<HBBHHQI", MAGIC, FRAME_VERSION, mtype, flags, 0, request_id, len(body))
    crc = 0 if flags & NO_CRC else masked(body)
    return hdr + struct.pack("<I", masked(hdr)) + body + struct.pack("<I", crc)


def hello_body(node_id, cluster="dynkv", incarnation=1, nonce=None, mac=None, proto=PROTO_VERSION):
    nonce = nonce if nonce is not None else os.urandom(16)
    out = varint(proto) + lp(cluster) + lp(node_id) + varint(incarnation) + nonce
    return out + (b"\x01" + mac if mac is not None else b"\x00")


def parse_hello(body):
    """{proto, cluster, node_id, incarnation, nonce, mac} of a HELLO body."""
    proto, off = read_varint(body, 0)
    n, off = read_varint(body, off)
    cluster = body[off:off + n].decode()
    off += n
    n, off = read_varint(body, off)
    node_id = body[off:off + n].decode()
    off += n
    inc, off = read_varint(body, off)
    nonce = body[off:off + 16]
    off += 16
    mac = body[off + 1:off + 33] if body[off] == 1 else None
    return {"proto": proto, "cluster": cluster, "node_id": node_id, "incarnation": inc,
            "nonce": nonce, "mac": mac}


def parse_error(body):
    z, off = read_varint(body, 0)
    code = (z >> 1) ^ -(z & 1)
    n, off = read_varint(body, off)
    return code, body[off:off + n].decode("utf-8", "replace")


def forward_write_body(key, value, timeout_ms=2000, consistency=1):
    """A plain client write (no context, no condition) at `consistency`
    (DK_CL_*: 0 one, 1 quorum, 2 all)."""
    return (lp(key) + lp(value) + varint(0) + varint(0) + varint(0) + svarint(consistency)
            + varint(timeout_ms))


# -- keys, proofs, MACs (rpc_auth.h) -------------------------------------------

def read_key_file(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


def rpc_key(cluster_key):
    """dk_cluster_key_derive(key, "rpc")."""
    return hmac.new(cluster_key, b"dynkv/rpc", hashlib.sha256).digest()


def _lp1(s):
    if isinstance(s, str):
        s = s.encode()
    return bytes([len(s)]) + s


def transcript(ini, acc):
    return (_lp1("dynkv-rpc") + struct.pack("<I", ini["proto"]) + _lp1(ini["cluster"])
            + _lp1(ini["node_id"]) + struct.pack("<I", ini["incarnation"]) + ini["nonce"]
            + _lp1(acc["node_id"]) + struct.pack("<I", acc["incarnation"]) + acc["nonce"])


def proof(key, role, ini, acc):
    return hmac.new(key, _lp1(role) + transcript(ini, acc), hashlib.sha256).digest()


def session_keys(key, ini, acc):
    """(initiator->acceptor, acceptor->initiator) AES-128 session keys."""
    t = transcript(ini, acc)
    return tuple(hmac.new(key, _lp1(label) + t, hashlib.sha256).digest()[:16]
                 for label in ("initiator->acceptor", "acceptor->initiator"))


_crypto = None


def _libcrypto():
    global _crypto
    if _crypto is None:
        lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_aes_128_gcm.restype = ctypes.c_void_p
        lib.EVP_EncryptInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.c_char_p, ctypes.c_char_p]
        lib.EVP_EncryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                          ctypes.c_char_p, ctypes.c_int]
        lib.EVP_EncryptFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
        _crypto = lib
    return _crypto


def gmac(key, seq, data):
    """The frame tag: AES-128-GCM under key with nonce u64(seq) u32(0), no
    plaintext, data as the AAD; the 16-byte GCM tag."""
    lib = _libcrypto()
    ctx = lib.EVP_CIPHER_CTX_new()
    assert ctx, "EVP_CIPHER_CTX_new"
    try:
        out = ctypes.c_int(0)
        fin = ctypes.create_string_buffer(16)
        tag = ctypes.create_string_buffer(TAG_LEN)
        ok = (lib.EVP_EncryptInit_ex(ctx, lib.EVP_aes_128_gcm(), None, key, struct.pack("<QI", seq, 0)) == 1
              and lib.EVP_EncryptUpdate(ctx, None, ctypes.byref(out), data, len(data)) == 1
              and lib.EVP_EncryptFinal_ex(ctx, fin, ctypes.byref(out)) == 1
              and lib.EVP_CIPHER_CTX_ctrl(ctx, 0x10, TAG_LEN, tag) == 1)   # EVP_CTRL_AEAD_GET_TAG
        assert ok and len(key) == 16, "AES-128-GCM failed"
        return tag.raw
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


class Closed(Exception):
    """The other side closed the connection (EOF or reset)."""


class Conn:
    """One TCP connection to a node's RPC port."""

    def __init__(self, addr, timeout=5.0):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.authed = False
        self.seq_out = self.seq_in = 0
        self.k_out = self.k_in = None
        self.sent_frames = []      # (bytes on the wire) of every frame sent
        self.last_flags = 0        # the flags of the last frame received

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def tag(self, data, seq=None):
        seq = self.seq_out if seq is None else seq
        return gmac(self.k_out, seq, data)

    def send(self, mtype, body=b"", request_id=0, flags=0):
        """Send one frame, with its MAC once the handshake is done."""
        data = frame(mtype, body, request_id, flags)
        if self.authed:
            data += self.tag(data)
            self.seq_out += 1
        self.sent_frames.append(data)
        self.sock.sendall(data)
        return data

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete frame in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise Closed("reset")
            if not chunk:
                raise Closed("EOF")
            self.buf += chunk

    def recv(self, timeout=5.0):
        """(type, request id, body) of the next frame; checks its body CRC
        (or, with NO_CRC, that it is 0) and its MAC once authenticated;
        keeps its flags in last_flags.  Raises Closed at EOF."""
        deadline = time.monotonic() + timeout
        self._fill(HEADER_LEN, deadline)
        magic, ver, mtype, flags, _, rid, blen, hcrc = struct.unpack("<HBBHHQII", self.buf[:HEADER_LEN])
        assert magic == MAGIC and hcrc == masked(self.buf[:20]), "bad frame header"
        total = HEADER_LEN + blen + 4
        tag = TAG_LEN if self.authed else 0
        self._fill(total + tag, deadline)
        data, body = self.buf[:total], self.buf[HEADER_LEN:HEADER_LEN + blen]
        crc = struct.unpack("<I", data[total - 4:total])[0]
        assert crc == (0 if flags & NO_CRC else masked(body)), "bad body CRC from the node"
        self.last_flags = flags
        if tag:
            want = gmac(self.k_in, self.seq_in, data)
            assert hmac.compare_digest(want, self.buf[total:total + tag]), "bad MAC from the node"
            self.seq_in += 1
        self.buf = self.buf[total + tag:]
        return mtype, rid, body

    def wait_closed(self, timeout=5.0):
        """True when the node closes the connection within timeout (frames
        it sends first are read and dropped)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(len(self.buf) + 1, deadline)
                self.buf = b""
        except Closed:
            return True
        except socket.timeout:
            return False

    def hello(self, node_id, cluster="dynkv", nonce=None, proto=PROTO_VERSION, flags=0):
        """Send HELLO (flags CRC_OPTIONAL: as a node that reads NO_CRC
        frames); return (our hello dict, the answer's type, its body)."""
        nonce = nonce if nonce is not None else os.urandom(16)
        self.send(HELLO, hello_body(node_id, cluster, 1, nonce, proto=proto), flags=flags)
        mine = {"proto": proto, "cluster": cluster, "node_id": node_id, "incarnation": 1, "nonce": nonce}
        t, _, body = self.recv()
        return mine, t, body

    def handshake(self, node_id, key, cluster="dynkv", flags=0):
        """The initiator's side with the RPC key: checks the node's proof,
        sends AUTH, keys the frame MACs.  Returns the AUTH frame sent."""
        mine, t, body = self.hello(node_id, cluster, flags=flags)
        assert t == HELLO_ACK, "expected HELLO_ACK, got type %d %r" % (t, body)
        acc = parse_hello(body)
        assert acc["mac"] == proof(key, "acceptor", mine, acc), "the node's proof does not check"
        auth = self.send(AUTH, proof(key, "initiator", mine, acc))
        self.k_out, self.k_in = session_keys(key, mine, acc)
        self.authed = True
        return auth

    def request(self, mtype, body, request_id=None, timeout=5.0, flags=0):
        rid = request_id if request_id is not None else int.from_bytes(os.urandom(4), "little")
        self.send(mtype, body, rid, flags)
        return self.recv(timeout)
