// Length-delimited protobuf messages (varint length, then the bytes) over a
// stream socket, as the control plane speaks them.
#pragma once

#include <cstddef>
#include <string>

#include "google/protobuf/message_lite.h"

namespace unat::tun {

// Largest message either side accepts.
inline constexpr size_t kMaxControlMessage = 256u << 20;

// Appends `message`, length-delimited, to `out`.
void AppendDelimited(const google::protobuf::MessageLite& message,
                     std::string* out);

enum class Extract { kNeedMore, kOk, kBad };
// Takes one message off the front of `buffer` when all of it is there.
Extract ExtractDelimited(std::string* buffer,
                         google::protobuf::MessageLite* message,
                         size_t max_size = kMaxControlMessage);

}  // namespace unat::tun
