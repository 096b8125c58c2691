// IPv4 fragments: virtual and full reassembly, hostile fragments, limits,
// egress MTU. libtins builds the fragments and its IPv4Reassembler puts the
// output back together: an independent check of offsets and checksums.
#include <gtest/gtest.h>

#include <map>

#include "engine/checksum.h"
#include "engine/nat.h"
#include "tests/unit/test_util.h"

namespace unat {
namespace {

using testing::A;
using testing::Buf;
using testing::ChecksumsValid;

struct Out {
  Side side;
  NamespaceId ns;
  std::vector<uint8_t> bytes;
};

class Sink : public PacketSink {
 public:
  void Emit(Side side, NamespaceId ns, std::span<const uint8_t> p) override {
    out.push_back({side, ns, {p.begin(), p.end()}});
  }
  std::vector<Out> out;
};

// Splits a datagram into fragments of at most `chunk` payload bytes (a
// multiple of 8), in order. libtins writes each header and its checksum.
std::vector<std::vector<uint8_t>> Fragment(const std::vector<uint8_t>& whole,
                                           size_t chunk) {
  Tins::IP ip(whole.data(), static_cast<uint32_t>(whole.size()));
  const size_t hl = ip.header_size();
  std::vector<uint8_t> payload(whole.begin() + hl, whole.end());
  std::vector<std::vector<uint8_t>> frags;
  for (size_t off = 0; off < payload.size(); off += chunk) {
    const size_t n = std::min(chunk, payload.size() - off);
    Tins::IP f(ip.dst_addr(), ip.src_addr());
    f.id(ip.id());
    f.ttl(ip.ttl());
    f.protocol(ip.protocol());
    f.fragment_offset(static_cast<uint16_t>(off / 8));
    f.flags(off + n < payload.size() ? Tins::IP::MORE_FRAGMENTS
                                     : static_cast<Tins::IP::Flags>(0));
    f /= Tins::RawPDU(payload.data() + off, static_cast<uint32_t>(n));
    frags.push_back(f.serialize());
  }
  return frags;
}

std::vector<uint8_t> BigUdp(const char* src, uint16_t sport, const char* dst,
                            uint16_t dport, size_t size, uint16_t id) {
  std::string payload(size, 0);
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 7);
  Tins::IP ip(dst, src);
  ip.id(id);
  ip /= Tins::UDP(dport, sport) / Tins::RawPDU(payload);
  return ip.serialize();
}

// Puts fragments back together with libtins; returns the datagram.
std::optional<std::vector<uint8_t>> Reassemble(
    const std::vector<std::vector<uint8_t>>& frags) {
  Tins::IPv4Reassembler r;
  for (const auto& f : frags) {
    Tins::IP ip(f.data(), static_cast<uint32_t>(f.size()));
    if (r.process(ip) == Tins::IPv4Reassembler::REASSEMBLED) {
      return ip.serialize();
    }
  }
  return std::nullopt;
}

class FragTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }
  void Make(const std::function<void(NatConfig&)>& tweak = {},
            uint16_t lan_mtu = 1500) {
    NatConfig c;
    c.external_addresses = {A("203.0.113.1")};
    c.random_seed = 11;
    if (tweak) tweak(c);
    nat = *Nat::Create(c);
    nat->SetSink(&sink);
    sink.out.clear();
    lan = *nat->AddNamespace({"lan", A("10.77.0.1"), 24, lan_mtu});
    lan2 = *nat->AddNamespace({"lan2", A("10.77.0.1"), 24, lan_mtu});
  }
  // Feeds fragments in; collects what leaves (forwarded or emitted).
  std::vector<std::vector<uint8_t>> Run(
      NamespaceId ns, bool inside, const std::vector<std::vector<uint8_t>>& in,
      std::vector<Verdict>* verdicts = nullptr) {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& f : in) {
      sink.out.clear();
      Buf b(f);
      Verdict v = inside ? nat->ProcessInside(ns, b.pkt, now)
                         : nat->ProcessOutside(b.pkt, now);
      if (verdicts) verdicts->push_back(v);
      if (v.action == Verdict::kForward) out.push_back(b.out());
      for (auto& e : sink.out) out.push_back(e.bytes);
    }
    return out;
  }
  uint64_t Drops(DropReason r) {
    return nat->GetStats().drops[static_cast<int>(r)];
  }
  // Every test ends with every fragment accounted for.
  void TearDown() override { ExpectAccounted(); }
  void ExpectAccounted() {
    const Stats s = nat->GetStats();
    EXPECT_EQ(s.fragments_in, s.fragments_forwarded + s.fragments_reassembled +
                                  s.fragments_dropped + s.fragments_held)
        << "in " << s.fragments_in << " forwarded " << s.fragments_forwarded
        << " reassembled " << s.fragments_reassembled << " dropped "
        << s.fragments_dropped << " held " << s.fragments_held;
  }
  // Sum of the fragment drop reasons (the fragment_* counters).
  uint64_t FragmentDrops() {
    uint64_t n = 0;
    for (DropReason r :
         {DropReason::kFragOverlap, DropReason::kFragDuplicate,
          DropReason::kFragOversize, DropReason::kFragTinyFirst,
          DropReason::kFragMalformed, DropReason::kFragDatagramLimit,
          DropReason::kFragFragmentLimit, DropReason::kFragMemoryLimit,
          DropReason::kFragTimeout, DropReason::kFragDatagramDropped}) {
      n += Drops(r);
    }
    return n;
  }

  TimeMs now = 5'000'000;
  std::unique_ptr<Nat> nat;
  Sink sink;
  NamespaceId lan = 0, lan2 = 0;
};

