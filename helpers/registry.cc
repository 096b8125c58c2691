#include "helpers/registry.h"

#include "helpers/ftp.h"
#include "helpers/h323.h"
#include "helpers/irc.h"
#include "helpers/pptp.h"
#include "helpers/sip.h"
#include "helpers/tcp_lines.h"
#include "helpers/tftp.h"

namespace unat::helpers {

std::span<const HelperEntry* const> Registered() {
  // One line per helper; its entry function is in the helper's own file.
  // Built on first use, so no entry depends on another file's static
  // initialisation, and naming each function here keeps the linker from
  // dropping a helper's object file from the static library.
  static const HelperEntry* const kEntries[] = {
      &FtpEntry(),  &TftpEntry(), &IrcEntry(),
      &PptpEntry(), &SipEntry(),  &H323Entry(),
  };
  return kEntries;
}

const HelperEntry* FindHelper(std::string_view name) {
  for (const HelperEntry* e : Registered()) {
    if (e->name == name) return e;
  }
  return nullptr;
}

void ForEachStreamCounter(const StreamStats& s, const CounterFn& fn) {
  fn("lines", s.lines);
  fn("split_drops", s.split_drops);
  fn("split_passed", s.split_passed);
  fn("gap_drops", s.gap_drops);
  fn("retransmits_reedited", s.retransmits_reedited);
  fn("unsafe_drops", s.unsafe_drops);
  fn("corrupt", s.corrupt);
  fn("edit_errors", s.edit_errors);
}

}  // namespace unat::helpers
