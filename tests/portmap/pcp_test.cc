// PCP (RFC 6887) through a real Nat: header validation, MAP create /
// refresh / delete, nonces, ADDRESS_MISMATCH, THIRD_PARTY, PREFER_FAILURE,
// FILTER, unknown options, PEER, ANNOUNCE, protocol 0, error lifetimes.
#include <gtest/gtest.h>

#include "tests/portmap/portmap_fixture.h"

namespace unat::portmap::test {
namespace {

using Nonce12 = std::array<uint8_t, 12>;
constexpr Nonce12 kNonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
constexpr Nonce12 kOtherNonce = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

void PutMapped(Bytes& b, uint32_t v4) {
  for (int i = 0; i < 10; ++i) b.push_back(0);
  b.push_back(0xff);
  b.push_back(0xff);
  Put32(b, v4);
}
void PutZero(Bytes& b, size_t n) { b.insert(b.end(), n, 0); }

Bytes Header(uint8_t op, uint32_t lifetime, uint32_t client) {
  Bytes b = {2, op, 0, 0};
  Put32(b, lifetime);
  PutMapped(b, client);
  return b;
}

Bytes Map(uint32_t lifetime, uint8_t proto, uint16_t iport, uint16_t eport = 0,
          uint32_t eaddr = 0, const Nonce12& nonce = kNonce,
          uint32_t client = A("10.77.0.5")) {
  Bytes b = Header(1, lifetime, client);
  b.insert(b.end(), nonce.begin(), nonce.end());
  b.push_back(proto);
  PutZero(b, 3);
  Put16(b, iport);
  Put16(b, eport);
  if (eaddr) {
    PutMapped(b, eaddr);
  } else {
    PutZero(b, 16);
  }
  return b;
}

Bytes Peer(uint32_t lifetime, uint8_t proto, uint16_t iport, uint32_t raddr,
           uint16_t rport, const Nonce12& nonce = kNonce,
           uint32_t client = A("10.77.0.5")) {
  Bytes b = Header(2, lifetime, client);
  b.insert(b.end(), nonce.begin(), nonce.end());
  b.push_back(proto);
  PutZero(b, 3);
  Put16(b, iport);
  Put16(b, 0);
  PutZero(b, 16);
  Put16(b, rport);
  Put16(b, 0);
  PutMapped(b, raddr);
  return b;
}

Bytes Option(uint8_t code, const Bytes& data) {
  Bytes b = {code, 0};
  Put16(b, static_cast<uint16_t>(data.size()));
  b.insert(b.end(), data.begin(), data.end());
  while (b.size() % 4) b.push_back(0);
  return b;
}
Bytes ThirdParty(uint32_t addr) {
  Bytes d;
  PutMapped(d, addr);
  return Option(pcp::kOptThirdParty, d);
}
Bytes PreferFailure() { return Option(pcp::kOptPreferFailure, {}); }
Bytes Filter(uint32_t addr, uint8_t prefix, uint16_t port) {
  Bytes d = {0, prefix};
  Put16(d, port);
  PutMapped(d, addr);
  return Option(pcp::kOptFilter, d);
}
Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class PcpTest : public PortmapTest {
 protected:
  // Common response checks; returns the result code.
  uint8_t Result(const Bytes& r) { return r.size() >= 4 ? r[3] : 0xff; }
  uint32_t Lifetime(const Bytes& r) { return Get32(r, 4); }
  uint16_t ExtPort(const Bytes& r) { return Get16(r, 42); }
  uint32_t ExtAddr(const Bytes& r) { return Get32(r, 56); }
};

TEST_F(PcpTest, MapCreateExactResponseAndForwards) {
  now += 3'000;
  const Bytes req = Map(3600, kProtoTcp, 80, 8080);
  auto r = Ask(req);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 60u);
  Bytes want = {2, 0x81, 0, 0};
  Put32(want, 3600);
  Put32(want, 3);  // epoch
  PutZero(want, 12);
  want.insert(want.end(), kNonce.begin(), kNonce.end());
  want.push_back(kProtoTcp);
  PutZero(want, 3);
  Put16(want, 80);
  Put16(want, 8080);
  PutMapped(want, A(kExt));
  EXPECT_EQ(*r, want);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan));
  ASSERT_EQ(nat->Forwards().size(), 1u);
  EXPECT_EQ(nat->Forwards()[0].spec.owner, ForwardOwner::kPcp);
  EXPECT_EQ(server->stats().pcp_results[pcp::kSuccess], 1u);
}