void ExpectTranslatedUdp(const std::vector<uint8_t>& whole,
                         const std::vector<uint8_t>& original, const char* src,
                         const char* dst) {
  ASSERT_TRUE(ChecksumsValid(whole));
  Tins::IP ip(whole.data(), static_cast<uint32_t>(whole.size()));
  EXPECT_EQ(ip.src_addr(), Tins::IPv4Address(src));
  EXPECT_EQ(ip.dst_addr(), Tins::IPv4Address(dst));
  Tins::IP o(original.data(), static_cast<uint32_t>(original.size()));
  EXPECT_EQ(ip.rfind_pdu<Tins::RawPDU>().payload(),
            o.rfind_pdu<Tins::RawPDU>().payload());
}

TEST_F(FragTest, VirtualInOrderTranslatesEveryFragment) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 77);
  const auto frags = Fragment(whole, 1480);
  ASSERT_EQ(frags.size(), 3u);
  std::vector<Verdict> v;
  auto out = Run(lan, true, frags, &v);
  for (const auto& x : v) EXPECT_EQ(x.action, Verdict::kForward);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& f : out) {
    Tins::IP ip(f.data(), static_cast<uint32_t>(f.size()));
    EXPECT_EQ(ip.src_addr(), Tins::IPv4Address("203.0.113.1"));
    EXPECT_EQ(ip.ttl(), 127);  // libtins' default 128, decremented
    EXPECT_EQ(InternetChecksum({f.data(), 20}), 0);
  }
  auto back = Reassemble(out);
  ASSERT_TRUE(back);
  ExpectTranslatedUdp(*back, whole, "203.0.113.1", "203.0.113.2");
  EXPECT_EQ(nat->GetStats().fragments_forwarded, 3u);
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 0u);  // complete: freed
}

TEST_F(FragTest, VirtualReverseOrderHoldsUntilTheFirst) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 4000, 78);
  auto frags = Fragment(whole, 1480);
  std::reverse(frags.begin(), frags.end());
  std::vector<Verdict> v;
  auto out = Run(lan, true, frags, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  EXPECT_EQ(v[1].action, Verdict::kConsumed);
  EXPECT_EQ(v[2].action, Verdict::kForward);
  EXPECT_EQ(nat->GetStats().fragment_bytes_held, 0u);
  auto back = Reassemble(out);
  ASSERT_TRUE(back);
  ExpectTranslatedUdp(*back, whole, "203.0.113.1", "203.0.113.2");

  // And the reply, fragmented from outside, reaches the inside host.
  Tins::IP t(back->data(), static_cast<uint32_t>(back->size()));
  const uint16_t ext = t.rfind_pdu<Tins::UDP>().sport();
  const auto reply = BigUdp("203.0.113.2", 9, "203.0.113.1", ext, 3500, 900);
  auto rf = Fragment(reply, 1000);
  std::swap(rf[1], rf[2]);
  v.clear();
  auto in = Run(0, false, rf, &v);
  auto whole_in = Reassemble(in);
  ASSERT_TRUE(whole_in);
  ExpectTranslatedUdp(*whole_in, reply, "203.0.113.2", "10.77.0.2");
}

