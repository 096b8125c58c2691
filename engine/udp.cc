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
    .rewrite = PortsEntryRewrite<kProtoUdp>,
    .may_create = [](Side, const L4View&) { return true; },
    .track = nullptr,
    .timeout = UdpTimeout,
    .not_created = DropReason::kNoFlow,
    .inbound = true,
    .helpers = true,
};

}  // namespace internal
}  // namespace unat
