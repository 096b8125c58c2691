// The state file: forwards saved in binary protobuf (tun/state.proto),
// written atomically (temp file, fsync, rename, fsync of the directory), so a
// crash leaves either the old file or the new one, never a torn one.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "tun/state.pb.h"

namespace unat::tun {

inline constexpr uint32_t kStateMagic = 0x554e4154;  // "UNAT"
inline constexpr uint32_t kStateVersion = 1;

absl::Status SaveState(const std::string& path, const state::State& state);

// nullopt when there is no file; an error when it is there but is not a
// complete state file of a version this build reads.
absl::StatusOr<std::optional<state::State>> LoadState(const std::string& path);

uint32_t Crc32(const std::string& data);
// The file's checksum: CRC-32 of "UNAT" followed by the serialized State
// (never 0 for an empty State, so a file cut before the checksum fails).
uint32_t StateCrc(const std::string& state);

}  // namespace unat::tun
