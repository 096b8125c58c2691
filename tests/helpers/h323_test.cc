// H.323: the decoders against the project's vectors (tests/h323/, each
// checked with tshark's H.225.0/H.245 dissectors by check_vectors.sh), their
// bounds on malformed input, and the helper rewriting Q.931, H.245 and RAS
// through a real Nat with the expectations the addresses need.
#include "helpers/h323.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "helpers/h323/messages.h"
#include "tests/helpers/fixture.h"

namespace unat::helpers::testing {
namespace {

using h323::Found;
using h323::Result;

struct Addr {
  std::string field;  // the decoder's name, "mediaChannel"
  std::string path;   // the manifest's, "fastStart[1].mediaChannel"
  uint32_t offset;
  std::string ip;
  uint16_t port;
  bool operator<(const Addr& o) const {
    return std::tie(offset, field) < std::tie(o.offset, o.field);
  }
  bool operator==(const Addr& o) const {
    return std::tie(field, offset, ip, port) ==
           std::tie(o.field, o.offset, o.ip, o.port);
  }
};
struct Vector {
  std::string name, kind;
  std::vector<uint8_t> bytes;
  std::vector<Addr> addrs;  // what the decoder must find
};

std::string Dotted(uint32_t a) {
  return absl::StrCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".",
                      a & 255);
}

// The manifest's field ("fastStart[1].mediaChannel", "rasAddress[0]") as
// the decoder names it.
std::string BaseField(std::string f) {
  if (auto dot = f.rfind('.'); dot != std::string::npos) f = f.substr(dot + 1);
  if (auto br = f.find('['); br != std::string::npos) f = f.substr(0, br);
  return f;
}

const std::vector<Vector>& Vectors() {
  static const std::vector<Vector> v = [] {
    std::vector<Vector> out;
    std::ifstream m(std::string(UNAT_H323_TESTDATA) + "/manifest.txt");
    std::string line;
    while (std::getline(m, line)) {
      std::istringstream in(line);
      std::string name, kind, field, ip;
      uint32_t offset = 0, port = 0;
      in >> name >> kind >> field >> offset >> ip >> port;
      if (out.empty() || out.back().name != name) {
        Vector x{name, kind, {}, {}};
        std::ifstream b(std::string(UNAT_H323_TESTDATA) + "/" + name + ".bin",
                        std::ios::binary);
        x.bytes.assign(std::istreambuf_iterator<char>(b), {});
        out.push_back(std::move(x));
      }
      // A redirection's alternativeAddress is not this call's endpoint:
      // the decoder does not report it.
      if (field == "-" || field == "alternativeAddress") continue;
      out.back().addrs.push_back(
          {BaseField(field), field, offset, ip, static_cast<uint16_t>(port)});
    }
    return out;
  }();
  return v;
}
const Vector& Get(std::string_view name) {
  for (const Vector& v : Vectors()) {
    if (v.name == name) return v;
  }
  ADD_FAILURE() << "no vector " << name;
  static const Vector none;
  return none;
}

// Decodes a vector as the helper would (Q.931 and H.245 in their TPKT).
Result Decode(const std::string& kind, std::span<const uint8_t> b, Found& f) {
  if (kind == "ras") return h323::DecodeRas(b, b.data(), f);
  if (b.size() < 4) return Result::kMalformed;
  if (kind == "h245") return h323::DecodeH245(b.subspan(4), b.data(), f);
  h323::Q931View q;
  if (!h323::ParseQ931(b.subspan(4), q)) return Result::kMalformed;
  return h323::DecodeUserInformation(q.user_information, b.data(), f);
}
std::vector<Addr> Addrs(const Found& f) {
  std::vector<Addr> out;
  for (int i = 0; i < f.count; ++i) {
    const h323::AddressRef& a = f.refs[i];
    out.push_back({std::string(h323::FieldName(a.field)), "", a.offset,
                   Dotted(a.addr), a.port});
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(H323Decode, EveryVectorDecodesToItsAddresses) {
  ASSERT_GE(Vectors().size(), 20u) << UNAT_H323_TESTDATA;
  for (const Vector& v : Vectors()) {
    SCOPED_TRACE(v.name);
    Found f;
    ASSERT_EQ(Decode(v.kind, v.bytes, f), Result::kOk)
        << per::ErrorName(f.per_error);
    std::vector<Addr> want = v.addrs;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(Addrs(f), want);
    for (const Addr& a : want) {
      // The offsets are of the 6 octets themselves.
      EXPECT_EQ(
          Dotted(uint32_t{v.bytes[a.offset]} << 24 |
                 uint32_t{v.bytes[a.offset + 1]} << 16 |
                 uint32_t{v.bytes[a.offset + 2]} << 8 | v.bytes[a.offset + 3]),
          a.ip);
    }
  }
  Found f;
  Decode("q931", Get("setup_faststart").bytes, f);
  EXPECT_EQ(f.message, h323::Message::kSetup);
  EXPECT_EQ(f.channels, 2) << "two fastStart OLCs' H.225.0 parameters";
  f = Found{};
  Decode("q931", Get("setup_tunnel").bytes, f);
  EXPECT_TRUE(f.h245_tunnelling);
  f = Found{};
  Decode("ras", Get("ras_rcf").bytes, f);
  EXPECT_EQ(f.message, h323::Message::kRcf);
  EXPECT_EQ(f.time_to_live, 60u);
  f = Found{};
  Decode("h245", Get("h245_olcack").bytes, f);
  EXPECT_EQ(f.message, h323::Message::kOpenLogicalChannelAck);
  f = Found{};
  Decode("h245", Get("h245_msd").bytes, f);
  EXPECT_EQ(f.message, h323::Message::kOtherH245);
}

// A cut message never reports an address past its end, and never "ok"
// while an address it holds was missed.
TEST(H323Decode, TruncatedAndCorruptedStayInBounds) {
  for (const Vector& v : Vectors()) {
    SCOPED_TRACE(v.name);
    const size_t head = v.kind == "ras" ? 0 : 4;
    std::vector<Addr> want = v.addrs;
    std::sort(want.begin(), want.end());
    for (size_t n = head; n < v.bytes.size(); ++n) {
      std::span<const uint8_t> cut(v.bytes.data(), n);
      Found f;
      Result r;
      if (v.kind == "q931") {
        // The User-user contents cut, the framing around it kept.
        h323::Q931View q;
        ASSERT_TRUE(
            h323::ParseQ931(std::span<const uint8_t>(v.bytes).subspan(4), q));
        const size_t at =
            static_cast<size_t>(q.user_information.data() - v.bytes.data());
        if (n < at) continue;
        r = h323::DecodeUserInformation(q.user_information.first(n - at),
                                        v.bytes.data(), f);
      } else {
        r = Decode(v.kind, cut, f);
      }
      for (int i = 0; i < f.count; ++i) {
        EXPECT_LE(f.refs[i].offset + 6, n);
      }
      if (r == Result::kOk) {
        EXPECT_EQ(Addrs(f), want) << "cut at " << n;
      }
    }
    // Every octet flipped in turn: any result, every address in bounds.
    std::vector<uint8_t> b = v.bytes;
    for (size_t i = head; i < b.size(); ++i) {
      b[i] ^= 0xff;
      Found f;
      Decode(v.kind, b, f);
      for (int k = 0; k < f.count; ++k) {
        EXPECT_LE(f.refs[k].offset + 6, b.size());
      }
      b[i] ^= 0xff;
    }
  }
}

// H323-UserInformation with a Setup whose sourceAddress claims `count`
// aliases.
std::vector<uint8_t> SetupWithAliases(uint32_t count) {
  per::Writer w;
  w.Bit(false);               // H323-UserInformation: no extensions
  w.Bit(false);               // no user-data
  w.Bit(false);               // H323-UU-PDU: no extensions
  w.Bit(false);               // no nonStandardData
  w.ChoiceIndex(0, 7, true);  // setup
  w.Bit(false);               // Setup-UUIE: no extensions
  w.Bits(0b0100000, 7);       // sourceAddress only
  const uint8_t oid[] = {0x00, 0x08, 0x91, 0x4a, 0x00, 0x04};
  w.Length(sizeof oid, 0, 0xffffffffu);
  w.Octets(oid);
  w.Length(count, 0, 0xffffffffu);
  for (uint32_t i = 0; i < std::min<uint32_t>(count, 40); ++i) {
    w.ChoiceIndex(1, 2, true);  // h323-ID
    w.CharString("ab", 1, 256, 16);
  }
  return w.bytes();
}

TEST(H323Decode, CountsAndLengthsAreBounded) {
  Found f;
  auto ok = SetupWithAliases(2);
  // Two aliases, then the message ends inside sourceInfo.
  EXPECT_EQ(h323::DecodeUserInformation(ok, ok.data(), f), Result::kMalformed);
  EXPECT_EQ(f.per_error, per::Error::kTruncated);
  f = Found{};
  auto huge = SetupWithAliases(1000);
  EXPECT_EQ(h323::DecodeUserInformation(huge, huge.data(), f),
            Result::kMalformed);
  EXPECT_EQ(f.per_error, per::Error::kTooLong) << "over kMaxListItems";
  // An OLC whose data type is T.120 data: not known, so not guessed at.
  per::Writer w;
  w.Bit(false);
  w.Bit(false);                // no reverse parameters
  w.Constrained(1, 1, 65535);  // forwardLogicalChannelNumber
  w.Bit(false);
  w.Bit(false);               // no portNumber
  w.ChoiceIndex(4, 6, true);  // dataType: data
  w.Octets(std::vector<uint8_t>(8, 0));
  f = Found{};
  EXPECT_EQ(h323::DecodeOpenLogicalChannel(w.bytes(), w.bytes().data(), f),
            Result::kUnsupported);
}

TEST(H323Q931, Framing) {
  const Vector& v = Get("setup_faststart");
  h323::Q931View q;
  ASSERT_TRUE(h323::ParseQ931(std::span<const uint8_t>(v.bytes).subspan(4), q));
  EXPECT_EQ(q.message_type, 0x05);  // Setup
  EXPECT_FALSE(q.from_destination);
  EXPECT_FALSE(q.user_information.empty());
  const Vector& c = Get("connect_faststart");
  ASSERT_TRUE(h323::ParseQ931(std::span<const uint8_t>(c.bytes).subspan(4), q));
  EXPECT_EQ(q.message_type, 0x07);
  EXPECT_TRUE(q.from_destination);
  // An element running past the end, a wrong discriminator.
  std::vector<uint8_t> bad(v.bytes.begin() + 4, v.bytes.end() - 1);
  EXPECT_FALSE(h323::ParseQ931(bad, q));
  bad.assign(v.bytes.begin() + 4, v.bytes.end());
  bad[0] = 0x09;
  EXPECT_FALSE(h323::ParseQ931(bad, q));
}

// ---- the helper through a Nat ----

constexpr const char* kPeer = "203.0.113.2";
constexpr const char* kPhone = "10.77.0.2";

std::string Str(const std::vector<uint8_t>& b) {
  return std::string(b.begin(), b.end());
}
uint32_t At32(const std::string& s, size_t at) {
  return uint32_t{static_cast<uint8_t>(s[at])} << 24 |
         uint32_t{static_cast<uint8_t>(s[at + 1])} << 16 |
         uint32_t{static_cast<uint8_t>(s[at + 2])} << 8 |
         static_cast<uint8_t>(s[at + 3]);
}
uint16_t At16(const std::string& s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) << 8 |
                               static_cast<uint8_t>(s[at + 1]));
}

// With UNAT_H323_REWRITTEN set to a directory, every message the helper
// rewrote in these tests is written there with a manifest of what its
// addresses became, for tshark to decode (tests/h323/check_vectors.sh; the
// ctest unit.helpers.h323_rewritten_tshark).
void DumpRewritten(const Vector& v, const std::string& out) {
  const char* dir = std::getenv("UNAT_H323_REWRITTEN");
  if (dir == nullptr || *dir == '\0') return;
  static std::vector<std::string> entries;
  const std::string name = absl::StrCat(v.name, "_", entries.size());
  std::ofstream(absl::StrCat(dir, "/", name, ".bin"), std::ios::binary) << out;
  std::string addrs;
  for (const Addr& a : v.addrs) {
    if (a.path == "alternativeAddress") continue;
    absl::StrAppend(&addrs, addrs.empty() ? "" : ", ", "{\"field\": \"", a.path,
                    "\", \"offset\": ", a.offset, ", \"ip\": \"",
                    Dotted(At32(out, a.offset)),
                    "\", \"port\": ", At16(out, a.offset + 4), "}");
  }
  entries.push_back(absl::StrCat("{\"name\": \"", name, "\", \"kind\": \"",
                                 v.kind, "\", \"addrs\": [", addrs, "]}"));
  std::ofstream(absl::StrCat(dir, "/manifest.json"))
      << "[\n"
      << absl::StrJoin(entries, ",\n") << "\n]\n";
}

class H323Test : public HelperFixture {
 protected:
  void SetUp() override {
    HelperFixture::SetUp();
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 1720, &h323).ok());
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoUdp, 1719, &h323).ok());
    ASSERT_TRUE(nat->RegisterPacketHelper(kProtoTcp, 0, &h323.h245()).ok());
  }
  // A TCP connection from the phone's `sport` to the peer's `dport`.
  struct Conn {
    uint16_t sport, dport, ext = 0;
    uint32_t cseq = 1001, sseq = 9001;
  };
  Conn Connect(uint16_t sport, uint16_t dport = 1720) {
    Conn c{sport, dport};
    auto syn = In(Tcp(kPhone, sport, kPeer, dport, TCP::SYN, 1000));
    c.ext = syn.sport();
    Out(Tcp(kPeer, dport, "203.0.113.1", c.ext, TCP::SYN | TCP::ACK, 9000,
            1001));
    In(Tcp(kPhone, sport, kPeer, dport, TCP::ACK, 1001, 9001));
    return c;
  }
  Result Say(Conn& c, const std::string& bytes) {
    Result r = In(Tcp(kPhone, c.sport, kPeer, c.dport, TCP::ACK | TCP::PSH,
                      c.cseq, c.sseq, bytes));
    c.cseq += static_cast<uint32_t>(bytes.size());
    return r;
  }
  // Every octet of `out` but those of the vector's inside addresses is
  // `in`'s; those hold the external address.
  void ExpectOnlyAddressesChanged(const Vector& v, const std::string& out) {
    ASSERT_EQ(out.size(), v.bytes.size());
    DumpRewritten(v, out);
    std::vector<bool> addr(out.size(), false);
    for (const Addr& a : v.addrs) {
      if (a.ip != kPhone) continue;
      for (int k = 0; k < 6; ++k) addr[a.offset + k] = true;
      EXPECT_EQ(Dotted(At32(out, a.offset)), "203.0.113.1") << a.field;
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (!addr[i]) {
        EXPECT_EQ(static_cast<uint8_t>(out[i]), v.bytes[i]) << "octet " << i;
      }
    }
  }
  uint16_t PortAt(const std::string& out, const Vector& v,
                  std::string_view field, int nth = 0) {
    for (const Addr& a : v.addrs) {
      if (a.field == field && nth-- == 0) return At16(out, a.offset + 4);
    }
    ADD_FAILURE() << "no " << field;
    return 0;
  }

  H323Helper h323;
};