TEST_F(PcpTest, MapUdpWithoutSuggestionAndLifetimeClamp) {
  auto r = Ask(Map(5, kProtoUdp, 5353));
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kSuccess);
  EXPECT_EQ(Lifetime(*r), 120u);
  EXPECT_GE(ExtPort(*r), 1024);
  EXPECT_EQ(ExtAddr(*r), A(kExt));
  EXPECT_TRUE(Reaches(kProtoUdp, ExtPort(*r), kHost, 5353, lan));
  auto r2 = Ask(Map(0xffffffff, kProtoUdp, 5354));
  EXPECT_EQ(Lifetime(*r2), 86400u);
}

TEST_F(PcpTest, RefreshSameNonceKeepsPort) {
  auto r1 = Ask(Map(600, kProtoTcp, 80));
  const uint16_t port = ExtPort(*r1);
  now += 100'000;
  auto r2 = Ask(Map(1200, kProtoTcp, 80, 9999));
  ASSERT_TRUE(r2);
  EXPECT_EQ(Result(*r2), pcp::kSuccess);
  EXPECT_EQ(ExtPort(*r2), port);
  EXPECT_EQ(Lifetime(*r2), 1200u);
  EXPECT_EQ(nat->Forwards()[0].spec.expires, now + 1'200'000);
}

TEST_F(PcpTest, OtherNonceIsNotAuthorizedForRefreshAndDelete) {
  auto r1 = Ask(Map(600, kProtoTcp, 80, 8080));
  ASSERT_EQ(Result(*r1), pcp::kSuccess);
  auto r2 = Ask(Map(600, kProtoTcp, 80, 8080, 0, kOtherNonce));
  ASSERT_TRUE(r2);
  EXPECT_EQ(Result(*r2), pcp::kNotAuthorized);
  EXPECT_EQ(Lifetime(*r2), 1800u);  // a long lifetime error
  auto r3 = Ask(Map(0, kProtoTcp, 80, 0, 0, kOtherNonce));
  EXPECT_EQ(Result(*r3), pcp::kNotAuthorized);
  EXPECT_EQ(registry->size(), 1u);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan));
}

TEST_F(PcpTest, DeleteClosesThePath) {
  ASSERT_EQ(Result(*Ask(Map(600, kProtoUdp, 5000, 15000))), pcp::kSuccess);
  auto d = Ask(Map(0, kProtoUdp, 5000));
  ASSERT_TRUE(d);
  EXPECT_EQ(Result(*d), pcp::kSuccess);
  EXPECT_EQ(Lifetime(*d), 0u);
  EXPECT_EQ(ExtPort(*d), 15000);
  EXPECT_TRUE(nat->Forwards().empty());
  EXPECT_FALSE(Reaches(kProtoUdp, 15000, kHost, 5000, lan));
  // Deleting again: still a success.
  EXPECT_EQ(Result(*Ask(Map(0, kProtoUdp, 5000))), pcp::kSuccess);
}

TEST_F(PcpTest, ProtocolZero) {
  // Create "all protocols": refused.
  auto r = Ask(Map(600, 0, 0));
  EXPECT_EQ(Result(*r), pcp::kUnsuppProtocol);
  EXPECT_EQ(Lifetime(*r), 1800u);
  // All protocols with a port: malformed.
  EXPECT_EQ(Result(*Ask(Map(600, 0, 80))), pcp::kMalformedRequest);
  // Delete with protocol 0: every mapping of this nonce, all protocols.
  ASSERT_EQ(Result(*Ask(Map(600, kProtoTcp, 80))), pcp::kSuccess);
  ASSERT_EQ(Result(*Ask(Map(600, kProtoUdp, 81))), pcp::kSuccess);
  ASSERT_EQ(Result(*Ask(Map(600, kProtoUdp, 82, 0, 0, kOtherNonce))),
            pcp::kSuccess);
  auto d = Ask(Map(0, 0, 0));
  EXPECT_EQ(Result(*d), pcp::kSuccess);
  EXPECT_EQ(registry->size(), 1u);
  EXPECT_TRUE(registry->Find({lan, kProtoUdp, A(kHost), 82}));
}

