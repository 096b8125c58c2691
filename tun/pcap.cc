#include "tun/pcap.h"

#include <algorithm>
#include <cstring>

namespace unat::tun {
namespace {

template <typename T>
void Put(std::string* out, T value) {
  char bytes[sizeof(T)];
  memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

}  // namespace

std::string PcapFileHeader() {
  std::string h;
  h.reserve(kPcapFileHeaderSize);
  Put<uint32_t>(&h, kPcapMagic);
  Put<uint16_t>(&h, kPcapVersionMajor);
  Put<uint16_t>(&h, kPcapVersionMinor);
  Put<int32_t>(&h, 0);   // thiszone: timestamps are UTC
  Put<uint32_t>(&h, 0);  // sigfigs
  Put<uint32_t>(&h, kPcapSnapLen);
  Put<uint32_t>(&h, kPcapLinkTypeRaw);
  return h;
}

void AppendPcapRecord(int64_t unix_ns, std::string_view packet,
                      std::string* out) {
  const int64_t ns = std::max<int64_t>(unix_ns, 0);
  const uint32_t orig = static_cast<uint32_t>(packet.size());
  const uint32_t incl = std::min(orig, kPcapSnapLen);
  Put<uint32_t>(out, static_cast<uint32_t>(ns / 1000000000));
  Put<uint32_t>(out, static_cast<uint32_t>((ns % 1000000000) / 1000));
  Put<uint32_t>(out, incl);
  Put<uint32_t>(out, orig);
  out->append(packet.data(), incl);
}

}  // namespace unat::tun