TEST_F(H323Test, SetupWithFastStartAndTheConnectionsItOpens) {
  Conn c = Connect(11720);
  const Vector& v = Get("setup_faststart");
  Result r = Say(c, Str(v.bytes));
  const std::string out = r.data();
  ExpectOnlyAddressesChanged(v, out);
  EXPECT_EQ(PortAt(out, v, "sourceCallSignalAddress"), c.ext)
      << "the call's own external endpoint";
  const uint16_t h245 = PortAt(out, v, "h245Address");
  const uint16_t rtp = PortAt(out, v, "mediaChannel");
  EXPECT_EQ(rtp % 2, 0) << "an even RTP port";
  EXPECT_EQ(PortAt(out, v, "mediaControlChannel", 1), rtp + 1);
  EXPECT_EQ(PortAt(out, v, "mediaControlChannel", 0), rtp + 1)
      << "the forward channel's RTCP is the same inside port";
  EXPECT_EQ(h323.stats().rewritten, 1u);
  EXPECT_EQ(h323.stats().addresses, 5u);
  EXPECT_EQ(h323.stats().h245_channels, 1u);
  // The peer connects to the H.245 address; that connection has the H.245
  // helper, which rewrites the phone's OpenLogicalChannelAck.
  auto syn = Out(Tcp(kPeer, 30000, "203.0.113.1", h245, TCP::SYN, 5000));
  EXPECT_EQ(syn.dport(), 11001);
  EXPECT_EQ(FlowOf(11001).helper, "h245");
  In(Tcp(kPhone, 11001, kPeer, 30000, TCP::SYN | TCP::ACK, 7000, 5001));
  const Vector& ack = Get("h245_olcack");
  auto a = In(Tcp(kPhone, 11001, kPeer, 30000, TCP::ACK | TCP::PSH, 7001, 5001,
                  Str(ack.bytes)));
  ExpectOnlyAddressesChanged(ack, a.data());
  const uint16_t rtp2 = PortAt(a.data(), ack, "mediaChannel");
  EXPECT_EQ(PortAt(a.data(), ack, "mediaControlChannel"), rtp2 + 1);
  EXPECT_EQ(h323.stats().h245_messages, 1u);
  // Media from the peer reaches the phone's RTP and RTCP ports.
  EXPECT_EQ(Out(Udp(kPeer, 40000, "203.0.113.1", rtp)).dport(), 16000);
  EXPECT_EQ(Out(Udp(kPeer, 40001, "203.0.113.1", rtp + 1)).dport(), 16001);
  EXPECT_EQ(Out(Udp(kPeer, 40002, "203.0.113.1", rtp2)).dport(), 16600);
  // From another address, nothing gets in.
  EXPECT_EQ(
      RunOut(Udp("198.51.100.9", 40000, "203.0.113.1", rtp2 + 1)).v.action,
      Verdict::kDrop);
}