TEST_F(PcpTest, UnsupportedProtocol) {
  auto r = Ask(Map(600, 132, 80));  // SCTP
  EXPECT_EQ(Result(*r), pcp::kUnsuppProtocol);
  EXPECT_EQ(Result(*Ask(Peer(600, 1, 80, A(kRemote), 80))),
            pcp::kUnsuppProtocol);
}

TEST_F(PcpTest, AllPortsIsNotAuthorized) {
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 0))), pcp::kNotAuthorized);
}

TEST_F(PcpTest, AddressMismatch) {
  auto r = Ask(Map(600, kProtoTcp, 80, 0, 0, kNonce, A("10.77.0.99")));
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kAddressMismatch);
  EXPECT_EQ(Lifetime(*r), 1800u);
  // An IPv6 client address is a mismatch too.
  Bytes v6 = Map(600, kProtoTcp, 80);
  v6[8] = 0x20;
  v6[9] = 0x01;
  EXPECT_EQ(Result(*Ask(v6)), pcp::kAddressMismatch);
  EXPECT_EQ(registry->size(), 0u);
}

TEST_F(PcpTest, ThirdPartyRefusedByDefault) {
  auto r = Ask(Map(600, kProtoTcp, 80) + ThirdParty(A("10.77.0.9")));
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kNotAuthorized);
  EXPECT_EQ(r->size(), 80u);  // the request, option included, echoed
  EXPECT_EQ(registry->size(), 0u);
  // Naming yourself as the third party is malformed.
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80) + ThirdParty(A(kHost)))),
            pcp::kMalformedRequest);
}

TEST_F(PcpTest, ThirdPartyAllowedByPolicy) {
  MappingPolicy p;
  p.allow_third_party = true;
  Make(p);
  auto r = Ask(Map(600, kProtoTcp, 80, 8081) + ThirdParty(A("10.77.0.9")));
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kSuccess);
  ASSERT_EQ(r->size(), 80u);  // the processed option is in the answer
  EXPECT_EQ(r->at(60), pcp::kOptThirdParty);
  EXPECT_TRUE(Reaches(kProtoTcp, 8081, "10.77.0.9", 80, lan));
  auto lease = registry->Find({lan, kProtoTcp, A("10.77.0.9"), 80});
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->client, A(kHost));
}

TEST_F(PcpTest, PreferFailure) {
  ForwardSpec s;
  s.proto = kProtoTcp;
  s.external_port = 8080;
  s.ns = lan;
  s.inside_addr = A("10.77.0.9");
  s.inside_port = 80;
  ASSERT_TRUE(nat->AddForward(s, now).ok());
  // Taken, and it insists: CANNOT_PROVIDE_EXTERNAL, a short lifetime error.
  auto r = Ask(Map(600, kProtoTcp, 80, 8080) + PreferFailure());
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kCannotProvideExternal);
  EXPECT_EQ(Lifetime(*r), 30u);
  EXPECT_EQ(registry->size(), 0u);
  // Without the option another port is chosen.
  auto r2 = Ask(Map(600, kProtoTcp, 80, 8080));
  EXPECT_EQ(Result(*r2), pcp::kSuccess);
  EXPECT_NE(ExtPort(*r2), 8080);
  // Free: exactly that port, option echoed.
  auto r3 = Ask(Map(600, kProtoTcp, 81, 8181) + PreferFailure());
  EXPECT_EQ(Result(*r3), pcp::kSuccess);
  EXPECT_EQ(ExtPort(*r3), 8181);
  ASSERT_EQ(r3->size(), 64u);
  EXPECT_EQ(r3->at(60), pcp::kOptPreferFailure);
  // An address that is not ours, insisted on.
  auto r4 =
      Ask(Map(600, kProtoTcp, 82, 8282, A("192.0.2.1")) + PreferFailure());
  EXPECT_EQ(Result(*r4), pcp::kCannotProvideExternal);
  // Nothing suggested at all: the option makes no sense.
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 83) + PreferFailure())),
            pcp::kMalformedOption);
  // Held by a NAT-PMP mapping: never handed out twice.
  MapRequest req;
  req.owner = ForwardOwner::kNatPmp;
  req.ns = lan2;
  req.client = A(kHost);
  req.inside_addr = A(kHost);
  req.inside_port = 90;
  req.suggested_port = 9090;
  req.lifetime_s = 600;
  ASSERT_EQ(registry->Map(req, now).lease.external_port, 9090);
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 84, 9090) + PreferFailure())),
            pcp::kCannotProvideExternal);
}