TEST_F(FragTest, TenantsWithSameAddressesAndIpIdDoNotMix) {
  const auto a = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 2000, 4242);
  const auto b = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 2000, 4242);
  auto fa = Fragment(a, 1000), fb = Fragment(b, 1000);
  std::vector<std::vector<uint8_t>> oa, ob;
  // Interleave: non-first fragments first, then the firsts.
  for (size_t i = fa.size(); i-- > 0;) {
    for (auto& x : Run(lan, true, {fa[i]})) oa.push_back(x);
    for (auto& x : Run(lan2, true, {fb[i]})) ob.push_back(x);
  }
  auto ra = Reassemble(oa), rb = Reassemble(ob);
  ASSERT_TRUE(ra);
  ASSERT_TRUE(rb);
  Tins::IP ia(ra->data(), static_cast<uint32_t>(ra->size()));
  Tins::IP ib(rb->data(), static_cast<uint32_t>(rb->size()));
  EXPECT_NE(ia.rfind_pdu<Tins::UDP>().sport(),
            ib.rfind_pdu<Tins::UDP>().sport());
  EXPECT_TRUE(ChecksumsValid(*ra));
  EXPECT_TRUE(ChecksumsValid(*rb));
}

TEST_F(FragTest, DuplicatesAreToleratedOverlapsDropTheDatagram) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 1);
  auto frags = Fragment(whole, 1008);
  ASSERT_EQ(frags.size(), 3u);
  std::vector<Verdict> v;
  Run(lan, true, {frags[1], frags[1]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  EXPECT_EQ(v[1].reason, DropReason::kFragDuplicate);
  // After the first fragment, a retransmitted fragment goes through again.
  auto out = Run(lan, true, {frags[0], frags[1], frags[2]});
  EXPECT_EQ(out.size(), 4u);  // first + released + duplicate + last
  ASSERT_TRUE(Reassemble(out));

  // Overlap: a fragment covering part of another.
  const auto w2 = BigUdp("10.77.0.2", 5001, "203.0.113.2", 9, 3000, 2);
  auto f2 = Fragment(w2, 1000);
  auto overlapping = Fragment(w2, 504)[1];  // bytes 504..1008: overlaps
  v.clear();
  Run(lan, true, {f2[1], overlapping, f2[0], f2[2]}, &v);
  EXPECT_EQ(v[1].reason, DropReason::kFragOverlap);
  EXPECT_EQ(v[2].reason, DropReason::kFragDatagramDropped);
  EXPECT_EQ(v[3].reason, DropReason::kFragDatagramDropped);
  EXPECT_EQ(Drops(DropReason::kFragOverlap), 2u);  // it + the held one
}

TEST_F(FragTest, HostileFragments) {
  // A first fragment with 8 bytes of TCP header.
  auto tcp = testing::Tcp("10.77.0.2", 1000, "203.0.113.2", 80, Tins::TCP::SYN,
                          1, 0, std::string(100, 'x'));
  auto tiny = Fragment(tcp, 8);
  std::vector<Verdict> v;
  Run(lan, true, {tiny[0]}, &v);
  EXPECT_EQ(v[0].reason, DropReason::kFragTinyFirst);
  // Offset + length beyond 65535.
  Tins::IP big("203.0.113.2", "10.77.0.2");
  big.protocol(kProtoUdp);
  big.fragment_offset(8191);
  big /= Tins::RawPDU(std::string(200, 'y'));
  v.clear();
  Run(lan, true, {big.serialize()}, &v);
  EXPECT_EQ(v[0].reason, DropReason::kFragOversize);
  // A non-last fragment whose length is not a multiple of 8.
  auto w = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 3);
  auto bad = Fragment(w, 1000)[0];
  bad.pop_back();
  StoreBe16(&bad[2], static_cast<uint16_t>(bad.size()));
  StoreBe16(&bad[10], 0);
  StoreBe16(&bad[10], InternetChecksum({bad.data(), 20}));
  v.clear();
  Run(lan, true, {bad}, &v);
  EXPECT_EQ(v[0].reason, DropReason::kFragMalformed);
}

