#include "helpers/helper_set.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace unat::helpers {

namespace {

void StreamCounters(std::string_view prefix, const StreamStats& s,
                    const std::function<void(std::string_view, uint64_t)>& fn) {
  auto add = [&](std::string_view name, uint64_t v) {
    fn(absl::StrCat(std::string(prefix), "/", std::string(name)), v);
  };
  add("lines", s.lines);
  add("split_drops", s.split_drops);
  add("split_passed", s.split_passed);
  add("gap_drops", s.gap_drops);
  add("retransmits_reedited", s.retransmits_reedited);
  add("unsafe_drops", s.unsafe_drops);
  add("corrupt", s.corrupt);
  add("edit_errors", s.edit_errors);
}

}  // namespace

HelperSet::HelperSet(const HelperSetConfig& config) : config_(config) {}

absl::Status HelperSet::Register(Nat& nat) {
  auto reg = [&](bool on, const std::vector<uint16_t>& ports, uint8_t proto,
                 PacketHelper* h) -> absl::Status {
    if (!on) return absl::OkStatus();
    for (uint16_t p : ports) {
      if (p == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(h->name()), " port 0"));
      }
      absl::Status s = nat.RegisterPacketHelper(proto, p, h);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  };
  absl::Status s = reg(config_.ftp, config_.ftp_ports, kProtoTcp, &ftp_);
  if (s.ok()) s = reg(config_.tftp, config_.tftp_ports, kProtoUdp, &tftp_);
  if (s.ok()) s = reg(config_.irc, config_.irc_ports, kProtoTcp, &irc_);
  return s;
}

void HelperSet::ForEachCounter(
    const std::function<void(std::string_view, uint64_t)>& fn) const {
  if (config_.ftp) {
    const FtpStats& f = ftp_.stats();
    fn("ftp/port_rewrites", f.port_rewrites);
    fn("ftp/eprt_rewrites", f.eprt_rewrites);
    fn("ftp/pasv_rewrites", f.pasv_rewrites);
    fn("ftp/epsv_rewrites", f.epsv_rewrites);
    fn("ftp/foreign_address", f.foreign_address);
    fn("ftp/malformed", f.malformed);
    fn("ftp/other_family", f.other_family);
    fn("ftp/expect_failed", f.expect_failed);
    fn("ftp/passive_outside", f.passive_outside);
    fn("ftp/epsv_other_address", f.epsv_other_address);
    StreamCounters("ftp", ftp_.stream_stats(), fn);
  }
  if (config_.tftp) {
    const TftpStats& t = tftp_.stats();
    fn("tftp/requests", t.requests);
    fn("tftp/malformed", t.malformed);
    fn("tftp/expect_failed", t.expect_failed);
  }
  if (config_.irc) {
    const IrcStats& i = irc_.stats();
    fn("irc/send_rewrites", i.send_rewrites);
    fn("irc/chat_rewrites", i.chat_rewrites);
    fn("irc/resume_rewrites", i.resume_rewrites);
    fn("irc/accept_rewrites", i.accept_rewrites);
    fn("irc/reverse_offers", i.reverse_offers);
    fn("irc/foreign_address", i.foreign_address);
    fn("irc/malformed", i.malformed);
    fn("irc/expect_failed", i.expect_failed);
    fn("irc/unknown_port", i.unknown_port);
    StreamCounters("irc", irc_.stream_stats(), fn);
  }
}

}  // namespace unat::helpers