// The callee (outside) names its own H.245 address in Connect: the phone's
// connection there gets the H.245 helper, which rewrites its
// OpenLogicalChannelAck.
TEST_F(H323Test, TheOutsidesH245AddressGetsTheHelperOnTheWayOut) {
  Conn c = Connect(11720);
  Say(c, Str(Get("setup_plain").bytes));
  std::string connect = Str(Get("connect_faststart").bytes);
  const char peer[6] = {'\xcb', 0, 'q', 2, 0x2e, (char)0xe0};  // .2:12000
  for (const Addr& a : Get("connect_faststart").addrs) {
    connect.replace(a.offset, 6, peer, 6);
  }
  Out(Tcp(kPeer, 1720, "203.0.113.1", c.ext, TCP::ACK | TCP::PSH, c.sseq,
          c.cseq, connect));
  EXPECT_EQ(h323.stats().h245_outbound, 1u);
  In(Tcp(kPhone, 11002, kPeer, 12000, TCP::SYN, 3000));
  EXPECT_EQ(FlowOf(11002).helper, "h245");
  const uint16_t ext = FlowOf(11002).external_port;
  Out(Tcp(kPeer, 12000, "203.0.113.1", ext, TCP::SYN | TCP::ACK, 8000, 3001));
  const Vector& ack = Get("h245_olcack");
  auto a = In(Tcp(kPhone, 11002, kPeer, 12000, TCP::ACK | TCP::PSH, 3001, 8001,
                  Str(ack.bytes)));
  ExpectOnlyAddressesChanged(ack, a.data());
  // Only that connection: another to the same peer gets no helper.
  In(Tcp(kPhone, 11003, kPeer, 12000, TCP::SYN, 3000));
  EXPECT_EQ(FlowOf(11003).helper, "");
}

