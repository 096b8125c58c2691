// The ALG helpers a daemon or an embedder turns on, registered with a Nat on
// their configured server ports, with their counters in one place.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/nat.h"
#include "helpers/ftp.h"
#include "helpers/irc.h"
#include "helpers/tftp.h"

namespace unat::helpers {

struct HelperSetConfig {
  bool ftp = false;
  std::vector<uint16_t> ftp_ports = {21};
  bool tftp = false;
  std::vector<uint16_t> tftp_ports = {69};
  bool irc = false;
  std::vector<uint16_t> irc_ports = {6667};
};

class HelperSet {
 public:
  explicit HelperSet(const HelperSetConfig& config);
  // Registers the enabled helpers on their ports (TCP for FTP and IRC, UDP
  // for TFTP). Fails on port 0 or a port another helper already has.
  absl::Status Register(Nat& nat);
  // Every counter as "ftp/port_rewrites" etc.
  void ForEachCounter(
      const std::function<void(std::string_view, uint64_t)>& fn) const;

  const FtpHelper& ftp() const { return ftp_; }
  const TftpHelper& tftp() const { return tftp_; }
  const IrcHelper& irc() const { return irc_; }

 private:
  HelperSetConfig config_;
  FtpHelper ftp_;
  TftpHelper tftp_;
  IrcHelper irc_;
};

}  // namespace unat::helpers