TEST_F(FragTest, TimeoutFreesHeldFragments) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 5);
  auto frags = Fragment(whole, 1000);
  Run(lan, true, {frags[1], frags[2]});
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 1u);
  EXPECT_GT(nat->GetStats().fragment_bytes_held, 2000u);
  now += 29'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 1u);
  now += 2'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 0u);
  EXPECT_EQ(nat->GetStats().fragment_bytes_held, 0u);
  EXPECT_EQ(Drops(DropReason::kFragTimeout), 2u);
}

TEST_F(FragTest, EachLimitIsEnforcedAndCounted) {
  Make([](NatConfig& c) {
    c.fragments.max_datagrams_per_namespace = 2;
    c.fragments.max_fragments_per_datagram = 3;
    c.fragments.max_bytes = 4000;
  });
  std::vector<Verdict> v;
  for (uint16_t id = 1; id <= 3; ++id) {
    auto f =
        Fragment(BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 2000, id), 1000);
    Run(lan, true, {f[1]}, &v);
  }
  // At the limit the oldest datagram gives way (a flood cannot lock new
  // datagrams out for a whole timeout); its fragment is a counted drop.
  EXPECT_EQ(v[2].action, Verdict::kConsumed);
  EXPECT_EQ(Drops(DropReason::kFragDatagramLimit), 1u);
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 2u);
  // Other namespaces have their own budget.
  v.clear();
  auto other =
      Fragment(BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 2000, 3), 1000);
  Run(lan2, true, {other[1]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  // Fragments per datagram.
  now += 31'000;
  nat->Advance(now);
  v.clear();
  auto many =
      Fragment(BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 1000, 9), 200);
  Run(lan, true, {many[1], many[2], many[3], many[4]}, &v);
  EXPECT_EQ(v[3].reason, DropReason::kFragFragmentLimit);
  // Memory: older datagrams are evicted first...
  now += 31'000;
  nat->Advance(now);
  v.clear();
  auto old1 =
      Fragment(BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 4000, 20), 1480);
  Run(lan, true, {old1[1], old1[2]}, &v);
  auto new1 =
      Fragment(BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 21), 1480);
  Run(lan, true, {new1[1]}, &v);
  EXPECT_EQ(v[2].action, Verdict::kConsumed);
  EXPECT_GE(Drops(DropReason::kFragMemoryLimit), 1u);
  EXPECT_LE(nat->GetStats().fragment_bytes_held, 4000u);
  // ... and one datagram alone over the cap is dropped.
  now += 31'000;
  nat->Advance(now);
  v.clear();
  auto m1 =
      Fragment(BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 6000, 10), 1480);
  Run(lan, true, {m1[1], m1[2], m1[3]}, &v);
  EXPECT_EQ(v[2].reason, DropReason::kFragMemoryLimit);
  EXPECT_LE(nat->GetStats().fragment_bytes_held, 4000u);
}

TEST_F(FragTest, FragmentedPingBothWays) {
  Tins::IP req("203.0.113.2", "10.77.0.2");
  req.id(321);
  Tins::ICMP icmp(Tins::ICMP::ECHO_REQUEST);
  icmp.id(55);
  icmp.sequence(1);
  req /= icmp / Tins::RawPDU(std::string(4000, 'p'));
  auto out = Run(lan, true, Fragment(req.serialize(), 1480));
  auto whole = Reassemble(out);
  ASSERT_TRUE(whole);
  ASSERT_TRUE(ChecksumsValid(*whole));
  Tins::IP t(whole->data(), static_cast<uint32_t>(whole->size()));
  Tins::IP rep(t.src_addr(), t.dst_addr());
  rep.id(999);
  Tins::ICMP r(Tins::ICMP::ECHO_REPLY);
  r.id(t.rfind_pdu<Tins::ICMP>().id());
  r.sequence(1);
  rep /= r / Tins::RawPDU(std::string(4000, 'p'));
  auto back = Reassemble(Run(0, false, Fragment(rep.serialize(), 1480)));
  ASSERT_TRUE(back);
  ASSERT_TRUE(ChecksumsValid(*back));
  Tins::IP b(back->data(), static_cast<uint32_t>(back->size()));
  EXPECT_EQ(b.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  EXPECT_EQ(b.rfind_pdu<Tins::ICMP>().id(), 55);
}

TEST_F(FragTest, FullReassemblyTranslatesOnceAndRefragments) {
  Make([](NatConfig& c) {
    c.fragments.mode = ReassemblyMode::kFull;
    c.outside_mtu = 1280;
  });
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 5000, 12);
  auto frags = Fragment(whole, 1480);
  std::reverse(frags.begin(), frags.end());
  std::vector<Verdict> v;
  auto out = Run(lan, true, frags, &v);
  for (const auto& x : v) EXPECT_EQ(x.action, Verdict::kConsumed);
  EXPECT_EQ(nat->GetStats().datagrams_reassembled, 1u);
  for (const auto& f : out) EXPECT_LE(f.size(), 1280u);
  EXPECT_EQ(out.size(), 4u);  // 5008 bytes of payload in 1256-byte pieces
  auto back = Reassemble(out);
  ASSERT_TRUE(back);
  ExpectTranslatedUdp(*back, whole, "203.0.113.1", "203.0.113.2");
}