TEST_F(H323Test, EveryUuieAndTunnelledH245) {
  for (const char* name :
       {"callproceeding_h245", "alerting_h245", "connect_faststart",
        "facility_h245", "facility_alternative", "progress_faststart",
        "setup_tunnel", "setup_faststart_g7231"}) {
    SCOPED_TRACE(name);
    const Vector& v = Get(name);
    Conn c = Connect(static_cast<uint16_t>(20000 + h323.stats().messages));
    const uint64_t before = h323.stats().addresses;
    ExpectOnlyAddressesChanged(v, Say(c, Str(v.bytes)).data());
    size_t inside = 0;
    for (const Addr& a : v.addrs) inside += a.ip == kPhone;
    EXPECT_EQ(h323.stats().addresses - before, inside);
  }
  EXPECT_EQ(h323.stats().malformed + h323.stats().unsupported, 0u);
}

TEST_F(H323Test, PackedAndSplitMessages) {
  Conn c = Connect(11720);
  const Vector& a = Get("alerting_h245");
  const Vector& k = Get("connect_faststart");
  // Two TPKT messages in one segment: both rewritten.
  const std::string out = Say(c, Str(a.bytes) + Str(k.bytes)).data();
  ExpectOnlyAddressesChanged(a, out.substr(0, a.bytes.size()));
  ExpectOnlyAddressesChanged(k, out.substr(a.bytes.size()));
  EXPECT_EQ(h323.stats().messages, 2u);
  // One message across three segments: its start is held (those segments
  // go no further; the engine counts their bytes as sent) and it goes out
  // whole, rewritten, with the last.
  const Vector& v = Get("setup_faststart");
  const std::string bytes = Str(v.bytes);
  const uint32_t start = c.cseq;
  Result r1 = RunIn(Tcp(kPhone, c.sport, kPeer, c.dport, TCP::ACK | TCP::PSH,
                        c.cseq, c.sseq, bytes.substr(0, 3)));
  ASSERT_TRUE(r1.forwarded());
  EXPECT_EQ(r1.data(), "") << "all of it held";
  EXPECT_LT(static_cast<int32_t>(r1.seq() - start), 0)
      << "before the receiver's next byte: it answers with an ACK";
  c.cseq += 3;
  Result r2 = RunIn(Tcp(kPhone, c.sport, kPeer, c.dport, TCP::ACK | TCP::PSH,
                        c.cseq, c.sseq, bytes.substr(3, 40)));
  ASSERT_TRUE(r2.forwarded());
  EXPECT_EQ(r2.data(), "");
  EXPECT_LT(static_cast<int32_t>(r2.seq() - start), 0);
  c.cseq += 40;
  Result r3 = Say(c, bytes.substr(43));
  ExpectOnlyAddressesChanged(v, r3.data());
  EXPECT_EQ(r3.seq(), start) << "it starts where the message did";
  EXPECT_EQ(h323.stats().tcp.held, 2u);
  EXPECT_EQ(h323.stats().tcp.reassembled, 1u);
  // The peer's ACK of it all reaches the phone as the end of its bytes.
  auto ack = Out(Tcp(kPeer, c.dport, "203.0.113.1", c.ext, TCP::ACK, c.sseq,
                     start + static_cast<uint32_t>(bytes.size())));
  EXPECT_EQ(ack.ack(), c.cseq);
  // A message longer than kMaxHeld across segments passes unedited, and
  // the stream stays in step: the next whole one is rewritten.
  std::string big = std::string("\x03\x00\x13\x88", 4) + "\x08";
  big.resize(5000, '\0');
  for (size_t at = 0; at < big.size(); at += 1400) {
    EXPECT_EQ(Say(c, big.substr(at, 1400)).data(), big.substr(at, 1400));
  }
  EXPECT_EQ(h323.stats().tcp.split_unedited, 1u);
  const Vector& f = Get("facility_h245");
  ExpectOnlyAddressesChanged(f, Say(c, Str(f.bytes)).data());
  // A retransmission of that segment goes out as it did.
  c.cseq -= static_cast<uint32_t>(f.bytes.size());
  ExpectOnlyAddressesChanged(f, Say(c, Str(f.bytes)).data());
  EXPECT_EQ(h323.stats().tcp.retransmits, 1u);
}