TEST_F(PcpTest, FilterLimitsRemotePeers) {
  auto r = Ask(Map(600, kProtoTcp, 80, 8080) + Filter(A(kRemote), 128, 0));
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kSuccess);
  ASSERT_EQ(r->size(), 84u);
  EXPECT_EQ(r->at(60), pcp::kOptFilter);
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan, kRemote, 45000));
  Bytes out;
  EXPECT_EQ(Inbound(unat::testing::Tcp("198.51.100.8", 45000, kExt, 8080), &out)
                .reason,
            DropReason::kFiltered);
  ASSERT_EQ(nat->Forwards()[0].spec.allowed_remotes.size(), 1u);
  // A refresh with prefix length 0 removes every filter.
  auto r2 = Ask(Map(600, kProtoTcp, 80, 8080) + Filter(0, 0, 0));
  EXPECT_EQ(Result(*r2), pcp::kSuccess);
  EXPECT_TRUE(nat->Forwards()[0].spec.allowed_remotes.empty());
  EXPECT_TRUE(Reaches(kProtoTcp, 8080, kHost, 80, lan, "198.51.100.8"));
  // A /120 (IPv4 /24) with a port.
  auto r3 = Ask(Map(600, kProtoTcp, 80, 8080) +
                Filter(A("198.51.100.0"), 120, 45000));
  EXPECT_EQ(Result(*r3), pcp::kSuccess);
  const auto f = nat->Forwards()[0].spec.allowed_remotes;
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].addr, A("198.51.100.0"));
  EXPECT_EQ(f[0].prefix_len, 24);
  EXPECT_EQ(f[0].port, 45000);
  // The same /24 as libpcp sends it: the IPv4 prefix length itself.
  auto r4 =
      Ask(Map(600, kProtoTcp, 80, 8080) + Filter(A("198.51.100.0"), 24, 0));
  EXPECT_EQ(Result(*r4), pcp::kSuccess);
  const auto g = nat->Forwards()[0].spec.allowed_remotes;
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].addr, A("198.51.100.0"));
  EXPECT_EQ(g[0].prefix_len, 24);
}

TEST_F(PcpTest, FilterValidationAndBound) {
  // Neither an IPv4 length (1..32) nor one over the mapped address (96..128).
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80) + Filter(A(kRemote), 33, 0))),
            pcp::kMalformedOption);
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80) + Filter(A(kRemote), 95, 0))),
            pcp::kMalformedOption);
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80) + Filter(A(kRemote), 64, 0))),
            pcp::kMalformedOption);
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80) + Filter(A(kRemote), 129, 0))),
            pcp::kMalformedOption);
  Bytes many = Map(600, kProtoTcp, 80);
  for (int i = 0; i < 9; ++i) many = many + Filter(A(kRemote) + i, 128, 0);
  auto r = Ask(many);
  EXPECT_EQ(Result(*r), pcp::kExcessiveRemotePeers);
  EXPECT_EQ(registry->size(), 0u);
  // FILTER is a MAP option only.
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 53) +
                        Filter(A(kRemote), 128, 0))),
            pcp::kMalformedOption);
}

