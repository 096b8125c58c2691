#include "tun/framing.h"

#include <cstdint>

namespace unat::tun {

void AppendDelimited(const google::protobuf::MessageLite& message,
                     std::string* out) {
  uint64_t size = message.ByteSizeLong();
  while (size >= 0x80) {
    out->push_back(static_cast<char>((size & 0x7f) | 0x80));
    size >>= 7;
  }
  out->push_back(static_cast<char>(size));
  message.AppendToString(out);
}

Extract ExtractDelimited(std::string* buffer,
                         google::protobuf::MessageLite* message,
                         size_t max_size) {
  uint64_t size = 0;
  size_t i = 0;
  for (;; ++i) {
    if (i >= buffer->size()) return Extract::kNeedMore;
    if (i >= 10) return Extract::kBad;
    uint8_t byte = static_cast<uint8_t>((*buffer)[i]);
    size |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  if (size > max_size) return Extract::kBad;
  size_t header = i + 1;
  if (buffer->size() - header < size) return Extract::kNeedMore;
  bool ok =
      message->ParseFromArray(buffer->data() + header, static_cast<int>(size));
  buffer->erase(0, header + size);
  return ok ? Extract::kOk : Extract::kBad;
}

}  // namespace unat::tun
