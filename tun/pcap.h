// The classic pcap file format (what tcpdump -w writes; Wireshark and tshark
// read it): a 24-byte file header, then per packet a 16-byte record header
// and the bytes. Native byte order (the magic number tells readers which),
// microsecond timestamps, link type LINKTYPE_RAW: each packet starts with
// its IP header, as a TUN device (IFF_NO_PI) reads and writes them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace unat::tun {

inline constexpr uint32_t kPcapMagic = 0xa1b2c3d4;  // microseconds
inline constexpr uint16_t kPcapVersionMajor = 2;
inline constexpr uint16_t kPcapVersionMinor = 4;
inline constexpr uint32_t kPcapLinkTypeRaw = 101;  // LINKTYPE_RAW
// Larger than any IPv4 packet: nothing is ever cut short.
inline constexpr uint32_t kPcapSnapLen = 262144;
inline constexpr size_t kPcapFileHeaderSize = 24;
inline constexpr size_t kPcapRecordHeaderSize = 16;

// The file header.
std::string PcapFileHeader();

// Appends one record: `packet` seen at `unix_ns` (nanoseconds since the
// epoch; the record keeps microseconds).
void AppendPcapRecord(int64_t unix_ns, std::string_view packet,
                      std::string* out);

}  // namespace unat::tun