TEST_F(FragTest, EgressMtuFragmentsOrAnswersFragmentationNeeded) {
  Make([](NatConfig& c) { c.outside_mtu = 1280; });
  // DF clear: split into two.
  const auto p = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 1400, 13);
  std::vector<Verdict> v;
  auto out = Run(lan, true, {p}, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(nat->GetStats().fragments_created, 2u);
  auto back = Reassemble(out);
  ASSERT_TRUE(back);
  ExpectTranslatedUdp(*back, p, "203.0.113.1", "203.0.113.2");

  // DF set: dropped, ICMP 3/4 with MTU 1280 from the gateway, quoting the
  // packet as the sender sent it.
  Tins::IP df(p.data(), static_cast<uint32_t>(p.size()));
  df.flags(Tins::IP::DONT_FRAGMENT);
  const auto dfb = df.serialize();
  sink.out.clear();
  Buf b(dfb);
  EXPECT_EQ(nat->ProcessInside(lan, b.pkt, now).reason,
            DropReason::kNeedFragDf);
  ASSERT_EQ(sink.out.size(), 1u);
  EXPECT_EQ(sink.out[0].side, Side::kInside);
  // (libtins would add an RFC 4884 length on re-serialising, so the
  // checksums are checked by summing here.)
  const auto& eb = sink.out[0].bytes;
  EXPECT_EQ(InternetChecksum({eb.data(), 20}), 0);
  EXPECT_EQ(InternetChecksum({eb.data() + 20, eb.size() - 20}), 0);
  Tins::IP e(sink.out[0].bytes.data(),
             static_cast<uint32_t>(sink.out[0].bytes.size()));
  EXPECT_EQ(e.src_addr(), Tins::IPv4Address("10.77.0.1"));
  EXPECT_EQ(e.dst_addr(), Tins::IPv4Address("10.77.0.2"));
  const auto& icmp = e.rfind_pdu<Tins::ICMP>();
  EXPECT_EQ(icmp.type(), Tins::ICMP::DEST_UNREACHABLE);
  EXPECT_EQ(icmp.code(), 4);
  EXPECT_EQ(icmp.mtu(), 1280);
  EXPECT_TRUE(std::equal(sink.out[0].bytes.begin() + 28,
                         sink.out[0].bytes.end(), dfb.begin()));
}

TEST_F(FragTest, InboundTooBigWithDfGetsIcmpFromTheExternalAddress) {
  Make({}, /*lan_mtu=*/1000);
  std::vector<uint8_t> t;
  auto first =
      Run(lan, true, {testing::Udp("10.77.0.2", 5000, "203.0.113.2", 9)});
  Tins::IP ti(first[0].data(), static_cast<uint32_t>(first[0].size()));
  const uint16_t ext = ti.rfind_pdu<Tins::UDP>().sport();
  Tins::IP big("203.0.113.1", "203.0.113.2");
  big.flags(Tins::IP::DONT_FRAGMENT);
  big /= Tins::UDP(ext, 9) / Tins::RawPDU(std::string(1200, 'z'));
  sink.out.clear();
  Buf b(big.serialize());
  EXPECT_EQ(nat->ProcessOutside(b.pkt, now).reason, DropReason::kNeedFragDf);
  ASSERT_EQ(sink.out.size(), 1u);
  EXPECT_EQ(sink.out[0].side, Side::kOutside);
  Tins::IP e(sink.out[0].bytes.data(),
             static_cast<uint32_t>(sink.out[0].bytes.size()));
  EXPECT_EQ(e.src_addr(), Tins::IPv4Address("203.0.113.1"));
  EXPECT_EQ(e.dst_addr(), Tins::IPv4Address("203.0.113.2"));
  EXPECT_EQ(e.rfind_pdu<Tins::ICMP>().mtu(), 1000);
}