TEST_F(PcpTest, UnknownMandatoryOptionIsEchoedUnknownOptionalIgnored) {
  const Bytes opt = Option(99, {0xde, 0xad, 0xbe, 0xef});
  const Bytes req = Map(600, kProtoTcp, 80) + opt;
  auto r = Ask(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kUnsuppOption);
  ASSERT_EQ(r->size(), req.size());
  EXPECT_TRUE(std::equal(opt.begin(), opt.end(), r->begin() + 60));
  EXPECT_EQ(registry->size(), 0u);
  auto r2 = Ask(Map(600, kProtoTcp, 80) + Option(200, {1, 2, 3}));
  EXPECT_EQ(Result(*r2), pcp::kSuccess);
  EXPECT_EQ(r2->size(), 60u);  // not processed, not echoed
}

TEST_F(PcpTest, MalformedOptions) {
  // Length beyond the packet.
  Bytes bad = Map(600, kProtoTcp, 80) + Bytes{1, 0, 0, 16};
  EXPECT_EQ(Result(*Ask(bad)), pcp::kMalformedOption);
  // Wrong length for the option.
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80) + Option(2, {0, 0, 0, 0}))),
            pcp::kMalformedOption);
  // Twice where once is allowed.
  EXPECT_EQ(Result(*Ask(Map(600, kProtoTcp, 80, 8080) + PreferFailure() +
                        PreferFailure())),
            pcp::kMalformedOption);
  // PREFER_FAILURE with PEER.
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 53) +
                        PreferFailure())),
            pcp::kMalformedOption);
  EXPECT_EQ(registry->size(), 0u);
}

