// UDP: the protocol table's entry. Stateless but for the first answer to an
// inbound flow (the engine's: it moves the flow onto its host's budget).
#include "engine/l4proto.h"

namespace unat {
namespace internal {

extern const L4Proto kUdpProto = {
    .number = kProtoUdp,
    .name = "udp",
    .parse = L4View::Parse,
    .read_key = PortsKey,
    .rewrite =
        [](const L4View& l4, Side from, uint32_t old_addr, uint32_t new_addr,
           uint16_t port) {
          PortsRewrite(l4.data(), from == Side::kInside,
                       l4.ChecksumOffset(kProtoUdp), true, old_addr, new_addr,
                       port);
        },
    .may_create = [](Side, const L4View&) { return true; },
    .track = nullptr,
    .timeout = UdpTimeout,
    .inbound = true,
    .helpers = true,
};

}  // namespace internal
}  // namespace unat