// Issue 13 defect 10: every fragment is accounted for when it leaves.

TEST_F(FragTest, FirstFragmentAloneExpiresCounted) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 40);
  const auto frags = Fragment(whole, 1000);
  std::vector<Verdict> v;
  Run(lan, true, {frags[0]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kForward);
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 1u);
  now += 31'000;
  nat->Advance(now);
  const Stats s = nat->GetStats();
  EXPECT_EQ(s.fragment_datagrams, 0u);
  EXPECT_EQ(s.fragment_datagrams_timed_out, 1u);
  EXPECT_EQ(s.fragments_in, 1u);
  EXPECT_EQ(s.fragments_forwarded, 1u);
  EXPECT_EQ(Drops(DropReason::kFragTimeout), 0u);  // it was sent on

  // Full reassembly holds it: at the timeout it is a counted drop.
  Make([](NatConfig& c) { c.fragments.mode = ReassemblyMode::kFull; });
  v.clear();
  Run(lan, true, {frags[0]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  EXPECT_EQ(nat->GetStats().fragments_held, 1u);
  now += 31'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().fragment_datagrams_timed_out, 1u);
  EXPECT_EQ(Drops(DropReason::kFragTimeout), 1u);
  EXPECT_EQ(nat->GetStats().fragments_held, 0u);
}

TEST_F(FragTest, TinyFirstFragmentDropsItsWholeDatagramAtOnce) {
  auto tcp = testing::Tcp("10.77.0.2", 1000, "203.0.113.2", 80, Tins::TCP::SYN,
                          1, 0, std::string(100, 'x'));
  auto tiny = Fragment(tcp, 8);  // 8 bytes of TCP header in the first
  ASSERT_GE(tiny.size(), 4u);
  std::vector<Verdict> v;
  Run(lan, true, {tiny[2], tiny[3]}, &v);
  EXPECT_EQ(nat->GetStats().fragments_held, 2u);
  Run(lan, true, {tiny[0]}, &v);
  EXPECT_EQ(v[2].reason, DropReason::kFragTinyFirst);
  // What it held went with it, without waiting for the timeout...
  EXPECT_EQ(nat->GetStats().fragments_held, 0u);
  EXPECT_EQ(nat->GetStats().fragment_bytes_held, 0u);
  EXPECT_EQ(Drops(DropReason::kFragTinyFirst), 3u);
  // ... and the rest is refused as it comes, never held.
  Run(lan, true, {tiny[1], tiny[4]}, &v);
  EXPECT_EQ(v[3].reason, DropReason::kFragDatagramDropped);
  EXPECT_EQ(v[4].reason, DropReason::kFragDatagramDropped);
  EXPECT_EQ(nat->GetStats().fragments_held, 0u);
  const Stats s = nat->GetStats();
  EXPECT_EQ(s.fragments_in, 5u);
  EXPECT_EQ(s.fragments_dropped, 5u);
  EXPECT_EQ(FragmentDrops(), 5u);
  // The poisoned entry goes at the timeout, not counted twice.
  now += 31'000;
  nat->Advance(now);
  EXPECT_EQ(nat->GetStats().fragment_datagrams, 0u);
  EXPECT_EQ(nat->GetStats().fragment_datagrams_timed_out, 0u);
  EXPECT_EQ(nat->GetStats().fragments_dropped, 5u);
}

TEST_F(FragTest, MalformedOrOversizeFragmentDropsItsWholeDatagram) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 41);
  auto frags = Fragment(whole, 1000);
  ASSERT_EQ(frags.size(), 4u);
  // A non-last fragment of 999 bytes (not a multiple of 8).
  auto bad = frags[1];
  bad.pop_back();
  StoreBe16(&bad[2], static_cast<uint16_t>(bad.size()));
  StoreBe16(&bad[10], 0);
  StoreBe16(&bad[10], InternetChecksum({bad.data(), 20}));
  std::vector<Verdict> v;
  Run(lan, true, {frags[2], bad, frags[0], frags[3]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  EXPECT_EQ(v[1].reason, DropReason::kFragMalformed);
  EXPECT_EQ(v[2].reason, DropReason::kFragDatagramDropped);  // not sent on
  EXPECT_EQ(v[3].reason, DropReason::kFragDatagramDropped);
  EXPECT_EQ(Drops(DropReason::kFragMalformed), 2u);  // it + the held one
  EXPECT_EQ(nat->GetStats().fragments_held, 0u);
  EXPECT_EQ(nat->GetStats().fragments_forwarded, 0u);

  // Oversize: the same for a fragment past 65535 of a held datagram.
  const auto w2 = BigUdp("10.77.0.2", 5001, "203.0.113.2", 9, 3000, 42);
  auto f2 = Fragment(w2, 1000);
  Tins::IP big(f2[1].data(), static_cast<uint32_t>(f2[1].size()));
  big.fragment_offset(8190);
  v.clear();
  Run(lan, true, {f2[1], big.serialize(), f2[0]}, &v);
  EXPECT_EQ(v[1].reason, DropReason::kFragOversize);
  EXPECT_EQ(v[2].reason, DropReason::kFragDatagramDropped);
  EXPECT_EQ(Drops(DropReason::kFragOversize), 2u);
  EXPECT_EQ(nat->GetStats().fragments_held, 0u);
}

TEST_F(FragTest, DuplicateFirstFragmentIsCountedNotForwarded) {
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 43);
  auto frags = Fragment(whole, 1008);
  ASSERT_EQ(frags.size(), 3u);
  std::vector<Verdict> v;
  auto out = Run(lan, true, {frags[0], frags[0], frags[1], frags[2]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kForward);
  EXPECT_EQ(v[1].reason, DropReason::kFragDuplicate);
  EXPECT_EQ(v[2].action, Verdict::kForward);
  EXPECT_EQ(v[3].action, Verdict::kForward);
  EXPECT_EQ(out.size(), 3u);
  ASSERT_TRUE(Reassemble(out));
  const Stats s = nat->GetStats();
  EXPECT_EQ(s.fragments_in, 4u);
  EXPECT_EQ(s.fragments_forwarded, 3u);
  EXPECT_EQ(s.fragments_dropped, 1u);
  EXPECT_EQ(Drops(DropReason::kFragDuplicate), 1u);
  // The translated fragments are counted as forwarded packets, the copy not.
  EXPECT_EQ(s.packets[0], 3u);
}

TEST_F(FragTest, FirstFragmentRefusedByTheFlowDropsTheRest) {
  // From outside, to a port nobody mapped: the first fragment is a no_flow
  // drop, the one held before it and the one after are fragments of a
  // dropped datagram.
  const auto w = BigUdp("203.0.113.2", 9, "203.0.113.1", 40000, 3000, 44);
  auto f = Fragment(w, 1000);
  std::vector<Verdict> v;
  Run(0, false, {f[1], f[0], f[2]}, &v);
  EXPECT_EQ(v[0].action, Verdict::kConsumed);
  EXPECT_EQ(v[1].reason, DropReason::kNoFlow);
  EXPECT_EQ(v[2].reason, DropReason::kFragDatagramDropped);
  const Stats s = nat->GetStats();
  EXPECT_EQ(s.fragments_in, 3u);
  EXPECT_EQ(s.fragments_dropped, 3u);
  EXPECT_EQ(Drops(DropReason::kFragDatagramDropped), 2u);
  EXPECT_EQ(Drops(DropReason::kNoFlow), 1u);
}

TEST_F(FragTest, FullReassemblyCountsFragmentsIntoTheDatagram) {
  Make([](NatConfig& c) { c.fragments.mode = ReassemblyMode::kFull; });
  const auto whole = BigUdp("10.77.0.2", 5000, "203.0.113.2", 9, 3000, 45);
  auto frags = Fragment(whole, 1000);
  std::vector<Verdict> v;
  // A copy of a held fragment is a counted drop; the datagram is rebuilt
  // from the other four.
  Run(lan, true, {frags[1], frags[1], frags[3], frags[0], frags[2]}, &v);
  const Stats s = nat->GetStats();
  EXPECT_EQ(v[1].reason, DropReason::kFragDuplicate);
  EXPECT_EQ(s.datagrams_reassembled, 1u);
  EXPECT_EQ(s.fragments_in, 5u);
  EXPECT_EQ(s.fragments_reassembled, 4u);
  EXPECT_EQ(s.fragments_dropped, 1u);
  EXPECT_EQ(s.fragments_held, 0u);
}

}  // namespace
}  // namespace unat