TEST_F(PcpTest, HeaderValidation) {
  // Shorter than a header: MALFORMED_REQUEST, answered in 24 bytes.
  Bytes short_req = Header(1, 600, A(kHost));
  short_req.resize(20);
  auto r = Ask(short_req);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 24u);
  EXPECT_EQ((*r)[0], 2);
  EXPECT_EQ((*r)[1], 0x81);
  EXPECT_EQ(Result(*r), pcp::kMalformedRequest);
  EXPECT_EQ(Lifetime(*r), 1800u);
  // Not a multiple of 4: the answer is padded.
  Bytes odd = Map(600, kProtoTcp, 80);
  odd.resize(62);
  r = Ask(odd);
  ASSERT_EQ(r->size(), 64u);
  EXPECT_EQ(Result(*r), pcp::kMalformedRequest);
  // Longer than 1100: the answer stops at 1100.
  Bytes big = Map(600, kProtoTcp, 80) + Option(200, Bytes(1040, 0));
  ASSERT_GT(big.size(), 1100u);
  r = Ask(big);
  ASSERT_EQ(r->size(), 1100u);
  EXPECT_EQ(Result(*r), pcp::kMalformedRequest);
  // Exactly 1100 is fine.
  Bytes max = Map(600, kProtoTcp, 80) + Option(200, Bytes(1036, 0));
  ASSERT_EQ(max.size(), 1100u);
  EXPECT_EQ(Result(*Ask(max)), pcp::kSuccess);
  // Opcode data missing.
  EXPECT_EQ(Result(*Ask(Header(1, 600, A(kHost)))), pcp::kMalformedRequest);
  EXPECT_EQ(Result(*Ask(Header(2, 600, A(kHost)) + Bytes(36, 0))),
            pcp::kMalformedRequest);
  // Unknown opcode.
  r = Ask(Header(5, 600, A(kHost)));
  EXPECT_EQ((*r)[1], 0x85);
  EXPECT_EQ(Result(*r), pcp::kUnsuppOpcode);
  // Other versions.
  for (uint8_t v : {1, 3, 255}) {
    Bytes req = Map(600, kProtoTcp, 80);
    req[0] = v;
    r = Ask(req);
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[0], 2);
    EXPECT_EQ(Result(*r), pcp::kUnsuppVersion);
    EXPECT_EQ(Lifetime(*r), 1800u);
  }
  // A response (R bit): dropped, counted.
  Bytes resp = Map(600, kProtoTcp, 80);
  resp[1] |= 0x80;
  EXPECT_FALSE(Ask(resp));
  EXPECT_EQ(server->stats().drops[int(PortMapDrop::kResponse)], 1u);
  // One byte: dropped.
  EXPECT_FALSE(Ask({2}));
  EXPECT_EQ(server->stats().drops[int(PortMapDrop::kTruncated)], 1u);
  // Reserved header bits in the request are ignored (RFC 6887 7.1) and
  // zero in every answer.
  Bytes reserved = Map(600, kProtoTcp, 80);
  reserved[2] = 0xff;
  reserved[3] = 0xff;
  r = Ask(reserved);
  EXPECT_EQ(Result(*r), pcp::kSuccess);
  EXPECT_EQ((*r)[2], 0);
  EXPECT_TRUE(std::all_of(r->begin() + 12, r->begin() + 24,
                          [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(registry->size(), 1u);
}

TEST_F(PcpTest, Announce) {
  now += 12'000;
  auto r = Ask(Header(0, 0, A(kHost)));
  ASSERT_TRUE(r);
  Bytes want = {2, 0x80, 0, 0, 0, 0, 0, 0};
  Put32(want, 12);
  PutZero(want, 12);
  EXPECT_EQ(*r, want);
  // The client address is checked for ANNOUNCE too.
  EXPECT_EQ(Result(*Ask(Header(0, 0, A("10.77.0.99")))), pcp::kAddressMismatch);
}

TEST_F(PcpTest, PeerCreatesAndPinsTheFlow) {
  auto r = Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 3478));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 80u);
  EXPECT_EQ(Result(*r), pcp::kSuccess);
  EXPECT_EQ(Lifetime(*r), 600u);
  const uint16_t ext_port = ExtPort(*r);
  EXPECT_EQ(ExtAddr(*r), A(kExt));
  EXPECT_EQ(Get16(*r, 60), 3478);  // remote peer echoed
  EXPECT_EQ(Get32(*r, 76), A(kRemote));
  // The host's own packet to that peer uses the same external endpoint.
  Buf b(unat::testing::Udp(kHost, 5000, kRemote, 3478));
  ASSERT_EQ(nat->ProcessInside(lan, b.pkt, now).action, Verdict::kForward);
  Tins::IP out(b.out().data(), static_cast<uint32_t>(b.out().size()));
  EXPECT_EQ(out.rfind_pdu<Tins::UDP>().sport(), ext_port);
  // Past the UDP idle timeout (300 s) but inside the lifetime, the peer can
  // still reach the host.
  AdvanceTo(now + 500'000);
  EXPECT_TRUE(Reaches(kProtoUdp, ext_port, kHost, 5000, lan, kRemote, 3478));
  // Refresh with another nonce: refused. Same nonce: fine, same port.
  EXPECT_EQ(
      Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 3478, kOtherNonce))),
      pcp::kNotAuthorized);
  auto r2 = Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 3478));
  EXPECT_EQ(Result(*r2), pcp::kSuccess);
  EXPECT_EQ(ExtPort(*r2), ext_port);
  // Delete.
  auto d = Ask(Peer(0, kProtoUdp, 5000, A(kRemote), 3478));
  EXPECT_EQ(Result(*d), pcp::kSuccess);
  EXPECT_EQ(Lifetime(*d), 0u);
  EXPECT_TRUE(server->peers().empty());
}

TEST_F(PcpTest, PeerValidation) {
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 0, A(kRemote), 53))),
            pcp::kMalformedRequest);
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 0))),
            pcp::kMalformedRequest);
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, 0, 53))),
            pcp::kMalformedRequest);
}

TEST_F(PcpTest, UserQuotaIsAShortLifetimeError) {
  MappingPolicy p;
  p.max_per_client = 1;
  Make(p);
  ASSERT_EQ(Result(*Ask(Map(600, kProtoTcp, 80))), pcp::kSuccess);
  auto r = Ask(Map(600, kProtoTcp, 81));
  EXPECT_EQ(Result(*r), pcp::kUserExQuota);
  EXPECT_EQ(Lifetime(*r), 30u);
  ASSERT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 53))),
            pcp::kSuccess);
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5001, A(kRemote), 53))),
            pcp::kUserExQuota);
}

