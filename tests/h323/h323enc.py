"""H.323 test messages in ASN.1 PER, ALIGNED variant (ITU-T X.691).

Builders for H.225.0 call signalling (TPKT + Q.931 + H323-UserInformation),
H.245 (TPKT + MultimediaSystemControlMessage) and RAS (bare RasMessage).
Each returns (bytes, addrs): addrs lists every IPv4 transport address as
{"field", "offset", "ip", "port"}, `offset` being where the 4 address octets
sit in the returned bytes (the 2 port octets follow). In aligned PER both
are always octet-aligned: a TransportAddress is a CHOICE index (bits), then
OCTET STRING (SIZE(4)) (fixed > 2 octets: aligned, no length), then
INTEGER (0..65535) (range 64K: two aligned octets).

Addresses are given as (ip, port) tuples. extract() is the matching decoder
for a message built here with known options.

Stdlib only; run with /usr/bin/python3."""
import socket
import struct


# ---------------------------------------------------------------- PER writer

class W:
    """Aligned PER bit writer. `marks` records transport addresses."""

    def __init__(self):
        self.bits = []
        self.marks = []

    def bit(self, b):
        self.bits.append(1 if b else 0)

    def num(self, v, n):                 # n-bit unsigned field, MSB first
        for i in range(n - 1, -1, -1):
            self.bits.append((v >> i) & 1)

    def align(self):                     # pad to an octet boundary
        while len(self.bits) % 8:
            self.bits.append(0)

    def pos(self):                       # byte offset (after align)
        assert len(self.bits) % 8 == 0
        return len(self.bits) // 8

    def octets(self, data):              # raw octets at the current bit
        for byte in data:
            self.num(byte, 8)

    def complete(self):
        """The octets; an empty encoding is one zero octet (X.691 10.1.3)."""
        self.align()
        if not self.bits:
            return b"\x00"
        out = bytearray()
        for i in range(0, len(self.bits), 8):
            v = 0
            for b in self.bits[i:i + 8]:
                v = (v << 1) | b
            out.append(v)
        return bytes(out)

    # X.691 11.5.7: constrained whole number, aligned variant
    def cint(self, v, lo, hi):
        r, v = hi - lo + 1, v - lo
        assert 0 <= v < r, (v + lo, lo, hi)
        if r == 1:
            return
        if r <= 255:                     # minimal bit-field, unaligned
            self.num(v, (r - 1).bit_length())
        elif r == 256:                   # one aligned octet
            self.align()
            self.num(v, 8)
        elif r <= 65536:                 # two aligned octets
            self.align()
            self.num(v, 16)
        else:                            # octet count (bits), aligned octets
            nmax = ((r - 1).bit_length() + 7) // 8
            n = max(1, (v.bit_length() + 7) // 8)
            self.num(n - 1, (nmax - 1).bit_length())
            self.align()
            self.num(v, 8 * n)

    def length(self, n):                 # 11.9.3.6: unconstrained length
        self.align()
        if n < 128:
            self.num(n, 8)
        else:
            assert n < 16384
            self.num(0x8000 | n, 16)

    def nsnn(self, n):                   # 11.6: normally small number
        assert n < 64
        self.bit(0)
        self.num(n, 6)

    def embed(self, data, marks=(), prefix=""):
        """Aligned octets holding another encoding; its marks shift."""
        self.align()
        p = self.pos()
        for m in marks:
            self.marks.append(dict(m, field=prefix + m["field"],
                                   offset=m["offset"] + p))
        self.octets(data)

    def open(self, sub, prefix=""):      # open type: length + encoding
        data = sub.complete()
        self.length(len(data))
        self.embed(data, sub.marks, prefix)

    def ostring(self, data):             # OCTET STRING, unconstrained size
        self.length(len(data))
        self.embed(data)

    def additions(self, adds):
        """Extension additions (X.691 19.7-19.9): a normally small length,
        the presence bitmap, each present one as an open type. `adds` is
        a list over the type's additions in order: None (absent) or a W.
        Trailing absent ones are cut: the encoding is that of a version
        of the type that ends with the last one present."""
        while adds and adds[-1] is None:
            adds = adds[:-1]
        assert adds
        self.bit(0)                      # normally small length n-1
        self.num(len(adds) - 1, 6)
        for a in adds:
            self.bit(a is not None)
        for a in adds:
            if a is not None:
                self.open(a)

    def choice(self, idx, nroot, ext=True):  # root alternative
        if ext:
            self.bit(0)
        self.cint(idx, 0, nroot - 1)

    def choice_ext(self, idx, sub):      # extension alternative: open type
        self.bit(1)
        self.nsnn(idx)
        self.open(sub)


def sub(fn, *a, **kw):
    """A fresh writer holding fn(w, ...)'s encoding."""
    w = W()
    fn(w, *a, **kw)
    return w


def boolean(v):
    w = W()
    w.bit(v)
    return w


def null():
    return W()


def ip4(ip):
    return socket.inet_aton(ip)


# ----------------------------------------------------------- common types

H225_OID = (0, 0, 8, 2250, 0, 4)      # itu-t rec h 2250 version(0) 4
CONF_ID = bytes(range(0x10, 0x20))
CALL_GUID = bytes(range(0xa0, 0xb0))


def oid(w, arcs):
    """OBJECT IDENTIFIER: length octet + BER contents (X.691 24)."""
    c = bytearray()
    for a in [arcs[0] * 40 + arcs[1]] + list(arcs[2:]):
        b = [a & 0x7f]
        a >>= 7
        while a:
            b.append(0x80 | (a & 0x7f))
            a >>= 7
        c += bytes(reversed(b))
    w.length(len(c))
    w.embed(bytes(c))


def bmp(w, s, lo, hi):
    """BMPString(SIZE(lo..hi)): length, then aligned 16-bit chars."""
    w.cint(len(s), lo, hi)
    w.align()
    for ch in s:
        w.num(ord(ch), 16)


DIGITS = "#*,0123456789"               # the FROM alphabet, canonical order


def dialled_digits(w, s):
    """IA5String(SIZE(1..128))(FROM("0123456789#*,")): 7-bit length, then
    aligned 4-bit indices into the alphabet (X.691 30.5)."""
    w.cint(len(s), 1, 128)
    w.align()
    for ch in s:
        w.num(DIGITS.index(ch), 4)


def alias(w, a):
    """AliasAddress CHOICE {dialledDigits, h323-ID, ...}: a = ("e164",
    digits) or ("h323", name)."""
    kind, val = a
    if kind == "e164":
        w.choice(0, 2)
        dialled_digits(w, val)
    else:
        w.choice(1, 2)
        bmp(w, val, 1, 256)


def aliases(w, lst):                   # SEQUENCE OF AliasAddress
    w.length(len(lst))
    for a in lst:
        alias(w, a)


def ta225(w, field, addr):
    """H.225 TransportAddress CHOICE (7 root, ext) ipAddress SEQUENCE
    {ip OCTET STRING (SIZE(4)), port INTEGER(0..65535)}."""
    ip, port = addr
    w.choice(0, 7)
    w.align()
    w.marks.append({"field": field, "offset": w.pos(), "ip": ip,
                    "port": port})
    w.octets(ip4(ip))
    w.cint(port, 0, 65535)


def ta225_list(w, field, addrs):       # SEQUENCE OF TransportAddress
    w.length(len(addrs))
    for i, a in enumerate(addrs):
        ta225(w, "%s[%d]" % (field, i), a)


def h221(w):
    """H221NonStandard SEQUENCE {t35CountryCode (0..255), t35Extension
    (0..255), manufacturerCode (0..65535), ...}."""
    w.bit(0)
    w.cint(0xb5, 0, 255)
    w.cint(0, 0, 255)
    w.cint(0x5544, 0, 65535)


def vendor_id(w):
    """VendorIdentifier SEQUENCE {vendor, productId OCTET STRING (SIZE
    (1..256)) OPTIONAL, versionId ditto OPTIONAL, ..., enterpriseNumber}."""
    w.bit(0)                           # no extensions
    w.bit(1)
    w.bit(1)                           # productId, versionId present
    h221(w)
    for s in (b"unat-test", b"1.0"):
        w.cint(len(s), 1, 256)         # range 256: one aligned octet
        w.embed(s)


def endpoint_type(w, vendor=True):
    """EndpointType: ext, 6 optional bits (nonStandardData, vendor,
    gatekeeper, gateway, mcu, terminal), mc, undefinedNode."""
    w.bit(0)
    for present in (0, vendor, 0, 0, 0, 1):
        w.bit(present)
    if vendor:
        vendor_id(w)
    w.bit(0)                           # TerminalInfo: ext, nonStandardData
    w.bit(0)
    w.bit(0)                           # mc
    w.bit(0)                           # undefinedNode


def call_id(guid):
    """CallIdentifier SEQUENCE {guid OCTET STRING (SIZE(16)), ...}."""
    w = W()
    w.bit(0)
    w.align()
    w.octets(guid)
    return w


def seq_of_ostrings(w, items, field):
    """SEQUENCE OF OCTET STRING whose elements are (bytes, marks) of other
    encodings (fastStart, h245Control)."""
    w.length(len(items))
    for i, (data, marks) in enumerate(items):
        w.length(len(data))
        w.embed(data, marks, "%s[%d]." % (field, i))


def faststart_list(olcs):
    """fastStart elements: OpenLogicalChannel encodings (no MSC wrapper)."""
    return [olc_per(**o) for o in olcs]


# ------------------------------------------------------------------ H.245

def ta245(w, field, addr):
    """H.245 TransportAddress CHOICE {unicastAddress, multicastAddress,
    ...} -> UnicastAddress CHOICE (5 root, ext) iPAddress SEQUENCE
    {network OCTET STRING (SIZE(4)), tsapIdentifier INTEGER (0..65535),
    ...}."""
    ip, port = addr
    w.choice(0, 2)                     # unicastAddress
    w.choice(0, 5)                     # iPAddress
    w.bit(0)                           # iPAddress extension bit
    w.align()
    w.marks.append({"field": field, "offset": w.pos(), "ip": ip,
                    "port": port})
    w.octets(ip4(ip))
    w.cint(port, 0, 65535)


CODECS = {"g711Ulaw64k": 3, "g7231": 8, "g729": 10}


def audio_cap(w, codec):
    """AudioCapability CHOICE (14 root, ext): g711Ulaw64k / g729 INTEGER
    (1..256) frames; g7231 SEQUENCE {maxAl-sduAudioFrames INTEGER (1..256),
    silenceSuppression BOOLEAN} (not extensible)."""
    w.choice(CODECS[codec], 14)
    if codec == "g7231":
        w.cint(1, 1, 256)
        w.bit(0)
    else:
        w.cint(20 if codec == "g711Ulaw64k" else 2, 1, 256)


def data_type(w, codec):
    """DataType CHOICE (6 root, ext): nullData (1) or audioData (3)."""
    if codec is None:
        w.choice(1, 6)
    else:
        w.choice(3, 6)
        audio_cap(w, codec)


def h2250_params(w, session, media, control):
    """H2250LogicalChannelParameters: ext, 10 root optional bits
    (nonStandard, associatedSessionID, mediaChannel,
    mediaGuaranteedDelivery, mediaControlChannel,
    mediaControlGuaranteedDelivery, silenceSuppression, destination,
    dynamicRTPPayloadType, mediaPacketization), sessionID INTEGER
    (0..255), the present addresses."""
    w.bit(0)
    for present in (0, 0, media, 0, control, 0, 0, 0, 0, 0):
        w.bit(present is not None and present != 0)
    w.cint(session, 0, 255)
    if media:
        ta245(w, "mediaChannel", media)
    if control:
        ta245(w, "mediaControlChannel", control)


def olc_body(w, lcn=1, direction="forward", codec="g711Ulaw64k",
             media=None, control=None, session=1):
    """OpenLogicalChannel: ext, reverseLogicalChannelParameters OPTIONAL,
    forwardLogicalChannelNumber INTEGER (1..65535),
    forwardLogicalChannelParameters SEQUENCE {portNumber OPTIONAL,
    dataType, multiplexParameters CHOICE {h222, h223, v76, ...,
    h2250LogicalChannelParameters, none}, ...}, reverse... SEQUENCE
    {dataType, multiplexParameters CHOICE {h223, v76, ..., h2250} OPTIONAL,
    ...}. forward: audio + h2250 in forward params; reverse: nullData +
    none forward, audio + h2250 in reverse params."""
    rev = direction == "reverse"
    w.bit(0)                           # no extension additions
    w.bit(rev)
    w.cint(lcn, 1, 65535)
    w.bit(0)                           # forward params: ext, portNumber
    w.bit(0)
    if rev:
        data_type(w, None)
        w.choice_ext(1, null())        # multiplexParameters: none
    else:
        data_type(w, codec)
        w.choice_ext(0, sub(h2250_params, session, media, control))
    if rev:
        w.bit(0)                       # reverse params: ext
        w.bit(1)                       # multiplexParameters present
        data_type(w, codec)
        w.choice_ext(0, sub(h2250_params, session, media, control))


def olc_per(**kw):
    """A bare OpenLogicalChannel encoding, as in fastStart: (bytes, marks)."""
    w = sub(olc_body, **kw)
    return w.complete(), w.marks


def msc(w, kind, idx, nroot, fn, *a, **kw):
    """MultimediaSystemControlMessage CHOICE {request, response, command,
    indication, ...}; then RequestMessage (11 root) / ResponseMessage (19
    root) CHOICE, all extensible."""
    w.choice(kind, 4)
    w.choice(idx, nroot)
    fn(w, *a, **kw)


def msc_olc(**kw):
    """request openLogicalChannel, bare (as in h245Control)."""
    w = sub(msc, 0, 3, 11, olc_body, **kw)
    return w.complete(), w.marks


def olcack_body(w, lcn=1, media=None, control=None, session=1):
    """OpenLogicalChannelAck: ext, reverseLogicalChannelParameters
    OPTIONAL, forwardLogicalChannelNumber, ..., additions separateStack,
    forwardMultiplexAckParameters CHOICE {h2250LogicalChannelAckParameters,
    ...}, encryptionSync, genericInformation.
    H2250LogicalChannelAckParameters: ext, 5 optional bits (nonStandard,
    sessionID, mediaChannel, mediaControlChannel, dynamicRTPPayloadType),
    sessionID INTEGER (1..255) (8-bit field, unaligned), addresses."""
    w.bit(1)
    w.bit(0)
    w.cint(lcn, 1, 65535)
    a = W()
    a.choice(0, 1)                     # ext bit only: one root alternative
    a.bit(0)
    for present in (0, 1, media, control, 0):
        a.bit(bool(present))
    a.cint(session, 1, 255)
    if media:
        ta245(a, "mediaChannel", media)
    if control:
        ta245(a, "mediaControlChannel", control)
    w.additions([None, a])


def msd_body(w, terminal_type=50, number=0x123456):
    """MasterSlaveDetermination: ext, terminalType INTEGER (0..255),
    statusDeterminationNumber INTEGER (0..16777215) (octet count form)."""
    w.bit(0)
    w.cint(terminal_type, 0, 255)
    w.cint(number, 0, 16777215)


def seqnum_body(w, seq=1):
    """TerminalCapabilitySetAck / RoundTripDelayRequest: ext,
    sequenceNumber INTEGER (0..255)."""
    w.bit(0)
    w.cint(seq, 0, 255)


def tpkt(payload):
    """RFC 1006 TPKT: version 3, reserved, 16-bit length incl. header."""
    return struct.pack(">BBH", 3, 0, len(payload) + 4) + payload


def _h245(kind, idx, nroot, fn, **kw):
    w = sub(msc, kind, idx, nroot, fn, **kw)
    data = w.complete()
    return tpkt(data), [dict(m, offset=m["offset"] + 4) for m in w.marks]


def build_h245_olc(lcn=1, direction="forward", codec="g711Ulaw64k",
                   media=None, control=None, session=1):
    return _h245(0, 3, 11, olc_body, lcn=lcn, direction=direction,
                 codec=codec, media=media, control=control, session=session)


def build_h245_olcack(lcn=1, media=None, control=None, session=1):
    return _h245(1, 5, 19, olcack_body, lcn=lcn, media=media,
                 control=control, session=session)


def build_h245_msd(terminal_type=50, number=0x123456):
    return _h245(0, 1, 11, msd_body, terminal_type=terminal_type,
                 number=number)


def build_h245_tcsack(seq=1):
    return _h245(1, 3, 19, seqnum_body, seq=seq)


def build_h245_rtdreq(seq=1):
    return _h245(0, 9, 11, seqnum_body, seq=seq)


# ------------------------------------------------------ Q.931 / H.225.0

Q931 = {"setup": 0x05, "callProceeding": 0x02, "alerting": 0x01,
        "connect": 0x07, "facility": 0x62, "progress": 0x03,
        "releaseComplete": 0x5a}


def q931(msgtype, crv, reply, uuie, marks, bearer=False):
    """TPKT + Q.931: discriminator 0x08, call reference (2 octets, flag bit
    on replies), message type, [Bearer capability], User-user IE 0x7e
    (2-octet length, protocol discriminator 0x05, the PER)."""
    body = bytes([0x08, 2, ((crv >> 8) & 0x7f) | (0x80 if reply else 0),
                  crv & 0xff, msgtype])
    if bearer:                          # speech, 64 kbit/s, G.711 u-law
        body += bytes([0x04, 0x03, 0x80, 0x90, 0xa2])
    uu = b"\x05" + uuie
    body += b"\x7e" + struct.pack(">H", len(uu))
    at = 4 + len(body) + 1
    return tpkt(body + uu), [dict(m, offset=m["offset"] + at) for m in marks]


def uu_message(body_idx, body_ext, fn, tunnelling=None, h245_control=None):
    """H323-UserInformation SEQUENCE {h323-uu-pdu, user-data OPTIONAL, ...}
    with H323-UU-PDU SEQUENCE {h323-message-body CHOICE {setup,
    callProceeding, connect, alerting, information, releaseComplete,
    facility, ..., progress, ...}, nonStandardData OPTIONAL, ...,
    h4501SupplementaryService, h245Tunnelling BOOLEAN, h245Control
    SEQUENCE OF OCTET STRING OPTIONAL, ...}. fn(w) writes the UUIE."""
    w = W()
    w.bit(0)                           # UserInformation: ext, user-data
    w.bit(0)
    ext = tunnelling is not None or bool(h245_control)
    w.bit(ext)
    w.bit(0)                           # nonStandardData
    if body_ext:                       # extension alternative: open type
        w.choice_ext(body_idx, sub(fn))
    else:
        w.choice(body_idx, 7)
        fn(w)
    if ext:
        ctl = None
        if h245_control:
            ctl = sub(seq_of_ostrings, [msc_olc(**o) for o in h245_control],
                      "h245Control")
        w.additions([None, boolean(bool(tunnelling)), ctl])
    return w.complete(), w.marks


def _fast(olcs):
    return sub(seq_of_ostrings, faststart_list(olcs), "fastStart") \
        if olcs else None


def _q(name, crv, reply, idx, ext, fn, bearer=False, tunnelling=False,
       h245_control=None):
    """tunnelling: the h245Tunnelling value (None: no H323-UU-PDU
    extension additions at all)."""
    per, marks = uu_message(idx, ext, fn, tunnelling, h245_control)
    return q931(Q931[name], crv, reply, per, marks, bearer)


def build_setup(crv=1, h245=None, dest_csa=None, src_csa=None,
                fast_start=None, tunnelling=False, h245_control=None,
                digits="1002", conf_id=CONF_ID, guid=CALL_GUID):
    """Setup-UUIE: ext, 7 root optional bits (h245Address, sourceAddress,
    destinationAddress, destCallSignalAddress, destExtraCallInfo,
    destExtraCRV, callServices); protocolIdentifier, h245Address,
    sourceInfo, destinationAddress, destCallSignalAddress, activeMC,
    conferenceID, conferenceGoal CHOICE (3 root, ext) create, callType
    CHOICE (4 root, ext) pointToPoint; additions: sourceCallSignalAddress,
    remoteExtensionAddress, callIdentifier, h245SecurityCapability, tokens,
    cryptoTokens, fastStart, mediaWaitForConnect, canOverlapSend,
    endpointIdentifier, multipleCalls, maintainConnection, ...
    fast_start / h245_control: lists of olc_body kwargs."""
    def fn(w):
        w.bit(1)
        for present in (h245, 0, 1, dest_csa, 0, 0, 0):
            w.bit(bool(present))
        oid(w, H225_OID)
        if h245:
            ta225(w, "h245Address", h245)
        endpoint_type(w)
        aliases(w, [("e164", digits)])
        if dest_csa:
            ta225(w, "destCallSignalAddress", dest_csa)
        w.bit(0)                       # activeMC
        w.align()
        w.octets(conf_id)              # ConferenceIdentifier: 16 octets
        w.choice(0, 3)                 # conferenceGoal create
        w.choice(0, 4)                 # callType pointToPoint
        w.additions([sub(ta225, "sourceCallSignalAddress", src_csa)
                     if src_csa else None,
                     None, call_id(guid), None, None, None,
                     _fast(fast_start),
                     boolean(False), boolean(False), None,
                     boolean(False), boolean(False)])
    return _q("setup", crv, False, 0, False, fn, bearer=True,
              tunnelling=tunnelling, h245_control=h245_control)


def _proceeding_like(w, h245, fast_start, guid):
    """CallProceeding-/Alerting-UUIE: ext, h245Address OPTIONAL;
    protocolIdentifier, destinationInfo, h245Address; additions
    callIdentifier, h245SecurityMode, tokens, cryptoTokens, fastStart,
    multipleCalls, maintainConnection, ..."""
    w.bit(1)
    w.bit(bool(h245))
    oid(w, H225_OID)
    endpoint_type(w)
    if h245:
        ta225(w, "h245Address", h245)
    w.additions([call_id(guid), None, None, None, _fast(fast_start),
                 boolean(False), boolean(False)])


def build_call_proceeding(crv=1, h245=None, fast_start=None,
                          guid=CALL_GUID, tunnelling=False):
    return _q("callProceeding", crv, True, 1, False,
              lambda w: _proceeding_like(w, h245, fast_start, guid),
              tunnelling=tunnelling)


def build_alerting(crv=1, h245=None, fast_start=None, guid=CALL_GUID,
                   tunnelling=False):
    return _q("alerting", crv, True, 3, False,
              lambda w: _proceeding_like(w, h245, fast_start, guid),
              tunnelling=tunnelling)


def build_connect(crv=1, h245=None, fast_start=None, conf_id=CONF_ID,
                  guid=CALL_GUID, tunnelling=False):
    """Connect-UUIE: ext, h245Address OPTIONAL; protocolIdentifier,
    h245Address, destinationInfo, conferenceID; additions as Alerting."""
    def fn(w):
        w.bit(1)
        w.bit(bool(h245))
        oid(w, H225_OID)
        if h245:
            ta225(w, "h245Address", h245)
        endpoint_type(w)
        w.align()
        w.octets(conf_id)
        w.additions([call_id(guid), None, None, None, _fast(fast_start),
                     boolean(False), boolean(False)])
    return _q("connect", crv, True, 2, False, fn, tunnelling=tunnelling)


def build_facility(crv=1, h245=None, alternative=None, conf_id=CONF_ID,
                   guid=CALL_GUID, reply=True, tunnelling=False):
    """Facility-UUIE: ext, 3 optional bits (alternativeAddress,
    alternativeAliasAddress, conferenceID); protocolIdentifier,
    alternativeAddress, conferenceID, reason FacilityReason (4 root, ext;
    startH245 = extension alternative 1, NULL); additions callIdentifier,
    destExtraCallInfo, remoteExtensionAddress, tokens, cryptoTokens,
    conferences, h245Address, fastStart, multipleCalls,
    maintainConnection, ..."""
    def fn(w):
        w.bit(1)
        for present in (alternative, 0, 1):
            w.bit(bool(present))
        oid(w, H225_OID)
        if alternative:
            ta225(w, "alternativeAddress", alternative)
        w.align()
        w.octets(conf_id)
        w.choice_ext(1, null())        # reason: startH245
        w.additions([call_id(guid), None, None, None, None, None,
                     sub(ta225, "h245Address", h245) if h245 else None,
                     None, boolean(False), boolean(False)])
    return _q("facility", crv, reply, 6, False, fn, tunnelling=tunnelling)


def build_progress(crv=1, h245=None, fast_start=None, guid=CALL_GUID,
                   tunnelling=False):
    """Progress-UUIE (an extension alternative of h323-message-body): ext,
    5 optional bits (h245Address, h245SecurityMode, tokens, cryptoTokens,
    fastStart); protocolIdentifier, destinationInfo, h245Address,
    callIdentifier (root here), fastStart (root here); additions
    multipleCalls, maintainConnection, fastConnectRefused."""
    def fn(w):
        w.bit(1)
        for present in (h245, 0, 0, 0, fast_start):
            w.bit(bool(present))
        oid(w, H225_OID)
        endpoint_type(w)
        if h245:
            ta225(w, "h245Address", h245)
        w.bit(0)                       # CallIdentifier inline: ext, guid
        w.align()
        w.octets(guid)
        if fast_start:
            seq_of_ostrings(w, faststart_list(fast_start), "fastStart")
        w.additions([boolean(False), boolean(False)])
    return _q("progress", crv, True, 0, True, fn, tunnelling=tunnelling)


def build_release_complete(crv=1, guid=CALL_GUID, reply=False,
                           tunnelling=False):
    """ReleaseComplete-UUIE: ext, reason OPTIONAL; protocolIdentifier,
    reason ReleaseCompleteReason (12 root, ext) undefinedReason (11);
    additions callIdentifier, ..."""
    def fn(w):
        w.bit(1)
        w.bit(1)
        oid(w, H225_OID)
        w.choice(11, 12)
        w.additions([call_id(guid)])
    return _q("releaseComplete", crv, reply, 5, False, fn,
              tunnelling=tunnelling)


# -------------------------------------------------------------------- RAS

RAS = {"rrq": 3, "rcf": 4, "arq": 9, "acf": 10, "lrq": 18, "lcf": 19}
U32 = 4294967295


def _ras(name, fn):
    """RasMessage CHOICE (25 root alternatives, ext)."""
    w = W()
    w.choice(RAS[name], 25)
    fn(w)
    return w.complete(), w.marks


def build_rrq(seq=1, csa=(), ras=(), alias_name="unat-ep"):
    """RegistrationRequest: ext, 3 optional bits (nonStandardData,
    terminalAlias, gatekeeperIdentifier); requestSeqNum (1..65535),
    protocolIdentifier, discoveryComplete, callSignalAddress and
    rasAddress SEQUENCE OF TransportAddress, terminalType, terminalAlias,
    endpointVendor; additions alternateEndpoints, timeToLive, tokens,
    cryptoTokens, integrityCheckValue, keepAlive, endpointIdentifier,
    willSupplyUUIEs, maintainConnection, ..."""
    def fn(w):
        w.bit(1)
        for present in (0, 1, 0):
            w.bit(present)
        w.cint(seq, 1, 65535)
        oid(w, H225_OID)
        w.bit(0)                       # discoveryComplete
        ta225_list(w, "callSignalAddress", list(csa))
        ta225_list(w, "rasAddress", list(ras))
        endpoint_type(w)
        aliases(w, [("h323", alias_name)])
        vendor_id(w)
        w.additions([None, None, None, None, None, boolean(False), None,
                     boolean(False), boolean(False)])
    return _ras("rrq", fn)


def build_rcf(seq=1, csa=(), ttl=60, endpoint_id="EP0001",
              gk_id="unat-gk"):
    """RegistrationConfirm: ext, 3 optional bits (nonStandardData,
    terminalAlias, gatekeeperIdentifier); requestSeqNum,
    protocolIdentifier, callSignalAddress SEQUENCE OF, gatekeeperIdentifier
    BMPString (1..128), endpointIdentifier BMPString (1..128); additions
    alternateGatekeeper, timeToLive INTEGER (1..4294967295), tokens,
    cryptoTokens, integrityCheckValue, willRespondToIRR, preGrantedARQ,
    maintainConnection, ..."""
    def fn(w):
        w.bit(1)
        for present in (0, 0, 1):
            w.bit(present)
        w.cint(seq, 1, 65535)
        oid(w, H225_OID)
        ta225_list(w, "callSignalAddress", list(csa))
        bmp(w, gk_id, 1, 128)
        bmp(w, endpoint_id, 1, 128)
        t = W()
        t.cint(ttl, 1, U32)
        w.additions([None, t, None, None, None, boolean(False), None,
                     boolean(False)])
    return _ras("rcf", fn)


def build_arq(seq=2, crv=1, dest_csa=None, src_csa=None,
              endpoint_id="EP0001", conf_id=CONF_ID, guid=CALL_GUID,
              answer=False):
    """AdmissionRequest: ext, 7 optional bits (callModel, destinationInfo,
    destCallSignalAddress, destExtraCallInfo, srcCallSignalAddress,
    nonStandardData, callServices); requestSeqNum, callType, callModel
    CHOICE {direct, gatekeeperRouted, ...}, endpointIdentifier,
    destinationInfo, destCallSignalAddress, srcInfo, srcCallSignalAddress,
    bandWidth INTEGER (0..4294967295), callReferenceValue (0..65535),
    conferenceID, activeMC, answerCall; additions canMapAlias,
    callIdentifier, ..."""
    def fn(w):
        w.bit(1)
        for present in (1, 1, dest_csa, 0, src_csa, 0, 0):
            w.bit(bool(present))
        w.cint(seq, 1, 65535)
        w.choice(0, 4)                 # callType pointToPoint
        w.choice(0, 2)                 # callModel direct
        bmp(w, endpoint_id, 1, 128)
        aliases(w, [("e164", "1002")])
        if dest_csa:
            ta225(w, "destCallSignalAddress", dest_csa)
        aliases(w, [("e164", "1001"), ("h323", "unat-ep")])
        if src_csa:
            ta225(w, "srcCallSignalAddress", src_csa)
        w.cint(1280, 0, U32)           # bandWidth, 100s of bit/s
        w.cint(crv, 0, 65535)
        w.align()
        w.octets(conf_id)
        w.bit(0)                       # activeMC
        w.bit(answer)
        w.additions([boolean(False), call_id(guid)])
    return _ras("arq", fn)


def build_acf(seq=2, dest_csa=None):
    """AdmissionConfirm: ext, 2 optional bits (irrFrequency,
    nonStandardData); requestSeqNum, bandWidth, callModel,
    destCallSignalAddress; additions destinationInfo, destExtraCallInfo,
    destinationType, remoteExtensionAddress, alternateEndpoints, tokens,
    cryptoTokens, integrityCheckValue, transportQOS, willRespondToIRR,
    uuiesRequested SEQUENCE {9 BOOLEAN, ...}, ..."""
    def fn(w):
        w.bit(1)
        w.bit(0)
        w.bit(0)
        w.cint(seq, 1, 65535)
        w.cint(1280, 0, U32)
        w.choice(0, 2)                 # callModel direct
        ta225(w, "destCallSignalAddress", dest_csa)
        u = W()
        u.bit(0)
        for _ in range(9):
            u.bit(0)
        w.additions([None] * 9 + [boolean(False), u])
    return _ras("acf", fn)


def build_lrq(seq=3, reply=None, digits="1002"):
    """LocationRequest: ext, 2 optional bits (endpointIdentifier,
    nonStandardData); requestSeqNum, destinationInfo SEQUENCE OF
    AliasAddress, replyAddress; additions sourceInfo, canMapAlias, ..."""
    def fn(w):
        w.bit(1)
        w.bit(0)
        w.bit(0)
        w.cint(seq, 1, 65535)
        aliases(w, [("e164", digits)])
        ta225(w, "replyAddress", reply)
        w.additions([sub(aliases, [("e164", "1001")]), boolean(False)])
    return _ras("lrq", fn)


def build_lcf(seq=3, csa=None, ras=None):
    """LocationConfirm: ext, nonStandardData OPTIONAL; requestSeqNum,
    callSignalAddress, rasAddress (no additions here)."""
    def fn(w):
        w.bit(0)
        w.bit(0)
        w.cint(seq, 1, 65535)
        ta225(w, "callSignalAddress", csa)
        ta225(w, "rasAddress", ras)
    return _ras("lcf", fn)


# ---------------------------------------------------------------- decoding

def _is_addr(x):
    return (isinstance(x, (tuple, list)) and len(x) == 2
            and isinstance(x[0], str) and x[0].count(".") == 3
            and isinstance(x[1], int) and not isinstance(x[1], bool))


def _subst(obj, fn):
    """obj with every (ip, port) replaced by fn((ip, port))."""
    if _is_addr(obj):
        return fn(tuple(obj))
    if isinstance(obj, dict):
        return {k: _subst(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_subst(v, fn) for v in obj)
    return obj


def extract(builder, kwargs, received):
    """Reads the addresses of a message that `builder(**kwargs)` would
    produce (kwargs' addresses are placeholders). Returns (addrs,
    same_otherwise): addrs as the builder's, with the ip/port found in
    `received`; same_otherwise is True when `received` is exactly the
    builder's output with those addresses substituted."""
    n = [0]
    ph = {}

    def mark(a):                       # unique placeholder per address
        n[0] += 1
        p = ("0.0.%d.%d" % (n[0] >> 8, n[0] & 255), n[0])
        ph[p] = a
        return p
    kw = _subst(kwargs, mark)
    data, addrs = builder(**kw)
    got = {}
    out = []
    for a in addrs:
        o = a["offset"]
        chunk = received[o:o + 6]
        if len(chunk) < 6:
            return out, False
        ip = socket.inet_ntoa(chunk[:4])
        port = struct.unpack(">H", chunk[4:])[0]
        got[(a["ip"], a["port"])] = (ip, port)
        out.append(dict(a, ip=ip, port=port))
    kw2 = _subst(kw, lambda p: got.get(p, ph[p]))
    data2, _ = builder(**kw2)
    return out, data2 == bytes(received)


def addr_of(addrs, field):
    """(ip, port) of the first entry named `field`, or None."""
    for a in addrs:
        if a["field"] == field:
            return (a["ip"], a["port"])
    return None


# ------------------------------------------------- message classification

class Bits:
    """A tiny reader, just enough to tell messages apart."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v


def h245_kind(per):
    """("request"|"response"|"command"|"indication", index) of a bare
    MultimediaSystemControlMessage (root alternatives only)."""
    b = Bits(per)
    if b.take(1):
        return ("extension", None)
    kind = ["request", "response", "command", "indication"][b.take(2)]
    if b.take(1):
        return (kind, None)
    width = {"request": 4, "response": 5, "command": 4, "indication": 5}
    return (kind, b.take(width[kind]))


H245_OLC = ("request", 3)
H245_OLCACK = ("response", 5)
H245_MSD = ("request", 1)


def q931_type(msg):
    """Q.931 message type of a TPKT-framed Q.931 message."""
    crl = msg[5] & 0x0f
    return msg[6 + crl]


class TpktReader:
    """Reassembles TPKT messages from a TCP byte stream."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            if self.buf[0] != 3:
                raise ValueError("not TPKT: %r" % self.buf[:4])
            n = struct.unpack(">H", self.buf[2:4])[0]
            if n < 4 or len(self.buf) < n:
                break
            out.append(self.buf[:n])
            self.buf = self.buf[n:]
        return out