// The sender, without an ACK for a held TPKT header, sends it again with
// the rest of the message in one segment: the engine would place that
// segment before where the header's bytes go out, so it goes on empty, and
// the rest sent again alone goes out whole at the message's place.
TEST_F(H323Test, ARetransmissionFromAHeldStartWithMoreBytes) {
  Conn c = Connect(11720);
  const Vector& v = Get("setup_faststart");
  const std::string bytes = Str(v.bytes);
  const uint32_t start = c.cseq;
  Result hdr = Say(c, bytes.substr(0, 4));
  EXPECT_EQ(hdr.data(), "");
  const uint32_t place = hdr.seq() + 4;  // where the message goes
  Result again = In(Tcp(kPhone, c.sport, kPeer, c.dport, TCP::ACK | TCP::PSH,
                        start, c.sseq, bytes));
  EXPECT_EQ(again.data(), "") << "not placed 4 octets early";
  EXPECT_EQ(h323.stats().tcp.resent_held, 1u);
  Result rest = Say(c, bytes.substr(4));
  ExpectOnlyAddressesChanged(v, rest.data());
  EXPECT_EQ(rest.seq(), place);
  EXPECT_EQ(rest.seq(), start) << "the receiver's next byte";
}

TEST_F(H323Test, MalformedPassesUntouched) {
  Conn c = Connect(11720);
  const Vector& v = Get("setup_faststart");
  std::string bytes = Str(v.bytes);
  // The PER after the first octets of the UUIE made nonsense.
  h323::Q931View q;
  ASSERT_TRUE(h323::ParseQ931(std::span<const uint8_t>(v.bytes).subspan(4), q));
  const size_t at =
      static_cast<size_t>(q.user_information.data() - v.bytes.data());
  for (size_t i = at + 2; i < bytes.size(); ++i) bytes[i] = '\xff';
  EXPECT_EQ(Say(c, bytes).data(), bytes);
  EXPECT_EQ(h323.stats().malformed, 1u);
  EXPECT_EQ(h323.stats().rewritten, 0u);
  // Not TPKT: the rest of that segment passes, and so does what follows
  // until a segment starts with a message again.
  EXPECT_EQ(Say(c, "GET / HTTP/1.0\r\n\r\n").data(), "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(h323.stats().tcp.parse_failures, 1u) << "bad_tpkt";
  EXPECT_EQ(Say(c, "Host: x\r\n").data(), "Host: x\r\n");
  EXPECT_EQ(h323.stats().tcp.parse_failures, 1u) << "counted once";
  ExpectOnlyAddressesChanged(v, Say(c, Str(v.bytes)).data());
}

TEST_F(H323Test, RasRegistrationOpensTheCallSignallingPort) {
  const Vector& v = Get("ras_rrq");
  auto r = In(Udp(kPhone, 11719, kPeer, 1719, Str(v.bytes)));
  const std::string out = r.data();
  ExpectOnlyAddressesChanged(v, out);
  EXPECT_EQ(PortAt(out, v, "rasAddress"), r.sport())
      << "the RAS flow's own external port";
  const uint16_t cs = PortAt(out, v, "callSignalAddress");
  EXPECT_EQ(h323.stats().call_signal, 1u);
  EXPECT_GT(FlowOf(11719, kProtoUdp).held_until, now)
      << "held while registered";
  // The gatekeeper's RCF comes back; then it calls the endpoint.
  Out(Udp(kPeer, 1719, "203.0.113.1", r.sport(), Str(Get("ras_rcf").bytes)));
  auto syn = Out(Tcp(kPeer, 31000, "203.0.113.1", cs, TCP::SYN, 100));
  EXPECT_EQ(syn.dport(), 11721);
  EXPECT_EQ(FlowOf(11721).helper, "h323");
  // ARQ and LRQ from the endpoint: its addresses rewritten too.
  for (const char* name : {"ras_arq", "ras_lrq"}) {
    SCOPED_TRACE(name);
    const Vector& x = Get(name);
    ExpectOnlyAddressesChanged(
        x, In(Udp(kPhone, 11719, kPeer, 1719, Str(x.bytes))).data());
  }
  EXPECT_EQ(h323.stats().ras_messages, 4u);
}

}  // namespace
}  // namespace unat::helpers::testing