TEST_F(PcpTest, NamespaceShareIsUserExQuota) {
  // The tenant is the subscriber: past its share, USER_EX_QUOTA (a short
  // lifetime error); the other tenant is still served.
  MappingPolicy p;
  p.max_total = 4;  // 2 per namespace
  Make(p);
  const char* clients[] = {"10.77.0.5", "10.77.0.6", "10.77.0.7"};
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Result(*Ask(Map(600, kProtoTcp, 80, 0, 0, kNonce, A(clients[i])),
                          clients[i])),
              pcp::kSuccess);
  }
  auto r =
      Ask(Map(600, kProtoTcp, 80, 0, 0, kNonce, A(clients[2])), clients[2]);
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kUserExQuota);
  EXPECT_EQ(Lifetime(*r), 30u);
  // PEER leases count against the same share.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 53, kNonce,
                               A(clients[i])),
                          clients[i])),
              pcp::kSuccess);
  }
  EXPECT_EQ(Result(*Ask(Peer(600, kProtoUdp, 5000, A(kRemote), 53, kNonce,
                             A(clients[2])),
                        clients[2])),
            pcp::kUserExQuota);
  auto r2 = Ask(Map(600, kProtoTcp, 80), kHost, 40001, lan2);
  ASSERT_TRUE(r2);
  EXPECT_EQ(Result(*r2), pcp::kSuccess);
}

TEST_F(PcpTest, NoResourcesWhenTheTableIsFull) {
  MappingPolicy p;
  p.max_total = 1;
  Make(p);
  ASSERT_EQ(Result(*Ask(Map(600, kProtoTcp, 80))), pcp::kSuccess);
  auto r = Ask(Map(600, kProtoTcp, 80), "10.77.0.6");
  ASSERT_TRUE(r);
  // (that request carries 10.77.0.5 as its client address)
  EXPECT_EQ(Result(*r), pcp::kAddressMismatch);
  auto r2 =
      Ask(Map(600, kProtoTcp, 80, 0, 0, kNonce, A("10.77.0.6")), "10.77.0.6");
  EXPECT_EQ(Result(*r2), pcp::kNoResources);
  EXPECT_EQ(Lifetime(*r2), 30u);
}

TEST_F(PcpTest, ExpiryWithInjectedClock) {
  const TimeMs t0 = now;
  auto r = Ask(Map(300, kProtoTcp, 80, 8080));
  ASSERT_EQ(Lifetime(*r), 300u);
  AdvanceTo(t0 + 299'999);
  EXPECT_EQ(registry->size(), 1u);
  AdvanceTo(t0 + 300'000);
  EXPECT_EQ(registry->size(), 0u);
  EXPECT_TRUE(nat->Forwards().empty());
  // The epoch kept counting.
  EXPECT_EQ(Get32(*Ask(Header(0, 0, A(kHost))), 8), 300u);
}

TEST_F(PcpTest, FloodIsBoundedOtherClientsServed) {
  int answered = 0;
  for (int i = 0; i < 50; ++i) {
    answered +=
        Ask(Map(600, kProtoTcp, static_cast<uint16_t>(1000 + i))).has_value();
  }
  EXPECT_EQ(answered, 20);
  EXPECT_EQ(server->stats().drops[int(PortMapDrop::kRateLimited)], 30u);
  EXPECT_EQ(registry->size(), 20u);
  auto r =
      Ask(Map(600, kProtoTcp, 80, 0, 0, kNonce, A("10.77.0.6")), "10.77.0.6");
  ASSERT_TRUE(r);
  EXPECT_EQ(Result(*r), pcp::kSuccess);
}

TEST_F(PcpTest, HostOutsideTheTenantGetsNotAuthorized) {
  const uint32_t stranger = A("10.99.0.5");
  for (const Bytes& req : {Map(3600, kProtoTcp, 80, 8080, 0, kNonce, stranger),
                           Header(pcp::kOpAnnounce, 0, stranger)}) {
    auto r = Ask(req, "10.99.0.5");
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[3], pcp::kNotAuthorized);
  }
  EXPECT_TRUE(nat->Forwards().empty());
  ASSERT_TRUE(nat->SetRoutedPrefixes(lan, {{A("10.99.0.0"), 24}}).ok());
  auto r =
      Ask(Map(3600, kProtoTcp, 80, 8080, 0, kNonce, stranger), "10.99.0.5");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[3], pcp::kSuccess);
}

}  // namespace
}  // namespace unat::portmap::test
